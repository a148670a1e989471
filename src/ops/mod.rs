//! The operations, and the step that runs one: read the inputs, find the Port run, do the
//! operation, report to the run, and write outputs and the job summary. Everything that can
//! be checked without Port is checked before the first request.

mod bulk;
mod deadline;
mod entity;
mod run;
pub mod track;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::event;
use crate::inputs::{self, Inputs, Operation};
use crate::port::{self, humantime, PortClient};
use crate::runner::{Console, JobContext, Outputs, StepSummary};
use crate::stop::Stop;
use crate::Env;
pub use deadline::Deadlines;
pub use run::LOOKUP_UNIT_VAR;

/// How long past its own deadline a step may take to notice it before it is cut off: every
/// request already stops at its deadline, so this is a safety net, not a budget.
const DEADLINE_GRACE: Duration = Duration::from_secs(5);
/// How long a cancelled step may take to wind down (its requests are dropped at once).
const STOP_GRACE: Duration = Duration::from_secs(2);

/// The Port run this step reports to, and where its id came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedRun {
    pub id: String,
    /// `input 'runId'`, or the event path such as `inputs.port_context.runId`.
    pub source: String,
}

/// Everything one step works with.
pub struct Step {
    pub inputs: Inputs,
    pub job: JobContext,
    pub console: Arc<Console>,
    pub client: Arc<PortClient>,
    /// Outputs set so far, written to `$GITHUB_OUTPUT` once the Port work is done.
    pub outputs: Vec<(String, String)>,
    /// The run this step reports to, when one was given or found.
    pub run: Option<ResolvedRun>,
    /// Markdown list items for the job summary, in order.
    pub summary: Vec<String>,
    /// When the work, the read of the run and the status write must be started by.
    pub deadlines: Deadlines,
    /// Set when the runner cancels the step.
    pub stop: Stop,
    /// The stage, when the binary runs the `track` action.
    pub stage: Option<track::Stage>,
    /// At the end of a tracked job: what its start saved.
    pub saved: Option<track::Saved>,
    /// What the step did otherwise because its run has already ended.
    ended_run: run::EndedRun,
    /// The unit of the pauses between two asks about a run: its look-up by `externalRunId`,
    /// CREATE_RUN's polls (1 s).
    pub lookup_unit: Duration,
}

/// What the binary was started as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    /// A step of the root action: the `operation` input says what it does.
    Step,
    /// The `track` action, at one of its two stages.
    Track(track::Stage),
}

impl Step {
    /// Sets an output. Outputs are kept until the Port work is done and written then, so that
    /// a full disk or a bad `$GITHUB_OUTPUT` can never stop the run's status from being sent.
    pub fn output(&mut self, name: &str, value: &str) {
        if self.inputs.operation == Operation::Track && !track::OUTPUTS.contains(&name) {
            return;
        }
        self.outputs.push((name.to_string(), value.to_string()));
    }

    /// Adds a line to the job summary.
    pub fn note(&mut self, markdown: impl Into<String>) {
        self.summary.push(markdown.into());
    }
}

/// Runs what the binary was started as, with the environment `env`: a step of the root
/// action, or a stage of `track`. Errors are printed as an `::error::` annotation here (with
/// secrets redacted) and returned for the exit code; `track` reports a problem as a warning
/// and lets the job go on, unless its `failOnError` input is true.
///
/// The order is what keeps the final status safe: the Port work and the report to the run
/// first (each request bounded by the step's [`Deadlines`]), then the outputs, then the job
/// summary. Nothing written to the runner's files can stop a request from being sent. Once
/// `stop` is set (the runner cancelled the step) nothing more is sent, and the outputs and
/// summary say what was done.
pub async fn run_entry(env: &Env, entry: Entry, stop: Stop) -> anyhow::Result<()> {
    let job = JobContext::from_env(env);
    let console = Arc::new(Console::new(job.debug));
    // The secret is masked before anything is printed, an error about another input included;
    // as the inputs are read, it is the given text without its surrounding blanks.
    if let Some(secret) = env.get("INPUT_CLIENTSECRET") {
        console.add_mask(secret.trim());
    }
    if entry == Entry::Track(track::Stage::End) && matches!(track::Saved::from_env(env), Ok(None)) {
        console.info("No Port run was tracked at the start of this job: nothing to finish");
        return Ok(());
    }
    let result = run_step(env, entry, &job, &console, stop).await;
    match result {
        Err(e) if matches!(entry, Entry::Track(_)) && !inputs::fails_on_error(env) => {
            console.warning(
                Some("Port tracking"),
                &format!("{e:#} (the job goes on: set failOnError to fail it)"),
            );
            Ok(())
        }
        Err(e) => {
            console.error(Some("port-action failed"), &format!("{e:#}"));
            Err(e)
        }
        Ok(()) => Ok(()),
    }
}

