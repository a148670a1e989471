//! The HTTP side: a hyper HTTP/1.1 server on its own thread and tokio runtime. It reads each
//! request, records it, checks it (and later its answer) against the spec, applies injected faults (a canned answer, a
//! hang, a connection dropped without an answer, each before or after the request is carried
//! out), authenticates, and writes Port's headers
//! (`x-trace-id`, `x-ratelimit-*`) on every answer.

use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::routes::{self, Call, Reply};
use crate::spec::{self, spec};
use crate::state::State;
use crate::{FaultKind, Options, Recorded};

/// Port's request body limit.
pub(crate) const BODY_LIMIT: usize = 1024 * 1024;
const RATE_LIMIT: u64 = 100_000;
const RATE_PERIOD_SECS: u64 = 60;

/// What the server and the `StandIn` handle share.
pub(crate) struct Shared {
    pub options: Options,
    state: Mutex<State>,
    seq: AtomicU64,
    in_flight: AtomicUsize,
    pub max_in_flight: AtomicUsize,
    started: Instant,
}

impl Shared {
    pub fn new(options: Options) -> Shared {
        Shared {
            options,
            state: Mutex::new(State::default()),
            seq: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            started: Instant::now(),
        }
    }

    /// The model; a panic elsewhere does not make it unusable.
    pub fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The error that makes hyper drop a connection without writing a response.
#[derive(Debug)]
struct DropConnection;

impl fmt::Display for DropConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("connection dropped on purpose")
    }
}

impl std::error::Error for DropConnection {}

/// Counts a request in flight for as long as it is held (a hung request is released when its
/// connection goes away).
struct InFlight<'a>(&'a Shared);

