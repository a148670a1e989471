//! Port misbehaving, as the stand-in imitates it: transient errors, rate limits, dropped and
//! hung connections, expired tokens, ended runs and partial bulk answers. Every fault either
//! ends in success with nothing lost or written twice, or in a failure within the step's
//! deadline whose message says what Port said.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use port_stand_in::{FaultKind, Options, StandIn};
use serde_json::{json, Value};

use crate::support::{
    assert_spec_clean, fault, lines, respond, stand_in_whose_second_bulk_batch_gets,
    stand_in_with_run, statuses, wait_for_entities, Outcome, Step, WORKFLOW_RUN_URL,
};

const TOKEN: &str = "POST /v1/auth/access_token";
const UPSERT: &str = "POST /v1/blueprints/service/entities?upsert=true&merge=true&run_id=r_demo";
const BULK: &str = "POST /v1/blueprints/service/entities/bulk?upsert=true&merge=true&run_id=r_demo";
const GET_RUN: &str = "GET /v1/actions/runs/r_demo?version=v2";
const PATCH_RUN: &str = "PATCH /v1/actions/runs/r_demo";
const POST_LOG: &str = "POST /v1/actions/runs/r_demo/logs";

/// An upsert step of entity `payments` in blueprint `service`, tied to `r_demo` by the event,
/// with short limits.
fn upsert(port: &StandIn) -> Step {
    Step::new(port)
        .input("blueprint", "service")
        .input("identifier", "payments")
        .input("properties", r#"{"replicas": 3}"#)
        .input("requestTimeout", "2s")
        .input("timeout", "8s")
}

/// Runs the step and returns its outcome and how long it took.
fn timed(step: Step) -> (Outcome, Duration) {
    let started = Instant::now();
    let out = step.run();
    (out, started.elapsed())
}

/// Port's trace id follows `trace id ` in the message: 32 hex digits.
#[track_caller]
fn assert_names_a_trace_id(message: &str) {
    let (_, rest) = message
        .split_once("trace id ")
        .unwrap_or_else(|| panic!("no trace id in {message:?}"));
    let id: String = rest.chars().take_while(|c| *c != ')').collect();
    assert!(
        id.len() == 32 && id.chars().all(|c| c.is_ascii_hexdigit()),
        "trace id {id:?} in {message:?}"
    );
}

#[test]
fn a_503_on_an_upsert_is_retried_and_the_entity_is_written_once() {
    let port = stand_in_with_run();
    // A 503 from a proxy after Port stored the entity: the retry must not write it twice.
    fault(
        &port,
        "POST /v1/blueprints/service/entities",
        FaultKind::RespondAfterHandling {
            status: 503,
            headers: vec![],
            body: json!({"ok": false, "error": "service_unavailable", "message": "Try again later"}),
        },
    );
    let out = upsert(&port).run();
    out.assert_success();
    assert_eq!(lines(&port), [TOKEN, UPSERT, UPSERT]);
    assert_eq!(statuses(&port), [200, 503, 201]);
    assert_eq!(out.output("identifier"), Some("payments"));
    let entities = port.entities("service");
    assert_eq!(entities.len(), 1, "{entities:?}");
    assert_eq!(entities[0]["properties"]["replicas"], 3);
    assert!(
        out.stdout
            .contains("Port API 503 service_unavailable: Try again later")
            && out.stdout.contains("(attempt 2 of 5)"),
        "the retry is told: {}",
        out.stdout
    );
    assert_spec_clean(&port);
}

#[test]
fn a_429_with_retry_after_on_the_final_patch_waits_that_long_then_succeeds() {
    let answered: Arc<Mutex<Vec<(String, Instant)>>> = Arc::default();
    let seen = answered.clone();
    let port = StandIn::start_with(Options {
        on_request: Some(Arc::new(move |r| {
            seen.lock().unwrap().push((r.line(), Instant::now()));
        })),
        ..Options::default()
    });
    port.add_run("r_demo", "IN_PROGRESS", &[WORKFLOW_RUN_URL]);
    respond(
        &port,
        PATCH_RUN,
        429,
        &[("retry-after", "1")],
        json!({"ok": false, "error": "too_many_requests", "message": "Rate limit exceeded"}),
    );
    // Real seconds, as a released binary waits: the wait told is the wait taken.
    let out = Step::new(&port)
        .real_backoff()
        .input("operation", "PATCH_RUN")
        .input("status", "success")
        .input("requestTimeout", "2s")
        .input("timeout", "8s")
        .run();
    out.assert_success();
    assert_eq!(lines(&port), [TOKEN, GET_RUN, PATCH_RUN, PATCH_RUN]);
    assert_eq!(statuses(&port), [200, 200, 429, 200]);
    let patches: Vec<Instant> = answered
        .lock()
        .unwrap()
        .iter()
        .filter(|(line, _)| line == PATCH_RUN)
        .map(|(_, at)| *at)
        .collect();
    let waited = patches[1] - patches[0];
    assert!(
        waited >= Duration::from_millis(950) && waited < Duration::from_millis(2500),
        "Retry-After: 1 should mean about 1 s, waited {waited:?}"
    );
    assert!(
        out.stdout.contains("trying again in 1.0 s"),
        "{}",
        out.stdout
    );
    assert_eq!(port.run("r_demo").unwrap()["status"], "SUCCESS");
}

#[test]
fn a_reset_connection_on_an_idempotent_read_is_retried() {
    let port = stand_in_with_run();
    fault(&port, "GET /v1/actions/runs/r_demo", FaultKind::Reset);
    let out = Step::new(&port)
        .input("operation", "PATCH_RUN")
        .input("status", "success")
        .input("requestTimeout", "2s")
        .input("timeout", "8s")
        .run();
    out.assert_success();
    assert_eq!(lines(&port), [TOKEN, GET_RUN, GET_RUN, PATCH_RUN]);
    assert_eq!(statuses(&port), [200, 0, 200, 200]);
    assert_eq!(port.run("r_demo").unwrap()["status"], "SUCCESS");
}

#[test]
fn a_reset_connection_on_the_log_route_is_not_retried() {
    let port = stand_in_with_run();
    // Port appended the line, then the connection dropped before its answer.
    fault(&port, POST_LOG, FaultKind::ResetAfterHandling);
    let (out, elapsed) = timed(
        Step::new(&port)
            .input("operation", "PATCH_RUN")
            .input("logMessage", "Deployed 1.2.3")
            .input("requestTimeout", "2s")
            .input("timeout", "8s"),
    );
    out.assert_failure(&format!(
        "cannot post the log line to Port run r_demo: cannot reach Port: POST {}/v1/actions/runs/r_demo/logs",
        port.url()
    ));
    assert_eq!(
        lines(&port),
        [TOKEN, POST_LOG],
        "a log line that may have been taken is never sent again"
    );
    assert_eq!(port.logs("r_demo").len(), 1, "posted once");
    assert!(!out.stdout.contains("trying again"), "{}", out.stdout);
    assert!(elapsed < Duration::from_secs(5), "no backoff: {elapsed:?}");
}

#[test]
fn a_hung_answer_fails_within_the_deadline_naming_the_timeout() {
    let port = stand_in_with_run();
    for _ in 0..5 {
        fault(
            &port,
            "POST /v1/blueprints/service/entities",
            FaultKind::Hang,
        );
    }
    let (out, elapsed) = timed(
        upsert(&port)
            .input("requestTimeout", "1s")
            .input("timeout", "4s"),
    );
    assert!(elapsed < Duration::from_secs(8), "took {elapsed:?}");
    assert_eq!(out.code, 1, "{}", out.stdout);
    let errors = out.errors();
    assert_eq!(errors.len(), 1, "{}", out.stdout);
    assert!(
        // The last attempt may be cut short by the step's deadline: "no answer within 0.3s".
        (errors[0].contains("no answer within ")
            && errors[0].contains("(input 'requestTimeout' or the step's 'timeout')"))
            || errors[0].contains("did not finish within its deadline of 4s (input 'timeout')"),
        "{}",
        errors[0]
    );
    assert!(
        errors[0].contains("cannot upsert the entity in blueprint 'service'")
            || errors[0].contains("deadline"),
        "{}",
        errors[0]
    );
    let sent = lines(&port);
    assert_eq!(sent[0], TOKEN);
    assert!(
        sent.len() >= 3 && sent[1..].iter().all(|l| l == UPSERT),
        "the upsert is retried after a timeout: {sent:?}"
    );
    assert!(port.entities("service").is_empty());
}

#[test]
fn a_token_that_expires_after_it_was_issued_is_fetched_again_once() {
    // The stand-in expires the first token it hands out before the answer leaves, so the first
    // authenticated request meets a really expired token; later tokens live.
    let slot: Arc<OnceLock<Weak<StandIn>>> = Arc::default();
    let expire = slot.clone();
    let expired_once = AtomicBool::new(false);
    let port = Arc::new(StandIn::start_with(Options {
        on_request: Some(Arc::new(move |r| {
            if r.line() == TOKEN && r.status == 200 && !expired_once.swap(true, Ordering::SeqCst) {
                if let Some(port) = expire.get().and_then(Weak::upgrade) {
                    port.expire_tokens();
                }
            }
        })),
        ..Options::default()
    }));
    slot.set(Arc::downgrade(&port)).ok();
    port.add_run("r_demo", "IN_PROGRESS", &[WORKFLOW_RUN_URL]);
    let out = upsert(&port).run();
    out.assert_success();
    assert_eq!(lines(&port), [TOKEN, UPSERT, TOKEN, UPSERT]);
    assert_eq!(statuses(&port), [200, 401, 200, 201]);
    assert!(
        out.stdout.contains(
            "Port refused the access token (it may have just expired); fetching a new one"
        ),
        "{}",
        out.stdout
    );
    let bearers: Vec<String> = port
        .requests()
        .iter()
        .filter_map(|r| r.header("authorization").map(str::to_string))
        .collect();
    assert_eq!(bearers.len(), 2);
    assert_ne!(bearers[0], bearers[1], "the retry carries the new token");
    assert_eq!(port.entities("service").len(), 1);
}

#[test]
fn a_401_on_the_first_request_fetches_a_new_token_once_and_retries() {
    let port = stand_in_with_run();
    respond(
        &port,
        "POST /v1/blueprints/service/entities",
        401,
        &[],
        json!({"ok": false, "error": "unauthorized", "message": "The access token is invalid or expired"}),
    );
    let out = upsert(&port).run();
    out.assert_success();
    assert_eq!(lines(&port), [TOKEN, UPSERT, TOKEN, UPSERT]);
    assert_eq!(statuses(&port), [200, 401, 200, 201]);
    assert!(out
        .stdout
        .contains("Port refused the access token (it may have just expired); fetching a new one"));
    assert_eq!(port.entities("service").len(), 1);
}

#[test]
fn two_401s_in_a_row_fail_with_ports_message() {
    let port = stand_in_with_run();
    for _ in 0..2 {
        respond(
            &port,
            "POST /v1/blueprints/service/entities",
            401,
            &[],
            json!({"ok": false, "error": "unauthorized", "message": "The access token is invalid or expired"}),
        );
    }
    let out = upsert(&port).run();
    out.assert_failure(
        "cannot upsert the entity in blueprint 'service': Port API 401 unauthorized: The access \
         token is invalid or expired (POST /v1/blueprints/service/entities, trace id ",
    );
    assert_names_a_trace_id(out.errors()[0]);
    assert_eq!(lines(&port), [TOKEN, UPSERT, TOKEN, UPSERT]);
    assert!(port.entities("service").is_empty());
}

#[test]
fn an_entity_write_tied_to_an_unknown_run_shows_ports_404_whole() {
    let port = StandIn::start();
    let out = upsert(&port).input("runId", "r_missing").run();
    out.assert_failure(
        "Port has no run r_missing (from input 'runId'); give the right one as the 'runId' \
         input: cannot upsert the entity in blueprint 'service': Port API 404 not_found: Run \
         with id \"r_missing\" not found (POST /v1/blueprints/service/entities, trace id ",
    );
    assert_names_a_trace_id(out.errors()[0]);
    assert_eq!(
        lines(&port),
        [
            TOKEN,
            "POST /v1/blueprints/service/entities?upsert=true&merge=true&run_id=r_missing"
        ],
        "a 404 is Port's answer, not retried"
    );
    assert!(port.entities("service").is_empty());
}

#[test]
fn a_log_to_a_finished_run_is_a_warning_and_the_step_succeeds() {
    let port = StandIn::start();
    port.add_run("r_demo", "SUCCESS", &[WORKFLOW_RUN_URL]);
    let out = Step::new(&port)
        .input("operation", "PATCH_RUN")
        .input("logMessage", "late line")
        .run();
    out.assert_success();
    assert!(out.errors().is_empty(), "{}", out.stdout);
    let warnings: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.starts_with("::warning"))
        .collect();
    assert_eq!(warnings.len(), 1, "{}", out.stdout);
    assert!(warnings[0].contains("Port run r_demo has already ended"));
    assert_eq!(
        lines(&port),
        [TOKEN, POST_LOG],
        "run_exhausted is not retried"
    );
    assert!(port.logs("r_demo").is_empty());
    assert_eq!(port.run("r_demo").unwrap()["status"], "SUCCESS");
}

