//! The `track` action, run the way the runner runs it: the main stage where the step stands
//! (`/port-action track`, with `$GITHUB_STATE`), then the post stage after the job's other
//! steps (`/port-action-post track`, with the saved `STATE_*` and `jobStatus` evaluated then).
//! The workflow was dispatched by Port with no run id in its inputs at all: the run is found by
//! the `externalRunId` Port's GitHub integration gave it.

use port_stand_in::{StandIn, CLIENT_SECRET};
use serde_json::{json, Value};

use crate::support::{
    assert_spec_clean, data, lines, Outcome, Step, EXTERNAL_RUN_ID, JOB_URL, WORKFLOW_RUN_URL,
};

const TOKEN: &str = "POST /v1/auth/access_token";
const FIND: &str = "GET /v1/actions/runs?external_run_id=gh_5150_8080_1234&version=v2";
const POST_LOG: &str = "POST /v1/actions/runs/r_gh/logs";
const GET_RUN: &str = "GET /v1/actions/runs/r_gh?version=v2";
const PATCH_RUN: &str = "PATCH /v1/actions/runs/r_gh";

/// A stand-in holding the run Port's GitHub integration dispatched this workflow run for.
pub fn stand_in_with_dispatched_run() -> StandIn {
    let port = StandIn::start();
    port.add_run_json(json!({
        "id": "r_gh",
        "status": "IN_PROGRESS",
        "link": [WORKFLOW_RUN_URL],
        "externalRunId": EXTERNAL_RUN_ID,
    }));
    port
}

/// The event of a workflow Port dispatched, with no Port input in it.
fn no_port_input(step: Step) -> Step {
    step.event(Some(data("workflow_dispatch_no_port.json")))
}

/// Runs the main stage, then the post stage with `job_status`; returns both outcomes.
fn track_job(
    port: &StandIn,
    job_status: &str,
    post: impl FnOnce(Step) -> Step,
) -> (Outcome, Outcome) {
    let start = no_port_input(Step::track_start(port)).run();
    start.assert_success();
    let end = post(no_port_input(Step::track_end(
        port,
        job_status,
        &start.state,
    )))
    .run();
    end.assert_success();
    (start, end)
}

fn patch_body(port: &StandIn, nth: usize) -> Value {
    port.requests()
        .iter()
        .filter(|r| r.method == "PATCH")
        .nth(nth)
        .and_then(|r| r.body.clone())
        .expect("a PATCH")
}

