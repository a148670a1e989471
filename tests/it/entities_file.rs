//! BULK_UPSERT from a file in the workspace (`entitiesFile`): a JSON array or NDJSON, read as
//! the batches go out, for entity sets larger than the 128 KiB an input can carry. A bad line
//! is reported alone; a path outside the workspace fails before any request.

use std::path::Path;

use port_stand_in::{FaultKind, StandIn};
use serde_json::{json, Value};

use crate::support::{data, lines, stand_in_whose_second_bulk_batch_gets, wait_for_entities, Step};

const BULK: &str = "POST /v1/blueprints/service/entities/bulk?upsert=true&merge=true";

/// A workspace holding `files` (name, content).
fn workspace(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, content) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }
    dir
}

/// A BULK_UPSERT step outside a Port run, reading `file` in the workspace `ws`.
fn bulk_from(port: &StandIn, ws: &Path, file: &str) -> Step {
    Step::new(port)
        .event(None)
        .workspace(ws)
        .input("operation", "BULK_UPSERT")
        .input("entitiesFile", file)
}

/// The requests the stand-in received after the token: line and body.
fn sent(port: &StandIn) -> Vec<(String, Option<Value>)> {
    port.requests()[1..]
        .iter()
        .map(|r| (r.line(), r.body.clone()))
        .collect()
}

#[test]
fn ndjson_and_a_json_array_send_the_same_requests() {
    let ndjson = std::fs::read_to_string(data("entities.ndjson")).unwrap();
    let array = std::fs::read_to_string(data("entities.json")).unwrap();
    let ws = workspace(&[
        ("port/entities.ndjson", &ndjson),
        ("port/entities.json", &array),
    ]);
    let mut seen = Vec::new();
    for file in ["port/entities.ndjson", "port/entities.json"] {
        let port = StandIn::start();
        let out = bulk_from(&port, ws.path(), file)
            .input("blueprint", "domain")
            .input("concurrency", "1")
            .run();
        out.assert_success();
        assert_eq!(
            out.json_output("identifiers"),
            json!(["payments", "billing", "finance"])
        );
        assert_eq!(out.json_output("failed"), json!([]));
        assert!(
            out.summary.contains(&format!(
                "Bulk upsert from `{file}`: 3 of 3 entities written in 2 batches"
            )),
            "{}",
            out.summary
        );
        assert_eq!(lines(&port)[0], "POST /v1/auth/access_token");
        seen.push(sent(&port));
    }
    assert_eq!(seen[0], seen[1]);
    assert_eq!(
        seen[0],
        [
            (
                BULK.to_string(),
                Some(json!({"entities": [
                    {
                        "identifier": "payments",
                        "title": "Payments [EU], v2",
                        "properties": {"language": "Rust", "note": "say \"hi\", then ]"}
                    },
                    {"identifier": "billing", "relations": {"domain": "finance"}},
                ]}))
            ),
            (
                "POST /v1/blueprints/domain/entities/bulk?upsert=true&merge=true".to_string(),
                Some(json!({"entities": [
                    {"identifier": "finance", "title": "Finance {core}", "properties": {}}
                ]}))
            ),
        ]
    );
}