#[test]
fn a_partial_bulk_answer_reports_each_failed_entity_and_keeps_the_rest() {
    let port = stand_in_with_run();
    let entities: Vec<Value> = (0..45)
        .map(|i| json!({"identifier": format!("svc-{i:02}"), "properties": {"n": i}}))
        .collect();
    port.reject_entity(
        "service",
        "svc-07",
        422,
        "blueprint_schema_mismatch",
        "property \"n\" must be a string",
    );
    port.reject_entity(
        "service",
        "svc-31",
        409,
        "identifier_taken",
        "Entity svc-31 belongs to another blueprint",
    );
    let out = Step::new(&port)
        .input("operation", "BULK_UPSERT")
        .input("blueprint", "service")
        .input("entities", &serde_json::to_string(&entities).unwrap())
        .input("timeout", "8s")
        .run();
    assert_eq!(out.code, 1, "{}", out.stdout);

    let written: Vec<String> = (0..45)
        .filter(|i| *i != 7 && *i != 31)
        .map(|i| format!("svc-{i:02}"))
        .collect();
    assert_eq!(out.json_output("identifiers"), json!(written));
    assert_eq!(
        out.json_output("failed"),
        json!([
            {"index": 7, "identifier": "svc-07", "error": "blueprint_schema_mismatch",
             "message": "property \"n\" must be a string"},
            {"index": 31, "identifier": "svc-31", "error": "identifier_taken",
             "message": "Entity svc-31 belongs to another blueprint"},
        ])
    );

    let errors = out.errors();
    assert_eq!(
        errors.len(),
        3,
        "one per entity, one for the step: {errors:#?}"
    );
    assert!(errors[0].contains("svc-07") && errors[0].contains("blueprint_schema_mismatch"));
    assert!(errors[1].contains("svc-31") && errors[1].contains("identifier_taken"));
    assert!(errors[2].contains("2 of 45 entities were not written (see the 'failed' output)"));

    assert_eq!(lines(&port), [TOKEN, BULK, BULK, BULK]);
    let mut sizes: Vec<usize> = port
        .requests()
        .iter()
        .filter_map(|r| r.body.as_ref()?.get("entities")?.as_array().map(Vec::len))
        .collect();
    sizes.sort_unstable();
    assert_eq!(sizes, [5, 20, 20]);
    let stored: Vec<String> = port
        .entities("service")
        .iter()
        .map(|e| e["identifier"].as_str().unwrap().to_string())
        .collect();
    let mut stored_sorted = stored.clone();
    stored_sorted.sort();
    assert_eq!(stored_sorted, written, "each written entity exactly once");
    assert_spec_clean(&port);
}

