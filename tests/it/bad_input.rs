//! Bad input, tried as a user would: each case exits 1 with one `::error::` naming the input
//! (or the event file), and Port receives no request at all.

use port_stand_in::StandIn;

use crate::support::{data, Step};

/// An event file with these contents, kept alive for the step.
fn event_file(dir: &tempfile::TempDir, name: &str, contents: &str) -> std::path::PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

#[test]
fn every_bad_input_fails_before_any_request_with_an_error_naming_it() {
    let port = StandIn::start();
    let dir = tempfile::tempdir().unwrap();
    let not_json = event_file(&dir, "not-json.json", "{\"inputs\": ");
    let two_runs = event_file(
        &dir,
        "two-runs.json",
        r#"{"inputs":{"port_context":"{\"runId\":\"r_a\"}","port_run_id":"r_b"}}"#,
    );
    let injected = event_file(
        &dir,
        "injected.json",
        r#"{"inputs":{"port_context":"{\"runId\":\"r_abc\\n::error title=X::pwned\\n::stop-commands::zzz\"}"}}"#,
    );
    let dot_dot = event_file(
        &dir,
        "dot-dot.json",
        r#"{"inputs":{"port_context":"{\"runId\":\"..\"}"}}"#,
    );
    let missing = dir.path().join("missing.json");

    type Case = (
        &'static str,
        Vec<(&'static str, &'static str)>,
        Option<std::path::PathBuf>,
        &'static str,
    );
    let upsert = |extra: Vec<(&'static str, &'static str)>| {
        let mut v = vec![("blueprint", "service"), ("identifier", "payments")];
        v.extend(extra);
        v
    };
    let dispatch = Some(data("workflow_dispatch.json"));
    let cases: Vec<Case> = vec![
        ("properties not JSON", upsert(vec![("properties", "{\"a\": }")]), dispatch.clone(), "input 'properties' is not valid JSON"),
        ("properties an array", upsert(vec![("properties", "[1, 2]")]), dispatch.clone(), "input 'properties' must be a JSON object"),
        ("relations not JSON", upsert(vec![("relations", "{domain: billing}")]), dispatch.clone(), "input 'relations' is not valid JSON"),
        ("relations a string", upsert(vec![("relations", "\"billing\"")]), dispatch.clone(), "input 'relations' must be a JSON object"),
        ("team a number", upsert(vec![("team", "42")]), dispatch.clone(), "input 'team'"),
        ("team an object", upsert(vec![("team", "{\"name\": \"x\"}")]), dispatch.clone(), "input 'team'"),
        ("link not a URL list", vec![("operation", "PATCH_RUN"), ("link", "[1, 2]")], dispatch.clone(), "input 'link'"),
        ("link a javascript: URL", vec![("operation", "PATCH_RUN"), ("link", "javascript:alert(1)")], dispatch.clone(), "input 'link' must be an http(s) URL, got 'javascript:alert(1)'"),
        ("link a relative URL", vec![("operation", "PATCH_RUN"), ("link", "/runs/1")], dispatch.clone(), "input 'link' must be an http(s) URL, got '/runs/1'"),
        ("link element a data: URL", vec![("operation", "PATCH_RUN"), ("link", r#"["https://grafana.example.com/d/1", "data:text/html,<b>x</b>"]"#)], dispatch.clone(), "input 'link' element 1 must be an http(s) URL, got 'data:text/html,<b>x</b>'"),
        ("link with a line break", vec![("operation", "PATCH_RUN"), ("link", "https://grafana.example.com/\n::error::x")], dispatch.clone(), "input 'link' must be an http(s) URL, got 'https://grafana.example.com/\\n::error::x'"),
        ("link element a quoted javascript: URL", vec![("operation", "PATCH_RUN"), ("link", "['javascript:alert(1)']")], dispatch.clone(), "input 'link' element 0 must be an http(s) URL, got 'javascript:alert(1)'"),
        ("query not JSON", vec![("operation", "SEARCH"), ("query", "{\"rules\": [}")], dispatch.clone(), "input 'query' is not valid JSON"),
        ("query an array", vec![("operation", "SEARCH"), ("query", "[]")], dispatch.clone(), "input 'query' must be a JSON object"),
        ("entities not JSON", vec![("operation", "BULK_UPSERT"), ("entities", "[{]")], dispatch.clone(), "input 'entities' is not valid JSON"),
        ("entities an object", vec![("operation", "BULK_UPSERT"), ("entities", "{}")], dispatch.clone(), "input 'entities'"),
        ("entities element a string", vec![("operation", "BULK_UPSERT"), ("blueprint", "service"), ("entities", "[{\"identifier\": \"a\"}, \"b\"]")], dispatch.clone(), "input 'entities' element 1"),
        ("bulk element without blueprint", vec![("operation", "BULK_UPSERT"), ("entities", "[{\"identifier\": \"a\", \"blueprint\": \"service\"}, {\"identifier\": \"b\"}]")], dispatch.clone(), "input 'entities' element 1 has no \"blueprint\""),
        ("unknown operation", vec![("operation", "MERGE")], dispatch.clone(), "input 'operation' must be one of"),
        ("missing client id", vec![("clientId", ""), ("blueprint", "service")], dispatch.clone(), "input 'clientId' is required"),
        ("missing client secret", vec![("clientSecret", ""), ("blueprint", "service")], dispatch.clone(), "input 'clientSecret' is required"),
        ("upsert without blueprint", vec![("identifier", "payments")], dispatch.clone(), "input 'blueprint' is required"),
        ("get without identifier", vec![("operation", "GET"), ("blueprint", "service")], dispatch.clone(), "input 'identifier' is required"),
        ("delete without blueprint", vec![("operation", "DELETE"), ("identifier", "payments")], dispatch.clone(), "input 'blueprint' is required"),
        ("search without query", vec![("operation", "SEARCH")], dispatch.clone(), "input 'query' is required"),
        ("create run without action", vec![("operation", "CREATE_RUN")], dispatch.clone(), "input 'action' is required"),
        ("bulk without entities", vec![("operation", "BULK_UPSERT")], dispatch.clone(), "input 'entities' is required"),
        ("bad status", vec![("operation", "PATCH_RUN"), ("status", "done")], dispatch.clone(), "input 'status' must be SUCCESS or FAILURE"),
        ("identifier with a space", upsert(vec![("identifier", "my service")]), dispatch.clone(), "input 'identifier' is not a valid Port identifier"),
        ("identifier '..'", upsert(vec![("identifier", "..")]), dispatch.clone(), "input 'identifier' is not a valid Port identifier"),
        ("blueprint with a '#'", vec![("blueprint", "ser#vice")], dispatch.clone(), "input 'blueprint' is not a valid Port identifier"),
        ("base URL not http(s)", vec![("baseUrl", "ftp://api.getport.io"), ("blueprint", "service")], dispatch.clone(), "input 'baseUrl' must be an http(s) URL"),
        ("base URL not a URL", vec![("baseUrl", "api.getport.io"), ("blueprint", "service")], dispatch.clone(), "input 'baseUrl'"),
        ("unknown region", vec![("baseUrl", ""), ("region", "apac"), ("blueprint", "service")], dispatch.clone(), "input 'region'"),
        ("bad boolean", upsert(vec![("createMissingRelatedEntities", "yes please")]), dispatch.clone(), "input 'createMissingRelatedEntities'"),
        ("bad delete_dependents", vec![("operation", "DELETE"), ("blueprint", "service"), ("identifier", "payments"), ("delete_dependents", "maybe")], dispatch.clone(), "input 'delete_dependents'"),
        ("bad job id", vec![("operation", "PATCH_RUN"), ("jobId", "deploy")], dispatch.clone(), "input 'jobId'"),
        ("bad concurrency", vec![("operation", "BULK_UPSERT"), ("concurrency", "0"), ("blueprint", "service"), ("entities", "[{\"identifier\": \"a\"}]")], dispatch.clone(), "input 'concurrency'"),
        ("bad timeout", upsert(vec![("timeout", "soon")]), dispatch.clone(), "input 'timeout'"),
        ("bad max attempts", upsert(vec![("maxAttempts", "-1")]), dispatch.clone(), "input 'maxAttempts'"),
        ("event file missing", upsert(vec![]), Some(missing), "cannot read the event file"),
        ("event file not JSON", upsert(vec![]), Some(not_json), "is not JSON"),
        ("two run ids in the event, and a log line for the run", upsert(vec![("logMessage", "x")]), Some(two_runs.clone()), "two different Port runs"),
        ("two run ids in the event, and PATCH_RUN", vec![("operation", "PATCH_RUN"), ("status", "SUCCESS")], Some(two_runs), "two different Port runs"),
        ("a run id with a newline in the event", upsert(vec![]), Some(injected), "the Port run id in inputs.port_context.runId of the event is not valid"),
        ("'..' as the run id in the event", vec![("operation", "PATCH_RUN"), ("logMessage", "x")], Some(dot_dot), "the Port run id in inputs.port_context.runId of the event is not valid: '..' is not allowed"),
        ("runId with a slash", vec![("operation", "PATCH_RUN"), ("runId", "r_a/b"), ("logMessage", "x")], dispatch.clone(), "input 'runId' is not a valid Port run id"),
        ("create run properties not JSON", vec![("operation", "CREATE_RUN"), ("action", "deploy"), ("properties", "{\"a\": }")], dispatch.clone(), "input 'properties' is not valid JSON"),
        ("create run entity with a space", vec![("operation", "CREATE_RUN"), ("action", "deploy"), ("identifier", "My Service")], dispatch.clone(), "input 'identifier' is not a valid Port identifier"),
        ("bad wait", vec![("operation", "CREATE_RUN"), ("action", "deploy"), ("wait", "soon")], dispatch.clone(), "input 'wait'"),
        ("bad wait timeout", vec![("operation", "CREATE_RUN"), ("action", "deploy"), ("wait", "true"), ("waitTimeout", "1 day")], dispatch.clone(), "input 'waitTimeout'"),
        ("GET identifier with a space", vec![("operation", "GET"), ("blueprint", "service"), ("identifier", "a b")], dispatch.clone(), "input 'identifier' is not a valid Port identifier"),
        ("team a broken quoted list", upsert(vec![("team", "['a', b]")]), dispatch.clone(), "input 'team' is not valid JSON"),
        ("team a query without rules", upsert(vec![("team", "{\"combinator\": \"and\"}")]), dispatch.clone(), "input 'team' must be a team name, a JSON array of team names, or a search query object: the query has no \"rules\""),
        ("patch run with no run anywhere", vec![("operation", "PATCH_RUN"), ("logMessage", "x")], Some(data("push.json")), "input 'runId' is required for PATCH_RUN"),
    ];
    assert!(cases.len() >= 30);
    let mut failures = Vec::new();
    for (name, inputs, event, expected) in cases {
        let mut step = Step::new(&port).event(event);
        for (k, v) in inputs {
            step = step.input(k, v);
        }
        let out = step.run();
        let errors = out.errors();
        let ok = out.code == 1 && errors.len() == 1 && errors[0].contains(expected);
        if !ok {
            failures.push(format!(
                "{name}: exit {}, errors {errors:?}, expected one containing {expected:?}",
                out.code
            ));
        }
        let sent = port.requests();
        if !sent.is_empty() {
            failures.push(format!(
                "{name}: sent {:?}",
                sent.iter().map(|r| r.line()).collect::<Vec<_>>()
            ));
            port.clear_requests();
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn an_input_that_is_not_utf8_is_named_and_nothing_is_sent() {
    use std::os::unix::ffi::OsStringExt;
    let port = StandIn::start();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_port-action"))
        .env_clear()
        .env("INPUT_CLIENTID", port_stand_in::CLIENT_ID)
        .env(
            "INPUT_CLIENTSECRET",
            std::ffi::OsString::from_vec(b"s3cr\xffet-value".to_vec()),
        )
        .env("INPUT_BASEURL", port.url())
        .env("INPUT_OPERATION", "PATCH_RUN")
        .env("INPUT_RUNID", "r_demo")
        .env("INPUT_LOGMESSAGE", "hello")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert_eq!(
        stdout.trim_end(),
        "::error title=port-action failed::the value of INPUT_CLIENTSECRET is not valid UTF-8; \
         nothing was sent"
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(port.requests().is_empty());
}

#[test]
fn a_misspelled_port_host_or_ports_app_url_in_base_url_is_named_before_any_request() {
    let port = StandIn::start();
    let misspelled = |meant: &str| format!("is not one of Port's: did you mean {meant}?");
    let app = |api: &str| format!("Port's web app or website, not its API: use {api}");
    for (url, expected) in [
        (
            "https://api.getprot.io",
            misspelled("https://api.getport.io"),
        ),
        (
            "https://api.us.getport.com/v1",
            misspelled("https://api.us.getport.io"),
        ),
        ("https://app.getport.io", app("https://api.getport.io")),
        (
            "https://app.us.getport.io/",
            app("https://api.us.getport.io"),
        ),
    ] {
        let out = Step::new(&port)
            .input("baseUrl", url)
            .input("blueprint", "service")
            .run();
        out.assert_failure(&format!("input 'baseUrl' is '{url}'"));
        assert!(out.errors()[0].contains(&expected), "{}", out.stdout);
    }
    assert!(port.requests().is_empty());
}
