//! SEARCH through Port's pages, `limit`, `outputFile` for GET and SEARCH, outputs too large for
//! GitHub, and compressed answers.

use port_stand_in::{FaultKind, StandIn};
use serde_json::{json, Value};

use crate::support::{assert_spec_clean, fault, Outcome, Step};

/// A stand-in with `n` entities `s-0`, `s-1`, … in blueprint `service` (property `n`, and a
/// `text` of `text_len` characters), and one in `domain`.
fn catalog(n: usize, text_len: usize) -> StandIn {
    let port = StandIn::start();
    port.add_entity("domain", json!({"identifier": "d-0"}));
    for i in 0..n {
        port.add_entity(
            "service",
            json!({"identifier": format!("s-{i}"), "title": format!("S {i}"),
                   "properties": {"n": i, "text": "x".repeat(text_len)}}),
        );
    }
    port
}

fn search(port: &StandIn) -> Step {
    Step::new(port).event(None).input("operation", "SEARCH")
}

/// The searches sent: path and body.
fn searches(port: &StandIn) -> Vec<(String, Value)> {
    port.requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/search"))
        .map(|r| (r.line(), r.body.unwrap_or(Value::Null)))
        .collect()
}

fn identifiers(entities: &Value) -> Vec<String> {
    entities
        .as_array()
        .expect("an array")
        .iter()
        .map(|e| e["identifier"].as_str().expect("an identifier").to_string())
        .collect()
}

fn numbered(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("s-{i}")).collect()
}

fn warnings(out: &Outcome) -> Vec<&str> {
    out.stdout
        .lines()
        .filter(|l| l.starts_with("::warning"))
        .collect()
}

const PAGED: &str = "POST /v1/blueprints/service/entities/search";

#[test]
fn a_blueprint_search_follows_the_cursor_through_every_page() {
    let port = catalog(2500, 0);
    let out = search(&port).input("blueprint", "service").run();
    out.assert_success();
    let sent = searches(&port);
    assert_eq!(sent.len(), 3, "{sent:?}");
    assert_eq!(sent[0], (PAGED.to_string(), json!({"limit": 1000})));
    // Each later page sends back the cursor of the answer before (the stand-in refuses any
    // other), and nothing else changes.
    let mut cursors = Vec::new();
    for (line, body) in &sent[1..] {
        assert_eq!(line, PAGED);
        let from = body["from"].as_str().expect("a cursor").to_string();
        assert_eq!(body, &json!({"limit": 1000, "from": from}));
        cursors.push(from);
    }
    assert_ne!(cursors[0], cursors[1]);
    assert_eq!(identifiers(&out.json_output("entities")), numbered(0..2500));
    assert!(out.output("file").is_none());
    assert!(
        out.summary.contains("Search found 2500 entities"),
        "{}",
        out.summary
    );
    assert_spec_clean(&port);
}

#[test]
fn limit_stops_asking_once_reached_and_trims_the_last_page() {
    let port = catalog(2500, 0);
    let out = search(&port)
        .input("blueprint", "service")
        .input("limit", "1500")
        .run();
    out.assert_success();
    let sent = searches(&port);
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert_eq!(sent[0].1, json!({"limit": 1000}));
    assert_eq!(sent[1].1["limit"], 500);
    assert_eq!(identifiers(&out.json_output("entities")), numbered(0..1500));

    // A limit met by the first page asks for no other, though Port has more.
    port.clear_requests();
    let out = search(&port)
        .input("blueprint", "service")
        .input("limit", "7")
        .run();
    out.assert_success();
    assert_eq!(
        searches(&port),
        vec![(PAGED.to_string(), json!({"limit": 7}))]
    );
    assert_eq!(identifiers(&out.json_output("entities")), numbered(0..7));
    assert_spec_clean(&port);
}

#[test]
fn a_query_naming_one_blueprint_pages_it_with_include_as_the_route_takes_it() {
    let port = catalog(1200, 0);
    let query = json!({"combinator": "and", "rules": [
        {"property": "$blueprint", "operator": "=", "value": "service"},
        {"property": "n", "operator": ">=", "value": 100}
    ]});
    let out = search(&port)
        .input("query", &query.to_string())
        .input("include", "identifier, properties.n")
        .run();
    out.assert_success();
    let sent = searches(&port);
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert_eq!(
        sent[0],
        (
            PAGED.to_string(),
            json!({"query": query, "include": ["$identifier", "n"], "limit": 1000})
        )
    );
    let entities = out.json_output("entities");
    assert_eq!(identifiers(&entities), numbered(100..1200));
    assert_eq!(
        entities[0],
        json!({"identifier": "s-100", "properties": {"n": 100}})
    );
    assert_spec_clean(&port);
}

