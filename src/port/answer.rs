//! What one attempt came to: Port's answer, read within bounds and judged (a redirect, an
//! oversized body, an error status or a body that is not JSON is an error), or the failure of
//! a request that got no answer, each with what the retry policy needs to know.

use std::time::Duration;

use reqwest::{Method, StatusCode, Url};
use serde_json::{json, Value};

use super::error;
use super::retry::AttemptFailure;
use super::shown::{error_chain, humantime, shown_url};
use super::PortError;

/// The most of one answer the client reads: 32 MiB. Port's answers are far smaller (a page of
/// search results, a bulk report); anything larger is not Port's API, and reading it whole
/// could exhaust the runner's memory. A larger answer fails the request, without retrying.
pub const MAX_ANSWER_BYTES: usize = 32 * 1024 * 1024;

/// The most JSON values one answer may hold, counted before it is parsed (see
/// `json_values_within`): 5 million. Parsed, a value takes 72 bytes and more however short its
/// text, so 31 MB of `[],` (3 bytes each) took 743 MiB. With this bound no answer, however
/// it is made, takes much more memory parsed than ordinary entities up to the 32 MiB read do
/// (about 4 million values, 450 MiB); a page of search results holds some tens of thousands.
pub const MAX_ANSWER_VALUES: usize = 5_000_000;

/// How many values an object counts as: its hash table and entries cost about as much as
/// three values.
const OBJECT_VALUES: usize = 3;

/// A failed attempt, with what the retry policy needs to know.
#[derive(Debug)]
pub(super) struct Failed {
    pub(super) error: PortError,
    pub(super) failure: AttemptFailure,
    pub(super) server_delay: Option<Duration>,
}

/// Port's answer to one request, read but not yet judged.
pub(super) struct RawAnswer {
    pub(super) status: StatusCode,
    /// `x-trace-id`, which Port's support asks for.
    pub(super) trace_id: Option<String>,
    /// The wait Port asked for (`Retry-After`, `X-RateLimit-Reset`), capped.
    pub(super) server_delay: Option<Duration>,
    /// The `Location` header, as [`shown_location`] shows it.
    pub(super) location: Option<String>,
    /// The body; `None` when it was larger than [`MAX_ANSWER_BYTES`].
    pub(super) body: Option<Vec<u8>>,
}

/// A request that got no complete answer: how it failed, for the retry policy, and in words.
/// `timeout` is the time the request was given.
pub(super) fn transport_failure(
    e: reqwest::Error,
    method: &Method,
    url: &Url,
    timeout: Duration,
) -> Failed {
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
pub(super) fn judge_answer(
    method: &Method,
    path: &str,
    answer: RawAnswer,
) -> Result<(u16, Value), Failed> {
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
                run_id: None,
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
pub(super) fn json_values_within(text: &str, limit: usize) -> bool {
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

/// Reads the body, up to [`MAX_ANSWER_BYTES`]; `None` when it is larger (the rest unread).
pub(super) async fn read_capped(
    resp: &mut reqwest::Response,
) -> Result<Option<Vec<u8>>, reqwest::Error> {
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

#[cfg(test)]
mod tests {
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
