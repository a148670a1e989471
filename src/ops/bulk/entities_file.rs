//! The entities of a BULK_UPSERT read from a file as a stream: one element at a time, so that
//! memory stays bounded whatever the file's size. The file holds a JSON array of entities, or
//! one entity a line (NDJSON; blank lines are skipped), told apart by its first character.
//!
//! An array is cut into its top-level elements by a small scanner that follows strings (and
//! their escapes) and bracket depth; each element is then parsed on its own. An element that
//! is not JSON, not an object, or over [`MAX_ELEMENT_BYTES`] is handed on as [`Rejected`] and
//! the next one is read: one bad line does not stop the others. Only a file that cannot go on
//! (unreadable, an array cut short, text after the array) ends the stream with a [`FileError`].
//!
//! The file is read on a thread of its own ([`FileElements`]), a few elements ahead of the
//! batches: the step's runtime has one thread, which the requests in flight, their timers and
//! the signal handler need, and a read of the file (a slow disk, a line of gigabytes skipped as
//! too large) may take any time.

use std::io::BufRead;

use serde_json::Value;
use tokio::sync::mpsc;

use super::Element;
use crate::inputs::entity_problem;

/// The most text one element may take; the bytes of a longer one are skipped, not kept. An
/// entity is sent only when it is under Port's 1 MiB request limit: this leaves room for
/// indentation.
pub const MAX_ELEMENT_BYTES: usize = 4 * 1024 * 1024;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// How many elements the reading thread keeps ready ahead of the batches: enough that a batch
/// rarely waits on the file, few enough that memory stays small and the file is read little
/// further than the requests have gone.
const READ_AHEAD: usize = 8;

/// The elements of a file, read by a thread of their own into a channel of [`READ_AHEAD`]
/// elements: the thread waits while the channel is full, and ends once it is closed.
pub struct FileElements {
    reads: mpsc::Receiver<Read>,
    /// The line after the last element taken: where reading stopped, as far as the step goes.
    line: usize,
    /// The end of the file, or an error that ends it, was taken.
    ended: bool,
}

/// One read of the thread: the next element (`None` at the end of the file), and the line of
/// the next byte.
struct Read {
    next: Result<Option<Element>, FileError>,
    line: usize,
}

impl FileElements {
    /// Starts reading `input` on a thread of its own.
    pub fn start<R: BufRead + Send + 'static>(input: R) -> std::io::Result<FileElements> {
        let (send, reads) = mpsc::channel(READ_AHEAD);
        let mut reader = EntityReader::new(input);
        std::thread::Builder::new()
            .name("entitiesFile".into())
            .spawn(move || loop {
                let next = reader.next_element();
                let last = !matches!(next, Ok(Some(_)));
                let line = reader.line();
                // An error: the channel was closed, nothing more is wanted.
                if send.blocking_send(Read { next, line }).is_err() || last {
                    return;
                }
            })?;
        Ok(FileElements {
            reads,
            line: 1,
            ended: false,
        })
    }

    /// The next element, `None` at the end of the file. After an error, `None`.
    pub async fn next(&mut self) -> Result<Option<Element>, FileError> {
        if self.ended {
            return Ok(None);
        }
        let Some(read) = self.reads.recv().await else {
            // The thread ended without saying why: it cannot have, short of a panic.
            self.ended = true;
            return Err(FileError(format!(
                "cannot be read on from line {}: its reading stopped",
                self.line
            )));
        };
        self.line = read.line;
        self.ended = !matches!(read.next, Ok(Some(_)));
        read.next
    }

    /// The line of the next byte of the file the step has not taken.
    pub fn line(&self) -> usize {
        self.line
    }

    /// Stops the reading: the thread reads no further than the element it is on.
    pub fn stop(&mut self) {
        self.reads.close();
        self.ended = true;
    }
}

/// Why an element is not an entity: an error code for the `failed` output, and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub error: &'static str,
    pub message: String,
    /// The element's `identifier`, when it is an object with a string one.
    pub identifier: Option<String>,
}

/// Why the file cannot be read on; said as the end of a sentence about the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FileError(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    /// Not known until the first character is read.
    Unknown,
    Array,
    Lines,
}

