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
    add_dispatched_run(&port);
    port
}

/// The run Port's GitHub integration dispatched this workflow run for, as it is once the
/// integration has written its externalRunId.
fn add_dispatched_run(port: &StandIn) {
    port.add_run_json(json!({
        "id": "r_gh",
        "status": "IN_PROGRESS",
        "link": [WORKFLOW_RUN_URL],
        "externalRunId": EXTERNAL_RUN_ID,
    }));
}

/// A PATCH_RUN step finishing the run, in a workflow Port dispatched with no run id in it.
fn dispatched_patch_run(port: &StandIn) -> Step {
    no_port_input(Step::new(port))
        .env("GITHUB_REPOSITORY_OWNER_ID", "5150")
        .env("GITHUB_REPOSITORY_ID", "8080")
        .input("operation", "PATCH_RUN")
        .input("status", "SUCCESS")
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
fn the_running_label_gives_way_to_the_outcome_when_the_run_finishes() {
    for (job_status, label) in [
        ("success", "Succeeded"),
        ("failure", "Failed"),
        ("cancelled", "Cancelled"),
    ] {
        let port = stand_in_with_dispatched_run();
        // The README's first example: the label is given to the step, so both stages get it.
        let start = no_port_input(Step::track_start(&port))
            .input("statusLabel", "Deploying")
            .run();
        start.assert_success();
        assert_eq!(patch_body(&port, 0)["statusLabel"], "Deploying");
        no_port_input(Step::track_end(&port, job_status, &start.state))
            .input("statusLabel", "Deploying")
            .run()
            .assert_success();
        let end = patch_body(&port, 1);
        assert_eq!(end["statusLabel"], label, "{job_status}: {end:#}");
        assert_eq!(port.run("r_gh").unwrap()["statusLabel"], label);
    }
}

#[test]
fn with_finish_false_the_end_posts_its_line_and_says_how_the_job_ended() {
    for (job_status, label) in [
        ("success", "deploy succeeded"),
        ("failure", "deploy failed"),
        ("cancelled", "deploy cancelled"),
    ] {
        let port = stand_in_with_dispatched_run();
        track_job(&port, job_status, |s| {
            s.input("finish", "false").input("statusLabel", "Building")
        });
        let run = port.run("r_gh").unwrap();
        assert_eq!(run["status"], "IN_PROGRESS");
        assert_eq!(run["statusLabel"], label, "{job_status}");
        let end_patch = patch_body(&port, 1);
        assert_eq!(end_patch.get("status"), None);
        assert_eq!(end_patch.get("summary"), None);
        assert_eq!(log_messages(&port).len(), 2);
    }
}

/// A leg of a matrix as the runner starts it: `strategy.job-index`, `strategy.job-total` and
/// `toJSON(matrix)` evaluated for it.
fn leg(step: Step, index: &str, total: &str) -> Step {
    step.input("jobIndex", index)
        .input("jobTotal", total)
        .input(
            "jobMatrix",
            "{\n  \"os\": \"ubuntu-latest\",\n  \"node\": 20\n}",
        )
}

#[test]
fn a_leg_of_a_matrix_posts_its_line_and_leaves_the_run_open() {
    let port = stand_in_with_dispatched_run();
    let start = no_port_input(leg(Step::track_start(&port), "1", "3"))
        .input("statusLabel", "Testing")
        .run();
    start.assert_success();
    let end = no_port_input(leg(
        Step::track_end(&port, "failure", &start.state),
        "1",
        "3",
    ))
    .input("statusLabel", "Testing")
    .run();
    end.assert_success();
    let run = port.run("r_gh").unwrap();
    assert_eq!(
        run["status"], "IN_PROGRESS",
        "the first leg to end decides nothing"
    );
    assert_eq!(run["statusLabel"], "deploy (leg 2 of 3) failed");
    let end_patch = patch_body(&port, 1);
    assert_eq!(end_patch.get("status"), None);
    assert_eq!(end_patch.get("summary"), None);
    let logs = log_messages(&port);
    assert_eq!(
        logs[0],
        "GitHub Actions job `deploy` (leg 2 of 3: os: ubuntu-latest, node: 20) started (attempt 1)"
    );
    assert!(
        logs[1].starts_with(
            "GitHub Actions job `deploy` (leg 2 of 3: os: ubuntu-latest, node: 20) failed after "
        ),
        "{logs:?}"
    );
    assert!(
        end.stdout
            .contains("finish: true to finish it from this leg"),
        "{}",
        end.stdout
    );
    assert!(
        end.summary.contains("does not finish the run"),
        "{}",
        end.summary
    );
    assert_spec_clean(&port);
}

#[test]
fn a_leg_of_a_matrix_finishes_the_run_when_asked_to() {
    let port = stand_in_with_dispatched_run();
    let start = no_port_input(leg(Step::track_start(&port), "2", "3")).run();
    start.assert_success();
    no_port_input(leg(
        Step::track_end(&port, "success", &start.state),
        "2",
        "3",
    ))
    .input("finish", "true")
    .run()
    .assert_success();
    let run = port.run("r_gh").unwrap();
    assert_eq!(run["status"], "SUCCESS");
    assert_eq!(run["statusLabel"], "Succeeded");
    let summary = run["summary"].as_str().unwrap();
    assert!(
        summary.starts_with(
            "GitHub Actions job `deploy` (leg 3 of 3: os: ubuntu-latest, node: 20) in \
             acme/payments succeeded after "
        ),
        "{summary}"
    );
}

#[test]
fn a_matrix_of_one_job_finishes_the_run() {
    let port = stand_in_with_dispatched_run();
    let start = no_port_input(leg(Step::track_start(&port), "0", "1")).run();
    start.assert_success();
    no_port_input(leg(
        Step::track_end(&port, "success", &start.state),
        "0",
        "1",
    ))
    .run()
    .assert_success();
    assert_eq!(port.run("r_gh").unwrap()["status"], "SUCCESS");
    assert_eq!(
        log_messages(&port)[0],
        "GitHub Actions job `deploy` started (attempt 1)"
    );
}

#[test]
fn a_job_index_outside_its_matrix_is_refused_before_anything_is_sent() {
    let port = stand_in_with_dispatched_run();
    let out = no_port_input(Step::track_start(&port))
        .input("jobIndex", "3")
        .input("jobTotal", "3")
        .input("failOnError", "true")
        .run();
    out.assert_failure("input 'jobIndex' must be a whole number from 0 to 2");
    assert!(port.requests().is_empty());
    let out = no_port_input(Step::track_start(&port))
        .input("finish", "sometimes")
        .input("failOnError", "true")
        .run();
    out.assert_failure("input 'finish' must be auto, true or false, got");
}

#[test]
fn an_end_without_the_jobs_status_leaves_the_run_open_without_the_running_label() {
    let port = stand_in_with_dispatched_run();
    let start = no_port_input(Step::track_start(&port))
        .input("statusLabel", "Deploying")
        .run();
    start.assert_success();
    let end = no_port_input(Step::track_end(&port, "", &start.state))
        .input("statusLabel", "Deploying")
        .run();
    end.assert_success();
    assert!(
        end.stdout.contains("input 'jobStatus' is empty"),
        "{}",
        end.stdout
    );
    let run = port.run("r_gh").unwrap();
    assert_eq!(run["status"], "IN_PROGRESS");
    assert_eq!(run["statusLabel"], "deploy ended");
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
    // Asked for about 30 s (30 units of 10 ms here), in case Port had not written the
    // externalRunId yet.
    assert_eq!(lines(&port)[1..], [FIND; 9]);
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
    let out = dispatched_patch_run(&port).run();
    out.assert_success();
    assert_eq!(lines(&port), [TOKEN, FIND, GET_RUN, PATCH_RUN]);
    assert_eq!(port.run("r_gh").unwrap()["status"], "SUCCESS");
}

/// The times the run was looked up by its externalRunId.
fn finds(port: &StandIn) -> usize {
    lines(port).iter().filter(|l| *l == FIND).count()
}

#[test]
fn a_run_port_names_late_is_still_found_by_the_start() {
    // Port's GitHub integration writes the externalRunId only once it has found the workflow
    // run (up to 10 tries, 2 s apart): here after the fifth look-up.
    let port = StandIn::start();
    let running = no_port_input(Step::track_start(&port))
        .env(port_action::ops::LOOKUP_UNIT_VAR, "50")
        .spawn();
    let waited = std::time::Instant::now();
    while finds(&port) < 5 {
        assert!(
            waited.elapsed() < std::time::Duration::from_secs(20),
            "{:?}",
            lines(&port)
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    add_dispatched_run(&port);
    let out = running.wait();
    out.assert_success();
    assert_eq!(out.output("runId"), Some("r_gh"), "{}", out.stdout);
    assert_eq!(finds(&port), 6, "{:?}", lines(&port));
    assert_eq!(
        log_messages(&port),
        ["GitHub Actions job `deploy` started (attempt 1)"]
    );
}

#[test]
fn with_no_run_the_look_up_asks_nine_times_and_says_so() {
    let port = StandIn::start();
    let out = dispatched_patch_run(&port).run();
    // At 0, 1, 3, 6, 10, 15, 20, 25 and 30 units (here 10 ms each).
    assert_eq!(lines(&port)[1..], [FIND; 9]);
    assert!(
        out.stdout.contains(&format!(
            "No Port run has externalRunId {EXTERNAL_RUN_ID} (asked 9 times over "
        )),
        "{}",
        out.stdout
    );
    out.assert_failure(&format!(
        "and no Port run has externalRunId {EXTERNAL_RUN_ID}"
    ));
}

#[test]
fn the_look_up_does_not_pause_into_the_time_kept_for_the_report() {
    // A 3 s stage keeps its last 0.75 s for the status and pauses no later than 2 s before
    // that: the first 1 s pause would already be too late.
    let port = StandIn::start();
    let out = no_port_input(Step::track_start(&port))
        .env(port_action::ops::LOOKUP_UNIT_VAR, "1000")
        .input("timeout", "3s")
        .run();
    out.assert_success();
    assert_eq!(finds(&port), 1, "{:?}", lines(&port));
    assert!(
        out.stdout.contains(&format!(
            "No Port run has externalRunId {EXTERNAL_RUN_ID} (asked once)"
        )),
        "{}",
        out.stdout
    );
}

#[test]
fn the_start_gives_up_within_its_timeout_on_a_port_that_never_answers() {
    // Accepts the connection, reads the request, never answers.
    let silent = crate::support::TcpServer::start(|mut conn| {
        let _ = crate::support::read_head(&mut conn);
        std::thread::sleep(std::time::Duration::from_secs(60));
    });
    let port = StandIn::start();
    let started = std::time::Instant::now();
    let out = Step::track_start(&port)
        .input("baseUrl", &silent.url())
        .input("runId", "r_gh")
        .input("timeout", "2s")
        .spawn()
        .wait_at_most(std::time::Duration::from_secs(20));
    let took = started.elapsed();
    out.assert_success();
    assert!(
        out.stdout.contains("::warning title=Port tracking::"),
        "{}",
        out.stdout
    );
    // 2 s, and the grace the step has to notice its deadline.
    assert!(took < std::time::Duration::from_secs(8), "took {took:?}");
    // The end is still reported: the run was saved before the start was tried.
    assert_eq!(out.state[0], ("portRunId".to_string(), "r_gh".to_string()));
}

#[test]
fn a_push_with_no_run_does_not_claim_a_look_up_by_external_run_id() {
    let port = StandIn::start();
    let out = Step::track_start(&port)
        .event(Some(data("push.json")))
        .env("GITHUB_EVENT_NAME", "push")
        .run();
    out.assert_success();
    assert!(port.requests().is_empty(), "{:?}", lines(&port));
    let warning = out
        .stdout
        .lines()
        .find(|l| l.starts_with("::warning title=Port tracking::"))
        .unwrap_or_else(|| panic!("no warning: {}", out.stdout));
    assert!(
        warning.contains("the workflow was started by push, not dispatched by Port"),
        "{warning}"
    );
    assert!(
        !warning.contains("no Port run has externalRunId"),
        "{warning}"
    );
}

/// A run with the externalRunId of this workflow run, as Port lists it.
fn add_run_with_external_id(port: &StandIn, id: &str, status: &str) {
    port.add_run_json(json!({
        "id": id,
        "status": status,
        "link": [WORKFLOW_RUN_URL],
        "externalRunId": EXTERNAL_RUN_ID,
    }));
}

#[test]
fn the_look_up_takes_the_open_run_even_when_an_ended_one_is_listed_first() {
    // A re-run of the workflow keeps the externalRunId of its first run: Port lists the
    // newest first, here one that has already ended.
    let port = StandIn::start();
    add_run_with_external_id(&port, "r_gh", "IN_PROGRESS");
    add_run_with_external_id(&port, "r_ended", "SUCCESS");
    let out = dispatched_patch_run(&port).run();
    out.assert_success();
    assert_eq!(lines(&port), [TOKEN, FIND, GET_RUN, PATCH_RUN]);
    assert_eq!(port.run("r_gh").unwrap()["status"], "SUCCESS");
    assert_eq!(port.run("r_ended").unwrap()["status"], "SUCCESS");
}

#[test]
fn a_run_waiting_for_approval_is_open_to_the_look_up_and_is_finished() {
    let port = StandIn::start();
    add_run_with_external_id(&port, "r_gh", "WAITING_FOR_APPROVAL");
    add_run_with_external_id(&port, "r_ended", "FAILURE");
    let out = dispatched_patch_run(&port).run();
    out.assert_success();
    assert_eq!(lines(&port), [TOKEN, FIND, GET_RUN, PATCH_RUN]);
    assert_eq!(port.run("r_gh").unwrap()["status"], "SUCCESS");
    assert_eq!(patch_body(&port, 0)["status"], "SUCCESS");
    assert!(
        !out.stdout.contains("already ended"),
        "a run waiting for approval has not ended: {}",
        out.stdout
    );
}

#[test]
fn a_run_id_from_the_look_up_that_is_not_one_path_segment_is_not_used() {
    let port = StandIn::start();
    add_run_with_external_id(&port, "r_gh/../../blueprints/service", "IN_PROGRESS");
    let out = dispatched_patch_run(&port).run();
    assert_eq!(lines(&port), [TOKEN, FIND], "nothing sent to that id");
    assert!(
        out.stdout.contains(&format!(
            "::warning title=No Port run::Port's run with externalRunId {EXTERNAL_RUN_ID} has \
             an invalid id: "
        )),
        "{}",
        out.stdout
    );
    out.assert_failure("input 'runId' is required for PATCH_RUN");
}

#[test]
fn a_leg_whose_place_is_not_known_is_named_the_same_in_its_line_and_its_label() {
    let port = stand_in_with_dispatched_run();
    let start = no_port_input(Step::track_start(&port))
        .input("jobIndex", "")
        .input("jobTotal", "3")
        .run();
    start.assert_success();
    no_port_input(Step::track_end(&port, "success", &start.state))
        .input("jobIndex", "")
        .input("jobTotal", "3")
        .run()
        .assert_success();
    assert_eq!(
        port.run("r_gh").unwrap()["statusLabel"],
        "deploy (one leg of 3) succeeded"
    );
    assert!(
        log_messages(&port)[1].starts_with("GitHub Actions job `deploy` (one leg of 3) succeeded"),
        "{:?}",
        log_messages(&port)
    );
}
