//! Reporting to a Port action run (log lines, status, label, summary, links) and creating
//! runs. A PATCH replaces every key it sends, so links are always the union of what the run
//! already had, what the step was given, and this job's URL.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde_json::{json, Map, Value};

use super::{ResolvedRun, Step};
use crate::inputs::{self, Operation, Status};
use crate::port::{self, humantime, routes, PortError};
use crate::runner::markdown::{code, link, text};

/// Run statuses in which a run is still open.
const OPEN_STATUSES: [&str; 2] = ["IN_PROGRESS", "WAITING_FOR_APPROVAL"];

/// First pause between two polls of a run CREATE_RUN waits for, in units of
/// [`Step::lookup_unit`] (1 s): 2 s.
const FIRST_POLL_UNITS: u32 = 2;
/// Longest pause between two polls, in the same units: 15 s.
const MAX_POLL_UNITS: u32 = 15;
/// Looking a run up by its `externalRunId`: the pauses between two asks, in units of
/// [`Step::lookup_unit`] (1 s): asked at 0, 1, 3, 6, 10, 15, 20, 25 and 30 s. Port's GitHub
/// integration writes the id once it has found the workflow run it dispatched, which it looks
/// for 10 times, 2 s apart: a step at the top of a fast-starting job may ask before that.
const LOOKUP_PAUSES: [u32; 8] = [1, 2, 3, 4, 5, 5, 5, 5];
/// The look-up stops pausing this long before the step's work deadline: the log line and the
/// run's update come after it.
const LOOKUP_LEAVES: Duration = Duration::from_secs(2);
/// Test-only: the unit of the pauses between two asks about a run (its look-up by
/// `externalRunId`, CREATE_RUN's polls) in milliseconds (1000 when unset), so that a test of a
/// run that is not there does not wait 30 s. Nothing a workflow should set.
pub const LOOKUP_UNIT_VAR: &str = "PORT_ACTION_TEST_LOOKUP_UNIT_MS";

/// The unit of the pauses between two asks about a run: 1 s, or [`LOOKUP_UNIT_VAR`] in a
/// test. A release build always takes 1 s, so that no workflow can shorten the look-up.
pub(super) fn lookup_unit(env: &crate::Env) -> Duration {
    if !cfg!(debug_assertions) {
        return Duration::from_secs(1);
    }
    env.get(LOOKUP_UNIT_VAR)
        .and_then(|ms| ms.parse().ok())
        .map_or(Duration::from_secs(1), Duration::from_millis)
}

/// What a step sends to its run: a log line, and the run's changes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// The line posted to the run's log.
    pub log_line: Option<String>,
    /// The status the run finishes with.
    pub status: Option<Status>,
    /// The run's label; the status's own when none is given.
    pub label: Option<String>,
    /// The run's summary; a generated one when a status is sent without one.
    pub summary: Option<String>,
    /// Links added to the run's.
    pub links: Vec<String>,
    /// Whether this job's URL is added to the links when the run is updated.
    pub job_link: bool,
    /// Whether the run is updated even when nothing else changes it (`track`: for the job's
    /// link).
    pub always_update: bool,
    /// The run's `externalRunId`.
    pub external_run_id: Option<String>,
}

impl Report {
    /// What the inputs of a step ask to send: `logMessage`, `status`, `statusLabel`,
    /// `summary`, `link`, `addJobLink` and `externalRunId`.
    pub fn of_inputs(inputs: &inputs::Inputs) -> Report {
        Report {
            log_line: inputs.log_message.clone(),
            status: inputs.status,
            label: inputs.status_label.clone(),
            summary: inputs.summary.clone(),
            links: inputs.link.clone(),
            job_link: inputs.add_job_link,
            always_update: false,
            external_run_id: inputs.external_run_id.clone(),
        }
    }
}

