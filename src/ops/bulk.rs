//! BULK_UPSERT on Port's bulk route: entities grouped by blueprint, in batches of at most
//! [`MAX_BATCH_ENTITIES`] and under [`MAX_BATCH_BYTES`], a few batches in flight at once.
//! Every entity is attempted: a partial answer (207) or a failed batch marks just those
//! entities as failed, and a batch Port finds too large (413) is split and sent again.

use std::collections::VecDeque;
use std::sync::Arc;

use anyhow::Context as _;
use reqwest::Method;
use serde::Serialize;
use serde_json::{json, Value};
use tokio::task::JoinSet;

use super::Step;
use crate::port::{PortClient, PortError};

/// Port's limit of entities per bulk request.
pub const MAX_BATCH_ENTITIES: usize = 20;
/// Port refuses bodies over 1 MiB; stay below it with room for the envelope.
pub const MAX_BATCH_BYTES: usize = 1024 * 1024 - 1024;
/// GitHub shows at most ten error annotations a step, and the step's own error is the last:
/// up to nine failed entities are annotated one by one, or eight and a line for the rest.
const MAX_ANNOTATIONS: usize = 9;

/// One entity of the `entities` input, ready to send.
#[derive(Debug, Clone)]
struct Item {
    /// Its position in the `entities` input.
    index: usize,
    blueprint: String,
    identifier: Option<String>,
    body: Value,
    /// Serialized size of `body`.
    size: usize,
}

/// Entities of one blueprint sent in one request.
#[derive(Debug, Clone)]
struct Batch {
    blueprint: String,
    items: Vec<Item>,
}

/// An entity Port did not write.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct NotWritten {
    pub index: usize,
    pub identifier: Option<String>,
    pub error: String,
    pub message: String,
}

/// What one batch came to.
enum BatchResult {
    /// Written entities as `(index, identifier)`, and the entities not written.
    Done(Vec<(usize, String)>, Vec<NotWritten>),
    /// Port found the body too large: send the halves.
    Split(Batch, Batch),
}

/// BULK_UPSERT.
pub async fn bulk_upsert(step: &mut Step) -> anyhow::Result<()> {
    // Taken, not copied: a thousand entities are the largest thing a step holds.
    let entities = step
        .inputs
        .entities
        .take()
        .context("input 'entities' is required for BULK_UPSERT")?;
    let total = entities.len();
    let (items, mut failures) = prepare(entities, step.inputs.blueprint.as_deref())?;
    let mut queue: VecDeque<Batch> = batches(items).into();
    let batch_count = queue.len();
    let query: Vec<(String, String)> = super::entity::write_query(step)
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    let query = Arc::new(query);
    let limit = step.inputs.concurrency.max(1);
    let mut written: Vec<(usize, String)> = Vec::with_capacity(total);
    let mut in_flight = JoinSet::new();
    loop {
        while in_flight.len() < limit {
            let Some(batch) = queue.pop_front() else {
                break;
            };
            let client = step.client.clone();
            let query = query.clone();
            in_flight.spawn(async move { send_batch(&client, batch, &query).await });
        }
        let Some(joined) = in_flight.join_next().await else {
            break;
        };
        match joined.context("a bulk request task failed")? {
            BatchResult::Done(ok, failed) => {
                written.extend(ok);
                failures.extend(failed);
            }
            BatchResult::Split(a, b) => {
                queue.push_front(b);
                queue.push_front(a);
            }
        }
    }
    written.sort_by_key(|(i, _)| *i);
    failures.sort_by_key(|f| f.index);
    let identifiers: Vec<&str> = written.iter().map(|(_, id)| id.as_str()).collect();
    step.output("identifiers", &serde_json::to_string(&identifiers)?);
    step.output("failed", &serde_json::to_string(&failures)?);
    let annotated = if failures.len() > MAX_ANNOTATIONS {
        MAX_ANNOTATIONS - 1
    } else {
        failures.len()
    };
    for f in failures.iter().take(annotated) {
        let who = match &f.identifier {
            Some(id) => format!("entity '{id}' (element {})", f.index),
            None => format!("element {}", f.index),
        };
        step.console.error(
            Some(&format!("BULK_UPSERT {who}")),
            &format!("{}: {}", f.error, f.message),
        );
    }
    if failures.len() > annotated {
        step.console.error(
            Some("BULK_UPSERT"),
            &format!(
                "…and {} more entities not written (see the 'failed' output)",
                failures.len() - annotated
            ),
        );
    }
    step.note(format!(
        "Bulk upsert: {} of {total} entities written in {batch_count} batches{}",
        written.len(),
        step.run
            .as_ref()
            .map(|r| format!(", tied to run {}", crate::runner::markdown::code(&r.id)))
            .unwrap_or_default()
    ));
    if !failures.is_empty() {
        use crate::runner::markdown::text;
        let mut table = String::from("Entities not written:\n\n  | element | identifier | error | message |\n  |---|---|---|---|\n");
        for f in failures.iter().take(50) {
            table.push_str(&format!(
                "  | {} | {} | {} | {} |\n",
                f.index,
                text(f.identifier.as_deref().unwrap_or("")),
                text(&f.error),
                text(&f.message)
            ));
        }
        step.note(table.trim_end().to_string());
        anyhow::bail!(
            "{} of {total} entities were not written (see the 'failed' output)",
            failures.len()
        );
    }
    Ok(())
}

