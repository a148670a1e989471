//! Port misbehaving, as the stand-in imitates it: transient errors, rate limits, dropped and
//! hung connections, expired tokens, ended runs and partial bulk answers. Every fault either
//! ends in success with nothing lost or written twice, or in a failure within the step's
//! deadline whose message says what Port said.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use port_stand_in::{Fault, FaultKind, Options, StandIn};
use serde_json::{json, Value};

use crate::support::{assert_spec_clean, lines, Outcome, Step, WORKFLOW_RUN_URL};

const TOKEN: &str = "POST /v1/auth/access_token";
const UPSERT: &str = "POST /v1/blueprints/service/entities?upsert=true&merge=true&run_id=r_demo";
const BULK: &str = "POST /v1/blueprints/service/entities/bulk?upsert=true&merge=true&run_id=r_demo";
const GET_RUN: &str = "GET /v1/actions/runs/r_demo?version=v2";
const PATCH_RUN: &str = "PATCH /v1/actions/runs/r_demo";
const POST_LOG: &str = "POST /v1/actions/runs/r_demo/logs";

fn stand_in_with_run() -> StandIn {
    let port = StandIn::start();
    port.add_run("r_demo", "IN_PROGRESS", &[WORKFLOW_RUN_URL]);
    port
}

/// Answers the next request whose `METHOD /path` starts with `matches` with `status`.
fn respond(port: &StandIn, matches: &str, status: u16, headers: &[(&str, &str)], body: Value) {
    port.push_fault(Fault {
        matches: matches.into(),
        kind: FaultKind::Respond {
            status,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body,
        },
    });
}

fn fault(port: &StandIn, matches: &str, kind: FaultKind) {
    port.push_fault(Fault {
        matches: matches.into(),
        kind,
    });
}

/// The statuses the stand-in answered, in order (0: reset or hung).
fn statuses(port: &StandIn) -> Vec<u16> {
    port.requests().iter().map(|r| r.status).collect()
}

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
    let out = Step::new(&port)
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
fn an_entity_write_tied_to_a_finished_run_fails_with_run_exhausted() {
    let port = StandIn::start();
    port.add_run("r_demo", "FAILURE", &[WORKFLOW_RUN_URL]);
    let out = upsert(&port).run();
    out.assert_failure(
        "Port run r_demo (from inputs.port_context.runId) has already ended, and writes can be \
         tied to a run only while it is in progress: cannot upsert the entity in blueprint \
         'service': Port API 400 run_exhausted: Action run has already finished execution \
         (POST /v1/blueprints/service/entities, trace id ",
    );
    assert_names_a_trace_id(out.errors()[0]);
    assert_eq!(lines(&port), [TOKEN, UPSERT]);
    assert!(port.entities("service").is_empty());
    assert_eq!(port.run("r_demo").unwrap()["status"], "FAILURE");
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
fn a_run_id_input_that_is_not_a_port_run_is_named_in_the_error() {
    let port = StandIn::start();
    let dir = tempfile::tempdir().unwrap();
    let event = dir.path().join("event.json");
    // A workflow input that happens to be called run_id, holding a GitHub run number.
    std::fs::write(&event, r#"{"inputs":{"run_id":"98765"}}"#).unwrap();
    let out = upsert(&port).event(Some(event)).run();
    out.assert_failure(
        "Port has no run 98765 (from inputs.run_id); give the right one as the 'runId' input",
    );
}
