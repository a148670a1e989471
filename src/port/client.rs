//! The client itself: one access token per process (masked the moment it arrives), each
//! request sent with its retries as its route's rule allows, within the step's deadlines and
//! never after the step was cancelled.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use reqwest::{Method, Url};
use serde_json::{json, Value};

use super::answer::{judge_answer, read_capped, transport_failure, Failed, RawAnswer};
use super::redact::{mask_userinfo, redacted_body};
use super::retry::{self, AttemptFailure};
use super::routes::{self, Route, Rule};
use super::shown::{shown_base, shown_location};
use super::PortError;
use crate::inputs::Credentials;
use crate::runner::Console;
use crate::stop::Stop;

/// `User-Agent` of every request.
pub const USER_AGENT: &str = concat!("port-action/", env!("CARGO_PKG_VERSION"));

/// How long to wait for a TCP/TLS connection before giving up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Test-only: how many milliseconds (1 to 1000) one second of the retry policy's waits lasts,
/// its backoff and the waits Port names (`Retry-After`, `x-ratelimit-reset`) alike, so that
/// tests of retries do not wait seconds. Read where the client is built, and in debug builds
/// only (the tests' binary): a released binary always waits the policy's seconds. Nothing a
/// workflow should set.
pub const BACKOFF_UNIT_VAR: &str = "PORT_ACTION_TEST_BACKOFF_UNIT_MS";

/// How long one second of the retry policy's waits lasts, in milliseconds: 1000, or
/// [`BACKOFF_UNIT_VAR`] in a test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct BackoffUnit(u64);

impl BackoffUnit {
    const SECOND: BackoffUnit = BackoffUnit(1000);

    fn from_env() -> BackoffUnit {
        if !cfg!(debug_assertions) {
            return BackoffUnit::SECOND;
        }
        std::env::var(BACKOFF_UNIT_VAR)
            .ok()
            .and_then(|ms| ms.parse().ok())
            .filter(|ms| (1..=1000).contains(ms))
            .map_or(BackoffUnit::SECOND, BackoffUnit)
    }

    /// The time a wait of the policy takes.
    fn real(self, policy: Duration) -> Duration {
        self.scale(policy, self.0, 1000)
    }

    /// The policy's time that `real` stands for.
    fn policy(self, real: Duration) -> Duration {
        self.scale(real, 1000, self.0)
    }

    fn scale(self, d: Duration, times: u64, per: u64) -> Duration {
        if self == BackoffUnit::SECOND {
            return d;
        }
        let nanos = d.as_nanos() * u128::from(times) / u128::from(per);
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }
}

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
    backoff_unit: BackoffUnit,
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
type Query<'a> = [(&'a str, String)];

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
        let http = match super::hanging_dns::from_env() {
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
            backoff_unit: BackoffUnit::from_env(),
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
        let result = self
            .call_traced(deadline, route, &trail)
            .await
            .map_err(|e| e.naming_run(route.run.as_deref()));
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
        if let Some(e) = route.path_error() {
            return Err(e);
        }
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
                self.backoff_unit.policy(left),
                retry::jitter(),
            )
            .map(|wait| self.backoff_unit.real(wait));
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
            message,
            status,
            code,
            method,
            path,
            trace_id,
            run_id,
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
            run_id,
        },
        other => other,
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    #[test]
    fn a_backoff_unit_scales_the_policys_waits_and_a_second_leaves_them_as_they_are() {
        let wait = Duration::from_millis(16_123);
        assert_eq!(BackoffUnit::SECOND.real(wait), wait);
        assert_eq!(BackoffUnit::SECOND.policy(wait), wait);
        let unit = BackoffUnit(10);
        assert_eq!(
            unit.real(Duration::from_secs(60)),
            Duration::from_millis(600)
        );
        assert_eq!(
            unit.policy(Duration::from_millis(600)),
            Duration::from_secs(60)
        );
        assert_eq!(
            unit.real(Duration::from_millis(500)),
            Duration::from_millis(5)
        );
    }

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

    pub(in crate::port) fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    /// A client of the stand-in `port`, with three attempts per request.
    pub(in crate::port) fn stand_in_client(
        port: &port_stand_in::StandIn,
        deadline: Instant,
    ) -> PortClient {
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
