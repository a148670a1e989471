//! Requests whose answer is lost after Port did the work (the stand-in handles the request, then
//! drops the connection): a request is sent again only when a second copy changes nothing, so
//! nothing is ever written twice, and a step that cannot know what Port did says so. A write
//! Port refuses outright (a blueprint the organization lacks) is final. And a bulk upsert keeps
//! several batches in flight.

use port_stand_in::{Fault, FaultKind, Options, StandIn};
use serde_json::{json, Value};

use crate::support::{
    assert_spec_clean, lines, stand_in_with_run, statuses, Step, WORKFLOW_RUN_URL,
};

const TOKEN: &str = "POST /v1/auth/access_token";
const UPSERT: &str = "POST /v1/blueprints/service/entities?upsert=true&merge=true&run_id=r_demo";
const BULK: &str = "POST /v1/blueprints/service/entities/bulk?upsert=true&merge=true&run_id=r_demo";
const POST_LOG: &str = "POST /v1/actions/runs/r_demo/logs";

/// The next request whose `METHOD /path` starts with `matches` is handled, and its answer lost.
fn lose_answer(port: &StandIn, matches: &str) {
    port.push_fault(Fault {
        matches: matches.into(),
        kind: FaultKind::ResetAfterHandling,
    });
}

/// A step with short limits, so that a wrong retry shows within seconds.
fn step(port: &StandIn) -> Step {
    Step::new(port)
        .input("requestTimeout", "2s")
        .input("timeout", "8s")
}

