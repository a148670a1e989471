//! The outputs file and the job summary.
//!
//! A container action hands its outputs back by appending to the file named by `$GITHUB_OUTPUT`,
//! and its job summary by appending Markdown to `$GITHUB_STEP_SUMMARY`; the runner reads both
//! when the step ends. A single malformed record makes the runner reject the whole outputs file
//! and fail the step, so outputs are always written in the heredoc form with a fresh random
//! delimiter, exactly as `@actions/core` does, and [`parse_github_output`] reads the file back
//! with the runner's own rules.

use std::collections::hash_map::RandomState;
use std::fs::OpenOptions;
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

/// The most the runner accepts in `$GITHUB_STEP_SUMMARY` for one step.
pub const STEP_SUMMARY_LIMIT: usize = 1024 * 1024;

/// The last line of a summary that had to be cut.
const SUMMARY_CUT_NOTE: &str = "*(summary cut: over GitHub's 1 MiB step limit)*\n";

/// Step outputs, appended to `$GITHUB_OUTPUT` in the heredoc form as they are set.
#[derive(Debug, Default)]
pub struct Outputs {
    path: Option<PathBuf>,
}

impl Outputs {
    /// Outputs go to `path`; with none (run outside Actions) names are checked and nothing is
    /// written.
    pub fn new(path: Option<PathBuf>) -> Self {
        Outputs { path }
    }
    /// Appends `name<<DELIM\nvalue\nDELIM\n` with a fresh random delimiter, one found in
    /// neither the name nor the value.
    ///
    /// A name the runner could not read back (empty, or holding a line break, `=` or `<<`) is
    /// refused with [`io::ErrorKind::InvalidInput`] and nothing is written.
    pub fn set(&mut self, name: &str, value: &str) -> io::Result<()> {
        check_output_name(name)?;
        if let Some(path) = &self.path {
            let record = heredoc_record(name, value, random_delimiter)?;
            append(path, record.as_bytes())?;
        }
        Ok(())
    }
}

fn check_output_name(name: &str) -> io::Result<()> {
    let problem = if name.is_empty() {
        Some("it is empty")
    } else if name.contains(['\n', '\r']) {
        Some("it holds a line break")
    } else if name.contains('=') || name.contains("<<") {
        Some("it holds '=' or '<<'")
    } else {
        None
    };
    match problem {
        Some(why) => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("cannot set the output {name:?}: {why}"),
        )),
        None => Ok(()),
    }
}

/// How many delimiters [`heredoc_record`] tries before it gives up. A random one is in the
/// value by chance with a probability of about 2^-128; a value holding several in a row can
/// only have been made to hold them.
const DELIMITER_TRIES: usize = 8;

/// `name<<DELIM\nvalue\nDELIM\n`, with the first delimiter from `delimiters` that is found
/// in neither the name nor the value (a value holding the delimiter would end early, and the
/// rest of it would be read as more outputs).
fn heredoc_record(
    name: &str,
    value: &str,
    mut delimiters: impl FnMut() -> String,
) -> io::Result<String> {
    for _ in 0..DELIMITER_TRIES {
        let d = delimiters();
        if !name.contains(&d) && !value.contains(&d) {
            return Ok(format!("{name}<<{d}\n{value}\n{d}\n"));
        }
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("cannot set the output {name:?}: its value holds every delimiter tried"),
    ))
}

/// Appends `bytes` in one write, creating the file if it is missing.
///
/// A blocking write, made on the step's single-threaded runtime on purpose: the outputs and the
/// summary are written once the step's requests are done, and `track`'s state before its first
/// request, so no request in flight waits on it; each is one append of at most a few MiB to a
/// local file the runner owns.
fn append(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot open {}: {e}", path.display())))?;
    file.write_all(bytes)
        .and_then(|()| file.flush())
        .map_err(|e| io::Error::new(e.kind(), format!("cannot write {}: {e}", path.display())))
}

/// The folder of the workspace that [`write_step_file`] writes in.
pub const STEP_FILES_DIR: &str = ".port-action";

