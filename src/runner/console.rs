//! Workflow commands on stdout: annotations, groups and masks.
//!
//! The runner reads a container action's stdout line by line (a line ends at `\n`, `\r` or
//! `\r\n`) and reads a line as a workflow command in two forms: `::name props::data` once
//! leading whitespace is trimmed, and the legacy `##[name props]data` anywhere in the line. This
//! console prints two kinds of lines and nothing else:
//!
//! - commands it means, from a fixed set ([`Command`]): the message and properties are escaped
//!   as `@actions/core` escapes them, so that a value can never end a command early or start a
//!   new one;
//! - plain text, split at every line break the runner knows and [neutralised](neutralise) line
//!   by line, so that no text from outside (Port's answers, error pages, ids) can ever be read
//!   as a command, such as `::stop-commands::` which would switch off the masking below.
//!
//! Every secret is registered with `::add-mask::` before it could ever be printed, as it is and
//! in the forms a server echoes it in (JSON-escaped, percent-encoded). The runner masks
//! registered secrets in the log; this console also redacts them itself, in every form, so
//! nothing printed, written to the job summary or sent to a Port run depends on the runner.

use std::fmt;
use std::io::{self, Write};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// Secrets shorter than this are still announced with `::add-mask::` but not redacted here:
/// replacing every `abc` in the log would make it unreadable and protect nothing.
const MIN_REDACTED_LEN: usize = 4;

/// The workflow commands this console prints: the only commands a line of its output can be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    AddMask,
    Warning,
    Error,
    Group,
    EndGroup,
}

impl Command {
    /// The command's name on the wire.
    pub fn name(self) -> &'static str {
        match self {
            Command::AddMask => "add-mask",
            Command::Warning => "warning",
            Command::Error => "error",
            Command::Group => "group",
            Command::EndGroup => "endgroup",
        }
    }
}

/// Where a console writes: the process's stdout, or a buffer that tests read back.
#[derive(Clone, Default)]
enum Sink {
    #[default]
    Stdout,
    Capture(Arc<Mutex<Vec<u8>>>),
}

/// Writes workflow commands and log lines to stdout, redacting every registered secret.
#[derive(Default)]
pub struct Console {
    debug: bool,
    secrets: Mutex<Vec<String>>,
    sink: Sink,
}

impl fmt::Debug for Console {
    // Never print the secrets themselves.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Console")
            .field("debug", &self.debug)
            .field("secrets", &lock(&self.secrets).len())
            .finish()
    }
}

/// What a capturing [`Console`] has printed.
#[derive(Debug, Clone)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    /// Everything printed so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&lock(&self.0)).into_owned()
    }
    /// Everything printed so far, line by line.
    pub fn lines(&self) -> Vec<String> {
        self.text().lines().map(str::to_string).collect()
    }
}

