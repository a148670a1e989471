//! Runs the real `port-action` binary as the runner would: every input that `action.yml`
//! declares set (to its default, or `""`), the `GITHUB_*` variables, an event file and the
//! file-command files, against a Port stand-in on 127.0.0.1.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use port_action::runner::parse_github_output;
use port_stand_in::{Fault, FaultKind, StandIn, CLIENT_ID, CLIENT_SECRET};

/// The numeric job id the runner substitutes for `${{ job.check_run_id }}`.
pub const JOB_ID: &str = "31415926";
/// `GITHUB_RUN_ID` of every test step.
pub const GITHUB_RUN_ID: &str = "1234";
/// `GITHUB_REPOSITORY_OWNER_ID` and `GITHUB_REPOSITORY_ID` of `track` steps.
pub const REPOSITORY_OWNER_ID: &str = "5150";
pub const REPOSITORY_ID: &str = "8080";
/// The `externalRunId` Port's GitHub integration gives the run of this workflow run.
pub const EXTERNAL_RUN_ID: &str = "gh_5150_8080_1234";
/// The workflow run's URL, which Port's GitHub integration puts on the run.
pub const WORKFLOW_RUN_URL: &str = "https://github.com/acme/payments/actions/runs/1234";
/// This job's URL, as port-action adds it.
pub const JOB_URL: &str = "https://github.com/acme/payments/actions/runs/1234/job/31415926";

/// A fixture file in `tests/data/`.
pub fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// Which of the repository's actions a step uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `action.yml`: `uses: getport-community/port-action@v1`.
    Root,
    /// `track/action.yml`: `uses: getport-community/port-action/track@v1`.
    Track,
    /// `native/action.yml`: `uses: getport-community/port-action/native@v1`.
    Native,
    /// `native/track/action.yml`: `uses: getport-community/port-action/native/track@v1`.
    NativeTrack,
}

impl Action {
    pub fn file(self) -> &'static str {
        match self {
            Action::Root => "action.yml",
            Action::Track => "track/action.yml",
            Action::Native => "native/action.yml",
            Action::NativeTrack => "native/track/action.yml",
        }
    }
}

fn load_yaml(file: &str) -> yaml_rust2::Yaml {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(file))
        .unwrap_or_else(|e| panic!("{file}: {e}"));
    let mut docs = yaml_rust2::YamlLoader::load_from_str(&text).expect("an action.yml is YAML");
    docs.remove(0)
}

/// The action's `action.yml`, read and parsed once for the whole suite.
pub fn action_yml_of(action: Action) -> &'static yaml_rust2::Yaml {
    static ROOT: std::sync::OnceLock<yaml_rust2::Yaml> = std::sync::OnceLock::new();
    static TRACK: std::sync::OnceLock<yaml_rust2::Yaml> = std::sync::OnceLock::new();
    static NATIVE: std::sync::OnceLock<yaml_rust2::Yaml> = std::sync::OnceLock::new();
    static NATIVE_TRACK: std::sync::OnceLock<yaml_rust2::Yaml> = std::sync::OnceLock::new();
    let once = match action {
        Action::Root => &ROOT,
        Action::Track => &TRACK,
        Action::Native => &NATIVE,
        Action::NativeTrack => &NATIVE_TRACK,
    };
    once.get_or_init(|| load_yaml(action.file()))
}

/// A YAML scalar as the runner passes it to an action: text.
pub fn yaml_scalar(value: &yaml_rust2::Yaml) -> Option<String> {
    match value {
        yaml_rust2::Yaml::String(s) => Some(s.clone()),
        yaml_rust2::Yaml::Boolean(b) => Some(b.to_string()),
        yaml_rust2::Yaml::Integer(i) => Some(i.to_string()),
        _ => None,
    }
}

/// The inputs `action.yml` declares, with their defaults as the runner evaluates them.
pub fn declared_inputs() -> BTreeMap<String, String> {
    declared_inputs_of(Action::Root)
}

