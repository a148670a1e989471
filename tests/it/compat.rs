//! Steps written for `port-labs/port-github-action@v1`, from its documented examples, run
//! unchanged: the `with:` blocks below are the YAML users have in their workflows. port-action
//! must send requests Port accepts (the stand-in checks each against Port's spec) with the same
//! meaning, and write outputs that `fromJson()` reads the same way.

use port_stand_in::StandIn;
use serde_json::{json, Value};

use crate::support::{assert_spec_clean, yaml_scalar, Step};

/// A step whose inputs are the `with:` block of a workflow step, as the runner passes them
/// (`${{ }}` expressions already evaluated).
fn step_with(port: &StandIn, with: &str) -> Step {
    let with =
        format!("clientId: stand-in-client-id\nclientSecret: stand-in-client-secret\n{with}");
    let docs = yaml_rust2::YamlLoader::load_from_str(&with).expect("a with: block");
    let mut step = Step::new(port);
    for (k, v) in docs[0].as_hash().expect("a mapping") {
        let value = yaml_scalar(v).unwrap_or_else(|| panic!("unexpected YAML value {v:?}"));
        step = step.input(k.as_str().expect("a key"), &value);
    }
    step
}

#[test]
fn upsert_with_team_relations_and_a_multiline_properties_block() {
    let port = StandIn::start();
    port.add_run("r_abc123", "IN_PROGRESS", &[]);
    let out = step_with(
        &port,
        r#"
identifier: some_identifier
title: Some Title
team: '["Team1", "Team2"]'
icon: Github
blueprint: blueprint_id
properties: |-
  {
    "text_prop": "Hello world",
    "number_prop": 1,
    "bool_prop": false,
    "obj_prop": {"key": "value"},
    "arr_prop": ["a", "b"]
  }
relations: |-
  {
    "parent": "parent_id"
  }
runId: r_abc123
"#,
    )
    .run();
    out.assert_success();
    let sent = &port.requests()[1];
    assert_eq!(
        sent.line(),
        "POST /v1/blueprints/blueprint_id/entities?upsert=true&merge=true&run_id=r_abc123"
    );
    assert_eq!(
        sent.body,
        Some(json!({
            "identifier": "some_identifier",
            "title": "Some Title",
            "icon": "Github",
            "team": ["Team1", "Team2"],
            "properties": {
                "text_prop": "Hello world",
                "number_prop": 1,
                "bool_prop": false,
                "obj_prop": {"key": "value"},
                "arr_prop": ["a", "b"]
            },
            "relations": {"parent": "parent_id"}
        }))
    );
    // `${{ steps.port.outputs.identifier }}`
    assert_eq!(out.output("identifier"), Some("some_identifier"));
    assert_spec_clean(&port);
}

#[test]
fn get_with_include_reads_like_the_official_entity_output() {
    let port = StandIn::start();
    port.add_entity(
        "blueprint_id",
        json!({
            "identifier": "some_identifier",
            "title": "Some Title",
            "team": ["Team1"],
            "properties": {"text_prop": "Hello world", "number_prop": 1},
            "relations": {"parent": "parent_id"}
        }),
    );
    let out = step_with(
        &port,
        "operation: GET\nidentifier: some_identifier\nblueprint: blueprint_id\n",
    )
    .run();
    out.assert_success();
    assert_eq!(
        port.requests()[1].line(),
        "GET /v1/blueprints/blueprint_id/entities/some_identifier"
    );
    // `fromJson(steps.port.outputs.entity).properties.text_prop` and friends.
    let entity = out.json_output("entity");
    for (pointer, expected) in [
        ("/identifier", json!("some_identifier")),
        ("/title", json!("Some Title")),
        ("/blueprint", json!("blueprint_id")),
        ("/team", json!(["Team1"])),
        ("/properties/text_prop", json!("Hello world")),
        ("/properties/number_prop", json!(1)),
        ("/relations/parent", json!("parent_id")),
    ] {
        assert_eq!(entity.pointer(pointer), Some(&expected), "{pointer}");
    }

    port.clear_requests();
    let out = step_with(
        &port,
        "operation: GET\nidentifier: some_identifier\nblueprint: blueprint_id\ninclude: properties.text_prop,identifier\n",
    )
    .run();
    out.assert_success();
    assert_eq!(
        port.requests()[1].line(),
        "GET /v1/blueprints/blueprint_id/entities/some_identifier?include=properties.text_prop&include=identifier"
    );
    assert_spec_clean(&port);
}