/// Writes `bytes` to a file for later steps of the job: `.port-action/{step}-{name}` in
/// `workspace` (the current directory without one: a container action starts in the
/// workspace), where `step` is the step's id (`GITHUB_ACTION`) cut to safe characters. Returns
/// the path relative to the workspace, which later steps (working in the workspace) open.
///
/// The file is written next to its place and renamed once complete; a link planted where the
/// folder or the file goes is never followed.
pub fn write_step_file(
    workspace: Option<&str>,
    step: Option<&str>,
    name: &str,
    bytes: &[u8],
) -> io::Result<String> {
    let root = PathBuf::from(workspace.unwrap_or("."));
    let dir = root.join(STEP_FILES_DIR);
    match std::fs::symlink_metadata(&dir) {
        Ok(m) if !m.is_dir() => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} is not a folder", dir.display()),
            ))
        }
        Ok(_) => {}
        Err(_) => std::fs::create_dir_all(&dir)?,
    }
    let step: String = step
        .unwrap_or("step")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        .take(100)
        .collect();
    let step = step.trim_start_matches('.');
    let file = format!("{}-{name}", if step.is_empty() { "step" } else { step });
    let part = dir.join(format!(".{file}.part"));
    let _ = std::fs::remove_file(&part);
    let written = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&part)
        .and_then(|mut f| f.write_all(bytes).and_then(|()| f.flush()))
        .and_then(|()| std::fs::rename(&part, dir.join(&file)));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&part);
        return Err(io::Error::new(
            e.kind(),
            format!("cannot write {}: {e}", dir.join(&file).display()),
        ));
    }
    Ok(format!("{STEP_FILES_DIR}/{file}"))
}

/// The job summary at `$GITHUB_STEP_SUMMARY`.
#[derive(Debug, Default)]
pub struct StepSummary {
    path: Option<PathBuf>,
    /// Bytes appended so far by this summary; [`STEP_SUMMARY_LIMIT`] once it has been cut.
    appended: Mutex<usize>,
}

impl StepSummary {
    /// Appends to `path`, or nowhere when there is none.
    pub fn new(path: Option<PathBuf>) -> Self {
        StepSummary {
            path,
            appended: Mutex::new(0),
        }
    }
    /// Appends Markdown (1 MiB per step at most; longer text is cut with a note).
    ///
    /// Once the summary has been cut, later appends are dropped.
    pub fn append(&self, markdown: &str) -> io::Result<()> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let mut appended = self.appended.lock().unwrap_or_else(PoisonError::into_inner);
        if markdown.is_empty() || *appended >= STEP_SUMMARY_LIMIT {
            return Ok(());
        }
        if *appended + markdown.len() <= STEP_SUMMARY_LIMIT {
            append(path, markdown.as_bytes())?;
            *appended += markdown.len();
            return Ok(());
        }
        // Keep what fits with room for a line break and the note.
        let room = STEP_SUMMARY_LIMIT
            .saturating_sub(*appended)
            .saturating_sub(SUMMARY_CUT_NOTE.len() + 1);
        let mut cut = room.min(markdown.len());
        while !markdown.is_char_boundary(cut) {
            cut -= 1;
        }
        let mut text = markdown[..cut].to_string();
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(SUMMARY_CUT_NOTE);
        append(path, text.as_bytes())?;
        *appended = STEP_SUMMARY_LIMIT;
        Ok(())
    }
}

/// `ghadelimiter_` plus 32 random hex digits.
pub fn random_delimiter() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let pid = std::process::id();
    // Each RandomState carries its own random keys, so two of them give two independent
    // 64-bit hashes of the same (time, pid, counter).
    let half = || {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u128(nanos);
        hasher.write_u32(pid);
        hasher.write_u64(count);
        hasher.finish()
    };
    format!("ghadelimiter_{:016x}{:016x}", half(), half())
}

