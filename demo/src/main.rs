//! port-action's main job, run locally: a Port-triggered job tracked by `track` (its start
//! where the step stands, an UPSERT tied to the run, then `track`'s post step finishing the run
//! from the job's status), from a sample `workflow_dispatch` event, against the Port stand-in on
//! 127.0.0.1. No Port account, no credentials, no network.
//!
//! Each step runs as its own process, with only the environment the runner gives a step, and
//! its log is shown as the runner shows it. Then come the requests Port received, the outputs as
//! the runner reads them, the job summary as its reader sees it, and the run as Port holds it at
//! the end.
//!
//! `cargo run -p demo`

mod log;
mod markdown;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use port_action::runner::parse_github_output;
use port_stand_in::{StandIn, CLIENT_ID, CLIENT_SECRET};

use crate::log::RunnerLog;

const EVENT: &str = include_str!("../../tests/data/workflow_dispatch.json");
/// The made-up workflow run that Port's GitHub integration would have started.
const WORKFLOW_RUN_URL: &str = "https://github.com/acme/payments/actions/runs/1234";
/// The flag that makes this program run one step, as the action's binary does; the argument
/// after it says which (see [`Kind`]).
const STEP_FLAG: &str = "--run-step";

/// One step of the demo's job: its title, how the runner starts it, and its `with:` inputs.
type DemoStep = (&'static str, Kind, &'static [(&'static str, &'static str)]);

/// How the runner starts the action's binary for a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `uses: getport-community/port-action@v1`: one operation.
    Step,
    /// `uses: getport-community/port-action/track@v1`, where the step stands.
    TrackStart,
    /// The same `track` step's post step, after the job's other steps.
    TrackEnd,
}

impl Kind {
    fn arg(self) -> &'static str {
        match self {
            Kind::Step => "step",
            Kind::TrackStart => "track",
            Kind::TrackEnd => "track-post",
        }
    }

    fn entry(arg: Option<&str>) -> port_action::Entry {
        use port_action::ops::track::Stage;
        match arg {
            Some("track") => port_action::Entry::Track(Stage::Start),
            Some("track-post") => port_action::Entry::Track(Stage::End),
            _ => port_action::Entry::Step,
        }
    }
}

const INTRO: &str = "\
port-action demo: everything runs on this machine, with no Port account and no credentials.
- \"Port\" is the stand-in: a fake of Port's API on 127.0.0.1 that keeps state and checks every
  request against Port's published OpenAPI spec. Its client id and secret are fixed demo values.
- The workflow is made up: repository acme/payments, workflow run 1234, job 31415926. The
  github.com links point there and lead nowhere real. The run's page in Port (runUrl and the
  summary's links) is served by the stand-in, standing for https://app.getport.io/... .
- The job is the README's: `track` at the top (it finds the run and reports the job's start),
  an UPSERT tied to the run, and `track`'s post step, which finishes the run from the job's
  status.
- Each step's log is shown as the runner shows it: workflow commands are consumed, values the
  step masks (the client secret, the access token) appear as ***, debug lines are hidden. The
  job summary is shown as its reader sees it on the run's page, with the Markdown rendered.";