/// Sends `report` to the step's run, if it has one: the log line, and the run's changes
/// (status, label, summary, links). `failure` is the error of the operation that ran before;
/// with a status to send the run is then finished as `FAILURE`, labelled "Failed", with that
/// error as its summary, so it does not stay `IN_PROGRESS` because the step died.
///
/// The status does not depend on the log line: a log line Port refused is reported after the
/// run is updated, as a warning when a status was written (finishing the run was the step's
/// job) or when the update failed too (the step then fails with the update's error), and as
/// the step's error otherwise.
pub async fn report(
    step: &mut Step,
    report: &Report,
    failure: Option<&anyhow::Error>,
) -> anyhow::Result<()> {
    let Some(run) = step.run.clone() else {
        warn_unused_run_inputs(step);
        return Ok(());
    };
    let mut log_error = None;
    if failure.is_none() {
        if let Some(message) = &report.log_line {
            log_error = post_log(step, &run.id, message).await.err();
        }
    }
    if step.stop.reason().is_some() {
        // Cancelled while the line was at Port: that request is what was cut short.
        if let Some(e) = log_error {
            return Err(e);
        }
    }
    let Some(changes) = Changes::of(step, report, failure) else {
        return log_error.map_or(Ok(()), Err);
    };
    let finishes = changes.status.is_some();
    // `track` always adds the job's URL; a plain step changes the run only when asked.
    let changes_run = finishes
        || report.always_update
        || changes.label.is_some()
        || changes.summary.is_some()
        || !report.links.is_empty()
        || report.external_run_id.is_some();
    let updated = if changes_run {
        update_run(step, &run.id, report, changes).await
    } else {
        Ok(())
    };
    match (log_error, updated) {
        (None, updated) => updated,
        (Some(e), Ok(())) if !finishes => Err(e),
        (Some(e), updated) => {
            // Side by side, not one inside the other: neither caused the other.
            let message = match updated {
                Ok(()) => format!("{e:#}; the run's status was sent all the same"),
                Err(_) => format!("{e:#}"),
            };
            step.console.warning(Some("Log line not posted"), &message);
            step.note(format!("⚠️ {}", text(&step.console, &message)));
            updated
        }
    }
}

/// What a step writes on its run besides links: the status, and the label and summary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Changes {
    status: Option<Status>,
    label: Option<String>,
    summary: Option<String>,
}

impl Changes {
    /// The status, label and summary `report` sends, after an operation that ended with
    /// `failure`; `None` when the operation failed and no status was given (the run is then
    /// left alone).
    ///
    /// The label a finished run keeps says how it ended: the `statusLabel` given, else the
    /// status's own ("Succeeded", "Failed", "Cancelled"). When the operation failed, the run
    /// ends as `FAILURE` labelled "Failed" with the error as its summary, whatever label the
    /// step was given for the success it expected.
    fn of(step: &Step, report: &Report, failure: Option<&anyhow::Error>) -> Option<Changes> {
        match (failure, report.status) {
            (Some(e), Some(_)) => Some(Changes {
                status: Some(Status::Failure),
                label: Some(Status::Failure.finished_label().to_string()),
                summary: Some(step.console.redact(&format!("{e:#}"))),
            }),
            (Some(_), None) => None,
            (None, Some(status)) => Some(Changes {
                status: Some(status),
                label: Some(
                    report
                        .label
                        .clone()
                        .unwrap_or_else(|| status.finished_label().to_string()),
                ),
                summary: Some(
                    report
                        .summary
                        .clone()
                        .unwrap_or_else(|| generated_summary(step, status, None)),
                ),
            }),
            (None, None) => Some(Changes {
                status: None,
                label: report.label.clone(),
                summary: report.summary.clone(),
            }),
        }
    }

    fn is_empty(&self) -> bool {
        *self == Changes::default()
    }
}

/// Whether a step with no run id should ask Port for the run of this workflow run: only in a
/// workflow Port dispatched (`workflow_dispatch`), and only when the step has something to
/// send to a run (PATCH_RUN, `track`, or run inputs), so that a plain UPSERT sends nothing
/// extra.
pub(super) fn should_look_up_run(step: &Step) -> bool {
    step.job.event_name.as_deref() == Some("workflow_dispatch")
        && step.job.external_run_id().is_some()
        && (matches!(
            step.inputs.operation,
            Operation::PatchRun | Operation::Track
        ) || !step.inputs.run_inputs_given().is_empty())
}