/// Checks each element and strips `blueprint` from its body (it goes in the path).
fn prepare(
    entities: Vec<Value>,
    default_blueprint: Option<&str>,
) -> anyhow::Result<(Vec<Item>, Vec<NotWritten>)> {
    let mut items = Vec::with_capacity(entities.len());
    let mut failures = Vec::new();
    for (index, element) in entities.into_iter().enumerate() {
        let Value::Object(mut body) = element else {
            anyhow::bail!("input 'entities' element {index} must be a JSON object");
        };
        let blueprint = match body.shift_remove("blueprint") {
            Some(Value::String(b)) => b,
            _ => default_blueprint
                .with_context(|| {
                    format!(
                        "input 'entities' element {index} has no \"blueprint\" and no 'blueprint' input is given"
                    )
                })?
                .to_string(),
        };
        let identifier = body
            .get("identifier")
            .and_then(Value::as_str)
            .map(str::to_string);
        let body = Value::Object(body);
        let size = serde_json::to_vec(&body)?.len();
        if size > MAX_BATCH_BYTES {
            failures.push(NotWritten {
                index,
                identifier,
                error: "payload_too_large".into(),
                message: format!(
                    "the entity is {size} bytes, over Port's 1 MiB request limit; it was not sent"
                ),
            });
            continue;
        }
        items.push(Item {
            index,
            blueprint,
            identifier,
            body,
            size,
        });
    }
    Ok((items, failures))
}

/// Groups items by blueprint (in order of first appearance) and cuts each group into batches
/// of at most [`MAX_BATCH_ENTITIES`] entities and [`MAX_BATCH_BYTES`] bytes.
fn batches(items: Vec<Item>) -> Vec<Batch> {
    let mut groups: Vec<(String, Vec<Item>)> = Vec::new();
    for item in items {
        match groups.iter_mut().find(|(bp, _)| *bp == item.blueprint) {
            Some((_, g)) => g.push(item),
            None => groups.push((item.blueprint.clone(), vec![item])),
        }
    }
    let mut out = Vec::new();
    for (blueprint, group) in groups {
        let mut current: Vec<Item> = Vec::new();
        let mut bytes = 0;
        for item in group {
            // `{"entities":[` … `]}` and a comma per entity.
            let added = item.size + 1;
            if !current.is_empty()
                && (current.len() == MAX_BATCH_ENTITIES || bytes + added + 16 > MAX_BATCH_BYTES)
            {
                out.push(Batch {
                    blueprint: blueprint.clone(),
                    items: std::mem::take(&mut current),
                });
                bytes = 0;
            }
            bytes += added;
            current.push(item);
        }
        if !current.is_empty() {
            out.push(Batch {
                blueprint,
                items: current,
            });
        }
    }
    out
}

/// Sends one batch and maps Port's answer back to the input's element numbers.
async fn send_batch(client: &PortClient, batch: Batch, query: &[(String, String)]) -> BatchResult {
    let body = json!({
        "entities": batch.items.iter().map(|i| &i.body).collect::<Vec<_>>(),
    });
    let query: Vec<(&str, String)> = query.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    let answer = client
        .call(
            Method::POST,
            &["blueprints", &batch.blueprint, "entities", "bulk"],
            &query,
            Some(&body),
        )
        .await;
    match answer {
        Ok(answer) => map_answer(&batch, &answer),
        Err(e) if e.status() == Some(413) && batch.items.len() > 1 => {
            let mut first = batch.items;
            let second = first.split_off(first.len() / 2);
            BatchResult::Split(
                Batch {
                    blueprint: batch.blueprint.clone(),
                    items: first,
                },
                Batch {
                    blueprint: batch.blueprint,
                    items: second,
                },
            )
        }
        Err(e) => BatchResult::Done(Vec::new(), whole_batch_failed(&batch, &e)),
    }
}

