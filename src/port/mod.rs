//! The Port REST client: one access token per process (masked the moment it arrives),
//! percent-encoded paths, and Port's errors surfaced whole. Operations build a request with a
//! function of [`routes`] and hand it to [`PortClient::call`]; they never build URLs or
//! headers themselves.

mod error;
#[cfg(debug_assertions)]
mod hanging_dns;
pub mod retry;
pub mod routes;

pub use error::PortError;
pub use routes::Route;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use reqwest::{Method, StatusCode, Url};
use serde_json::{json, Value};

use crate::inputs::Credentials;
use crate::runner::Console;
use crate::stop::Stop;
use retry::AttemptFailure;
use routes::Rule;

/// `User-Agent` of every request.
pub const USER_AGENT: &str = concat!("port-action/", env!("CARGO_PKG_VERSION"));

/// How long to wait for a TCP/TLS connection before giving up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The most of one answer the client reads: 32 MiB. Port's answers are far smaller (a page of
/// search results, a bulk report); anything larger is not Port's API, and reading it whole
/// could exhaust the runner's memory. A larger answer fails the request, without retrying.
pub const MAX_ANSWER_BYTES: usize = 32 * 1024 * 1024;

/// The most JSON values one answer may hold, counted before it is parsed (see
/// [`json_values_within`]): 5 million. Parsed, a value takes 72 bytes and more however short its
/// text, so 31 MB of `[],` (3 bytes each) took 743 MiB. With this bound no answer, however
/// it is made, takes much more memory parsed than ordinary entities up to the 32 MiB read do
/// (about 4 million values, 450 MiB); a page of search results holds some tens of thousands.
pub const MAX_ANSWER_VALUES: usize = 5_000_000;

/// How many values an object counts as: its hash table and entries cost about as much as
/// three values.
const OBJECT_VALUES: usize = 3;

/// The most characters of a redirect's `Location` shown in an error.
const MAX_LOCATION_CHARS: usize = 200;

/// Talks to one Port API on behalf of one step.
pub struct PortClient {
    http: reqwest::Client,
    api_base: Url,
    credentials: Credentials,
    token: tokio::sync::Mutex<Option<String>>,
    console: Arc<Console>,
    request_timeout: Duration,
    max_attempts: u32,
    /// The step's deadline: no request is started, and no retry waited for, past it.
    deadline: Instant,
    /// The deadline of calls that name none: the time after it is kept for the status write.
    work_deadline: Instant,
    stop: Stop,
}

/// How hard a client tries.
#[derive(Debug, Clone)]
pub struct Limits {
    /// One request's timeout.
    pub request_timeout: Duration,
    /// Attempts per request, the first included.
    pub max_attempts: u32,
    /// The whole step's deadline.
    pub deadline: Instant,
    /// The deadline of [`PortClient::call`]; [`PortClient::call_until`] may go up to `deadline`.
    pub work_deadline: Instant,
    /// Once set, nothing more is sent and requests in flight are dropped.
    pub stop: Stop,
}

/// Query parameters, in order (repeated keys allowed).
pub type Query<'a> = [(&'a str, String)];

