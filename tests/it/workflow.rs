//! The workflow Port dispatches: an UPSERT tied to the run with no `runId` input, then a
//! final PATCH_RUN with `status: ${{ job.status }}`, from only the event file and the inputs.

use port_stand_in::StandIn;
use serde_json::json;

use crate::support::{assert_spec_clean, lines, Step, JOB_URL, WORKFLOW_RUN_URL};

#[test]
fn upsert_then_final_status_from_the_event_alone() {
    let port = StandIn::start();
    port.add_run("r_demo", "IN_PROGRESS", &[WORKFLOW_RUN_URL]);

    let upsert = Step::new(&port)
        .input("blueprint", "service")
        .input("identifier", "payments")
        .input("title", "Payments")
        .input(
            "properties",
            "{\n  \"language\": \"rust\",\n  \"replicas\": 3\n}\n",
        )
        .run();
    upsert.assert_success();
    assert_eq!(
        lines(&port),
        [
            "POST /v1/auth/access_token",
            "POST /v1/blueprints/service/entities?upsert=true&merge=true&run_id=r_demo",
        ]
    );
    let sent = &port.requests()[1];
    assert_eq!(
        sent.body,
        Some(json!({
            "identifier": "payments",
            "title": "Payments",
            "properties": {"language": "rust", "replicas": 3}
        }))
    );
    assert_eq!(upsert.output("identifier"), Some("payments"));
    assert_eq!(upsert.json_output("entity")["properties"]["replicas"], 3);
    assert_eq!(upsert.output("runId"), Some("r_demo"));
    assert!(upsert
        .stdout
        .contains("Port run r_demo (from inputs.port_context.runId)"));
    assert!(upsert.summary.contains("`payments`"), "{}", upsert.summary);
    port.clear_requests();

    let finish = Step::new(&port)
        .input("operation", "PATCH_RUN")
        .input("status", "success")
        .run();
    finish.assert_success();
    assert_eq!(
        lines(&port),
        [
            "POST /v1/auth/access_token",
            "GET /v1/actions/runs/r_demo?version=v2",
            "PATCH /v1/actions/runs/r_demo",
        ]
    );
    let patch = &port.requests()[2];
    assert_eq!(
        patch.body,
        Some(json!({
            "status": "SUCCESS",
            "summary": "GitHub Actions job `deploy` in acme/payments succeeded (run 1234, attempt 1)",
            "link": [WORKFLOW_RUN_URL, JOB_URL],
        }))
    );
    let run = port.run("r_demo").expect("run");
    assert_eq!(run["status"], "SUCCESS");
    assert_eq!(run["link"], json!([WORKFLOW_RUN_URL, JOB_URL]));
    assert_eq!(finish.output("runId"), Some("r_demo"));
    assert_eq!(
        finish.json_output("link"),
        json!([WORKFLOW_RUN_URL, JOB_URL])
    );
    assert_eq!(
        finish.output("runUrl"),
        Some(format!("{}/organization/run?runId=r_demo", port.url()).as_str())
    );
    assert!(finish.summary.contains("**SUCCESS**"), "{}", finish.summary);
    assert_spec_clean(&port);
}

#[test]
fn a_log_only_step_costs_one_request_after_the_token() {
    let port = StandIn::start();
    port.add_run("r_demo", "IN_PROGRESS", &[]);
    let out = Step::new(&port)
        .input("operation", "PATCH_RUN")
        .input("logMessage", "Building the image…")
        .input("icon", "Rust")
        .run();
    out.assert_success();
    assert_eq!(
        lines(&port),
        [
            "POST /v1/auth/access_token",
            "POST /v1/actions/runs/r_demo/logs"
        ]
    );
    assert_eq!(port.logs("r_demo")[0]["message"], "Building the image…");
    assert_eq!(out.output("logMessage"), Some("Building the image…"));
    assert_eq!(port.run("r_demo").unwrap()["status"], "IN_PROGRESS");
    assert_spec_clean(&port);
}

#[test]
fn outputs_survive_the_runner_parser_with_newlines_and_delimiter_lookalikes() {
    let port = StandIn::start();
    port.add_run("r_demo", "IN_PROGRESS", &[]);
    let message = "line one\nEOF\nghadelimiter_x\n<<not a heredoc";
    let out = Step::new(&port)
        .input("operation", "PATCH_RUN")
        .input("logMessage", message)
        .run();
    out.assert_success();
    assert_eq!(out.output("logMessage"), Some(message));
    assert!(out.outputs_raw.contains("logMessage<<ghadelimiter_"));
}

#[test]
fn run_id_input_wins_over_the_event() {
    let port = StandIn::start();
    port.add_run("r_other", "IN_PROGRESS", &[]);
    let out = Step::new(&port)
        .input("operation", "PATCH_RUN")
        .input("runId", "r_other")
        .input("logMessage", "hello")
        .run();
    out.assert_success();
    assert!(out.stdout.contains("Port run r_other (from input 'runId')"));
    assert_eq!(port.logs("r_other").len(), 1);
    assert_eq!(out.output("runId"), Some("r_other"));
}

#[test]
fn a_step_outside_a_port_run_writes_no_run_id() {
    let port = StandIn::start();
    let out = Step::new(&port)
        .event(Some(crate::support::data("push.json")))
        .input("blueprint", "service")
        .input("identifier", "payments")
        .run();
    out.assert_success();
    assert_eq!(
        lines(&port)[1],
        "POST /v1/blueprints/service/entities?upsert=true&merge=true"
    );
    assert_eq!(out.output("runId"), None);
}

#[test]
fn the_runner_environment_is_enough_without_a_job_id() {
    let port = StandIn::start();
    port.add_run("r_demo", "IN_PROGRESS", &[]);
    let out = Step::new(&port)
        .input("operation", "PATCH_RUN")
        .input("jobId", "")
        .input("status", "FAILURE")
        .input("summary", "Deploy failed")
        .run();
    out.assert_success();
    let run = port.run("r_demo").unwrap();
    assert_eq!(run["status"], "FAILURE");
    assert_eq!(run["summary"], "Deploy failed");
    assert_eq!(
        run["link"],
        json!(["https://github.com/acme/payments/actions/runs/1234/attempts/1"])
    );
}

#[test]
fn run_inputs_without_a_run_are_a_warning_not_silence() {
    let port = StandIn::start();
    let out = Step::new(&port)
        .event(Some(crate::support::data("push.json")))
        .input("blueprint", "service")
        .input("identifier", "payments")
        .input("logMessage", "written")
        .input("status", "success")
        .run();
    out.assert_success();
    assert!(
        out.stdout.lines().any(|l| l
            == "::warning title=No Port run::'logMessage', 'status' given, but this step has no \
                Port run (no 'runId' input, and none in the event payload), so nothing was sent \
                to a run"),
        "{}",
        out.stdout
    );
    assert_eq!(lines(&port).len(), 2, "token and upsert only");
}