impl<'a> InFlight<'a> {
    fn enter(shared: &'a Shared) -> InFlight<'a> {
        let now = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        shared.max_in_flight.fetch_max(now, Ordering::SeqCst);
        InFlight(shared)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Serves connections from `listener` until `shutdown` fires.
pub(crate) async fn serve(
    listener: std::net::TcpListener,
    shared: Arc<Shared>,
    mut shutdown: oneshot::Receiver<()>,
) {
    let listener = TcpListener::from_std(listener).expect("a non-blocking std listener");
    loop {
        let (stream, _) = tokio::select! {
            _ = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(_) => continue,
            },
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let shared = shared.clone();
                async move { handle(shared, req).await }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Splits a raw query string into decoded pairs, in order.
pub(crate) fn parse_query(raw: Option<&str>) -> Vec<(String, String)> {
    raw.map(|q| {
        form_urlencoded::parse(q.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    })
    .unwrap_or_default()
}

async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, DropConnection> {
    let _in_flight = InFlight::enter(&shared);
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    let query = parse_query(req.uri().query());
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let content_type = header("content-type").map(str::to_ascii_lowercase);
    let authorization = header("authorization").map(str::to_string);
    let accepts_gzip = header("accept-encoding").is_some_and(routes::accepts_gzip);

    let bytes = match req.into_body().collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => return Err(DropConnection),
    };
    let too_large = bytes.len() > BODY_LIMIT;
    let (body, bad_json) = if bytes.is_empty() || too_large {
        (None, false)
    } else {
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(v) => (Some(v), false),
            Err(_) => (
                Some(Value::String(String::from_utf8_lossy(&bytes).into_owned())),
                true,
            ),
        }
    };

    // What the spec says about this request.
    let matched = spec().find(&method, &path);
    let mut spec_errors = Vec::new();
    let is_json = content_type
        .as_deref()
        .is_some_and(|c| c.starts_with("application/json"));
    // Problems Port finds before the route schema, with the answer Port gives.
    let body_problem: Option<(u16, &str, String)> = if too_large {
        Some((
            413,
            "payload_too_large",
            format!("body: {} bytes, over Port's limit of 1 MiB", bytes.len()),
        ))
    } else if bad_json {
        Some((400, "bad_request", "body: not valid JSON".to_string()))
    } else if !bytes.is_empty() && !is_json {
        Some((
            415,
            "unsupported_media_type",
            format!(
                "body: content-type {:?} is not application/json",
                content_type.as_deref().unwrap_or("(none)")
            ),
        ))
    } else if bytes.is_empty() && is_json {
        Some((
            400,
            "bad_request",
            "body: empty, while content-type is application/json".to_string(),
        ))
    } else {
        None
    };
    if let Some((_, _, message)) = &body_problem {
        spec_errors.push(message.clone());
    }
    match &matched {
        None => spec_errors.push("no operation of Port's spec matches this method and path".into()),
        Some(m) if !too_large && !bad_json => {
            spec_errors.extend(spec().check(m, &query, body.as_ref()));
            if shared.options.strict_entity_keys {
                spec_errors.extend(spec::strict_entity_errors(&m.template, body.as_ref()));
            }
        }
        Some(_) => {}
    }

    let recorded = Recorded {
        method: method.clone(),
        path: path.clone(),
        query: query.clone(),
        headers: headers.clone(),
        body: body.clone(),
        status: 0,
        spec_errors: spec_errors.clone(),
        answer_encoding: None,
    };
    let seq = shared.seq.fetch_add(1, Ordering::SeqCst);
    let fault = {
        let mut state = shared.state();
        state.requests.push((seq, recorded));
        for e in &spec_errors {
            state.violations.push(format!("{method} {path}: {e}"));
        }
        let line = format!("{method} {path}");
        let index = state
            .faults
            .iter()
            .position(|f| line.starts_with(&f.matches));
        index.and_then(|i| state.faults.remove(i))
    };

    if !shared.options.latency.is_zero() {
        tokio::time::sleep(shared.options.latency).await;
    }

    let handled = || {
        answer(
            &shared,
            &method,
            &path,
            matched.as_ref(),
            &query,
            body.as_ref(),
            authorization.as_deref(),
            body_problem.as_ref(),
            &spec_errors,
        )
    };
    let reply = match fault.map(|f| f.kind) {
        Some(FaultKind::Hang) => {
            finish(&shared, seq, 0);
            std::future::pending::<()>().await;
            unreachable!("a pending future never completes");
        }
        Some(FaultKind::Reset) => {
            finish(&shared, seq, 0);
            return Err(DropConnection);
        }
        Some(FaultKind::Respond {
            status,
            headers,
            body,
        }) => {
            finish(&shared, seq, status);
            return Ok(respond(&shared, status, &headers, &body));
        }
        Some(FaultKind::ResetAfterHandling) => {
            handled();
            finish(&shared, seq, 0);
            return Err(DropConnection);
        }
        Some(FaultKind::HangAfterHandling) => {
            handled();
            finish(&shared, seq, 0);
            std::future::pending::<()>().await;
            unreachable!("a pending future never completes");
        }
        Some(FaultKind::RespondAfterHandling {
            status,
            headers,
            body,
        }) => {
            handled();
            finish(&shared, seq, status);
            return Ok(respond(&shared, status, &headers, &body));
        }
        None => handled(),
    };
    if let Some(m) = &matched {
        let errors = spec().check_answer(m, reply.status, &reply.body);
        let mut state = shared.state();
        for e in errors {
            state.violations.push(format!("{method} {path}: {e}"));
        }
    }
    // Port compresses the answers its spec says "can be compressed", when the client asks.
    let gzip = accepts_gzip
        && reply.status == 200
        && matched
            .as_ref()
            .is_some_and(|m| routes::compressed(&method, &m.template));
    if gzip {
        if let Some((_, r)) = shared.state().requests.iter_mut().find(|(s, _)| *s == seq) {
            r.answer_encoding = Some("gzip".into());
        }
    }
    finish(&shared, seq, reply.status);
    let mut response = respond(&shared, reply.status, &[], &reply.body);
    if gzip {
        routes::gzip_answer(&mut response, &reply.body);
    }
    Ok(response)
}

/// Port's order: the route, the token, the body's parsing, the route schema, the handler.
#[allow(clippy::too_many_arguments)]
fn answer(
    shared: &Shared,
    method: &str,
    path: &str,
    matched: Option<&spec::Matched>,
    query: &[(String, String)],
    body: Option<&Value>,
    authorization: Option<&str>,
    body_problem: Option<&(u16, &str, String)>,
    spec_errors: &[String],
) -> Reply {
    if let Some((413, error, _)) = body_problem {
        return Reply::error(413, error, "Request body is too large (limit is 1MiB)");
    }
    let Some(matched) = matched else {
        return Reply::error(404, "not_found", format!("Route {method}:{path} not found"));
    };
    let mut state = shared.state();
    let is_token_route = method == "POST" && matched.template == "/v1/auth/access_token";
    if !is_token_route {
        let token = authorization.and_then(|a| {
            let (scheme, token) = a.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        });
        match token {
            None => {
                return Reply::error(
                    401,
                    "unauthorized",
                    "Missing \"Authorization: Bearer <token>\" header",
                )
            }
            Some(t) if !state.token_valid(t) => {
                return Reply::error(
                    401,
                    "unauthorized",
                    "The access token is invalid or expired",
                )
            }
            Some(_) => {}
        }
    }
    if let Some((status, error, message)) = body_problem {
        return Reply::error(*status, error, message.clone());
    }
    if !spec_errors.is_empty() {
        return Reply::error(422, "invalid_request", spec_errors.join("; "));
    }
    if is_token_route {
        return routes::access_token(&mut state, body, shared.options.token_ttl_secs);
    }
    routes::dispatch(
        &mut state,
        &Call {
            method,
            path,
            matched,
            query,
            body,
        },
    )
}

/// Sets the answered status on the recorded request and tells the observer.
fn finish(shared: &Shared, seq: u64, status: u16) {
    let recorded = {
        let mut state = shared.state();
        let Some((_, r)) = state.requests.iter_mut().rev().find(|(s, _)| *s == seq) else {
            return;
        };
        r.status = status;
        r.clone()
    };
    if let Some(observer) = &shared.options.on_request {
        observer(&recorded);
    }
}

fn respond(
    shared: &Shared,
    status: u16,
    extra: &[(String, String)],
    body: &Value,
) -> Response<Full<Bytes>> {
    let (content_type, bytes) = match body {
        Value::Null => (None, Bytes::new()),
        Value::String(raw) => (Some("text/plain; charset=utf-8"), Bytes::from(raw.clone())),
        json => (
            Some("application/json; charset=utf-8"),
            Bytes::from(json.to_string()),
        ),
    };
    let mut response = Response::new(Full::new(bytes));
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let h = response.headers_mut();
    if let Some(ct) = content_type {
        h.insert(CONTENT_TYPE, HeaderValue::from_static(ct));
    }
    let elapsed = shared.started.elapsed().as_secs();
    let seq = shared.seq.load(Ordering::SeqCst);
    let standard = [
        ("x-trace-id", trace_id()),
        ("x-ratelimit-limit", RATE_LIMIT.to_string()),
        (
            "x-ratelimit-remaining",
            (RATE_LIMIT - seq % RATE_LIMIT).to_string(),
        ),
        (
            "x-ratelimit-reset",
            (RATE_PERIOD_SECS - elapsed % RATE_PERIOD_SECS).to_string(),
        ),
        ("x-ratelimit-period", RATE_PERIOD_SECS.to_string()),
    ];
    for (name, value) in standard {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(HeaderName::from_static(name), v);
        }
    }
    for (name, value) in extra {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            h.insert(n, v);
        }
    }
    response
}

fn trace_id() -> String {
    format!("{:032x}", fastrand::u128(..))
}

/// Binds the listener synchronously (so the address is known before the server runs).
pub(crate) fn bind(host: std::net::IpAddr, port: u16) -> (std::net::TcpListener, SocketAddr) {
    let listener = std::net::TcpListener::bind((host, port)).expect("the stand-in binds its port");
    listener
        .set_nonblocking(true)
        .expect("a listener can be made non-blocking");
    let addr = listener
        .local_addr()
        .expect("a bound listener has an address");
    (listener, addr)
}
