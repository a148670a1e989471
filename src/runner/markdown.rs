//! Markdown for the job summary, built from text that may come from outside.
//!
//! GitHub renders `$GITHUB_STEP_SUMMARY` as GitHub Flavored Markdown with inline HTML, so an
//! identifier, an error message or a URL from Port's answers must never be pasted in as it is:
//! `<img src=x onerror=…>`, `[x](javascript:…)`, `*bold*` or a `|` in a table cell would all
//! change the page. Each function here returns Markdown that shows its input as text, on one
//! line, and nothing else.
//!
//! Each also redacts every secret the console has masked, before it escapes: the escaped form
//! of a secret (`cs-S3cret\*val\_-ue`) is what GitHub shows as the secret, and neither the
//! runner's masker nor a redaction of the finished Markdown would find it there.

use super::Console;

/// Inline text, shown as it is, secrets redacted: see `escape_text`.
pub fn text(secrets: &Console, s: &str) -> String {
    escape_text(&secrets.redact(s))
}

/// An inline code span showing `s` exactly, secrets redacted: see `escape_code`.
pub fn code(secrets: &Console, s: &str) -> String {
    escape_code(&secrets.redact(s))
}

/// `[label](url)` for a web URL, else `label` alone: see `escape_link`. `label` is Markdown
/// already: build it with [`text`] or [`code`]. A URL that holds a secret, as it is or
/// percent-encoded (an entity's page names the identifier in its query), is no link at all.
pub fn link(secrets: &Console, label: &str, url: &str) -> String {
    let holds_secret = |u: &str| secrets.redact(u) != u;
    let decoded = [
        crate::port::percent_decode(url),
        crate::port::percent_decode(&url.replace('+', " ")),
    ];
    if holds_secret(url) || decoded.iter().flatten().any(|d| holds_secret(d)) {
        return label.to_string();
    }
    escape_link(label, url)
}