/// Reads an outputs file the way the runner does, and returns the (name, value) pairs in order.
///
/// Lines are split on `\n` (the runner's rule on Linux, where container actions run). Blank
/// lines are skipped; `name=value` takes the rest of the line as the value; `name<<DELIM` takes
/// the lines up to one that is exactly `DELIM`, without the last line break. Errors: a line that
/// is neither form, an empty name or delimiter, a heredoc whose delimiter never comes, and a
/// heredoc value line that ends the file without a line break.
pub fn parse_github_output(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut pairs = Vec::new();
    let mut index = 0;
    while let Some((line, _)) = read_line(text, &mut index) {
        if line.is_empty() {
            continue;
        }
        let equals = line.find('=');
        let heredoc = line.find("<<");
        match (equals, heredoc) {
            (Some(e), h) if h.is_none_or(|h| e < h) => {
                let (name, value) = (&line[..e], &line[e + 1..]);
                if name.is_empty() {
                    return Err(format!("Invalid format '{line}'. Name must not be empty"));
                }
                pairs.push((name.to_string(), value.to_string()));
            }
            (_, Some(h)) => {
                let (name, delimiter) = (&line[..h], &line[h + 2..]);
                if name.is_empty() || delimiter.is_empty() {
                    return Err(format!(
                        "Invalid format '{line}'. Name must not be empty and delimiter must not be empty"
                    ));
                }
                let start = index;
                let mut end = index;
                loop {
                    match read_line(text, &mut index) {
                        None => {
                            return Err(format!(
                                "Invalid value. Matching delimiter not found '{delimiter}'"
                            ))
                        }
                        Some((l, _)) if l == delimiter => break,
                        Some((_, false)) => {
                            return Err("Invalid value. EOF marker missing new line.".to_string())
                        }
                        Some((_, true)) => end = index - 1,
                    }
                }
                let value = if end > start { &text[start..end] } else { "" };
                pairs.push((name.to_string(), value.to_string()));
            }
            _ => return Err(format!("Invalid format '{line}'")),
        }
    }
    Ok(pairs)
}

