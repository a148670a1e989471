//! The Port REST client: one access token per process (masked the moment it arrives),
//! percent-encoded paths, and Port's errors surfaced whole. Operations call the typed
//! methods here and never build URLs or headers themselves.

mod error;
pub mod retry;

pub use error::PortError;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use reqwest::{Method, StatusCode, Url};
use serde_json::{json, Value};

use crate::inputs::Credentials;
use crate::runner::Console;
use retry::{Failure, Repeat};

/// `User-Agent` of every request.
pub const USER_AGENT: &str = concat!("port-action/", env!("CARGO_PKG_VERSION"));

/// How long to wait for a TCP/TLS connection before giving up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Talks to one Port API on behalf of one step.
pub struct PortClient {
    http: reqwest::Client,
    api_base: Url,
    credentials: Credentials,
    token: tokio::sync::Mutex<Option<String>>,
    console: Arc<Console>,
    sent: AtomicUsize,
    request_timeout: Duration,
    max_attempts: u32,
    /// No request is started, and no retry waited for, past this instant.
    deadline: Instant,
}

/// How hard a client tries.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// One request's timeout.
    pub request_timeout: Duration,
    /// Attempts per request, the first included.
    pub max_attempts: u32,
    /// The whole step's deadline.
    pub deadline: Instant,
}

/// Query parameters, in order (repeated keys allowed).
pub type Query<'a> = [(&'a str, String)];

impl PortClient {
    /// A client for the API at `api_base` (no `/v1`, no trailing slash).
    pub fn new(
        api_base: &str,
        credentials: Credentials,
        limits: Limits,
        console: Arc<Console>,
    ) -> anyhow::Result<Self> {
        let api_base = Url::parse(api_base)
            .map_err(|e| anyhow::anyhow!("invalid Port API URL '{api_base}': {e}"))?;
        let http = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .connect_timeout(CONNECT_TIMEOUT.min(limits.request_timeout))
            .build()
            .map_err(|e| anyhow::anyhow!("cannot set up the HTTP client: {e}"))?;
        Ok(PortClient {
            http,
            api_base,
            credentials,
            token: tokio::sync::Mutex::new(None),
            console,
            sent: AtomicUsize::new(0),
            request_timeout: limits.request_timeout,
            max_attempts: limits.max_attempts.max(1),
            deadline: limits.deadline,
        })
    }

    /// Requests sent so far, the token request included.
    pub fn requests_sent(&self) -> usize {
        self.sent.load(Ordering::Relaxed)
    }