/// Inline text, shown as it is: the characters that make Markdown (`\\`, `` ` ``, `*`, `_`,
/// `[`, `]`, `|`, `~`, `$`) are escaped with `\\`, `<`, `>` and `&` are written as HTML
/// entities, a leading `#`, `+`, `-`, `=` or `1.` cannot start a heading or a list, and line
/// breaks and other control characters become spaces (a summary item or table row is one line).
/// Safe in a list item, a heading, a table cell, a block quote line and a link's text. An `_`
/// inside a word (`run_id`) is left alone: it cannot start emphasis there.
fn escape_text(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len() + s.len() / 4);
    // Where the text's first visible character is, which could start a block.
    let first = chars.iter().position(|c| *c != ' ' && *c != '\t');
    let digits_end =
        first.map(|f| f + chars[f..].iter().take_while(|c| c.is_ascii_digit()).count());
    for (i, &c) in chars.iter().enumerate() {
        let alnum = |j: Option<usize>| {
            j.and_then(|j| chars.get(j))
                .is_some_and(|c| c.is_alphanumeric())
        };
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '_' if alnum(i.checked_sub(1)) && alnum(Some(i + 1)) => out.push('_'),
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '~' | '$' => {
                out.push('\\');
                out.push(c);
            }
            '#' | '+' | '-' | '=' if Some(i) == first => {
                out.push('\\');
                out.push(c);
            }
            '.' | ')' if Some(i) == digits_end && first != digits_end => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// An inline code span showing `s` exactly: its fence is one backtick longer than the longest
/// run of backticks inside, and padded with a space when `s` starts or ends with one. Line
/// breaks and other control characters become spaces. Not for table cells (GitHub splits a
/// row at every `|`, even in code): use [`escape_text`] there.
fn escape_code(s: &str) -> String {
    let s: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let mut longest = 0;
    let mut run = 0;
    for c in s.chars() {
        if c == '`' {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    let fence = "`".repeat(longest + 1);
    if s.is_empty() {
        return "` `".to_string();
    }
    // A span that starts or ends with a backtick needs padding, and so does one with a space
    // at both ends: one space on each side is removed again when both are there.
    let spaced = s.starts_with(' ') && s.ends_with(' ') && !s.trim_matches(' ').is_empty();
    let pad = if s.starts_with('`') || s.ends_with('`') || spaced {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{s}{pad}{fence}")
}

/// `[label](url)` when `url` is an absolute `http`/`https` URL, else `label` alone (so a
/// `javascript:` or relative URL never becomes a link). `label` is Markdown: build it with
/// [`text`] or [`code`]. Characters that could end the destination or the table cell (`(`,
/// `)`, `<`, `>`, spaces, `|`, quotes, backslashes, non-ASCII) are percent-escaped, and `&` is
/// backslash-escaped so that no HTML entity is decoded in it.
fn escape_link(label: &str, url: &str) -> String {
    let is_web = reqwest::Url::parse(url)
        .map(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
        .unwrap_or(false);
    if !is_web {
        return label.to_string();
    }
    let mut destination = String::with_capacity(url.len());
    for byte in url.bytes() {
        match byte {
            b'&' => destination.push_str("\\&"),
            b'A'..=b'Z'
            | b'a'..=b'z'
            | b'0'..=b'9'
            | b'-'
            | b'.'
            | b'_'
            | b'~'
            | b':'
            | b'/'
            | b'?'
            | b'#'
            | b'@'
            | b'!'
            | b'$'
            | b'*'
            | b'+'
            | b','
            | b';'
            | b'='
            | b'%' => destination.push(byte as char),
            other => destination.push_str(&format!("%{other:02X}")),
        }
    }
    format!("[{label}]({destination})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_escapes_markdown_and_html() {
        assert_eq!(
            escape_text("<img src=x onerror=alert(1)>"),
            "&lt;img src=x onerror=alert(1)&gt;"
        );
        assert_eq!(
            escape_text("[x](javascript:alert(1))"),
            "\\[x\\](javascript:alert(1))"
        );
        assert_eq!(
            escape_text("*bold* _it_ `code`"),
            "\\*bold\\* \\_it\\_ \\`code\\`"
        );
        assert_eq!(
            escape_text("run_id __init__ a_"),
            "run_id \\_\\_init\\_\\_ a\\_"
        );
        assert_eq!(escape_text("a | b"), "a \\| b");
        assert_eq!(escape_text("&lt; & \\"), "&amp;lt; &amp; \\\\");
        assert_eq!(
            escape_text("line\nbreak\r\n> quote"),
            "line break  &gt; quote"
        );
        assert_eq!(
            escape_text("$x$ ~~s~~ ![i](u)"),
            "\\$x\\$ \\~\\~s\\~\\~ !\\[i\\](u)"
        );
        assert_eq!(escape_text("plain words, ünï ✓"), "plain words, ünï ✓");
    }

    #[test]
    fn text_never_starts_a_block() {
        assert_eq!(escape_text("# not a heading"), "\\# not a heading");
        assert_eq!(escape_text("  - not a list"), "  \\- not a list");
        assert_eq!(escape_text("+ no"), "\\+ no");
        assert_eq!(escape_text("=== no"), "\\=== no");
        assert_eq!(escape_text("12. no"), "12\\. no");
        assert_eq!(escape_text("3) no"), "3\\) no");
        assert_eq!(escape_text("> no"), "&gt; no");
        assert_eq!(escape_text("a # - + 1. 2) fine"), "a # - + 1. 2) fine");
        assert_eq!(escape_text("1.5 s"), "1\\.5 s");
        assert_eq!(escape_text(""), "");
    }

    #[test]
    fn code_spans_survive_backticks_and_line_breaks() {
        assert_eq!(escape_code("payments"), "`payments`");
        assert_eq!(escape_code("a`b"), "``a`b``");
        assert_eq!(escape_code("`x``"), "``` `x`` ```");
        assert_eq!(escape_code("a\nb\r|c"), "`a b |c`");
        assert_eq!(escape_code("<img src=x>"), "`<img src=x>`");
        assert_eq!(escape_code(""), "` `");
        assert_eq!(escape_code(" a "), "`  a  `");
        assert_eq!(escape_code("  "), "`  `");
    }

    #[test]
    fn secrets_are_redacted_before_they_are_escaped() {
        let (console, _) = Console::capturing(false);
        let secret = "cs-S3cret*val_-ue|<x>`[y]";
        console.add_mask(secret);
        assert_eq!(
            text(&console, &format!("echo {secret}!")),
            "echo \\*\\*\\*!"
        );
        assert_eq!(code(&console, &format!("a`{secret}")), "``a`***``");
        // A URL that holds the secret, as it is or encoded, is no link.
        let encoded = crate::port::entity_url("https://api.getport.io", "svc", secret);
        assert!(
            encoded.contains("S3cret*val_-ue%7C%3Cx%3E%60%5By%5D"),
            "{encoded}"
        );
        for url in [format!("https://e.io/?s={secret}"), encoded] {
            assert_eq!(link(&console, "x", &url), "x", "{url}");
        }
        assert_eq!(
            link(&console, "x", "https://e.io/a%20b"),
            "[x](https://e.io/a%20b)"
        );
        // Escaped first, the secret would be past finding.
        assert!(!console.redact(&escape_text(secret)).contains("***"));
    }

    #[test]
    fn links_only_to_web_urls_with_the_destination_escaped() {
        assert_eq!(
            escape_link(
                "`e`",
                "https://app.getport.io/serviceEntity?identifier=a%20b"
            ),
            "[`e`](https://app.getport.io/serviceEntity?identifier=a%20b)"
        );
        assert_eq!(
            escape_link("run", "https://x.io/p a)(<b>|\"'\\é?x=1&y=2"),
            "[run](https://x.io/p%20a%29%28%3Cb%3E%7C%22%27%5C%C3%A9?x=1\\&y=2)"
        );
        assert_eq!(escape_link("x", "javascript:alert(1)"), "x");
        assert_eq!(escape_link("x", "JAVASCRIPT:alert(1)"), "x");
        assert_eq!(escape_link("x", "data:text/html,<b>"), "x");
        assert_eq!(escape_link("x", "/relative"), "x");
        assert_eq!(escape_link("x", "file:///etc/passwd"), "x");
        assert_eq!(
            escape_link("x", "HTTP://Example.com"),
            "[x](HTTP://Example.com)"
        );
    }
}
