//! Reporting to a Port run: status, label, summary, links, log lines, and one step that
//! writes an entity and finishes the run.

use port_stand_in::{FaultKind, StandIn};
use serde_json::json;

use crate::support::{
    assert_spec_clean, fault, lines, respond, stand_in_with_run, Outcome, Step, JOB_URL,
    WORKFLOW_RUN_URL,
};

fn patch_body(port: &StandIn) -> serde_json::Value {
    port.requests()
        .iter()
        .find(|r| r.method == "PATCH")
        .and_then(|r| r.body.clone())
        .expect("a PATCH was sent")
}

#[test]
fn cancelled_is_sent_as_failure_labelled_cancelled() {
    let port = stand_in_with_run();
    Step::new(&port)
        .input("operation", "PATCH_RUN")
        .input("status", "cancelled")
        .run()
        .assert_success();
    let body = patch_body(&port);
    assert_eq!(body["status"], "FAILURE");
    assert_eq!(body["statusLabel"], "Cancelled");
    assert_eq!(
        body["summary"],
        "GitHub Actions job `deploy` in acme/payments was cancelled (run 1234, attempt 1)"
    );
    assert_spec_clean(&port);
}

#[test]
fn status_label_input_wins_and_status_is_case_insensitive() {
    let port = stand_in_with_run();
    Step::new(&port)
        .input("operation", "PATCH_RUN")
        .input("status", "Cancelled")
        .input("statusLabel", "Stopped by a newer deploy")
        .run()
        .assert_success();
    assert_eq!(
        patch_body(&port)["statusLabel"],
        "Stopped by a newer deploy"
    );
}

#[test]
fn a_label_alone_keeps_the_run_in_progress() {
    let port = stand_in_with_run();
    Step::new(&port)
        .input("operation", "PATCH_RUN")
        .input("statusLabel", "Waiting for canary")
        .run()
        .assert_success();
    let body = patch_body(&port);
    assert_eq!(body.get("status"), None);
    assert_eq!(body.get("summary"), None);
    assert_eq!(body["statusLabel"], "Waiting for canary");
    assert_eq!(port.run("r_demo").unwrap()["status"], "IN_PROGRESS");
}

#[test]
fn link_input_is_added_to_the_links_the_run_had() {
    let port = stand_in_with_run();
    let out = Step::new(&port)
        .input("operation", "PATCH_RUN")
        .input(
            "link",
            r#"["https://grafana.example.com/d/1", "https://argo.example.com/app"]"#,
        )
        .run();
    out.assert_success();
    let expected = json!([
        WORKFLOW_RUN_URL,
        "https://grafana.example.com/d/1",
        "https://argo.example.com/app",
        JOB_URL
    ]);
    assert_eq!(patch_body(&port)["link"], expected);
    assert_eq!(out.json_output("link"), expected);
}

#[test]
fn a_summary_without_links_is_sent_once_the_run_is_read() {
    let port = stand_in_with_run();
    Step::new(&port)
        .input("operation", "PATCH_RUN")
        .input("addJobLink", "false")
        .input("summary", "Done")
        .input("externalRunId", "deploy-77")
        .run()
        .assert_success();
    // Read first, so that a run that has already ended keeps its summary.
    assert_eq!(
        lines(&port),
        [
            "POST /v1/auth/access_token",
            "GET /v1/actions/runs/r_demo?version=v2",
            "PATCH /v1/actions/runs/r_demo"
        ]
    );
    assert_eq!(
        patch_body(&port),
        json!({"summary": "Done", "externalRunId": "deploy-77"})
    );
}

#[test]
fn log_line_is_posted_before_the_final_status() {
    let port = stand_in_with_run();
    Step::new(&port)
        .input("operation", "PATCH_RUN")
        .input("logMessage", "Deployed version 1.2.3")
        .input("status", "success")
        .run()
        .assert_success();
    assert_eq!(
        lines(&port),
        [
            "POST /v1/auth/access_token",
            "POST /v1/actions/runs/r_demo/logs",
            "GET /v1/actions/runs/r_demo?version=v2",
            "PATCH /v1/actions/runs/r_demo",
        ]
    );
    assert_eq!(port.logs("r_demo").len(), 1);
}

