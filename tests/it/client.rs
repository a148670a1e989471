//! How the Port client treats answers that are not Port's API: redirects it does not follow,
//! answers too large to read, rate-limit headers no clock can honour; and how it keeps
//! credentials out of what it prints, and its requests within the step's deadline.

use std::io::Write;
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use port_stand_in::StandIn;
use serde_json::{json, Value};

use crate::support::{lines, read_head, respond, Outcome, Step, TcpServer, WORKFLOW_RUN_URL};

const TOKEN: &str = "POST /v1/auth/access_token";
const GET_PAYMENTS: &str = "GET /v1/blueprints/service/entities/payments";
const UPSERT: &str = "POST /v1/blueprints/service/entities?upsert=true&merge=true&run_id=r_demo";

fn stand_in_with_entity() -> StandIn {
    let port = StandIn::start();
    port.add_run("r_demo", "IN_PROGRESS", &[WORKFLOW_RUN_URL]);
    port.add_entity(
        "service",
        json!({"identifier": "payments", "title": "Payments"}),
    );
    port
}

/// A GET of entity `payments`, tied to no run: a token request and one read.
fn get_payments(base_url: &str) -> Step {
    Step::with_base_url(base_url)
        .event(None)
        .input("operation", "GET")
        .input("blueprint", "service")
        .input("identifier", "payments")
        .input("requestTimeout", "3s")
        .input("timeout", "8s")
}

/// A raw HTTP server on 127.0.0.1 that records the head of every request and hands each
/// connection to `serve`.
struct Listener {
    server: TcpServer,
    heads: Arc<Mutex<Vec<String>>>,
}

impl Listener {
    fn start(serve: fn(&mut TcpStream)) -> Listener {
        let heads: Arc<Mutex<Vec<String>>> = Arc::default();
        let record = heads.clone();
        let server = TcpServer::start(move |mut conn| {
            let head = read_head(&mut conn).unwrap_or_default();
            record
                .lock()
                .unwrap()
                .push(String::from_utf8_lossy(&head).into_owned());
            serve(&mut conn);
        });
        Listener { server, heads }
    }

    fn url(&self) -> String {
        self.server.url()
    }

    /// What every connection sent before the end of its request head.
    fn heads(&self) -> Vec<String> {
        self.heads.lock().unwrap().clone()
    }
}