/// `GET /v1/actions/runs?external_run_id=gh_…&version=v2`: the run Port's GitHub integration
/// dispatched this workflow run for. It writes the `externalRunId` only once it has found this
/// workflow run, so a step at the top of the job may ask before it is there: asked again for
/// up to about 30 s ([`LOOKUP_PAUSES`]), never past the step's work deadline. A failed
/// look-up is a warning, and the step goes on without a run.
pub(super) async fn find_by_external_run_id(step: &mut Step) -> Option<ResolvedRun> {
    let external = step.job.external_run_id()?;
    let route = routes::runs_by_external_id(&external);
    let started = Instant::now();
    let last_ask = step
        .deadlines
        .work
        .checked_sub(LOOKUP_LEAVES)
        .unwrap_or(step.deadlines.start);
    let mut pauses = LOOKUP_PAUSES.iter().map(|n| step.lookup_unit * *n);
    let mut asked = 0;
    loop {
        asked += 1;
        let answer = step.client.call(&route).await;
        let runs = match answer {
            Ok(answer) => answer
                .get("runs")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
            Err(e) => {
                step.console.warning(
                    Some("No Port run"),
                    &format!("cannot look up the Port run with externalRunId {external}: {e}"),
                );
                return None;
            }
        };
        // An open run first: a re-run of the workflow keeps the external id of the first.
        let pick = runs
            .iter()
            .find(|r| {
                r.get("status")
                    .and_then(Value::as_str)
                    .is_some_and(|s| OPEN_STATUSES.contains(&s))
            })
            .or_else(|| runs.first())
            .and_then(|r| r.get("id"))
            .and_then(Value::as_str);
        if let Some(id) = pick {
            if let Err(why) = inputs::check_run_id(id) {
                step.console.warning(
                    Some("No Port run"),
                    &format!("Port's run with externalRunId {external} has an invalid id: {why}"),
                );
                return None;
            }
            return Some(ResolvedRun {
                id: id.to_string(),
                source: format!("externalRunId {external}"),
            });
        }
        match pauses.next() {
            Some(pause) if Instant::now() + pause <= last_ask => tokio::time::sleep(pause).await,
            _ => break,
        }
    }
    let asked = match asked {
        1 => "asked once".to_string(),
        n => format!("asked {n} times over {}", humantime(started.elapsed())),
    };
    step.console.info(&format!(
        "No Port run has externalRunId {external} ({asked})"
    ));
    None
}

/// Why a step that needs a run has none, after "no 'runId' input and no run id in the event
/// payload": the look-up by `externalRunId` found none, or was not made, and why not.
pub(super) fn no_run_found(step: &Step) -> String {
    match step.job.event_name.as_deref() {
        Some("workflow_dispatch") => match step.job.external_run_id() {
            Some(external) => format!(", and no Port run has externalRunId {external}"),
            None => "; no run was looked up by its externalRunId, as \
                     $GITHUB_REPOSITORY_OWNER_ID or $GITHUB_REPOSITORY_ID is not set"
                .to_string(),
        },
        other => format!(
            "; the workflow was started by {}, not dispatched by Port (workflow_dispatch), so \
             no run was looked up by its externalRunId",
            other.unwrap_or("an unknown event")
        ),
    }
}

