//! The binary started by a person rather than the runner: `port-action --help` and
//! `--version` answer and send nothing, and a run by hand needs only the variables the README
//! names.

use std::process::Command;

use port_stand_in::{StandIn, CLIENT_ID, CLIENT_SECRET};

/// Runs the binary with `arg`, with the inputs of an UPSERT against `port` set.
fn run_with(port: &StandIn, arg: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_port-action"))
        .arg(arg)
        .env_clear()
        .env("INPUT_BASEURL", port.url())
        .env("INPUT_CLIENTID", CLIENT_ID)
        .env("INPUT_CLIENTSECRET", CLIENT_SECRET)
        .env("INPUT_BLUEPRINT", "service")
        .env("INPUT_IDENTIFIER", "payments")
        .output()
        .expect("run port-action")
}

#[test]
fn help_prints_the_usage_and_sends_nothing() {
    let port = StandIn::start();
    for arg in ["--help", "-h"] {
        let out = run_with(&port, arg);
        assert_eq!(out.status.code(), Some(0), "{arg}: {out:?}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.starts_with("port-action: "), "{stdout}");
        assert!(stdout.contains("Usage:\n  port-action "), "{stdout}");
        assert!(stdout.contains("INPUT_CLIENTID"), "{stdout}");
        assert!(!stdout.contains("::"), "no workflow command: {stdout}");
        assert!(out.stderr.is_empty(), "{out:?}");
    }
    assert!(port.requests().is_empty(), "{:?}", port.requests());
}

#[test]
fn version_prints_the_version_and_sends_nothing() {
    let port = StandIn::start();
    for arg in ["--version", "-V"] {
        let out = run_with(&port, arg);
        assert_eq!(out.status.code(), Some(0), "{arg}: {out:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("port-action {}\n", env!("CARGO_PKG_VERSION"))
        );
    }
    assert!(port.requests().is_empty(), "{:?}", port.requests());
}

#[test]
fn a_run_by_hand_with_only_the_variables_the_readme_names_reports_to_the_run() {
    let port = StandIn::start();
    port.add_run("r_demo", "IN_PROGRESS", &[]);
    let dir = tempfile::tempdir().unwrap();
    let event = dir.path().join("event.json");
    std::fs::write(
        &event,
        r#"{"inputs": {"port_context": "{\"runId\": \"r_demo\"}"}}"#,
    )
    .unwrap();
    let (output, summary) = (dir.path().join("output"), dir.path().join("summary"));
    let out = Command::new(env!("CARGO_BIN_EXE_port-action"))
        .env_clear()
        .env("INPUT_BASEURL", port.url())
        .env("INPUT_CLIENTID", CLIENT_ID)
        .env("INPUT_CLIENTSECRET", CLIENT_SECRET)
        .env("INPUT_OPERATION", "PATCH_RUN")
        .env("INPUT_LOGMESSAGE", "Hello from my machine")
        .env("INPUT_STATUS", "success")
        .env("GITHUB_EVENT_NAME", "workflow_dispatch")
        .env("GITHUB_EVENT_PATH", &event)
        .env("GITHUB_OUTPUT", &output)
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("GITHUB_SERVER_URL", "https://github.com")
        .env("GITHUB_REPOSITORY", "acme/payments")
        .env("GITHUB_RUN_ID", "1234")
        .env("GITHUB_JOB", "deploy")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("Port run r_demo (from inputs.port_context.runId)"),
        "{stdout}"
    );
    assert_eq!(port.run("r_demo").unwrap()["status"], "SUCCESS");
    assert_eq!(port.logs("r_demo")[0]["message"], "Hello from my machine");
    let outputs =
        port_action::runner::parse_github_output(&std::fs::read_to_string(&output).unwrap())
            .unwrap();
    let names: Vec<&str> = outputs.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["runId", "runUrl", "logMessage", "link"]);
    assert!(std::fs::read_to_string(&summary)
        .unwrap()
        .starts_with("### Port: PATCH_RUN"));
}
