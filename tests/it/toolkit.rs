//! What the runner's toolkit guarantees, checked on the real binary: the client secret is
//! masked before anything else is printed, and the outputs file's delimiters cannot be
//! guessed from one run to the next.

use std::collections::HashSet;

use port_stand_in::{StandIn, CLIENT_SECRET};

use crate::support::{stand_in_with_run, Outcome, Step};

fn upsert(port: &StandIn) -> Step {
    Step::new(port)
        .input("blueprint", "service")
        .input("identifier", "payments")
        .input("properties", r#"{"replicas": 3}"#)
        .env("RUNNER_DEBUG", "1")
}

/// The delimiters of the heredoc records in the outputs file, in order.
fn delimiters(out: &Outcome) -> Vec<String> {
    out.outputs_raw
        .lines()
        .filter_map(|l| l.split_once("<<").map(|(_, d)| d.to_string()))
        .collect()
}

#[test]
fn the_client_secret_is_masked_before_anything_else_is_printed() {
    let port = stand_in_with_run();
    let out = upsert(&port).run();
    out.assert_success();
    let first = out.stdout.lines().next().unwrap_or_default();
    assert_eq!(
        first,
        format!("::add-mask::{CLIENT_SECRET}"),
        "{}",
        out.stdout
    );
}

#[test]
fn a_multiline_client_secret_is_masked_whole_and_line_by_line_first() {
    let port = stand_in_with_run();
    let out = upsert(&port)
        .input("clientSecret", "first-line%\nsecond:line")
        .run();
    // Port refuses the secret; what matters is what was printed before anything else.
    assert_eq!(out.code, 1, "{}", out.stdout);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines[..3],
        [
            "::add-mask::first-line%25%0Asecond:line",
            "::add-mask::first-line%25",
            "::add-mask::second:line",
        ][..],
        "{}",
        out.stdout
    );
    // Then its encoded forms are masked; nothing after shows any part of it.
    let rest = lines[3..]
        .iter()
        .skip_while(|l| l.starts_with("::add-mask::"));
    for line in rest {
        assert!(
            !line.contains("first-line") && !line.contains("second:line"),
            "{line}"
        );
    }
}

#[test]
fn no_run_reuses_a_delimiter_of_another() {
    let port = stand_in_with_run();
    let first = upsert(&port).run();
    let second = upsert(&port).run();
    first.assert_success();
    second.assert_success();
    let all: Vec<String> = delimiters(&first)
        .into_iter()
        .chain(delimiters(&second))
        .collect();
    assert!(all.len() >= 8, "{all:?}");
    for d in &all {
        let hex = d
            .strip_prefix("ghadelimiter_")
            .unwrap_or_else(|| panic!("{d}"));
        assert!(
            hex.len() == 32 && hex.chars().all(|c| c.is_ascii_hexdigit()),
            "{d}"
        );
    }
    let distinct: HashSet<&String> = all.iter().collect();
    assert_eq!(distinct.len(), all.len(), "{all:?}");
}

#[test]
fn the_client_secret_is_masked_before_an_input_error_is_printed() {
    let port = stand_in_with_run();
    for step in [
        upsert(&port).input("operation", "UPSERTT"),
        Step::track_start(&port)
            .input("finish", "sometimes")
            .input("failOnError", "true"),
    ] {
        let out = step.run();
        assert_eq!(out.code, 1, "{}", out.stdout);
        let lines: Vec<&str> = out.stdout.lines().collect();
        assert_eq!(
            lines[0],
            format!("::add-mask::{CLIENT_SECRET}"),
            "{}",
            out.stdout
        );
        assert!(
            lines[1..].iter().any(|l| l.starts_with("::error")),
            "{}",
            out.stdout
        );
        assert!(port.requests().is_empty());
    }
}
