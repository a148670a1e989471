//! The binary asked by a person: `port-action --help` and `--version` answer and send nothing,
//! whatever `INPUT_*` variables are set.

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
