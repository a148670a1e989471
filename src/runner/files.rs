//! The outputs file and the job summary. STUB: to be implemented.

use std::io;
use std::path::PathBuf;

/// Step outputs, appended to `$GITHUB_OUTPUT` in the heredoc form as they are set.
#[derive(Debug, Default)]
pub struct Outputs {
    path: Option<PathBuf>,
    written: Vec<(String, String)>,
}

impl Outputs {
    /// Outputs go to `path`; with none (run outside Actions) they are only kept in memory.
    pub fn new(path: Option<PathBuf>) -> Self {
        Outputs {
            path,
            written: Vec::new(),
        }
    }
    /// Appends `name<<DELIM\nvalue\nDELIM\n` with a fresh random delimiter.
    pub fn set(&mut self, name: &str, value: &str) -> io::Result<()> {
        let _ = &self.path;
        self.written.push((name.to_string(), value.to_string()));
        Ok(())
    }
    /// The outputs set so far, in order.
    pub fn written(&self) -> &[(String, String)] {
        &self.written
    }
}

/// The job summary at `$GITHUB_STEP_SUMMARY`.
#[derive(Debug, Default)]
pub struct StepSummary {
    path: Option<PathBuf>,
}

impl StepSummary {
    /// Appends to `path`, or nowhere when there is none.
    pub fn new(path: Option<PathBuf>) -> Self {
        StepSummary { path }
    }
    /// Appends Markdown (1 MiB per step at most; longer text is cut with a note).
    pub fn append(&self, markdown: &str) -> io::Result<()> {
        let _ = (&self.path, markdown);
        Ok(())
    }
}

/// `ghadelimiter_` plus 32 random hex digits.
pub fn random_delimiter() -> String {
    "ghadelimiter_stub".to_string()
}
