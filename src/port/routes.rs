//! Every request port-action sends to Port, declared in one place: its method, its path (each
//! segment percent-encoded when the client builds the URL), its query, its body, and whether it
//! may be sent twice. "Where is a request sent, and may it be repeated?" is answered here and
//! nowhere else: operations build a [`Route`] with one of these functions and hand it to the
//! client.
//!
//! A request whose answer is lost may have been carried out, so the client sends it again only
//! when a second copy changes nothing ([`Rule::Repeatable`]; see [`super::retry`]). A read
//! (GET) may be; any other request is [`Rule::Once`] unless its function declares it
//! repeatable: a route added without thought fails safe, into an error saying the answer was
//! lost, never into a duplicate.

use std::fmt;

use reqwest::Method;
use serde_json::{json, Value};

use super::retry::Repeat;
use super::PortError;

/// Whether a route may be sent again after its answer was lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// A second copy has the effect of the first.
    Repeatable,
    /// A second copy would do it twice; the words say what, in the error of a lost answer.
    Once(&'static str),
}

impl Rule {
    /// The retry policy's view of the rule.
    pub fn repeat(self) -> Repeat {
        match self {
            Rule::Repeatable => Repeat::Idempotent,
            Rule::Once(_) => Repeat::Once,
        }
    }
}

/// What a second copy of an undeclared write would do.
const UNDECLARED: &str = "a second copy of it may do it twice";
const LOG_TWICE: &str = "a second copy would show the line twice in the run's log";
const SECOND_RUN: &str = "a second copy would start a second run of the action";
const SECOND_ENTITY: &str = "Port picks the identifier of an entity sent without one, so a \
                             second copy would create a second entity";
const ENTITIES_TWICE: &str = "Port picks the identifier of an entity sent without one, so a \
                              second copy would create those entities twice";

/// One request to Port, ready to send.
#[derive(Clone)]
pub struct Route {
    pub(super) method: Method,
    /// The path after `/v1`, one segment each, not yet encoded.
    pub(super) segments: Vec<String>,
    /// Query parameters, in order (repeated keys allowed).
    pub(super) query: Vec<(&'static str, String)>,
    pub(super) body: Option<Value>,
    pub(super) rule: Rule,
    /// The run the request names: in its path, or tied to it by `run_id`.
    pub(super) run: Option<String>,
}

/// Method and path only: a body may hold a secret (the token request's).
impl fmt::Debug for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} /v1/{} ({:?})",
            self.method,
            self.segments.join("/"),
            self.rule
        )
    }
}

impl Route {
    /// A request with no query and no body: a GET may be repeated, anything else is sent once
    /// until declared otherwise.
    fn new(method: Method, segments: &[&str]) -> Route {
        let rule = if method == Method::GET {
            Rule::Repeatable
        } else {
            Rule::Once(UNDECLARED)
        };
        Route {
            method,
            segments: segments.iter().map(|s| s.to_string()).collect(),
            query: Vec::new(),
            body: None,
            rule,
            run: None,
        }
    }

    /// Names the run the request is about (its errors say so: [`super::PortError::missing_run`]).
    fn about_run(mut self, run_id: &str) -> Route {
        self.run = Some(run_id.to_string());
        self
    }

    /// Ties a write to a run: `run_id` in the query.
    fn tied_to(self, run_id: &str) -> Route {
        self.query("run_id", run_id).about_run(run_id)
    }

    fn query(mut self, key: &'static str, value: impl Into<String>) -> Route {
        self.query.push((key, value.into()));
        self
    }

    fn body(mut self, body: Value) -> Route {
        self.body = Some(body);
        self
    }

    /// Declares that a second copy changes nothing.
    fn repeatable(mut self) -> Route {
        self.rule = Rule::Repeatable;
        self
    }

    /// Declares that a second copy would do it twice, and what that would be.
    fn once(mut self, why: &'static str) -> Route {
        self.rule = Rule::Once(why);
        self
    }

