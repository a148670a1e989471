//! Failures as a user meets them: one clear `::error::`, exit code 1, and no request at all
//! when the problem is in the inputs or the event.

use port_stand_in::StandIn;

use crate::support::{lines, Step};

#[test]
fn invalid_json_names_the_input_and_the_position_and_sends_nothing() {
    let port = StandIn::start();
    let out = Step::new(&port)
        .input("blueprint", "service")
        .input("properties", "{\n  \"a\": 1,\n  \"b\": ,\n}")
        .run();
    out.assert_failure("input 'properties' is not valid JSON: expected value at line 3 column 8");
    assert!(port.requests().is_empty());
    assert_eq!(
        out.summary,
        "### Port: nothing sent\n\n\n> [!CAUTION]\n> input 'properties' is not valid JSON: \
         expected value at line 3 column 8\n\n"
    );
}

#[test]
fn patch_run_without_any_run_id_fails_before_any_request() {
    let port = StandIn::start();
    let out = Step::new(&port)
        .event(Some(crate::support::data("push.json")))
        .input("operation", "PATCH_RUN")
        .input("status", "success")
        .run();
    out.assert_failure("input 'runId' is required for PATCH_RUN");
    assert!(port.requests().is_empty());
}

#[test]
fn two_different_run_ids_in_the_event_fail_naming_both() {
    let port = StandIn::start();
    let dir = tempfile::tempdir().unwrap();
    let event = dir.path().join("event.json");
    std::fs::write(
        &event,
        r#"{"inputs":{"port_context":"{\"runId\":\"r_one\"}","run_id":"r_two"}}"#,
    )
    .unwrap();
    let out = Step::new(&port)
        .event(Some(event))
        .input("operation", "PATCH_RUN")
        .input("logMessage", "x")
        .run();
    out.assert_failure("r_one");
    assert!(out.errors()[0].contains("r_two"));
    assert!(port.requests().is_empty());
}

#[test]
fn an_unknown_run_shows_ports_error_whole() {
    let port = StandIn::start();
    let out = Step::new(&port)
        .input("operation", "PATCH_RUN")
        .input("runId", "r_missing")
        .input("logMessage", "x")
        .run();
    out.assert_failure(
        "Port API 404 not_found: Run with id \"r_missing\" not found (POST /v1/actions/runs/r_missing/logs, trace id ",
    );
    assert!(out.summary.starts_with("### Port: PATCH_RUN\n"));
    assert!(
        out.summary.contains(
            "> [!CAUTION]\n> Port has no run r_missing (from input 'runId'); give the right one \
             as the 'runId' input: cannot post the log line to Port run r_missing: Port API 404 \
             not_found"
        ),
        "{}",
        out.summary
    );
    assert_eq!(lines(&port).len(), 2);
}

#[test]
fn wrong_credentials_fail_on_the_token_request() {
    let port = StandIn::start();
    let out = Step::new(&port)
        .input("clientSecret", "not-the-secret")
        .input("blueprint", "service")
        .run();
    out.assert_failure("Port API 401");
    assert!(out.errors()[0].contains("POST /v1/auth/access_token"));
    assert_eq!(lines(&port), ["POST /v1/auth/access_token"]);
}

#[test]
fn an_unreachable_port_names_the_url() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let out = Step::with_base_url(&url)
        .input("blueprint", "service")
        .input("maxAttempts", "2")
        .run();
    out.assert_failure(&format!(
        "cannot reach Port: POST {url}/v1/auth/access_token"
    ));
    // A refused connection never reached Port: it is tried again, up to maxAttempts.
    assert_eq!(
        out.stdout.matches("trying again").count(),
        1,
        "{}",
        out.stdout
    );
}

#[test]
fn secrets_never_reach_the_log_outputs_or_summary_even_in_debug() {
    for debug in ["0", "1"] {
        let port = StandIn::start();
        port.add_run("r_demo", "IN_PROGRESS", &[]);
        let out = Step::new(&port)
            .env("RUNNER_DEBUG", debug)
            .input("blueprint", "service")
            .input("identifier", "payments")
            .input("logMessage", "hello")
            .input("status", "success")
            .run();
        out.assert_success();
        let token = port
            .requests()
            .iter()
            .find_map(|r| r.header("authorization").map(str::to_string))
            .expect("an authorized request")
            .trim_start_matches("Bearer ")
            .to_string();
        let secret = port_stand_in::CLIENT_SECRET;
        for (what, text) in [
            ("stderr", &out.stderr),
            ("outputs", &out.outputs_raw),
            ("summary", &out.summary),
        ] {
            assert!(!text.contains(secret), "client secret in {what}");
            assert!(!text.contains(&token), "token in {what}");
        }
        // stdout carries the secrets only inside the ::add-mask:: commands themselves.
        for line in out
            .stdout
            .lines()
            .filter(|l| !l.starts_with("::add-mask::"))
        {
            assert!(!line.contains(secret), "client secret in stdout: {line}");
            assert!(!line.contains(&token), "token in stdout: {line}");
        }
        assert!(out.stdout.contains(&format!("::add-mask::{token}")));
        if debug == "1" {
            assert!(out
                .stdout
                .contains("::group::POST /v1/blueprints/service/entities"));
        } else {
            assert!(!out.stdout.contains("::group::"));
        }
    }
}
