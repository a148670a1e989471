//! Secrets kept out of what the client prints: credential fields of debug bodies, and the
//! password of a base URL registered with the runner as a secret, as given and
//! percent-decoded (the job summary decodes links the same way to find a secret in them).

use reqwest::Url;
use serde_json::Value;

use crate::runner::Console;

/// Pretty JSON with credential fields replaced at any depth (`clientSecret`, `accessToken`,
/// `access_token`, `refreshToken`, …), for debug logs. The console also redacts every secret
/// masked so far.
pub(super) fn redacted_body(body: &Value) -> String {
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

/// Registers a password in the base URL, and `user:password`, as secrets, in the form given
/// and percent-decoded.
pub(super) fn mask_userinfo(url: &Url, console: &Console) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
}
