//! The step's inputs: read from `INPUT_*` into strings (the runner sets every declared input,
//! so `""` or the declared default means not given), then validated into typed values before
//! any request is sent. Only the inputs the operation reads are validated, as the official
//! action ignores the others; those given anyway are named in a warning. Every error names the
//! input and what was wrong with it.
//!
//! Here: the typed [`Inputs`], the one table of inputs (`INPUTS`: each input's name, default
//! and the operations that read it), and [`parse`]/[`parse_track`], which read the environment
//! through that table. The parsers of single values are in `values`, JSON as workflows write
//! it in `json`, and the tests in `tests.rs`.

mod json;
#[cfg(test)]
mod tests;
mod values;
mod workspace;

pub use json::parse_json_input;
pub use values::{check_identifier, check_run_id};
pub(crate) use values::{entity_problem, printable};
use values::{
    identifier_input, object_input, parse_base_url, parse_bool, parse_duration_input,
    parse_entities, parse_int, parse_job_id, parse_link, parse_status, parse_team, shown,
};
pub use workspace::WorkspaceFile;
use workspace::{workspace_file, Access};

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::Env;
use Operation::{BulkUpsert, CreateRun, Delete, Get, Search, Upsert};
use ReadBy::{All, Only};

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
    /// The `track` action: the job's start (main stage) or its end (post stage). Not a value
    /// of the `operation` input.
    Track,
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
            Operation::Track => "track",
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
    /// The words for a status, all in one place: the label a finished run keeps ("Succeeded"),
    /// how a job ended ("succeeded", "cancelled": "deploy cancelled") and the verb of a
    /// sentence ("was cancelled").
    fn words(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Status::Success => ("Succeeded", "succeeded", "succeeded"),
            Status::Failure => ("Failed", "failed", "failed"),
            Status::Cancelled => ("Cancelled", "cancelled", "was cancelled"),
        }
    }
    /// The label a run finished with this status keeps when no `statusLabel` is given:
    /// "Succeeded", "Failed", "Cancelled".
    pub fn finished_label(self) -> &'static str {
        self.words().0
    }
    /// How a job with this status ended, after its name: "succeeded", "failed", "cancelled".
    pub fn ended(self) -> &'static str {
        self.words().1
    }
    /// The verb of a sentence about a job: "succeeded", "failed", "was cancelled".
    pub fn verb(self) -> &'static str {
        self.words().2
    }
}

/// `track`'s `finish` input: whether the end of the job finishes the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    /// `auto` (the default): yes, unless the job is one leg of a matrix (`jobTotal` over 1),
    /// whose legs each end on their own.
    Auto,
    /// `true`: yes, even from a leg of a matrix.
    Always,
    /// `false`: never; another job finishes the run.
    Never,
}

/// The most jobs a matrix makes (GitHub's limit).
const MAX_MATRIX_JOBS: u64 = 256;

fn parse_finish(value: Option<String>) -> Result<Finish, InputError> {
    match value.as_deref() {
        None => Ok(Finish::Auto),
        Some(v) if v.eq_ignore_ascii_case("auto") => Ok(Finish::Auto),
        Some(v) => match parse_bool("finish", Some(v.to_string()), true) {
            Ok(true) => Ok(Finish::Always),
            Ok(false) => Ok(Finish::Never),
            Err(_) => Err(InputError::new(
                "finish",
                format!("must be auto, true or false, got {}", shown(v)),
            )),
        },
    }
}

/// `jobIndex`: a whole number from 0, below `jobTotal` when that is given.
fn parse_job_index(text: &str, total: Option<u64>) -> Result<u64, InputError> {
    let bound = total.unwrap_or(MAX_MATRIX_JOBS);
    match text.parse::<u64>() {
        Ok(n) if n < bound => Ok(n),
        _ => Err(InputError::new(
            "jobIndex",
            format!(
                "must be a whole number from 0 to {} (the leg's place in its matrix, from 0; \
                 leave the default), got {}",
                bound - 1,
                shown(text)
            ),
        )),
    }
}

