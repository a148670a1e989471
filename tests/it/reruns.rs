//! "Re-run jobs": GitHub replays the same event, so every step finds the Port run of the first
//! attempt, which that attempt ended. Port refuses a write tied to it (400 `run_exhausted`) and
//! a log line to it (422 `run_exhausted`). The job's work still lands, untied, with one warning
//! a step; the run keeps the status, label and summary it ended with.

use port_stand_in::StandIn;
use serde_json::{json, Value};

use crate::support::{assert_spec_clean, data, lines, Outcome, Step, JOB_URL, WORKFLOW_RUN_URL};

const TOKEN: &str = "POST /v1/auth/access_token";
const GET_RUN: &str = "GET /v1/actions/runs/r_demo?version=v2";
const PATCH_RUN: &str = "PATCH /v1/actions/runs/r_demo";
const POST_LOG: &str = "POST /v1/actions/runs/r_demo/logs";

/// A stand-in holding `r_demo`, the run of the sample event, as the first attempt ended it.
fn stand_in_with_ended_run() -> StandIn {
    let port = StandIn::start();
    port.add_run_json(json!({
        "id": "r_demo",
        "status": "FAILURE",
        "statusLabel": "Rolled back",
        "summary": "Deploy failed: canary unhealthy",
        "link": [WORKFLOW_RUN_URL],
    }));
    port
}

/// Asserts the run still holds what the first attempt ended it with.
#[track_caller]
fn assert_run_as_it_ended(port: &StandIn) {
    let run = port.run("r_demo").unwrap();
    assert_eq!(run["status"], "FAILURE", "{run:#}");
    assert_eq!(run["statusLabel"], "Rolled back", "{run:#}");
    assert_eq!(run["summary"], "Deploy failed: canary unhealthy", "{run:#}");
    assert!(port.logs("r_demo").is_empty());
}

/// The `::warning` lines printed.
fn warnings(out: &Outcome) -> Vec<&str> {
    out.stdout
        .lines()
        .filter(|l| l.starts_with("::warning"))
        .collect()
}

/// Asserts the step printed exactly one warning, about the ended run, naming where the run
/// came from and `what` it did about it.
#[track_caller]
fn assert_one_ended_run_warning(out: &Outcome, source: &str, what: &str) {
    let w = warnings(out);
    assert_eq!(w.len(), 1, "{}", out.stdout);
    assert!(
        w[0].starts_with("::warning title=Port run already ended::Port run r_demo has"),
        "{}",
        w[0]
    );
    assert!(w[0].contains(what), "{what:?} in {}", w[0]);
    assert!(
        w[0].contains(&format!("The run came from {source}")),
        "{}",
        w[0]
    );
    assert!(out.errors().is_empty(), "{}", out.stdout);
    assert!(
        out.summary.contains("- ⚠️ Port run r_demo "),
        "{}",
        out.summary
    );
}

/// A step whose run is given as the `runId` input, in an event with no Port run in it.
fn with_run_id_input(step: Step) -> Step {
    step.event(Some(data("workflow_dispatch_no_port.json")))
        .input("runId", "r_demo")
}

