//! An embedded, stateful stand-in for the Port API routes port-action uses.
//!
//! It answers with Port's shapes and error codes, keeps the entities and action runs it is sent,
//! checks every request against Port's published OpenAPI spec (and answers a violation with
//! Port's 422 `invalid_request`) and every answer of its own against the spec's response schemas
//! (an injected fault's canned answer imitates a proxy and is not checked), records every
//! request for assertions, and can inject faults, before or after handling a request. It runs on
//! a background thread with its own tokio runtime, so plain synchronous tests can use it;
//! dropping the [`StandIn`] stops it.

mod routes;
mod search;
mod server;
mod spec;
mod state;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::oneshot;

use crate::server::Shared;
use crate::state::Rejection;

/// The client id the stand-in accepts at `POST /v1/auth/access_token`.
pub const CLIENT_ID: &str = "stand-in-client-id";
/// The client secret the stand-in accepts at `POST /v1/auth/access_token`.
pub const CLIENT_SECRET: &str = "stand-in-client-secret";

/// Called with each request once it is answered (with status 0 for a reset or a hang).
pub type RequestObserver = Arc<dyn Fn(&Recorded) + Send + Sync>;

/// How a stand-in behaves.
#[derive(Clone)]
pub struct Options {
    /// Slept before each answer (benchmarks).
    pub latency: Duration,
    /// Lifetime of an access token, in seconds (Port: 3 hours).
    pub token_ttl_secs: u64,
    /// The address to bind; 127.0.0.1 by default.
    pub host: IpAddr,
    /// The port to bind; 0 picks a free one.
    pub port: u16,
    /// Also flag unknown top-level keys of entity bodies. Port's spec leaves entity bodies open
    /// (`additionalProperties: true`), so this is stricter than Port; it catches misspelt keys.
    pub strict_entity_keys: bool,
    /// Told about each request as it is answered.
    pub on_request: Option<RequestObserver>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            latency: Duration::ZERO,
            token_ttl_secs: 10_800,
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            strict_entity_keys: false,
            on_request: None,
        }
    }
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("latency", &self.latency)
            .field("token_ttl_secs", &self.token_ttl_secs)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("strict_entity_keys", &self.strict_entity_keys)
            .field(
                "on_request",
                &self.on_request.as_ref().map(|_| "Fn(&Recorded)"),
            )
            .finish()
    }
}

/// One request as the stand-in received it, and what it answered.
#[derive(Clone, Debug, PartialEq)]
pub struct Recorded {
    pub method: String,
    /// Exactly as received, still percent-encoded.
    pub path: String,
    /// Decoded pairs, in order, repeated keys kept.
    pub query: Vec<(String, String)>,
    /// Lower-case names.
    pub headers: Vec<(String, String)>,
    /// The JSON body; a body that is not JSON is kept as a string.
    pub body: Option<Value>,
    /// What the stand-in answered (0 for a reset or a hang).
    pub status: u16,
    /// Empty when the request validated against the spec.
    pub spec_errors: Vec<String>,
    /// The answer's `Content-Encoding` (`gzip`), when it was compressed.
    pub answer_encoding: Option<String>,
}

impl Recorded {
    /// `METHOD /path?query`, the query re-encoded in order, e.g.
    /// `POST /v1/blueprints/service/entities?upsert=true&merge=true&run_id=r_1`.
    pub fn line(&self) -> String {
        if self.query.is_empty() {
            return format!("{} {}", self.method, self.path);
        }
        let query = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&self.query)
            .finish();
        format!("{} {}?{}", self.method, self.path, query)
    }

    /// A header's value, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The request as one JSON object (for request logs).
    pub fn to_json(&self) -> Value {
        json!({
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": self.headers,
            "body": self.body,
            "status": self.status,
            "spec_errors": self.spec_errors,
            "answer_encoding": self.answer_encoding,
        })
    }
}

/// A fault to inject: the first request whose `METHOD /path` starts with `matches` gets `kind`
/// instead of its normal handling (an empty `matches` takes any request).
#[derive(Clone, Debug)]
pub struct Fault {
    pub matches: String,
    pub kind: FaultKind,
}

