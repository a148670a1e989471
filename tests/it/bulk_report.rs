//! What a BULK_UPSERT tells its reader: the job summary's count of batches, and how an
//! entity that was not written is numbered (its `index` from 0, its line in a file from 1).

use port_stand_in::StandIn;
use serde_json::json;

use crate::support::Step;

/// A BULK_UPSERT of `service` entities outside a Port run.
fn bulk(port: &StandIn) -> Step {
    Step::new(port)
        .event(None)
        .input("operation", "BULK_UPSERT")
        .input("blueprint", "service")
}

#[test]
fn one_batch_is_one_batch_in_the_summary() {
    let port = StandIn::start();
    let out = bulk(&port)
        .input("entities", r#"[{"identifier": "payments"}]"#)
        .run();
    out.assert_success();
    assert!(
        out.summary
            .contains("Bulk upsert: 1 of 1 entities written in 1 batch\n"),
        "{}",
        out.summary
    );
}

#[test]
fn a_bad_line_is_index_from_0_and_line_from_1_as_the_readme_says() {
    let port = StandIn::start();
    let ws = tempfile::tempdir().unwrap();
    std::fs::write(
        ws.path().join("e.ndjson"),
        "{\"identifier\": \"payments\"}\nnot json\n",
    )
    .unwrap();
    let out = bulk(&port)
        .workspace(ws.path())
        .input("entitiesFile", "e.ndjson")
        .run();
    assert_eq!(out.code, 1, "{}", out.stdout);
    let failed = out.json_output("failed");
    assert_eq!(failed[0]["index"], json!(1), "{failed}");
    let message = failed[0]["message"].as_str().unwrap();
    assert!(message.starts_with("line 2: "), "{message}");
    assert!(
        out.summary.contains(
            "Entities not written, or not confirmed (index from 0, as in the 'failed' output):"
        ),
        "{}",
        out.summary
    );
    assert!(
        out.summary.contains("| index | identifier |"),
        "{}",
        out.summary
    );
}

#[test]
fn a_host_path_the_runner_translated_into_the_workspace_is_read() {
    // The runner rewrites an input that starts with the host's workspace
    // (`${{ github.workspace }}/port/e.json`) to the container's (`/github/workspace/…`):
    // the action then sees an absolute path inside `GITHUB_WORKSPACE`.
    let port = StandIn::start();
    let ws = tempfile::tempdir().unwrap();
    std::fs::create_dir(ws.path().join("port")).unwrap();
    std::fs::write(
        ws.path().join("port/e.json"),
        r#"[{"identifier": "payments"}]"#,
    )
    .unwrap();
    let translated = ws.path().join("port/e.json");
    let out = bulk(&port)
        .workspace(ws.path())
        .input("entitiesFile", &translated.to_string_lossy())
        .run();
    out.assert_success();
    assert_eq!(out.json_output("identifiers"), json!(["payments"]));
}