/// Reads the elements of a file of entities, one at a time.
pub struct EntityReader<R> {
    input: R,
    format: Format,
    /// The line of the next byte (NDJSON).
    line: usize,
    next_index: usize,
    done: bool,
    /// The current line (NDJSON).
    text: Vec<u8>,
    scan: ArrayScan,
}

impl<R: BufRead> EntityReader<R> {
    pub fn new(input: R) -> Self {
        EntityReader {
            input,
            format: Format::Unknown,
            line: 1,
            next_index: 0,
            done: false,
            text: Vec::new(),
            scan: ArrayScan::default(),
        }
    }

    /// The line of the next byte to be read.
    pub fn line(&self) -> usize {
        match self.format {
            Format::Array => self.scan.line,
            _ => self.line,
        }
    }

    /// The next element, `None` at the end of the file. After an error, `None`.
    pub fn next_element(&mut self) -> Result<Option<Element>, FileError> {
        if self.done {
            return Ok(None);
        }
        let next = match self.format {
            Format::Unknown => {
                self.sniff()?;
                return self.next_element();
            }
            Format::Lines => self.next_line(),
            Format::Array => self.next_in_array(),
        };
        if !matches!(next, Ok(Some(_))) {
            self.done = true;
        }
        next
    }

    fn io_error(&self, line: usize, e: std::io::Error) -> FileError {
        FileError(format!("cannot be read at line {line}: {e}"))
    }

    /// Skips a byte-order mark and leading white space, and picks the format from the first
    /// character: `[` is an array, anything else a line of NDJSON.
    fn sniff(&mut self) -> Result<(), FileError> {
        // How much of the byte-order mark has been read.
        let mut bom = 0;
        loop {
            let buf = self
                .input
                .fill_buf()
                .map_err(|e| FileError(format!("cannot be read: {e}")))?;
            let Some(&b) = buf.first() else {
                // An empty file holds no entities, as `[]` does.
                self.done = true;
                return Ok(());
            };
            if bom < BOM.len() && b == BOM[bom] {
                bom += 1;
            } else if b.is_ascii_whitespace() {
                bom = BOM.len();
                if b == b'\n' {
                    self.line += 1;
                }
            } else {
                self.format = if b == b'[' {
                    self.scan.line = self.line;
                    Format::Array
                } else {
                    Format::Lines
                };
                return Ok(());
            }
            self.input.consume(1);
        }
    }

    /// NDJSON: the next line that is not blank.
    fn next_line(&mut self) -> Result<Option<Element>, FileError> {
        loop {
            self.text.clear();
            let line = self.line;
            let mut oversize = false;
            let mut read_any = false;
            loop {
                let buf = self
                    .input
                    .fill_buf()
                    .map_err(|e| FileError(format!("cannot be read at line {line}: {e}")))?;
                if buf.is_empty() {
                    break;
                }
                read_any = true;
                let (part, used, ended) = match buf.iter().position(|&b| b == b'\n') {
                    Some(at) => (&buf[..at], at + 1, true),
                    None => (buf, buf.len(), false),
                };
                if oversize || self.text.len() + part.len() > MAX_ELEMENT_BYTES {
                    oversize = true;
                    self.text.clear();
                } else {
                    self.text.extend_from_slice(part);
                }
                self.input.consume(used);
                if ended {
                    self.line += 1;
                    break;
                }
            }
            if !read_any {
                return Ok(None);
            }
            if !oversize && self.text.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let index = self.next_index;
            self.next_index += 1;
            let value = if oversize {
                Err(too_large())
            } else {
                parse(&self.text, 1, true)
            };
            return Ok(Some(Element {
                index,
                line: Some(line),
                value,
            }));
        }
    }

    /// A JSON array: the next top-level element.
    fn next_in_array(&mut self) -> Result<Option<Element>, FileError> {
        loop {
            let buf = match self.input.fill_buf() {
                Ok(buf) => buf,
                Err(e) => return Err(self.io_error(self.scan.line, e)),
            };
            if buf.is_empty() {
                return self.scan.finish().map(|()| None);
            }
            let mut used = 0;
            let mut piece = None;
            for &b in buf {
                used += 1;
                if let Some(p) = self.scan.feed(b)? {
                    piece = Some(p);
                    break;
                }
            }
            self.input.consume(used);
            let Some(piece) = piece else { continue };
            let index = self.next_index;
            self.next_index += 1;
            let value = match piece.kind {
                PieceKind::Empty => Err(Rejected {
                    error: "invalid_json",
                    message: "not valid JSON: an empty element (a comma too many)".into(),
                    identifier: None,
                }),
                PieceKind::TooLarge => Err(too_large()),
                PieceKind::Text => parse(self.scan.text(), piece.column, false),
            };
            return Ok(Some(Element {
                index,
                line: Some(piece.line),
                value,
            }));
        }
    }
}