impl Console {
    /// `debug`: `RUNNER_DEBUG=1`, when verbose parts (request bodies) are printed.
    pub fn new(debug: bool) -> Self {
        Console {
            debug,
            secrets: Mutex::new(Vec::new()),
            sink: Sink::Stdout,
        }
    }
    /// A console that writes into memory instead of stdout, and the handle to read it back.
    pub fn capturing(debug: bool) -> (Self, Captured) {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let console = Console {
            debug,
            secrets: Mutex::new(Vec::new()),
            sink: Sink::Capture(buffer.clone()),
        };
        (console, Captured(buffer))
    }
    /// Whether debug logging is on.
    pub fn is_debug(&self) -> bool {
        self.debug
    }
    /// `::add-mask::` the value and redact it from everything printed afterwards, in the
    /// forms a server echoes it in too (see [`encoded_forms`]).
    ///
    /// The runner masks log lines one at a time, so a multi-line secret is also masked line by
    /// line. Blank values are skipped: the runner rejects an empty mask with a warning.
    pub fn add_mask(&self, secret: &str) {
        if secret.trim().is_empty() {
            return;
        }
        let mut parts = vec![secret.to_string()];
        if secret.contains('\n') || secret.contains('\r') {
            parts.extend(secret.split(['\n', '\r']).map(str::to_string));
        }
        parts.extend(encoded_forms(secret));
        let mut seen = std::collections::HashSet::new();
        parts.retain(|p| !p.trim().is_empty() && seen.insert(p.clone()));
        let mut text = String::new();
        for part in &parts {
            push_command(&mut text, Command::AddMask, None, part);
        }
        {
            let mut secrets = lock(&self.secrets);
            for part in parts {
                if !secrets.contains(&part) {
                    secrets.push(part);
                }
            }
            // Longest first, so that a secret containing another is replaced whole.
            secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        }
        self.write(&text);
    }
    /// Replaces every registered secret in `text` with `***`.
    pub fn redact(&self, text: &str) -> String {
        let secrets = lock(&self.secrets);
        // Every place any secret occurs, found in the original text; overlapping or touching
        // places are merged and replaced once.
        let mut ranges: Vec<(usize, usize)> = Vec::new();
        for secret in secrets.iter().filter(|s| s.len() >= MIN_REDACTED_LEN) {
            let mut from = 0;
            while let Some(at) = text[from..].find(secret.as_str()) {
                let start = from + at;
                ranges.push((start, start + secret.len()));
                // Step one character on, so overlapping occurrences are found too.
                from = start + text[start..].chars().next().map_or(1, char::len_utf8);
            }
        }
        if ranges.is_empty() {
            return text.to_string();
        }
        ranges.sort_unstable();
        let mut out = String::with_capacity(text.len());
        let mut copied = 0;
        let mut current: Option<(usize, usize)> = None;
        for (start, end) in ranges {
            match current {
                Some((s, e)) if start <= e => current = Some((s, e.max(end))),
                _ => {
                    if let Some((s, e)) = current {
                        out.push_str(&text[copied..s]);
                        out.push_str("***");
                        copied = e;
                    }
                    current = Some((start, end));
                }
            }
        }
        if let Some((s, e)) = current {
            out.push_str(&text[copied..s]);
            out.push_str("***");
            copied = e;
        }
        out.push_str(&text[copied..]);
        out
    }
    /// A plain log line. A multi-line message is printed line by line, each line
    /// neutralised (`neutralise`) so that none can be read as a workflow command.
    pub fn info(&self, message: &str) {
        let redacted = self.redact(message);
        let mut text = String::with_capacity(redacted.len() + 1);
        for line in runner_lines(&redacted) {
            text.push_str(&neutralise(line));
            text.push('\n');
        }
        self.write(&text);
    }
    /// `::warning title=…::`.
    pub fn warning(&self, title: Option<&str>, message: &str) {
        self.command(Command::Warning, title, message);
    }
    /// `::error title=…::`.
    pub fn error(&self, title: Option<&str>, message: &str) {
        self.command(Command::Error, title, message);
    }
    /// `::group::title`.
    pub fn group(&self, title: &str) {
        self.command(Command::Group, None, title);
    }
    /// `::endgroup::`.
    pub fn end_group(&self) {
        let mut text = String::new();
        push_command(&mut text, Command::EndGroup, None, "");
        self.write(&text);
    }

    /// `::name title=…::message`, redacted, then escaped.
    fn command(&self, command: Command, title: Option<&str>, message: &str) {
        let title = title.filter(|t| !t.is_empty()).map(|t| self.redact(t));
        let mut text = String::new();
        push_command(&mut text, command, title.as_deref(), &self.redact(message));
        self.write(&text);
    }

    /// Writes whole lines at once, under the stdout lock, so that lines printed by concurrent
    /// tasks never interleave. A closed stdout is not worth failing the step for.
    ///
    /// The write blocks the step's single-threaded runtime, requests in flight included, for as
    /// long as the runner takes to read it: the runner reads a step's stdout as it comes, and a
    /// line is short but for the request and answer bodies shown with debug logging on (each
    /// capped by the size of an answer the client reads). An async stdout would lose the one
    /// lock that keeps lines whole and in order.
    fn write(&self, text: &str) {
        match &self.sink {
            Sink::Stdout => {
                let mut out = io::stdout().lock();
                let _ = out.write_all(text.as_bytes());
                let _ = out.flush();
            }
            Sink::Capture(buffer) => lock(buffer).extend_from_slice(text.as_bytes()),
        }
    }
}

