//! port-action's main job, run locally: the two steps of a Port-triggered workflow (UPSERT an
//! entity tied to the run, then PATCH_RUN with the job's status), from a sample
//! `workflow_dispatch` event, against the Port stand-in on 127.0.0.1. No Port account, no
//! credentials, no network.
//!
//! Each step runs as its own process, with only the environment the runner gives a step, and
//! its log is shown as the runner shows it. Then come the requests Port received, the outputs as
//! the runner reads them, the job summary, and the run as Port holds it at the end.
//!
//! `cargo run -p demo`

mod log;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use port_action::runner::parse_github_output;
use port_stand_in::{StandIn, CLIENT_ID, CLIENT_SECRET};

use crate::log::RunnerLog;

const EVENT: &str = include_str!("../../tests/data/workflow_dispatch.json");
/// The made-up workflow run that Port's GitHub integration would have started.
const WORKFLOW_RUN_URL: &str = "https://github.com/acme/payments/actions/runs/1234";
/// The flag that makes this program run one step, as the action's binary does.
const STEP_FLAG: &str = "--run-step";

const INTRO: &str = "\
port-action demo: everything runs on this machine, with no Port account and no credentials.
- \"Port\" is the stand-in: a fake of Port's API on 127.0.0.1 that keeps state and checks every
  request against Port's published OpenAPI spec. Its client id and secret are fixed demo values.
- The workflow is made up: repository acme/payments, workflow run 1234, job 31415926. The
  github.com links point there and lead nowhere real. The run's page in Port (runUrl and the
  summary's links) is served by the stand-in, standing for https://app.getport.io/... .
- Each step's log is shown as the runner shows it: workflow commands are consumed, values the
  step masks (the client secret, the access token) appear as ***, debug lines are hidden.";

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

/// One step, as the action's binary runs it: the environment is all it reads.
fn run_step() -> ExitCode {
    let (env, bad_inputs) = port_action::env_from_os(std::env::vars_os());
    if !bad_inputs.is_empty() {
        eprintln!("not valid UTF-8: {}", bad_inputs.join(", "));
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(port_action::run(&env)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::FAILURE,
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

    let steps: [(&str, &[(&str, &str)]); 2] = [
        (
            "Upsert the service, tied to the run",
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
            "Report the job's status (if: always())",
            &[("operation", "PATCH_RUN"), ("status", "success")],
        ),
    ];

    let mut log = RunnerLog::default();
    for (i, (title, inputs)) in steps.iter().enumerate() {
        let output = dir.0.join(format!("output-{i}"));
        let summary = dir.0.join(format!("summary-{i}"));
        std::fs::write(&output, "")?;
        std::fs::write(&summary, "")?;
        let env = step_env(&port.url(), &event, &output, &summary, inputs);

        println!("\n=== Step {}: {title}", i + 1);
        println!("--- log");
        port.clear_requests();
        let done = Command::new(std::env::current_exe()?)
            .arg(STEP_FLAG)
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
        println!("--- job summary ($GITHUB_STEP_SUMMARY)");
        print!("{}", log.mask(&std::fs::read_to_string(&summary)?));
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
