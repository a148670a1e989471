//! port-action/native: the launcher (`native/*.js`) run with `node`, as the runner runs a
//! node24 action, in front of the real binary and the stand-in. Two ways to find the binary:
//! `PORT_ACTION_BINARY` (a branch, tests, benchmarks), and a release's layout, built here in a
//! temporary copy of `native/` with `bin/<platform>-<arch>/` and `SHA256SUMS`. Whatever stops
//! the launcher from running the right binary must say so in one error and send nothing.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use port_stand_in::{FaultKind, StandIn};
use serde_json::json;

use crate::support::{
    assert_spec_clean, data, fault, lines, stand_in_with_run, Outcome, Step, JOB_URL,
    WORKFLOW_RUN_URL,
};
use crate::track::stand_in_with_dispatched_run;

const TOKEN: &str = "POST /v1/auth/access_token";
const UPSERT: &str = "POST /v1/blueprints/service/entities";

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// `node`, found on `PATH` (the runner brings its own; the tests need one installed).
fn node() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("node"))
        .find(|p| p.is_file())
        .expect("the native launcher's tests need node on PATH")
}

/// `node SCRIPT`, where SCRIPT is relative to `root` (a `native/` folder).
fn launcher(root: &Path, script: &str) -> Vec<OsString> {
    vec![node().into(), root.join(script).into()]
}

/// The binary under test.
fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_port-action")
}

/// `<platform>-<arch>` as node's `process.platform` and `process.arch` name this machine.
fn platform_key() -> String {
    let platform = match std::env::consts::OS {
        "macos" => "darwin",
        "windows" => "win32",
        other => other,
    };
    let arch = match std::env::consts::ARCH {
        "x86_64" => "x64",
        "aarch64" => "arm64",
        other => other,
    };
    format!("{platform}-{arch}")
}

fn sha256_hex(file: &Path) -> String {
    let out = std::process::Command::new(node())
        .args([
            "-e",
            "process.stdout.write(require('crypto').createHash('sha256')\
             .update(require('fs').readFileSync(process.argv[1])).digest('hex'))",
        ])
        .arg(file)
        .output()
        .expect("node computes a SHA-256");
    String::from_utf8(out.stdout).unwrap()
}

/// A copy of `native/` as a release commit holds it: the launcher's files, the binary of this
/// platform at `bin/<platform>-<arch>/port-action` (not executable, as a zipball leaves it)
/// and `SHA256SUMS`. `sum` replaces the binary's true SHA-256 when given.
struct Release {
    dir: tempfile::TempDir,
    rel: String,
}