#[test]
fn a_bulk_batch_port_finds_too_large_is_split_and_sent_again() {
    let port = stand_in_with_run();
    respond(
        &port,
        "POST /v1/blueprints/service/entities/bulk",
        413,
        &[],
        json!({"ok": false, "error": "payload_too_large", "message": "Request body is too large (limit is 1MiB)"}),
    );
    let entities: Vec<Value> = (0..20)
        .map(|i| json!({"identifier": format!("svc-{i:02}")}))
        .collect();
    let out = Step::new(&port)
        .input("operation", "BULK_UPSERT")
        .input("blueprint", "service")
        .input("entities", &serde_json::to_string(&entities).unwrap())
        .input("concurrency", "1")
        .input("timeout", "8s")
        .run();
    out.assert_success();
    assert_eq!(lines(&port), [TOKEN, BULK, BULK, BULK]);
    assert_eq!(statuses(&port), [200, 413, 200, 200]);
    let sent: Vec<Vec<String>> = port
        .requests()
        .iter()
        .filter_map(|r| {
            let list = r.body.as_ref()?.get("entities")?.as_array()?.clone();
            Some(
                list.iter()
                    .map(|e| e["identifier"].as_str().unwrap().to_string())
                    .collect(),
            )
        })
        .collect();
    let ids = |range: std::ops::Range<usize>| -> Vec<String> {
        range.map(|i| format!("svc-{i:02}")).collect()
    };
    assert_eq!(sent, [ids(0..20), ids(0..10), ids(10..20)]);
    assert_eq!(out.json_output("identifiers"), json!(ids(0..20)));
    assert_eq!(out.json_output("failed"), json!([]));
    assert_eq!(port.entities("service").len(), 20);
}

