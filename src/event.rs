//! Finding the Port action run that started this workflow, from the event payload alone.
//!
//! Port starts the workflow with `workflow_dispatch` and passes the run id inside an input whose
//! name the user chose. Every non-string value arrives as a JSON string, so an input like
//! `port_context` has to be parsed a second time. Reading the id from the event lets a step
//! report to its Port run without the user wiring `runId` through by hand.

use serde_json::Value;

use crate::inputs::check_run_id;

/// A run id found in the event, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundRunId {
    pub id: String,
    /// Where it was found, as a user would write it: `inputs.port_context.runId`.
    pub source: String,
}

/// Why the event payload could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("cannot read the event file {path}: {reason}")]
    Unreadable { path: String, reason: String },
    #[error("the event file {path} is not JSON: {reason}")]
    NotJson { path: String, reason: String },
    #[error("the Port run id in {place} of the event is not valid: {why}")]
    InvalidRunId {
        /// Where it was found, e.g. `inputs.port_context.runId`.
        place: String,
        why: String,
    },
    #[error("the event names two different Port runs: '{first}' in {first_source} and '{second}' in {second_source}; pass the one to use as the 'runId' input")]
    Ambiguous {
        first: String,
        first_source: String,
        second: String,
        second_source: String,
    },
}

/// Reads and parses the event file at `path`.
pub fn load(path: &str) -> Result<Value, EventError> {
    let text = std::fs::read_to_string(path).map_err(|e| EventError::Unreadable {
        path: path.to_string(),
        reason: e.to_string(),
    })?;
    serde_json::from_str(&text).map_err(|e| EventError::NotJson {
        path: path.to_string(),
        reason: e.to_string(),
    })
}

/// Inputs that may hold the run id itself. A workflow input called `run_id` may just as well hold
/// a GitHub run id, so a flat value counts only when it looks like a Port run id.
const FLAT_NAMES: [&str; 3] = ["runId", "run_id", "port_run_id"];

/// How every Port run id begins.
const RUN_ID_PREFIX: &str = "r_";

/// Where a run id sits inside an input that holds a JSON object, in the order they are tried:
/// `port_context.runId`, `port_context.run_id`, the legacy v1 `port_payload.context.runId`, and an
/// automation's `run.id`.
const NESTED_PATHS: [&[&str]; 4] = [
    &["runId"],
    &["run_id"],
    &["context", "runId"],
    &["run", "id"],
];

/// The parts of the payload that carry inputs: `workflow_dispatch` inputs and the
/// `repository_dispatch` client payload.
const CONTAINERS: [&str; 2] = ["inputs", "client_payload"];

/// Looks through the `workflow_dispatch` inputs for a Port run id.
///
/// Also looks through a `repository_dispatch` event's `client_payload` the same way. The payload
/// is hostile text: every id found must pass the same check as the `runId` input, or it is
/// [`EventError::InvalidRunId`]. The same id found in several places counts once (the first
/// place is kept, inputs sorted by name); two different ids are [`EventError::Ambiguous`].
pub fn find_run_id(payload: &Value) -> Result<Option<FoundRunId>, EventError> {
    let candidates = candidates(payload);
    for candidate in &candidates {
        check_run_id(&candidate.id).map_err(|why| EventError::InvalidRunId {
            place: candidate.source.clone(),
            why,
        })?;
    }
    let mut found: Option<FoundRunId> = None;
    for candidate in candidates {
        match &found {
            None => found = Some(candidate),
            Some(first) if first.id == candidate.id => {}
            Some(first) => {
                return Err(EventError::Ambiguous {
                    first: first.id.clone(),
                    first_source: first.source.clone(),
                    second: candidate.id,
                    second_source: candidate.source,
                })
            }
        }
    }
    Ok(found)
}

