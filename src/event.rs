//! Finding the Port action run that started this workflow, from the event payload alone.
//! STUB: to be implemented.

use serde_json::Value;

/// A run id found in the event, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundRunId {
    pub id: String,
    /// Where it was found, as a user would write it: `inputs.port_context.runId`.
    pub source: String,
}

/// Why the event payload could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("cannot read the event file {path}: {reason}")]
    Unreadable { path: String, reason: String },
    #[error("the event file {path} is not JSON: {reason}")]
    NotJson { path: String, reason: String },
    #[error("the event names two different Port runs: '{first}' in {first_source} and '{second}' in {second_source}; pass the one to use as the 'runId' input")]
    Ambiguous {
        first: String,
        first_source: String,
        second: String,
        second_source: String,
    },
}

/// Reads and parses the event file at `path`.
pub fn load(path: &str) -> Result<Value, EventError> {
    let text = std::fs::read_to_string(path).map_err(|e| EventError::Unreadable {
        path: path.to_string(),
        reason: e.to_string(),
    })?;
    serde_json::from_str(&text).map_err(|e| EventError::NotJson {
        path: path.to_string(),
        reason: e.to_string(),
    })
}

/// Looks through the `workflow_dispatch` inputs for a Port run id.
pub fn find_run_id(payload: &Value) -> Result<Option<FoundRunId>, EventError> {
    let _ = payload;
    Ok(None)
}
