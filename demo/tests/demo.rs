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

#[test]
fn the_demo_runs_tracks_two_stages_and_shows_the_summary_as_read() {
    let out = Command::new(env!("CARGO_BIN_EXE_demo"))
        .output()
        .expect("the demo runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    let step = |n: usize| {
        let start = stdout
            .find(&format!("=== Step {n}: "))
            .unwrap_or_else(|| panic!("no step {n}:\n{stdout}"));
        let end = stdout[start + 1..]
            .find("\n=== ")
            .map_or(stdout.len(), |e| start + 1 + e);
        &stdout[start..end]
    };
    // track's start: the job's line and its URL on the run, the run saved for the post step.
    let start = step(1);
    assert!(start.contains("track, where the step stands"), "{start}");
    assert!(
        start.contains(r#"{"message":"GitHub Actions job `deploy` started (attempt 1)"}"#),
        "{start}"
    );
    assert!(start.contains("portRunId = r_demo"), "{start}");
    // track's post step finishes the run from the job's status.
    let end = step(3);
    assert!(end.contains("track's post step"), "{end}");
    assert!(end.contains(r#"{"status":"SUCCESS","statusLabel":"Succeeded","summary":"GitHub Actions job `deploy` in acme/payments succeeded after "#), "{end}");
    // The summary as its reader sees it: no Markdown escapes, no link syntax.
    assert!(
        end.contains(
            "- Run summary: GitHub Actions job `deploy` in acme/payments succeeded after "
        ),
        "{end}"
    );
    assert!(end.contains("finished: SUCCESS (Succeeded)\n"), "{end}");
    let summaries: Vec<&str> = stdout
        .split("--- job summary")
        .skip(1)
        .map(|s| s.split("\n===").next().unwrap_or(s))
        .collect();
    assert_eq!(summaries.len(), 3, "{stdout}");
    for summary in summaries {
        assert!(
            !summary.contains('\\') && !summary.contains("](") && !summary.contains("**"),
            "Markdown shown raw:\n{summary}"
        );
    }
    assert!(
        stdout.contains("\"status\": \"SUCCESS\""),
        "the run ends SUCCESS:\n{stdout}"
    );
}
