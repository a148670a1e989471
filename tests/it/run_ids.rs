//! The Port run id found in the event payload: hostile text, checked like the `runId` input
//! before anything is sent; a workflow's own `run_id` input that holds a GitHub run id is not
//! taken for a Port run; and two different runs in the event fail only the steps that need one.

use port_stand_in::StandIn;
use serde_json::{json, Value};

use crate::support::{lines, Step};

const TOKEN: &str = "POST /v1/auth/access_token";

/// An event file holding `event`, kept alive with `dir`.
fn event_file(dir: &tempfile::TempDir, event: &Value) -> std::path::PathBuf {
    let path = dir.path().join("event.json");
    std::fs::write(&path, event.to_string()).unwrap();
    path
}

/// A `workflow_dispatch` event with these inputs (each a string, as GitHub delivers them).
fn dispatch(inputs: Value) -> Value {
    json!({
        "inputs": inputs,
        "ref": "refs/heads/main",
        "repository": {"full_name": "acme/payments", "id": 123456789, "owner": {"id": 987654}},
        "workflow": ".github/workflows/deploy.yml"
    })
}

/// `port_context` holding `{"runId": id}`, as Port sends it: a JSON string.
fn port_context(id: &str) -> Value {
    json!({ "port_context": json!({"runId": id, "blueprint": "service"}).to_string() })
}