#[test]
fn one_upsert_step_writes_the_entity_posts_the_log_and_finishes_the_run() {
    let port = stand_in_with_run();
    let out = Step::new(&port)
        .input("blueprint", "service")
        .input("identifier", "payments")
        .input("logMessage", "Entity written")
        .input("status", "SUCCESS")
        .run();
    out.assert_success();
    assert_eq!(
        lines(&port),
        [
            "POST /v1/auth/access_token",
            "POST /v1/blueprints/service/entities?upsert=true&merge=true&run_id=r_demo",
            "POST /v1/actions/runs/r_demo/logs",
            "GET /v1/actions/runs/r_demo?version=v2",
            "PATCH /v1/actions/runs/r_demo",
        ]
    );
    assert_eq!(port.run("r_demo").unwrap()["status"], "SUCCESS");
    assert_eq!(port.logs("r_demo")[0]["message"], "Entity written");
    assert_spec_clean(&port);
}

#[test]
fn a_failed_entity_write_finishes_the_run_as_failure_with_the_error() {
    let port = stand_in_with_run();
    port.reject_entity(
        "service",
        "payments",
        422,
        "blueprint_schema_mismatch",
        "property \"replicas\" must be a number",
    );
    let out = Step::new(&port)
        .input("blueprint", "service")
        .input("identifier", "payments")
        .input("properties", r#"{"replicas": "three"}"#)
        .input("logMessage", "Entity written")
        .input("status", "success")
        .input("statusLabel", "Deployed")
        .run();
    out.assert_failure(
        "Port API 422 blueprint_schema_mismatch: property \"replicas\" must be a number",
    );
    // The label given for the success the step expected is not sent.
    let body = patch_body(&port);
    assert_eq!(body["status"], "FAILURE");
    assert_eq!(body["statusLabel"], "Failed", "{body:#}");
    let summary = body["summary"].as_str().unwrap();
    assert!(
        summary.starts_with("cannot upsert the entity in blueprint 'service': ")
            && summary.contains(
                "Port API 422 blueprint_schema_mismatch: property \"replicas\" must be a number"
            ),
        "run summary: {summary}"
    );
    let run = port.run("r_demo").unwrap();
    assert_eq!(run["status"], "FAILURE");
    assert_eq!(run["statusLabel"], "Failed");
    assert_eq!(run["summary"], summary);
    assert!(port.logs("r_demo").is_empty(), "no success log line");
}

#[test]
fn a_log_to_a_run_that_already_ended_is_a_warning() {
    let port = StandIn::start();
    port.add_run("r_demo", "SUCCESS", &[]);
    let out = Step::new(&port)
        .input("operation", "PATCH_RUN")
        .input("logMessage", "late line")
        .run();
    out.assert_success();
    assert!(
        out.stdout
            .lines()
            .any(|l| l.starts_with("::warning") && l.contains("r_demo has already ended")),
        "{}",
        out.stdout
    );
    assert_eq!(out.output("logMessage"), None);
}

#[test]
fn a_run_that_already_ended_keeps_its_status() {
    let port = StandIn::start();
    port.add_run("r_demo", "FAILURE", &[WORKFLOW_RUN_URL]);
    let out = Step::new(&port)
        .input("operation", "PATCH_RUN")
        .input("status", "success")
        .run();
    out.assert_success();
    assert!(out
        .stdout
        .contains("had already ended with FAILURE; its status was left as it is"));
    let body = patch_body(&port);
    assert_eq!(body.get("status"), None);
    assert_eq!(port.run("r_demo").unwrap()["status"], "FAILURE");
}

#[test]
fn a_synchronized_run_refusing_status_is_explained() {
    let port = StandIn::start();
    port.add_run_json(json!({
        "id": "r_demo",
        "status": "IN_PROGRESS",
        "synchronized": true,
        "link": [],
    }));
    let out = Step::new(&port)
        .input("operation", "PATCH_RUN")
        .input("status", "success")
        .run();
    out.assert_failure("run_synchronized_error");
    assert!(out.errors()[0].contains("synchronized (webhook) action"));
}

#[test]
fn create_run_outputs_the_new_run_and_can_wait_for_it() {
    let port = StandIn::start();
    port.finish_created_runs_after(1, "SUCCESS");
    let out = Step::new(&port)
        .event(None)
        .input("operation", "CREATE_RUN")
        .input("action", "deploy_service")
        .input("identifier", "payments")
        .input("properties", r#"{"version": "1.2.3"}"#)
        .input("wait", "true")
        .run();
    out.assert_success();
    let created = &port.requests()[1];
    assert_eq!(created.line(), "POST /v1/actions/deploy_service/runs");
    assert_eq!(
        created.body,
        Some(json!({"properties": {"version": "1.2.3"}, "entity": "payments"}))
    );
    let run_id = out.output("runId").expect("runId output");
    assert!(run_id.starts_with("r_"), "{run_id}");
    assert_eq!(out.output("status"), Some("SUCCESS"));
    assert_spec_clean(&port);
}

#[test]
fn create_run_inside_a_port_run_outputs_the_new_run_and_logs_to_its_own() {
    let port = stand_in_with_run();
    let out = Step::new(&port)
        .input("operation", "CREATE_RUN")
        .input("action", "deploy_service")
        .input("logMessage", "Started the deployment")
        .run();
    out.assert_success();
    let new_id = out.output("runId").expect("runId output").to_string();
    assert_ne!(new_id, "r_demo");
    let written = |name: &str| out.outputs.iter().filter(|(n, _)| n == name).count();
    assert_eq!(written("runId"), 1, "{:?}", out.outputs);
    assert_eq!(written("runUrl"), 1, "{:?}", out.outputs);
    assert_eq!(
        out.output("runUrl"),
        Some(format!("{}/organization/run?runId={new_id}", port.url()).as_str())
    );
    assert_eq!(port.logs("r_demo")[0]["message"], "Started the deployment");
    assert!(port.logs(&new_id).is_empty());
    assert_spec_clean(&port);
}

/// A CREATE_RUN step that waits for the run it creates.
fn create_and_wait(port: &StandIn) -> Step {
    Step::new(port)
        .event(None)
        .input("operation", "CREATE_RUN")
        .input("action", "deploy_service")
        .input("wait", "true")
}

#[test]
fn a_waited_run_that_ends_in_failure_fails_the_step() {
    let port = StandIn::start();
    port.finish_created_runs_after(0, "FAILURE");
    let out = create_and_wait(&port).run();
    let run_id = out.output("runId").expect("runId output").to_string();
    out.assert_failure(&format!(
        "Port run {run_id} of action 'deploy_service' ended with FAILURE"
    ));
    assert_eq!(out.output("status"), Some("FAILURE"));
}

#[test]
fn a_run_that_does_not_end_within_wait_timeout_fails_naming_it() {
    let port = StandIn::start();
    let out = create_and_wait(&port)
        .input("waitTimeout", "1s")
        .input("timeout", "30s")
        .run();
    let run_id = out.output("runId").expect("runId output").to_string();
    out.assert_failure(&format!(
        "Port run {run_id} was still IN_PROGRESS after 1s (input 'waitTimeout')"
    ));
    assert_eq!(out.output("status"), Some("IN_PROGRESS"));
}

#[test]
fn waiting_for_a_run_may_take_longer_than_timeout_up_to_wait_timeout() {
    // The first poll sees IN_PROGRESS, the second (2 units of 600 ms later) SUCCESS: past the
    // 1 s `timeout`, well within `waitTimeout`, which the step's deadline covers too.
    let port = StandIn::start();
    port.finish_created_runs_after(1, "SUCCESS");
    let out = create_and_wait(&port)
        .env(port_action::ops::LOOKUP_UNIT_VAR, "600")
        .input("timeout", "1s")
        .input("waitTimeout", "30s")
        .run();
    out.assert_success();
    assert_eq!(out.output("status"), Some("SUCCESS"));
    let polls = lines(&port)
        .iter()
        .filter(|l| l.starts_with("GET /v1/actions/runs/"))
        .count();
    assert_eq!(polls, 2);
}

#[test]
fn an_external_run_id_alone_is_sent_to_the_run() {
    let port = stand_in_with_run();
    Step::new(&port)
        .input("operation", "PATCH_RUN")
        .input("addJobLink", "false")
        .input("externalRunId", "deploy-77")
        .run()
        .assert_success();
    assert_eq!(
        lines(&port),
        [
            "POST /v1/auth/access_token",
            "PATCH /v1/actions/runs/r_demo"
        ]
    );
    assert_eq!(patch_body(&port), json!({"externalRunId": "deploy-77"}));
    assert_eq!(port.run("r_demo").unwrap()["externalRunId"], "deploy-77");
}

#[test]
fn a_status_after_a_running_label_ends_the_run_with_the_outcomes_label() {
    let port = stand_in_with_run();
    Step::new(&port)
        .input("operation", "PATCH_RUN")
        .input("statusLabel", "Deploying")
        .run()
        .assert_success();
    assert_eq!(port.run("r_demo").unwrap()["statusLabel"], "Deploying");
    Step::new(&port)
        .input("operation", "PATCH_RUN")
        .input("status", "failure")
        .run()
        .assert_success();
    let run = port.run("r_demo").unwrap();
    assert_eq!(run["status"], "FAILURE");
    assert_eq!(run["statusLabel"], "Failed", "{run:#}");
}

#[test]
fn a_success_without_a_label_is_labelled_succeeded() {
    let port = stand_in_with_run();
    let out = Step::new(&port)
        .input("operation", "PATCH_RUN")
        .input("status", "success")
        .run();
    out.assert_success();
    let body = patch_body(&port);
    assert_eq!(body["status"], "SUCCESS");
    assert_eq!(body["statusLabel"], "Succeeded");
    assert_eq!(port.run("r_demo").unwrap()["statusLabel"], "Succeeded");
    assert!(
        out.summary.contains("finished: **SUCCESS** (Succeeded)"),
        "{}",
        out.summary
    );
}

#[test]
fn a_success_with_a_label_keeps_the_label_given() {
    let port = stand_in_with_run();
    Step::new(&port)
        .input("operation", "PATCH_RUN")
        .input("status", "success")
        .input("statusLabel", "Deployed")
        .run()
        .assert_success();
    assert_eq!(patch_body(&port)["statusLabel"], "Deployed");
    let run = port.run("r_demo").unwrap();
    assert_eq!(run["status"], "SUCCESS");
    assert_eq!(run["statusLabel"], "Deployed");
}

/// A PATCH_RUN step finishing `r_demo` (with `inputs` added), cancelled by SIGTERM while its
/// request `line` hangs at Port.
fn cancelled_while_at_port(port: &StandIn, line: &str, inputs: &[(&str, &str)]) -> Outcome {
    fault(port, line.split('?').next().unwrap(), FaultKind::Hang);
    let mut step = Step::new(port)
        .input("operation", "PATCH_RUN")
        .input("status", "success")
        .input("requestTimeout", "60s")
        .input("timeout", "120s");
    for (name, value) in inputs {
        step = step.input(name, value);
    }
    crate::faults::signal_while_hung(port, step, line, libc::SIGTERM)
}

#[test]
fn a_cancel_during_the_read_of_the_run_sends_nothing_more_and_says_nothing_was_updated() {
    let port = stand_in_with_run();
    let out = cancelled_while_at_port(&port, "GET /v1/actions/runs/r_demo?version=v2", &[]);
    out.assert_failure(
        "the step was cancelled (SIGTERM): nothing more was sent to Port: cannot read Port run \
         r_demo: GET /v1/actions/runs/r_demo got no answer: the step was cancelled (SIGTERM)",
    );
    for untrue in [
        "without adding links",
        "updating it",
        "Run links not updated",
    ] {
        assert!(!out.stdout.contains(untrue), "{untrue}: {}", out.stdout);
        assert!(!out.summary.contains(untrue), "{untrue}: {}", out.summary);
    }
    assert!(!out.summary.contains("finished: "), "{}", out.summary);
    assert_eq!(
        lines(&port),
        [
            "POST /v1/auth/access_token",
            "GET /v1/actions/runs/r_demo?version=v2"
        ]
    );
    assert_eq!(port.run("r_demo").unwrap()["status"], "IN_PROGRESS");
}

#[test]
fn a_lost_log_line_and_a_refused_update_are_each_reported_on_their_own() {
    let port = stand_in_with_run();
    respond(
        &port,
        "POST /v1/actions/runs/r_demo/logs",
        500,
        &[],
        json!({"ok": false, "error": "internal_error", "message": "logs are down"}),
    );
    respond(
        &port,
        "PATCH /v1/actions/runs/r_demo",
        422,
        &[],
        json!({"ok": false, "error": "invalid_request", "message": "status refused"}),
    );
    let out = Step::new(&port)
        .input("operation", "PATCH_RUN")
        .input("logMessage", "Deployed")
        .input("status", "success")
        .run();
    out.assert_failure(
        "cannot update Port run r_demo: Port API 422 invalid_request: status refused",
    );
    let errors = out.errors();
    assert_eq!(errors.len(), 1, "{}", out.stdout);
    assert!(
        !errors[0].contains("log line"),
        "the update's error is not put inside the log line's: {}",
        errors[0]
    );
    assert!(
        out.stdout.contains(
            "::warning title=Log line not posted::cannot post the log line to Port run r_demo: \
             Port API 500 internal_error: logs are down"
        ),
        "{}",
        out.stdout
    );
}

#[test]
fn a_cancel_while_the_log_line_is_at_port_is_the_one_thing_said() {
    let port = stand_in_with_run();
    let out = cancelled_while_at_port(
        &port,
        "POST /v1/actions/runs/r_demo/logs",
        &[("logMessage", "Deployed")],
    );
    out.assert_failure(
        "the step was cancelled (SIGTERM): nothing more was sent to Port: cannot post the log \
         line to Port run r_demo: POST /v1/actions/runs/r_demo/logs got no answer",
    );
    assert!(!out.stdout.contains("::warning"), "{}", out.stdout);
    assert_eq!(
        lines(&port),
        [
            "POST /v1/auth/access_token",
            "POST /v1/actions/runs/r_demo/logs"
        ]
    );
}