#[test]
fn a_500_that_persists_stops_after_max_attempts_with_ports_message() {
    let port = stand_in_with_run();
    for _ in 0..5 {
        respond(
            &port,
            "POST /v1/blueprints/service/entities",
            500,
            &[],
            json!({"ok": false, "error": "internal_error", "message": "Database is on fire"}),
        );
    }
    let (out, elapsed) = timed(upsert(&port).input("maxAttempts", "3"));
    out.assert_failure(
        "cannot upsert the entity in blueprint 'service': Port API 500 internal_error: Database \
         is on fire (POST /v1/blueprints/service/entities, trace id ",
    );
    assert_names_a_trace_id(out.errors()[0]);
    assert_eq!(lines(&port), [TOKEN, UPSERT, UPSERT, UPSERT]);
    assert_eq!(statuses(&port), [200, 500, 500, 500]);
    assert!(out.stdout.contains("(attempt 3 of 3)"), "{}", out.stdout);
    assert!(
        elapsed < Duration::from_secs(6),
        "backoff 0.5–1 s then 1–2 s: {elapsed:?}"
    );
    assert!(port.entities("service").is_empty());
}

#[test]
fn the_final_status_lands_even_when_the_run_cannot_be_read_for_its_links() {
    let port = stand_in_with_run();
    for _ in 0..2 {
        respond(
            &port,
            "GET /v1/actions/runs/",
            500,
            &[],
            json!({"ok": false, "error": "internal_error", "message": "read replica down"}),
        );
    }
    let out = Step::new(&port)
        .input("operation", "PATCH_RUN")
        .input("status", "success")
        .input("maxAttempts", "2")
        .run();
    out.assert_success();
    assert_eq!(lines(&port), [TOKEN, GET_RUN, GET_RUN, PATCH_RUN]);
    let patch = port.requests()[3].body.clone().unwrap();
    assert_eq!(patch["status"], "SUCCESS");
    assert_eq!(patch.get("link"), None, "links unread are not replaced");
    let run = port.run("r_demo").unwrap();
    assert_eq!(run["status"], "SUCCESS");
    assert_eq!(run["link"], json!([WORKFLOW_RUN_URL]));
    assert!(
        out.stdout
            .lines()
            .any(|l| l.starts_with("::warning title=Run links not updated::")
                && l.contains("read replica down")),
        "{}",
        out.stdout
    );
}

#[test]
fn an_unknown_run_is_not_patched_blindly() {
    let port = StandIn::start();
    let out = Step::new(&port)
        .input("operation", "PATCH_RUN")
        .input("runId", "r_gone")
        .input("status", "success")
        .run();
    out.assert_failure("cannot read Port run r_gone: Port API 404 not_found");
    assert_eq!(
        lines(&port),
        [TOKEN, "GET /v1/actions/runs/r_gone?version=v2"]
    );
}