#[test]
fn a_bad_line_is_reported_with_its_line_number_and_the_others_are_written() {
    let port = StandIn::start();
    port.reject_entity(
        "service",
        "e",
        422,
        "blueprint_schema_mismatch",
        "property \"n\" must be a string",
    );
    let ws = workspace(&[(
        "entities.ndjson",
        concat!(
            "{\"identifier\": \"a\", \"blueprint\": \"service\"}\n",
            "{\"identifier\": \"b\", \"blueprint\": \"service\",}\n",
            "\n",
            "[\"not\", \"an\", \"object\"]\n",
            "{\"identifier\": \"c\"}\n",
            "{\"identifier\": \"d\", \"blueprint\": \"service\"}\n",
            "{\"identifier\": \"e\", \"blueprint\": \"service\", \"properties\": {\"n\": 1}}\n",
        ),
    )]);
    let out = bulk_from(&port, ws.path(), "entities.ndjson").run();
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert_eq!(out.json_output("identifiers"), json!(["a", "d"]));
    assert_eq!(
        out.json_output("failed"),
        json!([
            {"index": 1, "identifier": null, "error": "invalid_json",
             "message": "line 2: not valid JSON: trailing comma at column 44"},
            {"index": 2, "identifier": null, "error": "invalid_entity",
             "message": "line 4: must be a JSON object, got an array"},
            {"index": 3, "identifier": "c", "error": "invalid_entity",
             "message": "line 5: has no \"blueprint\" and no 'blueprint' input is given"},
            {"index": 5, "identifier": "e", "error": "blueprint_schema_mismatch",
             "message": "line 7: property \"n\" must be a string"},
        ])
    );
    // One request for the good ones: the bad lines never reach Port.
    assert_eq!(lines(&port)[1..], [BULK]);
    let body = port.requests()[1].body.clone().unwrap();
    let ids: Vec<&str> = body["entities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["identifier"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["a", "d", "e"]);
    assert!(port.entity("service", "d").is_some());
    let errors = out.errors();
    assert_eq!(
        errors[0],
        "::error title=BULK_UPSERT element 1::invalid_json: line 2: not valid JSON: trailing \
         comma at column 44"
    );
    assert_eq!(
        errors.last().unwrap(),
        &"::error title=port-action failed::4 of 6 entities were not written (see the 'failed' \
          output)"
    );
}

#[test]
fn an_array_cut_short_sends_the_entities_before_the_cut_and_fails() {
    let port = StandIn::start();
    let ws = workspace(&[(
        "entities.json",
        "[\n  {\"identifier\": \"a\"},\n  {\"identifier\": \"b\"},\n  {\"identifier\": \"c\", \"ti",
    )]);
    let out = bulk_from(&port, ws.path(), "entities.json")
        .input("blueprint", "service")
        .run();
    out.assert_failure(
        "input 'entitiesFile' ('entities.json') ends at line 4 before the array's closing ']' \
         (is it cut short?); 2 of the 2 entities before it were written",
    );
    assert_eq!(lines(&port)[1..], [BULK]);
    assert_eq!(out.json_output("identifiers"), json!(["a", "b"]));
}

/// Runs a step given `entitiesFile: file` in an empty workspace and asserts it fails with
/// `message` before any request.
#[track_caller]
fn refused(file: &str, message: impl Fn(&Path) -> String) {
    let port = StandIn::start();
    let ws = workspace(&[]);
    let out = bulk_from(&port, ws.path(), file)
        .input("blueprint", "service")
        .run();
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert_eq!(
        out.errors(),
        [format!(
            "::error title=port-action failed::input 'entitiesFile' {}",
            message(ws.path())
        )]
    );
    assert!(port.requests().is_empty(), "{:?}", lines(&port));
    assert!(
        out.summary.contains("### Port: nothing sent"),
        "{}",
        out.summary
    );
}

#[test]
fn a_file_that_does_not_exist_is_refused_before_any_request() {
    refused("port/entities.json", |ws| {
        format!(
            "is 'port/entities.json', which does not exist in the workspace ({}): write the path \
             relative to the workspace, and check out the repository or write the file in an \
             earlier step of the job",
            ws.display()
        )
    });
}

#[test]
fn a_path_out_of_the_workspace_is_refused_before_any_request() {
    refused("port/../../entities.json", |ws| {
        format!(
            "is 'port/../../entities.json', which is outside the workspace ({}), the only \
             folder the step may read or write: put the file in the workspace and write its \
             path relative to it",
            ws.display()
        )
    });
}

#[test]
fn a_path_of_the_runners_host_is_refused_with_the_path_to_write() {
    // What `${{ github.workspace }}/port/entities.json` gives on a hosted runner.
    refused(
        "/home/runner/work/payments/payments/port/entities.json",
        |ws| {
            format!(
                "is '/home/runner/work/payments/payments/port/entities.json', an absolute path \
             outside the workspace, which this step sees as {}, the only folder it may read or \
             write; write it relative to the workspace: port/entities.json",
                ws.display()
            )
        },
    );
}

#[test]
fn entities_and_entities_file_together_are_refused_before_any_request() {
    let port = StandIn::start();
    let ws = workspace(&[("entities.ndjson", "{\"identifier\": \"a\"}\n")]);
    let out = bulk_from(&port, ws.path(), "entities.ndjson")
        .input("blueprint", "service")
        .input("entities", r#"[{"identifier": "b"}]"#)
        .run();
    assert_eq!(
        out.errors(),
        [
            "::error title=port-action failed::input 'entitiesFile' cannot be given with \
          'entities': give the entities in one of them"
        ]
    );
    assert!(port.requests().is_empty(), "{:?}", lines(&port));
}

#[test]
fn a_thousand_entities_of_ndjson_go_out_in_fifty_requests() {
    let port = StandIn::start();
    let mut text = String::new();
    for i in 0..1000 {
        text.push_str(&format!(
            "{{\"identifier\": \"svc-{i:04}\", \"title\": \"Service {i}\", \"properties\": {{\"tier\": \"{}\"}}}}\n",
            i % 3
        ));
    }
    let ws = workspace(&[("catalog/services.ndjson", &text)]);
    let out = bulk_from(&port, ws.path(), "catalog/services.ndjson")
        .input("blueprint", "service")
        .run();
    out.assert_success();
    let lines = lines(&port);
    assert_eq!(lines.len(), 51);
    assert_eq!(lines[0], "POST /v1/auth/access_token");
    assert!(lines[1..].iter().all(|l| l == BULK), "{lines:?}");
    assert!(port.requests()[1..]
        .iter()
        .all(|r| r.body.as_ref().unwrap()["entities"]
            .as_array()
            .unwrap()
            .len()
            == 20));
    assert_eq!(port.entities("service").len(), 1000);
    let ids = out.json_output("identifiers");
    let ids = ids.as_array().unwrap();
    assert_eq!(ids.len(), 1000);
    assert_eq!(ids[0], "svc-0000");
    assert_eq!(ids[999], "svc-0999");
    assert_eq!(
        port.entity("service", "svc-0042").unwrap()["properties"]["tier"],
        "0"
    );
}

#[test]
fn a_cancelled_bulk_from_a_large_file_stops_reading_and_writes_its_outputs() {
    use std::time::Duration;
    // Port writes the second batch and holds its answer.
    let port = stand_in_whose_second_bulk_batch_gets(FaultKind::HangAfterHandling);
    // 300,000 entities, 30 MB.
    let mut text = String::with_capacity(31 * 1024 * 1024);
    let pad = "x".repeat(64);
    for i in 0..300_000 {
        text.push_str(&format!(
            "{{\"identifier\": \"svc-{i:07}\", \"properties\": {{\"pad\": \"{pad}\"}}}}\n"
        ));
    }
    let ws = workspace(&[("big.ndjson", &text)]);
    drop(text);
    let running = bulk_from(&port, ws.path(), "big.ndjson")
        .input("blueprint", "service")
        .input("concurrency", "1")
        .input("requestTimeout", "60s")
        .input("timeout", "120s")
        .spawn();
    // The second batch is written at Port and its answer held.
    wait_for_entities(&port, "service", 40);
    running.signal(libc::SIGTERM);
    let out = running.wait_at_most(Duration::from_secs(20));
    assert_eq!(out.code, 1);
    assert_eq!(
        out.errors().pop().unwrap_or_default(),
        "::error title=port-action failed::the step was cancelled (SIGTERM): nothing more was \
         sent to Port: 20 of 40 entities were not written, or not confirmed: 20 got no answer \
         and Port may have written them (see the 'failed' output); input 'entitiesFile' \
         ('big.ndjson') was read up to line 41 (the step was cancelled (SIGTERM)): the entities \
         after it were not sent",
        "{}",
        out.stdout
    );
    assert_eq!(lines(&port).len(), 3, "{:?}", lines(&port));
    let ids = out.json_output("identifiers");
    assert_eq!(ids.as_array().unwrap().len(), 20);
    assert_eq!(ids[19], "svc-0000019");
    let failed = out.json_output("failed");
    let failed = failed.as_array().unwrap();
    assert_eq!(failed.len(), 20, "the entities read, not the whole file");
    assert!(
        failed.iter().all(|f| f["error"] == "no_answer"),
        "{failed:?}"
    );
    assert!(
        out.summary.contains(
            "20 of 40 entities written in 2 batches\n- 20 entities got no answer: Port may have \
             written them\n- Reading the file stopped at line 41 (the step was cancelled \
             (SIGTERM)): the entities after it were not sent\n"
        ),
        "{}",
        out.summary
    );
}

#[test]
fn a_bulk_from_a_file_cut_by_the_deadline_stops_reading_there() {
    let port = stand_in_whose_second_bulk_batch_gets(FaultKind::Hang);
    let mut text = String::new();
    for i in 0..100_000 {
        text.push_str(&format!("{{\"identifier\": \"svc-{i:06}\"}}\n"));
    }
    let ws = workspace(&[("big.ndjson", &text)]);
    let out = bulk_from(&port, ws.path(), "big.ndjson")
        .input("blueprint", "service")
        .input("concurrency", "1")
        .input("requestTimeout", "60s")
        .input("timeout", "2s")
        .run();
    assert_eq!(
        out.errors().pop().unwrap_or_default(),
        "::error title=port-action failed::20 of 40 entities were not written, or not \
         confirmed: 20 got no answer and Port may have written them (see the 'failed' output); \
         input 'entitiesFile' ('big.ndjson') was read up to line 41 (the step's deadline had \
         passed (input 'timeout')): the entities after it were not sent",
        "{}",
        out.stdout
    );
    assert_eq!(lines(&port).len(), 3, "{:?}", lines(&port));
    assert_eq!(out.json_output("identifiers").as_array().unwrap().len(), 20);
    assert_eq!(out.json_output("failed").as_array().unwrap().len(), 20);
}

#[test]
fn a_long_run_of_bad_lines_holds_up_neither_the_batches_nor_a_cancellation() {
    let port = stand_in_whose_second_bulk_batch_gets(FaultKind::Hang);
    let mut text = String::new();
    for i in 0..20 {
        text.push_str(&format!("{{\"identifier\": \"svc-{i}\"}}\n"));
    }
    // Half a million lines that are not JSON: read while the first batch is out.
    text.push_str(&"x\n".repeat(500_000));
    let ws = workspace(&[("big.ndjson", &text)]);
    let running = bulk_from(&port, ws.path(), "big.ndjson")
        .input("blueprint", "service")
        .spawn();
    // The first batch leaves while the reading goes on, not after it.
    wait_for_entities(&port, "service", 20);
    running.signal(libc::SIGTERM);
    let out = running.wait_at_most(std::time::Duration::from_secs(20));
    let error = out.errors().pop().unwrap_or_default();
    assert!(
        error.contains("input 'entitiesFile' ('big.ndjson') was read up to line ")
            && error.ends_with(
                "(the step was cancelled (SIGTERM)): the entities after it were not sent"
            ),
        "{error}"
    );
    let line: usize = error
        .split("read up to line ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no line in {error}"));
    assert!(line < 500_021, "the whole file was read: {error}");
}

#[test]
fn the_first_batch_is_on_the_wire_before_the_rest_of_the_file_is_written() {
    use std::io::Write;
    use std::sync::{Arc, Mutex};
    let entity = |i: usize| format!("{{\"identifier\": \"svc-{i:03}\"}}");
    // The file as the test starts the step: its first 200 entities (ten batches, more than a
    // reader keeps ahead of the requests), and no end.
    let mut head = "[\n".to_string();
    for i in 0..200 {
        head.push_str(&format!("{},\n", entity(i)));
    }
    let rest: Vec<String> = (200..400).map(entity).collect();
    let rest = format!("{}\n]\n", rest.join(",\n"));
    let ws = workspace(&[("catalog/services.json", &head)]);
    let path = ws.path().join("catalog/services.json");
    // When the first batch reaches Port, the rest of the file is written; Port answers after.
    let seen_at_first_batch: Arc<Mutex<Option<(usize, String)>>> = Arc::default();
    let seen = seen_at_first_batch.clone();
    let port = StandIn::start_with(port_stand_in::Options {
        on_request: Some(Arc::new(move |r| {
            let mut seen = seen.lock().unwrap();
            if r.line() == BULK && seen.is_none() {
                let batch = r.body.as_ref().unwrap()["entities"]
                    .as_array()
                    .map_or(0, Vec::len);
                *seen = Some((batch, std::fs::read_to_string(&path).unwrap()));
                let mut file = std::fs::OpenOptions::new()
                    .append(true)
                    .open(&path)
                    .unwrap();
                file.write_all(rest.as_bytes()).unwrap();
            }
        })),
        ..port_stand_in::Options::default()
    });
    let out = bulk_from(&port, ws.path(), "catalog/services.json")
        .input("blueprint", "service")
        .input("concurrency", "1")
        .run();
    out.assert_success();
    let (batch, file_then) = seen_at_first_batch.lock().unwrap().clone().unwrap();
    assert_eq!(batch, 20, "the first batch holds the first 20 entities");
    assert_eq!(file_then, head, "the file had no end yet");
    assert_eq!(lines(&port)[1..], [BULK; 20]);
    let ids = out.json_output("identifiers");
    assert_eq!(ids.as_array().unwrap().len(), 400, "{ids}");
    assert_eq!(ids[399], "svc-399");
    assert_eq!(port.entities("service").len(), 400);
}

#[test]
fn an_element_refused_for_its_blueprint_keeps_its_identifier_in_failed() {
    let port = StandIn::start();
    let ws = workspace(&[(
        "e.ndjson",
        "{\"identifier\": \"a\", \"blueprint\": \"..\"}\n{\"identifier\": \"b\", \"blueprint\": \"service\"}\n",
    )]);
    let out = bulk_from(&port, ws.path(), "e.ndjson").run();
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert_eq!(out.json_output("identifiers"), json!(["b"]));
    let failed = out.json_output("failed");
    assert_eq!(failed[0]["index"], 0, "{failed}");
    assert_eq!(failed[0]["identifier"], "a", "{failed}");
    assert_eq!(failed[0]["error"], "invalid_entity", "{failed}");
    assert!(
        failed[0]["message"]
            .as_str()
            .unwrap()
            .starts_with("line 1: "),
        "{failed}"
    );
}
