//! JSON inputs as workflows really write them. STUB.

use serde_json::Value;

use super::InputError;

/// Parses the JSON text of input `input`; raw newlines and tabs inside JSON strings (pasted
/// from `${{ }}` expressions) are escaped and kept. Errors name the input and the position.
pub fn parse_json_input(input: &'static str, text: &str) -> Result<Value, InputError> {
    serde_json::from_str(text)
        .map_err(|e| InputError::new(input, format!("is not valid JSON: {e}")))
}