/// The forms other than its own that a secret is echoed back in: JSON-string-escaped (a
/// JSON answer quoting it, without the quotes), and percent-encoded as URLs and forms encode
/// it (every byte but `A-Z a-z 0-9 - . _ ~` as `%XX`; the same keeping `! * ' ( )`, as
/// JavaScript's `encodeURIComponent` does; a form's, with `+` for a space). A Markdown-escaped
/// secret needs none: `markdown` redacts before it escapes. Forms equal to the secret are left
/// out.
fn encoded_forms(secret: &str) -> Vec<String> {
    let json = serde_json::to_string(secret).unwrap_or_default();
    let json = json
        .strip_prefix('"')
        .and_then(|j| j.strip_suffix('"'))
        .unwrap_or_default()
        .to_string();
    let percent = |keep: &[u8], space: &str| {
        let mut out = String::with_capacity(secret.len() * 3);
        for &b in secret.as_bytes() {
            if b.is_ascii_alphanumeric() || keep.contains(&b) {
                out.push(b as char);
            } else if b == b' ' {
                out.push_str(space);
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
        out
    };
    let mut forms = vec![
        json,
        percent(b"-._~", "%20"),
        percent(b"-._~!*'()", "%20"),
        percent(b"-._*", "+"),
    ];
    forms.retain(|f| f != secret && !f.is_empty());
    forms
}

/// Locks a mutex, going on with the data even if a thread panicked while holding it.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Appends the line `::name title=…::data`, escaped: the one place a command line is built.
fn push_command(out: &mut String, command: Command, title: Option<&str>, data: &str) {
    out.push_str("::");
    out.push_str(command.name());
    if let Some(title) = title.filter(|t| !t.is_empty()) {
        out.push_str(" title=");
        out.push_str(&escape_property(title));
    }
    out.push_str("::");
    out.push_str(&escape_data(data));
    out.push('\n');
}

/// The lines of `text` as the runner reads them: a line ends at `\n`, `\r` or `\r\n`. A
/// final line break ends the last line rather than starting an empty one.
fn runner_lines(text: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut rest = text;
    loop {
        match rest.find(['\r', '\n']) {
            Some(at) => {
                lines.push(&rest[..at]);
                let skip = if rest[at..].starts_with("\r\n") { 2 } else { 1 };
                rest = &rest[at + skip..];
                if rest.is_empty() {
                    break;
                }
            }
            None => {
                lines.push(rest);
                break;
            }
        }
    }
    lines
}

/// Makes one line of text (no line breaks) safe to print: the runner will not read it as a
/// workflow command in either form, and the rest of the text is kept.
///
/// - `##[`, which starts a legacy command anywhere in a line, becomes `##%5B`;
/// - a line that starts with `::` once leading whitespace is trimmed (the runner trims every
///   Unicode white space, as Rust's [`str::trim_start`] does) has its first `:` written
///   `%3A`.
///
/// The `%` forms are the runner's own escapes, so the line still reads as what was said.
pub fn neutralise(line: &str) -> std::borrow::Cow<'_, str> {
    use std::borrow::Cow;
    let mut line = Cow::Borrowed(line);
    if line.contains("##[") {
        line = Cow::Owned(line.replace("##[", "##%5B"));
    }
    let indent = line.len() - line.trim_start().len();
    if line[indent..].starts_with("::") {
        let mut owned = line.into_owned();
        owned.replace_range(indent..indent + 1, "%3A");
        line = Cow::Owned(owned);
    }
    line
}

/// Escapes a command's message: `%`, `\r`, `\n`.
pub fn escape_data(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '%' => out.push_str("%25"),
            '\r' => out.push_str("%0D"),
            '\n' => out.push_str("%0A"),
            c => out.push(c),
        }
    }
    out
}