#[test]
fn an_upsert_by_identifier_whose_answer_is_lost_is_sent_again_and_written_once() {
    let port = stand_in_with_run();
    lose_answer(&port, "POST /v1/blueprints/service/entities");
    let out = step(&port)
        .input("blueprint", "service")
        .input("identifier", "payments")
        .input("properties", r#"{"replicas": 3}"#)
        .run();
    out.assert_success();
    assert_eq!(lines(&port), [TOKEN, UPSERT, UPSERT]);
    assert_eq!(statuses(&port), [200, 0, 201]);
    assert_eq!(out.output("identifier"), Some("payments"));
    let entities = port.entities("service");
    assert_eq!(entities.len(), 1, "{entities:#?}");
    assert_eq!(entities[0]["identifier"], "payments");
    assert_eq!(entities[0]["properties"]["replicas"], 3);
    assert!(out.stdout.contains("(attempt 2 of 5)"), "{}", out.stdout);
    assert_spec_clean(&port);
}

#[test]
fn an_upsert_without_identifier_whose_answer_is_lost_is_not_sent_again() {
    let port = stand_in_with_run();
    lose_answer(&port, "POST /v1/blueprints/service/entities");
    let out = step(&port)
        .input("blueprint", "service")
        .input("title", "Payments")
        .run();
    out.assert_failure(&format!(
        "cannot upsert the entity in blueprint 'service': cannot reach Port: POST {}/v1/blueprints/service/entities",
        port.url()
    ));
    let error = out.errors()[0];
    assert!(
        error.contains("the answer was lost after the request was sent, so Port may have done it")
            && error.contains(
                "the request was not sent again, because Port picks the identifier of an entity \
                 sent without one, so a second copy would create a second entity"
            ),
        "{error}"
    );
    assert_eq!(lines(&port), [TOKEN, UPSERT], "sent once");
    let entities = port.entities("service");
    assert_eq!(entities.len(), 1, "Port stored it once: {entities:#?}");
    assert_eq!(entities[0]["title"], "Payments");
    assert!(!out.stdout.contains("trying again"), "{}", out.stdout);
    assert_eq!(out.output("identifier"), None);
    assert_spec_clean(&port);
}

#[test]
fn a_bulk_batch_with_an_entity_without_identifier_is_not_sent_again_when_its_answer_is_lost() {
    let port = stand_in_with_run();
    lose_answer(&port, "POST /v1/blueprints/service/entities/bulk");
    let entities = json!([
        {"identifier": "svc-a", "properties": {"n": 1}},
        {"title": "Named by Port"},
        {"identifier": "svc-c", "properties": {"n": 3}},
    ]);
    let out = step(&port)
        .input("operation", "BULK_UPSERT")
        .input("blueprint", "service")
        .input("entities", &entities.to_string())
        .run();
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert_eq!(lines(&port), [TOKEN, BULK], "the batch is sent once");
    let stored = port.entities("service");
    assert_eq!(stored.len(), 3, "Port stored each once: {stored:#?}");

    // Nothing is known to be written; each element of the batch says why.
    assert_eq!(out.json_output("identifiers"), json!([]));
    let failed = out.json_output("failed");
    let failed = failed.as_array().unwrap();
    assert_eq!(failed.len(), 3, "{failed:#?}");
    for (i, f) in failed.iter().enumerate() {
        assert_eq!(f["index"], i, "{f}");
        assert_eq!(f["error"], "no_answer", "{f}");
        let message = f["message"].as_str().unwrap();
        assert!(
            message.contains("the answer was lost after the request was sent")
                && message.contains("Port picks the identifier of an entity sent without one"),
            "{message}"
        );
    }
    assert_eq!(failed[0]["identifier"], "svc-a");
    assert_eq!(failed[1]["identifier"], Value::Null);
    assert!(
        out.errors().iter().any(|e| e.contains(
            "3 of 3 entities were not written, or not confirmed: 3 got no answer and Port \
                 may have written them"
        )),
        "{}",
        out.stdout
    );
    assert_spec_clean(&port);
}

#[test]
fn a_created_run_whose_answer_is_lost_is_not_created_twice() {
    let port = stand_in_with_run();
    lose_answer(&port, "POST /v1/actions/deploy_service/runs");
    let out = step(&port)
        .event(None)
        .input("operation", "CREATE_RUN")
        .input("action", "deploy_service")
        .input("properties", r#"{"version": "1.2.3"}"#)
        .run();
    out.assert_failure(
        "cannot create a run of Port action 'deploy_service': cannot reach Port: POST ",
    );
    assert!(
        out.errors()[0].contains(
            "the request was not sent again, because a second copy would start a second run \
             of the action"
        ),
        "{}",
        out.stdout
    );
    assert_eq!(
        lines(&port),
        [TOKEN, "POST /v1/actions/deploy_service/runs"]
    );
    let created: Vec<Value> = port
        .runs()
        .into_iter()
        .filter(|r| r["action"]["identifier"] == "deploy_service")
        .collect();
    assert_eq!(created.len(), 1, "one run started: {created:#?}");
    assert_eq!(created[0]["properties"]["version"], "1.2.3");
    assert_spec_clean(&port);
}

#[test]
fn a_log_line_whose_answer_is_lost_is_posted_once() {
    let port = stand_in_with_run();
    lose_answer(&port, POST_LOG);
    let out = step(&port)
        .input("blueprint", "service")
        .input("identifier", "payments")
        .input("logMessage", "Deployed 1.2.3")
        .run();
    out.assert_failure(&format!(
        "cannot post the log line to Port run r_demo: cannot reach Port: POST {}/v1/actions/runs/r_demo/logs",
        port.url()
    ));
    assert!(
        out.errors()[0].contains("because a second copy would show the line twice"),
        "{}",
        out.stdout
    );
    assert_eq!(lines(&port), [TOKEN, UPSERT, POST_LOG]);
    let logs = port.logs("r_demo");
    assert_eq!(logs.len(), 1, "{logs:#?}");
    assert_eq!(logs[0]["message"], "Deployed 1.2.3");
    assert_eq!(port.entities("service").len(), 1);
    assert_spec_clean(&port);
}

#[test]
fn an_upsert_to_a_blueprint_port_lacks_is_ports_404_and_not_sent_again() {
    let port = stand_in_with_run();
    port.add_blueprint("service");
    let out = step(&port)
        .input("blueprint", "servise")
        .input("identifier", "payments")
        .run();
    out.assert_failure(
        "cannot upsert the entity in blueprint 'servise': Port API 404 not_found: Blueprint \
         with identifier \"servise\" was not found (POST /v1/blueprints/servise/entities, trace id ",
    );
    assert_eq!(
        lines(&port),
        [
            TOKEN,
            "POST /v1/blueprints/servise/entities?upsert=true&merge=true&run_id=r_demo"
        ]
    );
    assert!(port.entities("servise").is_empty());
    assert_spec_clean(&port);
}

#[test]
fn a_bulk_upsert_to_a_blueprint_port_lacks_lists_each_entity_as_failed() {
    let port = stand_in_with_run();
    port.add_blueprint("service");
    let entities = json!([{"identifier": "svc-a"}, {"identifier": "svc-b"}]);
    let out = step(&port)
        .input("operation", "BULK_UPSERT")
        .input("blueprint", "servise")
        .input("entities", &entities.to_string())
        .run();
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert_eq!(
        lines(&port),
        [
            TOKEN,
            "POST /v1/blueprints/servise/entities/bulk?upsert=true&merge=true&run_id=r_demo"
        ]
    );
    assert_eq!(out.json_output("identifiers"), json!([]));
    let failed = out.json_output("failed");
    let failed = failed.as_array().unwrap();
    assert_eq!(failed.len(), 2, "{failed:#?}");
    for f in failed {
        assert_eq!(f["error"], "not_found", "{f}");
        assert!(
            f["message"]
                .as_str()
                .unwrap()
                .starts_with("Blueprint with identifier \"servise\" was not found"),
            "{f}"
        );
    }
    assert!(port.entities("servise").is_empty());
    assert_spec_clean(&port);
}

#[test]
fn a_bulk_upsert_sends_several_batches_at_once_by_default() {
    let port = StandIn::start_with(Options {
        latency: std::time::Duration::from_millis(150),
        ..Options::default()
    });
    port.add_run("r_demo", "IN_PROGRESS", &[WORKFLOW_RUN_URL]);
    let entities: Vec<Value> = (0..100)
        .map(|i| json!({"identifier": format!("svc-{i:03}"), "properties": {"n": i}}))
        .collect();
    let out = Step::new(&port)
        .input("operation", "BULK_UPSERT")
        .input("blueprint", "service")
        .input("entities", &serde_json::to_string(&entities).unwrap())
        .run();
    out.assert_success();
    let bulk = lines(&port).iter().filter(|l| *l == BULK).count();
    assert_eq!(bulk, 5, "100 entities in batches of 20");
    assert_eq!(port.entities("service").len(), 100);
    // action.yml's default `concurrency` is 4: never more, and more than one at a time.
    let most = port.max_in_flight();
    assert!((2..=4).contains(&most), "{most} requests in flight at once");
    assert_spec_clean(&port);
}