impl PortClient {
    /// A client for the API at `api_base` (no `/v1`, no trailing slash). A password in
    /// `api_base` (`https://user:password@host`) is masked at once; every URL the client shows
    /// leaves the user info out.
    pub fn new(
        api_base: &str,
        credentials: Credentials,
        limits: Limits,
        console: Arc<Console>,
    ) -> anyhow::Result<Self> {
        let api_base = Url::parse(api_base)
            .map_err(|e| anyhow::anyhow!("invalid Port API URL '{}': {e}", shown_base(api_base)))?;
        mask_userinfo(&api_base, &console);
        let http = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            // Port's API does not redirect; a 3xx is reported, never followed (see
            // `PortError::Redirect`).
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(CONNECT_TIMEOUT.min(limits.request_timeout));
        #[cfg(debug_assertions)]
        let http = match hanging_dns::from_env() {
            Some(resolver) => http.dns_resolver(resolver),
            None => http,
        };
        let http = http
            .build()
            .map_err(|e| anyhow::anyhow!("cannot set up the HTTP client: {e}"))?;
        Ok(PortClient {
            http,
            api_base,
            credentials,
            token: tokio::sync::Mutex::new(None),
            console,
            request_timeout: limits.request_timeout,
            max_attempts: limits.max_attempts.max(1),
            deadline: limits.deadline,
            work_deadline: limits.work_deadline.min(limits.deadline),
            stop: limits.stop,
        })
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

    /// The access token, fetched once per process (not after `deadline`) and masked before
    /// anything about the answer is printed.
    async fn token(&self, deadline: Instant) -> Result<String, PortError> {
        let mut slot = self.token.lock().await;
        if let Some(t) = slot.as_ref() {
            return Ok(t.clone());
        }
        let route = routes::token(&self.credentials.client_id, &self.credentials.client_secret);
        let url = self.route_url(&route);
        let (status, value) = self.exchange(deadline, &route, &url, None, None).await?;
        let token = value
            .get("accessToken")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        if let Some(t) = &token {
            self.console.add_mask(t);
        }
        self.debug_json(&format!("answer {status}"), &value);
        let token = token.ok_or_else(|| PortError::Decode {
            status,
            method: "POST".into(),
            path: url.path().to_string(),
            detail: "no accessToken in the answer".into(),
        })?;
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
    /// retried as [`retry`] decides; a 401 fetches a new token once and tries again. Nothing is
    /// started after the work deadline ([`Limits::work_deadline`]): the time after it is kept
    /// for the status write, which uses [`PortClient::call_until`].
    pub async fn call(&self, route: &Route) -> Result<Value, PortError> {
        self.call_until(self.work_deadline, route).await
    }

    /// The URL of `route`.
    fn route_url(&self, route: &Route) -> Url {
        let segments: Vec<&str> = route.segments.iter().map(String::as_str).collect();
        self.url(&segments, &route.query)
    }

    /// The path of `route` as errors show it: no query.
    fn route_path(&self, route: &Route) -> String {
        let segments: Vec<&str> = route.segments.iter().map(String::as_str).collect();
        self.url(&segments, &[]).path().to_string()
    }

    /// [`PortClient::call_until`] without the stop.
    async fn call_inner(
        &self,
        deadline: Instant,
        route: &Route,
        trail: &Trail,
    ) -> Result<Value, PortError> {
        let deadline = deadline.min(self.deadline);
        let url = self.route_url(route);
        let mut refreshed = false;
        loop {
            if Instant::now() >= deadline {
                return Err(PortError::Deadline {
                    method: route.method.to_string(),
                    path: url.path().to_string(),
                });
            }
            let token = self.token(deadline).await?;
            trail.attempted.store(true, Ordering::SeqCst);
            match self
                .exchange(deadline, route, &url, Some(&token), Some(trail))
                .await
            {
                Err(e) if e.status() == Some(401) && !refreshed => {
                    refreshed = true;
                    self.console.info(
                        "Port refused the access token (it may have just expired); fetching a new one",
                    );
                    self.forget_token(&token).await;
                }
                Err(e) => return Err(e),
                Ok((status, value)) => {
                    self.debug_json(&format!("answer {status}"), &value);
                    return Ok(value);
                }
            }
        }
    }

    /// [`PortClient::call`] with its own deadline (never later than the step's): no attempt of
    /// this call, the token request included, starts at or after `deadline`, and no retry wait
    /// ends past it. A call that cannot start in time fails with [`PortError::Deadline`] and
    /// sends nothing; once an attempt has failed, the deadline ends the retries with that
    /// attempt's error. An attempt started in time is given at most until `deadline` to finish.
    ///
    /// Once the step is stopped (the runner cancelled it), nothing is sent and a request in
    /// flight is dropped: [`PortError::Stopped`], which says whether an attempt had started.
    ///
    /// A DELETE whose answer was lost (no answer, or a 500, 502 or 504) and whose retry meets
    /// 404 has what it asked for: the thing is gone. That is a success (`{"ok": true}`) with a
    /// warning saying so; a 404 with no answer lost before it stays an error.
    pub async fn call_until(&self, deadline: Instant, route: &Route) -> Result<Value, PortError> {
        let trail = Trail::default();
        let result = self.call_traced(deadline, route, &trail).await;
        let method = &route.method;
        match (result, trail.lost.get()) {
            // A DELETE sent again after its answer was lost, and told there is nothing there:
            // what was to be deleted is gone, most likely by the attempt whose answer was lost.
            // A 404 with no answer lost before it is Port's answer, and an error.
            (Err(e), Some(lost)) if *method == Method::DELETE && e.status() == Some(404) => {
                self.console.warning(
                    Some("DELETE answer lost"),
                    &format!(
                        "The answer to {method} {} was lost ({lost}); the retry found nothing \
                         there ({e}): the lost request deleted it, or something else did \
                         meanwhile. It is gone, as asked",
                        self.route_path(route)
                    ),
                );
                Ok(json!({"ok": true}))
            }
            (result, _) => result,
        }
    }

    /// [`PortClient::call_until`], noting in `trail` what the result alone does not say.
    async fn call_traced(
        &self,
        deadline: Instant,
        route: &Route,
        trail: &Trail,
    ) -> Result<Value, PortError> {
        let stopped = |why: &str| PortError::Stopped {
            method: route.method.to_string(),
            path: self.route_path(route),
            why: why.to_string(),
            sent: trail.attempted.load(Ordering::SeqCst),
        };
        if let Some(why) = self.stop.reason() {
            return Err(stopped(why));
        }
        tokio::select! {
            r = self.call_inner(deadline, route, trail) => r,
            () = self.stop.stopped() => Err(stopped(self.stop.reason().unwrap_or("stopped"))),
        }
    }

    /// One request with its retries, none started at or after `deadline`: sent again only as
    /// the route's rule allows.
    async fn exchange(
        &self,
        deadline: Instant,
        route: &Route,
        url: &Url,
        token: Option<&str>,
        trail: Option<&Trail>,
    ) -> Result<(u16, Value), PortError> {
        let (method, body) = (&route.method, route.body.as_ref());
        let repeat = route.rule.repeat();
        let mut attempt = 1;
        let mut previous: Option<PortError> = None;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                // A retry wait ends before the deadline, but the timer may wake a little late.
                return Err(previous.unwrap_or_else(|| PortError::Deadline {
                    method: method.to_string(),
                    path: url.path().to_string(),
                }));
            }
            let failed = match self.send(left, method.clone(), url, body, token).await {
                Ok(answer) => return Ok(answer),
                Err(failed) => failed,
            };
            if let Some(trail) = trail.filter(|_| may_be_done(failed.failure)) {
                let _ = trail.lost.set(failed.error.to_string());
            }
            let left = deadline.saturating_duration_since(Instant::now());
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
                return Err(match route.rule {
                    Rule::Once(why) if may_be_done(failed.failure) => {
                        answer_lost(failed.error, why)
                    }
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
            previous = Some(failed.error);
        }
    }

    /// One HTTP exchange, given `left` (more than zero) to finish: logs it and judges Port's
    /// answer (see [`judge_answer`]).
    async fn send(
        &self,
        left: Duration,
        method: Method,
        url: &Url,
        body: Option<&Value>,
        token: Option<&str>,
    ) -> Result<(u16, Value), Failed> {
        let shown = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        };
        if let Some(b) = body {
            self.debug_json(&format!("{method} {shown}"), b);
        }
        let timeout = self.request_timeout.min(left);
        let started = Instant::now();
        let answer = self
            .fetch(timeout, &method, url, body, token)
            .await
            .map_err(|e| transport_failure(e, &method, url, timeout))?;
        self.console.info(&format!(
            "{method} {shown} → {} ({} ms)",
            answer.status.as_u16(),
            started.elapsed().as_millis()
        ));
        judge_answer(&method, url.path(), answer)
    }

    /// Sends the request and reads Port's answer as it came: the headers the client uses, and
    /// at most [`MAX_ANSWER_BYTES`] of the body. A redirect's body is not read.
    async fn fetch(
        &self,
        timeout: Duration,
        method: &Method,
        url: &Url,
        body: Option<&Value>,
        token: Option<&str>,
    ) -> Result<RawAnswer, reqwest::Error> {
        let mut req = self
            .http
            .request(method.clone(), url.clone())
            .timeout(timeout);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let mut resp = req.send().await?;
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
        let location = resp
            .headers()
            .get(reqwest::header::LOCATION)
            .map(|v| shown_location(v.as_bytes()));
        let body = if status.is_redirection() {
            // Not followed, so not read either.
            Some(Vec::new())
        } else {
            read_capped(&mut resp).await?
        };
        Ok(RawAnswer {
            status,
            trace_id,
            server_delay,
            location,
            body,
        })
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

/// What one call learnt along the way that its result alone does not say.
#[derive(Debug, Default)]
struct Trail {
    /// An attempt of the request itself (not of the token's) had started: Port may have it.
    attempted: AtomicBool,
    /// The first attempt whose answer was lost after it was sent: Port may have done it.
    lost: OnceLock<String>,
}

/// Whether an attempt that failed so may have been carried out by Port: its answer was lost
/// after the request was sent (a timeout, a dropped connection), or came from a gateway or a
/// failing server (500, 502, 504) rather than from Port's considered refusal. A 503 is not:
/// the service did not take the request.
fn may_be_done(failure: AttemptFailure) -> bool {
    matches!(
        failure,
        AttemptFailure::Interrupted | AttemptFailure::Status(500 | 502 | 504)
    )
}

/// A failed attempt, with what the retry policy needs to know.
#[derive(Debug)]
struct Failed {
    error: PortError,
    failure: AttemptFailure,
    server_delay: Option<Duration>,
}

/// Port's answer to one request, read but not yet judged.
struct RawAnswer {
    status: StatusCode,
    /// `x-trace-id`, which Port's support asks for.
    trace_id: Option<String>,
    /// The wait Port asked for (`Retry-After`, `X-RateLimit-Reset`), capped.
    server_delay: Option<Duration>,
    /// The `Location` header, as [`shown_location`] shows it.
    location: Option<String>,
    /// The body; `None` when it was larger than [`MAX_ANSWER_BYTES`].
    body: Option<Vec<u8>>,
}

/// A request that got no complete answer: how it failed, for the retry policy, and in words.
/// `timeout` is the time the request was given.
fn transport_failure(e: reqwest::Error, method: &Method, url: &Url, timeout: Duration) -> Failed {
    // reqwest's message names the URL, user info included; the error names it below.
    let e = e.without_url();
    let chain = error_chain(&e);
    let (failure, detail) = if e.is_connect() && chain.contains("certificate") {
        let hint = "a TLS-inspecting proxy or a private CA? Give a CA bundle that \
                    includes it in SSL_CERT_FILE";
        (AttemptFailure::Untrusted, format!("{chain} ({hint})"))
    } else if e.is_connect() {
        (AttemptFailure::Connect, chain)
    } else if e.is_timeout() {
        let within = humantime(timeout);
        let detail =
            format!("no answer within {within} (input 'requestTimeout' or the step's 'timeout')");
        (AttemptFailure::Interrupted, detail)
    } else {
        (AttemptFailure::Interrupted, chain)
    };
    Failed {
        failure,
        server_delay: None,
        error: PortError::Transport {
            method: method.to_string(),
            url: shown_url(url),
            detail,
        },
    }
}

/// What Port's answer to `method path` comes to: its status and JSON body, or the error a
/// redirect, an oversized body, an error status or a body that is not JSON is.
// The error is as large as the one `send` returns (clippy does not weigh async functions), and
// is moved once per attempt: boxing it would buy nothing.
#[allow(clippy::result_large_err)]
fn judge_answer(method: &Method, path: &str, answer: RawAnswer) -> Result<(u16, Value), Failed> {
    let status = answer.status;
    if status.is_redirection() {
        return Err(Failed {
            failure: AttemptFailure::Status(status.as_u16()),
            server_delay: None,
            error: PortError::Redirect {
                status: status.as_u16(),
                method: method.to_string(),
                path: path.to_string(),
                location: answer.location,
            },
        });
    }
    let Some(bytes) = answer.body else {
        return Err(Failed {
            failure: AttemptFailure::TooLarge,
            server_delay: None,
            error: PortError::TooLarge {
                method: method.to_string(),
                path: path.to_string(),
            },
        });
    };
    let text = String::from_utf8_lossy(&bytes);
    let parsable = json_values_within(&text, MAX_ANSWER_VALUES);
    if !status.is_success() {
        // An error body too large to parse is shown as the text it starts with.
        let shown = if parsable {
            &text[..]
        } else {
            let mut cut = text.len().min(300);
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            &text[..cut]
        };
        let (code, message) = error::parse_error_body(status.as_u16(), shown);
        return Err(Failed {
            failure: AttemptFailure::Status(status.as_u16()),
            server_delay: answer.server_delay,
            error: PortError::Api {
                status: status.as_u16(),
                code,
                message,
                method: method.to_string(),
                path: path.to_string(),
                trace_id: answer.trace_id,
            },
        });
    }
    if !parsable {
        return Err(Failed {
            failure: AttemptFailure::TooLarge,
            server_delay: None,
            error: PortError::TooManyValues {
                method: method.to_string(),
                path: path.to_string(),
            },
        });
    }
    let value = if text.trim().is_empty() && status == StatusCode::NO_CONTENT {
        json!({"ok": true})
    } else {
        serde_json::from_str(&text).map_err(|e| Failed {
            failure: AttemptFailure::Status(status.as_u16()),
            server_delay: None,
            error: PortError::Decode {
                status: status.as_u16(),
                method: method.to_string(),
                path: path.to_string(),
                detail: format!("not JSON ({e})"),
            },
        })?
    };
    Ok((status.as_u16(), value))
}

/// Whether `text` holds at most `limit` JSON values, counted without parsing it: each `[`, `,`
/// and `:` outside strings (a container, an element, a member's value) counts one, each `{`
/// [`OBJECT_VALUES`]. Text that is not JSON is counted the same way; the parser judges it.
fn json_values_within(text: &str, limit: usize) -> bool {
    let mut count = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in text.as_bytes() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b',' | b':' | b'{' => {
                count += if b == b'{' { OBJECT_VALUES } else { 1 };
                if count > limit {
                    return false;
                }
            }
            _ => {}
        }
    }
    true
}

#[cfg(test)]
mod answer_tests {
    use super::*;