#[test]
fn a_run_id_input_that_port_does_not_know_is_named_in_the_error() {
    let port = StandIn::start();
    let dir = tempfile::tempdir().unwrap();
    let event = dir.path().join("event.json");
    // A workflow input called run_id, holding a Port run id from another organization.
    std::fs::write(&event, r#"{"inputs":{"run_id":"r_98765"}}"#).unwrap();
    let out = upsert(&port).event(Some(event)).run();
    out.assert_failure(
        "Port has no run r_98765 (from inputs.run_id); give the right one as the 'runId' input",
    );
}

// The final status is sent whatever else went wrong.

/// Faults match `METHOD /path`, without the query.
const UPSERT_ROUTE: &str = "POST /v1/blueprints/service/entities";
const BULK_ROUTE: &str = "POST /v1/blueprints/service/entities/bulk";

/// A PATCH_RUN step that posts a log line and finishes the run with SUCCESS.
fn final_status_with_log(port: &StandIn) -> Step {
    Step::new(port)
        .input("operation", "PATCH_RUN")
        .input("logMessage", "Deployed payments")
        .input("status", "SUCCESS")
        .input("requestTimeout", "2s")
        .input("timeout", "20s")
}

#[test]
fn a_log_line_port_refuses_does_not_stop_the_final_status() {
    let answers = [
        (500, "internal_error"),
        (502, "bad_gateway"),
        (422, "invalid_request"),
        (404, "not_found"),
    ];
    for (status, code) in answers {
        let port = stand_in_with_run();
        respond(
            &port,
            POST_LOG,
            status,
            &[],
            json!({"ok": false, "error": code, "message": "logs are down"}),
        );
        let out = final_status_with_log(&port).run();
        out.assert_success();
        assert_eq!(
            lines(&port),
            [TOKEN, POST_LOG, GET_RUN, PATCH_RUN],
            "after a {status}"
        );
        let run = port.run("r_demo").unwrap();
        assert_eq!(run["status"], "SUCCESS", "after a {status}");
        assert_eq!(
            run["link"],
            json!([WORKFLOW_RUN_URL, crate::support::JOB_URL])
        );
        let warning = out
            .stdout
            .lines()
            .find(|l| l.starts_with("::warning title=Log line not posted::"))
            .unwrap_or_else(|| panic!("no warning after a {status}: {}", out.stdout));
        assert!(warning.contains(&format!("Port API {status} {code}: logs are down")));
        assert!(warning.contains("the run's status was sent all the same"));
        assert_eq!(out.output("logMessage"), None, "the line was not posted");
        assert!(port.logs("r_demo").is_empty());
    }
}

#[test]
fn a_log_route_that_never_answers_does_not_stop_the_final_status() {
    let port = stand_in_with_run();
    fault(&port, POST_LOG, FaultKind::Hang);
    let out = final_status_with_log(&port).run();
    out.assert_success();
    assert_eq!(lines(&port), [TOKEN, POST_LOG, GET_RUN, PATCH_RUN]);
    assert_eq!(port.run("r_demo").unwrap()["status"], "SUCCESS");
    assert!(
        out.stdout.contains("::warning title=Log line not posted::"),
        "{}",
        out.stdout
    );
}

#[test]
fn a_lost_log_line_without_a_status_fails_the_step_after_the_rest_is_sent() {
    let port = stand_in_with_run();
    respond(
        &port,
        POST_LOG,
        500,
        &[],
        json!({"ok": false, "error": "internal_error", "message": "logs are down"}),
    );
    let out = Step::new(&port)
        .input("operation", "PATCH_RUN")
        .input("logMessage", "Deploying")
        .input("statusLabel", "Deploying")
        .run();
    out.assert_failure("cannot post the log line to Port run r_demo: Port API 500");
    assert_eq!(lines(&port), [TOKEN, POST_LOG, GET_RUN, PATCH_RUN]);
    let run = port.run("r_demo").unwrap();
    assert_eq!(run["statusLabel"], "Deploying");
    assert_eq!(run["status"], "IN_PROGRESS");
}

#[test]
fn a_read_of_the_run_that_hangs_leaves_time_for_the_status() {
    let port = stand_in_with_run();
    for _ in 0..3 {
        fault(&port, "GET /v1/actions/runs/r_demo", FaultKind::Hang);
    }
    // 8 s: the work may use 6 s, reading the run 7 s, and the PATCH alone the last second.
    let out = Step::new(&port)
        .input("operation", "PATCH_RUN")
        .input("status", "SUCCESS")
        .input("timeout", "8s")
        .run();
    out.assert_success();
    assert_eq!(lines(&port), [TOKEN, GET_RUN, PATCH_RUN]);
    let run = port.run("r_demo").unwrap();
    assert_eq!(run["status"], "SUCCESS");
    assert_eq!(
        run["link"],
        json!([WORKFLOW_RUN_URL]),
        "links unread are kept"
    );
    assert!(
        out.stdout
            .contains("::warning title=Run links not updated::"),
        "{}",
        out.stdout
    );
}

#[test]
fn an_upsert_that_hangs_still_leaves_time_to_finish_the_run_as_failed() {
    // Every answer takes 50 ms: a request started at the deadline with what is left of it
    // (nothing) cannot land; one started within the time kept for the status does.
    let port = StandIn::start_with(Options {
        latency: Duration::from_millis(50),
        ..Options::default()
    });
    port.add_run("r_demo", "IN_PROGRESS", &[WORKFLOW_RUN_URL]);
    for _ in 0..3 {
        fault(&port, UPSERT_ROUTE, FaultKind::Hang);
    }
    let out = upsert(&port)
        .input("status", "SUCCESS")
        .input("requestTimeout", "30s")
        .run();
    out.assert_failure("cannot upsert the entity in blueprint 'service'");
    let sent = lines(&port);
    assert_eq!(sent.last().map(String::as_str), Some(PATCH_RUN), "{sent:?}");
    let run = port.run("r_demo").unwrap();
    assert_eq!(run["status"], "FAILURE");
    assert!(
        run["summary"]
            .as_str()
            .unwrap()
            .contains("cannot upsert the entity in blueprint 'service'"),
        "{run}"
    );
}

/// A stand-in whose bulk route hangs from the second request on, decided before the first
/// answer leaves so that no request can slip through in between.
fn stand_in_whose_second_bulk_batch_hangs() -> Arc<StandIn> {
    stand_in_whose_second_bulk_batch_gets(FaultKind::Hang)
}

/// 60 entities of blueprint `service`: three batches.
fn sixty_entities() -> String {
    let entities: Vec<Value> = (0..60)
        .map(|i| json!({"identifier": format!("svc-{i}"), "properties": {}}))
        .collect();
    serde_json::to_string(&entities).unwrap()
}

#[test]
fn a_bulk_upsert_cut_by_the_deadline_says_what_was_written_and_sends_nothing_late() {
    let port = stand_in_whose_second_bulk_batch_hangs();
    let out = Step::new(&port)
        .input("operation", "BULK_UPSERT")
        .input("blueprint", "service")
        .input("entities", &sixty_entities())
        .input("concurrency", "1")
        .input("timeout", "4s")
        .run();
    assert_eq!(out.code, 1);
    let last = out.errors().pop().unwrap_or_default();
    assert!(
        last.contains("40 of 60 entities were not written"),
        "{}",
        out.stdout
    );
    // The third batch would have started after the deadline: it is not sent at all.
    assert_eq!(lines(&port), [TOKEN, BULK, BULK]);
    assert_eq!(port.entities("service").len(), 20);
    let written = out.json_output("identifiers");
    assert_eq!(written.as_array().unwrap().len(), 20);
    assert_eq!(written[0], "svc-0");
    let failed = out.json_output("failed");
    let failed = failed.as_array().unwrap();
    assert_eq!(failed.len(), 40);
    assert_eq!(failed[0]["index"], 20);
    assert_eq!(failed[39]["index"], 59);
    // The hung batch may have been written; the last one was never sent.
    assert_eq!(failed[0]["error"], "no_answer");
    assert_eq!(failed[39]["error"], "not_sent");
    assert!(
        last.contains("20 got no answer and Port may have written them"),
        "{last}"
    );
}

#[test]
fn a_cancelled_bulk_upsert_says_the_batch_at_port_may_be_written_and_sends_nothing_more() {
    // SIGINT is the runner's first signal, SIGTERM its second.
    for (signal, name) in [(libc::SIGTERM, "SIGTERM"), (libc::SIGINT, "SIGINT")] {
        // Port writes the second batch and holds its answer.
        let port = stand_in_whose_second_bulk_batch_gets(FaultKind::HangAfterHandling);
        let running = Step::new(&port)
            .input("operation", "BULK_UPSERT")
            .input("blueprint", "service")
            .input("entities", &sixty_entities())
            .input("concurrency", "1")
            .input("status", "SUCCESS")
            .input("requestTimeout", "60s")
            .input("timeout", "120s")
            .spawn();
        // The second batch is written at Port and its answer held: the step is waiting for it.
        wait_for_entities(&port, "service", 40);
        running.signal(signal);
        let out = running.wait_at_most(Duration::from_secs(20));
        assert_eq!(out.code, 1);
        let last = out.errors().pop().unwrap_or_default();
        assert_eq!(
            last,
            format!(
                "::error title=port-action failed::the step was cancelled ({name}): nothing more \
                 was sent to Port: 40 of 60 entities were not written, or not confirmed: 20 got \
                 no answer and Port may have written them, 20 were not sent (see the 'failed' \
                 output)"
            ),
            "{}",
            out.stdout
        );
        assert!(!out.stdout.contains("::warning"), "{}", out.stdout);
        // No third batch, and no status: a cancelled step sends nothing more.
        assert_eq!(lines(&port), [TOKEN, BULK, BULK], "{name}");
        assert_eq!(port.run("r_demo").unwrap()["status"], "IN_PROGRESS");
        assert_eq!(out.json_output("identifiers").as_array().unwrap().len(), 20);
        let failed = out.json_output("failed");
        let failed = failed.as_array().unwrap();
        assert_eq!(failed.len(), 40);
        // The batch at Port: it may have been written (here it was).
        for f in &failed[..20] {
            assert_eq!(f["error"], "no_answer", "{f}");
            assert_eq!(
                f["message"],
                format!(
                    "POST /v1/blueprints/service/entities/bulk got no answer: the step was \
                     cancelled ({name}) while the request was at Port, which may have carried it \
                     out"
                ),
                "{f}"
            );
        }
        // The batch never sent.
        for f in &failed[20..] {
            assert_eq!(f["error"], "not_sent", "{f}");
            assert_eq!(
                f["message"],
                format!(
                    "POST /v1/blueprints/service/entities/bulk not sent: the step was cancelled \
                     ({name})"
                ),
                "{f}"
            );
        }
        assert!(
            out.summary.contains(
                "20 of 60 entities written in 3 batches, tied to run `r_demo`\n- 20 entities got \
                 no answer: Port may have written them\n"
            ),
            "{}",
            out.summary
        );
        assert!(
            out.summary.contains(&format!("cancelled ({name})")),
            "{}",
            out.summary
        );
    }
}

#[test]
fn an_outputs_file_that_cannot_be_written_does_not_stop_the_status() {
    let dir = tempfile::tempdir().unwrap();
    let not_a_file = dir.path().display().to_string();
    for path in ["/dev/full", not_a_file.as_str()] {
        let port = stand_in_with_run();
        let out = Step::new(&port)
            .input("operation", "PATCH_RUN")
            .input("status", "SUCCESS")
            .env("GITHUB_OUTPUT", path)
            .run();
        out.assert_failure(&format!(
            "cannot write outputs 'runId', 'runUrl', 'link' to $GITHUB_OUTPUT ({path})"
        ));
        assert_eq!(lines(&port), [TOKEN, GET_RUN, PATCH_RUN], "{path}");
        assert_eq!(port.run("r_demo").unwrap()["status"], "SUCCESS", "{path}");
        assert!(
            out.summary.contains("finished: **SUCCESS**"),
            "{}",
            out.summary
        );
    }
}

#[test]
fn without_links_the_run_is_still_read_so_an_ended_run_keeps_its_status() {
    let port = StandIn::start();
    port.add_run("r_demo", "SUCCESS", &[WORKFLOW_RUN_URL]);
    let out = Step::new(&port)
        .input("operation", "PATCH_RUN")
        .input("status", "FAILURE")
        .input("addJobLink", "false")
        .run();
    out.assert_success();
    assert_eq!(lines(&port), [TOKEN, GET_RUN]);
    assert_eq!(port.run("r_demo").unwrap()["status"], "SUCCESS");
    assert!(
        out.stdout
            .contains("had already ended with SUCCESS; its status was left as it is"),
        "{}",
        out.stdout
    );
}

#[test]
fn the_summary_sent_to_port_on_failure_is_redacted() {
    let port = stand_in_with_run();
    respond(
        &port,
        UPSERT_ROUTE,
        422,
        &[],
        json!({
            "ok": false,
            "error": "invalid_request",
            "message": format!("bad token for client {}", port_stand_in::CLIENT_SECRET)
        }),
    );
    let out = upsert(&port).input("status", "SUCCESS").run();
    out.assert_failure("bad token for client ***");
    let run = port.run("r_demo").unwrap();
    assert_eq!(run["status"], "FAILURE");
    let summary = run["summary"].as_str().unwrap();
    assert!(summary.contains("bad token for client ***"), "{summary}");
    assert!(!summary.contains(port_stand_in::CLIENT_SECRET), "{summary}");
    assert!(!out.summary.contains(port_stand_in::CLIENT_SECRET));
}

#[test]
fn bulk_failures_leave_room_for_the_steps_own_error_among_githubs_ten_annotations() {
    let port = stand_in_with_run();
    for i in 0..15 {
        port.reject_entity(
            "service",
            &format!("svc-{i}"),
            422,
            "blueprint_schema_mismatch",
            "replicas must be a number",
        );
    }
    let entities: Vec<Value> = (0..15)
        .map(|i| json!({"identifier": format!("svc-{i}"), "properties": {}}))
        .collect();
    let out = Step::new(&port)
        .input("operation", "BULK_UPSERT")
        .input("blueprint", "service")
        .input("entities", &serde_json::to_string(&entities).unwrap())
        .run();
    assert_eq!(out.code, 1);
    let errors = out.errors();
    assert_eq!(errors.len(), 10, "GitHub shows ten: {errors:#?}");
    assert!(errors[7].starts_with("::error title=BULK_UPSERT entity 'svc-7'"));
    assert!(errors[8].contains("…and 7 more entities not written"));
    assert!(errors[9].starts_with("::error title=port-action failed::"));
    assert!(errors[9].contains("15 of 15 entities were not written"));
}

const DELETE: &str =
    "DELETE /v1/blueprints/service/entities/payments?delete_dependents=false&run_id=r_demo";

/// A DELETE step of entity `payments` that finishes `r_demo` with SUCCESS, with short limits.
fn delete_finishing_the_run(port: &StandIn) -> Step {
    Step::new(port)
        .input("operation", "DELETE")
        .input("blueprint", "service")
        .input("identifier", "payments")
        .input("status", "SUCCESS")
        .input("requestTimeout", "2s")
        .input("timeout", "8s")
}

#[test]
fn a_delete_whose_answer_was_lost_and_whose_retry_meets_404_succeeds_with_a_warning() {
    let port = stand_in_with_run();
    port.add_entity("service", json!({"identifier": "payments"}));
    fault(
        &port,
        "DELETE /v1/blueprints/service/entities/payments",
        FaultKind::ResetAfterHandling,
    );
    let out = delete_finishing_the_run(&port).run();
    out.assert_success();
    let sent = lines(&port);
    assert_eq!(sent[..3], [TOKEN, DELETE, DELETE], "{sent:?}");
    assert_eq!(statuses(&port)[1..3], [0, 404]);
    assert!(port.entity("service", "payments").is_none());
    assert_eq!(out.output("ok"), Some("true"));
    // The step asked for the entity to be gone: the run finishes as the step said.
    assert_eq!(port.run("r_demo").unwrap()["status"], "SUCCESS");
    let warning = out
        .stdout
        .lines()
        .find(|l| l.starts_with("::warning title=DELETE answer lost::"))
        .unwrap_or_else(|| panic!("no warning: {}", out.stdout));
    assert!(
        warning.starts_with(&format!(
            "::warning title=DELETE answer lost::The answer to DELETE \
             /v1/blueprints/service/entities/payments was lost (cannot reach Port: DELETE \
             {}/v1/blueprints/service/entities/payments",
            port.url()
        )) && warning.contains(
            "the retry found nothing there (Port API 404 not_found: Entity with identifier \
             \"payments\" not found"
        ) && warning.ends_with(
            "the lost request deleted it, or something else did meanwhile. It is gone, as asked"
        ),
        "{warning}"
    );
    assert!(
        out.summary
            .contains("Entity `payments` of blueprint `service` deleted"),
        "{}",
        out.summary
    );
    assert_spec_clean(&port);
}

#[test]
fn a_delete_that_meets_404_at_once_still_fails() {
    let port = stand_in_with_run();
    let out = delete_finishing_the_run(&port).run();
    out.assert_failure("cannot delete entity 'payments' of blueprint 'service': Port API 404");
    assert_eq!(lines(&port)[..2], [TOKEN, DELETE]);
    assert_eq!(port.run("r_demo").unwrap()["status"], "FAILURE");
    assert!(!out.stdout.contains("answer lost"), "{}", out.stdout);
}

/// A gateway's 504 after Port carried out the request.
fn gateway_timeout_after_handling(port: &StandIn, matches: &str) {
    fault(
        port,
        matches,
        FaultKind::RespondAfterHandling {
            status: 504,
            headers: vec![],
            body: json!("<html><body>504 Gateway Time-out</body></html>"),
        },
    );
}

#[test]
fn an_upsert_without_identifier_answered_by_a_gateways_504_is_sent_once_and_may_be_written() {
    let port = stand_in_with_run();
    gateway_timeout_after_handling(&port, "POST /v1/blueprints/service/entities");
    let out = Step::new(&port)
        .input("blueprint", "service")
        .input("title", "Payments")
        .input("requestTimeout", "2s")
        .input("timeout", "8s")
        .run();
    out.assert_failure(
        "cannot upsert the entity in blueprint 'service': Port API 504 http_504: <html><body>504 \
         Gateway Time-out</body></html>; this answer may come from a gateway after Port did the \
         work, so Port may have done it: the request was not sent again, because Port picks \
         the identifier of an entity sent without one, so a second copy would create a second \
         entity",
    );
    assert_eq!(lines(&port), [TOKEN, UPSERT], "sent once");
    assert_eq!(port.entities("service").len(), 1, "Port wrote it once");
    assert_eq!(out.output("identifier"), None);
}

#[test]
fn a_bulk_batch_without_identifiers_answered_by_a_gateways_504_is_sent_once_and_may_be_written() {
    let port = stand_in_with_run();
    gateway_timeout_after_handling(&port, BULK_ROUTE);
    let entities = json!([
        {"identifier": "svc-a", "properties": {}},
        {"title": "Named by Port"},
    ]);
    let out = Step::new(&port)
        .input("operation", "BULK_UPSERT")
        .input("blueprint", "service")
        .input("entities", &entities.to_string())
        .input("requestTimeout", "2s")
        .input("timeout", "8s")
        .run();
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert_eq!(lines(&port)[..2], [TOKEN, BULK], "the batch is sent once");
    assert_eq!(lines(&port).iter().filter(|l| *l == BULK).count(), 1);
    assert_eq!(port.entities("service").len(), 2, "Port wrote both, once");
    let failed = out.json_output("failed");
    let failed = failed.as_array().unwrap();
    assert_eq!(failed.len(), 2);
    for f in failed {
        assert_eq!(f["error"], "no_answer", "{f}");
        assert!(
            f["message"]
                .as_str()
                .unwrap()
                .contains("Port may have done it: the request was not sent again"),
            "{f}"
        );
    }
    assert!(
        out.errors().iter().any(|e| e.contains(
            "2 of 2 entities were not written, or not confirmed: 2 got no answer and Port may \
             have written them"
        )),
        "{}",
        out.stdout
    );
    assert!(
        out.summary.contains(
            "0 of 2 entities written in 1 batch, tied to run `r_demo`\n- 2 entities got no \
             answer: Port may have written them\n"
        ),
        "{}",
        out.summary
    );
    assert!(
        !out.summary.contains("were not written ("),
        "{}",
        out.summary
    );
}

#[test]
fn a_cancelled_upsert_at_port_says_port_may_have_written_it() {
    let port = stand_in_with_run();
    fault(&port, UPSERT_ROUTE, FaultKind::HangAfterHandling);
    let running = upsert(&port)
        .input("status", "SUCCESS")
        .input("requestTimeout", "60s")
        .input("timeout", "120s")
        .spawn();
    wait_for_entities(&port, "service", 1);
    running.signal(libc::SIGTERM);
    let out = running.wait_at_most(Duration::from_secs(20));
    out.assert_failure(
        "the step was cancelled (SIGTERM): nothing more was sent to Port: cannot upsert the \
         entity in blueprint 'service': POST /v1/blueprints/service/entities got no answer: the \
         step was cancelled (SIGTERM) while the request was at Port, which may have carried it \
         out",
    );
    assert_eq!(lines(&port), [TOKEN, UPSERT]);
    assert_eq!(port.run("r_demo").unwrap()["status"], "IN_PROGRESS");
}

/// Starts `step` against `port`, waits until its request matching `line` has reached Port (and
/// hangs there), then sends `signal` as the runner does on cancel.
pub(crate) fn signal_while_hung(port: &StandIn, step: Step, line: &str, signal: i32) -> Outcome {
    let running = step.spawn();
    let started = Instant::now();
    while !lines(port).iter().any(|l| l == line) {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{line} never sent: {:?}",
            lines(port)
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    running.signal(signal);
    running.wait_at_most(Duration::from_secs(10))
}

#[test]
fn sigint_the_runners_first_signal_on_cancel_stops_the_step_and_sends_nothing_more() {
    let port = stand_in_with_run();
    fault(&port, UPSERT_ROUTE, FaultKind::Hang);
    let step = upsert(&port)
        .input("status", "SUCCESS")
        .input("requestTimeout", "60s")
        .input("timeout", "120s");
    let out = signal_while_hung(&port, step, UPSERT, libc::SIGINT);
    assert_eq!(out.code, 1, "{}", out.stdout);
    let last = out.errors().pop().unwrap_or_default();
    assert!(
        last.starts_with(
            "::error title=port-action failed::the step was cancelled (SIGINT): nothing more \
             was sent to Port"
        ),
        "{}",
        out.stdout
    );
    // No retry of the upsert and no status: a cancelled step sends nothing more.
    assert_eq!(lines(&port), [TOKEN, UPSERT]);
    assert_eq!(port.run("r_demo").unwrap()["status"], "IN_PROGRESS");
    assert!(
        out.summary.contains("cancelled (SIGINT)"),
        "{}",
        out.summary
    );
}

#[test]
fn sigint_during_tracks_start_stops_it_with_a_warning_and_keeps_the_run_for_the_end() {
    let port = stand_in_with_run();
    fault(&port, POST_LOG, FaultKind::Hang);
    let step = Step::track_start(&port)
        .input("requestTimeout", "60s")
        .input("timeout", "5m");
    let out = signal_while_hung(&port, step, POST_LOG, libc::SIGINT);
    // `track` lets the job go on: a warning, not an error, and a step that succeeds.
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert!(
        out.stdout.contains(
            "::warning title=Port tracking::the step was cancelled (SIGINT): nothing more was \
             sent to Port"
        ),
        "{}",
        out.stdout
    );
    assert_eq!(
        lines(&port),
        [TOKEN, POST_LOG],
        "nothing sent after the signal"
    );
    // The end of the job still reports: the run was saved before the start was tried.
    assert_eq!(
        out.state[0],
        ("portRunId".to_string(), "r_demo".to_string())
    );
}
