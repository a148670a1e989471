//! Workflow commands on stdout: annotations, groups, debug lines and masks.
//! STUB: to be implemented.

use std::sync::Mutex;

/// Writes workflow commands and log lines to stdout, redacting every registered secret.
#[derive(Debug, Default)]
pub struct Console {
    debug: bool,
    secrets: Mutex<Vec<String>>,
}

impl Console {
    /// `debug`: `RUNNER_DEBUG=1`, when verbose parts (request bodies) are printed.
    pub fn new(debug: bool) -> Self {
        Console {
            debug,
            secrets: Mutex::new(Vec::new()),
        }
    }
    /// Whether debug logging is on.
    pub fn is_debug(&self) -> bool {
        self.debug
    }
    /// `::add-mask::` the value and redact it from everything printed afterwards.
    pub fn add_mask(&self, secret: &str) {
        let _ = (secret, &self.secrets);
    }
    /// Replaces every registered secret in `text` with `***`.
    pub fn redact(&self, text: &str) -> String {
        text.to_string()
    }
    /// A plain log line.
    pub fn info(&self, message: &str) {
        println!("{message}");
    }
    /// `::debug::`, printed only when debug logging is on.
    pub fn debug(&self, message: &str) {
        let _ = message;
    }
    /// `::notice title=…::`.
    pub fn notice(&self, title: Option<&str>, message: &str) {
        let _ = (title, message);
    }
    /// `::warning title=…::`.
    pub fn warning(&self, title: Option<&str>, message: &str) {
        let _ = (title, message);
    }
    /// `::error title=…::`.
    pub fn error(&self, title: Option<&str>, message: &str) {
        let _ = (title, message);
    }
    /// `::group::title`.
    pub fn group(&self, title: &str) {
        let _ = title;
    }
    /// `::endgroup::`.
    pub fn end_group(&self) {}
}

/// Escapes a command's message: `%`, `\r`, `\n`.
pub fn escape_data(s: &str) -> String {
    s.to_string()
}

/// Escapes a command property's value: as [`escape_data`] plus `:` and `,`.
pub fn escape_property(s: &str) -> String {
    s.to_string()
}
