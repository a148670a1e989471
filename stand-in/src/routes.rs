//! The Port routes the stand-in models: maps a checked request (its spec operation, query and
//! body) onto the model and shapes the answer as Port does, `{"ok":true,...}` or
//! `{"ok":false,"error","message"}`.

use std::io::Write as _;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, CONTENT_ENCODING, CONTENT_LENGTH};
use hyper::Response;
use serde_json::{json, Value};

use crate::search;
use crate::spec::Matched;
use crate::state::{Rejection, State, WriteMode};
use crate::{CLIENT_ID, CLIENT_SECRET};

/// A status and a JSON body.
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: u16,
    pub body: Value,
}

impl Reply {
    pub fn ok(status: u16, body: Value) -> Reply {
        Reply { status, body }
    }

    pub fn error(status: u16, error: &str, message: impl Into<String>) -> Reply {
        Reply {
            status,
            body: json!({"ok": false, "error": error, "message": message.into()}),
        }
    }
}

impl From<Rejection> for Reply {
    fn from(f: Rejection) -> Reply {
        Reply::error(f.status, &f.error, f.message)
    }
}

/// The parts of a request the routes look at.
pub(crate) struct Call<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub matched: &'a Matched,
    pub query: &'a [(String, String)],
    pub body: Option<&'a Value>,
}