    /// Why the route may not be sent, if a path segment is empty, `.` or `..` (an identifier
    /// from outside that slipped past its check): the URL would drop it or resolve it against
    /// the segment before, and the request would go to another route than this one.
    pub(super) fn path_error(&self) -> Option<PortError> {
        let bad = self
            .segments
            .iter()
            .find(|s| s.is_empty() || *s == "." || *s == "..")?;
        Some(PortError::BadSegment {
            method: self.method.to_string(),
            route: crate::inputs::printable(&format!("/v1/{}", self.segments.join("/"))),
            segment: bad.clone(),
        })
    }

    /// Whether the write is tied to a run (`run_id` in its query).
    pub fn is_tied(&self) -> bool {
        self.query.iter().any(|(k, _)| *k == "run_id")
    }

    /// The same write not tied to a run (`run_id` left out of the query), with the write's
    /// own rule: a new request, not a copy of the first (see
    /// `ops::entity::write_tied_while_open`, the one place that sends it).
    pub fn untied(mut self) -> Route {
        self.query.retain(|(k, _)| *k != "run_id");
        self.run = None;
        self
    }
}

/// How an entity write is made beyond its body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Write {
    /// The run the write is tied to (`run_id`).
    pub run_id: Option<String>,
    /// `create_missing_related_entities=true`.
    pub create_missing_related_entities: bool,
}

impl Write {
    /// `upsert=true&merge=true`, then the run and `create_missing_related_entities` when
    /// asked: an upsert by identifier with `merge` sets the same values again when repeated.
    fn apply(&self, mut route: Route) -> Route {
        route = route.query("upsert", "true").query("merge", "true");
        if let Some(run) = &self.run_id {
            route = route.tied_to(run);
        }
        if self.create_missing_related_entities {
            route = route.query("create_missing_related_entities", "true");
        }
        route
    }
}

/// An entity sent without `identifier` (or with `null`): Port picks one.
fn without_identifier(entity: &Value) -> bool {
    entity.get("identifier").is_none_or(Value::is_null)
}

/// `POST /v1/auth/access_token`: a second copy issues another token, which harms nothing.
pub fn token(client_id: &str, client_secret: &str) -> Route {
    Route::new(Method::POST, &["auth", "access_token"])
        .body(json!({"clientId": client_id, "clientSecret": client_secret}))
        .repeatable()
}

/// `GET /v1/actions/runs?external_run_id=…&version=v2`: the runs Port dispatched this workflow
/// run for.
pub fn runs_by_external_id(external_run_id: &str) -> Route {
    Route::new(Method::GET, &["actions", "runs"])
        .query("external_run_id", external_run_id)
        .query("version", "v2")
}

/// `GET /v1/actions/runs/{run}?version=v2`.
pub fn get_run(run_id: &str) -> Route {
    Route::new(Method::GET, &["actions", "runs", run_id])
        .query("version", "v2")
        .about_run(run_id)
}

/// `PATCH /v1/actions/runs/{run}`: each key is replaced by the same value again.
pub fn patch_run(run_id: &str, changes: Value) -> Route {
    Route::new(Method::PATCH, &["actions", "runs", run_id])
        .about_run(run_id)
        .body(changes)
        .repeatable()
}

/// `POST /v1/actions/runs/{run}/logs`: never twice.
pub fn post_log(run_id: &str, message: &str) -> Route {
    Route::new(Method::POST, &["actions", "runs", run_id, "logs"])
        .about_run(run_id)
        .body(json!({ "message": message }))
        .once(LOG_TWICE)
}

/// `POST /v1/actions/{action}/runs`: never twice.
pub fn create_run(action: &str, body: Value) -> Route {
    Route::new(Method::POST, &["actions", action, "runs"])
        .body(body)
        .once(SECOND_RUN)
}

/// `POST /v1/blueprints/{bp}/entities?upsert=true&merge=true…`: repeatable when the entity
/// names its identifier, never twice when Port picks it.
pub fn upsert_entity(blueprint: &str, write: &Write, entity: Value) -> Route {
    let route = write.apply(Route::new(
        Method::POST,
        &["blueprints", blueprint, "entities"],
    ));
    let route = if without_identifier(&entity) {
        route.once(SECOND_ENTITY)
    } else {
        route.repeatable()
    };
    route.body(entity)
}