/// The most characters of matrix values shown in a log line or label.
const MAX_MATRIX_TEXT: usize = 80;

/// `jobMatrix` as shown to people: the JSON object the runner gives for `toJSON(matrix)` as
/// `key: value, …`; other text as given. `None` outside a matrix (`null`, `{}`).
fn matrix_values(text: &str) -> Option<String> {
    let shown = match serde_json::from_str::<Value>(text) {
        Ok(Value::Null) => return None,
        Ok(Value::Object(values)) => values
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => format!("{k}: {s}"),
                other => format!("{k}: {other}"),
            })
            .collect::<Vec<_>>()
            .join(", "),
        _ => text.trim().to_string(),
    };
    // One line, however the values were written.
    let shown = shown.split_whitespace().collect::<Vec<_>>().join(" ");
    if shown.is_empty() {
        return None;
    }
    Some(match shown.char_indices().nth(MAX_MATRIX_TEXT) {
        Some((cut, _)) => format!("{}…", &shown[..cut]),
        None => shown,
    })
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
    /// UPSERT: a team name, a JSON array of team names, or a search query object (see
    /// `parse_team`), as Port takes it.
    pub team: Option<Value>,
    pub relations: Option<Map<String, Value>>,
    /// The `runId` input.
    pub run_id: Option<String>,
    /// BULK_UPSERT: the elements of the `entities` array (each a JSON object).
    pub entities: Option<Vec<Value>>,
    /// BULK_UPSERT: the `entitiesFile` input, a file in the workspace holding the entities
    /// (read as they are sent, never all at once).
    pub entities_file: Option<WorkspaceFile>,
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
    /// Whether a step that updates its run (any operation) adds this job's URL to the run's
    /// links (default true; `track` always adds it).
    pub add_job_link: bool,
    /// BULK_UPSERT: batches in flight at once (default 4, 1 to 16).
    pub concurrency: usize,
    /// CREATE_RUN: wait for the new run to finish.
    pub wait: bool,
    /// CREATE_RUN with `wait`: how long to wait (default 30 min).
    pub wait_timeout: Duration,
    /// One request's timeout (default 30 s).
    pub request_timeout: Duration,
    /// The whole step's deadline (default 5 min; for `track`, 30 s at the start and 60 s at
    /// the end).
    pub timeout: Duration,
    /// Attempts per request, the first included (default 5).
    pub max_attempts: u32,
    /// track: the job's status at the post stage (`${{ job.status }}`).
    pub job_status: Option<Status>,
    /// track: whether the end of the job finishes the run (`finish`, default `auto`).
    pub finish: Finish,
    /// track: this job's place in its matrix, `strategy.job-index` (from 0) and
    /// `strategy.job-total`; `None` when the runner gave none.
    pub job_index: Option<u64>,
    pub job_total: Option<u64>,
    /// track: this leg's matrix values as shown to people (`os: ubuntu-latest, node: 20`).
    pub job_matrix: Option<String>,
    /// SEARCH: the most entities to return (`limit`); `None`: all of them.
    pub limit: Option<u64>,
    /// GET/SEARCH: the file in the workspace the result is written to (`outputFile`).
    pub output_file: Option<WorkspaceFile>,
    /// Inputs given that the operation does not read (not validated, not used).
    pub ignored: Vec<&'static str>,
}

impl Inputs {
    /// The run inputs given (`logMessage`, `status`, …): each is sent to the Port run, so a
    /// step given one needs its run.
    pub fn run_inputs_given(&self) -> Vec<&'static str> {
        [
            ("logMessage", self.log_message.is_some()),
            ("status", self.status.is_some()),
            ("statusLabel", self.status_label.is_some()),
            ("summary", self.summary.is_some()),
            ("link", !self.link.is_empty()),
            ("externalRunId", self.external_run_id.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, given)| given.then_some(name))
        .collect()
    }
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