/// A name, and what it does to a step.
type Variant = (&'static str, fn(Step) -> Step);

/// The run as the event gives it (`inputs.port_context.runId`), or as the `runId` input.
fn both_sources() -> [Variant; 2] {
    [
        ("inputs.port_context.runId", |s| s),
        ("input 'runId'", with_run_id_input),
    ]
}

#[test]
fn an_upsert_on_a_re_run_writes_the_entity_untied_with_one_warning() {
    for (source, given) in both_sources() {
        let port = stand_in_with_ended_run();
        let out = given(Step::new(&port))
            .input("blueprint", "service")
            .input("identifier", "payments")
            .input("properties", r#"{"version": "1.2.3"}"#)
            .run();
        out.assert_success();
        assert_eq!(
            lines(&port),
            [
                TOKEN,
                "POST /v1/blueprints/service/entities?upsert=true&merge=true&run_id=r_demo",
                "POST /v1/blueprints/service/entities?upsert=true&merge=true",
            ],
            "{source}"
        );
        assert_eq!(port.requests()[1].status, 400);
        let entity = port.entity("service", "payments").expect("written");
        assert_eq!(entity["properties"]["version"], "1.2.3");
        assert_eq!(out.output("identifier"), Some("payments"));
        assert_eq!(out.json_output("entity")["identifier"], "payments");
        assert_eq!(out.output("runId"), Some("r_demo"));
        assert_one_ended_run_warning(
            &out,
            source,
            "the entity was written without being tied to it",
        );
        assert!(
            out.summary
                .contains("upserted in blueprint `service`, not tied to run `r_demo`"),
            "{}",
            out.summary
        );
        assert_run_as_it_ended(&port);
        assert_spec_clean(&port);
    }
}

#[test]
fn an_upsert_without_identifier_on_a_re_run_creates_one_entity() {
    // Port refused the tied write before writing anything: sending it again untied creates
    // the one entity the step asked for, not a second.
    for (source, given) in both_sources() {
        let port = stand_in_with_ended_run();
        let out = given(Step::new(&port))
            .input("blueprint", "service")
            .input("title", "Nightly build")
            .run();
        out.assert_success();
        let entities = port.entities("service");
        assert_eq!(entities.len(), 1, "{source}: {entities:#?}");
        assert_eq!(
            out.output("identifier"),
            entities[0]["identifier"].as_str(),
            "{source}"
        );
        assert_eq!(lines(&port).len(), 3, "{source}");
        assert_one_ended_run_warning(
            &out,
            source,
            "the entity was written without being tied to it",
        );
        assert_run_as_it_ended(&port);
    }
}

#[test]
fn a_bulk_upsert_on_a_re_run_writes_every_batch_untied_with_one_warning() {
    for (source, given) in both_sources() {
        let port = stand_in_with_ended_run();
        let entities: Vec<Value> = (0..45)
            .map(|i| json!({"identifier": format!("svc-{i:02}"), "properties": {"n": i}}))
            .collect();
        let out = given(Step::new(&port))
            .input("operation", "BULK_UPSERT")
            .input("blueprint", "service")
            .input("entities", &Value::Array(entities).to_string())
            .input("concurrency", "1")
            .run();
        out.assert_success();
        let bulk = "POST /v1/blueprints/service/entities/bulk?upsert=true&merge=true";
        let tied = format!("{bulk}&run_id=r_demo");
        // The first batch meets the ended run and is sent again untied; the batches after it
        // go untied at once.
        assert_eq!(
            lines(&port),
            [TOKEN, tied.as_str(), bulk, bulk, bulk],
            "{source}"
        );
        assert_eq!(port.entities("service").len(), 45, "{source}");
        let identifiers = out.json_output("identifiers");
        assert_eq!(identifiers.as_array().unwrap().len(), 45);
        assert_eq!(out.json_output("failed"), json!([]));
        assert_one_ended_run_warning(
            &out,
            source,
            "the entities of 3 batches were written without being tied to it",
        );
        assert!(
            out.summary.contains(
                "45 of 45 entities written in 3 batches, not tied to run `r_demo`: it has \
                 already ended"
            ),
            "{}",
            out.summary
        );
        assert_run_as_it_ended(&port);
        assert_spec_clean(&port);
    }
}

#[test]
fn batches_in_flight_together_on_a_re_run_are_each_sent_again_untied() {
    let port = stand_in_with_ended_run();
    let entities: Vec<Value> = (0..80)
        .map(|i| json!({"identifier": format!("svc-{i:02}")}))
        .collect();
    let out = Step::new(&port)
        .input("operation", "BULK_UPSERT")
        .input("blueprint", "service")
        .input("entities", &Value::Array(entities).to_string())
        .input("concurrency", "4")
        .run();
    out.assert_success();
    assert_eq!(port.entities("service").len(), 80);
    let sent = lines(&port);
    let tied = sent
        .iter()
        .filter(|l| l.ends_with("&run_id=r_demo"))
        .count();
    let untied = sent.iter().filter(|l| l.ends_with("merge=true")).count();
    assert!((1..=4).contains(&tied), "{sent:#?}");
    assert_eq!(untied, 4, "each batch is written once: {sent:#?}");
    assert_eq!(warnings(&out).len(), 1, "{}", out.stdout);
    assert_run_as_it_ended(&port);
}

#[test]
fn a_delete_on_a_re_run_deletes_the_entity_untied_with_one_warning() {
    for (source, given) in both_sources() {
        let port = stand_in_with_ended_run();
        port.add_entity("service", json!({"identifier": "old"}));
        let out = given(Step::new(&port))
            .input("operation", "DELETE")
            .input("blueprint", "service")
            .input("identifier", "old")
            .run();
        out.assert_success();
        assert_eq!(
            lines(&port),
            [
                TOKEN,
                "DELETE /v1/blueprints/service/entities/old?delete_dependents=false&run_id=r_demo",
                "DELETE /v1/blueprints/service/entities/old?delete_dependents=false",
            ],
            "{source}"
        );
        assert!(port.entities("service").is_empty(), "{source}");
        assert_eq!(out.output("ok"), Some("true"));
        assert_one_ended_run_warning(
            &out,
            source,
            "the entity was deleted without being tied to it",
        );
        assert_run_as_it_ended(&port);
        assert_spec_clean(&port);
    }
}

#[test]
fn a_log_line_the_ended_run_refuses_is_a_warning_for_every_operation() {
    let steps: [Variant; 6] = [
        ("UPSERT", |s| {
            s.input("blueprint", "service").input("identifier", "a")
        }),
        ("BULK_UPSERT", |s| {
            s.input("blueprint", "service")
                .input("entities", r#"[{"identifier": "b"}]"#)
        }),
        ("DELETE", |s| {
            s.input("blueprint", "service").input("identifier", "old")
        }),
        ("GET", |s| {
            s.input("blueprint", "service").input("identifier", "old")
        }),
        ("SEARCH", |s| s.input("blueprint", "service")),
        ("CREATE_RUN", |s| s.input("action", "rollback")),
    ];
    for (operation, inputs) in steps {
        let port = stand_in_with_ended_run();
        port.add_entity("service", json!({"identifier": "old"}));
        let out = inputs(Step::new(&port))
            .input("operation", operation)
            .input("logMessage", "deployed v2")
            .run();
        out.assert_success();
        let w = warnings(&out);
        assert_eq!(w.len(), 1, "{operation}: {}", out.stdout);
        assert!(
            w[0].contains("it takes no more log lines, so this one was not added: \"deployed v2\""),
            "{operation}: {}",
            w[0]
        );
        assert_eq!(
            lines(&port).last().map(String::as_str),
            Some(POST_LOG),
            "{operation}: the log line is sent once"
        );
        assert_eq!(out.output("logMessage"), None, "{operation}");
        assert_run_as_it_ended(&port);
    }
}

#[test]
fn a_patch_run_status_step_on_a_re_run_leaves_the_run_as_it_ended_and_adds_links() {
    let port = stand_in_with_ended_run();
    let out = Step::new(&port)
        .input("operation", "PATCH_RUN")
        .input("status", "SUCCESS")
        .input("statusLabel", "Deployed")
        .input("summary", "Deployed v2 to production")
        .input("logMessage", "deployed v2")
        .run();
    out.assert_success();
    assert_eq!(lines(&port), [TOKEN, POST_LOG, GET_RUN, PATCH_RUN]);
    let patch = port
        .requests()
        .into_iter()
        .find(|r| r.method == "PATCH")
        .and_then(|r| r.body)
        .unwrap();
    assert_eq!(patch, json!({"link": [WORKFLOW_RUN_URL, JOB_URL]}));
    assert_run_as_it_ended(&port);
    assert_eq!(
        port.run("r_demo").unwrap()["link"],
        json!([WORKFLOW_RUN_URL, JOB_URL])
    );
    let w = warnings(&out);
    assert_eq!(w.len(), 1, "{}", out.stdout);
    assert!(
        w[0].contains(
            "Port run r_demo had already ended with FAILURE; it takes no more log lines, so \
             this one was not added: \"deployed v2\"; its status was left as it is instead \
             of being set to SUCCESS, and its label and summary as they were"
        ),
        "{}",
        w[0]
    );
    assert_spec_clean(&port);
}

#[test]
fn without_links_to_add_a_status_step_on_a_re_run_sends_nothing_to_the_run() {
    let port = stand_in_with_ended_run();
    let out = Step::new(&port)
        .input("operation", "PATCH_RUN")
        .input("status", "SUCCESS")
        .input("statusLabel", "Deployed")
        .input("summary", "Deployed v2 to production")
        .input("addJobLink", "false")
        .run();
    out.assert_success();
    assert_eq!(lines(&port), [TOKEN, GET_RUN]);
    assert_eq!(warnings(&out).len(), 1, "{}", out.stdout);
    assert_run_as_it_ended(&port);
}

#[test]
fn a_re_run_of_a_tracked_job_leaves_the_run_as_it_ended_and_adds_the_job_link() {
    let port = stand_in_with_ended_run();
    let start = Step::track_start(&port)
        .input("statusLabel", "Deploying")
        .run();
    start.assert_success();
    assert_eq!(lines(&port), [TOKEN, POST_LOG, GET_RUN, PATCH_RUN]);
    let w = warnings(&start);
    assert_eq!(w.len(), 1, "{}", start.stdout);
    assert!(
        w[0].contains("had already ended with FAILURE; it takes no more log lines"),
        "{}",
        w[0]
    );
    assert!(w[0].contains("; its label was left as it was."), "{}", w[0]);
    assert_run_as_it_ended(&port);
    // The job succeeds this time; the run still says what the first attempt did.
    let end = Step::track_end(&port, "success", &start.state)
        .input("statusLabel", "Deploying")
        .run();
    end.assert_success();
    assert_eq!(warnings(&end).len(), 1, "{}", end.stdout);
    assert!(
        warnings(&end)[0].contains(
            "its status was left as it is instead of being set to SUCCESS, and its label and \
             summary as they were"
        ),
        "{}",
        end.stdout
    );
    for patch in port.requests().iter().filter(|r| r.method == "PATCH") {
        assert_eq!(
            patch.body,
            Some(json!({"link": [WORKFLOW_RUN_URL, JOB_URL]})),
            "only links are sent"
        );
    }
    assert_run_as_it_ended(&port);
    assert_spec_clean(&port);
}

#[test]
fn a_label_and_summary_alone_are_not_written_over_an_ended_run() {
    let port = stand_in_with_ended_run();
    let out = Step::new(&port)
        .input("operation", "PATCH_RUN")
        .input("statusLabel", "Hacked")
        .input("summary", "overwritten")
        .input("addJobLink", "false")
        .run();
    out.assert_success();
    assert_eq!(lines(&port), [TOKEN, GET_RUN], "read, and nothing written");
    assert_run_as_it_ended(&port);
    let w = warnings(&out);
    assert_eq!(w.len(), 1, "{}", out.stdout);
    assert!(
        w[0].contains(
            "Port run r_demo had already ended with FAILURE; its label and summary were left \
             as they were."
        ),
        "{}",
        w[0]
    );
}