/// Answers 500 with no body.
fn answer_500(conn: &mut TcpStream) {
    let _ = conn.write_all(b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\n\r\n");
}

/// Answers 200 with a chunked JSON body that never ends: 40 MiB of blanks at once, then a
/// blank every 100 ms until the client hangs up.
fn answer_endlessly(conn: &mut TcpStream) {
    let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                transfer-encoding: chunked\r\n\r\n";
    if conn.write_all(head.as_bytes()).is_err() {
        return;
    }
    let block = vec![b' '; 64 * 1024];
    let mut chunk = format!("{:x}\r\n", block.len()).into_bytes();
    chunk.extend_from_slice(&block);
    chunk.extend_from_slice(b"\r\n");
    for _ in 0..(40 * 16) {
        if conn.write_all(&chunk).is_err() {
            return;
        }
    }
    while conn.write_all(b"1\r\n \r\n").is_ok() {
        thread::sleep(Duration::from_millis(100));
    }
}

/// stdout without the `::add-mask::` lines, which name the secrets on purpose.
fn printed(out: &Outcome) -> String {
    out.stdout
        .lines()
        .filter(|l| !l.starts_with("::add-mask::"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn a_307_on_the_token_request_is_not_followed_and_the_location_is_named() {
    let port = stand_in_with_entity();
    let elsewhere = Listener::start(answer_500);
    let location = format!("{}/v1/auth/access_token", elsewhere.url());
    respond(&port, TOKEN, 307, &[("location", &location)], Value::Null);
    let out = get_payments(&port.url()).run();
    out.assert_failure(&format!(
        "Port API 307: POST /v1/auth/access_token was redirected to {location}; port-action \
         follows no redirects (check input 'baseUrl')"
    ));
    assert_eq!(
        elsewhere.heads(),
        Vec::<String>::new(),
        "the credentials went nowhere else"
    );
    assert_eq!(lines(&port), [TOKEN], "a redirect is final: {}", out.stdout);
}

#[test]
fn a_308_is_not_followed_either() {
    let port = stand_in_with_entity();
    let elsewhere = Listener::start(answer_500);
    let location = format!("{}/v1/auth/access_token", elsewhere.url());
    respond(&port, TOKEN, 308, &[("location", &location)], Value::Null);
    let out = get_payments(&port.url()).run();
    out.assert_failure("Port API 308: POST /v1/auth/access_token was redirected to");
    assert!(elsewhere.heads().is_empty());
}

#[test]
fn a_302_on_an_upsert_is_not_turned_into_a_get() {
    let port = stand_in_with_entity();
    let before = port.entity("service", "payments");
    let location = format!("{}/v1/blueprints/service/entities/payments", port.url());
    respond(
        &port,
        "POST /v1/blueprints/service/entities",
        302,
        &[("location", &location)],
        Value::Null,
    );
    let out = Step::new(&port)
        .input("blueprint", "service")
        .input("identifier", "payments")
        .input("properties", r#"{"replicas": 3}"#)
        .input("requestTimeout", "2s")
        .input("timeout", "8s")
        .run();
    out.assert_failure(&format!(
        "Port API 302: POST /v1/blueprints/service/entities was redirected to {location}"
    ));
    let sent = lines(&port);
    assert!(
        !sent.iter().any(|l| l.starts_with("GET /v1/blueprints")),
        "no GET follows the redirect: {sent:?}"
    );
    assert_eq!(sent.iter().filter(|l| *l == UPSERT).count(), 1, "{sent:?}");
    assert_eq!(
        port.entity("service", "payments"),
        before,
        "the entity is untouched"
    );
}

#[test]
fn a_password_in_base_url_is_refused_before_any_request_and_never_shown() {
    let port = stand_in_with_entity();
    let plain = port.url();
    let with_password = plain.replace("http://", "http://deploy:s3cretpass@");
    let out = Step::new(&port)
        .input("baseUrl", &with_password)
        .input("operation", "GET")
        .input("blueprint", "service")
        .input("identifier", "payments")
        .env("RUNNER_DEBUG", "1")
        .run();
    out.assert_failure(&format!(
        "input 'baseUrl' must not hold a user name or password, got '{}'",
        plain.replace("http://", "http://***@")
    ));
    assert!(port.requests().is_empty(), "nothing is sent");
    for (what, text) in [
        ("stdout", out.stdout.clone()),
        ("stderr", out.stderr.clone()),
        ("outputs", out.outputs_raw.clone()),
        ("summary", out.summary.clone()),
    ] {
        assert!(
            !text.contains("s3cretpass") && !text.contains("deploy:"),
            "{what} holds the password: {text}"
        );
    }
}

#[test]
fn with_debug_on_the_access_token_is_masked_before_anything_derived_from_it() {
    let port = stand_in_with_entity();
    // A token answer that carries the token twice, the second time where no key says so.
    let token = "answered-token-0123456789abcdef";
    respond(
        &port,
        TOKEN,
        200,
        &[],
        json!({"ok": true, "accessToken": token, "expiresIn": 10800, "tokenType": "Bearer",
               "session": {"id": token}}),
    );
    // Port does not know that token: the read is refused, a new token is fetched.
    let out = get_payments(&port.url()).env("RUNNER_DEBUG", "1").run();
    out.assert_success();
    assert_eq!(lines(&port), [TOKEN, GET_PAYMENTS, TOKEN, GET_PAYMENTS]);
    let stdout: Vec<&str> = out.stdout.lines().collect();
    let masked: Vec<&str> = stdout
        .iter()
        .filter_map(|l| l.strip_prefix("::add-mask::"))
        .filter(|m| m.contains("token"))
        .collect();
    assert_eq!(masked.len(), 2, "both tokens are masked: {}", out.stdout);
    assert_eq!(masked[0], token);
    for secret in masked {
        assert!(
            !printed(&out).contains(secret),
            "{secret} is printed: {}",
            out.stdout
        );
    }
    // After each token answer, the mask comes before the answer is shown.
    for (i, line) in stdout.iter().enumerate() {
        if line.starts_with("POST /v1/auth/access_token → 200") {
            let next = stdout[i + 1..]
                .iter()
                .find(|l| l.starts_with("::add-mask::") || l.starts_with("::group::answer"));
            assert!(
                next.is_some_and(|l| l.starts_with("::add-mask::")),
                "the token is masked before the answer is printed: {}",
                out.stdout
            );
        }
    }
}

#[test]
fn a_429_with_an_absurd_rate_limit_reset_is_retried_without_a_panic() {
    let port = stand_in_with_entity();
    respond(
        &port,
        GET_PAYMENTS,
        429,
        &[("x-ratelimit-reset", "1e19")],
        json!({"ok": false, "error": "too_many_requests", "message": "Rate limit exceeded"}),
    );
    let out = get_payments(&port.url()).run();
    out.assert_success();
    assert_eq!(lines(&port), [TOKEN, GET_PAYMENTS, GET_PAYMENTS]);
    assert_eq!(out.output("identifier"), Some("payments"));
}

#[test]
fn an_endless_answer_is_cut_at_32_mib_and_the_request_named() {
    let endless = Listener::start(answer_endlessly);
    let out = get_payments(&endless.url())
        .input("requestTimeout", "5s")
        .input("timeout", "10s")
        .run();
    out.assert_failure(
        "Port's answer to POST /v1/auth/access_token was larger than 32 MiB; port-action \
         reads no more than that",
    );
    assert_eq!(
        endless.heads().len(),
        1,
        "a larger answer is not asked for again"
    );
}

#[test]
fn a_retry_wait_that_would_end_past_the_deadline_is_not_taken() {
    let port = stand_in_with_entity();
    respond(
        &port,
        GET_PAYMENTS,
        503,
        &[("retry-after", "30")],
        json!({"ok": false, "error": "service_unavailable", "message": "Try again later"}),
    );
    // Real seconds: 30 s of Retry-After against 3 s of timeout.
    let out = get_payments(&port.url())
        .real_backoff()
        .input("requestTimeout", "2s")
        .input("timeout", "3s")
        .run();
    out.assert_failure("Port API 503 service_unavailable: Try again later");
    assert_eq!(lines(&port), [TOKEN, GET_PAYMENTS], "one attempt");
    assert!(!out.stdout.contains("trying again"), "{}", out.stdout);
}

/// Answers 302 to Port's sign-in page with a chunked body that never ends: a blank every 10 ms
/// until the client hangs up.
fn redirect_endlessly(conn: &mut TcpStream) {
    let head = "HTTP/1.1 302 Found\r\nlocation: https://app.getport.io/login\r\n\
                content-type: text/html\r\ntransfer-encoding: chunked\r\n\r\n";
    if conn.write_all(head.as_bytes()).is_err() {
        return;
    }
    while conn.write_all(b"1\r\n \r\n").is_ok() {
        thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_redirect_whose_body_never_ends_fails_at_once_without_reading_it() {
    let server = Listener::start(redirect_endlessly);
    let out = get_payments(&server.url())
        .input("requestTimeout", "30s")
        .input("timeout", "2m")
        .spawn()
        .wait_at_most(Duration::from_secs(20));
    out.assert_failure(
        "Port API 302: POST /v1/auth/access_token was redirected to \
         https://app.getport.io/login; port-action follows no redirects (check input 'baseUrl')",
    );
    assert_eq!(server.heads().len(), 1, "a redirect is final");
}