/// Reads and validates the inputs the operation uses from `INPUT_*` variables in `env`.
///
/// An input the operation does not read is not validated: a leftover `identifier` on a
/// PATCH_RUN step cannot fail it. Those given anyway are listed in [`Inputs::ignored`].
pub fn parse(env: &Env) -> Result<Inputs, InputError> {
    let raw = RawInputs::from_env(env);
    let operation = parse_operation(given(raw.value("operation")))?;
    parse_inputs(env, &raw, operation, STEP_TIMEOUT)
}

/// The `timeout` of a step of the root action when the input is not given.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// `failOnError: true` for the `track` action: a reporting problem then fails the job. Read on
/// its own, so that it decides how an error is reported even when other inputs are wrong; a
/// value that is not a boolean is false here (and an input error of its own).
pub fn fails_on_error(env: &Env) -> bool {
    let raw = RawInputs::from_env(env);
    parse_bool("failOnError", given(raw.value("failOnError")), false).unwrap_or(false)
}

/// Reads and validates the inputs of the `track` action (`track/action.yml`). `track` declares
/// `timeout` with an empty default, as the runner evaluates the same defaults for both stages:
/// `default_timeout` is the stage's own.
pub fn parse_track(env: &Env, default_timeout: Duration) -> Result<Inputs, InputError> {
    parse_inputs(
        env,
        &RawInputs::from_env(env),
        Operation::Track,
        default_timeout,
    )
}

