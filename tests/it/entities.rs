//! The catalog operations on the wire: UPSERT, GET, SEARCH and DELETE.

use port_stand_in::StandIn;
use serde_json::json;

use crate::support::{assert_spec_clean, data, lines, Step};

#[test]
fn upsert_sends_only_the_fields_given_and_keeps_raw_newlines_in_strings() {
    let port = StandIn::start();
    port.add_run("r_demo", "IN_PROGRESS", &[]);
    // A workflow pastes `${{ github.event.head_commit.message }}` into a JSON string.
    let properties = "{\"lastCommit\": \"Fix the build\n\nCo-authored-by: a\tb\"}";
    let out = Step::new(&port)
        .input("blueprint", "service")
        .input("identifier", "payments")
        .input("properties", properties)
        .input("team", r#"["platform", "payments"]"#)
        .input("relations", r#"{"domain": "billing"}"#)
        .input("createMissingRelatedEntities", "true")
        .run();
    out.assert_success();
    let sent = &port.requests()[1];
    assert_eq!(
        sent.line(),
        "POST /v1/blueprints/service/entities?upsert=true&merge=true&run_id=r_demo&create_missing_related_entities=true"
    );
    assert_eq!(
        sent.body,
        Some(json!({
            "identifier": "payments",
            "properties": {"lastCommit": "Fix the build\n\nCo-authored-by: a\tb"},
            "team": ["platform", "payments"],
            "relations": {"domain": "billing"},
        }))
    );
    assert_spec_clean(&port);
}

#[test]
fn a_team_that_is_not_json_is_sent_as_a_string() {
    let port = StandIn::start();
    Step::new(&port)
        .event(None)
        .input("blueprint", "service")
        .input("identifier", "payments")
        .input("team", "platform")
        .run()
        .assert_success();
    assert_eq!(
        port.requests()[1].body.as_ref().unwrap()["team"],
        "platform"
    );
}

#[test]
fn upsert_without_identifier_outputs_the_one_port_generated() {
    let port = StandIn::start();
    let out = Step::new(&port)
        .event(None)
        .input("blueprint", "service")
        .input("title", "Generated")
        .run();
    out.assert_success();
    let id = out.output("identifier").expect("identifier output");
    assert!(!id.is_empty());
    assert!(port.entity("service", id).is_some());
}

#[test]
fn get_encodes_the_path_and_repeats_include() {
    let port = StandIn::start();
    port.add_entity(
        "micro-service",
        json!({"identifier": "team/payments:api", "title": "Payments API", "properties": {"tier": "1"}}),
    );
    let out = Step::new(&port)
        .event(Some(data("push.json")))
        .input("operation", "get")
        .input("blueprint", "micro-service")
        .input("identifier", "team/payments:api")
        .input("include", "identifier, title")
        .run();
    out.assert_success();
    assert_eq!(
        lines(&port)[1],
        "GET /v1/blueprints/micro-service/entities/team%2Fpayments:api?include=identifier&include=title"
    );
    let entity = out.json_output("entity");
    assert_eq!(entity["title"], "Payments API");
    assert_eq!(out.output("identifier"), Some("team/payments:api"));
    assert_spec_clean(&port);
}

#[test]
fn search_passes_the_query_through_and_outputs_entities() {
    let port = StandIn::start();
    port.add_entity(
        "service",
        json!({"identifier": "a", "properties": {"tier": "1"}}),
    );
    port.add_entity(
        "service",
        json!({"identifier": "b", "properties": {"tier": "2"}}),
    );
    let query = r#"{
        "combinator": "and",
        "rules": [
            {"property": "$blueprint", "operator": "=", "value": "service"},
            {"property": "tier", "operator": "=", "value": "2"}
        ]
    }"#;
    let out = Step::new(&port)
        .event(None)
        .input("operation", "SEARCH")
        .input("query", query)
        .run();
    out.assert_success();
    let sent = &port.requests()[1];
    // The query names one blueprint: that blueprint's paged search, the query untouched.
    assert_eq!(sent.line(), "POST /v1/blueprints/service/entities/search");
    let query: serde_json::Value = serde_json::from_str(query).unwrap();
    assert_eq!(
        sent.body,
        Some(serde_json::json!({"query": query, "limit": 1000}))
    );
    let entities = out.json_output("entities");
    assert_eq!(entities.as_array().unwrap().len(), 1);
    assert_eq!(entities[0]["identifier"], "b");
    assert_spec_clean(&port);
}

#[test]
fn delete_ties_to_the_run_and_outputs_ok() {
    let port = StandIn::start();
    port.add_run("r_demo", "IN_PROGRESS", &[]);
    port.add_entity("service", json!({"identifier": "payments"}));
    let out = Step::new(&port)
        .input("operation", "DELETE")
        .input("blueprint", "service")
        .input("identifier", "payments")
        .input("delete_dependents", "true")
        .run();
    out.assert_success();
    assert_eq!(
        lines(&port)[1],
        "DELETE /v1/blueprints/service/entities/payments?delete_dependents=true&run_id=r_demo"
    );
    assert_eq!(out.output("ok"), Some("true"));
    assert!(port.entity("service", "payments").is_none());
    assert_spec_clean(&port);
}