/// `POST /v1/blueprints/{bp}/entities/bulk?upsert=true&merge=true…` with `{"entities": […]}`:
/// repeatable when every entity names its identifier, never twice when one does not.
pub fn bulk_upsert(blueprint: &str, write: &Write, entities: Vec<&Value>) -> Route {
    let route = write.apply(Route::new(
        Method::POST,
        &["blueprints", blueprint, "entities", "bulk"],
    ));
    let route = if entities.iter().any(|e| without_identifier(e)) {
        route.once(ENTITIES_TWICE)
    } else {
        route.repeatable()
    };
    route.body(json!({ "entities": entities }))
}

/// `GET /v1/blueprints/{bp}/entities/{id}?include=…`.
pub fn get_entity(blueprint: &str, identifier: &str, include: &[String]) -> Route {
    let route = Route::new(
        Method::GET,
        &["blueprints", blueprint, "entities", identifier],
    );
    include
        .iter()
        .fold(route, |r, i| r.query("include", i.clone()))
}

/// `DELETE /v1/blueprints/{bp}/entities/{id}?delete_dependents=…[&run_id=…]`: what is gone
/// stays gone.
pub fn delete_entity(
    blueprint: &str,
    identifier: &str,
    delete_dependents: bool,
    run_id: Option<&str>,
) -> Route {
    let route = Route::new(
        Method::DELETE,
        &["blueprints", blueprint, "entities", identifier],
    )
    .query("delete_dependents", delete_dependents.to_string());
    let route = match run_id {
        Some(run) => route.tied_to(run),
        None => route,
    };
    route.repeatable()
}

/// `POST /v1/blueprints/{bp}/entities/search`, one page: a read.
pub fn search_blueprint(blueprint: &str, body: Value) -> Route {
    Route::new(
        Method::POST,
        &["blueprints", blueprint, "entities", "search"],
    )
    .body(body)
    .repeatable()
}