fn parse_inputs(
    env: &Env,
    raw: &RawInputs,
    operation: Operation,
    default_timeout: Duration,
) -> Result<Inputs, InputError> {
    let read = Reader { raw, operation };

    let client_id = read
        .text("clientId")
        .ok_or_else(|| InputError::new("clientId", "is required"))?;
    let client_secret = read
        .text("clientSecret")
        .ok_or_else(|| InputError::new("clientSecret", "is required"))?;
    let api_base = parse_base_url(read.text("baseUrl"), read.text("region"))?;

    let blueprint = identifier_input("blueprint", read.text("blueprint"))?;
    let identifier = identifier_input("identifier", read.text("identifier"))?;
    let action = identifier_input("action", read.text("action"))?;
    let run_id = read
        .text("runId")
        .map(|id| {
            check_run_id(&id).map(|()| id).map_err(|why| {
                InputError::new("runId", format!("is not a valid Port run id: {why}"))
            })
        })
        .transpose()?;

    let properties = object_input("properties", read.json("properties"))?;
    let relations = object_input("relations", read.json("relations"))?;
    let query = object_input("query", read.json("query"))?.map(Value::Object);
    let entities = read
        .json("entities")
        .map(|text| parse_entities(&text))
        .transpose()?;
    let entities_file = match read.text("entitiesFile") {
        Some(_) if entities.is_some() => {
            return Err(InputError::new(
                "entitiesFile",
                "cannot be given with 'entities': give the entities in one of them",
            ))
        }
        Some(path) => Some(workspace_file("entitiesFile", &path, env, Access::Read)?),
        None => None,
    };
    let team = read.text("team").map(|t| parse_team(&t)).transpose()?;
    let link = read.text("link").map(|l| parse_link(&l)).transpose()?;
    let include = read
        .text("include")
        .map(|i| {
            i.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let status = read
        .text("status")
        .map(|s| parse_status("status", &s))
        .transpose()?;
    let job_status = read
        .text("jobStatus")
        .map(|s| parse_status("jobStatus", &s))
        .transpose()?;
    let finish = parse_finish(read.text("finish"))?;
    let job_total = read
        .text("jobTotal")
        .map(|t| parse_int("jobTotal", Some(t), 1, MAX_MATRIX_JOBS))
        .transpose()?;
    let job_index = read
        .text("jobIndex")
        .map(|t| parse_job_index(&t, job_total))
        .transpose()?;
    let job_matrix = read.json("jobMatrix").and_then(|m| matrix_values(&m));
    // Checked with the rest; its value is read by `fails_on_error`, which decides how even an
    // error of these inputs is reported.
    parse_bool("failOnError", read.text("failOnError"), false)?;

    let delete_dependents = parse_bool("delete_dependents", read.text("delete_dependents"), false)?;
    let create_missing_related_entities = parse_bool(
        "createMissingRelatedEntities",
        read.text("createMissingRelatedEntities"),
        false,
    )?;
    let add_job_link = parse_bool("addJobLink", read.text("addJobLink"), true)?;
    let wait = parse_bool("wait", read.text("wait"), false)?;
    let job_id = read.text("jobId").map(parse_job_id).transpose()?;
    let concurrency = parse_int("concurrency", read.text("concurrency"), 4, 16)? as usize;
    let max_attempts = parse_int("maxAttempts", read.text("maxAttempts"), 5, 10)? as u32;
    let wait_timeout = parse_duration_input("waitTimeout", read.text("waitTimeout"), 30 * 60)?;
    let request_timeout = parse_duration_input("requestTimeout", read.text("requestTimeout"), 30)?;
    let timeout = parse_duration_input("timeout", read.text("timeout"), default_timeout.as_secs())?;
    let limit = read
        .text("limit")
        .map(|l| parse_int("limit", Some(l), 1, MAX_LIMIT))
        .transpose()?;
    let output_file = read
        .text("outputFile")
        .map(|f| workspace_file("outputFile", &f, env, Access::Write))
        .transpose()?;

    let inputs = Inputs {
        operation,
        api_base,
        credentials: Credentials {
            client_id,
            client_secret,
        },
        blueprint,
        identifier,
        title: read.text("title"),
        icon: read.text("icon"),
        properties,
        team,
        relations,
        run_id,
        entities,
        entities_file,
        query,
        include,
        status,
        status_label: read.text("statusLabel"),
        log_message: read.text("logMessage"),
        link: link.unwrap_or_default(),
        summary: read.text("summary"),
        external_run_id: read.text("externalRunId"),
        action,
        delete_dependents,
        create_missing_related_entities,
        job_id,
        add_job_link,
        concurrency,
        wait,
        wait_timeout,
        request_timeout,
        timeout,
        max_attempts,
        job_status,
        finish,
        job_index,
        job_total,
        job_matrix,
        limit,
        output_file,
        ignored: read.ignored(),
    };
    check_required(&inputs)?;
    Ok(inputs)
}

/// The largest `limit`: a bound on nonsense, far above any catalog.
const MAX_LIMIT: u64 = 1_000_000_000;

/// Which operations read an input.
#[derive(Debug, Clone, Copy)]
enum ReadBy {
    /// Every operation of the root action: connection settings, and the report to the run.
    All,
    Only(&'static [Operation]),
}

/// One input of `action.yml`.
#[derive(Debug)]
struct Declared {
    /// Spelled as in `action.yml` and in workflows.
    name: &'static str,
    /// The default `action.yml` declares, which the runner passes when the input is not
    /// given: an input holding its default was not given. (`jobId`'s default is an expression
    /// the runner evaluates; it is read by every operation, so never compared.)
    default: &'static str,
    read_by: ReadBy,
    /// Declared by `track/action.yml` too, and read by the `track` action.
    tracked: bool,
}

const fn input(name: &'static str, default: &'static str, read_by: ReadBy) -> Declared {
    Declared {
        name,
        default,
        read_by,
        tracked: false,
    }
}

/// An input that the `track` action reads as well.
const fn tracked(name: &'static str, default: &'static str, read_by: ReadBy) -> Declared {
    Declared {
        name,
        default,
        read_by,
        tracked: true,
    }
}

/// An input of the `track` action alone.
const fn track_only(name: &'static str, default: &'static str) -> Declared {
    tracked(name, default, Only(&[]))
}

/// Every input port-action reads: the one list of their names, defaults, and the operations
/// that read them. `action.yml` declares those of the root action, in this order;
/// `track/action.yml` those marked as tracked.
const INPUTS: [Declared; 42] = [
    tracked("baseUrl", "", All),
    tracked("clientId", "", All),
    tracked("clientSecret", "", All),
    input("operation", "UPSERT", All),
    input("identifier", "", Only(&[Upsert, Get, Delete, CreateRun])),
    input("title", "", Only(&[Upsert])),
    input("icon", "", Only(&[Upsert])),
    input(
        "blueprint",
        "",
        Only(&[Upsert, Get, Delete, BulkUpsert, Search]),
    ),
    input("properties", "", Only(&[Upsert, CreateRun])),
    input("team", "", Only(&[Upsert])),
    input("relations", "", Only(&[Upsert])),
    tracked("runId", "", All),
    input("entities", "", Only(&[BulkUpsert])),
    input("query", "", Only(&[Search])),
    input("include", "", Only(&[Get, Search])),
    // The run inputs: every operation reports to its run.
    input("status", "", All),
    input("logMessage", "", All),
    input("link", "", All),
    input("summary", "", All),
    input("externalRunId", "", All),
    input("action", "", Only(&[CreateRun])),
    input("delete_dependents", "false", Only(&[Delete])),
    input(
        "createMissingRelatedEntities",
        "false",
        Only(&[Upsert, BulkUpsert]),
    ),
    tracked("statusLabel", "", All),
    tracked("region", "", All),
    tracked("jobId", "${{ job.check_run_id }}", All),
    input("addJobLink", "true", All),
    input("concurrency", "4", Only(&[BulkUpsert])),
    input("wait", "false", Only(&[CreateRun])),
    input("waitTimeout", "30m", Only(&[CreateRun])),
    tracked("requestTimeout", "30s", All),
    // Empty in `track/action.yml`: each stage has its own default.
    tracked("timeout", "5m", All),
    tracked("maxAttempts", "5", All),
    input("entitiesFile", "", Only(&[BulkUpsert])),
    input("limit", "", Only(&[Search])),
    input("outputFile", "", Only(&[Get, Search])),
    track_only("jobStatus", "${{ job.status }}"),
    track_only("finish", "auto"),
    track_only("failOnError", "false"),
    track_only("jobIndex", "${{ strategy.job-index }}"),
    track_only("jobTotal", "${{ strategy.job-total }}"),
    track_only("jobMatrix", "${{ toJSON(matrix) }}"),
];

/// The inputs of the root action, spelled as in `action.yml` and in workflows, in its order.
pub fn names() -> Vec<&'static str> {
    INPUTS
        .iter()
        .filter(|d| d.is_root())
        .map(|d| d.name)
        .collect()
}

/// The inputs of the `track` action, in the order `track/action.yml` declares them.
pub fn track_names() -> Vec<&'static str> {
    INPUTS
        .iter()
        .filter(|d| d.tracked)
        .map(|d| d.name)
        .collect()
}

impl Declared {
    fn is_read_by(&self, operation: Operation) -> bool {
        match (operation, self.read_by) {
            (Operation::Track, _) => self.tracked,
            (_, All) => true,
            (_, Only(ops)) => ops.contains(&operation),
        }
    }

    /// Declared by the root `action.yml`.
    fn is_root(&self) -> bool {
        !matches!(self.read_by, Only(ops) if ops.is_empty())
    }
}

fn declared(name: &str) -> &'static Declared {
    INPUTS
        .iter()
        .find(|d| d.name == name)
        .unwrap_or_else(|| panic!("input '{name}' is not in INPUTS"))
}