/// Reads `{"entities":[{identifier,index}],"errors":[{identifier,index,error,message}]}`,
/// where `index` is the position in the batch. An entity the answer does not mention failed.
fn map_answer(batch: &Batch, answer: &Value) -> BatchResult {
    let list = |key: &str| {
        answer
            .get(key)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let position = |v: &Value| {
        v.get("index")
            .and_then(Value::as_u64)
            .map(|i| i as usize)
            .filter(|&i| i < batch.items.len())
    };
    let mut seen = vec![false; batch.items.len()];
    let mut ok = Vec::new();
    for e in list("entities") {
        if let Some(p) = position(&e) {
            seen[p] = true;
            let item = &batch.items[p];
            let id = e
                .get("identifier")
                .and_then(Value::as_str)
                .map(str::to_string)
                .or_else(|| item.identifier.clone())
                .unwrap_or_default();
            ok.push((item.index, id));
        }
    }
    let mut failed = Vec::new();
    for e in list("errors") {
        if let Some(p) = position(&e) {
            seen[p] = true;
            let item = &batch.items[p];
            let error = match e.get("error") {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Object(o)) => o
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("error")
                    .to_string(),
                _ => format!(
                    "http_{}",
                    e.get("statusCode").and_then(Value::as_u64).unwrap_or(0)
                ),
            };
            let message = e
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("(no message)")
                .to_string();
            failed.push(NotWritten {
                index: item.index,
                identifier: item.identifier.clone(),
                error,
                message,
            });
        }
    }
    for (_, item) in batch.items.iter().enumerate().filter(|(p, _)| !seen[*p]) {
        failed.push(NotWritten {
            index: item.index,
            identifier: item.identifier.clone(),
            error: "missing_result".into(),
            message: "Port's answer did not mention this entity".into(),
        });
    }
    BatchResult::Done(ok, failed)
}

/// Every entity of a batch whose request failed as a whole.
fn whole_batch_failed(batch: &Batch, e: &PortError) -> Vec<NotWritten> {
    let text = e.to_string();
    let (error, message) = match e {
        // "Port API 404 not_found: <message> (<route>, trace id …)" without the code twice.
        PortError::Api { status, code, .. } => (
            code.clone(),
            text.strip_prefix(&format!("Port API {status} {code}: "))
                .unwrap_or(&text)
                .to_string(),
        ),
        _ => ("request_failed".to_string(), text),
    };
    batch
        .items
        .iter()
        .map(|i| NotWritten {
            index: i.index,
            identifier: i.identifier.clone(),
            error: error.clone(),
            message: message.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entity(i: usize, bp: Option<&str>, pad: usize) -> Value {
        let mut v = json!({"identifier": format!("e{i}"), "properties": {"pad": "x".repeat(pad)}});
        if let Some(bp) = bp {
            v["blueprint"] = json!(bp);
        }
        v
    }

    #[test]
    fn batches_hold_at_most_twenty_entities_of_one_blueprint() {
        let entities: Vec<Value> = (0..45)
            .map(|i| entity(i, Some(if i % 3 == 0 { "a" } else { "b" }), 10))
            .collect();
        let (items, failed) = prepare(entities, None).unwrap();
        assert!(failed.is_empty());
        let b = batches(items);
        let sizes: Vec<(String, usize)> = b
            .iter()
            .map(|b| (b.blueprint.clone(), b.items.len()))
            .collect();
        assert_eq!(
            sizes,
            [("a".into(), 15), ("b".into(), 20), ("b".into(), 10)]
        );
        assert!(b
            .iter()
            .all(|b| b.items.iter().all(|i| i.body.get("blueprint").is_none())));
    }

    #[test]
    fn batches_stay_under_one_mebibyte() {
        let entities: Vec<Value> = (0..10).map(|i| entity(i, None, 300_000)).collect();
        let (items, _) = prepare(entities, Some("big")).unwrap();
        let b = batches(items);
        let sizes: Vec<usize> = b.iter().map(|b| b.items.len()).collect();
        assert_eq!(sizes, [3, 3, 3, 1]);
        for b in b {
            let bytes = serde_json::to_vec(
                &json!({"entities": b.items.iter().map(|i| &i.body).collect::<Vec<_>>()}),
            )
            .unwrap()
            .len();
            assert!(bytes <= 1024 * 1024, "{bytes}");
        }
    }

    #[test]
    fn an_entity_over_the_limit_fails_alone_without_being_sent() {
        let entities = vec![entity(0, None, 10), entity(1, None, 1_100_000)];
        let (items, failed) = prepare(entities, Some("bp")).unwrap();
        assert_eq!(items.len(), 1);
        assert_eq!(failed[0].index, 1);
        assert_eq!(failed[0].error, "payload_too_large");
    }

    #[test]
    fn a_partial_answer_maps_back_to_input_elements() {
        let entities: Vec<Value> = (0..3).map(|i| entity(i, None, 1)).collect();
        let (items, _) = prepare(entities, Some("bp")).unwrap();
        let mut b = batches(items);
        let batch = b.remove(0);
        let answer = json!({
            "ok": false,
            "entities": [{"identifier": "e0", "index": 0, "created": true}],
            "errors": [{"identifier": "e2", "index": 2, "statusCode": 422, "error": "blueprint_schema_mismatch", "message": "bad"}]
        });
        let BatchResult::Done(ok, failed) = map_answer(&batch, &answer) else {
            panic!("not split")
        };
        assert_eq!(ok, [(0, "e0".to_string())]);
        assert_eq!(failed.len(), 2);
        assert_eq!(failed[0].index, 2);
        assert_eq!(failed[0].error, "blueprint_schema_mismatch");
        assert_eq!(failed[1].index, 1);
        assert_eq!(failed[1].error, "missing_result");
    }
}