/// `POST /v1/entities/search?include=…`: a read.
pub fn search_entities(include: &[String], query: Value) -> Route {
    let route = Route::new(Method::POST, &["entities", "search"]);
    include
        .iter()
        .fold(route, |r, i| r.query("include", i.clone()))
        .body(query)
        .repeatable()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every route, with the rule it must have. Adding a route means adding it here.
    fn every_route() -> Vec<(&'static str, Route, &'static str, Rule)> {
        let named = json!({"identifier": "a", "title": "A"});
        let unnamed = json!({"title": "B"});
        let write = Write {
            run_id: Some("r_1".into()),
            create_missing_related_entities: true,
        };
        let include = ["identifier".to_string()];
        vec![
            (
                "token",
                token("id", "secret"),
                "POST /v1/auth/access_token",
                Rule::Repeatable,
            ),
            (
                "runs_by_external_id",
                runs_by_external_id("gh_1_2_3"),
                "GET /v1/actions/runs",
                Rule::Repeatable,
            ),
            (
                "get_run",
                get_run("r_1"),
                "GET /v1/actions/runs/{run_id}",
                Rule::Repeatable,
            ),
            (
                "patch_run",
                patch_run("r_1", json!({"summary": "s"})),
                "PATCH /v1/actions/runs/{run_id}",
                Rule::Repeatable,
            ),
            (
                "post_log",
                post_log("r_1", "m"),
                "POST /v1/actions/runs/{run_id}/logs",
                Rule::Once(LOG_TWICE),
            ),
            (
                "create_run",
                create_run("deploy", json!({"properties": {}})),
                "POST /v1/actions/{action_identifier}/runs",
                Rule::Once(SECOND_RUN),
            ),
            (
                "upsert_entity",
                upsert_entity("service", &write, named.clone()),
                "POST /v1/blueprints/{blueprint_identifier}/entities",
                Rule::Repeatable,
            ),
            (
                "upsert_entity",
                upsert_entity(
                    "service",
                    &Write::default(),
                    json!({"identifier": {"combinator": "and", "rules": []}}),
                ),
                "POST /v1/blueprints/{blueprint_identifier}/entities",
                Rule::Repeatable,
            ),
            (
                "upsert_entity",
                upsert_entity("service", &Write::default(), unnamed.clone()),
                "POST /v1/blueprints/{blueprint_identifier}/entities",
                Rule::Once(SECOND_ENTITY),
            ),
            (
                "bulk_upsert",
                bulk_upsert("service", &write, vec![&named, &named]),
                "POST /v1/blueprints/{blueprint_identifier}/entities/bulk",
                Rule::Repeatable,
            ),
            (
                "bulk_upsert",
                bulk_upsert("service", &write, vec![&named, &unnamed]),
                "POST /v1/blueprints/{blueprint_identifier}/entities/bulk",
                Rule::Once(ENTITIES_TWICE),
            ),
            (
                "get_entity",
                get_entity("service", "a/b", &include),
                "GET /v1/blueprints/{blueprint_identifier}/entities/{entity_identifier}",
                Rule::Repeatable,
            ),
            (
                "delete_entity",
                delete_entity("service", "a", true, Some("r_1")),
                "DELETE /v1/blueprints/{blueprint_identifier}/entities/{entity_identifier}",
                Rule::Repeatable,
            ),
            (
                "search_blueprint",
                search_blueprint("service", json!({"limit": 1000})),
                "POST /v1/blueprints/{blueprint_identifier}/entities/search",
                Rule::Repeatable,
            ),
            (
                "search_entities",
                search_entities(&include, json!({"combinator": "and", "rules": []})),
                "POST /v1/entities/search",
                Rule::Repeatable,
            ),
        ]
    }

    /// The path the client sends, percent-encoded as it does.
    fn path(route: &Route) -> String {
        let mut url = reqwest::Url::parse("http://127.0.0.1").unwrap();
        url.path_segments_mut()
            .unwrap()
            .pop_if_empty()
            .push("v1")
            .extend(&route.segments);
        url.path().to_string()
    }

    #[test]
    fn every_route_has_its_rule_and_is_an_operation_of_ports_spec() {
        let mut operations = Vec::new();
        let mut names = Vec::new();
        for (name, route, operation, rule) in every_route() {
            names.push(name);
            assert_eq!(route.rule, rule, "{route:?}");
            let path = path(&route);
            let found = port_stand_in::spec_operation(route.method.as_str(), &path);
            assert_eq!(found.as_deref(), Some(operation), "{route:?} at {path}");
            operations.push(operation.to_string());
        }
        // The routes are the operations the stand-in answers, each checked against the spec
        // there, and no other.
        // Every function of this file that declares a route is in the table.
        let declared: std::collections::BTreeSet<&str> = include_str!("routes.rs")
            .split("\npub fn ")
            .skip(1)
            .filter(|f| {
                f.split('{')
                    .next()
                    .is_some_and(|head| head.contains("-> Route"))
            })
            .filter_map(|f| f.split('(').next())
            .collect();
        let listed: std::collections::BTreeSet<&str> = names.into_iter().collect();
        assert_eq!(listed, declared);
        operations.sort();
        operations.dedup();
        let mut modelled: Vec<String> = port_stand_in::modelled_operations()
            .iter()
            .map(|(m, t)| format!("{m} {t}"))
            .collect();
        modelled.sort();
        assert_eq!(operations, modelled);
    }

    #[test]
    fn every_route_as_sent_passes_the_stand_ins_check_against_the_spec() {
        use super::super::client::tests::{runtime, stand_in_client};
        use std::time::{Duration, Instant};
        let port = port_stand_in::StandIn::start();
        port.add_run("r_1", "IN_PROGRESS", &[]);
        port.add_blueprint("service");
        let client = stand_in_client(&port, Instant::now() + Duration::from_secs(30));
        let runtime = runtime();
        // The token route is the client's own first request.
        let routes: Vec<Route> = every_route()
            .into_iter()
            .filter(|(name, ..)| *name != "token")
            .map(|(_, route, ..)| route)
            .collect();
        for route in &routes {
            // Port's answer does not matter here (an action the stand-in does not know is a
            // 404): what was sent does.
            let _ = runtime.block_on(client.call(route));
        }
        // The token, then each route once.
        let lines: Vec<String> = port.requests().iter().map(|r| r.line()).collect();
        assert_eq!(port.requests().len(), 1 + routes.len(), "{lines:#?}");
        assert_eq!(port.spec_violations(), Vec::<String>::new());
    }

    #[test]
    fn a_route_with_an_empty_dot_or_dot_dot_segment_is_refused_unsent() {
        use super::super::client::tests::{runtime, stand_in_client};
        use std::time::{Duration, Instant};
        let port = port_stand_in::StandIn::start();
        port.add_blueprint("service");
        let client = stand_in_client(&port, Instant::now() + Duration::from_secs(30));
        let runtime = runtime();
        for (route, shown, segment) in [
            (
                search_blueprint("..", json!({})),
                "POST /v1/blueprints/../entities/search",
                "..",
            ),
            (get_run("."), "GET /v1/actions/runs/.", "."),
            (
                delete_entity("service", "", false, None),
                "DELETE /v1/blueprints/service/entities/",
                "",
            ),
            (
                get_entity("..\n", "..", &[]),
                "GET /v1/blueprints/..\\n/entities/..",
                "..",
            ),
        ] {
            let e = runtime.block_on(client.call(&route)).unwrap_err();
            assert_eq!(
                e.to_string(),
                format!(
                    "{shown} not sent: its path segment '{segment}' would be dropped or \
                     resolved in the URL, sending the request elsewhere (a path segment may not \
                     be empty, '.' or '..')"
                )
            );
        }
        assert_eq!(port.requests().len(), 0, "not even the token");
        // A segment that only holds dots among other characters is an identifier like any.
        runtime
            .block_on(client.call(&search_blueprint("service", json!({}))))
            .unwrap();
        assert!(runtime
            .block_on(client.call(&get_entity("service", "...", &[])))
            .is_err_and(|e| e.status() == Some(404)));
    }

    #[test]
    fn a_write_not_declared_repeatable_is_sent_once() {
        for method in [Method::POST, Method::PATCH, Method::DELETE, Method::PUT] {
            assert_eq!(
                Route::new(method.clone(), &["x"]).rule,
                Rule::Once(UNDECLARED),
                "{method}"
            );
        }
        assert_eq!(Route::new(Method::GET, &["x"]).rule, Rule::Repeatable);
        // An identifier of `null` is none: Port picks one.
        let null = upsert_entity("service", &Write::default(), json!({"identifier": null}));
        assert_eq!(null.rule, Rule::Once(SECOND_ENTITY));
    }

    #[test]
    fn a_write_keeps_its_query_in_order_and_loses_only_the_run_untied() {
        let write = Write {
            run_id: Some("r_1".into()),
            create_missing_related_entities: true,
        };
        let route = upsert_entity("service", &write, json!({"title": "t"}));
        assert!(route.is_tied());
        let pairs = |r: &Route| -> Vec<String> {
            r.query.iter().map(|(k, v)| format!("{k}={v}")).collect()
        };
        assert_eq!(
            pairs(&route),
            [
                "upsert=true",
                "merge=true",
                "run_id=r_1",
                "create_missing_related_entities=true"
            ]
        );
        assert_eq!(route.run.as_deref(), Some("r_1"));
        let untied = route.untied();
        assert!(!untied.is_tied());
        assert_eq!(untied.run, None);
        assert_eq!(
            pairs(&untied),
            [
                "upsert=true",
                "merge=true",
                "create_missing_related_entities=true"
            ]
        );
        assert_eq!(untied.rule, Rule::Once(SECOND_ENTITY));
        let delete = delete_entity("service", "a", false, Some("r_1")).untied();
        assert_eq!(pairs(&delete), ["delete_dependents=false"]);
    }

    #[test]
    fn the_routes_of_a_run_name_it_and_the_others_do_not() {
        for route in [
            get_run("r_1"),
            patch_run("r_1", json!({})),
            post_log("r_1", "m"),
        ] {
            assert_eq!(route.run.as_deref(), Some("r_1"), "{route:?}");
        }
        let untied = Write::default();
        for route in [
            create_run("deploy", json!({})),
            runs_by_external_id("gh_1"),
            upsert_entity("service", &untied, json!({"identifier": "a"})),
            delete_entity("service", "a", false, None),
            token("id", "secret"),
        ] {
            assert_eq!(route.run, None, "{route:?}");
        }
    }

    #[test]
    fn a_routes_debug_text_leaves_its_body_out() {
        let shown = format!("{:?}", token("id", "s3cr3t"));
        assert_eq!(shown, "POST /v1/auth/access_token (Repeatable)");
    }
}