impl Release {
    fn new() -> Release {
        let dir = tempfile::tempdir().unwrap();
        copy_tree(&repo("native"), dir.path());
        let rel = format!("bin/{}/port-action", platform_key());
        let bin = dir.path().join(&rel);
        std::fs::create_dir_all(bin.parent().unwrap()).unwrap();
        std::fs::copy(binary(), &bin).unwrap();
        set_mode(&bin, 0o644);
        let release = Release { dir, rel };
        release.write_sum(&sha256_hex(&bin));
        release
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn binary(&self) -> PathBuf {
        self.root().join(&self.rel)
    }

    /// Writes SHA256SUMS with `sum` for this platform's binary, and the line of another one.
    fn write_sum(&self, sum: &str) {
        let other = "0".repeat(64);
        std::fs::write(
            self.root().join("SHA256SUMS"),
            format!(
                "{other}  bin/win32-x64/port-action.exe\n{sum}  {}\n",
                self.rel
            ),
        )
        .unwrap();
    }
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn set_mode(file: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(file, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A step of the root action through the launcher of `native/` in the repository, with
/// `PORT_ACTION_BINARY` naming the binary under test.
fn with_named_binary(step: Step, script: &str) -> Step {
    step.env("PORT_ACTION_BINARY", binary())
        .via(launcher(&repo("native"), script))
}

fn upsert(port: &StandIn) -> Step {
    Step::new(port)
        .input("operation", "UPSERT")
        .input("blueprint", "service")
        .input("identifier", "payments")
        .input("properties", r#"{"language":"Rust"}"#)
}

/// Asserts the launcher refused with one error containing each of `texts`, and nothing reached
/// the stand-in.
#[track_caller]
fn assert_refused(out: &Outcome, port: &StandIn, texts: &[&str]) {
    assert_eq!(out.code, 1, "{}", out.stdout);
    let errors = out.errors();
    assert_eq!(errors.len(), 1, "one error: {}", out.stdout);
    assert!(
        errors[0].starts_with("::error title=port-action/native::"),
        "{}",
        errors[0]
    );
    for text in texts {
        assert!(errors[0].contains(text), "{text:?} in {}", errors[0]);
    }
    assert!(errors[0].ends_with("nothing was sent"), "{}", errors[0]);
    assert_eq!(lines(port), Vec::<String>::new(), "nothing is sent");
    assert!(out.outputs.is_empty());
}

#[test]
fn an_upsert_through_the_launcher_runs_the_binary_named_by_port_action_binary() {
    let port = stand_in_with_run();
    let out = with_named_binary(upsert(&port), "main.js").run();
    out.assert_success();
    assert_eq!(out.output("identifier"), Some("payments"));
    let sent = lines(&port);
    assert_eq!(sent[0], TOKEN);
    assert!(sent[1].starts_with(UPSERT), "{sent:?}");
    assert!(sent[1].contains("run_id=r_demo"), "{sent:?}");
    assert_eq!(
        port.entity("service", "payments").unwrap()["properties"],
        json!({"language": "Rust"})
    );
    assert!(out.summary.contains("payments"), "{}", out.summary);
    // The launcher says, once, that it runs a binary it did not check.
    let first = out.stdout.lines().next().unwrap();
    assert_eq!(
        first,
        format!(
            "port-action/native: running \"{}\" from PORT_ACTION_BINARY, without a SHA-256 \
             check (only a release's own binaries are checked)",
            binary()
        )
    );
    assert_spec_clean(&port);
}

#[test]
fn a_patch_run_through_a_release_layout_checks_the_binary_makes_it_executable_and_runs_it() {
    let release = Release::new();
    let port = stand_in_with_run();
    let out = Step::new(&port)
        .input("operation", "PATCH_RUN")
        .input("logMessage", "Deployed")
        .input("status", "SUCCESS")
        .via(launcher(release.root(), "main.js"))
        .run();
    out.assert_success();
    assert_eq!(out.output("runId"), Some("r_demo"));
    assert_eq!(
        out.json_output("link"),
        json!([WORKFLOW_RUN_URL, JOB_URL]),
        "{}",
        out.stdout
    );
    let run = port.run("r_demo").unwrap();
    assert_eq!(run["status"], "SUCCESS");
    assert_eq!(port.logs("r_demo")[0]["message"], "Deployed");
    assert!(out.summary.contains("SUCCESS"), "{}", out.summary);
    let sum = sha256_hex(&release.binary());
    assert!(
        out.stdout.starts_with(&format!(
            "::debug::port-action/native: {}, SHA-256 {sum} as in SHA256SUMS\n",
            release.rel
        )),
        "{}",
        out.stdout
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(release.binary())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o111, 0o111, "made executable: {mode:o}");
    assert_spec_clean(&port);
}

#[test]
fn track_through_the_launcher_passes_the_state_and_finishes_the_run_from_job_status() {
    let release = Release::new();
    for (job_status, want) in [("success", "SUCCESS"), ("failure", "FAILURE")] {
        let port = stand_in_with_dispatched_run();
        let start = Step::track_start(&port)
            .event(Some(data("workflow_dispatch_no_port.json")))
            .via(launcher(release.root(), "track/main.js"))
            .run();
        start.assert_success();
        assert_eq!(start.output("runId"), Some("r_gh"));
        assert_eq!(port.run("r_gh").unwrap()["status"], "IN_PROGRESS");
        let end = Step::track_end(&port, job_status, &start.state)
            .event(Some(data("workflow_dispatch_no_port.json")))
            .via(launcher(release.root(), "track/post.js"))
            .run();
        end.assert_success();
        let run = port.run("r_gh").unwrap();
        assert_eq!(run["status"], want, "{job_status}: {}", end.stdout);
        assert_eq!(run["link"], json!([WORKFLOW_RUN_URL, JOB_URL]));
        // The post stage reads the run id from the state: it never looks the run up again.
        let sent = lines(&port);
        let finds = sent
            .iter()
            .filter(|l| l.contains("external_run_id"))
            .count();
        assert_eq!(finds, 1, "{sent:?}");
        assert!(
            end.summary.contains(&format!("finished: **{want}**")),
            "{}",
            end.summary
        );
        assert_spec_clean(&port);
    }
}

#[test]
fn the_launcher_passes_arguments_environment_output_and_exit_code_through_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("port-action");
    std::fs::write(
        &fake,
        "#!/bin/sh\n\
         printf '%s\\n' \"args=$*\" \"op=$INPUT_OPERATION\" \"state=$STATE_portRunId\" '::notice::as is'\n\
         printf 'to stderr\\n' >&2\n\
         exit 7\n",
    )
    .unwrap();
    set_mode(&fake, 0o755);
    let port = StandIn::start();
    let fake_path = fake.display().to_string();
    for (script, args) in [
        ("main.js", "args="),
        ("track/main.js", "args=track"),
        ("track/post.js", "args=track --post"),
    ] {
        let out = Step::new(&port)
            .input("operation", "GET")
            .env("STATE_portRunId", "r_1")
            .env("PORT_ACTION_BINARY", &fake_path)
            .via(launcher(&repo("native"), script))
            .run();
        assert_eq!(out.code, 7, "{script}: {}", out.stdout);
        let printed: Vec<&str> = out.stdout.lines().skip(1).collect();
        assert_eq!(printed, [args, "op=GET", "state=r_1", "::notice::as is"]);
        assert_eq!(out.stderr, "to stderr\n");
    }
    // And the real binary's failure is the step's: exit code 1 and its one error.
    let out = with_named_binary(Step::new(&port).input("operation", "FROB"), "main.js").run();
    out.assert_failure("input 'operation'");
    assert_eq!(lines(&port), Vec::<String>::new());
}

#[test]
fn sigint_or_sigterm_to_the_launcher_reaches_the_binary_which_says_it_was_cancelled() {
    for (signal, name) in [(libc::SIGTERM, "SIGTERM"), (libc::SIGINT, "SIGINT")] {
        let port = stand_in_with_run();
        // The entity's request is never answered: the step waits until it is stopped.
        fault(&port, UPSERT, FaultKind::Hang);
        let running = with_named_binary(upsert(&port), "main.js")
            .input("status", "SUCCESS")
            .input("requestTimeout", "60s")
            .input("timeout", "120s")
            .spawn();
        let started = Instant::now();
        while !lines(&port).iter().any(|l| l == TOKEN) {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "no token request"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(300));
        running.signal(signal);
        let out = running.wait_at_most(Duration::from_secs(20));
        assert_eq!(out.code, 1, "{}", out.stdout);
        assert!(
            out.summary.contains(&format!("cancelled ({name})")),
            "{name}: {}\n{}",
            out.summary,
            out.stdout
        );
        let last = out.errors().pop().unwrap_or_default();
        assert!(
            last.contains(&format!("the step was cancelled ({name})")),
            "{}",
            out.stdout
        );
        // Cancelled: no status is sent.
        assert_eq!(port.run("r_demo").unwrap()["status"], "IN_PROGRESS");
    }
}

#[test]
fn a_binary_whose_hash_differs_from_sha256sums_is_not_run() {
    let release = Release::new();
    let wrong = "ab".repeat(32);
    release.write_sum(&wrong);
    let port = stand_in_with_run();
    let out = upsert(&port).via(launcher(release.root(), "main.js")).run();
    let actual = sha256_hex(&release.binary());
    assert_refused(
        &out,
        &port,
        &[
            &format!("{} has SHA-256 {actual}", release.rel),
            &format!("but SHA256SUMS expects {wrong}"),
            "re-run the job",
            "getport-community/port-action/native@v1",
        ],
    );
    // No line at all for this platform's binary is refused the same way.
    std::fs::write(release.root().join("SHA256SUMS"), "").unwrap();
    let out = upsert(&port).via(launcher(release.root(), "main.js")).run();
    assert_refused(
        &out,
        &port,
        &[&format!("expected a line for {} in", release.rel)],
    );
}

#[test]
fn a_missing_binary_is_one_clear_error_and_nothing_is_sent() {
    let port = stand_in_with_run();
    // A release whose binary is gone.
    let release = Release::new();
    std::fs::remove_file(release.binary()).unwrap();
    let out = upsert(&port).via(launcher(release.root(), "main.js")).run();
    assert_refused(
        &out,
        &port,
        &[
            &format!("expected the binary {}", release.rel),
            "(SHA256SUMS lists it), but it is missing",
        ],
    );
    // The branch: no binaries at all, and no PORT_ACTION_BINARY.
    let out = upsert(&port)
        .via(launcher(&repo("native"), "main.js"))
        .run();
    assert_refused(
        &out,
        &port,
        &[
            &format!("expected the binary bin/{}/port-action", platform_key()),
            "only a release carries the binaries",
            "native@v1 (or @vX.Y.Z)",
            "set PORT_ACTION_BINARY",
        ],
    );
    // PORT_ACTION_BINARY naming nothing.
    let out = upsert(&port)
        .env("PORT_ACTION_BINARY", "/nonexistent/port-action")
        .via(launcher(&repo("native"), "track/main.js"))
        .run();
    assert_refused(
        &out,
        &port,
        &[r#"PORT_ACTION_BINARY is "/nonexistent/port-action", which does not exist"#],
    );
}

#[test]
fn sha256sums_in_binary_mode_or_with_crlf_line_ends_is_read_as_sha256sum_writes_it() {
    let release = Release::new();
    let sum = sha256_hex(&release.binary()).to_uppercase();
    std::fs::write(
        release.root().join("SHA256SUMS"),
        format!("{sum} *{}\r\n", release.rel),
    )
    .unwrap();
    let port = stand_in_with_run();
    let out = upsert(&port).via(launcher(release.root(), "main.js")).run();
    out.assert_success();
    assert_eq!(out.output("identifier"), Some("payments"));
}

#[test]
fn a_binary_that_cannot_start_or_be_checked_is_one_error() {
    let port = stand_in_with_run();
    // Not executable, and named by PORT_ACTION_BINARY: run as it is, so it cannot start.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("port-action");
    std::fs::copy(binary(), &copy).unwrap();
    set_mode(&copy, 0o644);
    let out = upsert(&port)
        .env("PORT_ACTION_BINARY", &copy.display().to_string())
        .via(launcher(&repo("native"), "main.js"))
        .run();
    assert_refused(
        &out,
        &port,
        &[&format!(
            "cannot start {} (EACCES): it must be an executable port-action binary",
            copy.display()
        )],
    );
    // A SHA256SUMS that cannot be read (a directory).
    let release = Release::new();
    std::fs::remove_file(release.root().join("SHA256SUMS")).unwrap();
    std::fs::create_dir(release.root().join("SHA256SUMS")).unwrap();
    let out = upsert(&port).via(launcher(release.root(), "main.js")).run();
    assert_refused(
        &out,
        &port,
        &["cannot check the port-action binary in", "EISDIR"],
    );
}

#[test]
fn a_platform_without_a_binary_is_named_with_the_ones_that_have_one() {
    let release = Release::new();
    let script = format!(
        "try {{ require({launcher:?}).resolveBinary({{ root: {root:?}, platform: 'freebsd', \
         arch: 'x64', env: {{}} }}); }} catch (e) {{ console.log(e.message); }}",
        launcher = release.root().join("launcher.js").display().to_string(),
        root = release.root().display().to_string(),
    );
    let out = std::process::Command::new(node())
        .args(["-e", &script])
        .output()
        .unwrap();
    let message = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        message.trim_end(),
        "no port-action binary for freebsd x64: port-action/native ships binaries for Linux \
         (x64, arm64), macOS (x64, arm64) and Windows (x64); run the job on one of these, or \
         use the container action getport-community/port-action on a Linux runner with \
         Docker; nothing was sent"
    );
}

/// Natively `GITHUB_WORKSPACE` is the runner's host path, and a Windows tool writes CRLF: an
/// NDJSON file named by its absolute host path, with CRLF line ends, is read as written.
#[test]
fn an_entities_file_with_crlf_named_by_its_host_path_is_read_as_written() {
    let ws = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(ws.path().join("port")).unwrap();
    let file = ws.path().join("port/entities.ndjson");
    std::fs::write(
        &file,
        "{\"identifier\":\"a\",\"blueprint\":\"service\"}\r\n\r\n\
         {\"identifier\":\"b\",\"blueprint\":\"service\",\r\n\
         {\"identifier\":\"c\",\"blueprint\":\"service\",\"title\":\"C\"}\r\n",
    )
    .unwrap();
    let port = StandIn::start();
    let out = with_named_binary(
        Step::new(&port)
            .event(None)
            .workspace(ws.path())
            .input("operation", "BULK_UPSERT")
            .input("entitiesFile", &file.display().to_string()),
        "main.js",
    )
    .run();
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert_eq!(out.json_output("identifiers"), json!(["a", "c"]));
    // The bad line is reported by its own number: CRLF counts as one line end.
    let failed = out.json_output("failed");
    assert_eq!(failed[0]["index"], 1);
    assert!(
        failed[0]["message"]
            .as_str()
            .unwrap()
            .starts_with("line 3: not valid JSON"),
        "{failed}"
    );
    assert_eq!(port.entity("service", "c").unwrap()["title"], "C");
    assert_spec_clean(&port);
}