#[test]
fn searches_of_no_single_blueprint_keep_the_unpaged_route() {
    let port = catalog(3, 0);
    // An `or` of blueprints: no one blueprint to page.
    let query = json!({"combinator": "or", "rules": [
        {"property": "$blueprint", "operator": "=", "value": "service"},
        {"property": "$blueprint", "operator": "=", "value": "domain"}
    ]});
    let out = search(&port)
        .input("query", &query.to_string())
        .input("limit", "3")
        .run();
    out.assert_success();
    assert_eq!(
        searches(&port),
        vec![("POST /v1/entities/search".to_string(), query)]
    );
    // `limit` trims what the one answer brought.
    assert_eq!(
        identifiers(&out.json_output("entities")),
        vec!["d-0", "s-0", "s-1"]
    );

    // An include naming a whole object has no field identifier: the route that takes paths,
    // kept within the blueprint.
    port.clear_requests();
    let out = search(&port)
        .input("blueprint", "service")
        .input("include", "identifier,properties")
        .run();
    out.assert_success();
    assert_eq!(
        searches(&port),
        vec![(
            "POST /v1/entities/search?include=identifier&include=properties".to_string(),
            json!({"combinator": "and", "rules": [
                {"property": "$blueprint", "operator": "=", "value": "service"}]})
        )]
    );
    assert_eq!(identifiers(&out.json_output("entities")), numbered(0..3));
    assert_spec_clean(&port);
}

#[test]
fn a_query_naming_no_valid_blueprint_is_sent_as_given_to_the_unpaged_route() {
    let port = catalog(2, 0);
    // `..` would be resolved away in the blueprint route's URL, and `a b` is no identifier: the
    // query goes to the route that takes it whole, and Port matches no entity.
    for value in ["..", ".", "a b"] {
        port.clear_requests();
        let query = json!({"combinator": "and", "rules": [
            {"property": "$blueprint", "operator": "=", "value": value}
        ]});
        let out = search(&port).input("query", &query.to_string()).run();
        out.assert_success();
        assert_eq!(
            searches(&port),
            vec![("POST /v1/entities/search".to_string(), query)],
            "{value:?}"
        );
        assert_eq!(out.json_output("entities"), json!([]), "{value:?}");
    }
    assert_spec_clean(&port);
}

#[test]
fn search_answers_travel_gzipped() {
    let port = catalog(1500, 0);
    let out = search(&port).input("blueprint", "service").run();
    out.assert_success();
    let sent: Vec<_> = port
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/search"))
        .collect();
    assert_eq!(sent.len(), 2);
    for r in &sent {
        let accept = r.header("accept-encoding").unwrap_or_default();
        assert!(accept.contains("gzip"), "{accept:?}");
        assert_eq!(r.answer_encoding.as_deref(), Some("gzip"));
    }
    assert_eq!(identifiers(&out.json_output("entities")), numbered(0..1500));
    assert_spec_clean(&port);
}

#[test]
fn output_file_of_a_search_holds_every_page_and_is_named_by_the_file_output() {
    let port = catalog(1500, 0);
    let workspace = tempfile::tempdir().unwrap();
    let out = search(&port)
        .workspace(workspace.path())
        .input("blueprint", "service")
        .input("outputFile", "out/found.json")
        .run();
    out.assert_success();
    assert_eq!(out.output("file"), Some("out/found.json"));
    let text = std::fs::read_to_string(workspace.path().join("out/found.json")).unwrap();
    let written: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(identifiers(&written), numbered(0..1500));
    // Small enough: the output carries it too.
    assert_eq!(out.json_output("entities"), written);
    assert_eq!(
        std::fs::read_dir(workspace.path().join("out"))
            .unwrap()
            .count(),
        1,
        "no partial file left"
    );
    assert!(warnings(&out).is_empty(), "{}", out.stdout);

    // An absolute path inside the workspace is the same file; an empty result is `[]`.
    port.clear_requests();
    let absolute = workspace.path().join("none.json");
    let out = search(&port)
        .workspace(workspace.path())
        .input("blueprint", "service")
        .input(
            "query",
            r#"{"combinator": "and", "rules": [{"property": "n", "operator": "<", "value": 0}]}"#,
        )
        .input("outputFile", &absolute.to_string_lossy())
        .run();
    out.assert_success();
    assert_eq!(out.output("file"), Some("none.json"));
    let written: Value =
        serde_json::from_str(&std::fs::read_to_string(&absolute).unwrap()).unwrap();
    assert_eq!(written, json!([]));
    assert_eq!(out.json_output("entities"), json!([]));
    assert_spec_clean(&port);
}

