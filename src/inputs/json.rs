//! JSON inputs as workflows really write them. Workflows build JSON by pasting `${{ }}`
//! expressions into string literals, so a commit message or a log line brings raw newlines and
//! tabs into a JSON string, which strict JSON rejects (and the official action silently drops).
//! Such control characters are escaped and kept; errors point at the user's own text.

use serde_json::Value;

use super::InputError;

/// Parses the JSON text of input `input`; raw newlines and tabs inside JSON strings (pasted
/// from `${{ }}` expressions) are escaped and kept. Errors name the input and the position.
pub fn parse_json_input(input: &'static str, text: &str) -> Result<Value, InputError> {
    let escaped = escape_controls_in_strings(text);
    serde_json::from_str(&escaped.text).map_err(|e| {
        let code = e.to_string();
        let suffix = format!(" at line {} column {}", e.line(), e.column());
        let message = code.strip_suffix(&suffix).unwrap_or(&code);
        if e.line() == 0 {
            return InputError::new(input, format!("is not valid JSON: {message}"));
        }
        let (line, column) = escaped.original_position(text, e.line(), e.column());
        InputError::new(
            input,
            format!("is not valid JSON: {message} at line {line} column {column}"),
        )
    })
}

/// Text with control characters inside JSON strings replaced by escapes, and for every byte of
/// it the byte offset in the original text of the character it came from.
struct Escaped {
    text: String,
    /// `origin[i]` is the original offset of escaped byte `i`; one extra entry for the end.
    origin: Vec<usize>,
}

fn escape_controls_in_strings(text: &str) -> Escaped {
    let mut out = String::with_capacity(text.len() + 16);
    let mut origin = Vec::with_capacity(text.len() + 17);
    let mut in_string = false;
    let mut after_backslash = false;
    for (at, c) in text.char_indices() {
        let before = out.len();
        if in_string && !after_backslash && u32::from(c) < 0x20 {
            match c {
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                _ => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            }
        } else {
            out.push(c);
            if in_string {
                if after_backslash {
                    after_backslash = false;
                } else if c == '\\' {
                    after_backslash = true;
                } else if c == '"' {
                    in_string = false;
                }
            } else if c == '"' {
                in_string = true;
            }
        }
        origin.extend(std::iter::repeat_n(at, out.len() - before));
    }
    origin.push(text.len());
    Escaped { text: out, origin }
}

impl Escaped {
    /// Maps serde_json's position in the escaped text (1-based line, byte column that points at
    /// the offending byte, 0 at the start of a line) to a line and character column of `original`.
    fn original_position(&self, original: &str, line: usize, column: usize) -> (usize, usize) {
        let line_start = if line <= 1 {
            0
        } else {
            self.text
                .match_indices('\n')
                .nth(line - 2)
                .map_or(self.text.len(), |(i, _)| i + 1)
        };
        let escaped_at = (line_start + column).min(self.text.len());
        if column == 0 {
            let at = self.origin[escaped_at];
            let (line, start) = line_of(original, at);
            return (line, original[start..at].chars().count());
        }
        // The offending byte; back up to the start of a character (columns count bytes).
        let mut offending = escaped_at.saturating_sub(1);
        while !self.text.is_char_boundary(offending) {
            offending -= 1;
        }
        let at = self.origin[offending];
        let (line, start) = line_of(original, at);
        (line, original[start..at].chars().count() + 1)
    }
}

/// The 1-based line holding byte `at` of `text`, and the byte offset where that line starts.
fn line_of(text: &str, at: usize) -> (usize, usize) {
    let before = &text[..at];
    let line = 1 + before.matches('\n').count();
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, start)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn err(input: &'static str, text: &str) -> String {
        parse_json_input(input, text).unwrap_err().to_string()
    }

    #[test]
    fn plain_json_parses_and_keeps_key_order() {
        let v = parse_json_input("properties", r#"{"z": 1, "a": [true, null], "m": "x"}"#).unwrap();
        let keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["z", "a", "m"]);
        assert_eq!(v["a"], json!([true, null]));
    }

    #[test]
    fn yaml_block_form_with_trailing_newline() {
        let text = "{\n  \"version\": \"1.2.3\",\n  \"env\": \"prod\"\n}\n";
        let v = parse_json_input("properties", text).unwrap();
        assert_eq!(v, json!({"version": "1.2.3", "env": "prod"}));
    }

    #[test]
    fn raw_newline_and_tab_inside_a_string_are_kept() {
        let text = "{\"message\": \"fix: a bug\n\nbody\there\r\nend\"}";
        let v = parse_json_input("properties", text).unwrap();
        assert_eq!(v["message"], "fix: a bug\n\nbody\there\r\nend");
    }

    #[test]
    fn other_control_characters_inside_a_string_are_kept() {
        let v = parse_json_input("properties", "{\"a\": \"x\u{1}y\u{1f}\"}").unwrap();
        assert_eq!(v["a"], "x\u{1}y\u{1f}");
    }

    #[test]
    fn escaped_quotes_and_backslashes_do_not_confuse_the_string_scan() {
        let text = "{\"a\": \"say \\\"hi\\\"\\\\\", \"b\": \"line\nnext\"}";
        let v = parse_json_input("properties", text).unwrap();
        assert_eq!(v["a"], "say \"hi\"\\");
        assert_eq!(v["b"], "line\nnext");
    }

    #[test]
    fn control_characters_outside_strings_are_whitespace() {
        let v = parse_json_input("query", "{\r\n\t\"a\":\t1\r\n}\r\n").unwrap();
        assert_eq!(v, json!({"a": 1}));
    }

    #[test]
    fn error_names_the_input_and_the_position() {
        assert_eq!(
            err("properties", "{\n  \"a\": 1,\n  \"b\": ,\n}"),
            "input 'properties' is not valid JSON: expected value at line 3 column 8"
        );
    }

    #[test]
    fn empty_expression_gives_a_positioned_error() {
        assert_eq!(
            err("properties", r#"{"x": ,}"#),
            "input 'properties' is not valid JSON: expected value at line 1 column 7"
        );
    }

    #[test]
    fn position_after_an_escaped_newline_refers_to_the_original_text() {
        // The string on line 2 holds two raw newlines, so the bad value is on line 5.
        let text = "{\n  \"msg\": \"one\ntwo\nthree\",\n  \"b\": ,\n}\n";
        assert_eq!(
            err("properties", text),
            "input 'properties' is not valid JSON: expected value at line 5 column 8"
        );
    }

    #[test]
    fn position_after_an_escaped_tab_on_the_same_line() {
        // The tab becomes two characters when escaped; the column must not move.
        let text = "{\"a\": \"x\ty\", \"b\": ]}";
        assert_eq!(
            err("properties", text),
            "input 'properties' is not valid JSON: expected value at line 1 column 19"
        );
    }

    #[test]
    fn column_counts_characters_not_bytes() {
        let text = "{\"a\": \"é€\", \"b\": ]}";
        assert_eq!(
            err("properties", text),
            "input 'properties' is not valid JSON: expected value at line 1 column 18"
        );
    }

    #[test]
    fn unterminated_input() {
        assert_eq!(
            err("relations", "{\"a\": \"b\"\n"),
            "input 'relations' is not valid JSON: EOF while parsing an object at line 2 column 0"
        );
        assert_eq!(
            err("relations", "{\"a\": \"b"),
            "input 'relations' is not valid JSON: EOF while parsing a string at line 1 column 8"
        );
    }

    #[test]
    fn trailing_characters() {
        assert_eq!(
            err("query", "{} x"),
            "input 'query' is not valid JSON: trailing characters at line 1 column 4"
        );
    }
}