async fn run_step(
    env: &Env,
    entry: Entry,
    job: &JobContext,
    console: &Arc<Console>,
    stop: Stop,
) -> anyhow::Result<()> {
    let job = job.clone();
    let console = console.clone();
    let result = match prepare(env, entry, job.clone(), console.clone(), stop.clone()) {
        Ok(mut step) => {
            let cutoff = step.deadlines.end + DEADLINE_GRACE;
            let budget = step.deadlines.budget();
            let wind_down = async {
                stop.stopped().await;
                tokio::time::sleep(STOP_GRACE).await;
            };
            let outcome = tokio::select! {
                r = tokio::time::timeout_at(cutoff.into(), execute(&mut step)) => match r {
                    Ok(r) => r,
                    Err(_) => Err(anyhow::anyhow!(
                        "the step did not finish within its deadline of {} (input 'timeout')",
                        humantime(budget)
                    )),
                },
                () = wind_down => Err(anyhow::anyhow!("the step did not stop in time")),
            };
            let outcome = match (stop.reason(), outcome) {
                (Some(why), Err(e)) => Err(e.context(format!(
                    "the step was cancelled ({why}): nothing more was sent to Port"
                ))),
                // The signal came once every request had been answered: nothing was cut short.
                (Some(why), Ok(())) => Err(anyhow::anyhow!(
                    "the step was cancelled ({why}) after its work with Port was done"
                )),
                (None, outcome) => outcome,
            };
            let written = write_outputs(&job, &step.outputs);
            let outcome = match (outcome, written) {
                (Ok(()), w) => w,
                (Err(e), Ok(())) => Err(e),
                (Err(e), Err(w)) => {
                    console.error(Some("port-action outputs"), &format!("{w:#}"));
                    Err(e)
                }
            };
            write_summary(
                &job,
                &console,
                step.inputs.operation.as_str(),
                &step.summary,
                outcome.as_ref().err(),
            );
            outcome
        }
        Err(e) => {
            write_summary(&job, &console, "nothing sent", &[], Some(&e));
            Err(e)
        }
    };
    result
}

/// Writes the outputs to `$GITHUB_OUTPUT`, all of them even when one fails, and names the
/// ones that could not be written.
fn write_outputs(job: &JobContext, outputs: &[(String, String)]) -> anyhow::Result<()> {
    let mut file = Outputs::new(job.output_path.as_ref().map(PathBuf::from));
    let mut failed = Vec::new();
    let mut reason = None;
    for (name, value) in outputs {
        if let Err(e) = file.set(name, value) {
            failed.push(format!("'{name}'"));
            reason.get_or_insert(e);
        }
    }
    match reason {
        None => Ok(()),
        Some(e) => Err(anyhow::anyhow!(
            "cannot write output{} {} to $GITHUB_OUTPUT ({}): {e}; everything else was done",
            if failed.len() > 1 { "s" } else { "" },
            failed.join(", "),
            job.output_path.as_deref().unwrap_or("")
        )),
    }
}