/// The line at `index` and whether a `\n` ended it; `None` at the end of the text.
fn read_line<'a>(text: &'a str, index: &mut usize) -> Option<(&'a str, bool)> {
    if *index >= text.len() {
        return None;
    }
    let rest = &text[*index..];
    match rest.find('\n') {
        Some(lf) => {
            *index += lf + 1;
            Some((&rest[..lf], true))
        }
        None => {
            *index = text.len();
            Some((rest, false))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    /// GitHub's step summary limit as the README states it, written out rather than read from
    /// [`STEP_SUMMARY_LIMIT`], so that raising the constant fails these tests.
    const ONE_MIB: usize = 1_048_576;

    #[test]
    fn a_step_file_is_named_for_the_step_and_follows_no_planted_link() {
        let ws = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        let root = ws.path().to_str().unwrap();
        let name = write_step_file(Some(root), Some("../sync step"), "failed.json", b"[1]");
        // `../` and the space are dropped: the file stays in the folder.
        assert_eq!(name.unwrap(), ".port-action/syncstep-failed.json");
        assert_eq!(
            std::fs::read(ws.path().join(".port-action/syncstep-failed.json")).unwrap(),
            b"[1]"
        );
        // A link where the file goes is replaced, not written through.
        let target = elsewhere.path().join("target");
        std::fs::write(&target, "kept").unwrap();
        let at = ws.path().join(".port-action/syncstep-failed.json");
        std::fs::remove_file(&at).unwrap();
        std::os::unix::fs::symlink(&target, &at).unwrap();
        write_step_file(Some(root), Some("sync step"), "failed.json", b"[2]").unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "kept");
        assert_eq!(std::fs::read(&at).unwrap(), b"[2]");
        // A link where the folder goes is refused.
        let other = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), other.path().join(".port-action")).unwrap();
        let refused = write_step_file(other.path().to_str(), None, "failed.json", b"[]");
        assert!(refused.is_err());
        assert_eq!(std::fs::read_dir(elsewhere.path()).unwrap().count(), 1);
    }

    fn temp_file(name: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        (dir, path)
    }

    #[test]
    fn delimiters_are_random_hex() {
        let mut seen = HashSet::new();
        for _ in 0..1000 {
            let d = random_delimiter();
            let hex = d.strip_prefix("ghadelimiter_").expect(&d);
            assert_eq!(hex.len(), 32, "{d}");
            assert!(
                hex.chars()
                    .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)),
                "{d}"
            );
            assert!(seen.insert(d));
        }
    }

    #[test]
    fn outputs_round_trip_through_the_runner_parser() {
        let (_dir, path) = temp_file("output");
        let mut outputs = Outputs::new(Some(path.clone()));
        let cases: &[(&str, &str)] = &[
            ("entity", "{\"identifier\":\"svc\",\"title\":\"A=B\"}"),
            ("multi", "line one\nline two\n\nline four"),
            ("trailing", "ends with a newline\n"),
            ("heredoc_like", "x<<EOF\nEOF\nname=value"),
            ("unicode", "ünïcödé ✓ 日本"),
            ("empty", ""),
            ("crlf", "a\r\nb\r"),
            ("entity", "set twice"),
        ];
        for (name, value) in cases {
            outputs.set(name, value).unwrap();
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let parsed = parse_github_output(&text).unwrap();
        let expected: Vec<(String, String)> = cases
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        assert_eq!(parsed, expected);
        // Every record is the heredoc form with its own delimiter.
        let first_line = text.lines().next().unwrap();
        let delimiter = first_line.strip_prefix("entity<<").unwrap();
        assert!(delimiter.starts_with("ghadelimiter_"));
        assert_eq!(text.matches(delimiter).count(), 2);
    }

    #[test]
    fn a_delimiter_found_in_the_value_is_never_used() {
        let mut offered = ["ghadelimiter_in_value", "ghadelimiter_free"].into_iter();
        let value = "first\nghadelimiter_in_value\nstolen=yes";
        let record = heredoc_record("entity", value, || offered.next().unwrap().into()).unwrap();
        assert_eq!(
            record,
            "entity<<ghadelimiter_free\nfirst\nghadelimiter_in_value\nstolen=yes\nghadelimiter_free\n"
        );
        assert_eq!(
            parse_github_output(&record).unwrap(),
            [("entity".into(), value.into())]
        );
        // A delimiter in the name is skipped too.
        let mut offered = ["d1", "d2"].into_iter();
        let record = heredoc_record("xd1", "v", || offered.next().unwrap().into()).unwrap();
        assert_eq!(record, "xd1<<d2\nv\nd2\n");
    }

    #[test]
    fn a_value_holding_every_delimiter_offered_is_refused() {
        let err = heredoc_record("entity", "a\nEOF\nb", || "EOF".into()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains("\"entity\""), "{err}");
    }

    #[test]
    fn every_write_takes_a_new_delimiter() {
        let (_dir, path) = temp_file("output");
        let mut outputs = Outputs::new(Some(path.clone()));
        outputs.set("same", "value").unwrap();
        outputs.set("same", "value").unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let delimiters: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("same<<"))
            .collect();
        assert_eq!(delimiters.len(), 2, "{text}");
        assert_ne!(delimiters[0], delimiters[1], "{text}");
    }

    #[test]
    fn values_holding_likely_fixed_delimiters_round_trip() {
        let (_dir, path) = temp_file("output");
        let mut outputs = Outputs::new(Some(path.clone()));
        let values = [
            "a\nEOF\nb=1",
            "a\nDELIMITER\nb=1",
            "a\nghadelimiter_\nb=1",
            "a\nghadelimiter_00000000000000000000000000000000\nb=1",
            "a\nghadelimiter_0\nghadelimiter_1\nb=1",
            "a\n_GitHubActionsFileCommandDelimeter_\nb=1",
        ];
        for value in values {
            outputs.set("v", value).unwrap();
        }
        let parsed = parse_github_output(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let expected: Vec<(String, String)> =
            values.iter().map(|v| ("v".into(), v.to_string())).collect();
        assert_eq!(parsed, expected);
    }

    #[test]
    fn outputs_append_to_what_is_already_there() {
        let (_dir, path) = temp_file("output");
        std::fs::write(&path, "before=1\n").unwrap();
        Outputs::new(Some(path.clone())).set("after", "2").unwrap();
        let parsed = parse_github_output(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(
            parsed,
            [("before".into(), "1".into()), ("after".into(), "2".into())]
        );
    }

    #[test]
    fn outputs_without_a_file_check_the_name_and_write_nothing() {
        let mut outputs = Outputs::new(None);
        outputs.set("a", "1").unwrap();
        outputs.set("b", "2\n3").unwrap();
        let err = outputs.set("a=b", "v").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn unreadable_names_are_refused() {
        let (_dir, path) = temp_file("output");
        let mut outputs = Outputs::new(Some(path.clone()));
        for name in ["", "a\nb", "a=b", "a<<b", "cr\r"] {
            let err = outputs.set(name, "v").unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{name:?}");
        }
        assert!(!path.exists());
    }

    #[test]
    fn a_missing_directory_is_an_error_naming_the_path() {
        let (dir, _) = temp_file("x");
        let path = dir.path().join("missing").join("output");
        let err = Outputs::new(Some(path.clone())).set("a", "1").unwrap_err();
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{err}"
        );
    }

    #[test]
    fn parser_reads_both_forms() {
        let text = "plain=a=b<<c\n\nempty=\nheredoc<<EOF\nx=1\ny<<z\nEOF\nnone<<D\nD\nlast=end";
        assert_eq!(
            parse_github_output(text).unwrap(),
            [
                ("plain".into(), "a=b<<c".into()),
                ("empty".into(), "".into()),
                ("heredoc".into(), "x=1\ny<<z".into()),
                ("none".into(), "".into()),
                ("last".into(), "end".into()),
            ]
        );
        // The closing delimiter may end the file without a line break.
        assert_eq!(
            parse_github_output("a<<EOF\nv\nEOF").unwrap(),
            [("a".into(), "v".into())]
        );
        assert_eq!(parse_github_output("").unwrap(), []);
        // `<<` before `=` makes a heredoc whose delimiter holds the `=`.
        assert_eq!(
            parse_github_output("a<<X=Y\nv\nX=Y\n").unwrap(),
            [("a".into(), "v".into())]
        );
    }

    #[test]
    fn parser_errors_like_the_runner() {
        assert_eq!(
            parse_github_output("a<<EOF\nvalue\n").unwrap_err(),
            "Invalid value. Matching delimiter not found 'EOF'"
        );
        assert_eq!(
            parse_github_output("a<<EOF\nvalue").unwrap_err(),
            "Invalid value. EOF marker missing new line."
        );
        assert_eq!(
            parse_github_output("a<<EOF\nvalue\nEOF \n").unwrap_err(),
            "Invalid value. Matching delimiter not found 'EOF'"
        );
        assert_eq!(
            parse_github_output("just text\n").unwrap_err(),
            "Invalid format 'just text'"
        );
        assert_eq!(
            parse_github_output("=v\n").unwrap_err(),
            "Invalid format '=v'. Name must not be empty"
        );
        assert_eq!(
            parse_github_output("<<EOF\nv\nEOF\n").unwrap_err(),
            "Invalid format '<<EOF'. Name must not be empty and delimiter must not be empty"
        );
        assert_eq!(
            parse_github_output("a<<\nv\n\n").unwrap_err(),
            "Invalid format 'a<<'. Name must not be empty and delimiter must not be empty"
        );
    }

    #[test]
    fn summary_appends() {
        let (_dir, path) = temp_file("summary");
        let summary = StepSummary::new(Some(path.clone()));
        summary.append("# Port\n").unwrap();
        summary.append("| a | b |\n").unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "# Port\n| a | b |\n"
        );
        StepSummary::new(None).append("nowhere").unwrap();
    }

    #[test]
    fn summary_is_cut_at_the_limit_on_a_char_boundary() {
        let (_dir, path) = temp_file("summary");
        let summary = StepSummary::new(Some(path.clone()));
        let head = "h".repeat(1000);
        summary.append(&head).unwrap();
        // Three-byte characters, so the cut lands inside one unless it is moved.
        let big = "✓".repeat(ONE_MIB / 3);
        summary.append(&big).unwrap();
        summary.append("dropped after the cut").unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.len() <= ONE_MIB, "{}", text.len());
        assert!(text.len() > ONE_MIB - 60, "{}", text.len());
        assert!(text.starts_with(&head));
        assert!(text.ends_with("✓\n*(summary cut: over GitHub's 1 MiB step limit)*\n"));
        assert!(!text.contains("dropped"));
    }

    #[test]
    fn summary_exactly_at_the_limit_is_not_cut() {
        let (_dir, path) = temp_file("summary");
        let summary = StepSummary::new(Some(path.clone()));
        summary.append(&"a".repeat(ONE_MIB - 1)).unwrap();
        summary.append("\n").unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len() as usize, ONE_MIB);
        summary.append("x").unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.len(), ONE_MIB);
        assert!(!text.contains("summary cut"));
    }
}
