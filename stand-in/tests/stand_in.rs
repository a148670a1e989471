//! The stand-in seen from an HTTP client: Port's shapes and errors, the spec check, the model's
//! rules, fault injection and the binary.

use std::time::Duration;

use port_stand_in::{
    modelled_operations, spec_operation, Fault, FaultKind, Options, StandIn, CLIENT_ID,
    CLIENT_SECRET,
};
use reqwest::{Client, Method, Response};
use serde_json::{json, Value};

struct Port {
    stand_in: StandIn,
    client: Client,
    token: String,
}

async fn token(client: &Client, url: &str) -> String {
    let r = client
        .post(format!("{url}/v1/auth/access_token"))
        .json(&json!({"clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["ok"], true);
    assert_eq!(body["tokenType"], "Bearer");
    assert!(body["expiresIn"].as_u64().is_some());
    body["accessToken"].as_str().unwrap().to_string()
}

impl Port {
    async fn start() -> Port {
        Port::start_with(Options::default()).await
    }

    async fn start_with(options: Options) -> Port {
        let stand_in = StandIn::start_with(options);
        let client = Client::builder()
            .timeout(Duration::from_secs(10))
            .no_proxy()
            .build()
            .unwrap();
        let token = token(&client, &stand_in.url()).await;
        Port {
            stand_in,
            client,
            token,
        }
    }

    async fn send(&self, method: Method, path_and_query: &str, body: Option<Value>) -> Response {
        let mut req = self
            .client
            .request(method, format!("{}{path_and_query}", self.stand_in.url()))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        req.send().await.unwrap()
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let r = self.send(method, path, body).await;
        let status = r.status().as_u16();
        assert!(r.headers().contains_key("x-trace-id"));
        (status, r.json().await.unwrap())
    }

    async fn upsert(&self, bp: &str, query: &str, body: Value) -> (u16, Value) {
        self.call(
            Method::POST,
            &format!("/v1/blueprints/{bp}/entities?upsert=true&{query}"),
            Some(body),
        )
        .await
    }
}

fn error_code(body: &Value) -> &str {
    assert_eq!(body["ok"], false, "{body}");
    assert!(body["message"].is_string(), "{body}");
    body["error"].as_str().unwrap()
}

#[tokio::test]
async fn a_valid_upsert_is_stored_and_merge_changes_only_given_fields() {
    let port = Port::start().await;
    let (status, body) = port
        .upsert(
            "service",
            "merge=true",
            json!({"identifier": "svc-a", "title": "A", "team": "platform",
                   "properties": {"lang": "rust", "tier": 1}, "relations": {"domain": "pay"}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["ok"], true);
    let entity = &body["entity"];
    assert_eq!(entity["identifier"], "svc-a");
    assert_eq!(entity["blueprint"], "service");
    assert_eq!(entity["team"], json!(["platform"]));
    for key in ["createdAt", "updatedAt", "createdBy", "updatedBy"] {
        assert!(entity[key].is_string(), "{key}");
    }
    assert_eq!(port.stand_in.entity("service", "svc-a").unwrap(), *entity);

    // merge=true: only the given fields change.
    let (status, _) = port
        .upsert(
            "service",
            "merge=true",
            json!({"identifier": "svc-a", "properties": {"tier": 2}}),
        )
        .await;
    assert_eq!(status, 201);
    let stored = port.stand_in.entity("service", "svc-a").unwrap();
    assert_eq!(stored["title"], "A");
    assert_eq!(stored["properties"], json!({"lang": "rust", "tier": 2}));
    assert_eq!(stored["relations"], json!({"domain": "pay"}));

    // Without merge the entity is replaced.
    let (status, _) = port
        .upsert(
            "service",
            "",
            json!({"identifier": "svc-a", "properties": {"tier": 3}}),
        )
        .await;
    assert_eq!(status, 201);
    let stored = port.stand_in.entity("service", "svc-a").unwrap();
    assert!(stored.get("title").is_none());
    assert_eq!(stored["properties"], json!({"tier": 3}));
    assert_eq!(stored["relations"], json!({}));

    // No identifier: one is generated.
    let (status, body) = port.upsert("service", "", json!({"properties": {}})).await;
    assert_eq!(status, 201);
    let generated = body["entity"]["identifier"].as_str().unwrap();
    assert!(port.stand_in.entity("service", generated).is_some());
    assert_eq!(port.stand_in.entities("service").len(), 2);

    // upsert=false on an existing entity.
    let (status, body) = port
        .call(
            Method::POST,
            "/v1/blueprints/service/entities?upsert=false",
            Some(json!({"identifier": "svc-a"})),
        )
        .await;
    assert_eq!((status, error_code(&body)), (409, "identifier_taken"));

    // validation_only stores nothing.
    let (status, _) = port
        .upsert(
            "service",
            "validation_only=true",
            json!({"identifier": "dry"}),
        )
        .await;
    assert_eq!(status, 201);
    assert!(port.stand_in.entity("service", "dry").is_none());

    assert!(port.stand_in.spec_violations().is_empty());
    let requests = port.stand_in.requests();
    assert_eq!(
        requests[1].line(),
        "POST /v1/blueprints/service/entities?upsert=true&merge=true"
    );
    assert_eq!(requests[1].status, 201);
    assert!(requests[1]
        .header("Authorization")
        .unwrap()
        .starts_with("Bearer "));
}

#[tokio::test]
async fn identifiers_with_reserved_characters_round_trip_percent_encoded() {
    let port = Port::start().await;
    let id = "team/app:prod+x=y@é";
    let (status, _) = port.upsert("service", "", json!({"identifier": id})).await;
    assert_eq!(status, 201);
    let encoded: String = id
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let path = format!("/v1/blueprints/service/entities/{encoded}");
    let (status, body) = port.call(Method::GET, &path, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["entity"]["identifier"], id);
    let last = port.stand_in.requests().pop().unwrap();
    assert_eq!(last.path, path);
    assert!(last.spec_errors.is_empty(), "{:?}", last.spec_errors);
}

#[tokio::test]
async fn answers_are_checked_against_the_spec_too() {
    let port = Port::start().await;
    // A run no Port could hold: the spec's run has a string status.
    port.stand_in
        .add_run_json(json!({"id": "r_odd", "status": 42}));
    port.stand_in.add_run("r_ok", "SUCCESS", &[]);
    let (status, _) = port.call(Method::GET, "/v1/actions/runs/r_ok", None).await;
    assert_eq!(status, 200);
    // An error status the spec does not list for the route (400 run_exhausted) is checked
    // against the route's error shape, and passes.
    let (status, body) = port
        .upsert("service", "run_id=r_ok", json!({"identifier": "a"}))
        .await;
    assert_eq!((status, error_code(&body)), (400, "run_exhausted"));
    assert_eq!(port.stand_in.spec_violations(), Vec::<String>::new());

    let (status, _) = port.call(Method::GET, "/v1/actions/runs/r_odd", None).await;
    assert_eq!(status, 200, "the answer is sent as it is");
    let violations = port.stand_in.spec_violations();
    assert_eq!(violations.len(), 1, "{violations:#?}");
    assert!(
        violations[0]
            .starts_with("GET /v1/actions/runs/r_odd: answer 200/run/status: 42 is not of type"),
        "{violations:#?}"
    );
    assert!(
        port.stand_in.requests()[3].spec_errors.is_empty(),
        "the request was fine"
    );
}

#[tokio::test]
async fn spec_violations_are_recorded_and_answered_422() {
    let port = Port::start().await;
    for bad in [".", ".."] {
        let (status, body) = port.upsert("service", "", json!({"identifier": bad})).await;
        assert_eq!((status, error_code(&body)), (422, "invalid_request"));
    }
    let last = port.stand_in.requests().pop().unwrap();
    assert!(
        last.spec_errors[0].starts_with("body/identifier"),
        "{:?}",
        last.spec_errors
    );

    // The spec leaves entity bodies open: an extra key passes unless strict mode is on.
    let (status, _) = port
        .upsert("service", "", json!({"identifier": "ok", "propertiez": {}}))
        .await;
    assert_eq!(status, 201);

    // An undeclared query parameter, a non-boolean flag, a missing required one.
    let (status, _) = port
        .upsert("service", "nope=1", json!({"identifier": "x"}))
        .await;
    assert_eq!(status, 422);
    let (status, _) = port
        .upsert("service", "merge=yes", json!({"identifier": "x"}))
        .await;
    assert_eq!(status, 422);
    let (status, _) = port
        .call(
            Method::POST,
            "/v1/blueprints/service/entities",
            Some(json!({"identifier": "x"})),
        )
        .await;
    assert_eq!(status, 422);

    // PATCH of a run takes no icon.
    port.stand_in.add_run("r_1", "IN_PROGRESS", &[]);
    let (status, body) = port
        .call(
            Method::PATCH,
            "/v1/actions/runs/r_1",
            Some(json!({"icon": "GithubActions"})),
        )
        .await;
    assert_eq!((status, error_code(&body)), (422, "invalid_request"));
    assert!(port.stand_in.run("r_1").unwrap().get("icon").is_none());

    let violations = port.stand_in.spec_violations();
    assert_eq!(violations.len(), 6, "{violations:#?}");
    assert!(violations[0].starts_with("POST /v1/blueprints/service/entities: body/identifier"));
    assert!(violations.iter().any(|v| v.contains("\"nope\"")));
    assert!(violations.iter().any(|v| v.contains("querystring/merge")));
    assert!(violations
        .iter()
        .any(|v| v.contains("\"upsert\" is missing")));
    assert!(violations
        .last()
        .unwrap()
        .starts_with("PATCH /v1/actions/runs/r_1: body"));
}

#[tokio::test]
async fn strict_mode_flags_unknown_entity_keys() {
    let port = Port::start_with(Options {
        strict_entity_keys: true,
        ..Options::default()
    })
    .await;
    let (status, _) = port
        .upsert("service", "", json!({"identifier": "ok", "propertiez": {}}))
        .await;
    assert_eq!(status, 422);
    let (status, _) = port
        .call(
            Method::POST,
            "/v1/blueprints/service/entities/bulk?upsert=true",
            Some(json!({"entities": [{"identifier": "a"}, {"identifier": "b", "colour": 1}]})),
        )
        .await;
    assert_eq!(status, 422);
    let violations = port.stand_in.spec_violations();
    assert!(violations[1].contains("body/entities/1: unknown entity key \"colour\""));
}

#[tokio::test]
async fn bad_bodies_get_ports_answers() {
    let port = Port::start().await;
    let url = format!(
        "{}/v1/blueprints/service/entities?upsert=true",
        port.stand_in.url()
    );
    let r = port
        .client
        .post(&url)
        .bearer_auth(&port.token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let big = "x".repeat(1024 * 1024 + 1);
    let r = port
        .client
        .post(&url)
        .bearer_auth(&port.token)
        .json(&json!({"identifier": "big", "properties": {"blob": big}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    assert!(port.stand_in.entity("service", "big").is_none());
    let r = port
        .client
        .delete(format!(
            "{}/v1/blueprints/service/entities/x?delete_dependents=false",
            port.stand_in.url()
        ))
        .bearer_auth(&port.token)
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(port.stand_in.spec_violations().len(), 3);
}

#[tokio::test]
async fn writes_to_a_blueprint_the_organization_lacks_are_404() {
    let port = Port::start().await;
    port.stand_in.add_blueprint("service");
    port.stand_in.add_blueprint("domain");
    port.stand_in.add_run("r_live", "IN_PROGRESS", &[]);

    let (status, body) = port
        .upsert("servise", "run_id=r_live", json!({"identifier": "a"}))
        .await;
    assert_eq!((status, error_code(&body)), (404, "not_found"));
    assert_eq!(
        body["message"],
        "Blueprint with identifier \"servise\" was not found"
    );
    let (status, body) = port
        .call(
            Method::POST,
            "/v1/blueprints/servise/entities/bulk?upsert=true",
            Some(json!({"entities": [{"identifier": "a"}, {"title": "b"}]})),
        )
        .await;
    assert_eq!((status, error_code(&body)), (404, "not_found"), "{body}");
    assert!(port.stand_in.entities("servise").is_empty());

    // Declared blueprints take writes; one without entities has no such entity.
    let (status, _) = port
        .upsert("service", "run_id=r_live", json!({"identifier": "a"}))
        .await;
    assert_eq!(status, 201);
    let (status, body) = port
        .call(Method::GET, "/v1/blueprints/domain/entities/pay", None)
        .await;
    assert_eq!((status, error_code(&body)), (404, "not_found"));
    assert_eq!(
        body["message"],
        "Entity with identifier \"pay\" not found in blueprint \"domain\""
    );
    assert_eq!(port.stand_in.spec_violations(), Vec::<String>::new());
}

#[tokio::test]
async fn runs_that_ended_refuse_entity_writes_and_logs() {
    let port = Port::start().await;
    port.stand_in.add_run("r_done", "SUCCESS", &[]);
    port.stand_in.add_run("r_live", "IN_PROGRESS", &[]);

    // Port's spec with error codes: entity writes answer 400 `run_exhausted`, logs 422.
    let (status, body) = port
        .upsert("service", "run_id=r_done", json!({"identifier": "a"}))
        .await;
    assert_eq!((status, error_code(&body)), (400, "run_exhausted"));
    let (status, body) = port
        .upsert("service", "run_id=r_nope", json!({"identifier": "a"}))
        .await;
    assert_eq!((status, error_code(&body)), (404, "not_found"));
    let (status, body) = port
        .call(
            Method::POST,
            "/v1/blueprints/service/entities/bulk?upsert=true&run_id=r_done",
            Some(json!({"entities": [{"identifier": "a"}]})),
        )
        .await;
    assert_eq!((status, error_code(&body)), (400, "run_exhausted"));
    port.stand_in
        .add_entity("service", json!({"identifier": "old"}));
    let (status, body) = port
        .call(
            Method::DELETE,
            "/v1/blueprints/service/entities/old?delete_dependents=false&run_id=r_done",
            None,
        )
        .await;
    assert_eq!((status, error_code(&body)), (400, "run_exhausted"));
    assert!(port.stand_in.entities("service").len() == 1);

    let (status, body) = port
        .call(
            Method::POST,
            "/v1/actions/runs/r_done/logs",
            Some(json!({"message": "late"})),
        )
        .await;
    assert_eq!((status, error_code(&body)), (422, "run_exhausted"));
    assert_eq!(port.stand_in.spec_violations(), Vec::<String>::new());

    // A log with terminationStatus ends the run.
    let (status, body) = port
        .call(
            Method::POST,
            "/v1/actions/runs/r_live/logs",
            Some(
                json!({"message": "done", "terminationStatus": "FAILURE", "statusLabel": "broke"}),
            ),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["runLog"]["runId"], "r_live");
    assert_eq!(body["runLog"]["message"], "done");
    let run = port.stand_in.run("r_live").unwrap();
    assert_eq!(run["status"], "FAILURE");
    assert_eq!(run["statusLabel"], "broke");
    assert!(run["endedAt"].is_string());
    assert_eq!(port.stand_in.logs("r_live").len(), 1);
    let (status, _) = port
        .call(
            Method::POST,
            "/v1/actions/runs/r_live/logs",
            Some(json!({"message": "again"})),
        )
        .await;
    assert_eq!(status, 422);
    let (status, _) = port
        .upsert("service", "run_id=r_live", json!({"identifier": "b"}))
        .await;
    assert_eq!(status, 400);
    assert!(port.stand_in.spec_violations().is_empty());
}

#[tokio::test]
async fn run_patch_get_create_and_find_by_external_id() {
    let port = Port::start().await;
    port.stand_in.add_run("r_1", "IN_PROGRESS", &["https://a"]);
    let (status, body) = port
        .call(Method::GET, "/v1/actions/runs/r_1?version=v2", None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["run"]["link"], json!(["https://a"]));
    assert_eq!(body["run"]["action"]["identifier"], "demo_action");

    let (status, body) = port
        .call(
            Method::PATCH,
            "/v1/actions/runs/r_1",
            Some(json!({"statusLabel": "deploying", "link": "https://b", "externalRunId": "gh_1"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["run"]["link"], json!(["https://b"]));
    assert_eq!(body["run"]["status"], "IN_PROGRESS");
    assert!(body["run"].get("endedAt").is_none());
    let (_, body) = port
        .call(
            Method::PATCH,
            "/v1/actions/runs/r_1",
            Some(json!({"status": "SUCCESS", "summary": "ok"})),
        )
        .await;
    assert_eq!(body["run"]["status"], "SUCCESS");
    assert!(body["run"]["endedAt"].is_string());
    assert_eq!(body["run"]["statusLabel"], "deploying");

    let (status, body) = port
        .call(
            Method::GET,
            "/v1/actions/runs?external_run_id=gh_1&version=v2",
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["runs"].as_array().unwrap().len(), 1);
    assert_eq!(body["runs"][0]["id"], "r_1");

    let (status, body) = port.call(Method::GET, "/v1/actions/runs/r_x", None).await;
    assert_eq!((status, error_code(&body)), (404, "not_found"));
    assert_eq!(body["message"], "Run with id \"r_x\" not found");
    let (status, _) = port
        .call(
            Method::PATCH,
            "/v1/actions/runs/r_x",
            Some(json!({"summary": "s"})),
        )
        .await;
    assert_eq!(status, 404);

    port.stand_in
        .add_run_json(json!({"id": "r_sync", "synchronized": true}));
    let (status, body) = port
        .call(
            Method::PATCH,
            "/v1/actions/runs/r_sync",
            Some(json!({"status": "FAILURE"})),
        )
        .await;
    assert_eq!((status, error_code(&body)), (422, "run_synchronized_error"));
    let (status, _) = port
        .call(
            Method::PATCH,
            "/v1/actions/runs/r_sync",
            Some(json!({"statusLabel": "fine"})),
        )
        .await;
    assert_eq!(status, 200);

    // A created run finishes after the configured number of reads.
    port.stand_in.finish_created_runs_after(2, "SUCCESS");
    let (status, body) = port
        .call(
            Method::POST,
            "/v1/actions/deploy/runs",
            Some(json!({"properties": {"env": "prod"}, "entity": "svc-a"})),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let id = body["run"]["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("r_"));
    assert_eq!(body["run"]["status"], "IN_PROGRESS");
    assert_eq!(body["run"]["action"]["identifier"], "deploy");
    let mut seen = Vec::new();
    for _ in 0..3 {
        let (_, body) = port
            .call(
                Method::GET,
                &format!("/v1/actions/runs/{id}?version=v2"),
                None,
            )
            .await;
        seen.push(body["run"]["status"].as_str().unwrap().to_string());
    }
    assert_eq!(seen, ["IN_PROGRESS", "IN_PROGRESS", "SUCCESS"]);
    assert!(port.stand_in.spec_violations().is_empty());
}

#[tokio::test]
async fn bulk_reports_rejected_entities_with_207() {
    let port = Port::start().await;
    port.stand_in
        .reject_entity("service", "bad", 422, "blueprint_schema_mismatch", "no");
    let (status, body) = port
        .call(
            Method::POST,
            "/v1/blueprints/service/entities/bulk?upsert=true&merge=true",
            Some(json!({"entities": [{"identifier": "a"}, {"identifier": "bad"}, {"identifier": "c"}]})),
        )
        .await;
    assert_eq!(status, 207, "{body}");
    assert_eq!(
        body["entities"],
        json!([{"created": true, "identifier": "a", "index": 0},
               {"created": true, "identifier": "c", "index": 2}])
    );
    assert_eq!(
        body["errors"],
        json!([{"identifier": "bad", "index": 1, "statusCode": 422,
                "error": "blueprint_schema_mismatch", "message": "no"}])
    );
    assert!(port.stand_in.entity("service", "bad").is_none());

    let (status, body) = port
        .call(
            Method::POST,
            "/v1/blueprints/service/entities/bulk?upsert=true",
            Some(json!({"entities": [{"identifier": "a"}]})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["entities"][0]["created"], false);
    assert_eq!(body["errors"], json!([]));

    // A single upsert of a rejected entity gets that status.
    let (status, body) = port
        .upsert("service", "", json!({"identifier": "bad"}))
        .await;
    assert_eq!(
        (status, error_code(&body)),
        (422, "blueprint_schema_mismatch")
    );

    let many: Vec<Value> = (0..21)
        .map(|i| json!({"identifier": format!("e{i}")}))
        .collect();
    let (status, body) = port
        .call(
            Method::POST,
            "/v1/blueprints/service/entities/bulk?upsert=true",
            Some(json!({"entities": many})),
        )
        .await;
    assert_eq!((status, error_code(&body)), (422, "invalid_request"));
    assert_eq!(
        port.stand_in.spec_violations().len(),
        1,
        "{:#?}",
        port.stand_in.spec_violations()
    );
}

#[tokio::test]
async fn get_include_delete_dependents_and_search() {
    let port = Port::start().await;
    port.stand_in.add_entity(
        "domain",
        json!({"identifier": "pay", "title": "Payments", "properties": {"tier": 1}}),
    );
    port.stand_in.add_entity(
        "service",
        json!({"identifier": "svc", "title": "Svc", "team": ["a"],
               "properties": {"lang": "rust"}, "relations": {"domain": "pay"}}),
    );
    let (status, body) = port
        .call(
            Method::GET,
            "/v1/blueprints/service/entities/svc?include=identifier&include=properties.lang",
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        body["entity"],
        json!({"identifier": "svc", "properties": {"lang": "rust"}})
    );
    let (status, body) = port
        .call(Method::GET, "/v1/blueprints/service/entities/nope", None)
        .await;
    assert_eq!((status, error_code(&body)), (404, "not_found"));

    let (status, body) = port
        .call(
            Method::POST,
            "/v1/entities/search?include=identifier",
            Some(json!({"combinator": "or", "rules": [
                {"property": "$blueprint", "operator": "=", "value": "domain"},
                {"combinator": "and", "rules": [
                    {"property": "lang", "operator": "in", "value": ["rust", "go"]},
                    {"property": "$team", "operator": "isNotEmpty"}
                ]}
            ]})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["entities"],
        json!([{"identifier": "pay"}, {"identifier": "svc"}])
    );

    let (status, body) = port
        .call(
            Method::DELETE,
            "/v1/blueprints/domain/entities/pay?delete_dependents=false",
            None,
        )
        .await;
    assert_eq!((status, error_code(&body)), (403, "has_dependents"));
    let (status, body) = port
        .call(
            Method::DELETE,
            "/v1/blueprints/domain/entities/pay?delete_dependents=true",
            None,
        )
        .await;
    assert_eq!((status, body), (200, json!({"ok": true})));
    assert!(port.stand_in.entities("service").is_empty());
    let (status, _) = port
        .call(
            Method::DELETE,
            "/v1/blueprints/domain/entities/pay?delete_dependents=true",
            None,
        )
        .await;
    assert_eq!(status, 404);
    assert!(port.stand_in.spec_violations().is_empty());
}

#[tokio::test]
async fn tokens_expire_and_routes_need_them() {
    let port = Port::start().await;
    // The same token is returned while it lives, with Port's 3-hour lifetime.
    let r = port
        .client
        .post(format!("{}/v1/auth/access_token", port.stand_in.url()))
        .json(&json!({"clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET}))
        .send()
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    assert!(body["expiresIn"].as_u64().unwrap() > 10_000);
    assert_eq!(token(&port.client, &port.stand_in.url()).await, port.token);
    port.stand_in.add_run("r_1", "IN_PROGRESS", &[]);
    let (status, _) = port.call(Method::GET, "/v1/actions/runs/r_1", None).await;
    assert_eq!(status, 200);

    port.stand_in.expire_tokens();
    let (status, body) = port.call(Method::GET, "/v1/actions/runs/r_1", None).await;
    assert_eq!((status, error_code(&body)), (401, "unauthorized"));
    let fresh = token(&port.client, &port.stand_in.url()).await;
    assert_ne!(fresh, port.token);
    let r = port
        .client
        .get(format!("{}/v1/actions/runs/r_1", port.stand_in.url()))
        .bearer_auth(&fresh)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let r = port
        .client
        .get(format!("{}/v1/actions/runs/r_1", port.stand_in.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = port
        .client
        .post(format!("{}/v1/auth/access_token", port.stand_in.url()))
        .json(&json!({"clientId": CLIENT_ID, "clientSecret": "wrong"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    assert_eq!(error_code(&body), "unauthorized");
}

#[tokio::test]
async fn short_lived_tokens_expire_by_themselves() {
    let port = Port::start_with(Options {
        token_ttl_secs: 1,
        ..Options::default()
    })
    .await;
    port.stand_in.add_run("r_1", "IN_PROGRESS", &[]);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, _) = port.call(Method::GET, "/v1/actions/runs/r_1", None).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn every_answer_carries_trace_and_rate_limit_headers() {
    let port = Port::start().await;
    let mut traces = Vec::new();
    for path in ["/v1/actions/runs/r_x", "/v1/nowhere"] {
        let r = port.send(Method::GET, path, None).await;
        assert_eq!(r.status(), 404);
        for h in [
            "x-ratelimit-limit",
            "x-ratelimit-remaining",
            "x-ratelimit-reset",
            "x-ratelimit-period",
        ] {
            assert!(r.headers().contains_key(h), "{h}");
        }
        assert!(r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json"));
        traces.push(r.headers()["x-trace-id"].to_str().unwrap().to_string());
        let body: Value = r.json().await.unwrap();
        assert_eq!(error_code(&body), "not_found");
    }
    assert_ne!(traces[0], traces[1]);
    // The unknown route is a spec violation; the unknown run is not.
    assert_eq!(port.stand_in.spec_violations().len(), 1);
}

#[tokio::test]
async fn faults_respond_reset_and_hang() {
    let port = Port::start().await;
    port.stand_in.add_run("r_1", "IN_PROGRESS", &[]);
    port.stand_in.push_fault(Fault {
        matches: "PATCH /v1/actions/runs/".into(),
        kind: FaultKind::Respond {
            status: 503,
            headers: vec![("retry-after".into(), "1".into())],
            body: json!({"ok": false, "error": "unavailable", "message": "try later"}),
        },
    });
    port.stand_in.push_fault(Fault {
        matches: "GET /v1/actions/runs/".into(),
        kind: FaultKind::Reset,
    });
    port.stand_in.push_fault(Fault {
        matches: "GET /v1/actions/runs/".into(),
        kind: FaultKind::Hang,
    });

    let r = port
        .send(
            Method::PATCH,
            "/v1/actions/runs/r_1",
            Some(json!({"summary": "x"})),
        )
        .await;
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "1");
    assert!(port.stand_in.run("r_1").unwrap().get("summary").is_none());

    let err = port
        .client
        .get(format!("{}/v1/actions/runs/r_1", port.stand_in.url()))
        .bearer_auth(&port.token)
        .send()
        .await
        .unwrap_err();
    assert!(!err.is_timeout(), "{err:?}");

    let err = port
        .client
        .get(format!("{}/v1/actions/runs/r_1", port.stand_in.url()))
        .bearer_auth(&port.token)
        .timeout(Duration::from_millis(300))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");

    // The faults are used up.
    let (status, _) = port.call(Method::GET, "/v1/actions/runs/r_1", None).await;
    assert_eq!(status, 200);
    let statuses: Vec<u16> = port.stand_in.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 503, 0, 0, 200]);
}

#[tokio::test]
async fn faults_after_handling_change_the_state_and_lose_or_replace_the_answer() {
    let port = Port::start().await;
    port.stand_in.add_run("r_1", "IN_PROGRESS", &[]);
    for matches in [
        "POST /v1/blueprints/service/entities",
        "POST /v1/actions/runs/r_1/logs",
        "POST /v1/actions/deploy/runs",
    ] {
        port.stand_in.push_fault(Fault {
            matches: matches.into(),
            kind: FaultKind::ResetAfterHandling,
        });
    }
    port.stand_in.push_fault(Fault {
        matches: "POST /v1/blueprints/service/entities/bulk".into(),
        kind: FaultKind::RespondAfterHandling {
            status: 502,
            headers: vec![],
            body: json!("<html>Bad Gateway</html>"),
        },
    });

    let lost = |r: reqwest::Result<Response>| {
        let err = r.unwrap_err();
        assert!(!err.is_timeout() && !err.is_connect(), "{err:?}");
    };
    let url = port.stand_in.url();
    let post = |path: &str, body: Value| {
        port.client
            .post(format!("{url}{path}"))
            .bearer_auth(&port.token)
            .json(&body)
            .send()
    };
    lost(
        post(
            "/v1/blueprints/service/entities?upsert=true",
            json!({"title": "a"}),
        )
        .await,
    );
    lost(post("/v1/actions/runs/r_1/logs", json!({"message": "line"})).await);
    lost(post("/v1/actions/deploy/runs", json!({"properties": {}})).await);
    let r = post(
        "/v1/blueprints/service/entities/bulk?upsert=true",
        json!({"entities": [{"identifier": "b"}]}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 502);
    assert_eq!(r.text().await.unwrap(), "<html>Bad Gateway</html>");

    // Each handler ran although no answer (or another answer) went back.
    let entities = port.stand_in.entities("service");
    assert_eq!(entities.len(), 2, "{entities:?}");
    assert_eq!(entities[0]["title"], "a");
    assert_eq!(entities[1]["identifier"], "b");
    assert_eq!(port.stand_in.logs("r_1").len(), 1);
    let (_, runs) = port
        .call(Method::GET, "/v1/actions/runs?action=deploy", None)
        .await;
    assert_eq!(runs["runs"].as_array().unwrap().len(), 1, "{runs}");
    let statuses: Vec<u16> = port.stand_in.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 0, 0, 0, 502, 200]);
    assert!(port.stand_in.spec_violations().is_empty());
}

#[tokio::test]
async fn latency_and_concurrency_are_observable() {
    let port = Port::start_with(Options {
        latency: Duration::from_millis(100),
        ..Options::default()
    })
    .await;
    port.stand_in.add_run("r_1", "IN_PROGRESS", &[]);
    let started = std::time::Instant::now();
    let get = || port.call(Method::GET, "/v1/actions/runs/r_1", None);
    let results = tokio::join!(get(), get(), get(), get());
    for (status, _) in [results.0, results.1, results.2, results.3] {
        assert_eq!(status, 200);
    }
    assert!(started.elapsed() < Duration::from_millis(380));
    assert_eq!(port.stand_in.max_in_flight(), 4);
}

#[test]
fn every_modelled_route_has_a_spec_operation() {
    let cases = [
        ("POST", "/v1/auth/access_token"),
        ("POST", "/v1/blueprints/service/entities"),
        ("POST", "/v1/blueprints/service/entities/bulk"),
        ("GET", "/v1/blueprints/service/entities/a%2Fb"),
        ("DELETE", "/v1/blueprints/service/entities/svc"),
        ("POST", "/v1/entities/search"),
        ("POST", "/v1/blueprints/service/entities/search"),
        ("GET", "/v1/actions/runs/r_1"),
        ("PATCH", "/v1/actions/runs/r_1"),
        ("POST", "/v1/actions/runs/r_1/logs"),
        ("POST", "/v1/actions/deploy/runs"),
        ("GET", "/v1/actions/runs"),
    ];
    let mut found = Vec::new();
    for (method, path) in cases {
        let op = spec_operation(method, path)
            .unwrap_or_else(|| panic!("no spec operation for {method} {path}"));
        found.push(op);
    }
    let modelled: Vec<String> = modelled_operations()
        .iter()
        .map(|(m, t)| format!("{m} {t}"))
        .collect();
    assert_eq!(found, modelled);
    assert_eq!(spec_operation("GET", "/v1/nowhere"), None);
    assert_eq!(spec_operation("GET", "/v1/actions/runs/"), None);
}

#[test]
fn the_binary_serves_logs_and_stops_when_stdin_closes() {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::process::{Command, Stdio};

    let dir = std::env::temp_dir().join(format!("port-stand-in-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("requests.jsonl");
    let _ = std::fs::remove_file(&log);
    let mut child = Command::new(env!("CARGO_BIN_EXE_port-stand-in"))
        .args(["--port", "0", "--latency-ms", "1", "--run", "r_demo"])
        .args(["--entities", "service=3", "--entities=domain=1"])
        .arg("--requests-log")
        .arg(&log)
        .arg("--until-stdin-closes")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    let url = first
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("first line: {first:?}"))
        .to_string();
    assert!(url.starts_with("http://127.0.0.1:"));

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let client = Client::builder().no_proxy().build().unwrap();
        let token = token(&client, &url).await;
        let r = client
            .get(format!("{url}/v1/actions/runs/r_demo?version=v2"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        // The seeded entities.
        let r = client
            .post(format!("{url}/v1/blueprints/service/entities/search"))
            .bearer_auth(&token)
            .json(&json!({"include": ["$identifier", "n"]}))
            .send()
            .await
            .unwrap();
        let body: Value = r.json().await.unwrap();
        assert_eq!(
            body["entities"],
            json!([
                {"identifier": "service-0", "properties": {"n": 0}},
                {"identifier": "service-1", "properties": {"n": 1}},
                {"identifier": "service-2", "properties": {"n": 2}}
            ])
        );
    });

    drop(child.stdin.take());
    let status = child.wait().unwrap();
    assert!(status.success());
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(
        stderr.contains("GET /v1/actions/runs/r_demo?version=v2 -> 200"),
        "{stderr}"
    );
    let lines: Vec<Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[1]["path"], "/v1/actions/runs/r_demo");
    assert_eq!(lines[1]["status"], 200);
    let _ = std::io::stderr().flush();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_blueprint_search_pages_with_opaque_cursors() {
    let port = Port::start().await;
    for i in 0..5 {
        port.stand_in.add_entity(
            "service",
            json!({"identifier": format!("s{i}"), "properties": {"n": i}}),
        );
    }
    port.stand_in
        .add_entity("domain", json!({"identifier": "d0"}));
    let path = "/v1/blueprints/service/entities/search";
    let mut seen = Vec::new();
    let mut from: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut body = json!({"limit": 2, "include": ["$identifier"]});
        if let Some(f) = &from {
            body["from"] = json!(f);
        }
        let (status, answer) = port.call(Method::POST, path, Some(body)).await;
        assert_eq!(status, 200, "{answer}");
        pages += 1;
        for e in answer["entities"].as_array().unwrap() {
            assert_eq!(e.as_object().unwrap().len(), 1, "{e}");
            seen.push(e["identifier"].as_str().unwrap().to_string());
        }
        match answer.get("next") {
            Some(next) => {
                let next = next.as_str().unwrap();
                assert!(next.len() >= 16, "an opaque cursor: {next}");
                from = Some(next.to_string());
            }
            None => break,
        }
    }
    assert_eq!(
        (pages, seen),
        (
            3,
            vec!["s0", "s1", "s2", "s3", "s4"]
                .into_iter()
                .map(String::from)
                .collect::<Vec<_>>()
        )
    );

    // A query narrows it; without `limit`, a page is the spec's default of 200.
    let (status, answer) = port
        .call(
            Method::POST,
            path,
            Some(json!({"query": {"combinator": "and", "rules": [
                {"property": "n", "operator": ">", "value": 2}]}})),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["entities"].as_array().unwrap().len(), 2);
    assert!(answer.get("next").is_none());

    // A cursor the search did not hand out, and a limit over the spec's maximum.
    let (status, answer) = port
        .call(Method::POST, path, Some(json!({"from": "nope"})))
        .await;
    assert_eq!((status, error_code(&answer)), (422, "invalid_request"));
    let (status, answer) = port
        .call(Method::POST, path, Some(json!({"limit": 1001})))
        .await;
    assert_eq!((status, error_code(&answer)), (422, "invalid_request"));
    let violations = port.stand_in.spec_violations();
    assert_eq!(violations.len(), 1, "{violations:?}");
}

#[tokio::test]
async fn search_answers_are_gzipped_when_asked() {
    use std::io::Read as _;
    let port = Port::start().await;
    // A client that leaves the encoding to the test, whichever reqwest features the workspace
    // turns on.
    let raw = Client::builder()
        .no_proxy()
        .no_gzip()
        .no_deflate()
        .build()
        .unwrap();
    port.stand_in
        .add_entity("service", json!({"identifier": "svc"}));
    let every = json!({"combinator": "and", "rules": []});
    for (path, body) in [
        ("/v1/entities/search", every.clone()),
        ("/v1/blueprints/service/entities/search", json!({})),
    ] {
        let r = raw
            .post(format!("{}{path}", port.stand_in.url()))
            .bearer_auth(&port.token)
            .header("accept-encoding", "br, gzip;q=0.8")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-encoding"], "gzip");
        let zipped = r.bytes().await.unwrap();
        let mut text = String::new();
        flate2::read::GzDecoder::new(&zipped[..])
            .read_to_string(&mut text)
            .unwrap();
        let body: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(body["entities"][0]["identifier"], "svc", "{body}");
    }
    let recorded = port.stand_in.requests();
    let searches: Vec<_> = recorded
        .iter()
        .filter(|r| r.path.ends_with("/search"))
        .collect();
    assert_eq!(searches.len(), 2);
    assert!(searches
        .iter()
        .all(|r| r.answer_encoding.as_deref() == Some("gzip")));

    // Not asked, or refused: plain JSON.
    for accept in [None, Some("gzip;q=0, identity")] {
        let mut req = raw
            .post(format!("{}/v1/entities/search", port.stand_in.url()))
            .bearer_auth(&port.token)
            .json(&every);
        if let Some(a) = accept {
            req = req.header("accept-encoding", a);
        }
        let r = req.send().await.unwrap();
        assert!(r.headers().get("content-encoding").is_none());
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["entities"][0]["identifier"], "svc");
    }
}