/// The inputs an action declares, with their defaults as the runner evaluates them in a job
/// that is not a matrix (`${{ job.status }}` is left for the test to set, as the runner does at
/// each stage).
pub fn declared_inputs_of(action: Action) -> BTreeMap<String, String> {
    let inputs = action_yml_of(action)["inputs"]
        .as_hash()
        .expect("an action.yml declares inputs");
    inputs
        .iter()
        .map(|(name, spec)| {
            let name = name.as_str().expect("input name").to_string();
            let default = yaml_scalar(&spec["default"]).unwrap_or_default();
            let default = default.replace("${{ job.check_run_id }}", JOB_ID);
            // What the runner gives a job that is not a matrix.
            let default = default
                .replace("${{ strategy.job-index }}", "0")
                .replace("${{ strategy.job-total }}", "1")
                .replace("${{ toJSON(matrix) }}", "null");
            (name, default)
        })
        .collect()
}

/// The outputs `action.yml` declares.
pub fn declared_outputs() -> std::collections::BTreeSet<String> {
    declared_outputs_of(Action::Root)
}

/// The outputs an action declares.
pub fn declared_outputs_of(action: Action) -> std::collections::BTreeSet<String> {
    action_yml_of(action)["outputs"]
        .as_hash()
        .expect("an action.yml declares outputs")
        .keys()
        .map(|k| k.as_str().expect("output name").to_string())
        .collect()
}

/// One step to run.
pub struct Step {
    action: Action,
    inputs: BTreeMap<String, String>,
    env: BTreeMap<String, String>,
    event: Option<PathBuf>,
    /// The program name and arguments the runner starts the image's binary with.
    argv0: Option<&'static str>,
    args: Vec<&'static str>,
    /// What runs instead of the binary (a node action's launcher), with its arguments.
    via: Option<Vec<std::ffi::OsString>>,
}

/// What the step did, as the runner would see it.
#[derive(Debug)]
pub struct Outcome {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    /// The outputs file, as the runner parses it.
    pub outputs: Vec<(String, String)>,
    /// The outputs file as written.
    pub outputs_raw: String,
    /// The job summary file.
    pub summary: String,
    /// What the step saved for its post stage (`$GITHUB_STATE`), as the runner parses it.
    pub state: Vec<(String, String)>,
    /// The state file as written.
    pub state_raw: String,
}

