//! How the client shows what it talks about in its log lines and errors: URLs without user
//! info, a redirect's `Location` as outside text on one line, an error with its causes, and
//! durations as a user writes them.

use std::time::Duration;

use reqwest::Url;

/// The most characters of a redirect's `Location` shown in an error.
const MAX_LOCATION_CHARS: usize = 200;

/// `url` without user info.
pub(super) fn without_userinfo(url: &Url) -> Url {
    let mut u = url.clone();
    // Both fail only for URLs that cannot have user info.
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u
}

/// A URL as the client shows it: no user info, no query.
pub(super) fn shown_url(url: &Url) -> String {
    let mut u = without_userinfo(url);
    u.set_query(None);
    u.to_string()
}

/// A base URL as given, for an error: without user info when it parses, else as given.
pub(super) fn shown_base(api_base: &str) -> String {
    match Url::parse(api_base) {
        Ok(url) => without_userinfo(&url)
            .as_str()
            .trim_end_matches('/')
            .to_string(),
        Err(_) => api_base.to_string(),
    }
}

/// A redirect's `Location`, outside text: on one line, without user info, at most
/// [`MAX_LOCATION_CHARS`] characters.
pub(super) fn shown_location(raw: &[u8]) -> String {
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
pub(super) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
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
}