#[derive(Clone, Debug)]
pub enum FaultKind {
    /// Answer this instead of the real handler (the state is untouched). A JSON string body is
    /// sent as raw text (to imitate a proxy's error page); `Value::Null` sends no body. The
    /// stand-in's `x-trace-id` and rate-limit headers are added unless `headers` sets them.
    Respond {
        status: u16,
        headers: Vec<(String, String)>,
        body: Value,
    },
    /// Accept the request and never answer (until the client gives up).
    Hang,
    /// Close the connection without any response (the state is untouched).
    Reset,
    /// Handle the request (the state changes: the entity is stored, the run created, the log
    /// line appended), then close the connection without an answer: Port did the work and the
    /// answer was lost on the way back. Recorded with status 0.
    ResetAfterHandling,
    /// Handle the request (the state changes), then hold the answer until the client gives up:
    /// Port did the work and the answer has not come back yet. Recorded with status 0.
    HangAfterHandling,
    /// Handle the request, then answer this instead of the handler's answer (a proxy's 502 or
    /// 503 after Port did the work). Headers and body as for [`FaultKind::Respond`].
    RespondAfterHandling {
        status: u16,
        headers: Vec<(String, String)>,
        body: Value,
    },
}

/// The running stand-in; dropping it stops the server.
pub struct StandIn {
    shared: Arc<Shared>,
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl StandIn {
    /// Starts with [`Options::default`].
    pub fn start() -> StandIn {
        StandIn::start_with(Options::default())
    }

    /// Binds `options.host:options.port` (127.0.0.1 on a free port by default) and serves from
    /// a background thread running its own tokio runtime.
    pub fn start_with(options: Options) -> StandIn {
        let (listener, addr) = server::bind(options.host, options.port);
        let shared = Arc::new(Shared::new(options));
        let (shutdown, shutdown_rx) = oneshot::channel();
        let serving = shared.clone();
        let thread = std::thread::Builder::new()
            .name(format!("port-stand-in-{}", addr.port()))
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("the stand-in's tokio runtime starts");
                runtime.block_on(server::serve(listener, serving, shutdown_rx));
                runtime.shutdown_background();
            })
            .expect("the stand-in's thread starts");
        StandIn {
            shared,
            addr,
            shutdown: Some(shutdown),
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request received, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        let state = self.shared.state();
        state.requests.iter().map(|(_, r)| r.clone()).collect()
    }

    /// Forgets the recorded requests (not the spec violations).
    pub fn clear_requests(&self) {
        self.shared.state().requests.clear();
    }

    /// Seeds a run of action `demo_action` with a status and links.
    pub fn add_run(&self, id: &str, status: &str, links: &[&str]) {
        self.add_run_json(json!({"id": id, "status": status, "link": links}));
    }

    /// Seeds a run with any fields (it must have a string `id`); missing fields get defaults
    /// (`IN_PROGRESS`, action `demo_action`, timestamps). `"synchronized": true` makes it refuse
    /// manual status changes, as Port's synchronized webhook runs do.
    pub fn add_run_json(&self, run: Value) {
        self.shared.state().add_run(run);
    }

    /// The run as `GET /v1/actions/runs/{id}` would return it (the `run` object).
    pub fn run(&self, id: &str) -> Option<Value> {
        self.shared.state().run(id)
    }

    /// Every run, seeded or created, in creation order.
    pub fn runs(&self) -> Vec<Value> {
        self.shared.state().runs.values().cloned().collect()
    }

    /// The `runLog` objects posted to a run, in order.
    pub fn logs(&self, run_id: &str) -> Vec<Value> {
        self.shared.state().logs(run_id)
    }

    /// Declares a blueprint of the organization. Until one is declared every blueprint exists;
    /// once one is, an upsert or bulk upsert to a blueprint never declared (nor given an entity
    /// with [`StandIn::add_entity`]) is Port's 404 `not_found`.
    pub fn add_blueprint(&self, blueprint: &str) {
        self.shared.state().add_blueprint(blueprint);
    }