#[test]
fn a_hostile_run_id_in_the_event_fails_naming_where_it_came_from_and_sends_nothing() {
    let port = StandIn::start();
    let dir = tempfile::tempdir().unwrap();
    let injection = "r_abc\n::error title=X::pwned\n::stop-commands::zzz";
    let cases: Vec<(Value, &str)> = vec![
        (port_context(injection), "inputs.port_context.runId"),
        (port_context("."), "inputs.port_context.runId"),
        (port_context(".."), "inputs.port_context.runId"),
        (
            port_context("r_a\r\n::warning::x"),
            "inputs.port_context.runId",
        ),
        (port_context("r_\u{1b}[31mred"), "inputs.port_context.runId"),
        (
            port_context("r_abc/../../v1/blueprints"),
            "inputs.port_context.runId",
        ),
        (port_context("r_a\\b"), "inputs.port_context.runId"),
        (port_context("r_a b"), "inputs.port_context.runId"),
        (json!({"run_id": injection}), "inputs.run_id"),
        (
            json!({"port_run_id": "r_x\n::add-mask::x"}),
            "inputs.port_run_id",
        ),
        (
            json!({"port_payload": json!({"context": {"runId": injection}}).to_string()}),
            "inputs.port_payload.context.runId",
        ),
        (
            json!({"port_context": json!({"run": {"id": "r_1?x=1#y"}}).to_string()}),
            "inputs.port_context.run.id",
        ),
        // A hostile input name is printed escaped.
        (
            json!({"ctx\n::error::name": json!({"runId": ".."}).to_string()}),
            "inputs.ctx\\n::error::name.runId",
        ),
    ];
    let mut failures = Vec::new();
    for (inputs, place) in cases {
        for operation in ["UPSERT", "GET", "PATCH_RUN"] {
            let mut step = Step::new(&port)
                .event(Some(event_file(&dir, &dispatch(inputs.clone()))))
                .input("operation", operation)
                .input("logMessage", "deployed");
            if operation != "PATCH_RUN" {
                step = step
                    .input("blueprint", "service")
                    .input("identifier", "payments");
            }
            let out = step.run();
            let errors = out.errors();
            let wanted = format!("the Port run id in {place} of the event is not valid: ");
            if out.code != 1 || errors.len() != 1 || !errors[0].contains(&wanted) {
                failures.push(format!(
                    "{operation} {inputs}: exit {}, errors {errors:?}, expected one with {wanted:?}",
                    out.code
                ));
            }
            let commands: Vec<&str> = out
                .stdout
                .lines()
                .filter(|l| l.starts_with("::"))
                .filter(|l| !l.starts_with("::error title=port-action failed::"))
                .filter(|l| !l.starts_with("::add-mask::"))
                .collect();
            if !commands.is_empty() {
                failures.push(format!("{operation} {inputs}: printed {commands:?}"));
            }
            if !out.outputs.is_empty() {
                failures.push(format!("{operation} {inputs}: wrote {:?}", out.outputs));
            }
            if !port.requests().is_empty() {
                failures.push(format!("{operation} {inputs}: sent {:?}", lines(&port)));
                port.clear_requests();
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_github_run_id_in_a_run_id_input_is_not_taken_for_a_port_run() {
    let dir = tempfile::tempdir().unwrap();
    let events = [
        // A workflow of its own, dispatched by hand with a GitHub run id to redeploy.
        dispatch(json!({"run_id": "9876543210", "environment": "production"})),
        dispatch(json!({"runId": "9876543210", "port_run_id": "12"})),
        json!({"action": "redeploy", "client_payload": {"run_id": "9876543210"}}),
    ];
    for event in events {
        let port = StandIn::start();
        let out = Step::new(&port)
            .event(Some(event_file(&dir, &event)))
            .input("blueprint", "service")
            .input("identifier", "payments")
            .input("properties", r#"{"version": "1.2.3"}"#)
            .run();
        out.assert_success();
        assert_eq!(
            lines(&port),
            [
                TOKEN,
                "POST /v1/blueprints/service/entities?upsert=true&merge=true"
            ],
            "{event}"
        );
        assert_eq!(
            port.requests()[1].body,
            Some(json!({"identifier": "payments", "properties": {"version": "1.2.3"}}))
        );
        assert_eq!(out.output("identifier"), Some("payments"));
        assert_eq!(out.output("runId"), None);
        assert!(!out.stdout.contains("::warning"), "{}", out.stdout);
    }
}

#[test]
fn a_github_run_id_beside_port_context_leaves_the_port_run_alone() {
    let port = StandIn::start();
    port.add_run("r_ctx", "IN_PROGRESS", &[]);
    let dir = tempfile::tempdir().unwrap();
    let mut inputs = port_context("r_ctx");
    inputs["run_id"] = json!("9876543210");
    let event = event_file(&dir, &dispatch(inputs));
    let out = Step::new(&port)
        .event(Some(event.clone()))
        .input("operation", "SEARCH")
        .input("query", r#"{"combinator": "and", "rules": []}"#)
        .run();
    out.assert_success();
    assert_eq!(out.output("runId"), Some("r_ctx"));
    port.clear_requests();
    Step::new(&port)
        .event(Some(event))
        .input("blueprint", "service")
        .input("identifier", "payments")
        .run()
        .assert_success();
    assert_eq!(
        lines(&port)[1],
        "POST /v1/blueprints/service/entities?upsert=true&merge=true&run_id=r_ctx"
    );
}

/// Two different Port runs named in one event.
fn ambiguous() -> Value {
    let mut inputs = port_context("r_one");
    inputs["run_id"] = json!("r_two");
    dispatch(inputs)
}

#[test]
fn two_runs_in_the_event_are_a_warning_for_a_step_that_needs_no_run() {
    let port = StandIn::start();
    port.add_run("r_one", "IN_PROGRESS", &[]);
    port.add_run("r_two", "IN_PROGRESS", &[]);
    port.add_entity("service", json!({"identifier": "payments"}));
    let dir = tempfile::tempdir().unwrap();
    let out = Step::new(&port)
        .event(Some(event_file(&dir, &ambiguous())))
        .input("operation", "GET")
        .input("blueprint", "service")
        .input("identifier", "payments")
        .run();
    out.assert_success();
    let warnings: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.starts_with("::warning"))
        .collect();
    assert_eq!(
        warnings,
        [
            "::warning title=No Port run::the event names two different Port runs: 'r_one' in \
          inputs.port_context.runId and 'r_two' in inputs.run_id; pass the one to use as the \
          'runId' input. GET goes on without a Port run: nothing it does is tied to a run"
        ]
    );
    assert_eq!(
        lines(&port),
        [TOKEN, "GET /v1/blueprints/service/entities/payments"]
    );
    assert_eq!(out.output("identifier"), Some("payments"));
    assert_eq!(out.output("runId"), None);

    // An upsert is written, tied to no run.
    port.clear_requests();
    Step::new(&port)
        .event(Some(event_file(&dir, &ambiguous())))
        .input("blueprint", "service")
        .input("identifier", "payments")
        .run()
        .assert_success();
    assert_eq!(
        lines(&port),
        [
            TOKEN,
            "POST /v1/blueprints/service/entities?upsert=true&merge=true"
        ]
    );
}

#[test]
fn two_runs_in_the_event_fail_a_step_that_needs_its_run_before_any_request() {
    let port = StandIn::start();
    let dir = tempfile::tempdir().unwrap();
    let out = Step::new(&port)
        .event(Some(event_file(&dir, &ambiguous())))
        .input("operation", "PATCH_RUN")
        .input("status", "SUCCESS")
        .run();
    out.assert_failure(
        "the event names two different Port runs: 'r_one' in inputs.port_context.runId and \
         'r_two' in inputs.run_id; pass the one to use as the 'runId' input",
    );
    assert!(port.requests().is_empty());

    // Any operation given a run input needs the run too.
    let out = Step::new(&port)
        .event(Some(event_file(&dir, &ambiguous())))
        .input("blueprint", "service")
        .input("identifier", "payments")
        .input("logMessage", "deployed")
        .input("summary", "done")
        .run();
    out.assert_failure(
        "'r_two' in inputs.run_id; pass the one to use as the 'runId' input. The step cannot \
         go on without its run: 'logMessage', 'summary' are sent to it",
    );
    assert!(port.requests().is_empty());

    // The `runId` input settles it.
    port.add_run("r_two", "IN_PROGRESS", &[]);
    Step::new(&port)
        .event(Some(event_file(&dir, &ambiguous())))
        .input("operation", "PATCH_RUN")
        .input("runId", "r_two")
        .input("logMessage", "deployed")
        .run()
        .assert_success();
    assert_eq!(port.logs("r_two")[0]["message"], "deployed");
}
