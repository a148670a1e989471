//! The step's inputs: read from `INPUT_*` into strings (the runner sets every declared input,
//! so `""` means absent), then validated into typed values before any request is sent. Every
//! error names the input and what was wrong with it.
//! STUB: types are final, parsing is to be implemented.

mod json;

pub use json::parse_json_input;

use std::fmt;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::Env;

/// The operations of `port-labs/port-github-action`, spelled as there (case-insensitive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Upsert,
    Get,
    Search,
    BulkUpsert,
    CreateRun,
    PatchRun,
    Delete,
}

impl Operation {
    /// The name as users write it: `UPSERT`, `PATCH_RUN`, ….
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Upsert => "UPSERT",
            Operation::Get => "GET",
            Operation::Search => "SEARCH",
            Operation::BulkUpsert => "BULK_UPSERT",
            Operation::CreateRun => "CREATE_RUN",
            Operation::PatchRun => "PATCH_RUN",
            Operation::Delete => "DELETE",
        }
    }
}

/// A run's final status: Port's two values, plus GitHub's `cancelled` (sent as `FAILURE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Success,
    Failure,
    Cancelled,
}

impl Status {
    /// The value Port accepts.
    pub fn port_value(self) -> &'static str {
        match self {
            Status::Success => "SUCCESS",
            Status::Failure | Status::Cancelled => "FAILURE",
        }
    }
    /// The status label sent when the `statusLabel` input is not given.
    pub fn default_label(self) -> Option<&'static str> {
        match self {
            Status::Cancelled => Some("Cancelled"),
            _ => None,
        }
    }
    /// The verb of the generated summary: "succeeded", "failed", "was cancelled".
    pub fn verb(self) -> &'static str {
        match self {
            Status::Success => "succeeded",
            Status::Failure => "failed",
            Status::Cancelled => "was cancelled",
        }
    }
}

/// Port credentials. `Debug` never prints the secret.
#[derive(Clone)]
pub struct Credentials {
    pub client_id: String,
    pub client_secret: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("client_id", &self.client_id)
            .field("client_secret", &"***")
            .finish()
    }
}

/// The validated inputs of one step.
#[derive(Debug, Clone)]
pub struct Inputs {
    pub operation: Operation,
    /// The API root without `/v1` or a trailing slash, e.g. `https://api.getport.io`.
    pub api_base: String,
    pub credentials: Credentials,
    pub blueprint: Option<String>,
    pub identifier: Option<String>,
    pub title: Option<String>,
    pub icon: Option<String>,
    /// UPSERT: entity properties; CREATE_RUN: the run's inputs.
    pub properties: Option<Map<String, Value>>,
    /// A JSON array of team names, or a plain string.
    pub team: Option<Value>,
    pub relations: Option<Map<String, Value>>,
    /// The `runId` input.
    pub run_id: Option<String>,
    /// BULK_UPSERT: the elements of the `entities` array (each a JSON object).
    pub entities: Option<Vec<Value>>,
    /// SEARCH: the query object, passed through untouched.
    pub query: Option<Value>,
    /// GET/SEARCH: `include`, split on commas.
    pub include: Vec<String>,
    pub status: Option<Status>,
    pub status_label: Option<String>,
    pub log_message: Option<String>,
    /// A URL or a JSON array of URLs.
    pub link: Vec<String>,
    pub summary: Option<String>,
    pub external_run_id: Option<String>,
    /// CREATE_RUN: the action's identifier.
    pub action: Option<String>,
    pub delete_dependents: bool,
    pub create_missing_related_entities: bool,
    /// The numeric job id (`${{ job.check_run_id }}`), for the job URL.
    pub job_id: Option<String>,
    /// Whether PATCH_RUN adds this job's URL to the run's links (default true).
    pub add_job_link: bool,
    /// BULK_UPSERT: batches in flight at once (default 4, 1 to 16).
    pub concurrency: usize,
    /// CREATE_RUN: wait for the new run to finish.
    pub wait: bool,
    /// CREATE_RUN with `wait`: how long to wait (default 30 min).
    pub wait_timeout: Duration,
    /// One request's timeout (default 30 s).
    pub request_timeout: Duration,
    /// The whole step's deadline (default 5 min).
    pub timeout: Duration,
    /// Attempts per request, the first included (default 5).
    pub max_attempts: u32,
}

/// An input that is missing or wrong. The message names the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("input '{input}' {message}")]
pub struct InputError {
    /// The input's name as written in the workflow, e.g. `properties`.
    pub input: &'static str,
    /// What is wrong, e.g. `is not valid JSON: expected value at line 3 column 12`.
    pub message: String,
}

impl InputError {
    pub fn new(input: &'static str, message: impl Into<String>) -> Self {
        InputError {
            input,
            message: message.into(),
        }
    }
}

/// Reads and validates every input from `INPUT_*` variables in `env`.
pub fn parse(env: &Env) -> Result<Inputs, InputError> {
    let _ = env;
    Err(InputError::new("operation", "STUB"))
}