/// Validates everything that needs no request: inputs, the event payload, the run.
fn prepare(
    env: &Env,
    entry: Entry,
    job: JobContext,
    console: Arc<Console>,
    stop: Stop,
) -> anyhow::Result<Step> {
    let inputs = match entry {
        Entry::Step => inputs::parse(env)?,
        Entry::Track(stage) => track::inputs(env, stage)?,
    };
    if !inputs.ignored.is_empty() {
        let names: Vec<String> = inputs.ignored.iter().map(|n| format!("'{n}'")).collect();
        let op = inputs.operation.as_str();
        let text = match names.as_slice() {
            [one] => format!("Input {one} is not used by {op} and was ignored"),
            many => format!(
                "Inputs {} are not used by {op} and were ignored",
                many.join(", ")
            ),
        };
        console.warning(Some("Inputs ignored"), &text);
    }
    let saved = match entry {
        Entry::Track(track::Stage::End) => track::Saved::from_env(env)?.map(|s| s.warn(&console)),
        _ => None,
    };
    let (run, stage) = match entry {
        Entry::Track(track::Stage::End) => (
            saved.as_ref().map(|s| s.run.clone()),
            Some(track::Stage::End),
        ),
        Entry::Track(stage) => (resolve_run(&inputs, &job, &console)?, Some(stage)),
        Entry::Step => (resolve_run(&inputs, &job, &console)?, None),
    };
    let waits = inputs.operation == Operation::CreateRun && inputs.wait;
    let deadlines = Deadlines::new(
        Instant::now(),
        inputs.timeout,
        waits.then_some(inputs.wait_timeout),
    );
    // Every request ends by the work deadline unless it says otherwise: only the report to
    // the run reaches into the time kept for the status.
    let limits = port::Limits {
        request_timeout: inputs.request_timeout,
        max_attempts: inputs.max_attempts,
        deadline: deadlines.end,
        work_deadline: deadlines.work,
        stop: stop.clone(),
    };
    let client = Arc::new(PortClient::new(
        &inputs.api_base,
        inputs.credentials.clone(),
        limits,
        console.clone(),
    )?);
    Ok(Step {
        inputs,
        job,
        console,
        client,
        outputs: Vec::new(),
        run,
        summary: Vec::new(),
        deadlines,
        stop,
        stage,
        saved,
        ended_run: run::EndedRun::default(),
        lookup_unit: run::lookup_unit(env),
    })
}

/// The `runId` input wins; otherwise the run id in the workflow's event payload. Two different
/// ids in the payload fail a step that needs its run (PATCH_RUN, or run inputs given); any
/// other step goes on without a run, with a warning saying so.
fn resolve_run(
    inputs: &Inputs,
    job: &JobContext,
    console: &Console,
) -> anyhow::Result<Option<ResolvedRun>> {
    if let Some(id) = &inputs.run_id {
        return Ok(Some(ResolvedRun {
            id: id.clone(),
            source: "input 'runId'".into(),
        }));
    }
    let Some(path) = &job.event_path else {
        return Ok(None);
    };
    let payload = event::load(path)?;
    let found = match event::find_run_id(&payload) {
        Err(e @ event::EventError::Ambiguous { .. }) => {
            if inputs.operation == Operation::PatchRun {
                return Err(e.into());
            }
            let given = inputs.run_inputs_given();
            if !given.is_empty() {
                let names: Vec<String> = given.iter().map(|n| format!("'{n}'")).collect();
                anyhow::bail!(
                    "{e}. The step cannot go on without its run: {} {} sent to it",
                    names.join(", "),
                    if names.len() == 1 { "is" } else { "are" }
                );
            }
            console.warning(
                Some("No Port run"),
                &format!(
                    "{e}. {} goes on without a Port run: nothing it does is tied to a run",
                    inputs.operation.as_str()
                ),
            );
            None
        }
        other => other?,
    };
    Ok(found.map(|f| ResolvedRun {
        id: f.id,
        source: f.source,
    }))
}

