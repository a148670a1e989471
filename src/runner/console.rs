//! Workflow commands on stdout: annotations, groups, debug lines and masks.
//!
//! The runner reads a container action's stdout line by line and acts on lines that start with
//! `::`. This mirrors `@actions/core`: every command's message and properties are escaped so that
//! a value can never end a command early or start a new one, and every secret is registered with
//! `::add-mask::` before it could ever be printed. The runner masks registered secrets in the log;
//! this console also redacts them itself, so nothing printed depends on the runner alone.

use std::fmt;
use std::io::{self, Write};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// Secrets shorter than this are still announced with `::add-mask::` but not redacted here:
/// replacing every `abc` in the log would make it unreadable and protect nothing.
const MIN_REDACTED_LEN: usize = 4;

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
    /// `::add-mask::` the value and redact it from everything printed afterwards.
    ///
    /// The runner masks log lines one at a time, so a multi-line secret is also masked line by
    /// line. Blank values are skipped: the runner rejects an empty mask with a warning.
    pub fn add_mask(&self, secret: &str) {
        if secret.trim().is_empty() {
            return;
        }
        let mut parts = vec![secret.to_string()];
        if secret.contains('\n') || secret.contains('\r') {
            for line in secret.split(['\n', '\r']) {
                if !line.trim().is_empty() && !parts.iter().any(|p| p == line) {
                    parts.push(line.to_string());
                }
            }
        }
        let mut text = String::new();
        for part in &parts {
            text.push_str("::add-mask::");
            text.push_str(&escape_data(part));
            text.push('\n');
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
    /// A plain log line. A multi-line message is printed as it is, line by line.
    pub fn info(&self, message: &str) {
        let mut text = self.redact(message);
        text.push('\n');
        self.write(&text);
    }
    /// `::debug::`, printed only when debug logging is on.
    pub fn debug(&self, message: &str) {
        if self.debug {
            self.command("debug", None, message);
        }
    }
    /// `::notice title=…::`.
    pub fn notice(&self, title: Option<&str>, message: &str) {
        self.command("notice", title, message);
    }
    /// `::warning title=…::`.
    pub fn warning(&self, title: Option<&str>, message: &str) {
        self.command("warning", title, message);
    }
    /// `::error title=…::`.
    pub fn error(&self, title: Option<&str>, message: &str) {
        self.command("error", title, message);
    }
    /// `::group::title`.
    pub fn group(&self, title: &str) {
        self.command("group", None, title);
    }
    /// `::endgroup::`.
    pub fn end_group(&self) {
        self.write("::endgroup::\n");
    }

    /// `::name title=…::message`, redacted, then escaped.
    fn command(&self, name: &str, title: Option<&str>, message: &str) {
        let mut text = format!("::{name}");
        if let Some(title) = title.filter(|t| !t.is_empty()) {
            text.push_str(" title=");
            text.push_str(&escape_property(&self.redact(title)));
        }
        text.push_str("::");
        text.push_str(&escape_data(&self.redact(message)));
        text.push('\n');
        self.write(&text);
    }

    /// Writes whole lines at once, under the stdout lock, so that lines printed by concurrent
    /// tasks never interleave. A closed stdout is not worth failing the step for.
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

/// Locks a mutex, going on with the data even if a thread panicked while holding it.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
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
            ]
        );
        assert_eq!(
            console.redact("key:\n-----BEGIN KEY-----\nAbCdEf%12\n-----END KEY-----\ndone"),
            "key:\n***\ndone"
        );
        assert_eq!(console.redact("line AbCdEf%12 alone"), "line *** alone");
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
        console.notice(None, "plain");
        console.warning(Some("Port: entity, run"), "50% of\nthe runs");
        console.error(Some(""), "failed");
        console.error(Some("Port API"), "401: bad credentials");
        assert_eq!(
            out.lines(),
            [
                "::notice::plain",
                "::warning title=Port%3A entity%2C run::50%25 of%0Athe runs",
                "::error::failed",
                "::error title=Port API::401: bad credentials",
            ]
        );
    }

    #[test]
    fn debug_only_when_on() {
        let (quiet, out) = Console::capturing(false);
        quiet.debug("request body");
        assert!(!quiet.is_debug());
        assert_eq!(out.text(), "");

        let (verbose, out) = Console::capturing(true);
        verbose.add_mask("secret-1");
        verbose.debug("body: {\"token\":\"secret-1\"}\nend");
        assert!(verbose.is_debug());
        assert_eq!(
            out.lines(),
            [
                "::add-mask::secret-1",
                "::debug::body: {\"token\":\"***\"}%0Aend"
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
