//! The step's inputs: read from `INPUT_*` into strings (the runner sets every declared input,
//! so `""` or the declared default means not given), then validated into typed values before
//! any request is sent. Only the inputs the operation reads are validated, as the official
//! action ignores the others; those given anyway are named in a warning. Every error names the
//! input and what was wrong with it.

mod json;

pub use json::parse_json_input;

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
    /// track: the job's status at the post stage (`${{ job.status }}`).
    pub job_status: Option<Status>,
    /// track: finish the run at the end of the job (default true).
    pub finish: bool,
    /// track: fail the job when reporting fails (default false: a warning).
    pub fail_on_error: bool,
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
    parse_inputs(&raw, operation)
}

/// Reads and validates the inputs of the `track` action (`track/action.yml`).
pub fn parse_track(env: &Env) -> Result<Inputs, InputError> {
    parse_inputs(&RawInputs::from_env(env), Operation::Track)
}

fn parse_inputs(raw: &RawInputs, operation: Operation) -> Result<Inputs, InputError> {
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
    let finish = parse_bool("finish", read.text("finish"), true)?;
    let fail_on_error = parse_bool("failOnError", read.text("failOnError"), false)?;

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
    let timeout = parse_duration_input("timeout", read.text("timeout"), 5 * 60)?;

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
        fail_on_error,
        ignored: read.ignored(),
    };
    check_required(&inputs)?;
    Ok(inputs)
}

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
const INPUTS: [Declared; 36] = [
    tracked("baseUrl", "", All),
    tracked("clientId", "", All),
    tracked("clientSecret", "", All),
    input("operation", "UPSERT", All),
    input("identifier", "", Only(&[Upsert, Get, Delete, CreateRun])),
    input("title", "", Only(&[Upsert])),
    input("icon", "", Only(&[Upsert])),
    input("blueprint", "", Only(&[Upsert, Get, Delete, BulkUpsert])),
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
    tracked("timeout", "5m", All),
    tracked("maxAttempts", "5", All),
    track_only("jobStatus", "${{ job.status }}"),
    track_only("finish", "true"),
    track_only("failOnError", "false"),
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

const EU_HOSTS: [&str; 2] = ["api.getport.io", "api.port.io"];
const US_HOSTS: [&str; 2] = ["api.us.getport.io", "api.us.port.io"];
const DEFAULT_EU_BASE: &str = "https://api.getport.io";
const DEFAULT_US_BASE: &str = "https://api.us.getport.io";

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
        Operation::Search => need("query", inputs.query.is_some()),
        Operation::CreateRun => need("action", inputs.action.is_some()),
        Operation::BulkUpsert => {
            let Some(entities) = &inputs.entities else {
                return need("entities", false);
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

/// The API root from `baseUrl` and `region`: no trailing `/`, no `/v1`.
fn parse_base_url(base_url: Option<String>, region: Option<String>) -> Result<String, InputError> {
    let region = region
        .map(|r| match r.to_ascii_lowercase().as_str() {
            "eu" => Ok(("eu", r)),
            "us" => Ok(("us", r)),
            _ => Err(InputError::new(
                "region",
                format!("must be eu or us, got {}", shown(&r)),
            )),
        })
        .transpose()?;
    let Some(text) = base_url else {
        return Ok(match region {
            Some(("us", _)) => DEFAULT_US_BASE.to_owned(),
            _ => DEFAULT_EU_BASE.to_owned(),
        });
    };
    // The URL as the errors below show it: a password in it is never printed.
    let text_shown = shown(&without_user_info(&text));
    let not_http = || {
        InputError::new(
            "baseUrl",
            format!("must be an http(s) URL, got {text_shown}"),
        )
    };
    let url = reqwest::Url::parse(&text).map_err(|_| not_http())?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(not_http());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(InputError::new(
            "baseUrl",
            format!(
                "must not hold a user name or password, got {text_shown}: Port authenticates \
                 with 'clientId' and 'clientSecret', and a proxy's credentials go in HTTPS_PROXY"
            ),
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(InputError::new(
            "baseUrl",
            format!("must not have a query or a fragment, got {text_shown}"),
        ));
    }
    if let Some((region, given_region)) = region {
        let host = url.host_str().unwrap_or_default();
        let (hosts, other) = if region == "us" {
            (US_HOSTS, "a US")
        } else {
            (EU_HOSTS, "an EU")
        };
        if !hosts.contains(&host) {
            return Err(InputError::new(
                "region",
                format!(
                    "is {} but input 'baseUrl' ({}) is not {other} host of Port; give only one of \
                     them",
                    shown(&given_region),
                    text_shown
                ),
            ));
        }
    }
    let whole = url.as_str();
    let origin = &whole[..whole.len() - url.path().len()];
    let path = url.path().trim_end_matches('/');
    let path = path
        .strip_suffix("/v1")
        .unwrap_or(path)
        .trim_end_matches('/');
    Ok(format!("{origin}{path}"))
}

/// `text` with whatever stands between `://` and the host's `@` replaced by `***`, so that a
/// URL can be shown in an error without the password it may hold.
fn without_user_info(text: &str) -> String {
    let Some(scheme_end) = text.find("://").map(|i| i + 3) else {
        return text.to_string();
    };
    let authority_end = text[scheme_end..]
        .find(['/', '?', '#'])
        .map_or(text.len(), |i| scheme_end + i);
    match text[scheme_end..authority_end].rfind('@') {
        Some(at) => format!("{}***{}", &text[..scheme_end], &text[scheme_end + at..]),
        None => text.to_string(),
    }
}

/// A JSON input that must be an object.
fn object_input(
    input: &'static str,
    text: Option<String>,
) -> Result<Option<Map<String, Value>>, InputError> {
    let Some(text) = text else {
        return Ok(None);
    };
    match parse_json_input(input, &text)? {
        Value::Object(map) => Ok(Some(map)),
        other => Err(InputError::new(
            input,
            format!("must be a JSON object, got {}", kind(&other)),
        )),
    }
}

/// `entities`: a JSON array of objects; string `identifier`/`blueprint` keys must be valid.
fn parse_entities(text: &str) -> Result<Vec<Value>, InputError> {
    let elements = match parse_json_input("entities", text)? {
        Value::Array(elements) => elements,
        other => {
            return Err(InputError::new(
                "entities",
                format!("must be a JSON array of objects, got {}", kind(&other)),
            ))
        }
    };
    // Elements are numbered from 0, as Port's bulk answers and the job summary number them.
    for (n, element) in elements.iter().enumerate() {
        let Value::Object(map) = element else {
            return Err(InputError::new(
                "entities",
                format!("element {n} must be a JSON object, got {}", kind(element)),
            ));
        };
        for key in ["blueprint", "identifier"] {
            match map.get(key) {
                None | Some(Value::Null) => {}
                Some(Value::String(value)) => check_identifier(value).map_err(|why| {
                    InputError::new(
                        "entities",
                        format!("element {n} has an invalid \"{key}\": {why}"),
                    )
                })?,
                Some(other) => {
                    return Err(InputError::new(
                        "entities",
                        format!(
                            "element {n} \"{key}\" must be a string, got {}",
                            kind(other)
                        ),
                    ))
                }
            }
        }
    }
    Ok(elements)
}

/// `team`: a JSON string or array of strings, a list of single-quoted names (`['a', 'b']`, as
/// in Port's own examples), a search query object (`{"combinator", "rules"}`, which Port's spec
/// accepts for an entity's team), or else a plain team name.
fn parse_team(text: &str) -> Result<Value, InputError> {
    const WANT: &str = "must be a team name, a JSON array of team names, or a search query object";
    match parse_json_input("team", text) {
        Ok(Value::String(name)) => Ok(Value::String(name)),
        Ok(Value::Array(names)) => match names.iter().find(|v| !v.is_string()) {
            None => Ok(Value::Array(names)),
            Some(bad) => Err(InputError::new(
                "team",
                format!("{WANT}, got an array holding {}", kind(bad)),
            )),
        },
        Ok(Value::Object(query)) => {
            check_team_query(&query)
                .map_err(|why| InputError::new("team", format!("{WANT}: {why}")))?;
            Ok(Value::Object(query))
        }
        Ok(other) => Err(InputError::new(
            "team",
            format!("{WANT}, got {}", kind(&other)),
        )),
        Err(e) if text.starts_with('[') => match single_quoted_list(text) {
            Some(names) => Ok(Value::Array(names.into_iter().map(Value::String).collect())),
            // A broken JSON array is a mistake, not a team name.
            None => Err(e),
        },
        Err(_) => Ok(Value::String(text.to_owned())),
    }
}

/// The search query Port's spec accepts for an entity's `team`: exactly `combinator` (`and` or
/// `or`) and `rules` (an array of objects). The rules go to Port untouched.
fn check_team_query(query: &Map<String, Value>) -> Result<(), String> {
    if let Some(key) = query
        .keys()
        .find(|k| !matches!(k.as_str(), "combinator" | "rules"))
    {
        return Err(format!(
            "an object must hold only \"combinator\" and \"rules\", not {}",
            shown(key)
        ));
    }
    match query.get("combinator") {
        Some(Value::String(c)) if c == "and" || c == "or" => {}
        Some(other) => {
            return Err(format!(
                "\"combinator\" must be \"and\" or \"or\", got {}",
                shown(&other.to_string())
            ))
        }
        None => return Err("the query has no \"combinator\"".into()),
    }
    match query.get("rules") {
        Some(Value::Array(rules)) => match rules.iter().position(|r| !r.is_object()) {
            None => Ok(()),
            Some(i) => Err(format!(
                "\"rules\" element {i} must be a JSON object, got {}",
                kind(&rules[i])
            )),
        },
        Some(other) => Err(format!(
            "\"rules\" must be a JSON array, got {}",
            kind(other)
        )),
        None => Err("the query has no \"rules\"".into()),
    }
}

/// `['a', 'b']`: a list of single-quoted names, as Python prints a list and as Port's own
/// snippets write `team`. Names must not hold quotes, backslashes or control characters; the
/// list may be empty. `None` when the text is not such a list.
fn single_quoted_list(text: &str) -> Option<Vec<String>> {
    let mut rest = text
        .trim()
        .strip_prefix('[')?
        .strip_suffix(']')?
        .trim_start();
    let mut names = Vec::new();
    if rest.is_empty() {
        return Some(names);
    }
    loop {
        let quoted = rest.strip_prefix('\'')?;
        let end = quoted.find('\'')?;
        let name = &quoted[..end];
        if name.is_empty()
            || name
                .chars()
                .any(|c| matches!(c, '"' | '\\') || c.is_control())
        {
            return None;
        }
        names.push(name.to_owned());
        rest = quoted[end + 1..].trim_start();
        if rest.is_empty() {
            return Some(names);
        }
        rest = rest.strip_prefix(',')?.trim_start();
    }
}

/// `link`: one URL, a JSON array of URLs, or a list of single-quoted URLs (`['https://…']`).
fn parse_link(text: &str) -> Result<Vec<String>, InputError> {
    if !text.starts_with('[') {
        return Ok(vec![text.to_owned()]);
    }
    let items = match parse_json_input("link", text) {
        Ok(Value::Array(items)) => items,
        Ok(_) => unreachable!("JSON text starting with '[' is an array"),
        Err(e) => match single_quoted_list(text) {
            Some(urls) => urls.into_iter().map(Value::String).collect(),
            None => return Err(e),
        },
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| match item {
            Value::String(s) if !s.trim().is_empty() => Ok(s.trim().to_owned()),
            Value::String(_) => Err(InputError::new(
                "link",
                format!("element {i} is an empty string"),
            )),
            other => Err(InputError::new(
                "link",
                format!("element {i} must be a string, got {}", kind(other)),
            )),
        })
        .collect()
}

fn parse_status(input: &'static str, text: &str) -> Result<Status, InputError> {
    match text.to_ascii_lowercase().as_str() {
        "success" => Ok(Status::Success),
        "failure" => Ok(Status::Failure),
        "cancelled" | "canceled" => Ok(Status::Cancelled),
        _ => Err(InputError::new(
            input,
            format!(
                "must be SUCCESS or FAILURE (or a job.status value: success, failure, \
                 cancelled), got {}",
                shown(text)
            ),
        )),
    }
}

/// A boolean as `@actions/core`'s `getBooleanInput` accepts it.
fn parse_bool(
    input: &'static str,
    value: Option<String>,
    default: bool,
) -> Result<bool, InputError> {
    match value.as_deref() {
        None => Ok(default),
        Some("true" | "True" | "TRUE") => Ok(true),
        Some("false" | "False" | "FALSE") => Ok(false),
        Some(other) => Err(InputError::new(
            input,
            format!(
                "must be a boolean (true, True, TRUE, false, False or FALSE), got {}",
                shown(other)
            ),
        )),
    }
}

fn parse_job_id(text: String) -> Result<String, InputError> {
    if text.bytes().all(|b| b.is_ascii_digit()) {
        Ok(text)
    } else {
        Err(InputError::new(
            "jobId",
            format!(
                "must be a numeric job id such as ${{{{ job.check_run_id }}}} gives, got {}",
                shown(&text)
            ),
        ))
    }
}

fn parse_int(
    input: &'static str,
    value: Option<String>,
    default: u64,
    max: u64,
) -> Result<u64, InputError> {
    let Some(text) = value else {
        return Ok(default);
    };
    match text.parse::<u64>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(InputError::new(
            input,
            format!(
                "must be a whole number from 1 to {max}, got {}",
                shown(&text)
            ),
        )),
    }
}

fn parse_duration_input(
    input: &'static str,
    value: Option<String>,
    default_secs: u64,
) -> Result<Duration, InputError> {
    let Some(text) = value else {
        return Ok(Duration::from_secs(default_secs));
    };
    match parse_duration(&text) {
        Some(0) => Err(InputError::new(
            input,
            format!("must be longer than zero, got {}", shown(&text)),
        )),
        Some(secs) if secs > MAX_DURATION_SECS => Err(InputError::new(
            input,
            format!("must be at most 7 days (168h), got {}", shown(&text)),
        )),
        Some(secs) => Ok(Duration::from_secs(secs)),
        None => Err(InputError::new(
            input,
            format!(
                "must be a duration in seconds (45) or with units s, m, h (90s, 5m, 1h, 1m30s), \
                 got {}",
                shown(&text)
            ),
        )),
    }
}

/// The longest duration input: longer than any GitHub job can run (6 h on hosted runners),
/// and small enough that every deadline computed from it fits.
const MAX_DURATION_SECS: u64 = 7 * 24 * 3600;

/// Seconds in `45`, `90s`, `5m`, `1h` or `1h2m3s` (units in that order, each once).
fn parse_duration(text: &str) -> Option<u64> {
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse().ok();
    }
    let mut total: u64 = 0;
    let mut rest = text;
    let mut units: &[(char, u64)] = &[('h', 3600), ('m', 60), ('s', 1)];
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let number: u64 = rest[..digits].parse().ok()?;
        let unit = rest[digits..].chars().next()?;
        let at = units.iter().position(|(u, _)| *u == unit)?;
        total = total.checked_add(number.checked_mul(units[at].1)?)?;
        units = &units[at + 1..];
        rest = &rest[digits + 1..];
    }
    Some(total)
}

/// A Port run id: a Port identifier that is one path segment (no `/` or `\\`). Port's run ids
/// are `r_` and letters and digits; anything else is refused before it reaches a URL or a log.
pub fn check_run_id(value: &str) -> Result<(), String> {
    check_identifier(value)?;
    if let Some(c) = value.chars().find(|c| matches!(c, '/' | '\\')) {
        return Err(format!(
            "{} contains {} (a run id is one path segment; Port's look like r_ followed by \
             letters and digits)",
            shown(value),
            shown(&c.to_string())
        ));
    }
    Ok(())
}

/// An input holding a Port identifier.
fn identifier_input(
    input: &'static str,
    value: Option<String>,
) -> Result<Option<String>, InputError> {
    if let Some(value) = &value {
        check_identifier(value).map_err(|why| {
            InputError::new(input, format!("is not a valid Port identifier: {why}"))
        })?;
    }
    Ok(value)
}

const MAX_IDENTIFIER_CHARS: usize = 1000;

/// Port's identifier pattern `^(?!\.{1,2}$)[\p{L}0-9@_.+:\\/=-]+$`, at most 1000 characters.
fn check_identifier(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err("it is empty".into());
    }
    if value == "." || value == ".." {
        return Err(format!("{} is not allowed", shown(value)));
    }
    if let Some(c) = value
        .chars()
        .find(|&c| !(c.is_alphabetic() || c.is_ascii_digit() || "@_.+:\\/=-".contains(c)))
    {
        return Err(format!(
            "{} contains {} (allowed: letters, digits and @ _ . + : \\ / = -)",
            shown(value),
            shown(&c.to_string())
        ));
    }
    let count = value.chars().count();
    if count > MAX_IDENTIFIER_CHARS {
        return Err(format!(
            "it has {count} characters, more than {MAX_IDENTIFIER_CHARS}"
        ));
    }
    Ok(())
}