    /// The URL of `/v1/<segments…>?<query>`, each segment percent-encoded.
    pub fn url(&self, segments: &[&str], query: &Query<'_>) -> Url {
        let mut url = self.api_base.clone();
        {
            let mut path = url.path_segments_mut().expect("an http(s) URL has a path");
            path.pop_if_empty().push("v1");
            for s in segments {
                path.push(s);
            }
        }
        if !query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in query {
                pairs.append_pair(k, v);
            }
        }
        url
    }

    /// The access token, fetched once per process and masked at once.
    async fn token(&self) -> Result<String, PortError> {
        let mut slot = self.token.lock().await;
        if let Some(t) = slot.as_ref() {
            return Ok(t.clone());
        }
        let body = json!({
            "clientId": self.credentials.client_id,
            "clientSecret": self.credentials.client_secret,
        });
        let url = self.url(&["auth", "access_token"], &[]);
        let (status, value) = self
            .exchange(Method::POST, &url, Some(&body), None, REPEATABLE)
            .await?;
        let token = value
            .get("accessToken")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| PortError::Decode {
                status,
                method: "POST".into(),
                path: url.path().to_string(),
                detail: "no accessToken in the answer".into(),
            })?
            .to_string();
        self.console.add_mask(&token);
        *slot = Some(token.clone());
        Ok(token)
    }

    /// Forgets `used` so that the next request fetches a new token (unless another request
    /// already did).
    async fn forget_token(&self, used: &str) {
        let mut slot = self.token.lock().await;
        if slot.as_deref() == Some(used) {
            *slot = None;
        }
    }

    /// Sends one authenticated request and returns Port's JSON answer. Transient failures are
    /// retried as [`retry`] decides; a 401 fetches a new token once and tries again.
    pub async fn call(
        &self,
        method: Method,
        segments: &[&str],
        query: &Query<'_>,
        body: Option<&Value>,
    ) -> Result<Value, PortError> {
        let url = self.url(segments, query);
        let (repeat, why) = repeat_of(&method, segments, body);
        let mut refreshed = false;
        loop {
            let token = self.token().await?;
            match self
                .exchange(method.clone(), &url, body, Some(&token), (repeat, why))
                .await
            {
                Err(e) if e.status() == Some(401) && !refreshed => {
                    refreshed = true;
                    self.console.info(
                        "Port refused the access token (it may have just expired); fetching a new one",
                    );
                    self.forget_token(&token).await;
                }
                other => return other.map(|(_, value)| value),
            }
        }
    }

    /// One request with its retries.
    async fn exchange(
        &self,
        method: Method,
        url: &Url,
        body: Option<&Value>,
        token: Option<&str>,
        (repeat, why): (Repeat, &str),
    ) -> Result<(u16, Value), PortError> {
        let mut attempt = 1;
        loop {
            let failed = match self.send(method.clone(), url, body, token).await {
                Ok(answer) => return Ok(answer),
                Err(failed) => failed,
            };
            let left = self.deadline.saturating_duration_since(Instant::now());
            let delay = retry::next_delay(
                attempt,
                self.max_attempts,
                failed.failure,
                repeat,
                failed.server_delay,
                left,
                retry::jitter(),
            );
            let Some(delay) = delay else {
                return Err(match (failed.failure, repeat) {
                    (Failure::Interrupted, Repeat::Once) => answer_lost(failed.error, why),
                    _ => failed.error,
                });
            };
            attempt += 1;
            self.console.info(&format!(
                "{}; trying again in {:.1} s (attempt {attempt} of {})",
                failed.error,
                delay.as_secs_f64(),
                self.max_attempts
            ));
            tokio::time::sleep(delay).await;
        }
    }

    /// One HTTP exchange: logs it, decodes the answer, turns error statuses into [`PortError`].
    async fn send(
        &self,
        method: Method,
        url: &Url,
        body: Option<&Value>,
        token: Option<&str>,
    ) -> Result<(u16, Value), Failed> {
        let path = url.path().to_string();
        let shown = match url.query() {
            Some(q) => format!("{path}?{q}"),
            None => path.clone(),
        };
        if let Some(b) = body {
            self.debug_json(&format!("{method} {shown}"), b);
        }
        let left = self.deadline.saturating_duration_since(Instant::now());
        let mut req = self
            .http
            .request(method.clone(), url.clone())
            .timeout(self.request_timeout.min(left).max(Duration::from_millis(1)));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let started = Instant::now();
        self.sent.fetch_add(1, Ordering::Relaxed);
        let transport = |e: reqwest::Error| {
            let chain = error_chain(&e);
            let (failure, detail) = if e.is_connect() && chain.contains("certificate") {
                let hint = "a TLS-inspecting proxy or a private CA? Give a CA bundle that \
                            includes it in SSL_CERT_FILE";
                (Failure::Untrusted, format!("{chain} ({hint})"))
            } else if e.is_connect() {
                (Failure::Connect, chain)
            } else if e.is_timeout() {
                let within = humantime(self.request_timeout.min(left));
                let detail = format!(
                    "no answer within {within} (input 'requestTimeout' or the step's 'timeout')"
                );
                (Failure::Interrupted, detail)
            } else {
                (Failure::Interrupted, chain)
            };
            Failed {
                failure,
                server_delay: None,
                error: PortError::Transport {
                    method: method.to_string(),
                    url: url_without_query(url),
                    detail,
                },
            }
        };
        let resp = req.send().await.map_err(transport)?;
        let status = resp.status();
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let trace_id = header("x-trace-id");
        let server_delay = retry::server_delay(
            status.as_u16(),
            header("retry-after").as_deref(),
            header("x-ratelimit-reset").as_deref(),
            SystemTime::now(),
        );
        let text = resp.text().await.map_err(transport)?;
        self.console.info(&format!(
            "{method} {shown} → {} ({} ms)",
            status.as_u16(),
            started.elapsed().as_millis()
        ));
        if !status.is_success() {
            let (code, message) = error::parse_error_body(status.as_u16(), &text);
            return Err(Failed {
                failure: Failure::Status(status.as_u16()),
                server_delay,
                error: PortError::Api {
                    status: status.as_u16(),
                    code,
                    message,
                    method: method.to_string(),
                    path,
                    trace_id,
                },
            });
        }
        let value = if text.trim().is_empty() && status == StatusCode::NO_CONTENT {
            json!({"ok": true})
        } else {
            serde_json::from_str(&text).map_err(|e| Failed {
                failure: Failure::Status(status.as_u16()),
                server_delay: None,
                error: PortError::Decode {
                    status: status.as_u16(),
                    method: method.to_string(),
                    path: path.clone(),
                    detail: format!("not JSON ({e})"),
                },
            })?
        };
        self.debug_json(&format!("answer {}", status.as_u16()), &value);
        Ok((status.as_u16(), value))
    }

    /// With debug logging on, a JSON body in a collapsed group, credentials redacted.
    fn debug_json(&self, title: &str, body: &Value) {
        if self.console.is_debug() {
            self.console.group(title);
            self.console.info(&redacted_body(body));
            self.console.end_group();
        }
    }
}

