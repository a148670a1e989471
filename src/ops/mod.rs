//! The operations, and the step that runs one: read the inputs, find the Port run, do the
//! operation, report to the run, and write outputs and the job summary. Everything that can
//! be checked without Port is checked before the first request.

mod bulk;
mod entity;
mod run;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;

use crate::event;
use crate::inputs::{self, Inputs, Operation};
use crate::port::{self, humantime, PortClient};
use crate::runner::{Console, JobContext, Outputs, StepSummary};
use crate::Env;

/// The Port run this step reports to, and where its id came from.
#[derive(Debug, Clone)]
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
    pub outputs: Outputs,
    /// The run this step reports to, when one was given or found.
    pub run: Option<ResolvedRun>,
    /// Markdown list items for the job summary, in order.
    pub summary: Vec<String>,
}

impl Step {
    /// Sets an output, reporting a write failure with the file's path.
    pub fn output(&mut self, name: &str, value: &str) -> anyhow::Result<()> {
        self.outputs
            .set(name, value)
            .with_context(|| format!("cannot write output '{name}' to $GITHUB_OUTPUT"))
    }

    /// Adds a line to the job summary.
    pub fn note(&mut self, markdown: impl Into<String>) {
        self.summary.push(markdown.into());
    }
}

/// Runs one step with the environment `env`: the whole job of the binary. Errors are printed
/// as an `::error::` annotation here (with secrets redacted) and returned for the exit code.
pub async fn run(env: &Env) -> anyhow::Result<()> {
    let job = JobContext::from_env(env);
    let console = Arc::new(Console::new(job.debug));
    let result = match prepare(env, job.clone(), console.clone()) {
        Ok(mut step) => {
            let deadline = step.inputs.timeout;
            let outcome = match tokio::time::timeout(deadline, execute(&mut step)).await {
                Ok(r) => r,
                Err(_) => Err(anyhow::anyhow!(
                    "the step did not finish within its deadline of {} (input 'timeout')",
                    humantime(deadline)
                )),
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
    if let Err(e) = &result {
        console.error(Some("port-action failed"), &format!("{e:#}"));
    }
    result
}

/// Validates everything that needs no request: inputs, the event payload, the run.
fn prepare(env: &Env, job: JobContext, console: Arc<Console>) -> anyhow::Result<Step> {
    let inputs = inputs::parse(env)?;
    console.add_mask(&inputs.credentials.client_secret);
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
    let run = resolve_run(&inputs, &job, &console)?;
    if run.is_none() && inputs.operation == Operation::PatchRun {
        anyhow::bail!(
            "input 'runId' is required for PATCH_RUN: it was not given and the event payload \
             has no Port run id (looked for runId, run_id, context.runId and run.id in the \
             workflow_dispatch inputs, and for inputs named runId, run_id or port_run_id \
             holding an id that starts with r_)"
        );
    }
    let limits = port::Limits {
        request_timeout: inputs.request_timeout,
        max_attempts: inputs.max_attempts,
        deadline: Instant::now() + inputs.timeout,
    };
    let client = Arc::new(PortClient::new(
        &inputs.api_base,
        inputs.credentials.clone(),
        limits,
        console.clone(),
    )?);
    let outputs = Outputs::new(job.output_path.as_ref().map(PathBuf::from));
    Ok(Step {
        inputs,
        job,
        console,
        client,
        outputs,
        run,
        summary: Vec::new(),
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
    if let Some(run) = step.run.clone() {
        step.console
            .info(&format!("Port run {} (from {})", run.id, run.source));
        // CREATE_RUN's `runId` and `runUrl` outputs are those of the run it creates.
        if step.inputs.operation != Operation::CreateRun {
            step.output("runId", &run.id)?;
            let url = port::run_url(&step.inputs.api_base, &run.id);
            step.output("runUrl", &url)?;
        }
    }
    let result = match step.inputs.operation {
        Operation::Upsert => entity::upsert(step).await,
        Operation::Get => entity::get(step).await,
        Operation::Search => entity::search(step).await,
        Operation::Delete => entity::delete(step).await,
        Operation::BulkUpsert => bulk::bulk_upsert(step).await,
        Operation::CreateRun => run::create_run(step).await,
        // PATCH_RUN is the report alone.
        Operation::PatchRun => Ok(()),
    };
    let result = result.map_err(|e| explain_run_error(e, step.run.as_ref()));
    // Every operation reports to its run: the log line, and the status when one is given.
    let reported = run::report(step, result.as_ref().err())
        .await
        .map_err(|e| explain_run_error(e, step.run.as_ref()));
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
        port::PortError::Api { code, message, .. }
            if code == "not_found" && message.contains(&run.id) =>
        {
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
    let Some(path) = job.summary_path.as_ref().map(PathBuf::from) else {
        return;
    };
    let mut md = format!("### Port: {title}\n\n");
    for line in done {
        md.push_str(&format!("- {line}\n"));
    }
    if let Some(e) = error {
        md.push_str(&format!(
            "\n> [!CAUTION]\n> {}\n",
            console.redact(&format!("{e:#}")).replace('\n', "\n> ")
        ));
    }
    md.push('\n');
    if let Err(e) = StepSummary::new(Some(path)).append(&md) {
        console.warning(
            Some("job summary"),
            &format!("cannot write the job summary: {e}"),
        );
    }
}