#[test]
fn search_with_a_rules_query_and_include() {
    let port = StandIn::start();
    port.add_entity(
        "service",
        json!({"identifier": "svc-a", "properties": {"language": "Rust"}}),
    );
    port.add_entity(
        "service",
        json!({"identifier": "svc-b", "properties": {"language": "Go"}}),
    );
    let out = step_with(
        &port,
        r#"
operation: SEARCH
include: identifier,properties
query: |
  {
    "rules": [
      {"property": "$blueprint", "operator": "=", "value": "service"},
      {"property": "language", "operator": "in", "value": ["Rust", "Zig"]}
    ],
    "combinator": "and"
  }
"#,
    )
    .run();
    out.assert_success();
    let sent = &port.requests()[1];
    assert_eq!(
        sent.line(),
        "POST /v1/entities/search?include=identifier&include=properties"
    );
    assert_eq!(sent.body.as_ref().unwrap()["rules"][1]["operator"], "in");
    // `fromJson(steps.port.outputs.entities)[0].identifier`
    let entities = out.json_output("entities");
    assert_eq!(entities.as_array().map(Vec::len), Some(1));
    assert_eq!(entities[0]["identifier"], "svc-a");
    assert_spec_clean(&port);
}

#[test]
fn delete_with_dependents_outputs_ok_true() {
    let port = StandIn::start();
    port.add_run("r_demo", "IN_PROGRESS", &[]);
    port.add_entity("service", json!({"identifier": "parent_id"}));
    port.add_entity(
        "service",
        json!({"identifier": "child", "relations": {"parent": "parent_id"}}),
    );
    let with =
        "operation: DELETE\nidentifier: parent_id\nblueprint: service\ndelete_dependents: true\n";
    let out = step_with(&port, with).run();
    out.assert_success();
    assert_eq!(
        port.requests()[1].line(),
        "DELETE /v1/blueprints/service/entities/parent_id?delete_dependents=true&run_id=r_demo"
    );
    assert_eq!(out.output("ok"), Some("true"));
    assert_spec_clean(&port);
}

#[test]
fn create_run_outputs_the_run_id_a_later_step_patches() {
    let port = StandIn::start();
    let out = step_with(
        &port,
        r#"
operation: CREATE_RUN
icon: Github
blueprint: service
action: deploy_service
properties: |-
  {
    "environment": "production"
  }
"#,
    )
    .event(None)
    .run();
    out.assert_success();
    let sent = &port.requests()[1];
    assert_eq!(sent.line(), "POST /v1/actions/deploy_service/runs");
    assert_eq!(
        sent.body,
        Some(json!({"properties": {"environment": "production"}}))
    );
    let run_id = out.output("runId").expect("runId").to_string();
    assert_eq!(port.run(&run_id).unwrap()["status"], "IN_PROGRESS");

    // The official pattern: the next step patches the run by the output.
    port.clear_requests();
    step_with(
        &port,
        &format!("operation: PATCH_RUN\nrunId: {run_id}\nlogMessage: Started\nstatus: SUCCESS\n"),
    )
    .event(None)
    .run()
    .assert_success();
    assert_eq!(port.run(&run_id).unwrap()["status"], "SUCCESS");
    assert_spec_clean(&port);
}