/// Run inputs given to a step that has no run would otherwise vanish without a word.
fn warn_unused_run_inputs(step: &Step) {
    let given = step.inputs.run_inputs_given();
    if !given.is_empty() {
        step.console.warning(
            Some("No Port run"),
            &format!(
                "{} given, but this step has no Port run (no 'runId' input, and none in the \
                 event payload), so nothing was sent to a run",
                given
                    .iter()
                    .map(|n| format!("'{n}'"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
    }
}

/// `POST /v1/actions/runs/{id}/logs`. A run that has already ended refuses logs: that is said
/// in the step's warning about the ended run, and is not a failure of the step.
async fn post_log(step: &mut Step, run_id: &str, message: &str) -> anyhow::Result<()> {
    match step.client.call(&routes::post_log(run_id, message)).await {
        Ok(_) => {
            step.output("logMessage", message);
            step.note(format!("Log line posted to run {}", run_link(step, run_id)));
            Ok(())
        }
        Err(e) if e.code() == Some("run_exhausted") => {
            run_ended(
                step,
                None,
                format!("it takes no more log lines, so this one was not added: {message:?}"),
            );
            Ok(())
        }
        Err(e) => Err(e).context(format!("cannot post the log line to Port run {run_id}")),
    }
}

/// Reads the run, then PATCHes it. The run is read before every PATCH but one that holds
/// `externalRunId` alone: for the links it already has (a PATCH replaces them), and so that a
/// run that has already ended keeps its status, label and summary. The read may use the time
/// up to [`Deadlines::read_run`]; the PATCH alone has the rest, so a slow read cannot starve
/// it.
///
/// [`Deadlines::read_run`]: super::Deadlines
async fn update_run(
    step: &mut Step,
    run_id: &str,
    report: &Report,
    changes: Changes,
) -> anyhow::Result<()> {
    let job_url = if report.job_link {
        step.job.job_url(step.inputs.job_id.as_deref())
    } else {
        None
    };
    let mut wanted: Vec<String> = report.links.clone();
    wanted.extend(job_url);
    let current = if wanted.is_empty() && changes.is_empty() {
        None
    } else {
        read_before_patch(step, run_id, !wanted.is_empty()).await?
    };
    let links = current
        .as_ref()
        .filter(|_| !wanted.is_empty())
        .map(|run| union_links(run.get("link"), &wanted));
    let Changes {
        status,
        label,
        summary,
    } = match ended_status(current.as_ref()) {
        Some(ended) => {
            keep_what_the_run_ended_with(step, &ended, &changes);
            Changes::default()
        }
        None => changes,
    };
    let mut body = Map::new();
    if let Some(s) = status {
        body.insert("status".into(), json!(s.port_value()));
    }
    if let Some(l) = &label {
        body.insert("statusLabel".into(), json!(l));
    }
    if let Some(s) = &summary {
        body.insert("summary".into(), json!(s));
    }
    if let Some(l) = &links {
        body.insert("link".into(), json!(l));
    }
    if let Some(e) = &report.external_run_id {
        body.insert("externalRunId".into(), json!(e));
    }
    if body.is_empty() {
        return Ok(());
    }
    step.client
        .call_until(
            step.deadlines.end,
            &routes::patch_run(run_id, Value::Object(body)),
        )
        .await
        .map_err(explain_patch_error)
        .with_context(|| format!("cannot update Port run {run_id}"))?;
    note_update(step, run_id, status, label, summary, links);
    Ok(())
}

/// The run as it is before the PATCH, or `None` when it cannot be read in time: the update
/// matters more than the links, so it is then sent without them (sending links unread would
/// replace the ones the run has). A run Port does not know is an error: it cannot be updated
/// either. So is a read cut short because the step was cancelled: nothing more is sent.
async fn read_before_patch(
    step: &mut Step,
    run_id: &str,
    for_links: bool,
) -> anyhow::Result<Option<Value>> {
    match get_run(step, run_id, step.deadlines.read_run).await {
        Ok(run) => Ok(Some(run)),
        Err(e) if e.code() == Some("not_found") || matches!(e, PortError::Stopped { .. }) => {
            Err(anyhow::Error::new(e).context(format!("cannot read Port run {run_id}")))
        }
        Err(e) => {
            let message = if for_links {
                format!(
                    "cannot read Port run {run_id} for its links ({e}); updating it without \
                     adding links"
                )
            } else {
                format!("cannot read Port run {run_id} ({e}); updating it all the same")
            };
            step.console
                .warning(Some("Run links not updated"), &message);
            step.note(format!("⚠️ {}", text(&step.console, &message)));
            Ok(None)
        }
    }
}

/// The status of a run, as read, that has already ended; `None` for an open run, or one that
/// could not be read.
fn ended_status(current: Option<&Value>) -> Option<String> {
    current
        .and_then(|r| r.get("status"))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty() && !OPEN_STATUSES.contains(s))
        .map(str::to_string)
}

/// A run that has already ended keeps what it ended with: its status, label and summary are
/// the record of the request that started it (Port's integration or an earlier attempt wrote
/// them), so a later step, a re-run above all, sends none of them; links may still be added.
fn keep_what_the_run_ended_with(step: &mut Step, ended: &str, changes: &Changes) {
    let others = match (changes.label.is_some(), changes.summary.is_some()) {
        (true, true) => Some(("label and summary", "were", "they")),
        (true, false) => Some(("label", "was", "it")),
        (false, true) => Some(("summary", "was", "it")),
        (false, false) => None,
    };
    let effect = match (changes.status, others) {
        (Some(s), None) => format!(
            "its status was left as it is instead of being set to {}",
            s.port_value()
        ),
        (Some(s), Some((others, were, they))) => format!(
            "its status was left as it is instead of being set to {}, and its {others} as \
             {they} {were}",
            s.port_value()
        ),
        (None, Some((others, were, they))) => {
            format!("its {others} {were} left as {they} {were}")
        }
        (None, None) => return,
    };
    run_ended(step, Some(ended), effect);
}

/// What a step did otherwise, or left undone, because its run has already ended; said in one
/// warning at the end of the step ([`warn_if_run_ended`]).
#[derive(Debug, Default)]
pub struct EndedRun {
    /// The status the run ended with, when it was read.
    status: Option<String>,
    /// What was done otherwise, in order, each said once.
    effects: Vec<String>,
}

/// Records that the step's run has already ended and what the step did about it.
pub(super) fn run_ended(step: &mut Step, status: Option<&str>, effect: impl Into<String>) {
    let ended = &mut step.ended_run;
    if let Some(s) = status {
        ended.status = Some(s.to_string());
    }
    let effect = effect.into();
    if !ended.effects.contains(&effect) {
        ended.effects.push(effect);
    }
}

/// The one warning of a step whose run had already ended: what it did about it, and why a
/// re-run cannot change the run.
pub(super) fn warn_if_run_ended(step: &mut Step) {
    let ended = std::mem::take(&mut step.ended_run);
    let Some(run) = step.run.clone() else { return };
    if ended.effects.is_empty() {
        return;
    }
    let head = match &ended.status {
        Some(s) => format!("Port run {} had already ended with {s}", run.id),
        None => format!("Port run {} has already ended", run.id),
    };
    let message = format!(
        "{head}; {}. The run came from {}: a re-run of a job finds the run of its first \
         attempt, and does not change what that run ended with; for a new run, trigger the \
         action again in Port",
        ended.effects.join("; "),
        run.source
    );
    step.console
        .warning(Some("Port run already ended"), &message);
    step.note(format!("⚠️ {}", text(&step.console, &message)));
}

/// The outputs and summary lines of a run update that landed.
fn note_update(
    step: &mut Step,
    run_id: &str,
    status: Option<Status>,
    label: Option<String>,
    summary: Option<String>,
    links: Option<Vec<String>>,
) {
    if let Some(l) = &links {
        step.output("link", &serde_json::to_string(l).unwrap_or_default());
    }
    let run = run_link(step, run_id);
    match status {
        Some(s) => step.note(format!(
            "Run {run} finished: **{}**{}",
            s.port_value(),
            label
                .map(|l| format!(" ({})", text(&step.console, &l)))
                .unwrap_or_default()
        )),
        None => step.note(format!("Run {run} updated")),
    }
    if let Some(s) = &summary {
        step.note(format!("Run summary: {}", text(&step.console, s)));
    }
    if let Some(l) = &links {
        step.note(format!(
            "Run links: {}",
            l.iter()
                .map(|u| link(&step.console, &text(&step.console, u), u))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
}

/// Adds a plain-words explanation to the errors a PATCH of a run is known for.
fn explain_patch_error(e: PortError) -> anyhow::Error {
    match e.code() {
        Some("run_synchronized_error") => anyhow::Error::new(e).context(
            "this run belongs to a synchronized (webhook) action, whose status Port sets by \
             itself; report with logs only, or make the action asynchronous",
        ),
        _ => anyhow::Error::new(e),
    }
}

/// `GET /v1/actions/runs/{id}?version=v2`: the run object, read by `deadline`.
async fn get_run(step: &Step, run_id: &str, deadline: Instant) -> Result<Value, PortError> {
    let answer = step
        .client
        .call_until(deadline, &routes::get_run(run_id))
        .await?;
    answer.get("run").cloned().ok_or_else(|| PortError::Decode {
        status: 200,
        method: "GET".into(),
        path: format!("/v1/actions/runs/{run_id}"),
        detail: "no \"run\" in the answer".into(),
    })
}

/// The links already on the run, then the wanted ones, each once, in order.
fn union_links(current: Option<&Value>, wanted: &[String]) -> Vec<String> {
    let mut links: Vec<String> = match current {
        Some(Value::String(s)) if !s.is_empty() => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    };
    for w in wanted {
        if !links.contains(w) {
            links.push(w.clone());
        }
    }
    links
}

/// The summary of a run finished with `status` when none is given: "GitHub Actions job
/// `deploy` in acme/payments succeeded after 2m10s (run 1234, attempt 1)", `took` being how
/// long the job took, when known.
pub(super) fn generated_summary(step: &Step, status: Status, took: Option<Duration>) -> String {
    let mut s = format!("GitHub Actions {}", super::track::job_name(step));
    if let Some(repo) = &step.job.repository {
        s.push_str(&format!(" in {repo}"));
    }
    s.push_str(&format!(" {}{}", status.verb(), took_text(took)));
    if let Some(run) = &step.job.run_id {
        s.push_str(&format!(" (run {run}, attempt {})", attempt(step)));
    }
    s
}

/// " after 2m10s", or nothing when how long is not known.
pub(super) fn took_text(took: Option<Duration>) -> String {
    took.map(|d| format!(" after {}", humantime(d)))
        .unwrap_or_default()
}

/// The workflow run's attempt: "1" for the first, and when the runner did not say.
pub(super) fn attempt(step: &Step) -> &str {
    step.job.run_attempt.as_deref().unwrap_or("1")
}

pub(super) fn run_link(step: &Step, run_id: &str) -> String {
    let url = port::run_url(&step.inputs.api_base, run_id);
    link(&step.console, &code(&step.console, run_id), &url)
}

/// CREATE_RUN: `POST /v1/actions/{action}/runs`; with `wait`, polls the new run until it ends.
pub async fn create_run(step: &mut Step) -> anyhow::Result<()> {
    let action = step
        .inputs
        .action
        .clone()
        .context("input 'action' is required for CREATE_RUN")?;
    let mut body = Map::new();
    body.insert(
        "properties".into(),
        Value::Object(step.inputs.properties.clone().unwrap_or_default()),
    );
    if let Some(id) = &step.inputs.identifier {
        body.insert("entity".into(), json!(id));
    }
    let answer = step
        .client
        .call(&routes::create_run(&action, Value::Object(body)))
        .await
        .with_context(|| format!("cannot create a run of Port action '{action}'"))?;
    let new_id = answer
        .pointer("/run/id")
        .and_then(Value::as_str)
        .with_context(|| format!("Port's answer for a new run of '{action}' has no run.id"))?
        .to_string();
    // The id goes into outputs, the log and the path of every poll: Port's word alone is not
    // enough for that.
    inputs::check_run_id(&new_id).map_err(|why| {
        anyhow::anyhow!("Port's answer for a new run of '{action}' has an invalid run id: {why}")
    })?;
    step.output("runId", &new_id);
    let url = port::run_url(&step.inputs.api_base, &new_id);
    step.output("runUrl", &url);
    step.note(format!(
        "Run {} of action {} created",
        link(&step.console, &code(&step.console, &new_id), &url),
        code(&step.console, &action)
    ));
    let waited = if step.inputs.wait {
        Some(wait_for_run(step, &new_id).await)
    } else {
        None
    };
    match waited {
        Some(Ok(status)) if status == "FAILURE" => {
            anyhow::bail!("Port run {new_id} of action '{action}' ended with FAILURE")
        }
        Some(Err(e)) => Err(e),
        _ => Ok(()),
    }
}

/// Polls the run until it leaves the open statuses or `waitTimeout` passes; writes `status`.
async fn wait_for_run(step: &mut Step, run_id: &str) -> anyhow::Result<String> {
    let started = Instant::now();
    let limit = step.inputs.wait_timeout;
    let mut pause = step.lookup_unit * FIRST_POLL_UNITS;
    let max_pause = step.lookup_unit * MAX_POLL_UNITS;
    step.console.info(&format!(
        "Waiting for Port run {run_id} to end (at most {})",
        humantime(limit)
    ));
    loop {
        let run = get_run(step, run_id, step.deadlines.work)
            .await
            .with_context(|| format!("cannot read Port run {run_id}"))?;
        let status = run
            .get("status")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if !status.is_empty() && !OPEN_STATUSES.contains(&status.as_str()) {
            step.output("status", &status);
            step.note(format!(
                "Run {} ended: **{}** after {}",
                run_link(step, run_id),
                text(&step.console, &status),
                humantime(started.elapsed())
            ));
            return Ok(status);
        }
        let left = limit.saturating_sub(started.elapsed());
        if left.is_zero() {
            step.output("status", &status);
            anyhow::bail!(
                "Port run {run_id} was still {status} after {} (input 'waitTimeout')",
                humantime(limit)
            );
        }
        tokio::time::sleep(pause.min(left)).await;
        pause = (pause * 3 / 2).min(max_pause);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_keep_what_the_run_had_and_add_each_new_one_once() {
        let current = json!(["https://github.com/a/b/actions/runs/1", "https://x"]);
        let wanted = vec![
            "https://x".to_string(),
            "https://github.com/a/b/actions/runs/1/job/7".to_string(),
        ];
        assert_eq!(
            union_links(Some(&current), &wanted),
            vec![
                "https://github.com/a/b/actions/runs/1",
                "https://x",
                "https://github.com/a/b/actions/runs/1/job/7"
            ]
        );
    }

    #[test]
    fn a_single_link_string_on_the_run_is_kept() {
        let current = json!("https://github.com/a/b/actions/runs/1");
        assert_eq!(
            union_links(Some(&current), &["https://y".to_string()]),
            vec!["https://github.com/a/b/actions/runs/1", "https://y"]
        );
        assert_eq!(union_links(None, &[]), Vec::<String>::new());
    }
}