async fn execute(step: &mut Step) -> anyhow::Result<()> {
    if step.run.is_none() && run::should_look_up_run(step) {
        step.run = run::find_by_external_run_id(step).await;
    }
    if step.run.is_none() && step.inputs.operation == Operation::PatchRun {
        anyhow::bail!(
            "input 'runId' is required for PATCH_RUN: it was not given and the event payload \
             has no Port run id (looked for runId, run_id, context.runId and run.id in the \
             workflow_dispatch inputs, and for inputs named runId, run_id or port_run_id \
             holding an id that starts with r_){}",
            run::no_run_found(step)
        );
    }
    if let Some(run) = step.run.clone() {
        step.console
            .info(&format!("Port run {} (from {})", run.id, run.source));
        // CREATE_RUN's `runId` and `runUrl` outputs are those of the run it creates.
        if step.inputs.operation != Operation::CreateRun {
            step.output("runId", &run.id);
            let url = port::run_url(&step.inputs.api_base, &run.id);
            step.output("runUrl", &url);
        }
    }
    let mut report = run::Report::of_inputs(&step.inputs);
    let result = match step.inputs.operation {
        Operation::Upsert => entity::upsert(step).await,
        Operation::Get => entity::get(step).await,
        Operation::Search => entity::search(step).await,
        Operation::Delete => entity::delete(step).await,
        Operation::BulkUpsert => bulk::bulk_upsert(step).await,
        Operation::CreateRun => run::create_run(step).await,
        // PATCH_RUN is the report alone.
        Operation::PatchRun => Ok(()),
        Operation::Track => match step.stage {
            Some(track::Stage::End) => {
                if let Some(saved) = step.saved.clone() {
                    report = track::end(step, &saved);
                }
                Ok(())
            }
            _ => track::start(step).map(|r| report = r),
        },
    };
    let result = result.map_err(|e| explain_run_error(e, step.run.as_ref()));
    if step.stop.reason().is_some() {
        // A cancelled step sends nothing more, not even the status.
        run::warn_if_run_ended(step);
        return result;
    }
    // Every operation reports to its run: the log line, and the status when one is given.
    let reported = run::report(step, &report, result.as_ref().err())
        .await
        .map_err(|e| explain_run_error(e, step.run.as_ref()));
    run::warn_if_run_ended(step);
    result?;
    reported
}

/// Names the run, and where its id came from, when Port refused a write because of the run
/// it is tied to: one that has ended, or one Port does not know.
fn explain_run_error(e: anyhow::Error, run: Option<&ResolvedRun>) -> anyhow::Error {
    let Some(run) = run else { return e };
    let Some(port_error) = e.downcast_ref::<port::PortError>() else {
        return e;
    };
    let why = match port_error {
        port::PortError::Api { code, .. } if code == "run_exhausted" => format!(
            "Port run {} (from {}) has already ended, and writes can be tied to a run only \
             while it is in progress",
            run.id, run.source
        ),
        e if e.missing_run() == Some(run.id.as_str()) => {
            format!(
                "Port has no run {} (from {}); give the right one as the 'runId' input",
                run.id, run.source
            )
        }
        _ => return e,
    };
    e.context(why)
}

/// Appends this step's section to the job summary, on success and on failure alike: a
/// heading, the list of what was done, and the error in a caution block.
fn write_summary(
    job: &JobContext,
    console: &Console,
    title: &str,
    done: &[String],
    error: Option<&anyhow::Error>,
) {
    use crate::runner::markdown;
    let Some(path) = job.summary_path.as_ref().map(PathBuf::from) else {
        return;
    };
    let mut md = format!("### Port: {}\n\n", markdown::text(console, title));
    // The items are Markdown already, their outside text redacted before it was escaped (see
    // `markdown`); a secret written into one as it is is redacted all the same.
    for line in done {
        md.push_str(&format!("- {}\n", console.redact(line)));
    }
    if let Some(e) = error {
        md.push_str("\n> [!CAUTION]\n");
        let message = console.redact(&format!("{e:#}"));
        for line in message.lines() {
            md.push_str(&format!("> {}\n", markdown::text(console, line)));
        }
    }
    md.push('\n');
    if let Err(e) = StepSummary::new(Some(path)).append(&md) {
        console.warning(
            Some("job summary"),
            &format!("cannot write the job summary: {e}"),
        );
    }
}
