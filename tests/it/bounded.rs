//! Bounded whatever the workspace holds: a named pipe given as a file is refused at once,
//! before anything blocks or is sent, and lists too long for an output go to a file in the
//! workspace instead of into `$GITHUB_OUTPUT`.

use std::path::Path;
use std::time::Duration;

use port_stand_in::StandIn;
use serde_json::{json, Value};

use crate::support::{lines, Step};

/// Makes a named pipe at `path`. Opening it for reading blocks until a writer comes.
fn mkfifo(path: &Path) {
    use std::os::unix::ffi::OsStrExt as _;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path; mkfifo(3) only creates a file.
    let rc = unsafe { libc::mkfifo(c.as_ptr(), 0o600) };
    assert_eq!(rc, 0, "mkfifo {}", path.display());
}

#[test]
fn an_entities_file_that_is_a_named_pipe_is_refused_at_once() {
    let port = StandIn::start();
    let ws = tempfile::tempdir().unwrap();
    mkfifo(&ws.path().join("entities.ndjson"));
    let out = Step::new(&port)
        .event(None)
        .workspace(ws.path())
        .input("operation", "BULK_UPSERT")
        .input("blueprint", "service")
        .input("entitiesFile", "entities.ndjson")
        .spawn()
        .wait_at_most(Duration::from_secs(20));
    assert_eq!(
        out.errors(),
        [
            "::error title=port-action failed::input 'entitiesFile' is 'entities.ndjson', a \
             named pipe (FIFO), not a regular file: a named pipe or a device can block the \
             step for ever; write the entities to a file first"
        ],
        "{}",
        out.stdout
    );
    assert!(port.requests().is_empty(), "{:?}", lines(&port));
}

#[test]
fn an_output_file_that_is_a_named_pipe_is_refused_at_once() {
    let port = StandIn::start();
    port.add_entity("service", json!({"identifier": "payments"}));
    let ws = tempfile::tempdir().unwrap();
    mkfifo(&ws.path().join("entity.json"));
    let out = Step::new(&port)
        .event(None)
        .workspace(ws.path())
        .input("operation", "GET")
        .input("blueprint", "service")
        .input("identifier", "payments")
        .input("outputFile", "entity.json")
        .spawn()
        .wait_at_most(Duration::from_secs(20));
    assert_eq!(
        out.errors(),
        [
            "::error title=port-action failed::input 'outputFile' is 'entity.json', a named \
             pipe (FIFO), not a regular file: a named pipe or a device can block the step for \
             ever; write a path where a regular file can be written"
        ],
        "{}",
        out.stdout
    );
    assert!(port.requests().is_empty(), "{:?}", lines(&port));
}

/// The JSON in the file that output `name` names, in the workspace `ws`.
fn list_file(ws: &Path, out: &crate::support::Outcome, name: &str) -> Value {
    let file = out
        .output(name)
        .unwrap_or_else(|| panic!("no output {name}: {:?}", out.outputs));
    let text = std::fs::read_to_string(ws.join(file)).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// A BULK_UPSERT step of blueprint `service` outside a run, from `text` written to
/// `entities.ndjson` in the workspace `ws`.
fn bulk_of(port: &StandIn, ws: &Path, text: &str) -> Step {
    std::fs::write(ws.join("entities.ndjson"), text).unwrap();
    Step::new(port)
        .event(None)
        .workspace(ws)
        .input("operation", "BULK_UPSERT")
        .input("blueprint", "service")
        .input("entitiesFile", "entities.ndjson")
}

#[test]
fn a_failed_list_over_the_output_cap_goes_to_a_file_named_by_an_output() {
    let port = StandIn::start();
    let ws = tempfile::tempdir().unwrap();
    // 4,000 lines that are not JSON: each a failure of some 120 bytes, 480 KiB in all.
    let mut text = String::from("{\"identifier\": \"good\"}\n");
    for i in 0..4000 {
        text.push_str(&format!("not json {i}\n"));
    }
    let out = bulk_of(&port, ws.path(), &text)
        .env("GITHUB_ACTION", "sync")
        .run();
    assert_eq!(out.code, 1, "{}", out.stdout);
    // The small list is an output as ever; the long one is left out, not cut.
    assert_eq!(out.json_output("identifiers"), json!(["good"]));
    assert_eq!(out.output("identifiersFile"), None);
    assert_eq!(out.output("failed"), None);
    assert_eq!(
        out.output("failedFile"),
        Some(".port-action/sync-failed.json")
    );
    let failed = list_file(ws.path(), &out, "failedFile");
    let failed = failed.as_array().unwrap();
    assert_eq!(failed.len(), 4000);
    assert_eq!(failed[0]["index"], 1);
    assert_eq!(failed[3999]["index"], 4000);
    assert_eq!(failed[3999]["error"], "invalid_json");
    assert!(
        out.outputs_raw.len() < 64 * 1024,
        "{} bytes of outputs",
        out.outputs_raw.len()
    );
    let warning = out
        .stdout
        .lines()
        .find(|l| l.starts_with("::warning title=Output left out::"))
        .unwrap_or_else(|| panic!("no warning: {}", out.stdout));
    assert!(
        warning.contains("Output 'failed' is ")
            && warning.contains(
                "over the 256 KiB it may carry (GitHub keeps 1 MiB of outputs per job): it is \
                 left out; the whole list is in file \".port-action/sync-failed.json\" (output \
                 'failedFile')"
            ),
        "{warning}"
    );
}

#[test]
fn an_identifiers_list_over_the_output_cap_goes_to_a_file_named_by_an_output() {
    let port = StandIn::start();
    let ws = tempfile::tempdir().unwrap();
    // 1,800 identifiers of 150 characters: some 270 KiB of JSON, in 90 batches.
    let mut text = String::new();
    for i in 0..1800 {
        text.push_str(&format!("{{\"identifier\": \"{i:0>150}\"}}\n"));
    }
    let out = bulk_of(&port, ws.path(), &text)
        .input("concurrency", "8")
        .run();
    out.assert_success();
    assert_eq!(out.json_output("failed"), json!([]));
    assert_eq!(out.output("identifiers"), None);
    // Without GITHUB_ACTION the file is named for a step.
    assert_eq!(
        out.output("identifiersFile"),
        Some(".port-action/step-identifiers.json")
    );
    let ids = list_file(ws.path(), &out, "identifiersFile");
    let ids = ids.as_array().unwrap();
    assert_eq!(ids.len(), 1800);
    assert_eq!(ids[1799], format!("{:0>150}", 1799));
    assert!(
        out.stdout.contains("Output 'identifiers' is "),
        "{}",
        out.stdout
    );
}