/// Every `INPUT_*` variable as the runner set it, keyed by the input's name in lower case
/// (the runner upper-cases names; inputs are matched without regard to case).
struct RawInputs(BTreeMap<String, String>);

impl RawInputs {
    fn from_env(env: &Env) -> RawInputs {
        let vars = env.iter().map(|(k, v)| (k.clone(), v.clone()));
        // A map of strings cannot fail to deserialize from strings.
        RawInputs(envy::prefixed("INPUT_").from_iter(vars).unwrap_or_default())
    }

    /// The variable the runner sets for input `name`, as it is set (`""` when not given).
    fn value(&self, name: &str) -> Option<String> {
        self.0.get(&name.to_lowercase()).cloned()
    }
}

/// The inputs of one operation: those it does not read read as absent.
struct Reader<'a> {
    raw: &'a RawInputs,
    operation: Operation,
}

impl Reader<'_> {
    fn raw(&self, name: &str) -> Option<String> {
        if declared(name).is_read_by(self.operation) {
            self.raw.value(name)
        } else {
            None
        }
    }

    /// A text input, trimmed.
    fn text(&self, name: &str) -> Option<String> {
        given(self.raw(name))
    }

    /// A JSON input, untrimmed.
    fn json(&self, name: &str) -> Option<String> {
        given_json(self.raw(name))
    }

    /// The inputs given that the operation does not read: set, not blank, not the default.
    fn ignored(&self) -> Vec<&'static str> {
        INPUTS
            .iter()
            .filter(|d| !d.is_read_by(self.operation))
            .filter(|d| given(self.raw.value(d.name)).is_some_and(|v| v != d.default))
            .map(|d| d.name)
            .collect()
    }
}