fn main() -> ExitCode {
    if std::env::args().nth(1).as_deref() == Some(STEP_FLAG) {
        return run_step();
    }
    match demo() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("demo failed: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// One step, in the process the action's binary gives it (panic hook, signals, exit code): the
/// environment is all it reads.
fn run_step() -> ExitCode {
    let entry = Kind::entry(std::env::args().nth(2).as_deref());
    match port_action::process::run(entry) {
        0 => ExitCode::SUCCESS,
        _ => ExitCode::FAILURE,
    }
}

fn demo() -> anyhow::Result<()> {
    println!("{INTRO}");
    let port = StandIn::start();
    // What Port did before the workflow started: create the run, and (through its GitHub
    // integration) put the workflow run's URL on it.
    port.add_run("r_demo", "IN_PROGRESS", &[WORKFLOW_RUN_URL]);
    println!("\nPort stand-in listening on {}", port.url());

    let dir = TempDir::new()?;
    let event = dir.0.join("event.json");
    std::fs::write(&event, EVENT)?;

    let steps: [DemoStep; 3] = [
        (
            "Report this job to its Port run (track, where the step stands)",
            Kind::TrackStart,
            &[],
        ),
        (
            "Upsert the service, tied to the run",
            Kind::Step,
            &[
                ("operation", "UPSERT"),
                ("blueprint", "service"),
                ("identifier", "payments"),
                ("title", "Payments"),
                (
                    "properties",
                    "{\n  \"language\": \"Rust\",\n  \"version\": \"1.2.3\"\n}",
                ),
                ("logMessage", "Service entity written"),
            ],
        ),
        (
            "track's post step, at the end of the job (job.status is success)",
            Kind::TrackEnd,
            &[("jobStatus", "success")],
        ),
    ];

    let mut log = RunnerLog::default();
    // What `track`'s start saves in $GITHUB_STATE, which the runner gives its post step.
    let mut saved: Vec<(String, String)> = Vec::new();
    for (i, (title, kind, inputs)) in steps.iter().enumerate() {
        let output = dir.0.join(format!("output-{i}"));
        let summary = dir.0.join(format!("summary-{i}"));
        let state = dir.0.join(format!("state-{i}"));
        std::fs::write(&output, "")?;
        std::fs::write(&summary, "")?;
        std::fs::write(&state, "")?;
        let mut env = step_env(&port.url(), &event, &output, &summary, inputs);
        env.insert("GITHUB_STATE".into(), state.display().to_string());
        if *kind == Kind::TrackEnd {
            for (name, value) in &saved {
                env.insert(format!("STATE_{name}"), value.clone());
            }
        }

        println!("\n=== Step {}: {title}", i + 1);
        println!("--- log");
        port.clear_requests();
        let done = Command::new(std::env::current_exe()?)
            .args([STEP_FLAG, kind.arg()])
            .env_clear()
            .envs(&env)
            .current_dir(&dir.0)
            .stdin(Stdio::null())
            .output()?;
        print!("{}", log.render(&String::from_utf8_lossy(&done.stdout)));
        print!("{}", log.mask(&String::from_utf8_lossy(&done.stderr)));
        for annotation in log.take_annotations() {
            println!("(annotation on the run's page) {annotation}");
        }

        println!("--- requests Port received (secret values shown as ***)");
        for r in port.requests() {
            println!("{} → {}", r.line(), r.status);
            if let Some(body) = &r.body {
                let mut body = body.clone();
                if let Some(s) = body.get_mut("clientSecret") {
                    *s = "***".into();
                }
                println!("    {}", log.mask(&serde_json::to_string(&body)?));
            }
        }
        println!("--- outputs (as the runner reads $GITHUB_OUTPUT)");
        let text = std::fs::read_to_string(&output)?;
        for (name, value) in parse_github_output(&text).map_err(anyhow::Error::msg)? {
            println!("{name} = {}", log.mask(&value));
        }
        if *kind == Kind::TrackStart {
            println!("--- saved for the post step ($GITHUB_STATE)");
            saved = parse_github_output(&std::fs::read_to_string(&state)?)
                .map_err(anyhow::Error::msg)?;
            for (name, value) in &saved {
                println!("{name} = {}", log.mask(value));
            }
        }
        println!("--- job summary (as the run's page shows $GITHUB_STEP_SUMMARY)");
        let written = std::fs::read_to_string(&summary)?;
        print!("{}", log.mask(&markdown::as_read(&written)));
        anyhow::ensure!(
            done.status.success(),
            "step {} failed ({})",
            i + 1,
            done.status
        );
    }

    let run = port.run("r_demo").expect("the run exists");
    println!("\n=== The run in Port now");
    println!("{}", serde_json::to_string_pretty(&run)?);
    let violations = port.spec_violations();
    if violations.is_empty() {
        println!("\nEvery request validated against Port's OpenAPI spec.");
        Ok(())
    } else {
        anyhow::bail!("requests Port's spec rejects: {violations:#?}")
    }
}

/// The environment the runner gives the action's step: the job's variables, the files it
/// writes to, and one `INPUT_*` per input.
fn step_env(
    base_url: &str,
    event: &Path,
    output: &Path,
    summary: &Path,
    inputs: &[(&str, &str)],
) -> BTreeMap<String, String> {
    let mut env: BTreeMap<String, String> = [
        ("CI", "true"),
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_SERVER_URL", "https://github.com"),
        ("GITHUB_REPOSITORY", "acme/payments"),
        ("GITHUB_RUN_ID", "1234"),
        ("GITHUB_RUN_ATTEMPT", "1"),
        ("GITHUB_JOB", "deploy"),
        ("GITHUB_EVENT_NAME", "workflow_dispatch"),
        ("INPUT_CLIENTID", CLIENT_ID),
        ("INPUT_CLIENTSECRET", CLIENT_SECRET),
        ("INPUT_JOBID", "31415926"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    env.insert("INPUT_BASEURL".into(), base_url.to_string());
    env.insert("GITHUB_EVENT_PATH".into(), event.display().to_string());
    env.insert("GITHUB_OUTPUT".into(), output.display().to_string());
    env.insert("GITHUB_STEP_SUMMARY".into(), summary.display().to_string());
    for (name, value) in inputs {
        env.insert(format!("INPUT_{}", name.to_uppercase()), value.to_string());
    }
    env
}

/// A directory of its own under the system's temporary directory, removed at the end.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> std::io::Result<Self> {
        let base = std::env::temp_dir();
        for attempt in 0u32.. {
            let dir = base.join(format!("port-action-demo-{}-{attempt}", std::process::id()));
            match std::fs::create_dir(&dir) {
                Ok(()) => return Ok(Self(dir)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < 100 => {}
                Err(e) => return Err(e),
            }
        }
        unreachable!("the loop returns")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
