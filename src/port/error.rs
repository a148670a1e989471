//! What can go wrong talking to Port, worded so that a user can act on it: Port's own error
//! code and message, the route, and the trace id Port's support asks for.

use serde_json::Value;

/// A failed Port request.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PortError {
    /// Port answered with an error status.
    #[error("Port API {status} {code}: {}", self.detail())]
    Api {
        status: u16,
        /// Port's error code, e.g. `not_found`, `run_exhausted`.
        code: String,
        message: String,
        method: String,
        path: String,
        trace_id: Option<String>,
        /// The run the request named: in its path, or tied to it by `run_id`.
        run_id: Option<String>,
    },
    /// No answer: connection refused or reset, TLS failure, timeout.
    #[error("cannot reach Port: {method} {url}: {detail}")]
    Transport {
        method: String,
        url: String,
        detail: String,
    },
    /// Port's API never redirects: a 3xx comes from something else on the way (a proxy, a
    /// wrong `baseUrl`) and is not followed, since following it would send the credentials or
    /// the request body to wherever it points.
    #[error(
        "Port API {status}: {method} {path} was redirected to {}; port-action follows no \
         redirects (check input 'baseUrl')",
        .location.as_deref().unwrap_or("(no Location)")
    )]
    Redirect {
        status: u16,
        method: String,
        path: String,
        /// The `Location` header, on one line, shortened, without user info.
        location: Option<String>,
    },
    /// The answer was larger than [`super::MAX_ANSWER_BYTES`]; the rest was not read.
    #[error(
        "Port's answer to {method} {path} was larger than {} MiB; port-action reads no more \
         than that",
        super::MAX_ANSWER_BYTES / (1024 * 1024)
    )]
    TooLarge { method: String, path: String },
    /// The answer holds more JSON values than [`super::MAX_ANSWER_VALUES`]: parsed, it would
    /// take many times its size in memory (a `[]` takes 3 bytes as text, 72 parsed).
    #[error(
        "Port's answer to {method} {path} holds more than {} JSON values (an object counting \
         three); port-action parses no more than that (a page of Port's answers holds far \
         fewer)",
        super::MAX_ANSWER_VALUES
    )]
    TooManyValues { method: String, path: String },
    /// The request was not sent: its deadline had passed before it could start.
    #[error("{method} {path} not sent: the step's deadline had passed (input 'timeout')")]
    Deadline { method: String, path: String },
    /// Port answered success with a body that is not what its API describes.
    #[error("Port answered {method} {path} with {status} but an unexpected body: {detail}")]
    Decode {
        status: u16,
        method: String,
        path: String,
        detail: String,
    },
    /// A path segment is empty, `.` or `..`: the URL would drop it or resolve it against the
    /// one before, so the request would go elsewhere than its route says. Not sent.
    #[error(
        "{method} {route} not sent: its path segment '{segment}' would be dropped or resolved \
         in the URL, sending the request elsewhere (a path segment may not be empty, '.' or '..')"
    )]
    BadSegment {
        method: String,
        /// The route's path, not encoded, control characters escaped.
        route: String,
        segment: String,
    },
    /// The step was cancelled: the request was not sent, or (`sent`) was dropped unanswered.
    #[error("{method} {path} {}", stopped_text(*.sent, .why))]
    Stopped {
        method: String,
        path: String,
        why: String,
        /// An attempt had started: Port may have carried the request out.
        sent: bool,
    },
}

fn stopped_text(sent: bool, why: &str) -> String {
    if sent {
        format!(
            "got no answer: the step was cancelled ({why}) while the request was at Port, which \
             may have carried it out"
        )
    } else {
        format!("not sent: the step was cancelled ({why})")
    }
}

fn trace_suffix(trace_id: &Option<String>) -> String {
    match trace_id {
        Some(t) => format!(", trace id {t}"),
        None => String::new(),
    }
}

impl PortError {
    /// Port's error code for an API error (`not_found`, `run_exhausted`, …).
    pub fn code(&self) -> Option<&str> {
        match self {
            PortError::Api { code, .. } => Some(code),
            _ => None,
        }
    }

    /// What went wrong without the status and code an API error starts with: Port's message,
    /// the route and the trace id (`Run with id "r_x" not found (GET /v1/actions/runs/r_x,
    /// trace id abc)`); any other error whole.
    pub fn detail(&self) -> String {
        match self {
            PortError::Api {
                message,
                method,
                path,
                trace_id,
                ..
            } => format!("{message} ({method} {path}{})", trace_suffix(trace_id)),
            other => other.to_string(),
        }
    }

    /// The run Port says it does not have: the run a request named, when Port answered it
    /// 404 `not_found` with a message naming that run. Port answers an entity write tied to a
    /// run with the same 404 whether the run or the blueprint is missing: only its message
    /// tells which.
    pub fn missing_run(&self) -> Option<&str> {
        match self {
            PortError::Api {
                code,
                message,
                run_id: Some(run),
                ..
            } if code == "not_found" && message.contains(run.as_str()) => Some(run),
            _ => None,
        }
    }

    /// The error of a request that named `run` (see [`PortError::missing_run`]).
    pub(crate) fn naming_run(mut self, run: Option<&str>) -> PortError {
        if let PortError::Api { run_id, .. } = &mut self {
            *run_id = run.map(str::to_string);
        }
        self
    }