/// A given input, trimmed as `@actions/core` does; `""` and whitespace mean absent.
fn given(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

/// A given JSON input, untrimmed so that error positions match the user's text.
fn given_json(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.trim().is_empty())
}

fn parse_operation(value: Option<String>) -> Result<Operation, InputError> {
    const ALL: [Operation; 7] = [
        Operation::Upsert,
        Operation::Get,
        Operation::Search,
        Operation::BulkUpsert,
        Operation::CreateRun,
        Operation::PatchRun,
        Operation::Delete,
    ];
    let Some(value) = value else {
        return Ok(Operation::Upsert);
    };
    ALL.into_iter()
        .find(|op| op.as_str().eq_ignore_ascii_case(&value))
        .ok_or_else(|| {
            let names: Vec<_> = ALL.iter().map(|op| op.as_str()).collect();
            InputError::new(
                "operation",
                format!("must be one of {}, got {}", names.join(", "), shown(&value)),
            )
        })
}

/// Presence checks: only what the operation itself needs.
fn check_required(inputs: &Inputs) -> Result<(), InputError> {
    let op = inputs.operation;
    let need = |input: &'static str, present: bool| {
        if present {
            Ok(())
        } else {
            Err(InputError::new(
                input,
                format!("is required for operation {}", op.as_str()),
            ))
        }
    };
    match op {
        Operation::Upsert => need("blueprint", inputs.blueprint.is_some()),
        Operation::Get | Operation::Delete => {
            need("blueprint", inputs.blueprint.is_some())?;
            need("identifier", inputs.identifier.is_some())
        }
        // A blueprint's search may leave the query out: all its entities.
        Operation::Search => need(
            "query",
            inputs.query.is_some() || inputs.blueprint.is_some(),
        ),
        Operation::CreateRun => need("action", inputs.action.is_some()),
        Operation::BulkUpsert => {
            if inputs.entities_file.is_some() {
                // Each element is checked as it is read: one that is wrong is reported alone.
                return Ok(());
            }
            let Some(entities) = &inputs.entities else {
                return Err(InputError::new(
                    "entities",
                    "is required for operation BULK_UPSERT (or 'entitiesFile', a file of \
                     entities in the workspace)",
                ));
            };
            if inputs.blueprint.is_none() {
                for (i, entity) in entities.iter().enumerate() {
                    if entity.get("blueprint").is_none_or(Value::is_null) {
                        return Err(InputError::new(
                            "entities",
                            format!(
                                "element {i} has no \"blueprint\" and no 'blueprint' input is given"
                            ),
                        ));
                    }
                }
            }
            Ok(())
        }
        Operation::PatchRun | Operation::Track => Ok(()),
    }
}
