//! The demo as a newcomer runs it: its output reads as the runner's log, with no secret and no
//! raw workflow command in it.

use std::process::Command;

#[test]
fn the_demo_shows_the_log_as_the_runner_does_with_no_secret_in_it() {
    let out = Command::new(env!("CARGO_BIN_EXE_demo"))
        .output()
        .expect("the demo runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");

    for secret in [port_stand_in::CLIENT_SECRET, "stand-in-token-"] {
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "{secret} printed:\n{stdout}"
        );
    }
    assert!(
        !stdout.lines().any(|l| l.trim_start().starts_with("::")),
        "a raw workflow command is printed:\n{stdout}"
    );
    assert!(
        stdout.starts_with("port-action demo: everything runs on this machine"),
        "{stdout}"
    );
    assert!(
        stdout.contains(r#"{"clientId":"stand-in-client-id","clientSecret":"***"}"#),
        "{stdout}"
    );
    assert!(
        stdout.contains("Every request validated against Port's OpenAPI spec."),
        "{stdout}"
    );
}