/// A JSON value's type, as error messages name it.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A user's value quoted for an error message: control characters escaped, long values cut.
fn shown(value: &str) -> String {
    format!("'{}'", printable(value))
}

/// Outside text made safe to print on one line: control characters escaped, cut after 100
/// characters.
pub(crate) fn printable(value: &str) -> String {
    const MAX: usize = 100;
    let mut out = String::new();
    for (i, c) in value.chars().enumerate() {
        if i == MAX {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The inputs an `action.yml` declares, with their defaults, in order.
    fn declared_in(file: &str) -> Vec<(String, String)> {
        let path = format!("{}/{file}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).expect(file);
        let docs = yaml_rust2::YamlLoader::load_from_str(&text).expect("YAML");
        let declared = docs[0]["inputs"].as_hash().expect("inputs");
        declared
            .iter()
            .map(|(name, spec)| {
                let default = match &spec["default"] {
                    yaml_rust2::Yaml::String(s) => s.clone(),
                    yaml_rust2::Yaml::Integer(i) => i.to_string(),
                    yaml_rust2::Yaml::Boolean(b) => b.to_string(),
                    _ => String::new(),
                };
                (name.as_str().unwrap().to_string(), default)
            })
            .collect()
    }

    #[test]
    fn the_input_table_has_action_yml_names_and_defaults() {
        let table: Vec<(String, String)> = INPUTS
            .iter()
            .filter(|d| d.is_root())
            .map(|d| (d.name.to_string(), d.default.to_string()))
            .collect();
        assert_eq!(table, declared_in("action.yml"));
    }

    #[test]
    fn the_input_table_has_track_action_yml_names_and_defaults() {
        let table: Vec<(String, String)> = INPUTS
            .iter()
            .filter(|d| d.tracked)
            .map(|d| (d.name.to_string(), d.default.to_string()))
            .collect();
        assert_eq!(table, declared_in("track/action.yml"));
    }

    /// The environment of a step: every declared input set, `""` when not given, as the
    /// runner does, plus `pairs` (input names as written in the workflow).
    fn env(pairs: &[(&str, &str)]) -> Env {
        let mut env: Env = names()
            .iter()
            .map(|name| (format!("INPUT_{}", name.to_uppercase()), String::new()))
            .collect();
        env.insert("INPUT_CLIENTID".into(), "id".into());
        env.insert("INPUT_CLIENTSECRET".into(), "s3cr3t-value".into());
        env.insert("GITHUB_RUN_ID".into(), "1".into());
        for (name, value) in pairs {
            env.insert(format!("INPUT_{}", name.to_uppercase()), (*value).into());
        }
        env
    }

    fn ok(pairs: &[(&str, &str)]) -> Inputs {
        parse(&env(pairs)).unwrap()
    }

    fn err(pairs: &[(&str, &str)]) -> String {
        parse(&env(pairs)).unwrap_err().to_string()
    }

    const UPSERT: (&str, &str) = ("blueprint", "service");

    /// Steps of other operations, with what each requires.
    const DELETE: [(&str, &str); 3] = [
        ("operation", "DELETE"),
        ("blueprint", "service"),
        ("identifier", "x"),
    ];
    const CREATE_RUN: [(&str, &str); 2] = [("operation", "CREATE_RUN"), ("action", "deploy")];
    const BULK: [(&str, &str); 2] = [("operation", "BULK_UPSERT"), ("entities", "[]")];

    /// `base` and then `more`.
    fn with(
        base: &[(&'static str, &'static str)],
        more: &[(&'static str, &'static str)],
    ) -> Vec<(&'static str, &'static str)> {
        [base, more].concat()
    }

    #[test]
    fn defaults() {
        let i = ok(&[UPSERT]);
        assert_eq!(i.operation, Operation::Upsert);
        assert_eq!(i.api_base, "https://api.getport.io");
        assert_eq!(i.credentials.client_id, "id");
        assert_eq!(i.credentials.client_secret, "s3cr3t-value");
        assert_eq!(i.blueprint.as_deref(), Some("service"));
        assert_eq!(i.identifier, None);
        assert_eq!(i.properties, None);
        assert_eq!(i.team, None);
        assert!(i.include.is_empty());
        assert!(i.link.is_empty());
        assert_eq!(i.status, None);
        assert!(!i.delete_dependents);
        assert!(!i.create_missing_related_entities);
        assert!(i.add_job_link);
        assert!(!i.wait);
        assert_eq!(i.job_id, None);
        assert_eq!(i.concurrency, 4);
        assert_eq!(i.max_attempts, 5);
        assert_eq!(i.wait_timeout, Duration::from_secs(30 * 60));
        assert_eq!(i.request_timeout, Duration::from_secs(30));
        assert_eq!(i.timeout, Duration::from_secs(5 * 60));
    }

    #[test]
    fn only_the_variables_that_are_set_count() {
        // Not every runner sets every input: a bare environment works too.
        let mut env = Env::new();
        env.insert("INPUT_CLIENTID".into(), "id".into());
        env.insert("INPUT_CLIENTSECRET".into(), "secret".into());
        env.insert("INPUT_BLUEPRINT".into(), "service".into());
        env.insert("INPUT_SOMETHING_ELSE".into(), "ignored".into());
        let i = parse(&env).unwrap();
        assert_eq!(i.operation, Operation::Upsert);
    }

    #[test]
    fn empty_and_whitespace_mean_absent() {
        let i = ok(&[
            UPSERT,
            ("title", "  "),
            ("wait", " "),
            ("properties", "\n  \n"),
        ]);
        assert_eq!(i.title, None);
        assert!(!i.wait);
        assert_eq!(i.properties, None);
        assert_eq!(
            err(&[UPSERT, ("clientId", "  ")]),
            "input 'clientId' is required"
        );
    }

    #[test]
    fn values_are_trimmed() {
        let i = ok(&[
            (" blueprint", ""),
            ("blueprint", " service\n"),
            ("title", " My title "),
        ]);
        assert_eq!(i.blueprint.as_deref(), Some("service"));
        assert_eq!(i.title.as_deref(), Some("My title"));
    }

    #[test]
    fn operation_is_case_insensitive() {
        let cases = [
            ("upsert", Operation::Upsert),
            ("Get", Operation::Get),
            ("search", Operation::Search),
            ("bulk_upsert", Operation::BulkUpsert),
            ("create_run", Operation::CreateRun),
            ("patch_run", Operation::PatchRun),
            ("delete", Operation::Delete),
        ];
        for (text, op) in cases {
            let i = ok(&[
                ("operation", text),
                ("blueprint", "bp"),
                ("identifier", "id"),
                ("query", "{}"),
                ("action", "deploy"),
                ("entities", "[]"),
            ]);
            assert_eq!(i.operation, op, "{text}");
        }
    }

    #[test]
    fn unknown_operation() {
        assert_eq!(
            err(&[("operation", "FOO")]),
            "input 'operation' must be one of UPSERT, GET, SEARCH, BULK_UPSERT, CREATE_RUN, \
             PATCH_RUN, DELETE, got 'FOO'"
        );
    }

    #[test]
    fn credentials_are_required_and_the_secret_never_shows() {
        let mut e = env(&[UPSERT]);
        e.insert("INPUT_CLIENTID".into(), String::new());
        assert_eq!(
            parse(&e).unwrap_err().to_string(),
            "input 'clientId' is required"
        );
        let mut e = env(&[UPSERT]);
        e.remove("INPUT_CLIENTSECRET");
        assert_eq!(
            parse(&e).unwrap_err().to_string(),
            "input 'clientSecret' is required"
        );

        let i = ok(&[UPSERT]);
        assert!(!format!("{i:?}").contains("s3cr3t-value"));
        // Errors about other inputs never carry it either.
        assert!(!err(&[("operation", "nope")]).contains("s3cr3t-value"));
    }

    #[test]
    fn base_url_normalisation() {
        let cases = [
            ("https://api.getport.io", "https://api.getport.io"),
            ("https://api.getport.io/", "https://api.getport.io"),
            ("https://api.getport.io/v1", "https://api.getport.io"),
            ("https://api.getport.io/v1/", "https://api.getport.io"),
            ("https://API.GetPort.io", "https://api.getport.io"),
            ("https://api.us.getport.io/", "https://api.us.getport.io"),
            ("http://localhost:8080", "http://localhost:8080"),
            ("http://127.0.0.1:3000/v1/", "http://127.0.0.1:3000"),
            (
                "https://proxy.example.com/port/",
                "https://proxy.example.com/port",
            ),
            (
                "https://proxy.example.com/port/v1",
                "https://proxy.example.com/port",
            ),
            (
                "https://proxy.example.com/v1x",
                "https://proxy.example.com/v1x",
            ),
        ];
        for (given, want) in cases {
            assert_eq!(ok(&[UPSERT, ("baseUrl", given)]).api_base, want, "{given}");
        }
    }

    #[test]
    fn region() {
        assert_eq!(
            ok(&[UPSERT, ("region", "us")]).api_base,
            "https://api.us.getport.io"
        );
        assert_eq!(
            ok(&[UPSERT, ("region", "US")]).api_base,
            "https://api.us.getport.io"
        );
        assert_eq!(
            ok(&[UPSERT, ("region", "Eu")]).api_base,
            "https://api.getport.io"
        );
        assert_eq!(
            ok(&[
                UPSERT,
                ("region", "us"),
                ("baseUrl", "https://api.us.port.io/v1")
            ])
            .api_base,
            "https://api.us.port.io"
        );
        assert_eq!(
            ok(&[
                UPSERT,
                ("region", "eu"),
                ("baseUrl", "https://api.getport.io/")
            ])
            .api_base,
            "https://api.getport.io"
        );
        assert_eq!(
            err(&[UPSERT, ("region", "asia")]),
            "input 'region' must be eu or us, got 'asia'"
        );
    }

    #[test]
    fn region_and_base_url_that_disagree() {
        assert_eq!(
            err(&[
                UPSERT,
                ("region", "us"),
                ("baseUrl", "https://api.getport.io")
            ]),
            "input 'region' is 'us' but input 'baseUrl' ('https://api.getport.io') is not a US \
             host of Port; give only one of them"
        );
        assert_eq!(
            err(&[
                UPSERT,
                ("region", "eu"),
                ("baseUrl", "http://localhost:8080")
            ]),
            "input 'region' is 'eu' but input 'baseUrl' ('http://localhost:8080') is not an EU \
             host of Port; give only one of them"
        );
    }

    #[test]
    fn bad_base_urls() {
        for bad in [
            "ftp://x",
            "api.getport.io",
            "not a url",
            "file:///tmp/x",
            "https://",
        ] {
            assert_eq!(
                err(&[UPSERT, ("baseUrl", bad)]),
                format!("input 'baseUrl' must be an http(s) URL, got '{bad}'")
            );
        }
        assert_eq!(
            err(&[UPSERT, ("baseUrl", "https://api.getport.io/?x=1")]),
            "input 'baseUrl' must not have a query or a fragment, got 'https://api.getport.io/?x=1'"
        );
        assert_eq!(
            err(&[UPSERT, ("baseUrl", "https://api.getport.io#v1")]),
            "input 'baseUrl' must not have a query or a fragment, got 'https://api.getport.io#v1'"
        );
    }

    #[test]
    fn a_base_url_with_credentials_is_refused_without_showing_them() {
        assert_eq!(
            err(&[
                UPSERT,
                ("baseUrl", "https://deploy:s3cret@api.getport.io/v1")
            ]),
            "input 'baseUrl' must not hold a user name or password, got \
             'https://***@api.getport.io/v1': Port authenticates with 'clientId' and \
             'clientSecret', and a proxy's credentials go in HTTPS_PROXY"
        );
        assert_eq!(
            err(&[UPSERT, ("baseUrl", "https://token@api.getport.io")]),
            "input 'baseUrl' must not hold a user name or password, got \
             'https://***@api.getport.io': Port authenticates with 'clientId' and \
             'clientSecret', and a proxy's credentials go in HTTPS_PROXY"
        );
        // Not a URL at all: shown, but not what stands before the host's `@`.
        let e = err(&[UPSERT, ("baseUrl", "ftp://u:s3cret@host/x")]);
        assert_eq!(
            e,
            "input 'baseUrl' must be an http(s) URL, got 'ftp://***@host/x'"
        );
    }

    #[test]
    fn json_objects() {
        let i = ok(&[
            UPSERT,
            ("properties", "{\n  \"b\": 1,\n  \"a\": \"x\"\n}\n"),
            ("relations", r#"{"owner": "team-a"}"#),
        ]);
        let props = i.properties.unwrap();
        assert_eq!(props.keys().collect::<Vec<_>>(), ["b", "a"]);
        assert_eq!(i.relations.unwrap()["owner"], "team-a");
        assert_eq!(
            err(&[UPSERT, ("relations", "[1]")]),
            "input 'relations' must be a JSON object, got an array"
        );
        assert_eq!(
            err(&[UPSERT, ("properties", "\"x\"")]),
            "input 'properties' must be a JSON object, got a string"
        );
        assert_eq!(
            err(&[("operation", "SEARCH"), ("query", "42")]),
            "input 'query' must be a JSON object, got a number"
        );
    }

    #[test]
    fn json_with_a_pasted_multi_line_value() {
        // `"message": "${{ github.event.head_commit.message }}"` with a two-line commit message.
        let text = "{\n  \"message\": \"fix: x\n\nlong\tbody\",\n  \"n\": 1\n}\n";
        let i = ok(&[UPSERT, ("properties", text)]);
        assert_eq!(i.properties.unwrap()["message"], "fix: x\n\nlong\tbody");
    }

    #[test]
    fn json_error_positions_refer_to_the_users_text() {
        let text = "{\n  \"message\": \"fix: x\n\nbody\",\n  \"sha\": ,\n}\n";
        assert_eq!(
            err(&[UPSERT, ("properties", text)]),
            "input 'properties' is not valid JSON: expected value at line 5 column 10"
        );
        assert_eq!(
            err(&[UPSERT, ("properties", r#"{"x": ,}"#)]),
            "input 'properties' is not valid JSON: expected value at line 1 column 7"
        );
    }

    #[test]
    fn entities() {
        let i = ok(&[
            ("operation", "BULK_UPSERT"),
            (
                "entities",
                r#"[{"identifier": "a", "blueprint": "svc"}, {"blueprint": "svc"}]"#,
            ),
        ]);
        assert_eq!(i.entities.unwrap().len(), 2);
        assert_eq!(
            err(&[("operation", "BULK_UPSERT"), ("entities", r#"{"a": 1}"#)]),
            "input 'entities' must be a JSON array of objects, got an object"
        );
        assert_eq!(
            err(&[
                ("operation", "BULK_UPSERT"),
                ("entities", r#"[{}, {}, "x"]"#)
            ]),
            "input 'entities' element 2 must be a JSON object, got a string"
        );
        assert_eq!(
            err(&[
                ("operation", "BULK_UPSERT"),
                ("entities", r#"[{"blueprint": "svc"}, {"identifier": "b"}]"#)
            ]),
            "input 'entities' element 1 has no \"blueprint\" and no 'blueprint' input is given"
        );
        let i = ok(&[
            ("operation", "BULK_UPSERT"),
            ("blueprint", "svc"),
            ("entities", r#"[{"identifier": "a"}, {"identifier": "b"}]"#),
        ]);
        assert_eq!(i.entities.unwrap()[1], json!({"identifier": "b"}));
        assert_eq!(
            err(&[
                ("operation", "BULK_UPSERT"),
                ("blueprint", "svc"),
                ("entities", r#"[{"identifier": "a b"}]"#)
            ]),
            "input 'entities' element 0 has an invalid \"identifier\": 'a b' contains ' ' \
             (allowed: letters, digits and @ _ . + : \\ / = -)"
        );
        assert_eq!(
            err(&[
                ("operation", "BULK_UPSERT"),
                ("entities", r#"[{"identifier": "a", "blueprint": 5}]"#)
            ]),
            "input 'entities' element 0 \"blueprint\" must be a string, got a number"
        );
        assert_eq!(
            err(&[("operation", "BULK_UPSERT")]),
            "input 'entities' is required for operation BULK_UPSERT"
        );
    }

    #[test]
    fn team() {
        assert_eq!(
            ok(&[UPSERT, ("team", "platform")]).team,
            Some(json!("platform"))
        );
        assert_eq!(
            ok(&[UPSERT, ("team", " Platform Team ")]).team,
            Some(json!("Platform Team"))
        );
        assert_eq!(
            ok(&[UPSERT, ("team", "\"platform\"")]).team,
            Some(json!("platform"))
        );
        assert_eq!(
            ok(&[UPSERT, ("team", r#"["a", "b"]"#)]).team,
            Some(json!(["a", "b"]))
        );
        assert_eq!(ok(&[UPSERT, ("team", "[]")]).team, Some(json!([])));
        assert_eq!(
            err(&[UPSERT, ("team", "42")]),
            "input 'team' must be a team name, a JSON array of team names, or a search query \
             object, got a number"
        );
        assert_eq!(
            err(&[UPSERT, ("team", r#"{"a": 1}"#)]),
            "input 'team' must be a team name, a JSON array of team names, or a search query \
             object: an object must hold only \"combinator\" and \"rules\", not 'a'"
        );
        assert_eq!(
            err(&[UPSERT, ("team", r#"["a", 1]"#)]),
            "input 'team' must be a team name, a JSON array of team names, or a search query \
             object, got an array holding a number"
        );
        assert_eq!(
            err(&[UPSERT, ("team", r#"["a", "b""#)]),
            "input 'team' is not valid JSON: EOF while parsing a list at line 1 column 9"
        );
    }

    #[test]
    fn team_as_a_list_of_single_quoted_names() {
        // Port's own UPSERT snippet writes `team: "['myTeam']"`.
        for (text, want) in [
            ("['myTeam']", json!(["myTeam"])),
            ("['a', 'b']", json!(["a", "b"])),
            (
                "[ 'Platform Team' ,'sre-1' ]",
                json!(["Platform Team", "sre-1"]),
            ),
            ("[]", json!([])),
            ("[ ]", json!([])),
        ] {
            assert_eq!(ok(&[UPSERT, ("team", text)]).team, Some(want), "{text}");
        }
        // Anything else that starts like a list is still a JSON mistake.
        for bad in [
            "['a', b]", "['it's']", "['a\"b']", "['a\\b']", "['a',]", "['']", "['a'", "['a\tb']",
        ] {
            assert!(
                err(&[UPSERT, ("team", bad)]).starts_with("input 'team' is not valid JSON: "),
                "{bad}"
            );
        }
    }

    #[test]
    fn team_as_a_search_query() {
        let query = r#"{"combinator": "and", "rules": [{"property": "$identifier", "operator": "=", "value": "sre"}]}"#;
        assert_eq!(
            ok(&[UPSERT, ("team", query)]).team,
            Some(json!({
                "combinator": "and",
                "rules": [{"property": "$identifier", "operator": "=", "value": "sre"}]
            }))
        );
        let want = "input 'team' must be a team name, a JSON array of team names, or a search \
                    query object: ";
        for (bad, why) in [
            (r#"{"rules": []}"#, "the query has no \"combinator\""),
            (r#"{"combinator": "or"}"#, "the query has no \"rules\""),
            (
                r#"{"combinator": "xor", "rules": []}"#,
                "\"combinator\" must be \"and\" or \"or\", got '\"xor\"'",
            ),
            (
                r#"{"combinator": "or", "rules": {}}"#,
                "\"rules\" must be a JSON array, got an object",
            ),
            (
                r#"{"combinator": "or", "rules": [{}, 3]}"#,
                "\"rules\" element 1 must be a JSON object, got a number",
            ),
            (
                r#"{"combinator": "or", "rules": [], "limit": 1}"#,
                "an object must hold only \"combinator\" and \"rules\", not 'limit'",
            ),
        ] {
            assert_eq!(
                err(&[UPSERT, ("team", bad)]),
                format!("{want}{why}"),
                "{bad}"
            );
        }
    }

    #[test]
    fn link() {
        assert_eq!(
            ok(&[
                ("operation", "PATCH_RUN"),
                ("link", "https://example.com/a")
            ])
            .link,
            ["https://example.com/a"]
        );
        assert_eq!(
            ok(&[
                ("operation", "PATCH_RUN"),
                ("link", r#"["https://a.example", "https://b.example"]"#)
            ])
            .link,
            ["https://a.example", "https://b.example"]
        );
        assert_eq!(
            err(&[("operation", "PATCH_RUN"), ("link", r#"["https://a", ""]"#)]),
            "input 'link' element 1 is an empty string"
        );
        assert_eq!(
            err(&[("operation", "PATCH_RUN"), ("link", r#"["https://a", 3]"#)]),
            "input 'link' element 1 must be a string, got a number"
        );
        assert_eq!(
            err(&[("operation", "PATCH_RUN"), ("link", "[\"https://a\"")]),
            "input 'link' is not valid JSON: EOF while parsing a list at line 1 column 12"
        );
    }

    #[test]
    fn link_as_a_list_of_single_quoted_urls() {
        let patch = ("operation", "PATCH_RUN");
        assert_eq!(
            ok(&[patch, ("link", "['https://a.example/x?y=1']")]).link,
            ["https://a.example/x?y=1"]
        );
        assert_eq!(
            ok(&[
                patch,
                ("link", "['https://a.example', 'https://b.example']")
            ])
            .link,
            ["https://a.example", "https://b.example"]
        );
        assert!(err(&[patch, ("link", "['https://a.example', x]")])
            .starts_with("input 'link' is not valid JSON: "));
    }

    #[test]
    fn include_is_split_on_commas() {
        let i = ok(&[
            ("operation", "GET"),
            ("blueprint", "svc"),
            ("identifier", "x"),
            ("include", " title, properties.version ,,relations , "),
        ]);
        assert_eq!(i.include, ["title", "properties.version", "relations"]);
    }

    #[test]
    fn status() {
        let cases = [
            ("SUCCESS", Status::Success),
            ("success", Status::Success),
            ("Success", Status::Success),
            ("FAILURE", Status::Failure),
            ("failure", Status::Failure),
            ("cancelled", Status::Cancelled),
            ("canceled", Status::Cancelled),
            ("CANCELLED", Status::Cancelled),
        ];
        for (text, want) in cases {
            let i = ok(&[("operation", "PATCH_RUN"), ("status", text)]);
            assert_eq!(i.status, Some(want), "{text}");
        }
        assert_eq!(
            err(&[("operation", "PATCH_RUN"), ("status", "done")]),
            "input 'status' must be SUCCESS or FAILURE (or a job.status value: success, failure, \
             cancelled), got 'done'"
        );
    }

    #[test]
    fn booleans() {
        for (text, want) in [
            ("true", true),
            ("True", true),
            ("TRUE", true),
            ("false", false),
            ("False", false),
            ("FALSE", false),
        ] {
            let i = ok(&[
                UPSERT,
                ("createMissingRelatedEntities", text),
                ("addJobLink", text),
            ]);
            assert_eq!(i.create_missing_related_entities, want);
            assert_eq!(i.add_job_link, want);
            let i = ok(&with(&DELETE, &[("delete_dependents", text)]));
            assert_eq!(i.delete_dependents, want);
            let i = ok(&with(&CREATE_RUN, &[("wait", text)]));
            assert_eq!(i.wait, want);
        }
        assert_eq!(
            err(&with(&CREATE_RUN, &[("wait", "yes")])),
            "input 'wait' must be a boolean (true, True, TRUE, false, False or FALSE), got 'yes'"
        );
        assert_eq!(
            err(&with(&DELETE, &[("delete_dependents", "tRUE")])),
            "input 'delete_dependents' must be a boolean (true, True, TRUE, false, False or \
             FALSE), got 'tRUE'"
        );
        assert!(err(&[UPSERT, ("createMissingRelatedEntities", "1")])
            .starts_with("input 'createMissingRelatedEntities' must be a boolean"));
        assert!(err(&[UPSERT, ("addJobLink", "no")]).starts_with("input 'addJobLink' must be"));
    }

    #[test]
    fn job_id() {
        assert_eq!(
            ok(&[UPSERT, ("jobId", "41234567890")]).job_id.as_deref(),
            Some("41234567890")
        );
        assert_eq!(ok(&[UPSERT, ("jobId", "")]).job_id, None);
        assert_eq!(
            err(&[UPSERT, ("jobId", "build")]),
            "input 'jobId' must be a numeric job id such as ${{ job.check_run_id }} gives, got \
             'build'"
        );
    }

    #[test]
    fn numbers() {
        let i = ok(&with(&BULK, &[("concurrency", "16"), ("maxAttempts", "1")]));
        assert_eq!((i.concurrency, i.max_attempts), (16, 1));
        assert_eq!(
            err(&with(&BULK, &[("concurrency", "0")])),
            "input 'concurrency' must be a whole number from 1 to 16, got '0'"
        );
        assert_eq!(
            err(&with(&BULK, &[("concurrency", "17")])),
            "input 'concurrency' must be a whole number from 1 to 16, got '17'"
        );
        assert_eq!(
            err(&[UPSERT, ("maxAttempts", "11")]),
            "input 'maxAttempts' must be a whole number from 1 to 10, got '11'"
        );
        assert_eq!(
            err(&[UPSERT, ("maxAttempts", "2.5")]),
            "input 'maxAttempts' must be a whole number from 1 to 10, got '2.5'"
        );
    }

    #[test]
    fn durations() {
        let secs = |text: &str| ok(&[UPSERT, ("timeout", text)]).timeout.as_secs();
        assert_eq!(secs("45"), 45);
        assert_eq!(secs("90s"), 90);
        assert_eq!(secs("5m"), 300);
        assert_eq!(secs("1h"), 3600);
        assert_eq!(secs("1m30s"), 90);
        assert_eq!(secs("2h5s"), 7205);
        let i = ok(&with(
            &CREATE_RUN,
            &[("waitTimeout", "1h30m"), ("requestTimeout", "10s")],
        ));
        assert_eq!(i.wait_timeout, Duration::from_secs(5400));
        assert_eq!(i.request_timeout, Duration::from_secs(10));
        for bad in [
            "abc",
            "5x",
            "m",
            "1.5m",
            "30s1m",
            "1m1m",
            "-5",
            "5 m",
            "99999999999999999999h",
        ] {
            assert_eq!(
                err(&with(&CREATE_RUN, &[("waitTimeout", bad)])),
                format!(
                    "input 'waitTimeout' must be a duration in seconds (45) or with units s, m, h \
                     (90s, 5m, 1h, 1m30s), got '{bad}'"
                ),
                "{bad}"
            );
        }
        for zero in ["0", "0s", "0m0s"] {
            assert_eq!(
                err(&[UPSERT, ("requestTimeout", zero)]),
                format!("input 'requestTimeout' must be longer than zero, got '{zero}'")
            );
        }
        assert_eq!(secs("168h"), 604_800);
        for long in ["169h", "18446744073709551615"] {
            assert_eq!(
                err(&[UPSERT, ("timeout", long)]),
                format!("input 'timeout' must be at most 7 days (168h), got '{long}'")
            );
        }
    }

    #[test]
    fn identifiers() {
        for good in [
            "my-service",
            "org/repo",
            "a:b+c=d@e\\f",
            "service_1.2",
            "服务",
            "Überdienst",
            "...",
            ".hidden",
        ] {
            let i = ok(&[
                ("operation", "GET"),
                ("blueprint", "svc"),
                ("identifier", good),
            ]);
            assert_eq!(i.identifier.as_deref(), Some(good));
        }
        assert_eq!(
            err(&[
                ("operation", "GET"),
                ("blueprint", "svc"),
                ("identifier", "my service")
            ]),
            "input 'identifier' is not a valid Port identifier: 'my service' contains ' ' \
             (allowed: letters, digits and @ _ . + : \\ / = -)"
        );
        assert_eq!(
            err(&[UPSERT, ("identifier", "..")]),
            "input 'identifier' is not a valid Port identifier: '..' is not allowed"
        );
        assert_eq!(
            err(&[("blueprint", "a#b")]),
            "input 'blueprint' is not a valid Port identifier: 'a#b' contains '#' \
             (allowed: letters, digits and @ _ . + : \\ / = -)"
        );
        assert_eq!(
            err(&[("operation", "CREATE_RUN"), ("action", "deploy?x")]),
            "input 'action' is not a valid Port identifier: 'deploy?x' contains '?' \
             (allowed: letters, digits and @ _ . + : \\ / = -)"
        );
        assert_eq!(
            err(&[("operation", "PATCH_RUN"), ("runId", "r 1")]),
            "input 'runId' is not a valid Port run id: 'r 1' contains ' ' \
             (allowed: letters, digits and @ _ . + : \\ / = -)"
        );
        let long = "a".repeat(1001);
        assert_eq!(
            err(&[UPSERT, ("identifier", &long)]),
            "input 'identifier' is not a valid Port identifier: it has 1001 characters, more \
             than 1000"
        );
        assert!(ok(&[UPSERT, ("identifier", &long[..1000])])
            .identifier
            .is_some());
    }

    #[test]
    fn operation_requirements() {
        assert_eq!(
            err(&[]),
            "input 'blueprint' is required for operation UPSERT"
        );
        assert_eq!(
            err(&[("operation", "GET"), ("identifier", "x")]),
            "input 'blueprint' is required for operation GET"
        );
        assert_eq!(
            err(&[("operation", "DELETE"), ("blueprint", "svc")]),
            "input 'identifier' is required for operation DELETE"
        );
        assert_eq!(
            err(&[("operation", "SEARCH")]),
            "input 'query' is required for operation SEARCH"
        );
        assert_eq!(
            err(&[("operation", "CREATE_RUN")]),
            "input 'action' is required for operation CREATE_RUN"
        );
        // PATCH_RUN's run id may come from the event payload: not required here.
        let i = ok(&[("operation", "PATCH_RUN"), ("status", "SUCCESS")]);
        assert_eq!(i.run_id, None);
    }

    #[test]
    fn inputs_an_operation_does_not_read_are_neither_checked_nor_used() {
        // Leftovers from a step that was copied and changed, as the official action allows.
        let i = ok(&[
            ("operation", "PATCH_RUN"),
            ("identifier", "My Service"),
            ("properties", r#"{"a": }"#),
            ("icon", "Github"),
            ("runId", "r_abc"),
            ("statusLabel", "Deployed"),
            ("logMessage", "done"),
        ]);
        assert_eq!((i.identifier, i.properties, i.icon), (None, None, None));
        assert_eq!(i.ignored, ["identifier", "icon", "properties"]);
        assert_eq!(i.status_label.as_deref(), Some("Deployed"));
        let i = ok(&[
            ("operation", "CREATE_RUN"),
            ("action", "deploy"),
            ("blueprint", "my blueprint"),
        ]);
        assert_eq!((i.blueprint, i.ignored), (None, vec!["blueprint"]));
        // Run inputs are read by every operation.
        let i = ok(&[UPSERT, ("logMessage", "hello"), ("status", "SUCCESS")]);
        assert_eq!(i.log_message.as_deref(), Some("hello"));
        assert!(i.ignored.is_empty());
        assert_eq!(i.run_inputs_given(), ["logMessage", "status"]);
        // What the operation reads is checked as ever.
        assert_eq!(
            err(&[
                ("operation", "CREATE_RUN"),
                ("action", "deploy"),
                ("properties", "[]")
            ]),
            "input 'properties' must be a JSON object, got an array"
        );
        assert_eq!(
            err(&[UPSERT, ("identifier", "My Service")]),
            "input 'identifier' is not a valid Port identifier: 'My Service' contains ' ' \
             (allowed: letters, digits and @ _ . + : \\ / = -)"
        );
    }

    #[test]
    fn an_input_at_its_default_or_blank_was_not_given() {
        // The runner passes every declared input: its default, or "".
        let mut e = env(&[
            ("operation", "GET"),
            ("blueprint", "svc"),
            ("identifier", "x"),
        ]);
        for d in &INPUTS {
            if d.name != "jobId" && !d.default.is_empty() && d.name != "operation" {
                e.insert(format!("INPUT_{}", d.name.to_uppercase()), d.default.into());
            }
        }
        e.insert("INPUT_TITLE".into(), "  \n".into());
        let i = parse(&e).unwrap();
        assert!(i.ignored.is_empty(), "{:?}", i.ignored);
        e.insert("INPUT_WAIT".into(), "true".into());
        e.insert("INPUT_CONCURRENCY".into(), "8".into());
        assert_eq!(parse(&e).unwrap().ignored, ["concurrency", "wait"]);
    }

    #[test]
    fn run_ids() {
        let patch = |id: &'static str| err(&[("operation", "PATCH_RUN"), ("runId", id)]);
        assert_eq!(
            patch("r_a/b"),
            "input 'runId' is not a valid Port run id: 'r_a/b' contains '/' (a run id is one \
             path segment; Port's look like r_ followed by letters and digits)"
        );
        assert_eq!(
            patch("r_a\\b"),
            "input 'runId' is not a valid Port run id: 'r_a\\b' contains '\\' (a run id is \
             one path segment; Port's look like r_ followed by letters and digits)"
        );
        assert_eq!(
            patch(".."),
            "input 'runId' is not a valid Port run id: '..' is not allowed"
        );
        assert_eq!(
            patch("r_1\n::error::x"),
            "input 'runId' is not a valid Port run id: 'r_1\\n::error::x' contains '\\n' \
             (allowed: letters, digits and @ _ . + : \\ / = -)"
        );
        let i = ok(&[("operation", "PATCH_RUN"), ("runId", "r_AbC123")]);
        assert_eq!(i.run_id.as_deref(), Some("r_AbC123"));
    }

    #[test]
    fn control_characters_in_shown_values_are_escaped() {
        assert_eq!(
            err(&[("operation", "get\nx")]),
            "input 'operation' must be one of UPSERT, GET, SEARCH, BULK_UPSERT, CREATE_RUN, \
             PATCH_RUN, DELETE, got 'get\\nx'"
        );
    }
}