/// Every run id in the payload, in a stable order: by container, then input name, then path.
fn candidates(payload: &Value) -> Vec<FoundRunId> {
    let mut out = Vec::new();
    for container in CONTAINERS {
        let Some(inputs) = payload.get(container).and_then(Value::as_object) else {
            continue;
        };
        let mut names: Vec<&String> = inputs.keys().collect();
        names.sort();
        for name in names {
            let value = &inputs[name.as_str()];
            let source = format!("{container}.{}", crate::inputs::printable(name));
            if let Some(object) = as_object(value) {
                for path in NESTED_PATHS {
                    if let Some(id) = lookup(&object, path).and_then(as_id) {
                        out.push(FoundRunId {
                            id,
                            source: format!("{source}.{}", path.join(".")),
                        });
                    }
                }
            } else if FLAT_NAMES.contains(&name.as_str()) {
                if let Some(id) = as_id(value).filter(|id| id.starts_with(RUN_ID_PREFIX)) {
                    out.push(FoundRunId { id, source });
                }
            }
        }
    }
    out
}

/// An input's value as a JSON object: an object, or a string that parses as one.
fn as_object(value: &Value) -> Option<serde_json::Map<String, Value>> {
    match value {
        Value::Object(map) => Some(map.clone()),
        Value::String(text) if text.trim_start().starts_with('{') => {
            match serde_json::from_str::<Value>(text) {
                Ok(Value::Object(map)) => Some(map),
                _ => None,
            }
        }
        _ => None,
    }
}

fn lookup<'a>(object: &'a serde_json::Map<String, Value>, path: &[&str]) -> Option<&'a Value> {
    let (first, rest) = path.split_first()?;
    rest.iter()
        .try_fold(object.get(*first)?, |value, key| value.get(*key))
}