    /// The HTTP status for an API error.
    pub fn status(&self) -> Option<u16> {
        match self {
            PortError::Api { status, .. }
            | PortError::Decode { status, .. }
            | PortError::Redirect { status, .. } => Some(*status),
            PortError::Transport { .. }
            | PortError::TooLarge { .. }
            | PortError::TooManyValues { .. }
            | PortError::Deadline { .. }
            | PortError::BadSegment { .. }
            | PortError::Stopped { .. } => None,
        }
    }
}

/// Reads Port's error body: `{"ok":false,"error":"<code>","message":"<text>"}`, where `message`
/// may be missing and `error` may be an object `{name, message, details}`.
pub(crate) fn parse_error_body(status: u16, body: &str) -> (String, String) {
    let fallback_code = || match status {
        401 => "unauthorized".to_string(),
        404 => "not_found".to_string(),
        413 => "payload_too_large".to_string(),
        429 => "too_many_requests".to_string(),
        _ => format!("http_{status}"),
    };
    let Ok(Value::Object(map)) = serde_json::from_str::<Value>(body) else {
        let text = body.trim();
        let message = if text.is_empty() {
            "(empty body)".to_string()
        } else {
            text.chars().take(300).collect()
        };
        return (fallback_code(), message);
    };
    let (code, inner_message) = match map.get("error") {
        Some(Value::String(s)) => (s.clone(), None),
        Some(Value::Object(e)) => (
            e.get("name")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(fallback_code),
            e.get("message").and_then(Value::as_str).map(str::to_string),
        ),
        _ => (fallback_code(), None),
    };
    let message = map
        .get("message")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or(inner_message)
        .unwrap_or_else(|| "(no message)".to_string());
    (code, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_body_with_code_and_message() {
        let (code, msg) = parse_error_body(
            404,
            r#"{"ok":false,"error":"not_found","message":"Run with id \"r_x\" not found"}"#,
        );
        assert_eq!(code, "not_found");
        assert_eq!(msg, "Run with id \"r_x\" not found");
    }

    #[test]
    fn error_body_with_object_error() {
        let (code, msg) = parse_error_body(
            422,
            r#"{"ok":false,"error":{"name":"invalid_request","message":"bad body","details":{}}}"#,
        );
        assert_eq!(code, "invalid_request");
        assert_eq!(msg, "bad body");
    }

    #[test]
    fn error_body_that_is_not_json() {
        let (code, msg) = parse_error_body(502, "<html>Bad Gateway</html>");
        assert_eq!(code, "http_502");
        assert_eq!(msg, "<html>Bad Gateway</html>");
    }

    #[test]
    fn api_error_display_names_route_and_trace() {
        let e = PortError::Api {
            status: 404,
            code: "not_found".into(),
            message: "Run with id \"r_x\" not found".into(),
            method: "GET".into(),
            path: "/v1/actions/runs/r_x".into(),
            trace_id: Some("abc123".into()),
            run_id: Some("r_x".into()),
        };
        assert_eq!(
            e.to_string(),
            "Port API 404 not_found: Run with id \"r_x\" not found (GET /v1/actions/runs/r_x, trace id abc123)"
        );
        assert_eq!(
            e.detail(),
            "Run with id \"r_x\" not found (GET /v1/actions/runs/r_x, trace id abc123)"
        );
        assert_eq!(e.missing_run(), Some("r_x"));
    }

    #[test]
    fn a_missing_run_is_one_the_request_named_and_ports_404_names() {
        let not_found = |message: &str, run_id: Option<&str>| PortError::Api {
            status: 404,
            code: "not_found".into(),
            message: message.into(),
            method: "POST".into(),
            path: "/v1/blueprints/service/entities".into(),
            trace_id: None,
            run_id: run_id.map(str::to_string),
        };
        let run_missing = "Run with id \"r_1\" not found";
        assert_eq!(
            not_found(run_missing, Some("r_1")).missing_run(),
            Some("r_1")
        );
        // The same 404 to a write tied to a run, about its blueprint.
        let blueprint_missing = "Blueprint with identifier \"service\" not found";
        assert_eq!(
            not_found(blueprint_missing, Some("r_1")).missing_run(),
            None
        );
        // A request that named no run.
        assert_eq!(not_found(run_missing, None).missing_run(), None);
    }

    #[test]
    fn redirect_size_and_deadline_errors_name_the_route() {
        let e = PortError::Redirect {
            status: 307,
            method: "POST".into(),
            path: "/v1/auth/access_token".into(),
            location: Some("http://elsewhere.example/token".into()),
        };
        assert_eq!(
            e.to_string(),
            "Port API 307: POST /v1/auth/access_token was redirected to \
             http://elsewhere.example/token; port-action follows no redirects (check input 'baseUrl')"
        );
        let e = PortError::TooLarge {
            method: "GET".into(),
            path: "/v1/blueprints/service/entities/x".into(),
        };
        assert_eq!(
            e.to_string(),
            "Port's answer to GET /v1/blueprints/service/entities/x was larger than 32 MiB; \
             port-action reads no more than that"
        );
        let e = PortError::Deadline {
            method: "PATCH".into(),
            path: "/v1/actions/runs/r_1".into(),
        };
        assert_eq!(
            e.to_string(),
            "PATCH /v1/actions/runs/r_1 not sent: the step's deadline had passed (input 'timeout')"
        );
    }
}