#[test]
fn patch_run_with_log_link_and_summary_as_the_official_examples_write_it() {
    let port = StandIn::start();
    port.add_run(
        "r_abc123",
        "IN_PROGRESS",
        &["https://github.com/acme/payments/actions/runs/1234"],
    );
    // runId from `${{ fromJson(inputs.port_context).runId }}`, evaluated by the runner.
    let out = step_with(
        &port,
        r#"
operation: PATCH_RUN
runId: r_abc123
logMessage: "Deployed to production 🚀"
link: '["https://argo.example.com/applications/payments"]'
summary: "Deployment succeeded"
status: "SUCCESS"
"#,
    )
    .run();
    out.assert_success();
    let lines = crate::support::lines(&port);
    assert_eq!(lines[1], "POST /v1/actions/runs/r_abc123/logs");
    assert_eq!(lines.last().unwrap(), "PATCH /v1/actions/runs/r_abc123");
    let run = port.run("r_abc123").unwrap();
    assert_eq!(run["status"], "SUCCESS");
    assert_eq!(run["summary"], "Deployment succeeded");
    let links: Vec<Value> = run["link"].as_array().unwrap().clone();
    assert!(links.contains(&json!("https://argo.example.com/applications/payments")));
    assert!(
        links.contains(&json!("https://github.com/acme/payments/actions/runs/1234")),
        "the link Port's integration put on the run is kept"
    );
    assert_eq!(
        port.logs("r_abc123")[0]["message"],
        "Deployed to production 🚀"
    );
    // The official action writes these two outputs for PATCH_RUN.
    assert_eq!(out.output("runId"), Some("r_abc123"));
    assert_eq!(out.output("logMessage"), Some("Deployed to production 🚀"));
    assert_spec_clean(&port);
}

#[test]
fn bulk_upsert_of_the_documented_entities_array() {
    let port = StandIn::start();
    port.add_run("r_demo", "IN_PROGRESS", &[]);
    let out = step_with(
        &port,
        r#"
operation: BULK_UPSERT
entities: |
  [
    {
      "identifier": "MyEntity1",
      "title": "My Entity 1",
      "blueprint": "service",
      "properties": {"language": "Rust"},
      "relations": {}
    },
    {
      "identifier": "MyEntity2",
      "title": "My Entity 2",
      "blueprint": "microservice",
      "team": ["Team1"],
      "properties": {"language": "Go"}
    }
  ]
"#,
    )
    .run();
    out.assert_success();
    // The two blueprints' batches go out concurrently, in either order.
    let mut lines = crate::support::lines(&port);
    lines[1..].sort();
    assert_eq!(
        lines[1..],
        [
            "POST /v1/blueprints/microservice/entities/bulk?upsert=true&merge=true&run_id=r_demo",
            "POST /v1/blueprints/service/entities/bulk?upsert=true&merge=true&run_id=r_demo",
        ]
    );
    for r in &port.requests()[1..] {
        let body = r.body.as_ref().unwrap();
        assert_eq!(body["entities"].as_array().map(Vec::len), Some(1));
        assert_eq!(body["entities"][0].get("blueprint"), None);
    }
    // `fromJson(steps.port.outputs.identifiers)`
    assert_eq!(
        out.json_output("identifiers"),
        json!(["MyEntity1", "MyEntity2"])
    );
    assert!(port.entity("microservice", "MyEntity2").is_some());
    assert_spec_clean(&port);
}

#[test]
fn team_as_ports_own_upsert_snippet_writes_it() {
    let port = StandIn::start();
    port.add_run("r_demo", "IN_PROGRESS", &[]);
    let out = step_with(
        &port,
        r#"
identifier: myEntity
title: My Entity
blueprint: service
team: "['myTeam']"
properties: |-
  {
    "language": "Rust"
  }
"#,
    )
    .run();
    out.assert_success();
    let sent = &port.requests()[1];
    assert_eq!(
        sent.line(),
        "POST /v1/blueprints/service/entities?upsert=true&merge=true&run_id=r_demo"
    );
    assert_eq!(
        sent.body,
        Some(json!({
            "identifier": "myEntity",
            "title": "My Entity",
            "team": ["myTeam"],
            "properties": {"language": "Rust"}
        }))
    );

    port.clear_requests();
    step_with(
        &port,
        "identifier: myEntity\nblueprint: service\nteam: \"['Team A', 'sre']\"\n",
    )
    .run()
    .assert_success();
    assert_eq!(
        port.requests()[1].body,
        Some(json!({"identifier": "myEntity", "team": ["Team A", "sre"]}))
    );
    assert_spec_clean(&port);
}