/// A failed attempt, with what the retry policy needs to know.
struct Failed {
    error: PortError,
    failure: Failure,
    server_delay: Option<Duration>,
}

/// A request that may be sent again.
const REPEATABLE: (Repeat, &str) = (Repeat::Idempotent, "");

/// Whether a request may be sent again (see [`retry`]), and if not, what a second copy would do.
/// Posting a log line, creating a run, and writing an entity whose identifier Port picks (an
/// upsert without `identifier`, a bulk upsert with an element without one) must not happen
/// twice; everything else may.
fn repeat_of(method: &Method, segments: &[&str], body: Option<&Value>) -> (Repeat, &'static str) {
    let no_identifier = |e: &Value| e.get("identifier").is_none_or(Value::is_null);
    let once = match (method, segments) {
        (&Method::POST, ["actions", "runs", _, "logs"]) => {
            Some("a second copy would show the line twice in the run's log")
        }
        (&Method::POST, ["actions", _, "runs"]) => {
            Some("a second copy would start a second run of the action")
        }
        (&Method::POST, ["blueprints", _, "entities"]) if body.is_some_and(no_identifier) => Some(
            "Port picks the identifier of an entity sent without one, so a second copy \
                 would create a second entity",
        ),
        (&Method::POST, ["blueprints", _, "entities", "bulk"])
            if body
                .and_then(|b| b.get("entities"))
                .and_then(Value::as_array)
                .is_some_and(|es| es.iter().any(no_identifier)) =>
        {
            Some(
                "Port picks the identifier of an entity sent without one, so a second copy \
                 would create those entities twice",
            )
        }
        _ => None,
    };
    match once {
        Some(why) => (Repeat::Once, why),
        None => REPEATABLE,
    }
}

/// The error of a request that is not sent again although its answer was lost.
fn answer_lost(error: PortError, why: &str) -> PortError {
    match error {
        PortError::Transport {
            method,
            url,
            detail,
        } => PortError::Transport {
            method,
            url,
            detail: format!(
                "{detail}; the answer was lost after the request was sent, so Port may have \
                 done it: the request was not sent again, because {why}"
            ),
        },
        other => other,
    }
}

#[cfg(test)]
mod repeat_tests {
    use super::*;

    fn repeat(method: Method, segments: &[&str], body: Option<Value>) -> Repeat {
        repeat_of(&method, segments, body.as_ref()).0
    }

    #[test]
    fn an_entity_write_is_repeated_only_when_it_names_its_identifier() {
        let upsert = ["blueprints", "service", "entities"];
        let bulk = ["blueprints", "service", "entities", "bulk"];
        let named = json!({"identifier": "a", "title": "A"});
        let query = json!({"identifier": {"combinator": "and", "rules": []}});
        assert_eq!(
            repeat(Method::POST, &upsert, Some(named.clone())),
            Repeat::Idempotent
        );
        assert_eq!(
            repeat(Method::POST, &upsert, Some(query)),
            Repeat::Idempotent
        );
        assert_eq!(
            repeat(Method::POST, &upsert, Some(json!({"title": "A"}))),
            Repeat::Once
        );
        assert_eq!(
            repeat(Method::POST, &upsert, Some(json!({"identifier": null}))),
            Repeat::Once
        );
        assert_eq!(
            repeat(
                Method::POST,
                &bulk,
                Some(json!({"entities": [named.clone(), named.clone()]}))
            ),
            Repeat::Idempotent
        );
        assert_eq!(
            repeat(
                Method::POST,
                &bulk,
                Some(json!({"entities": [named, {"title": "B"}]}))
            ),
            Repeat::Once
        );
    }

    #[test]
    fn logs_and_new_runs_are_never_repeated_and_reads_always_may_be() {
        let log = Some(json!({"message": "m"}));
        assert_eq!(
            repeat(Method::POST, &["actions", "runs", "r_1", "logs"], log),
            Repeat::Once
        );
        assert_eq!(
            repeat(Method::POST, &["actions", "deploy", "runs"], None),
            Repeat::Once
        );
        assert_eq!(
            repeat(Method::GET, &["actions", "runs", "r_1"], None),
            Repeat::Idempotent
        );
        assert_eq!(
            repeat(
                Method::PATCH,
                &["actions", "runs", "r_1"],
                Some(json!({"summary": "s"}))
            ),
            Repeat::Idempotent
        );
        assert_eq!(
            repeat(
                Method::DELETE,
                &["blueprints", "service", "entities", "a"],
                None
            ),
            Repeat::Idempotent
        );
    }
}