/// A run id: a string that is not blank once trimmed.
fn as_id(value: &Value) -> Option<String> {
    let id = value.as_str()?.trim();
    (!id.is_empty()).then(|| id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn found(id: &str, source: &str) -> Option<FoundRunId> {
        Some(FoundRunId {
            id: id.to_string(),
            source: source.to_string(),
        })
    }

    /// A `workflow_dispatch` event as GitHub writes it when Port starts a workflow.
    fn dispatch(inputs: Value) -> Value {
        json!({
            "inputs": inputs,
            "ref": "refs/heads/main",
            "repository": {
                "id": 123456789,
                "name": "service-repo",
                "full_name": "acme/service-repo",
                "owner": {"login": "acme", "id": 987654, "type": "Organization"},
                "default_branch": "main",
                "private": true
            },
            "sender": {"login": "port-labs[bot]", "id": 1111, "type": "Bot"},
            "workflow": ".github/workflows/deploy.yml"
        })
    }

    #[test]
    fn port_context_as_a_json_string() {
        let context = json!({
            "runId": "r_AbC123",
            "entity": {"identifier": "payments", "title": "Payments", "properties": {"tier": "1"}},
            "blueprint": "service",
            "trigger": {"by": {"userId": "auth0|abc", "email": "dev@acme.io"}, "operation": "DAY-2", "at": "2024-05-01T10:00:00.000Z"}
        });
        let event = dispatch(json!({
            "port_context": context.to_string(),
            "version": "1.4.2"
        }));
        assert_eq!(
            find_run_id(&event).unwrap(),
            found("r_AbC123", "inputs.port_context.runId")
        );
    }

    #[test]
    fn port_context_with_run_id() {
        let event =
            dispatch(json!({"port_context": "{\"run_id\":\"r_xyz\",\"blueprint\":\"service\"}"}));
        assert_eq!(
            find_run_id(&event).unwrap(),
            found("r_xyz", "inputs.port_context.run_id")
        );
    }

    #[test]
    fn legacy_port_payload() {
        let payload = json!({
            "action": "deploy_service",
            "resourceType": "run",
            "status": "TRIGGERED",
            "trigger": {"by": {"userId": "auth0|abc"}, "origin": "UI", "at": "2023-01-01T00:00:00Z"},
            "context": {"entity": "payments", "blueprint": "service", "runId": "r_Legacy1"},
            "payload": {"entity": {"identifier": "payments"}, "action": {"identifier": "deploy"}, "properties": {"env": "prod"}}
        });
        let event = dispatch(json!({"port_payload": payload.to_string()}));
        assert_eq!(
            find_run_id(&event).unwrap(),
            found("r_Legacy1", "inputs.port_payload.context.runId")
        );
    }

    #[test]
    fn flat_inputs() {
        for name in ["run_id", "runId", "port_run_id"] {
            let event = dispatch(json!({name: "  r_flat  ", "env": "prod"}));
            assert_eq!(
                find_run_id(&event).unwrap(),
                found("r_flat", &format!("inputs.{name}"))
            );
        }
    }

    #[test]
    fn automation_run_id() {
        let event = dispatch(json!({
            "port_context": json!({"run": {"id": "r_auto9"}, "event": {"diff": {"after": {"identifier": "x"}}}}).to_string()
        }));
        assert_eq!(
            find_run_id(&event).unwrap(),
            found("r_auto9", "inputs.port_context.run.id")
        );
    }

    #[test]
    fn objects_and_client_payload() {
        let event = json!({
            "action": "port",
            "client_payload": {"port_context": {"runId": "r_repo"}},
            "repository": {"full_name": "acme/x"}
        });
        assert_eq!(
            find_run_id(&event).unwrap(),
            found("r_repo", "client_payload.port_context.runId")
        );
    }

    #[test]
    fn push_event_has_none() {
        let event = json!({
            "ref": "refs/heads/main",
            "before": "0000000000000000000000000000000000000000",
            "after": "1111111111111111111111111111111111111111",
            "commits": [],
            "repository": {"full_name": "acme/x"},
            "pusher": {"name": "dev"}
        });
        assert_eq!(find_run_id(&event).unwrap(), None);
        assert_eq!(find_run_id(&json!(null)).unwrap(), None);
        assert_eq!(find_run_id(&json!({"inputs": null})).unwrap(), None);
    }

    #[test]
    fn ignores_what_is_not_an_id() {
        let event = dispatch(json!({
            "port_context": "{not json",
            "notes": "{\"runId\": 42}",
            "list": "[{\"runId\":\"r_in_a_list\"}]",
            "run_id": "",
            "runId": 17,
            "port_run_id": {"nested": true},
            "other": "{\"runId\":\"   \"}",
            "unrelated": "r_not_looked_at"
        }));
        assert_eq!(find_run_id(&event).unwrap(), None);
    }

    #[test]
    fn a_flat_input_holding_json_is_read_as_json() {
        let event = dispatch(json!({"run_id": "{\"runId\":\"r_json\"}"}));
        assert_eq!(
            find_run_id(&event).unwrap(),
            found("r_json", "inputs.run_id.runId")
        );
    }

    #[test]
    fn two_different_ids_are_ambiguous() {
        let event = dispatch(json!({
            "run_id": "r_two",
            "port_context": "{\"runId\":\"r_one\"}"
        }));
        let err = find_run_id(&event).unwrap_err();
        assert_eq!(
            err,
            EventError::Ambiguous {
                first: "r_one".into(),
                first_source: "inputs.port_context.runId".into(),
                second: "r_two".into(),
                second_source: "inputs.run_id".into(),
            }
        );
        assert_eq!(
            err.to_string(),
            "the event names two different Port runs: 'r_one' in inputs.port_context.runId and \
             'r_two' in inputs.run_id; pass the one to use as the 'runId' input"
        );
    }

    #[test]
    fn the_same_id_twice_is_one_find() {
        let event = dispatch(json!({
            "run_id": "r_same",
            "port_context": "{\"runId\":\"r_same\",\"context\":{\"runId\":\"r_same\"}}"
        }));
        assert_eq!(
            find_run_id(&event).unwrap(),
            found("r_same", "inputs.port_context.runId")
        );
    }

    #[test]
    fn a_flat_input_counts_only_when_it_looks_like_a_port_run_id() {
        // A workflow's own `run_id` input, holding a GitHub run id.
        for value in ["9876543210", "run-42", "R_abc", "..", "a/b"] {
            let event = dispatch(json!({"run_id": value, "runId": value, "port_run_id": value}));
            assert_eq!(find_run_id(&event).unwrap(), None, "{value}");
            // Beside port_context, it is not a second run.
            let event = dispatch(json!({
                "run_id": value,
                "port_context": "{\"runId\":\"r_ctx\"}"
            }));
            assert_eq!(
                find_run_id(&event).unwrap(),
                found("r_ctx", "inputs.port_context.runId"),
                "{value}"
            );
        }
    }

    #[test]
    fn every_id_found_passes_the_run_id_check() {
        let bad = |inputs: Value| find_run_id(&dispatch(inputs)).unwrap_err().to_string();
        let context = |id: &str| json!({"port_context": json!({"runId": id}).to_string()});
        assert_eq!(
            bad(context(
                "r_abc\n::error title=X::pwned\n::stop-commands::zzz"
            )),
            "the Port run id in inputs.port_context.runId of the event is not valid: \
             'r_abc\\n::error title=X::pwned\\n::stop-commands::zzz' contains '\\n' (allowed: \
             letters, digits and @ _ . + : = -)"
        );
        assert_eq!(
            bad(context("..")),
            "the Port run id in inputs.port_context.runId of the event is not valid: '..' is \
             not allowed"
        );
        assert_eq!(
            bad(context(".")),
            "the Port run id in inputs.port_context.runId of the event is not valid: '.' is \
             not allowed"
        );
        assert_eq!(
            bad(context("r_a/../b")),
            "the Port run id in inputs.port_context.runId of the event is not valid: \
             'r_a/../b' contains '/' (a run id is one path segment; Port's look like r_ \
             followed by letters and digits)"
        );
        assert_eq!(
            bad(json!({"run_id": "r_x\u{1b}[31m"})),
            "the Port run id in inputs.run_id of the event is not valid: 'r_x\\u{1b}[31m' \
             contains '\\u{1b}' (allowed: letters, digits and @ _ . + : = -)"
        );
        let long = format!("r_{}", "a".repeat(999));
        assert!(
            bad(json!({"port_run_id": long})).ends_with("it has 1001 characters, more than 1000")
        );
        // An invalid id fails even when a valid one comes first.
        let err = find_run_id(&dispatch(json!({
            "a": "{\"runId\":\"r_ok\"}",
            "b": "{\"run\":{\"id\":\"r ok\"}}"
        })))
        .unwrap_err();
        assert!(
            matches!(&err, EventError::InvalidRunId { place, .. } if place == "inputs.b.run.id"),
            "{err:?}"
        );
    }

    #[test]
    fn input_names_are_printable_in_the_place_an_id_was_found() {
        let event = dispatch(json!({"ctx\n::warning::pwned": "{\"runId\":\"r_ok\"}"}));
        assert_eq!(
            find_run_id(&event).unwrap(),
            found("r_ok", "inputs.ctx\\n::warning::pwned.runId")
        );
        let name = "n".repeat(150);
        let event = dispatch(json!({ name: "{\"runId\":\"r_ok\"}" }));
        let source = find_run_id(&event).unwrap().unwrap().source;
        assert_eq!(source, format!("inputs.{}….runId", "n".repeat(100)));
    }

    #[test]
    fn load_names_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("event.json");
        let missing = missing.to_str().unwrap();
        match load(missing) {
            Err(EventError::Unreadable { path, .. }) => assert_eq!(path, missing),
            other => panic!("{other:?}"),
        }
        let bad = dir.path().join("bad.json");
        std::fs::write(&bad, "{").unwrap();
        let err = load(bad.to_str().unwrap()).unwrap_err();
        assert!(matches!(err, EventError::NotJson { .. }));
        assert!(err.to_string().contains("bad.json"), "{err}");
        let good = dir.path().join("good.json");
        std::fs::write(&good, r#"{"inputs":{"run_id":"r_1"}}"#).unwrap();
        let event = load(good.to_str().unwrap()).unwrap();
        assert_eq!(find_run_id(&event).unwrap(), found("r_1", "inputs.run_id"));
    }
}