    /// Stores an entity as if it had been upserted (the blueprint is created if needed).
    pub fn add_entity(&self, blueprint: &str, entity: Value) {
        self.shared.state().add_entity(blueprint, entity);
    }

    pub fn entity(&self, blueprint: &str, identifier: &str) -> Option<Value> {
        self.shared.state().entity(blueprint, identifier)
    }

    /// A blueprint's entities, in creation order.
    pub fn entities(&self, blueprint: &str) -> Vec<Value> {
        self.shared.state().entities(blueprint)
    }

    /// Writes of that entity fail: a single upsert or delete with `status`, a bulk upsert with an
    /// `errors[]` element (and 207).
    pub fn reject_entity(
        &self,
        blueprint: &str,
        identifier: &str,
        status: u16,
        error: &str,
        message: &str,
    ) {
        self.shared.state().reject_entity(
            blueprint,
            identifier,
            Rejection::new(status, error, message),
        );
    }

    /// Queues a fault; faults are consumed in order by the first request each matches.
    pub fn push_fault(&self, fault: Fault) {
        self.shared.state().faults.push_back(fault);
    }

    /// Every token issued so far now gets 401; the next token request issues a new one.
    pub fn expire_tokens(&self) {
        self.shared.state().expire_tokens();
    }

    /// A run created by `POST /v1/actions/{a}/runs` turns to `status` once it has been read
    /// `gets` times: reads 1..=gets still see `IN_PROGRESS`, the next one sees `status`.
    pub fn finish_created_runs_after(&self, gets: u32, status: &str) {
        self.shared.state().finish_created_runs_after(gets, status);
    }

    /// Blueprint searches hand out cursors that go round from now on: each answer is the first
    /// page again, with `next` the cycle's next cursor (`cycle-0` … `cycle-{period - 1}`, then
    /// `cycle-0`), as a broken server or proxy might.
    pub fn cycle_search_cursors(&self, period: usize) {
        self.shared.state().cycling_cursors = Some(search::CyclingCursors { period });
    }

    /// The most requests handled at once so far.
    pub fn max_in_flight(&self) -> usize {
        self.shared.max_in_flight.load(Ordering::SeqCst)
    }

    /// Every spec violation seen, as `METHOD /path: message`: the requests' and the stand-in's
    /// own answers' (`METHOD /path: answer 201/entity/...: message`).
    pub fn spec_violations(&self) -> Vec<String> {
        self.shared.state().violations.clone()
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The spec operation (`METHOD template`) a request would be checked against, if any.
pub fn spec_operation(method: &str, path: &str) -> Option<String> {
    spec::spec()
        .find(method, path)
        .map(|m| format!("{} {}", method.to_ascii_uppercase(), m.template))
}

/// The operations the stand-in answers, as `(METHOD, spec path template)`.
pub fn modelled_operations() -> &'static [(&'static str, &'static str)] {
    routes::MODELLED
}

#[cfg(test)]
mod spec_coverage {
    use super::*;

    #[test]
    fn every_modelled_operation_is_in_the_spec() {
        let templates = spec::spec().templates();
        for (method, template) in modelled_operations() {
            assert!(
                templates.iter().any(|(m, t)| m == method && t == template),
                "{method} {template} is not in the spec"
            );
            // Every schema of the operation, answers included, compiles (patterns with `\p{L}` and
            // look-ahead too).
            let path = template.replace('{', "x").replace('}', "");
            let matched = spec::spec().find(method, &path).unwrap();
            let errors = spec::spec().check(&matched, &[], Some(&serde_json::json!({})));
            assert!(
                errors.iter().all(|e| !e.contains("could not be compiled")),
                "{method} {template}: {errors:?}"
            );
            for status in spec::spec().answer_statuses(&matched) {
                let status = status.parse().unwrap_or(500);
                let errors = spec::spec().check_answer(&matched, status, &serde_json::json!({}));
                assert!(
                    errors.iter().all(|e| !e.contains("could not be compiled")),
                    "{method} {template} answer {status}: {errors:?}"
                );
            }
        }
    }
}