/// Where the array scanner is.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the opening `[`.
    #[default]
    Start,
    /// After `[` (`first`) or after a `,`.
    BeforeElement {
        first: bool,
    },
    InElement,
    /// After the closing `]`: only white space may follow.
    AfterArray,
}

/// Cuts a JSON array into the text of its top-level elements, one byte at a time.
#[derive(Debug, Default)]
struct ArrayScan {
    state: State,
    /// Open `[` and `{` inside the element.
    depth: usize,
    in_string: bool,
    escaped: bool,
    /// The element's text (up to [`MAX_ELEMENT_BYTES`]).
    text: Vec<u8>,
    oversize: bool,
    /// Where the element starts.
    start_line: usize,
    start_column: usize,
    /// The position of the next byte.
    line: usize,
    column: usize,
}

/// An element cut out of the array.
struct Piece {
    kind: PieceKind,
    line: usize,
    column: usize,
}

enum PieceKind {
    /// Nothing between two commas, or between a comma and `]`.
    Empty,
    /// Over [`MAX_ELEMENT_BYTES`]: its text was not kept.
    TooLarge,
    /// Its text is [`ArrayScan::text`].
    Text,
}

impl ArrayScan {
    /// The element's text, without the white space before the `,` or `]` that ended it.
    fn text(&self) -> &[u8] {
        let end = self
            .text
            .iter()
            .rposition(|b| !b.is_ascii_whitespace())
            .map_or(0, |i| i + 1);
        &self.text[..end]
    }

    fn feed(&mut self, b: u8) -> Result<Option<Piece>, FileError> {
        let (line, column) = (self.line, self.column.max(1));
        if b == b'\n' {
            self.line += 1;
            self.column = 1;
        } else {
            self.column = column + 1;
        }
        let blank = b.is_ascii_whitespace();
        let empty = || Piece {
            kind: PieceKind::Empty,
            line,
            column,
        };
        match self.state {
            State::Start if blank => Ok(None),
            State::Start if b == b'[' => {
                self.state = State::BeforeElement { first: true };
                Ok(None)
            }
            State::Start => Err(FileError(format!("does not start with '[' (line {line})"))),
            State::BeforeElement { .. } if blank => Ok(None),
            State::BeforeElement { first } if b == b']' => {
                self.state = State::AfterArray;
                Ok((!first).then(empty))
            }
            State::BeforeElement { .. } if b == b',' => {
                self.state = State::BeforeElement { first: false };
                Ok(Some(empty()))
            }
            State::BeforeElement { .. } => {
                self.state = State::InElement;
                self.text.clear();
                self.oversize = false;
                self.depth = 0;
                self.in_string = false;
                self.escaped = false;
                self.start_line = line;
                self.start_column = column;
                Ok(self.element_byte(b))
            }
            State::InElement => Ok(self.element_byte(b)),
            State::AfterArray if blank => Ok(None),
            State::AfterArray => Err(FileError(format!(
                "has text after the array's closing ']' (line {line})"
            ))),
        }
    }

    /// A byte of an element; the element when the byte ends it (a `,` or `]` outside strings
    /// and brackets).
    fn element_byte(&mut self, b: u8) -> Option<Piece> {
        if self.in_string {
            if self.escaped {
                self.escaped = false;
            } else if b == b'\\' {
                self.escaped = true;
            } else if b == b'"' {
                self.in_string = false;
            }
        } else {
            match b {
                b'"' => self.in_string = true,
                b'[' | b'{' => self.depth += 1,
                b']' | b'}' if self.depth > 0 => self.depth -= 1,
                b',' | b']' if self.depth == 0 => {
                    self.state = if b == b',' {
                        State::BeforeElement { first: false }
                    } else {
                        State::AfterArray
                    };
                    let kind = if self.oversize {
                        PieceKind::TooLarge
                    } else {
                        PieceKind::Text
                    };
                    return Some(Piece {
                        kind,
                        line: self.start_line,
                        column: self.start_column,
                    });
                }
                _ => {}
            }
        }
        if self.text.len() < MAX_ELEMENT_BYTES {
            self.text.push(b);
        } else {
            self.oversize = true;
        }
        None
    }