fn log_messages(port: &StandIn) -> Vec<String> {
    port.logs("r_gh")
        .iter()
        .map(|l| l["message"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn the_start_finds_the_run_by_external_run_id_adds_the_job_and_saves_no_secret() {
    let port = stand_in_with_dispatched_run();
    let out = no_port_input(Step::track_start(&port))
        .input("statusLabel", "Deploying")
        .run();
    out.assert_success();
    assert_eq!(lines(&port), [TOKEN, FIND, POST_LOG, GET_RUN, PATCH_RUN]);
    assert!(
        out.stdout.contains(&format!(
            "Port run r_gh (from externalRunId {EXTERNAL_RUN_ID})"
        )),
        "{}",
        out.stdout
    );
    assert_eq!(
        patch_body(&port, 0),
        json!({"statusLabel": "Deploying", "link": [WORKFLOW_RUN_URL, JOB_URL]})
    );
    assert_eq!(
        log_messages(&port),
        ["GitHub Actions job `deploy` started (attempt 1)"]
    );
    assert_eq!(port.run("r_gh").unwrap()["status"], "IN_PROGRESS");
    assert_eq!(out.output("runId"), Some("r_gh"));
    let saved: Vec<&str> = out.state.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(saved, ["portRunId", "portRunSource", "portStartedAt"]);
    assert_eq!(out.state[0].1, "r_gh");
    assert!(!out.state_raw.contains(CLIENT_SECRET));
    assert!(!out.state_raw.contains("stand-in-token"));
    assert_spec_clean(&port);
}

#[test]
fn a_job_that_succeeds_finishes_the_run_with_success() {
    let port = stand_in_with_dispatched_run();
    let (_, end) = track_job(&port, "success", |s| s);
    let sent = lines(&port);
    assert_eq!(
        &sent[5..],
        [TOKEN, POST_LOG, GET_RUN, PATCH_RUN],
        "the end: {sent:?}"
    );
    let run = port.run("r_gh").unwrap();
    assert_eq!(run["status"], "SUCCESS");
    assert_eq!(run["link"], json!([WORKFLOW_RUN_URL, JOB_URL]));
    let summary = run["summary"].as_str().unwrap();
    assert!(
        summary.starts_with("GitHub Actions job `deploy` in acme/payments succeeded after "),
        "{summary}"
    );
    assert!(summary.ends_with(" (run 1234, attempt 1)"), "{summary}");
    let logs = log_messages(&port);
    assert_eq!(logs.len(), 2, "{logs:?}");
    assert!(
        logs[1].starts_with("GitHub Actions job `deploy` succeeded after "),
        "{logs:?}"
    );
    assert!(
        end.summary.contains("finished: **SUCCESS**"),
        "{}",
        end.summary
    );
    assert_spec_clean(&port);
}

#[test]
fn a_job_that_fails_finishes_the_run_with_failure() {
    let port = stand_in_with_dispatched_run();
    track_job(&port, "failure", |s| s);
    let run = port.run("r_gh").unwrap();
    assert_eq!(run["status"], "FAILURE");
    assert!(run["summary"].as_str().unwrap().contains(" failed after "));
    assert!(log_messages(&port)[1].contains("`deploy` failed after "));
}

#[test]
fn a_cancelled_job_finishes_the_run_with_failure_labelled_cancelled() {
    let port = stand_in_with_dispatched_run();
    track_job(&port, "cancelled", |s| s);
    let run = port.run("r_gh").unwrap();
    assert_eq!(run["status"], "FAILURE");
    assert_eq!(run["statusLabel"], "Cancelled");
    assert!(run["summary"]
        .as_str()
        .unwrap()
        .contains(" was cancelled after "));
}

#[test]
fn with_finish_false_the_end_posts_its_line_and_label_and_leaves_the_run_open() {
    let port = stand_in_with_dispatched_run();
    track_job(&port, "success", |s| {
        s.input("finish", "false").input("statusLabel", "Built")
    });
    let run = port.run("r_gh").unwrap();
    assert_eq!(run["status"], "IN_PROGRESS");
    assert_eq!(run["statusLabel"], "Built");
    let end_patch = patch_body(&port, 1);
    assert_eq!(end_patch.get("status"), None);
    assert_eq!(end_patch.get("summary"), None);
    assert_eq!(log_messages(&port).len(), 2);
}

#[test]
fn an_end_with_no_state_sends_nothing_and_succeeds() {
    let port = stand_in_with_dispatched_run();
    let out = no_port_input(Step::track_end(&port, "failure", &[])).run();
    out.assert_success();
    assert!(port.requests().is_empty());
    assert_eq!(port.run("r_gh").unwrap()["status"], "IN_PROGRESS");
}

#[test]
fn a_run_id_in_the_event_is_used_without_a_look_up() {
    let port = StandIn::start();
    port.add_run("r_demo", "IN_PROGRESS", &[WORKFLOW_RUN_URL]);
    let start = Step::track_start(&port).run();
    start.assert_success();
    assert_eq!(
        lines(&port),
        [
            TOKEN,
            "POST /v1/actions/runs/r_demo/logs",
            "GET /v1/actions/runs/r_demo?version=v2",
            "PATCH /v1/actions/runs/r_demo"
        ]
    );
    let end = Step::track_end(&port, "success", &start.state).run();
    end.assert_success();
    assert_eq!(port.run("r_demo").unwrap()["status"], "SUCCESS");
}

#[test]
fn a_reporting_problem_is_a_warning_unless_fail_on_error() {
    let port = stand_in_with_dispatched_run();
    let out = no_port_input(Step::track_start(&port))
        .input("runId", "r_gh")
        .input("clientSecret", "wrong-secret")
        .run();
    out.assert_success();
    let warning = out
        .stdout
        .lines()
        .find(|l| l.starts_with("::warning title=Port tracking::"))
        .unwrap_or_else(|| panic!("no warning: {}", out.stdout));
    assert!(warning.contains("Invalid client credentials"), "{warning}");
    assert!(warning.contains("set failOnError to fail it"), "{warning}");
    assert!(out.errors().is_empty(), "{}", out.stdout);
    // The end is still reported: the state was saved before the start was.
    assert_eq!(out.state[0], ("portRunId".to_string(), "r_gh".to_string()));

    let out = no_port_input(Step::track_start(&port))
        .input("runId", "r_gh")
        .input("clientSecret", "wrong-secret")
        .input("failOnError", "true")
        .run();
    out.assert_failure("Invalid client credentials");
}

#[test]
fn a_job_with_no_run_to_track_says_so_and_goes_on() {
    let port = StandIn::start();
    let out = no_port_input(Step::track_start(&port)).run();
    out.assert_success();
    assert!(
        out.stdout
            .contains("::warning title=Port tracking::this job has no Port run to track"),
        "{}",
        out.stdout
    );
    // Asked a few times, in case Port had not written the externalRunId yet.
    assert_eq!(lines(&port)[1..], [FIND, FIND, FIND, FIND]);
    assert!(out.state.is_empty());
}

#[test]
fn a_plain_upsert_in_a_dispatched_workflow_does_not_look_for_a_run() {
    let port = stand_in_with_dispatched_run();
    let out = no_port_input(Step::new(&port))
        .env("GITHUB_REPOSITORY_OWNER_ID", "5150")
        .env("GITHUB_REPOSITORY_ID", "8080")
        .input("blueprint", "service")
        .input("identifier", "payments")
        .run();
    out.assert_success();
    assert_eq!(
        lines(&port),
        [
            TOKEN,
            "POST /v1/blueprints/service/entities?upsert=true&merge=true"
        ]
    );
}

#[test]
fn patch_run_finds_the_run_by_external_run_id() {
    let port = stand_in_with_dispatched_run();
    let out = no_port_input(Step::new(&port))
        .env("GITHUB_REPOSITORY_OWNER_ID", "5150")
        .env("GITHUB_REPOSITORY_ID", "8080")
        .input("operation", "PATCH_RUN")
        .input("status", "SUCCESS")
        .run();
    out.assert_success();
    assert_eq!(lines(&port), [TOKEN, FIND, GET_RUN, PATCH_RUN]);
    assert_eq!(port.run("r_gh").unwrap()["status"], "SUCCESS");
}
