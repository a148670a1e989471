//! The `track` action: one step at the top of a job reports the whole job to its Port run.
//!
//! The runner runs the same image twice for it. The main stage, where the step stands, finds
//! the run, adds this job's URL to its links, posts "job started" and saves the run id in
//! `$GITHUB_STATE`. The post stage, after every other step of the job, receives that state as
//! `STATE_*` variables and the job's status in the `jobStatus` input (whose default,
//! `${{ job.status }}`, the runner evaluates again at post time), and finishes the run from it.
//! Both stages go through the same report as every other step (`run::report`): the
//! log line first, then one PATCH with the union of links, within the step's deadlines.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::run::{self, Report};
use super::{ResolvedRun, Step};
use crate::inputs::{self, Finish, InputError, Inputs, Status};
use crate::runner::Outputs;
use crate::Env;

/// `STATE_<name>`: the run the main stage tracked.
pub const STATE_RUN_ID: &str = "portRunId";
/// `STATE_<name>`: where the main stage found it.
pub const STATE_RUN_SOURCE: &str = "portRunSource";
/// `STATE_<name>`: when the job's tracking started, in seconds since the epoch.
pub const STATE_STARTED_AT: &str = "portStartedAt";

/// The outputs `track/action.yml` declares: the run's id and page. The report it shares with
/// PATCH_RUN sets others (`logMessage`, `link`), which `track` leaves out.
pub const OUTPUTS: [&str; 2] = ["runId", "runUrl"];

/// The stage of the `track` action the binary was started for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Where the step stands: the job starts.
    Start,
    /// After the job's last step: the job ends.
    End,
}

/// The start's `timeout` when the input is not given: the job waits for it, so it gives up
/// early (a warning) rather than hold the job while Port does not answer.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);
/// The end's `timeout` when the input is not given: longer, as it carries the run's status.
pub const END_TIMEOUT: Duration = Duration::from_secs(60);

impl Stage {
    /// The stage's deadline when the `timeout` input is empty (`track/action.yml`'s default:
    /// the runner evaluates one default for both stages).
    pub fn default_timeout(self) -> Duration {
        match self {
            Stage::Start => START_TIMEOUT,
            Stage::End => END_TIMEOUT,
        }
    }
}

/// The inputs of `track` at `stage`, with the stage's own default deadline.
pub fn inputs(env: &Env, stage: Stage) -> Result<Inputs, InputError> {
    inputs::parse_track(env, stage.default_timeout())
}

/// What the main stage left for the post stage, read from `STATE_*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Saved {
    pub run: ResolvedRun,
    pub started_at: Option<u64>,
    /// The state that was not used, and why: one warning each (see [`Saved::warn`]).
    pub ignored: Vec<BadState>,
}

/// A value in `STATE_*` that the main stage cannot have saved. A bad run id stops the post
/// stage (it would decide where requests go): nothing is sent. The source and start time only
/// decorate the report: the run is finished without them, with a warning.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("STATE_{name}, saved by the start of track for the end of the job, {why}; {then}")]
pub struct BadState {
    /// The state's name, without `STATE_`.
    pub name: &'static str,
    /// What is wrong, with the value shown escaped.
    pub why: String,
    /// What was done instead.
    pub then: &'static str,
}

/// The longest `STATE_portRunSource` read: the sources the main stage saves are short phrases
/// (`input 'runId'`, `inputs.port_context.runId`).
const MAX_SOURCE_CHARS: usize = 300;

/// How far in the future `STATE_portStartedAt` may be (clocks of two stages may differ a
/// little).
const STARTED_AT_SKEW_SECS: u64 = 300;

/// The run's source when `STATE_portRunSource` is missing or unusable.
const DEFAULT_SOURCE: &str = "the track step's start";