    fn answer(status: u16, body: Option<&str>) -> RawAnswer {
        RawAnswer {
            status: StatusCode::from_u16(status).unwrap(),
            trace_id: Some("t-1".to_string()),
            server_delay: Some(Duration::from_secs(2)),
            location: None,
            body: body.map(|b| b.as_bytes().to_vec()),
        }
    }

    const PATH: &str = "/v1/blueprints/svc/entities";

    fn judged(answer: RawAnswer) -> (u16, Value) {
        match judge_answer(&Method::POST, PATH, answer) {
            Ok(ok) => ok,
            Err(failed) => panic!("judged a failure: {failed:?}"),
        }
    }

    fn failed(answer: RawAnswer) -> Failed {
        match judge_answer(&Method::POST, PATH, answer) {
            Ok(ok) => panic!("judged a success: {ok:?}"),
            Err(failed) => failed,
        }
    }

    #[test]
    fn an_empty_204_is_ok_and_a_json_body_is_read() {
        assert_eq!(judged(answer(204, Some(" \n"))), (204, json!({"ok": true})));
        assert_eq!(
            judged(answer(
                200,
                Some(r#"{"ok":true,"entity":{"identifier":"a"}}"#)
            )),
            (200, json!({"ok": true, "entity": {"identifier": "a"}}))
        );
    }

    #[test]
    fn a_redirect_is_an_error_naming_where_it_pointed() {
        let mut a = answer(302, Some(""));
        a.location = Some("https://elsewhere.example/login".to_string());
        let f = failed(a);
        assert_eq!(f.failure, AttemptFailure::Status(302));
        assert_eq!(f.server_delay, None);
        assert_eq!(
            f.error.to_string(),
            "Port API 302: POST /v1/blueprints/svc/entities was redirected to \
             https://elsewhere.example/login; port-action follows no redirects (check input \
             'baseUrl')"
        );
    }

    #[test]
    fn an_error_status_carries_ports_code_message_trace_id_and_wait() {
        let f = failed(answer(
            422,
            Some(r#"{"ok":false,"error":"invalid_request","message":"bad title"}"#),
        ));
        assert_eq!(f.failure, AttemptFailure::Status(422));
        assert_eq!(f.server_delay, Some(Duration::from_secs(2)));
        assert_eq!(
            f.error.to_string(),
            "Port API 422 invalid_request: bad title (POST /v1/blueprints/svc/entities, \
             trace id t-1)"
        );
    }

    #[test]
    fn an_oversized_answer_is_too_large_whatever_its_status() {
        for status in [200, 500] {
            let f = failed(answer(status, None));
            assert_eq!(f.failure, AttemptFailure::TooLarge, "{status}");
            assert_eq!(f.server_delay, None);
            assert_eq!(
                f.error.to_string(),
                "Port's answer to POST /v1/blueprints/svc/entities was larger than 32 MiB; \
                 port-action reads no more than that"
            );
        }
    }

    #[test]
    fn values_are_counted_outside_strings_only() {
        assert!(json_values_within("[[],[],[]]", 6));
        assert!(!json_values_within("[[],[],[]]", 5));
        // An object counts three.
        assert!(json_values_within(r#"{"a":1,"b":[2]}"#, 7));
        assert!(!json_values_within(r#"{"a":1,"b":[2]}"#, 6));
        // Brackets, commas and colons in strings, escaped quotes included, are text.
        assert!(json_values_within(r#"["[,{:}]", "a\"[,[,[", "\\"]"#, 3));
        assert!(!json_values_within(r#"["[,{:}]", "a\"[,[,[", "\\", 1]"#, 3));
        assert!(json_values_within("", 0));
    }

    #[test]
    fn an_answer_with_too_many_values_is_refused_before_it_is_parsed() {
        let many = format!("[{}[]]", "[],".repeat(MAX_ANSWER_VALUES / 2));
        let f = failed(answer(200, Some(&many)));
        assert_eq!(f.failure, AttemptFailure::TooLarge);
        assert_eq!(
            f.error.to_string(),
            "Port's answer to POST /v1/blueprints/svc/entities holds more than 5000000 JSON \
             values (an object counting three); port-action parses no more than that (a page \
             of Port's answers holds far fewer)"
        );
        // Just within the limit, it is parsed.
        let within = format!("[{}[]]", "[],".repeat(MAX_ANSWER_VALUES / 2 - 1));
        assert_eq!(judged(answer(200, Some(&within))).0, 200);
        // An error status keeps its status; the body is shown as the text it starts with.
        let f = failed(answer(502, Some(&many)));
        assert!(
            matches!(&f.error, PortError::Api { status: 502, message, .. }
                if message.starts_with("[[],[],") && message.len() == 300),
            "{:?}",
            f.error
        );
    }

    #[test]
    fn a_success_that_is_not_json_is_a_decode_error() {
        for body in ["<html>hi</html>", ""] {
            let f = failed(answer(200, Some(body)));
            assert_eq!(f.failure, AttemptFailure::Status(200));
            assert_eq!(f.server_delay, None);
            assert!(
                matches!(&f.error, PortError::Decode { status: 200, detail, .. }
                    if detail.starts_with("not JSON (")),
                "{:?}",
                f.error
            );
            assert!(
                f.error.to_string().starts_with(
                    "Port answered POST /v1/blueprints/svc/entities with 200 but an unexpected \
                     body: not JSON ("
                ),
                "{}",
                f.error
            );
        }
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
        PortError::Api {
            status,
            code,
            message,
            method,
            path,
            trace_id,
        } => PortError::Api {
            message: format!(
                "{message}; this answer may come from a gateway after Port did the work, so \
                 Port may have done it: the request was not sent again, because {why}"
            ),
            status,
            code,
            method,
            path,
            trace_id,
        },
        other => other,
    }
}

/// Pretty JSON with credential fields replaced at any depth (`clientSecret`, `accessToken`,
/// `access_token`, `refreshToken`, …), for debug logs. The console also redacts every secret
/// masked so far.
fn redacted_body(body: &Value) -> String {
    fn redact(v: &mut Value) {
        match v {
            Value::Object(map) => {
                for (key, value) in map.iter_mut() {
                    let k: String = key
                        .chars()
                        .filter(char::is_ascii_alphanumeric)
                        .collect::<String>()
                        .to_ascii_lowercase();
                    let credential = k != "tokentype"
                        && (k.contains("secret") || k.contains("token") || k.contains("password"));
                    if credential && !value.is_null() {
                        *value = Value::String("***".into());
                    } else {
                        redact(value);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(redact),
            _ => {}
        }
    }
    let mut b = body.clone();
    redact(&mut b);
    serde_json::to_string_pretty(&b).unwrap_or_default()
}

/// Reads the body, up to [`MAX_ANSWER_BYTES`]; `None` when it is larger (the rest unread).
async fn read_capped(resp: &mut reqwest::Response) -> Result<Option<Vec<u8>>, reqwest::Error> {
    if resp
        .content_length()
        .is_some_and(|n| n > MAX_ANSWER_BYTES as u64)
    {
        return Ok(None);
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        if bytes.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Ok(None);
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(Some(bytes))
}

/// `url` without user info.
fn without_userinfo(url: &Url) -> Url {
    let mut u = url.clone();
    // Both fail only for URLs that cannot have user info.
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u
}

/// A URL as the client shows it: no user info, no query.
fn shown_url(url: &Url) -> String {
    let mut u = without_userinfo(url);
    u.set_query(None);
    u.to_string()
}

/// A base URL as given, for an error: without user info when it parses, else as given.
fn shown_base(api_base: &str) -> String {
    match Url::parse(api_base) {
        Ok(url) => without_userinfo(&url)
            .as_str()
            .trim_end_matches('/')
            .to_string(),
        Err(_) => api_base.to_string(),
    }
}

/// Registers a password in the base URL, and `user:password`, as secrets, in the form given
/// and percent-decoded.
fn mask_userinfo(url: &Url, console: &Console) {
    let Some(password) = url.password() else {
        return;
    };
    let decode = |s: &str| percent_decode(s).unwrap_or_else(|| s.to_string());
    let user = url.username();
    let mut secrets = vec![
        format!("{user}:{password}"),
        format!("{}:{}", decode(user), decode(password)),
        password.to_string(),
        decode(password),
    ];
    secrets.dedup();
    for secret in secrets {
        console.add_mask(&secret);
    }
}

/// `%XX` sequences decoded; `None` when the result is not UTF-8 or nothing was encoded.
pub(crate) fn percent_decode(s: &str) -> Option<String> {
    if !s.contains('%') {
        return None;
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h)? * 16 + hex(l)?) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// A redirect's `Location`, outside text: on one line, without user info, at most
/// [`MAX_LOCATION_CHARS`] characters.
fn shown_location(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let one_line = one_line.trim();
    let clean = match Url::parse(one_line) {
        Ok(url) if url.password().is_some() || !url.username().is_empty() => {
            without_userinfo(&url).to_string()
        }
        _ => one_line.to_string(),
    };
    if clean.chars().count() > MAX_LOCATION_CHARS {
        let cut: String = clean.chars().take(MAX_LOCATION_CHARS).collect();
        format!("{cut}…")
    } else {
        clean
    }
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
/// as its own app base. Never with the base URL's user info.
pub fn app_base(api_base: &str) -> String {
    match Url::parse(api_base) {
        Ok(url) => match url.host_str() {
            Some(host) if host.starts_with("api.") => {
                format!("https://app.{}", &host["api.".len()..])
            }
            _ => shown_base(api_base),
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
    if ms < 10_000 && !ms.is_multiple_of(1000) {
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

    /// A client of `base` with `attempts` tries and all its time until `deadline`.
    fn client_of(
        base: &str,
        client_id: &str,
        client_secret: &str,
        attempts: u32,
        deadline: Instant,
        console: Console,
    ) -> PortClient {
        PortClient::new(
            base,
            Credentials {
                client_id: client_id.into(),
                client_secret: client_secret.into(),
            },
            Limits {
                request_timeout: Duration::from_secs(5),
                max_attempts: attempts,
                deadline,
                work_deadline: deadline,
                stop: Stop::default(),
            },
            Arc::new(console),
        )
        .unwrap()
    }

    fn client(base: &str) -> PortClient {
        let deadline = Instant::now() + Duration::from_secs(5);
        client_of(
            base,
            "id",
            "secret",
            1,
            deadline,
            Console::capturing(false).0,
        )
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
    fn debug_bodies_hide_credentials_at_any_depth() {
        let shown = redacted_body(&json!({
            "clientId": "id",
            "clientSecret": "s3cr3t",
            "tokenType": "Bearer",
            "data": {"access_token": "t0k3n", "items": [{"refreshToken": "r3fr3sh"}]},
        }));
        for secret in ["s3cr3t", "t0k3n", "r3fr3sh"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.contains("\"clientId\": \"id\""));
        assert!(shown.contains("\"tokenType\": \"Bearer\""));
    }

    #[test]
    fn links_and_shown_urls_leave_user_info_out() {
        let base = "https://user:s3cretpass@proxy.example.com/port";
        assert_eq!(app_base(base), "https://proxy.example.com/port");
        assert_eq!(
            run_url(base, "r_1"),
            "https://proxy.example.com/port/organization/run?runId=r_1"
        );
        assert_eq!(
            entity_url(base, "service", "x"),
            "https://proxy.example.com/port/serviceEntity?identifier=x"
        );
        assert_eq!(
            run_url("https://u:p@api.getport.io", "r_1"),
            "https://app.getport.io/organization/run?runId=r_1"
        );
        let url = Url::parse("http://user:s3cretpass@127.0.0.1:9/v1/x?a=b").unwrap();
        assert_eq!(shown_url(&url), "http://127.0.0.1:9/v1/x");
    }

    #[test]
    fn the_base_urls_password_is_masked_as_given_and_decoded() {
        let (console, out) = Console::capturing(false);
        let deadline = Instant::now() + Duration::from_secs(5);
        let base = "https://deploy:p%40ss%3Aw0rd@proxy.example.com";
        let _ = client_of(base, "id", "secret", 1, deadline, console);
        let masks = out.lines();
        // `%` is `%25` in a workflow command.
        for secret in [
            "p%2540ss%253Aw0rd",
            "p@ss:w0rd",
            "deploy:p@ss:w0rd",
            "deploy:p%2540ss%253Aw0rd",
        ] {
            assert!(
                masks.contains(&format!("::add-mask::{secret}")),
                "{secret} in {masks:?}"
            );
        }
    }

    #[test]
    fn a_location_is_shown_on_one_line_shortened_and_without_user_info() {
        assert_eq!(
            shown_location(b"https://u:pw@elsewhere.example/a"),
            "https://elsewhere.example/a"
        );
        assert_eq!(
            shown_location(b"/v1/x\r\n::error::forged"),
            "/v1/x  ::error::forged"
        );
        let long = format!("https://elsewhere.example/{}", "a".repeat(1000));
        let shown = shown_location(long.as_bytes());
        assert_eq!(shown.chars().count(), MAX_LOCATION_CHARS + 1);
        assert!(shown.ends_with('…'));
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    fn stand_in_client(port: &port_stand_in::StandIn, deadline: Instant) -> PortClient {
        let (id, secret) = (port_stand_in::CLIENT_ID, port_stand_in::CLIENT_SECRET);
        client_of(
            &port.url(),
            id,
            secret,
            3,
            deadline,
            Console::capturing(false).0,
        )
    }

    #[test]
    fn nothing_is_sent_once_the_steps_deadline_has_passed() {
        let port = port_stand_in::StandIn::start();
        let c = stand_in_client(&port, Instant::now());
        let e = runtime()
            .block_on(c.call(&routes::get_run("r_1")))
            .unwrap_err();
        assert!(
            matches!(&e, PortError::Deadline { method, path }
                if method == "GET" && path == "/v1/actions/runs/r_1"),
            "{e:?}"
        );
        assert_eq!(port.requests().len(), 0, "not even the token request");
    }

    #[test]
    fn a_call_with_an_earlier_deadline_sends_nothing_after_it_and_the_full_one_still_works() {
        let port = port_stand_in::StandIn::start();
        port.add_run("r_1", "IN_PROGRESS", &[]);
        let c = stand_in_client(&port, Instant::now() + Duration::from_secs(30));
        let rt = runtime();
        let early = Instant::now();
        let e = rt
            .block_on(c.call_until(early, &routes::get_run("r_1")))
            .unwrap_err();
        assert!(matches!(e, PortError::Deadline { .. }), "{e:?}");
        assert_eq!(port.requests().len(), 0);
        rt.block_on(c.call(&routes::get_run("r_1"))).unwrap();
        assert_eq!(port.requests().len(), 2, "the token and the read");
        // With a token in hand, a late call still sends nothing.
        let e = rt
            .block_on(c.call_until(early, &routes::get_run("r_1")))
            .unwrap_err();
        assert!(matches!(e, PortError::Deadline { .. }), "{e:?}");
        assert_eq!(port.requests().len(), 2);
    }

    #[test]
    fn a_call_never_outlives_the_steps_deadline() {
        let port = port_stand_in::StandIn::start();
        let c = stand_in_client(&port, Instant::now());
        let later = Instant::now() + Duration::from_secs(60);
        let e = runtime()
            .block_on(c.call_until(later, &routes::get_run("r_1")))
            .unwrap_err();
        assert!(matches!(e, PortError::Deadline { .. }), "{e:?}");
        assert_eq!(port.requests().len(), 0);
    }

    #[test]
    fn an_unreachable_hosts_error_leaves_the_password_out() {
        // Port 9 (discard) on 127.0.0.1: nothing listens in a test environment.
        let c = client("http://user:s3cretpass@127.0.0.1:9");
        let e = runtime()
            .block_on(c.call(&routes::get_run("r_1")))
            .unwrap_err();
        let text = e.to_string();
        assert!(
            text.starts_with("cannot reach Port: POST http://127.0.0.1:9/v1/auth/access_token"),
            "{text}"
        );
        assert!(
            !text.contains("s3cretpass") && !text.contains("user:"),
            "{text}"
        );
    }
}