impl Call<'_> {
    fn flag(&self, name: &str) -> bool {
        self.query.iter().any(|(k, v)| k == name && v == "true")
    }

    fn first(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn all(&self, name: &str) -> Vec<String> {
        self.query
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    fn body(&self) -> &Value {
        self.body.unwrap_or(&Value::Null)
    }

    fn write_mode(&self) -> WriteMode {
        WriteMode {
            upsert: self.flag("upsert"),
            merge: self.flag("merge"),
            validation_only: self.flag("validation_only"),
        }
    }
}

/// The operations (method and spec path template) the stand-in answers.
pub const MODELLED: &[(&str, &str)] = &[
    ("POST", "/v1/auth/access_token"),
    ("POST", "/v1/blueprints/{blueprint_identifier}/entities"),
    (
        "POST",
        "/v1/blueprints/{blueprint_identifier}/entities/bulk",
    ),
    (
        "GET",
        "/v1/blueprints/{blueprint_identifier}/entities/{entity_identifier}",
    ),
    (
        "DELETE",
        "/v1/blueprints/{blueprint_identifier}/entities/{entity_identifier}",
    ),
    ("POST", "/v1/entities/search"),
    (
        "POST",
        "/v1/blueprints/{blueprint_identifier}/entities/search",
    ),
    ("GET", "/v1/actions/runs/{run_id}"),
    ("PATCH", "/v1/actions/runs/{run_id}"),
    ("POST", "/v1/actions/runs/{run_id}/logs"),
    ("POST", "/v1/actions/{action_identifier}/runs"),
    ("GET", "/v1/actions/runs"),
];

/// Whether an `Accept-Encoding` value takes gzip (`gzip`, `gzip;q=0.5`, `*`; not `q=0`).
pub(crate) fn accepts_gzip(accept: &str) -> bool {
    accept.split(',').any(|part| {
        let mut bits = part.split(';').map(str::trim);
        let coding = bits.next().unwrap_or_default();
        let refused = bits.any(|p| {
            p.strip_prefix("q=")
                .and_then(|q| q.parse::<f64>().ok())
                .is_some_and(|q| q == 0.0)
        });
        (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !refused
    })
}

/// The routes whose answers Port compresses: the searches, whose 200 answers the spec says
/// "can be compressed".
pub(crate) fn compressed(method: &str, template: &str) -> bool {
    method == "POST"
        && matches!(
            template,
            "/v1/entities/search" | "/v1/blueprints/{blueprint_identifier}/entities/search"
        )
}

/// The answer `body` as a gzip-encoded JSON answer: sets `Content-Encoding: gzip`.
pub(crate) fn gzip_answer(response: &mut Response<Full<Bytes>>, body: &Value) {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let zipped = encoder
        .write_all(body.to_string().as_bytes())
        .and_then(|()| encoder.finish())
        .unwrap_or_default();
    let headers = response.headers_mut();
    headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    headers.remove(CONTENT_LENGTH);
    *response.body_mut() = Full::new(Bytes::from(zipped));
}

/// `POST /v1/auth/access_token`, the only route open without a token.
pub(crate) fn access_token(state: &mut State, body: Option<&Value>, ttl_secs: u64) -> Reply {
    let body = body.unwrap_or(&Value::Null);
    if body["clientId"] != CLIENT_ID || body["clientSecret"] != CLIENT_SECRET {
        return Reply::error(401, "unauthorized", "Invalid client credentials");
    }
    let (token, expires_in) = state.issue_token(ttl_secs);
    Reply::ok(
        200,
        json!({"ok": true, "accessToken": token, "expiresIn": expires_in, "tokenType": "Bearer"}),
    )
}

/// Answers an authenticated, spec-conforming call.
pub(crate) fn dispatch(state: &mut State, call: &Call) -> Reply {
    match handle(state, call) {
        Ok(reply) => reply,
        Err(rejection) => rejection.into(),
    }
}

fn handle(state: &mut State, call: &Call) -> Result<Reply, Rejection> {
    let m = call.matched;
    let bp = m.param("blueprint_identifier");
    let run_id = call.first("run_id");
    Ok(match (call.method, m.template.as_str()) {
        ("POST", "/v1/blueprints/{blueprint_identifier}/entities") => {
            state.check_blueprint_for_write(bp)?;
            state.check_run_for_write(run_id)?;
            let (entity, _) = state.upsert_entity(bp, call.body(), call.write_mode())?;
            Reply::ok(201, json!({"ok": true, "entity": entity}))
        }
        ("POST", "/v1/blueprints/{blueprint_identifier}/entities/bulk") => {
            state.check_blueprint_for_write(bp)?;
            state.check_run_for_write(run_id)?;
            let mode = call.write_mode();
            let mut entities = Vec::new();
            let mut errors = Vec::new();
            let inputs = call.body()["entities"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            for (index, input) in inputs.iter().enumerate() {
                match state.upsert_entity(bp, input, mode) {
                    Ok((entity, created)) => entities.push(json!({
                        "created": created,
                        "identifier": entity["identifier"],
                        "index": index,
                    })),
                    Err(f) => errors.push(json!({
                        "identifier": input["identifier"].as_str().unwrap_or_default(),
                        "index": index,
                        "statusCode": f.status,
                        "error": f.error,
                        "message": f.message,
                    })),
                }
            }
            let status = if errors.is_empty() { 200 } else { 207 };
            Reply::ok(
                status,
                json!({"ok": errors.is_empty(), "entities": entities, "errors": errors}),
            )
        }
        ("GET", "/v1/blueprints/{blueprint_identifier}/entities/{entity_identifier}") => {
            let entity = state.get_entity(bp, m.param("entity_identifier"))?;
            let entity = search::project(&entity, &call.all("include"), &call.all("exclude"));
            Reply::ok(200, json!({"ok": true, "entity": entity}))
        }
        ("DELETE", "/v1/blueprints/{blueprint_identifier}/entities/{entity_identifier}") => {
            state.check_run_for_write(run_id)?;
            state.delete_entity(
                bp,
                m.param("entity_identifier"),
                call.flag("delete_dependents"),
            )?;
            Reply::ok(200, json!({"ok": true}))
        }
        ("POST", "/v1/entities/search") => {
            let (include, exclude) = (call.all("include"), call.all("exclude"));
            let entities: Vec<Value> = state
                .search(call.body())?
                .iter()
                .map(|e| search::project(e, &include, &exclude))
                .collect();
            Reply::ok(200, json!({"ok": true, "entities": entities}))
        }
        ("POST", "/v1/blueprints/{blueprint_identifier}/entities/search") => {
            let body = call.body();
            let strings = |key: &str| -> Vec<String> {
                body[key]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|s| s.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default()
            };
            let (include, exclude) = (strings("include"), strings("exclude"));
            // The spec's default page, and its bounds (the schema check enforces them).
            let limit = body["limit"].as_f64().unwrap_or(200.0).clamp(1.0, 1000.0) as usize;
            let (page, next) =
                state.search_page(bp, body.get("query"), limit, body["from"].as_str())?;
            let entities: Vec<Value> = page
                .iter()
                .map(|e| search::project_by_identifiers(e, &include, &exclude))
                .collect();
            let mut answer = json!({"ok": true, "entities": entities});
            if let Some(next) = next {
                answer["next"] = json!(next);
            }
            Reply::ok(200, answer)
        }
        ("GET", "/v1/actions/runs/{run_id}") => {
            let run = state.get_run(m.param("run_id"))?;
            Reply::ok(200, json!({"ok": true, "run": run}))
        }
        ("PATCH", "/v1/actions/runs/{run_id}") => {
            let run = state.patch_run(m.param("run_id"), call.body())?;
            Reply::ok(200, json!({"ok": true, "run": run}))
        }
        ("POST", "/v1/actions/runs/{run_id}/logs") => {
            let log = state.add_log(m.param("run_id"), call.body())?;
            Reply::ok(201, json!({"ok": true, "runLog": log}))
        }
        ("POST", "/v1/actions/{action_identifier}/runs") => {
            let run = state.create_run(m.param("action_identifier"), call.body());
            Reply::ok(202, json!({"ok": true, "run": run}))
        }
        ("GET", "/v1/actions/runs") => {
            let runs = state.list_runs(call.query);
            Reply::ok(200, json!({"ok": true, "runs": runs}))
        }
        _ => Reply::error(
            404,
            "not_found",
            format!(
                "Route {}:{} is in Port's spec but not modelled by the stand-in",
                call.method, call.path
            ),
        ),
    })
}