impl Saved {
    /// The state the runner passes to the post stage; `Ok(None)` when the main stage tracked
    /// nothing (no run found, or it failed before it could save anything).
    ///
    /// State is text from outside like the event payload: the run id is checked as an event's
    /// run id is (it becomes a path segment of every request and the `runId` output) and
    /// refused if bad. The source must be one printable line, and the start time a number of
    /// seconds not in the future; either one that is not is left out (listed in `ignored`).
    pub fn from_env(env: &Env) -> Result<Option<Saved>, BadState> {
        let get = |name: &str| {
            env.get(&format!("STATE_{name}"))
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let Some(id) = get(STATE_RUN_ID) else {
            return Ok(None);
        };
        crate::inputs::check_run_id(&id).map_err(|why| BadState {
            name: STATE_RUN_ID,
            why: format!("is not a valid Port run id: {why}"),
            then: "nothing was sent to Port",
        })?;
        let mut ignored = Vec::new();
        let source = get(STATE_RUN_SOURCE).and_then(|s| {
            let why = if s.contains(char::is_control) {
                format!(
                    "holds a control character: '{}'",
                    crate::inputs::printable(&s)
                )
            } else if s.chars().count() > MAX_SOURCE_CHARS {
                format!("is longer than {MAX_SOURCE_CHARS} characters")
            } else {
                return Some(s);
            };
            ignored.push(BadState {
                name: STATE_RUN_SOURCE,
                why,
                then: "the run is said to come from the track step's start",
            });
            None
        });
        let started_at = get(STATE_STARTED_AT).and_then(|t| {
            let secs = t
                .bytes()
                .all(|b| b.is_ascii_digit())
                .then(|| t.parse::<u64>().ok())
                .flatten();
            let what = match secs {
                None => "is not a number of seconds since 1970",
                Some(secs) if secs > now_secs() + STARTED_AT_SKEW_SECS => "is in the future",
                Some(secs) => return Some(secs),
            };
            ignored.push(BadState {
                name: STATE_STARTED_AT,
                why: format!("{what}: '{}'", crate::inputs::printable(&t)),
                then: "the job's duration is not given",
            });
            None
        });
        Ok(Some(Saved {
            run: ResolvedRun {
                id,
                source: source.unwrap_or_else(|| DEFAULT_SOURCE.to_string()),
            },
            started_at,
            ignored,
        }))
    }

    /// Prints a warning for each state left out, and gives the state back.
    pub fn warn(self, console: &crate::runner::Console) -> Saved {
        for bad in &self.ignored {
            console.warning(Some("Port tracking"), &bad.to_string());
        }
        self
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

/// "job `deploy`", or "job" when the runner did not say; a leg of a matrix adds its place and
/// values: "job `test` (leg 2 of 3: os: ubuntu-latest)".
pub(super) fn job_name(step: &Step) -> String {
    let name = match &step.job.job {
        Some(name) => format!("job `{name}`"),
        None => "job".to_string(),
    };
    match leg(step) {
        Some(leg) => format!("{name} ({leg})"),
        None => name,
    }
}

/// "leg 2 of 3" for a job that is one leg of a matrix (`jobTotal` over 1), "one leg of 3"
/// when its place is not known.
fn leg_place(step: &Step) -> Option<String> {
    let total = step.inputs.job_total.filter(|t| *t > 1)?;
    Some(match step.inputs.job_index {
        Some(i) => format!("leg {} of {total}", i + 1),
        None => format!("one leg of {total}"),
    })
}

/// The leg's place with its matrix values: "leg 2 of 3: os: ubuntu-latest".
fn leg(step: &Step) -> Option<String> {
    let mut leg = leg_place(step)?;
    if let Some(values) = &step.inputs.job_matrix {
        leg.push_str(&format!(": {values}"));
    }
    Some(leg)
}

/// Whether the end of this job finishes the run: `finish: auto` finishes it unless the job is
/// one leg of a matrix, whose first leg to end would otherwise decide the run for all.
fn finishes_run(step: &Step) -> bool {
    match step.inputs.finish {
        Finish::Always => true,
        Finish::Never => false,
        Finish::Auto => leg(step).is_none(),
    }
}

/// The label of a run this job does not finish: the running label no longer holds, and the
/// run's outcome is not known yet, so it says which job ended how ("deploy succeeded",
/// "test (leg 2 of 3) failed").
fn ended_job_label(step: &Step, status: Option<Status>) -> String {
    let mut who = step.job.job.clone().unwrap_or_else(|| "Job".to_string());
    if let Some(place) = leg_place(step) {
        who.push_str(&format!(" ({place})"));
    }
    format!("{who} {}", status.map_or("ended", Status::ended))
}

/// The main stage: save the run for the post stage, and say what to report of the start (a
/// log line, and the job's link). The state is written first, so that the end of the job is
/// reported even if the start could not be.
pub fn start(step: &mut Step) -> anyhow::Result<Report> {
    let Some(run) = step.run.clone() else {
        step.note("No Port run to track");
        anyhow::bail!(
            "this job has no Port run to track, so nothing is reported: no 'runId' input and \
             no run id in the event payload{}",
            super::run::no_run_found(step)
        );
    };
    save_state(step, &run)?;
    let report = Report {
        log_line: Some(format!(
            "GitHub Actions {} started (attempt {})",
            job_name(step),
            run::attempt(step)
        )),
        ..tracking(step)
    };
    step.note(format!(
        "Tracking this job in Port run {}",
        super::run::run_link(step, &run.id)
    ));
    Ok(report)
}

/// What both stages send beyond what they set themselves: the inputs' report, with this job's
/// link added to the run every time.
fn tracking(step: &Step) -> Report {
    Report {
        job_link: true,
        always_update: true,
        ..Report::of_inputs(&step.inputs)
    }
}

/// Appends the run to `$GITHUB_STATE`. Never a secret: the post stage gets the credentials
/// from its inputs again.
fn save_state(step: &Step, run: &ResolvedRun) -> anyhow::Result<()> {
    let Some(path) = step.job.state_path.as_ref() else {
        anyhow::bail!(
            "$GITHUB_STATE is not set, so the end of the job could not be reported to Port \
             run {}",
            run.id
        );
    };
    let mut state = Outputs::new(Some(path.into()));
    for (name, value) in [
        (STATE_RUN_ID, run.id.clone()),
        (STATE_RUN_SOURCE, run.source.clone()),
        (STATE_STARTED_AT, now_secs().to_string()),
    ] {
        state
            .set(name, &value)
            .map_err(|e| anyhow::anyhow!("cannot save the run for the end of the job: {e}"))?;
    }
    Ok(())
}

/// The post stage: the job's status becomes the run's, labelled with the outcome ("Succeeded",
/// "Failed", "Cancelled": the running label does not finish the run) and with a generated
/// summary and a last log line. A job that does not finish the run (`finish: false`, or a leg
/// of a matrix) posts its line and a label saying how it ended. Returns what to report.
pub fn end(step: &mut Step, saved: &Saved) -> Report {
    let took = saved
        .started_at
        .map(|t| Duration::from_secs(now_secs().saturating_sub(t)));
    let status = step.inputs.job_status;
    let mut report = Report {
        log_line: Some(format!(
            "GitHub Actions {} {}{} (attempt {})",
            job_name(step),
            status.map_or("ended", Status::verb),
            run::took_text(took),
            run::attempt(step)
        )),
        ..tracking(step)
    };
    if !finishes_run(step) {
        report.label = Some(ended_job_label(step, status));
        if step.inputs.finish == Finish::Auto {
            let message = format!(
                "This job is one leg of a matrix ({}): its end does not finish the run, as \
                 the other legs may still be running (finish: auto); a job after the matrix \
                 finishes it, or Port's GitHub integration when the workflow ends. Set \
                 finish: true to finish it from this leg",
                leg(step).unwrap_or_default()
            );
            step.console.info(&message);
            step.note(crate::runner::markdown::text(&step.console, &message));
        }
        return report;
    }
    let Some(status) = status else {
        report.label = Some(ended_job_label(step, None));
        step.console.warning(
            Some("Job status unknown"),
            "input 'jobStatus' is empty, so the run was not finished; Port's GitHub \
             integration finishes it when the workflow ends",
        );
        return report;
    };
    report.label = Some(status.finished_label().to_string());
    report.status = Some(status);
    report.summary = Some(run::generated_summary(step, status, took));
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    fn track_env(timeout: &str) -> Env {
        [
            ("INPUT_CLIENTID", "id"),
            ("INPUT_CLIENTSECRET", "secret"),
            ("INPUT_TIMEOUT", timeout),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    #[test]
    fn each_stage_has_its_own_deadline_unless_timeout_is_given() {
        let timeout = |value: &str, stage| inputs(&track_env(value), stage).unwrap().timeout;
        assert_eq!(timeout("", Stage::Start), Duration::from_secs(30));
        assert_eq!(timeout("", Stage::End), Duration::from_secs(60));
        assert_eq!(timeout("5m", Stage::Start), Duration::from_secs(300));
        assert_eq!(timeout("2s", Stage::End), Duration::from_secs(2));
        // The root action keeps its 5 minutes.
        let mut step = track_env("");
        step.insert("INPUT_BLUEPRINT".into(), "service".into());
        assert_eq!(
            inputs::parse(&step).unwrap().timeout,
            Duration::from_secs(300)
        );
    }

    #[test]
    fn the_post_stage_reads_what_the_main_stage_saved() {
        let env: Env = [
            ("STATE_portRunId", "r_abc"),
            ("STATE_portRunSource", "inputs.port_context.runId"),
            ("STATE_portStartedAt", "1700000000"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(
            Saved::from_env(&env),
            Ok(Some(Saved {
                run: ResolvedRun {
                    id: "r_abc".into(),
                    source: "inputs.port_context.runId".into()
                },
                started_at: Some(1_700_000_000),
                ignored: vec![],
            }))
        );
        assert_eq!(Saved::from_env(&Env::new()), Ok(None));
    }

    fn state(pairs: &[(&str, &str)]) -> Env {
        pairs
            .iter()
            .map(|(k, v)| (format!("STATE_{k}"), v.to_string()))
            .collect()
    }

    #[test]
    fn a_run_id_the_main_stage_cannot_have_saved_is_refused_naming_it() {
        let refused = |pairs: &[(&str, &str)]| Saved::from_env(&state(pairs)).unwrap_err();
        let e = refused(&[("portRunId", "..")]);
        assert_eq!(e.name, "portRunId");
        assert_eq!(
            e.to_string(),
            "STATE_portRunId, saved by the start of track for the end of the job, is not a \
             valid Port run id: '..' is not allowed; nothing was sent to Port"
        );
        for id in [".", "a/b", "r_a\nr_b", "r_a\\b", "r a"] {
            assert_eq!(refused(&[("portRunId", id)]).name, "portRunId", "{id:?}");
        }
    }

    #[test]
    fn a_bad_source_or_start_time_is_left_out_with_a_warning_naming_it() {
        let read = |pairs: &[(&str, &str)]| {
            let mut all = vec![("portRunId", "r_a")];
            all.extend_from_slice(pairs);
            Saved::from_env(&state(&all)).unwrap().unwrap()
        };
        let saved = read(&[
            ("portRunSource", "x\n::error::y"),
            ("portStartedAt", "1700000000"),
        ]);
        assert_eq!(saved.run.id, "r_a");
        assert_eq!(saved.run.source, "the track step's start");
        assert_eq!(saved.started_at, Some(1_700_000_000));
        assert_eq!(saved.ignored.len(), 1);
        assert_eq!(
            saved.ignored[0].to_string(),
            "STATE_portRunSource, saved by the start of track for the end of the job, holds a \
             control character: 'x\\n::error::y'; the run is said to come from the track \
             step's start"
        );
        let long = "s".repeat(MAX_SOURCE_CHARS + 1);
        let saved = read(&[("portRunSource", &long)]);
        assert_eq!(saved.run.source, "the track step's start");
        assert_eq!(saved.ignored[0].name, "portRunSource");
        let future = (now_secs() + 3600).to_string();
        for t in ["soon", "-1", "1e9", "99999999999999999999999", &future] {
            let saved = read(&[("portRunSource", "input 'runId'"), ("portStartedAt", t)]);
            assert_eq!(saved.run.source, "input 'runId'");
            assert_eq!(saved.started_at, None, "{t}");
            assert_eq!(saved.ignored.len(), 1, "{t}");
            assert_eq!(saved.ignored[0].name, "portStartedAt", "{t}");
            assert!(
                saved.ignored[0]
                    .to_string()
                    .ends_with(&format!("'{t}'; the job's duration is not given")),
                "{}",
                saved.ignored[0]
            );
        }
        assert!(read(&[("portStartedAt", &future)]).ignored[0]
            .to_string()
            .contains("is in the future"));
        // Both at once: two warnings.
        assert_eq!(
            read(&[("portRunSource", "a\tb"), ("portStartedAt", "x")])
                .ignored
                .len(),
            2
        );
    }
}