/// Escapes a command property's value: as [`escape_data`] plus `:` and `,`.
pub fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_data_and_properties() {
        assert_eq!(escape_data("100% done\r\nnext"), "100%25 done%0D%0Anext");
        assert_eq!(escape_data("a: b, c"), "a: b, c");
        assert_eq!(
            escape_property("100% a: b, c\r\nd"),
            "100%25 a%3A b%2C c%0D%0Ad"
        );
        assert_eq!(escape_data("%25"), "%2525");
        assert_eq!(escape_data("ünï ✓"), "ünï ✓");
    }

    #[test]
    fn masks_then_redacts_every_later_line() {
        let (console, out) = Console::capturing(false);
        console.info("token is s3cr3t-token");
        console.add_mask("s3cr3t-token");
        console.info("token is s3cr3t-token");
        console.warning(Some("s3cr3t-token"), "again: s3cr3t-token!");
        console.group("Upserting s3cr3t-token");
        console.end_group();
        assert_eq!(
            out.lines(),
            [
                "token is s3cr3t-token",
                "::add-mask::s3cr3t-token",
                "token is ***",
                "::warning title=***::again: ***!",
                "::group::Upserting ***",
                "::endgroup::",
            ]
        );
    }

    #[test]
    fn escapes_the_mask_and_masks_each_line_of_a_multiline_secret() {
        let (console, out) = Console::capturing(false);
        console.add_mask("-----BEGIN KEY-----\nAbCdEf%12\n-----END KEY-----");
        assert_eq!(
            out.lines(),
            [
                "::add-mask::-----BEGIN KEY-----%0AAbCdEf%2512%0A-----END KEY-----",
                "::add-mask::-----BEGIN KEY-----",
                "::add-mask::AbCdEf%2512",
                "::add-mask::-----END KEY-----",
                "::add-mask::-----BEGIN KEY-----\\nAbCdEf%2512\\n-----END KEY-----",
                "::add-mask::-----BEGIN%2520KEY-----%250AAbCdEf%252512%250A-----END%2520KEY-----",
                "::add-mask::-----BEGIN+KEY-----%250AAbCdEf%252512%250A-----END+KEY-----",
            ]
        );
        assert_eq!(
            console.redact("key:\n-----BEGIN KEY-----\nAbCdEf%12\n-----END KEY-----\ndone"),
            "key:\n***\ndone"
        );
        assert_eq!(console.redact("line AbCdEf%12 alone"), "line *** alone");
    }

    #[test]
    fn a_secret_is_masked_and_redacted_json_escaped_and_percent_encoded_too() {
        let (console, out) = Console::capturing(false);
        let secret = r#"cs-S3cret*val_-ue"q\z (x)"#;
        console.add_mask(secret);
        let forms = [
            secret,
            r#"cs-S3cret*val_-ue\"q\\z (x)"#,
            "cs-S3cret%2Aval_-ue%22q%5Cz%20%28x%29",
            "cs-S3cret*val_-ue%22q%5Cz%20(x)",
            "cs-S3cret*val_-ue%22q%5Cz+%28x%29",
        ];
        let masks: Vec<String> = forms
            .iter()
            .map(|f| format!("::add-mask::{}", escape_data(f)))
            .collect();
        assert_eq!(out.lines(), masks);
        for form in forms {
            assert_eq!(console.redact(&format!("[{form}]")), "[***]", "{form}");
        }
        // A secret no encoding changes is masked once.
        let (console, out) = Console::capturing(false);
        console.add_mask("eyJhbGciOi.J9-x_yz");
        assert_eq!(out.lines(), ["::add-mask::eyJhbGciOi.J9-x_yz"]);
    }

    #[test]
    fn short_secrets_are_masked_but_not_redacted_and_blank_ones_skipped() {
        let (console, out) = Console::capturing(false);
        console.add_mask("abc");
        console.add_mask("");
        console.add_mask("  ");
        console.info("abc abcd");
        assert_eq!(out.lines(), ["::add-mask::abc", "abc abcd"]);
    }

    #[test]
    fn redacts_longest_first_and_overlaps_once() {
        let (console, _out) = Console::capturing(false);
        console.add_mask("abcd");
        console.add_mask("abcdefgh");
        console.add_mask("ghij");
        assert_eq!(console.redact("x abcdefgh y"), "x *** y");
        assert_eq!(console.redact("x abcdefghij y"), "x *** y");
        assert_eq!(console.redact("abcd-abcd"), "***-***");
        assert_eq!(console.redact("nothing here"), "nothing here");
        assert_eq!(console.redact("ünï abcd ✓"), "ünï *** ✓");
        console.add_mask("aaaa");
        assert_eq!(console.redact("aaaaaa!"), "***!");
    }

    #[test]
    fn annotations_with_and_without_titles() {
        let (console, out) = Console::capturing(false);
        console.warning(Some("Port: entity, run"), "50% of\nthe runs");
        console.error(Some(""), "failed");
        console.error(Some("Port API"), "401: bad credentials");
        assert_eq!(
            out.lines(),
            [
                "::warning title=Port%3A entity%2C run::50%25 of%0Athe runs",
                "::error::failed",
                "::error title=Port API::401: bad credentials",
            ]
        );
    }

    #[test]
    fn info_prints_multiline_messages_as_they_are() {
        let (console, out) = Console::capturing(false);
        console.add_mask("hunter22");
        console.info("first 100%\nsecond hunter22");
        assert_eq!(out.text(), "::add-mask::hunter22\nfirst 100%\nsecond ***\n");
    }

    /// The commands the runner knows (its command extensions, plus `stop-commands`).
    const RUNNER_COMMANDS: &[&str] = &[
        "add-mask",
        "add-matcher",
        "add-path",
        "debug",
        "echo",
        "endgroup",
        "error",
        "group",
        "internal-set-repo-path",
        "notice",
        "remove-matcher",
        "save-state",
        "set-env",
        "set-output",
        "stop-commands",
        "warning",
    ];

    /// A command as the runner reads it: name, properties, data.
    type Read = (String, Vec<(String, String)>, String);

    fn known(name: &str) -> bool {
        RUNNER_COMMANDS.iter().any(|c| c.eq_ignore_ascii_case(name))
    }

    /// The runner's `%` decoding: each escape replaced in turn over the whole text, in the
    /// runner's order, which is not a proper decoder (so a wrong escape shows up here).
    fn runner_unescape(text: &str, escapes: &[(&str, &str)]) -> String {
        escapes
            .iter()
            .fold(text.to_string(), |t, (from, to)| t.replace(from, to))
    }

    /// How the runner reads one line of stdout: first as `::name props::data` after trimming
    /// leading white space, then as `##[name props]data` anywhere in the line. Only names it
    /// knows make a command.
    fn runner_reads(line: &str) -> Option<Read> {
        let data_escapes = [("%0D", "\r"), ("%0A", "\n"), ("%25", "%")];
        let property_escapes = [
            ("%0D", "\r"),
            ("%0A", "\n"),
            ("%3A", ":"),
            ("%2C", ","),
            ("%25", "%"),
        ];
        let legacy_escapes = [
            ("%3B", ";"),
            ("%0D", "\r"),
            ("%0A", "\n"),
            ("%5D", "]"),
            ("%25", "%"),
        ];
        let properties = |text: &str, separator: char, escapes: &[(&str, &str)]| {
            text.split(separator)
                .filter_map(|p| p.split_once('='))
                .filter(|(k, v)| !k.is_empty() && !v.is_empty())
                .map(|(k, v)| (k.to_string(), runner_unescape(v, escapes)))
                .collect::<Vec<_>>()
        };
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed.strip_prefix("::") {
            if let Some(end) = rest.find("::") {
                let info = &rest[..end];
                let (name, props) = info.split_once(' ').unwrap_or((info, ""));
                if known(name) {
                    return Some((
                        name.to_string(),
                        properties(props.trim(), ',', &property_escapes),
                        runner_unescape(&rest[end + 2..], &data_escapes),
                    ));
                }
            }
        }
        let start = line.find("##[")? + 3;
        let end = start + line[start..].find(']')?;
        let info = &line[start..end];
        let (name, props) = info.split_once(' ').unwrap_or((info, ""));
        known(name).then(|| {
            (
                name.to_string(),
                properties(props, ';', &legacy_escapes),
                runner_unescape(&line[end + 1..], &legacy_escapes),
            )
        })
    }

    /// Text that tries every way into a command: both forms, white space the runner trims,
    /// every line break it knows, escapes, and the characters of properties.
    fn hostile_text() -> impl Strategy<Value = String> {
        let pieces = prop_oneof![
            Just("::"),
            Just(":"),
            Just("##["),
            Just("#"),
            Just("["),
            Just("]"),
            Just("%"),
            Just("%0A"),
            Just("%25"),
            Just("%3A"),
            Just("\r"),
            Just("\n"),
            Just("\r\n"),
            Just(" "),
            Just("\t"),
            Just("\u{a0}"),
            Just("\u{2028}"),
            Just("\u{3000}"),
            Just(","),
            Just(";"),
            Just("="),
            Just("error"),
            Just("stop-commands"),
            Just("set-output name=a;"),
            Just("add-mask"),
            Just("x"),
            Just("✓"),
        ];
        proptest::collection::vec(pieces, 0..24).prop_map(|p| p.concat())
    }

    use proptest::prelude::*;

    proptest! {
        #[test]
        fn no_line_of_text_is_ever_a_command(text in hostile_text()) {
            let (console, out) = Console::capturing(true);
            console.info(&text);
            let lines = out.lines();
            prop_assert_eq!(lines.len(), runner_lines(&text).len().max(1));
            for line in &lines {
                prop_assert_eq!(runner_reads(line), None, "{:?} from {:?}", line, text);
            }
        }

        #[test]
        fn every_command_is_read_back_as_exactly_what_was_meant(
            title in hostile_text(),
            message in hostile_text(),
        ) {
            let (console, out) = Console::capturing(true);
            console.error(Some(&title), &message);
            console.warning(Some(&title), &message);
            console.group(&message);
            console.end_group();
            let lines = out.lines();
            // One line per command, whatever the text holds.
            prop_assert_eq!(lines.len(), 4, "{:?}", lines);
            // The runner trims the properties, so a title's trailing white space is lost
            // (but for line breaks, which are escaped).
            let shown_title =
                title.trim_end_matches(|c: char| c.is_whitespace() && c != '\r' && c != '\n');
            let titled = if shown_title.is_empty() {
                vec![]
            } else {
                vec![("title".to_string(), shown_title.to_string())]
            };
            let expected = [
                ("error", titled.clone(), message.clone()),
                ("warning", titled, message.clone()),
                ("group", vec![], message.clone()),
                ("endgroup", vec![], String::new()),
            ];
            for (line, (name, props, data)) in lines.iter().zip(expected) {
                prop_assert_eq!(
                    runner_reads(line),
                    Some((name.to_string(), props, data)),
                    "{:?}",
                    line
                );
            }
        }

        #[test]
        fn a_mask_is_read_back_as_the_secret(secret in hostile_text()) {
            let (console, out) = Console::capturing(false);
            console.add_mask(&secret);
            for line in out.lines() {
                let (name, props, data) = runner_reads(&line).expect("a command");
                prop_assert_eq!(name, "add-mask");
                prop_assert!(props.is_empty());
                prop_assert!(
                    secret.contains(&data) || encoded_forms(&secret).contains(&data),
                    "{:?} in {:?}",
                    data,
                    secret
                );
            }
        }
    }

    #[test]
    fn hostile_lines_are_printed_but_never_read_as_commands() {
        let (console, out) = Console::capturing(false);
        console.add_mask("the-access-token");
        console.info(
            "Port API 503: \n::error::pwned\n::stop-commands::x\n##[set-output name=a;]b\r  \
             ::add-mask::y\r\n\u{a0}\u{2028}::warning::z\nsee ##[group]g and :: here",
        );
        console.info("::");
        console.info("::debug::the-access-token");
        assert_eq!(
            out.lines(),
            [
                "::add-mask::the-access-token",
                "Port API 503: ",
                "%3A:error::pwned",
                "%3A:stop-commands::x",
                "##%5Bset-output name=a;]b",
                "  %3A:add-mask::y",
                "\u{a0}\u{2028}%3A:warning::z",
                "see ##%5Bgroup]g and :: here",
                "%3A:",
                "%3A:debug::***",
            ]
        );
        for line in out.lines().iter().skip(1) {
            assert_eq!(runner_reads(line), None, "{line:?}");
        }
    }

    #[test]
    fn the_runner_model_reads_what_the_runner_reads() {
        // What the model says of the lines above would be worthless if it read nothing.
        assert_eq!(
            runner_reads("  ::stop-commands::x"),
            Some(("stop-commands".into(), vec![], "x".into()))
        );
        assert_eq!(
            runner_reads("\u{2028}::ERROR title=a%3Ab::c%0Ad"),
            Some((
                "ERROR".into(),
                vec![("title".into(), "a:b".into())],
                "c\nd".into()
            ))
        );
        assert_eq!(
            runner_reads("text ##[set-output name=a%3B;]b"),
            Some((
                "set-output".into(),
                vec![("name".into(), "a;".into())],
                "b".into()
            ))
        );
        // An unknown name in the new form falls back to the legacy form.
        assert_eq!(
            runner_reads("::nope::##[add-mask]s"),
            Some(("add-mask".into(), vec![], "s".into()))
        );
        assert_eq!(runner_reads("::nope::x"), None);
        assert_eq!(runner_reads("x ::error::y"), None);
    }

    #[test]
    fn carriage_returns_end_lines_as_the_runner_sees_them() {
        assert_eq!(runner_lines("a\rb\r\nc\n\nd\r"), ["a", "b", "c", "", "d"]);
        assert_eq!(runner_lines(""), [""]);
        assert_eq!(runner_lines("\n"), [""]);
        let (console, out) = Console::capturing(false);
        console.info("one\rtwo\r\nthree");
        assert_eq!(out.text(), "one\ntwo\nthree\n");
    }

    #[test]
    fn titles_and_messages_with_line_breaks_percent_and_colons_stay_one_command() {
        let (console, out) = Console::capturing(false);
        console.error(Some("a::b\rc%d,e"), "x::y\r::error::z%0A");
        console.group("g\r::stop-commands::s");
        assert_eq!(
            out.lines(),
            [
                "::error title=a%3A%3Ab%0Dc%25d%2Ce::x::y%0D::error::z%250A",
                "::group::g%0D::stop-commands::s",
            ]
        );
        assert_eq!(
            runner_reads(&out.lines()[0]),
            Some((
                "error".into(),
                vec![("title".into(), "a::b\rc%d,e".into())],
                "x::y\r::error::z%0A".into()
            ))
        );
    }

    #[test]
    fn debug_format_hides_secrets() {
        let (console, _out) = Console::capturing(false);
        console.add_mask("hidden-value");
        let shown = format!("{console:?}");
        assert!(!shown.contains("hidden-value"), "{shown}");
    }

    #[test]
    fn concurrent_lines_never_interleave() {
        let (console, out) = Console::capturing(false);
        let console = Arc::new(console);
        let handles: Vec<_> = (0..8)
            .map(|t| {
                let console = console.clone();
                std::thread::spawn(move || {
                    for i in 0..50 {
                        console.warning(Some("t"), &format!("thread {t} line {i}"));
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let lines = out.lines();
        assert_eq!(lines.len(), 400);
        assert!(lines
            .iter()
            .all(|l| l.starts_with("::warning title=t::thread ")));
    }
}