/// Pretty JSON with credential fields replaced, for debug logs.
fn redacted_body(body: &Value) -> String {
    let mut b = body.clone();
    if let Value::Object(map) = &mut b {
        for key in ["clientSecret", "accessToken"] {
            if let Some(v) = map.get_mut(key) {
                *v = Value::String("***".into());
            }
        }
    }
    serde_json::to_string_pretty(&b).unwrap_or_default()
}

fn url_without_query(url: &Url) -> String {
    let mut u = url.clone();
    u.set_query(None);
    u.to_string()
}

/// The error and its causes on one line: reqwest's own message alone says only
/// "error sending request".
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

/// The Port web app that belongs to an API host: `api.getport.io` → `https://app.getport.io`,
/// `api.us.port.io` → `https://app.us.port.io`; any other host (a proxy, a stand-in) serves
/// as its own app base.
pub fn app_base(api_base: &str) -> String {
    match Url::parse(api_base) {
        Ok(url) => match url.host_str() {
            Some(host) if host.starts_with("api.") => {
                format!("https://app.{}", &host["api.".len()..])
            }
            _ => api_base.trim_end_matches('/').to_string(),
        },
        Err(_) => api_base.to_string(),
    }
}

/// The run's page in Port.
pub fn run_url(api_base: &str, run_id: &str) -> String {
    let mut url =
        Url::parse(&format!("{}/organization/run", app_base(api_base))).expect("app base is a URL");
    url.query_pairs_mut().append_pair("runId", run_id);
    url.to_string()
}

/// The entity's page in Port.
pub fn entity_url(api_base: &str, blueprint: &str, identifier: &str) -> String {
    let mut url = Url::parse(&app_base(api_base)).expect("app base is a URL");
    url.path_segments_mut()
        .expect("http(s)")
        .pop_if_empty()
        .push(&format!("{blueprint}Entity"));
    url.query_pairs_mut().append_pair("identifier", identifier);
    url.to_string()
}

/// `5m`, `30s`, `1m30s`, `0.5s`.
pub fn humantime(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 10_000 && ms % 1000 != 0 {
        return format!("{:.1}s", d.as_secs_f64());
    }
    let s = d.as_secs();
    match (s / 60, s % 60) {
        (0, s) => format!("{s}s"),
        (m, 0) => format!("{m}m"),
        (m, s) => format!("{m}m{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(base: &str) -> PortClient {
        PortClient::new(
            base,
            Credentials {
                client_id: "id".into(),
                client_secret: "secret".into(),
            },
            Limits {
                request_timeout: Duration::from_secs(5),
                max_attempts: 1,
                deadline: Instant::now() + Duration::from_secs(5),
            },
            Arc::new(Console::new(false)),
        )
        .unwrap()
    }

    #[test]
    fn every_path_segment_is_percent_encoded() {
        let c = client("https://api.getport.io");
        let url = c.url(
            &["blueprints", "micro service", "entities", "a/b:c+d=e@f\\g"],
            &[("run_id", "r_1".into())],
        );
        assert_eq!(
            url.as_str(),
            "https://api.getport.io/v1/blueprints/micro%20service/entities/a%2Fb:c+d=e@f%5Cg?run_id=r_1"
        );
    }

    #[test]
    fn a_path_prefix_is_kept() {
        let c = client("https://proxy.example.com/port");
        assert_eq!(
            c.url(&["actions", "runs", "r_1"], &[]).as_str(),
            "https://proxy.example.com/port/v1/actions/runs/r_1"
        );
    }

    #[test]
    fn repeated_query_keys_are_kept_in_order() {
        let c = client("https://api.getport.io");
        let url = c.url(
            &["entities", "search"],
            &[("include", "a".into()), ("include", "b".into())],
        );
        assert_eq!(url.query(), Some("include=a&include=b"));
    }

    #[test]
    fn app_and_run_urls_follow_the_api_host() {
        assert_eq!(app_base("https://api.getport.io"), "https://app.getport.io");
        assert_eq!(
            app_base("https://api.us.getport.io"),
            "https://app.us.getport.io"
        );
        assert_eq!(app_base("https://api.us.port.io"), "https://app.us.port.io");
        assert_eq!(app_base("http://127.0.0.1:8080"), "http://127.0.0.1:8080");
        assert_eq!(
            run_url("https://api.us.getport.io", "r_AbC"),
            "https://app.us.getport.io/organization/run?runId=r_AbC"
        );
        assert_eq!(
            entity_url("https://api.getport.io", "service", "pay ments"),
            "https://app.getport.io/serviceEntity?identifier=pay+ments"
        );
    }

    #[test]
    fn debug_bodies_hide_credentials() {
        let shown = redacted_body(&json!({"clientId": "id", "clientSecret": "s3cr3t"}));
        assert!(!shown.contains("s3cr3t"));
        assert!(shown.contains("\"clientId\": \"id\""));
    }
}