impl Outcome {
    /// The last value of output `name`.
    pub fn output(&self, name: &str) -> Option<&str> {
        self.outputs
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Output `name` read as JSON, as `fromJson()` would.
    pub fn json_output(&self, name: &str) -> serde_json::Value {
        let text = self
            .output(name)
            .unwrap_or_else(|| panic!("no output {name}: {:?}", self.outputs));
        serde_json::from_str(text).unwrap_or_else(|e| panic!("output {name} is not JSON: {e}"))
    }

    /// The `::error` lines printed.
    pub fn errors(&self) -> Vec<&str> {
        self.stdout
            .lines()
            .filter(|l| l.starts_with("::error"))
            .collect()
    }

    /// Asserts the step succeeded, showing what it printed otherwise.
    #[track_caller]
    pub fn assert_success(&self) -> &Self {
        assert_eq!(
            self.code, 0,
            "step failed\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// Asserts the step failed with one `::error` annotation containing `text`.
    #[track_caller]
    pub fn assert_failure(&self, text: &str) -> &Self {
        assert_eq!(self.code, 1, "step should fail\nstdout:\n{}", self.stdout);
        let errors = self.errors();
        assert_eq!(errors.len(), 1, "one error annotation: {}", self.stdout);
        assert!(
            errors[0].contains(text),
            "error should contain {text:?}, got {:?}",
            errors[0]
        );
        self
    }
}

impl Step {
    /// A step with the credentials and base URL of `stand_in` and the sample
    /// `workflow_dispatch` event (Port run `r_demo` in `port_context`).
    pub fn new(stand_in: &StandIn) -> Self {
        Self::with_base_url(&stand_in.url())
    }

    /// A step against any base URL.
    pub fn with_base_url(url: &str) -> Self {
        Self::of(Action::Root, url)
    }

    /// The main stage of `track` against `stand_in`: `/port-action track`.
    pub fn track_start(stand_in: &StandIn) -> Self {
        let mut step = Self::of(Action::Track, &stand_in.url())
            .env("GITHUB_REPOSITORY_OWNER_ID", REPOSITORY_OWNER_ID)
            .env("GITHUB_REPOSITORY_ID", REPOSITORY_ID);
        step.args = vec!["track"];
        step
    }

    /// The post stage of `track`: `/port-action-post track`, with the job's status as the
    /// runner evaluates `${{ job.status }}` then, and the state the main stage saved.
    pub fn track_end(stand_in: &StandIn, job_status: &str, state: &[(String, String)]) -> Self {
        let mut step = Self::of(Action::Track, &stand_in.url())
            .env("GITHUB_REPOSITORY_OWNER_ID", REPOSITORY_OWNER_ID)
            .env("GITHUB_REPOSITORY_ID", REPOSITORY_ID)
            .input("jobStatus", job_status);
        step.argv0 = Some(port_action::POST_ENTRYPOINT);
        step.args = vec!["track"];
        for (name, value) in state {
            step = step.env(&format!("STATE_{name}"), value);
        }
        step
    }

    fn of(action: Action, url: &str) -> Self {
        let mut inputs = declared_inputs_of(action);
        // `${{ job.status }}` is `success` while the job's steps all succeed.
        for value in inputs.values_mut() {
            if value == "${{ job.status }}" {
                *value = "success".into();
            }
        }
        inputs.insert("baseUrl".into(), url.to_string());
        inputs.insert("clientId".into(), CLIENT_ID.into());
        inputs.insert("clientSecret".into(), CLIENT_SECRET.into());
        let env = [
            ("CI", "true"),
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_SERVER_URL", "https://github.com"),
            ("GITHUB_API_URL", "https://api.github.com"),
            ("GITHUB_REPOSITORY", "acme/payments"),
            ("GITHUB_RUN_ID", GITHUB_RUN_ID),
            ("GITHUB_RUN_ATTEMPT", "1"),
            ("GITHUB_RUN_NUMBER", "7"),
            ("GITHUB_JOB", "deploy"),
            ("GITHUB_WORKFLOW", "Deploy"),
            ("GITHUB_EVENT_NAME", "workflow_dispatch"),
            ("RUNNER_OS", "Linux"),
            // Asking about a run (its look-up by externalRunId, CREATE_RUN's polls) pauses 10 ms a
            // unit, not 1 s.
            (port_action::ops::LOOKUP_UNIT_VAR, "10"),
            // A second of a retry's wait (backoff, Retry-After) lasts 10 ms.
            (port_action::port::BACKOFF_UNIT_VAR, "10"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        Step {
            action,
            inputs,
            env,
            event: Some(data("workflow_dispatch.json")),
            argv0: None,
            args: Vec::new(),
            via: None,
        }
    }

    /// Runs `command` (`node native/main.js`) instead of the binary, as the runner runs a node
    /// action: same inputs and environment; the binary's own arguments are the command's
    /// business.
    pub fn via(mut self, command: Vec<std::ffi::OsString>) -> Self {
        self.via = Some(command);
        self
    }

    /// Sets an input as `with:` would.
    pub fn input(mut self, name: &str, value: &str) -> Self {
        self.inputs.insert(name.to_string(), value.to_string());
        self
    }

    /// Sets an environment variable.
    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.env.insert(name.to_string(), value.to_string());
        self
    }

    /// Lets retries wait the seconds a released binary waits, not 10 ms a second.
    pub fn real_backoff(mut self) -> Self {
        self.env.remove(port_action::port::BACKOFF_UNIT_VAR);
        self
    }

    /// Sets `GITHUB_WORKSPACE`, the folder the runner mounts as the workspace: file inputs are
    /// relative to it.
    pub fn workspace(self, dir: &Path) -> Self {
        self.env("GITHUB_WORKSPACE", &dir.display().to_string())
    }

    /// Uses another event file (`None`: no `GITHUB_EVENT_PATH`).
    pub fn event(mut self, path: Option<PathBuf>) -> Self {
        self.event = path;
        self
    }

    /// Runs the binary and collects what the runner would see.
    pub fn run(self) -> Outcome {
        self.spawn().wait()
    }

    /// Starts the binary without waiting for it, as the runner does; [`Running::wait`] collects
    /// what the runner would see. `GITHUB_OUTPUT` and `GITHUB_STEP_SUMMARY` point into a temp
    /// dir unless [`Step::env`] set them.
    pub fn spawn(self) -> Running {
        let dir = tempfile::tempdir().expect("temp dir");
        let output_path = PathBuf::from(
            self.env
                .get("GITHUB_OUTPUT")
                .cloned()
                .unwrap_or_else(|| dir.path().join("output").display().to_string()),
        );
        let summary_path = dir.path().join("step_summary");
        let state_path = dir.path().join("state");
        let mut cmd = match &self.via {
            Some(command) => {
                let mut cmd = Command::new(&command[0]);
                cmd.args(&command[1..]);
                cmd
            }
            None => {
                let mut cmd = Command::new(env!("CARGO_BIN_EXE_port-action"));
                if let Some(name) = self.argv0 {
                    std::os::unix::process::CommandExt::arg0(&mut cmd, name);
                }
                cmd.args(&self.args);
                cmd
            }
        };
        cmd.env_clear();
        for (name, value) in &self.inputs {
            cmd.env(
                format!("INPUT_{}", name.replace(' ', "_").to_uppercase()),
                value,
            );
        }
        cmd.env("GITHUB_OUTPUT", &output_path);
        cmd.env("GITHUB_STEP_SUMMARY", &summary_path);
        cmd.env("GITHUB_STATE", &state_path);
        cmd.envs(&self.env);
        if let Some(event) = &self.event {
            cmd.env("GITHUB_EVENT_PATH", event);
        }
        cmd.stdout(std::process::Stdio::piped());
        cmd.stderr(std::process::Stdio::piped());
        let child = cmd.spawn().expect("run port-action");
        Running {
            action: self.action,
            child,
            _dir: dir,
            output_path,
            summary_path,
            state_path,
        }
    }
}

/// A step started with [`Step::spawn`].
pub struct Running {
    action: Action,
    child: std::process::Child,
    _dir: tempfile::TempDir,
    output_path: PathBuf,
    summary_path: PathBuf,
    state_path: PathBuf,
}

impl Running {
    /// Sends `signal` (`libc::SIGTERM`, …) to the step, as the runner does when a job is
    /// cancelled.
    pub fn signal(&self, signal: i32) {
        let pid = self.child.id() as i32;
        // SAFETY: kill(2) on a child this test started and has not yet waited for.
        let rc = unsafe { libc::kill(pid, signal) };
        assert_eq!(rc, 0, "kill {pid}");
    }

    /// Waits for the step to end, at most `limit`; a step still running then is killed and
    /// the test fails.
    pub fn wait_at_most(mut self, limit: std::time::Duration) -> Outcome {
        let started = std::time::Instant::now();
        while self.child.try_wait().expect("wait").is_none() {
            if started.elapsed() > limit {
                let _ = self.child.kill();
                let out = self.child.wait_with_output().expect("wait");
                panic!(
                    "the step was still running after {limit:?}\nstdout:\n{}",
                    String::from_utf8_lossy(&out.stdout)
                );
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        self.wait()
    }

    /// Waits for the step to end and collects what the runner would see.
    pub fn wait(self) -> Outcome {
        let out = self.child.wait_with_output().expect("run port-action");
        // `/dev/full` or a directory, as some tests set, is not read back.
        let outputs_raw = match std::fs::metadata(&self.output_path) {
            Ok(m) if m.is_file() => std::fs::read_to_string(&self.output_path).unwrap_or_default(),
            _ => String::new(),
        };
        let outputs = parse_github_output(&outputs_raw)
            .unwrap_or_else(|e| panic!("the runner would reject the outputs file: {e}"));
        let declared = declared_outputs_of(self.action);
        for (name, _) in &outputs {
            assert!(
                declared.contains(name),
                "output '{name}' is written but {} does not declare it",
                self.action.file()
            );
        }
        let state_raw = std::fs::read_to_string(&self.state_path).unwrap_or_default();
        let state = parse_github_output(&state_raw)
            .unwrap_or_else(|e| panic!("the runner would reject the state file: {e}"));
        Outcome {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            outputs,
            outputs_raw,
            summary: std::fs::read_to_string(&self.summary_path).unwrap_or_default(),
            state,
            state_raw,
        }
    }
}

/// The request lines the stand-in received, e.g. `POST /v1/auth/access_token`.
pub fn lines(stand_in: &StandIn) -> Vec<String> {
    stand_in.requests().iter().map(|r| r.line()).collect()
}

/// Asserts that every request validated against Port's OpenAPI spec.
#[track_caller]
pub fn assert_spec_clean(stand_in: &StandIn) {
    let v = stand_in.spec_violations();
    assert!(v.is_empty(), "requests that Port's spec rejects: {v:#?}");
}

/// A stand-in holding `r_demo`, the run of the sample event, in progress with the workflow's
/// URL as its link.
pub fn stand_in_with_run() -> StandIn {
    let port = StandIn::start();
    port.add_run("r_demo", "IN_PROGRESS", &[WORKFLOW_RUN_URL]);
    port
}

/// The next request whose `METHOD /path` starts with `matches` gets `kind`.
pub fn fault(port: &StandIn, matches: &str, kind: FaultKind) {
    port.push_fault(Fault {
        matches: matches.into(),
        kind,
    });
}

/// Answers the next request whose `METHOD /path` starts with `matches` with `status`.
pub fn respond(
    port: &StandIn,
    matches: &str,
    status: u16,
    headers: &[(&str, &str)],
    body: serde_json::Value,
) {
    let headers = headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    fault(
        port,
        matches,
        FaultKind::Respond {
            status,
            headers,
            body,
        },
    );
}

/// The statuses the stand-in answered, in order (0: reset or hung).
pub fn statuses(port: &StandIn) -> Vec<u16> {
    port.requests().iter().map(|r| r.status).collect()
}

/// A raw TCP server on 127.0.0.1 for what the stand-in cannot be (a proxy, a server that
/// redirects or never stops answering): each connection goes to `serve` on its own thread.
/// Dropping it stops accepting.
pub struct TcpServer {
    pub addr: std::net::SocketAddr,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl TcpServer {
    pub fn start(serve: impl Fn(std::net::TcpStream) + Send + Sync + 'static) -> TcpServer {
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let addr = listener.local_addr().expect("local address");
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopped = stop.clone();
        let serve = std::sync::Arc::new(serve);
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                let serve = serve.clone();
                std::thread::spawn(move || serve(conn));
            }
        });
        TcpServer { addr, stop }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for TcpServer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        // Wakes the accept loop so that it sees the stop.
        let _ = std::net::TcpStream::connect(self.addr);
    }
}

/// Reads from `conn` until the end of a request head (`\r\n\r\n`) or of the stream; returns
/// everything read, which may run past the head.
pub fn read_head(conn: &mut std::net::TcpStream) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = conn.read(&mut buf)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    Ok(head)
}

/// A stand-in holding `r_demo` whose bulk route for blueprint `service` meets `kind` from the
/// second request on (four times), decided before the first answer leaves so that no request
/// slips through in between.
pub fn stand_in_whose_second_bulk_batch_gets(kind: FaultKind) -> std::sync::Arc<StandIn> {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, OnceLock, Weak};
    const ROUTE: &str = "POST /v1/blueprints/service/entities/bulk";
    let slot: Arc<OnceLock<Weak<StandIn>>> = Arc::default();
    let armed_on = slot.clone();
    let armed = AtomicBool::new(false);
    let port = Arc::new(StandIn::start_with(port_stand_in::Options {
        on_request: Some(Arc::new(move |r| {
            let first = format!("{} {}", r.method, r.path) == ROUTE
                && r.status == 200
                && !armed.swap(true, Ordering::SeqCst);
            if let Some(port) = armed_on.get().and_then(Weak::upgrade).filter(|_| first) {
                for _ in 0..4 {
                    fault(&port, ROUTE, kind.clone());
                }
            }
        })),
        ..port_stand_in::Options::default()
    }));
    slot.set(Arc::downgrade(&port)).ok();
    port.add_run("r_demo", "IN_PROGRESS", &[WORKFLOW_RUN_URL]);
    port
}

/// Waits until `port` holds `count` entities of `blueprint` (a request carried out), at most
/// 20 s.
#[track_caller]
pub fn wait_for_entities(port: &StandIn, blueprint: &str, count: usize) {
    let started = std::time::Instant::now();
    while port.entities(blueprint).len() < count {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "Port never held {count} entities of {blueprint}"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}