    /// At the end of the file: the array must have been closed.
    fn finish(&self) -> Result<(), FileError> {
        match self.state {
            State::AfterArray => Ok(()),
            _ => Err(FileError(format!(
                "ends at line {} before the array's closing ']' (is it cut short?)",
                self.line
            ))),
        }
    }
}

fn too_large() -> Rejected {
    Rejected {
        error: "payload_too_large",
        identifier: None,
        message: format!(
            "the element is over {} MiB of text, over Port's 1 MiB request limit; it was not sent",
            MAX_ELEMENT_BYTES / (1024 * 1024)
        ),
    }
}

/// One element's text as an entity. `column` is where the text starts on its first line;
/// `one_line`: the file holds one entity a line.
fn parse(text: &[u8], column: usize, one_line: bool) -> Result<Value, Rejected> {
    match serde_json::from_slice::<Value>(text) {
        Ok(value) => match entity_problem(&value) {
            None => Ok(value),
            Some(problem) => Err(Rejected {
                error: "invalid_entity",
                message: problem,
                identifier: value
                    .get("identifier")
                    .and_then(Value::as_str)
                    .map(str::to_string),
            }),
        },
        Err(e) => {
            let full = e.to_string();
            let at = format!(" at line {} column {}", e.line(), e.column());
            let what = full.strip_suffix(&at).unwrap_or(&full);
            let position = if e.line() <= 1 {
                format!("column {}", column + e.column().saturating_sub(1))
            } else {
                format!("the element's line {} column {}", e.line(), e.column())
            };
            let hint = if one_line && e.is_eof() {
                " (one entity a line: write each on a single line, e.g. with jq -c)"
            } else {
                ""
            };
            Err(Rejected {
                error: "invalid_json",
                message: format!("not valid JSON: {what} at {position}{hint}"),
                identifier: None,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Every element of `text`, read through a buffer of `capacity` bytes, and the error that
    /// ended the file, if any.
    fn read_all(text: &str, capacity: usize) -> (Vec<Element>, Option<FileError>) {
        let input = std::io::BufReader::with_capacity(capacity, text.as_bytes());
        let mut reader = EntityReader::new(input);
        let mut out = Vec::new();
        loop {
            match reader.next_element() {
                Ok(Some(e)) => out.push(e),
                Ok(None) => return (out, None),
                Err(e) => {
                    assert_eq!(reader.next_element(), Ok(None), "nothing after an error");
                    return (out, Some(e));
                }
            }
        }
    }

    /// The same elements whatever the buffer's size: 1 byte cuts every token in two.
    fn read(text: &str) -> (Vec<Element>, Option<FileError>) {
        let whole = read_all(text, 64 * 1024);
        for capacity in [1, 2, 7] {
            assert_eq!(
                read_all(text, capacity),
                whole,
                "buffer of {capacity} bytes"
            );
        }
        whole
    }

    fn ok(index: usize, line: usize, value: Value) -> Element {
        Element {
            index,
            line: Some(line),
            value: Ok(value),
        }
    }

    fn rejected(e: &Element) -> (usize, usize, &'static str, &str) {
        let r = e.value.as_ref().expect_err("rejected");
        let line = e.line.expect("an element of a file has a line");
        (e.index, line, r.error, r.message.as_str())
    }

    #[test]
    fn an_array_is_cut_at_top_level_commas_only() {
        let text = r#"[
  {"identifier": "a", "title": "x, y]", "blueprint": "s"},
  {"identifier": "b", "properties": {"q": "say \"hi\", ]}", "list": [1, [2, 3]], "o": {"k": {}}}},
  {"identifier": "c\\", "title": "back\\slash \"[\""}
]
"#;
        let (elements, error) = read(text);
        assert_eq!(error, None);
        assert_eq!(
            elements,
            [
                ok(
                    0,
                    2,
                    json!({"identifier": "a", "title": "x, y]", "blueprint": "s"})
                ),
                ok(
                    1,
                    3,
                    json!({"identifier": "b", "properties": {"q": "say \"hi\", ]}", "list": [1, [2, 3]], "o": {"k": {}}}})
                ),
                ok(
                    2,
                    4,
                    json!({"identifier": "c\\", "title": "back\\slash \"[\""})
                ),
            ]
        );
    }

    #[test]
    fn a_bad_array_element_is_rejected_and_the_next_one_read() {
        let text = "\u{feff}[{\"identifier\": \"a\"},\n  {\"identifier\": tru},\n  \"b\",\n  ,\n  {\"identifier\": \"c\"}]";
        let (elements, error) = read(text);
        assert_eq!(error, None);
        assert_eq!(elements.len(), 5);
        assert_eq!(elements[0], ok(0, 1, json!({"identifier": "a"})));
        assert_eq!(
            rejected(&elements[1]),
            (
                1,
                2,
                "invalid_json",
                "not valid JSON: expected ident at column 21"
            )
        );
        assert_eq!(
            rejected(&elements[2]),
            (
                2,
                3,
                "invalid_entity",
                "must be a JSON object, got a string"
            )
        );
        assert_eq!(
            rejected(&elements[3]),
            (
                3,
                4,
                "invalid_json",
                "not valid JSON: an empty element (a comma too many)"
            )
        );
        assert_eq!(elements[4], ok(4, 5, json!({"identifier": "c"})));
    }

    #[test]
    fn an_empty_array_and_an_empty_file_hold_no_entities() {
        assert_eq!(read(" [ ]\n"), (vec![], None));
        assert_eq!(read(""), (vec![], None));
        assert_eq!(read("\n\n  \n"), (vec![], None));
    }

    #[test]
    fn an_array_cut_short_or_followed_by_text_ends_the_file() {
        let (elements, error) = read("[{\"identifier\": \"a\"},\n{\"identifier\": \"b\"");
        assert_eq!(elements, [ok(0, 1, json!({"identifier": "a"}))]);
        assert_eq!(
            error.unwrap().to_string(),
            "ends at line 2 before the array's closing ']' (is it cut short?)"
        );
        let (elements, error) = read("[{\"identifier\": \"a\"}]\n[]");
        assert_eq!(elements.len(), 1);
        assert_eq!(
            error.unwrap().to_string(),
            "has text after the array's closing ']' (line 2)"
        );
    }

    #[test]
    fn ndjson_skips_blank_lines_and_rejects_a_bad_line_alone() {
        let text = "\n{\"identifier\": \"a\", \"blueprint\": \"s\"}\r\n\n   \nnot json\n{\"identifier\": \"b\"}\n{\"identifier\": 7}\n{\n\"x\": 1}\n{\"identifier\": \"c\"}";
        let (elements, error) = read(text);
        assert_eq!(error, None);
        assert_eq!(
            elements[0],
            ok(0, 2, json!({"identifier": "a", "blueprint": "s"}))
        );
        assert_eq!(
            rejected(&elements[1]),
            (
                1,
                5,
                "invalid_json",
                "not valid JSON: expected ident at column 2"
            )
        );
        assert_eq!(elements[2], ok(2, 6, json!({"identifier": "b"})));
        assert_eq!(
            rejected(&elements[3]),
            (
                3,
                7,
                "invalid_entity",
                "\"identifier\" must be a string, got a number"
            )
        );
        // A pretty-printed object is not NDJSON: the hint says how to write it.
        assert_eq!(
            rejected(&elements[4]),
            (
                4,
                8,
                "invalid_json",
                "not valid JSON: EOF while parsing an object at column 1 (one entity a line: \
                 write each on a single line, e.g. with jq -c)"
            )
        );
        assert_eq!(
            rejected(&elements[5]),
            (
                5,
                9,
                "invalid_json",
                "not valid JSON: trailing characters at column 4"
            )
        );
        assert_eq!(elements[6], ok(6, 10, json!({"identifier": "c"})));
        assert_eq!(elements.len(), 7);
    }

    #[test]
    fn an_element_over_the_limit_is_skipped_without_being_kept() {
        let big = format!(
            "{{\"identifier\": \"big\", \"pad\": \"{}\"}}",
            "x".repeat(MAX_ELEMENT_BYTES)
        );
        for text in [
            format!("{{\"identifier\": \"a\"}}\n{big}\n{{\"identifier\": \"b\"}}\n"),
            format!("[{{\"identifier\": \"a\"}}, {big}, {{\"identifier\": \"b\"}}]"),
        ] {
            let (elements, error) = read_all(&text, 8 * 1024);
            assert_eq!(error, None);
            assert_eq!(elements.len(), 3);
            assert_eq!(
                elements[1].value.as_ref().unwrap_err().error,
                "payload_too_large"
            );
            assert_eq!(elements[2].value, Ok(json!({"identifier": "b"})));
        }
    }

    /// A file whose bytes come from `bytes` as the test sends them: a read waits for them (up to
    /// 2 s, then fails), as a read of a slow disk does. Counts the bytes handed out.
    struct Slow {
        bytes: std::sync::mpsc::Receiver<Vec<u8>>,
        given: std::sync::Arc<std::sync::atomic::AtomicUsize>,
        left: Vec<u8>,
    }

    impl std::io::Read for Slow {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.left.is_empty() {
                match self.bytes.recv_timeout(std::time::Duration::from_secs(2)) {
                    Ok(bytes) => self.left = bytes,
                    Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return Ok(0),
                    Err(e) => return Err(std::io::Error::other(e)),
                }
            }
            let n = buf.len().min(self.left.len());
            buf[..n].copy_from_slice(&self.left[..n]);
            self.left.drain(..n);
            self.given.fetch_add(n, std::sync::atomic::Ordering::SeqCst);
            Ok(n)
        }
    }

    fn slow_file(
        capacity: usize,
    ) -> (
        FileElements,
        std::sync::mpsc::Sender<Vec<u8>>,
        std::sync::Arc<std::sync::atomic::AtomicUsize>,
    ) {
        let (send, bytes) = std::sync::mpsc::channel();
        let given = std::sync::Arc::default();
        let slow = Slow {
            bytes,
            given: std::sync::Arc::clone(&given),
            left: Vec::new(),
        };
        let elements =
            FileElements::start(std::io::BufReader::with_capacity(capacity, slow)).unwrap();
        (elements, send, given)
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
    }

    #[test]
    fn a_read_that_waits_on_the_file_leaves_the_runtime_free() {
        runtime().block_on(async {
            let (mut elements, send, _) = slow_file(64 * 1024);
            // The read hangs; the runtime's one thread still runs the timer that ends the wait.
            let waited =
                tokio::time::timeout(std::time::Duration::from_millis(50), elements.next()).await;
            assert!(waited.is_err(), "the runtime was held by the read");
            send.send(b"{\"identifier\": \"a\"}\n".to_vec()).unwrap();
            drop(send);
            assert_eq!(
                elements.next().await,
                Ok(Some(ok(0, 1, json!({"identifier": "a"}))))
            );
            assert_eq!(elements.line(), 2);
            assert_eq!(elements.next().await, Ok(None));
        });
    }

    #[test]
    fn the_file_is_read_a_few_elements_ahead_and_not_at_all_once_stopped() {
        runtime().block_on(async {
            // Lines of 11 bytes through a buffer of 11: each read takes one line.
            let (mut elements, send, given) = slow_file(11);
            for i in 1000..1100 {
                send.send(format!("{{\"n\":{i}}}\n").into_bytes()).unwrap();
            }
            assert_eq!(
                elements.next().await,
                Ok(Some(ok(0, 1, json!({"n": 1000}))))
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            let ahead = given.load(std::sync::atomic::Ordering::SeqCst) / 11;
            assert!(
                ahead <= 1 + READ_AHEAD + 2,
                "{ahead} lines read for one taken"
            );
            elements.stop();
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            let after_stop = given.load(std::sync::atomic::Ordering::SeqCst) / 11;
            assert!(
                after_stop <= ahead + 1,
                "{after_stop} lines read after {ahead}"
            );
            // The thread ends and drops the file (its end of the channel of bytes).
            let stopped = std::time::Instant::now();
            while send.send(b"\n".to_vec()).is_ok() {
                assert!(
                    stopped.elapsed() < std::time::Duration::from_secs(5),
                    "the reading thread goes on"
                );
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            assert_eq!(elements.next().await, Ok(None));
            assert_eq!(elements.line(), 2, "reading stopped after line 1");
        });
    }
}