#[test]
fn team_as_a_search_query_goes_to_port_untouched() {
    let port = StandIn::start();
    port.add_run("r_demo", "IN_PROGRESS", &[]);
    let out = step_with(
        &port,
        r#"
identifier: myEntity
blueprint: service
team: |
  {
    "combinator": "and",
    "rules": [
      {"property": "$identifier", "operator": "=", "value": "sre"}
    ]
  }
"#,
    )
    .run();
    out.assert_success();
    assert_eq!(
        port.requests()[1].body,
        Some(json!({
            "identifier": "myEntity",
            "team": {
                "combinator": "and",
                "rules": [{"property": "$identifier", "operator": "=", "value": "sre"}]
            }
        }))
    );
    assert_spec_clean(&port);
}

#[test]
fn link_as_a_list_of_single_quoted_urls() {
    let port = StandIn::start();
    port.add_run("r_abc123", "IN_PROGRESS", &[]);
    step_with(
        &port,
        r#"
operation: PATCH_RUN
runId: r_abc123
addJobLink: false
link: "['https://argo.example.com/applications/payments']"
"#,
    )
    .run()
    .assert_success();
    let patch = port.requests().pop().unwrap();
    assert_eq!(patch.line(), "PATCH /v1/actions/runs/r_abc123");
    assert_eq!(
        patch.body,
        Some(json!({"link": ["https://argo.example.com/applications/payments"]}))
    );
    assert_spec_clean(&port);
}

/// The requests a step sends to a fresh stand-in holding run `r_abc123` and entity `payments`
/// of blueprint `service`, without the token request, and what the step printed.
fn on_the_wire(with: &str) -> (Vec<(String, Option<Value>)>, crate::support::Outcome) {
    let port = StandIn::start();
    port.add_run("r_abc123", "IN_PROGRESS", &[]);
    port.add_entity("service", json!({"identifier": "payments"}));
    let out = step_with(&port, with).event(None).run();
    out.assert_success();
    assert_spec_clean(&port);
    let sent = port.requests()[1..]
        .iter()
        .map(|r| (r.line(), r.body.clone()))
        .collect();
    (sent, out)
}

#[test]
fn inputs_an_operation_does_not_use_are_ignored_with_one_warning() {
    let cases = [
        (
            "operation: PATCH_RUN\nrunId: r_abc123\nlogMessage: Deployed\nsummary: Done\n",
            "identifier: My Service\n",
            "::warning title=Inputs ignored::Input 'identifier' is not used by PATCH_RUN and \
             was ignored",
        ),
        (
            "operation: PATCH_RUN\nrunId: r_abc123\nlogMessage: Deployed\nsummary: Done\n",
            "properties: '{\"a\": }'\n",
            "::warning title=Inputs ignored::Input 'properties' is not used by PATCH_RUN and \
             was ignored",
        ),
        (
            "operation: CREATE_RUN\naction: deploy_service\nproperties: '{\"env\": \"prod\"}'\n",
            "blueprint: my blueprint\n",
            "::warning title=Inputs ignored::Input 'blueprint' is not used by CREATE_RUN and \
             was ignored",
        ),
        (
            "operation: GET\nblueprint: service\nidentifier: payments\n",
            "wait: true\nquery: '{'\nentities: '[{]'\ntitle: x\n",
            "::warning title=Inputs ignored::Inputs 'title', 'entities', 'query', 'wait' are \
             not used by GET and were ignored",
        ),
    ];
    for (step, leftover, warning) in cases {
        let (plain, plain_out) = on_the_wire(step);
        assert!(
            !plain_out.stdout.contains("::warning"),
            "{}",
            plain_out.stdout
        );
        let (with_leftover, out) = on_the_wire(&format!("{step}{leftover}"));
        assert_eq!(with_leftover, plain, "{leftover}");
        let warnings: Vec<&str> = out
            .stdout
            .lines()
            .filter(|l| l.starts_with("::warning"))
            .collect();
        assert_eq!(warnings, [warning]);
    }
}