#[test]
fn output_file_of_a_get_holds_the_entity() {
    let port = catalog(1, 0);
    let workspace = tempfile::tempdir().unwrap();
    let out = Step::new(&port)
        .event(None)
        .workspace(workspace.path())
        .input("operation", "GET")
        .input("blueprint", "service")
        .input("identifier", "s-0")
        .input("outputFile", "entity.json")
        .run();
    out.assert_success();
    assert_eq!(out.output("file"), Some("entity.json"));
    let written: Value = serde_json::from_str(
        &std::fs::read_to_string(workspace.path().join("entity.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(written["identifier"], "s-0");
    assert_eq!(written["properties"]["n"], 0);
    assert_eq!(out.json_output("entity"), written);
    assert_eq!(out.output("identifier"), Some("s-0"));
    assert_spec_clean(&port);
}

#[test]
fn a_result_too_big_for_an_output_is_left_out_with_a_warning_naming_the_file() {
    // 700 entities of about 1 KiB: over the 512 KiB an output carries.
    let port = catalog(700, 1000);
    let workspace = tempfile::tempdir().unwrap();
    let out = search(&port)
        .workspace(workspace.path())
        .input("blueprint", "service")
        .input("outputFile", "big.json")
        .run();
    out.assert_success();
    assert!(
        out.output("entities").is_none(),
        "{:?}",
        out.outputs_raw.len()
    );
    assert_eq!(out.output("file"), Some("big.json"));
    let written: Value =
        serde_json::from_str(&std::fs::read_to_string(workspace.path().join("big.json")).unwrap())
            .unwrap();
    assert_eq!(identifiers(&written), numbered(0..700));
    let warned = warnings(&out);
    assert_eq!(warned.len(), 1, "{}", out.stdout);
    assert!(
        warned[0].starts_with("::warning title=Output left out::The result (700 entities) is "),
        "{}",
        warned[0]
    );
    assert!(
        warned[0].contains("output 'entities' is left out; the result is in file \"big.json\""),
        "{}",
        warned[0]
    );

    // Without outputFile the output is still set, with a warning that says what to do.
    let out = search(&port).input("blueprint", "service").run();
    out.assert_success();
    assert_eq!(identifiers(&out.json_output("entities")), numbered(0..700));
    let warned = warnings(&out);
    assert_eq!(warned.len(), 1, "{}", out.stdout);
    assert!(warned[0].starts_with("::warning title=Large output::Output 'entities' is "));
    assert!(
        warned[0].contains("set input 'outputFile'"),
        "{}",
        warned[0]
    );
    assert_spec_clean(&port);
}

#[test]
fn output_file_outside_the_workspace_is_refused_before_anything_is_sent() {
    let port = catalog(1, 0);
    let workspace = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(elsewhere.path(), workspace.path().join("away")).unwrap();
    std::fs::write(elsewhere.path().join("target.json"), "").unwrap();
    std::os::unix::fs::symlink(
        elsewhere.path().join("target.json"),
        workspace.path().join("linked.json"),
    )
    .unwrap();
    let outside = elsewhere.path().join("x.json");
    // A link where the file is first written, planted to lead out.
    std::os::unix::fs::symlink(
        elsewhere.path().join("planted.json"),
        workspace.path().join(".fine.json.part"),
    )
    .unwrap();
    let cases = [
        ("../x.json", "which is outside the workspace"),
        ("out/../../x.json", "which is outside the workspace"),
        (
            &*outside.to_string_lossy(),
            "an absolute path outside the workspace",
        ),
        ("away/x.json", "which leads out of the workspace"),
        ("linked.json", "which leads out of the workspace"),
        ("out/", "a directory"),
    ];
    for (path, why) in cases {
        let out = search(&port)
            .workspace(workspace.path())
            .input("blueprint", "service")
            .input("outputFile", path)
            .run();
        out.assert_failure(&format!("input 'outputFile' is '{path}', {why}"));
        assert!(port.requests().is_empty(), "{path}: {:?}", port.requests());
    }
    // No workspace to write in.
    let out = Step::new(&port)
        .event(None)
        .input("operation", "GET")
        .input("blueprint", "service")
        .input("identifier", "s-0")
        .input("outputFile", "e.json")
        .run();
    out.assert_failure("input 'outputFile' needs $GITHUB_WORKSPACE");
    assert!(port.requests().is_empty());

    // The planted link is replaced, not followed.
    let out = search(&port)
        .workspace(workspace.path())
        .input("blueprint", "service")
        .input("outputFile", "fine.json")
        .run();
    out.assert_success();
    assert!(!elsewhere.path().join("planted.json").exists());
    assert_eq!(std::fs::read_dir(elsewhere.path()).unwrap().count(), 1);
    let written = std::fs::read_to_string(workspace.path().join("fine.json")).unwrap();
    assert_eq!(
        identifiers(&serde_json::from_str(&written).unwrap()),
        numbered(0..1)
    );
}

/// The first two pages of the search each answer with the same cursor, `again`.
fn send_back_the_cursor(port: &StandIn) {
    for _ in 0..2 {
        fault(
            port,
            PAGED,
            FaultKind::Respond {
                status: 200,
                headers: vec![],
                body: json!({"ok": true, "entities": [{"identifier": "s-0"}], "next": "again"}),
            },
        );
    }
}

#[test]
fn a_cursor_sent_back_unchanged_stops_the_search() {
    let port = catalog(1, 0);
    send_back_the_cursor(&port);
    let out = search(&port).input("blueprint", "service").run();
    out.assert_failure(
        "Port's answer to page 2 of the search of blueprint 'service' sends back the cursor it \
         was sent: stopped after 2 entities",
    );
    assert_eq!(searches(&port).len(), 2);
}

#[test]
fn cursors_that_go_round_stop_the_search_at_the_first_repeat() {
    for period in [2, 3] {
        let port = catalog(3, 0);
        port.cycle_search_cursors(period);
        // Without the check the pages would go round until the step's deadline.
        let out = search(&port)
            .input("blueprint", "service")
            .input("timeout", "3s")
            .run();
        let pages = period + 1;
        out.assert_failure(&format!(
            "Port's answer to page {pages} of the search of blueprint 'service' hands out the \
             cursor page 1's answer handed out, so the pages go round: stopped after {} \
             entities",
            3 * pages
        ));
        let sent: Vec<Option<String>> = searches(&port)
            .into_iter()
            .map(|(_, body)| body["from"].as_str().map(str::to_string))
            .collect();
        let mut expected = vec![None];
        expected.extend((0..period).map(|k| Some(format!("cycle-{k}"))));
        assert_eq!(sent, expected, "period {period}");
        assert_spec_clean(&port);
    }
}

#[test]
fn the_answer_cap_applies_to_the_decompressed_size() {
    // 34 entities of 1 MiB each: 34 MiB of JSON that gzip brings down to kilobytes.
    let port = StandIn::start();
    for i in 0..34 {
        port.add_entity(
            "service",
            json!({"identifier": format!("big-{i}"), "properties": {"text": "x".repeat(1 << 20)}}),
        );
    }
    let out = search(&port)
        .input(
            "query",
            r#"{"combinator": "or", "rules": [{"property": "$blueprint", "operator": "=", "value": "service"}]}"#,
        )
        .run();
    out.assert_failure("Port's answer to POST /v1/entities/search was larger than 32 MiB");
    let sent: Vec<_> = port
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/search"))
        .collect();
    assert!(!sent.is_empty());
    assert!(sent
        .iter()
        .all(|r| r.answer_encoding.as_deref() == Some("gzip")));
}

#[test]
fn a_search_that_fails_on_a_later_page_leaves_the_output_file_as_it_was_and_no_partial_file() {
    let port = catalog(1, 0);
    let workspace = tempfile::tempdir().unwrap();
    let target = workspace.path().join("found.json");
    std::fs::write(&target, "[\"from the run before\"]\n").unwrap();
    // Page 1 is written to the file; page 2 fails.
    send_back_the_cursor(&port);
    let out = search(&port)
        .workspace(workspace.path())
        .input("blueprint", "service")
        .input("outputFile", "found.json")
        .run();
    out.assert_failure(
        "Port's answer to page 2 of the search of blueprint 'service' sends back the cursor it was sent",
    );
    assert_eq!(searches(&port).len(), 2);
    assert_eq!(out.output("file"), None);
    assert_eq!(
        std::fs::read_to_string(&target).unwrap(),
        "[\"from the run before\"]\n",
        "a failed search does not touch the file it was to write"
    );
    let left: Vec<String> = std::fs::read_dir(workspace.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, ["found.json"], "no partial file left behind");
}
