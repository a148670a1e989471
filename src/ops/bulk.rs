//! BULK_UPSERT on Port's bulk route: entities grouped by blueprint, in batches of at most
//! [`MAX_BATCH_ENTITIES`] and under [`MAX_BATCH_BYTES`], a few batches in flight at once.
//! Every entity is attempted: a partial answer (207) or a failed batch marks just those
//! entities as failed, and a batch Port finds too large (413) is split and sent again.
//!
//! The entities come from the `entities` input or, read as they are sent, from the file of
//! `entitiesFile` (`entities_file`): batches are formed as entities are read, one open batch a
//! blueprint, and a batch leaves when it is full, so a file of any size is sent with little
//! memory.

mod entities_file;

use std::collections::VecDeque;
use std::fs::File;
use std::io::BufReader;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use serde::Serialize;
use serde_json::Value;
use tokio::task::JoinSet;

use super::Step;
use crate::inputs::printable;
use crate::port::routes::{self, Write};
use crate::port::{PortClient, PortError};
use entities_file::{FileElements, FileError, Rejected};

/// Port's limit of entities per bulk request.
pub const MAX_BATCH_ENTITIES: usize = 20;
/// Port refuses bodies over 1 MiB; stay below it with room for the envelope.
pub const MAX_BATCH_BYTES: usize = 1024 * 1024 - 1024;
/// GitHub shows at most ten error annotations a step, and the step's own error is the last:
/// up to nine failed entities are annotated one by one, or eight and a line for the rest.
const MAX_ANNOTATIONS: usize = 9;
/// Batches not yet full may hold this much in all (and be this many) before the oldest is
/// sent as it is: entities of many blueprints cannot fill memory while each waits for more.
const MAX_OPEN_BYTES: usize = 8 * 1024 * 1024;
const MAX_OPEN_BATCHES: usize = 64;

/// One entity, ready to send.
#[derive(Debug, Clone)]
struct Item {
    /// Its position in the `entities` input or in the file.
    index: usize,
    /// The line of the file it starts on.
    line: Option<usize>,
    blueprint: String,
    identifier: Option<String>,
    body: Value,
    /// Serialized size of `body`.
    size: usize,
}

impl Item {
    fn not_written(&self, error: impl Into<String>, message: impl Into<String>) -> NotWritten {
        not_written(
            self.index,
            self.line,
            self.identifier.clone(),
            error,
            message,
        )
    }
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

/// A failed entity; the message of one read from a file starts with its line.
fn not_written(
    index: usize,
    line: Option<usize>,
    identifier: Option<String>,
    error: impl Into<String>,
    message: impl Into<String>,
) -> NotWritten {
    let message = message.into();
    NotWritten {
        index,
        identifier,
        error: error.into(),
        message: match line {
            Some(line) => format!("line {line}: {message}"),
            None => message,
        },
    }
}

/// What one batch came to.
enum BatchResult {
    /// Written entities as `(index, identifier)`, and the entities not written.
    Done(Vec<(usize, String)>, Vec<NotWritten>),
    /// Port found the body too large: send the halves.
    Split(Batch, Batch),
}

/// One element to upsert, before it is checked: an entity of the `entities` input, or an
/// element read from `entitiesFile`.
#[derive(Debug, Clone, PartialEq)]
struct Element {
    /// Its position, from 0, counting every element (bad ones too).
    index: usize,
    /// The line of `entitiesFile` it starts on, from 1; `None` for the `entities` input.
    line: Option<usize>,
    /// The entity, or why it cannot be one.
    value: Result<Value, Rejected>,
}

/// Where the entities come from.
enum Source {
    /// The `entities` input, already checked.
    Input(std::iter::Enumerate<std::vec::IntoIter<Value>>),
    /// `entitiesFile`, read as the batches go out.
    File {
        given: String,
        elements: FileElements,
    },
}

impl Source {
    fn of(step: &mut Step) -> anyhow::Result<Source> {
        if let Some(file) = &step.inputs.entities_file {
            let opened = File::open(&file.path).with_context(|| {
                format!(
                    "input 'entitiesFile' ('{}') cannot be read",
                    printable(&file.given)
                )
            })?;
            let elements = FileElements::start(BufReader::with_capacity(64 * 1024, opened))
                .context("cannot start reading input 'entitiesFile'")?;
            return Ok(Source::File {
                given: file.given.clone(),
                elements,
            });
        }
        // Taken, not copied: a thousand entities are the largest thing a step holds.
        let entities = step
            .inputs
            .entities
            .take()
            .context("input 'entities' is required for BULK_UPSERT")?;
        Ok(Source::Input(entities.into_iter().enumerate()))
    }

    /// Whether reading must stop before the next element: the file is not read on once
    /// nothing more can be sent (the step was cancelled, or its work deadline passed), so that
    /// the outputs and summary are written at once. The `entities` input, small and already
    /// in memory, is gone through to its end, each entity listed.
    fn cut_short(&mut self, step: &Step) -> Option<Unread> {
        let Source::File { elements, .. } = self else {
            return None;
        };
        let why = match step.stop.reason() {
            Some(why) => format!("the step was cancelled ({why})"),
            None if Instant::now() >= step.deadlines.work => {
                "the step's deadline had passed (input 'timeout')".to_string()
            }
            None => return None,
        };
        elements.stop();
        Some(Unread {
            line: elements.line(),
            why,
        })
    }

    async fn next(&mut self) -> Result<Option<Element>, FileError> {
        match self {
            Source::Input(entities) => Ok(entities.next().map(|(index, value)| Element {
                index,
                line: None,
                value: Ok(value),
            })),
            Source::File { elements, .. } => elements.next().await,
        }
    }
}

/// The rest of a file left unread.
struct Unread {
    /// The line reading stopped at.
    line: usize,
    /// Why: `the step was cancelled (SIGTERM)`.
    why: String,
}

/// Elements read between two yields to the runtime.
const YIELD_EVERY: usize = 256;

/// The most bytes of JSON the `identifiers` and `failed` outputs carry each: a quarter of the
/// 1 MiB GitHub keeps for all of a job's outputs. A longer list goes to a file in the
/// workspace, named by output `identifiersFile` or `failedFile`.
pub const MAX_LIST_OUTPUT_BYTES: usize = 256 * 1024;

/// BULK_UPSERT.
pub async fn bulk_upsert(step: &mut Step) -> anyhow::Result<()> {
    let mut source = Source::of(step)?;
    let default_blueprint = step.inputs.blueprint.clone();
    let write = Arc::new(super::entity::write_of(step));
    // Set once a batch meets a run that has ended; counts the batches written untied.
    let run_ended = Arc::new((AtomicBool::new(false), AtomicUsize::new(0)));
    let limit = step.inputs.concurrency.max(1);
    let mut total = 0;
    let mut batcher = Batcher::default();
    // Batches ready to go: those the batcher let out, and the halves of a split one.
    let mut ready: VecDeque<Batch> = VecDeque::new();
    let mut read_all = false;
    let mut file_error: Option<FileError> = None;
    let mut written: Vec<(usize, String)> = Vec::new();
    let mut failures: Vec<NotWritten> = Vec::new();
    // Where reading the file stopped, when nothing more could be sent.
    let mut unread: Option<Unread> = None;
    let mut in_flight = JoinSet::new();
    loop {
        while in_flight.len() < limit {
            // Read only as far as the next batch: the file waits while the requests do.
            while ready.is_empty() && !read_all {
                if total % YIELD_EVERY == YIELD_EVERY - 1 {
                    // The runtime has one thread: let the signal handler and the requests run.
                    tokio::task::yield_now().await;
                }
                if let Some(why) = source.cut_short(step) {
                    unread = Some(why);
                    read_all = true;
                    batcher.close(&mut ready);
                    break;
                }
                // The file is read on its own thread: waiting for it, the requests in flight
                // run, and a cancellation or the deadline is seen at once.
                let next = tokio::select! {
                    biased;
                    next = source.next() => next,
                    () = step.stop.stopped() => continue,
                    () = tokio::time::sleep_until(step.deadlines.work.into()) => continue,
                };
                match next {
                    Ok(Some(element)) => {
                        total += 1;
                        match check_element(element, default_blueprint.as_deref()) {
                            Ok(item) => batcher.add(item, &mut ready),
                            Err(failed) => failures.push(failed),
                        }
                    }
                    Ok(None) => read_all = true,
                    Err(e) => {
                        file_error = Some(e);
                        read_all = true;
                    }
                }
                if read_all {
                    batcher.close(&mut ready);
                }
            }
            let Some(batch) = ready.pop_front() else {
                break;
            };
            let client = step.client.clone();
            let write = write.clone();
            let ended = run_ended.clone();
            in_flight.spawn(async move { send_batch(&client, batch, &write, &ended).await });
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
                ready.push_front(b);
                ready.push_front(a);
            }
        }
    }
    let batch_count = batcher.made;
    written.sort_by_key(|(i, _)| *i);
    failures.sort_by_key(|f| f.index);
    let identifiers: Vec<&str> = written.iter().map(|(_, id)| id.as_str()).collect();
    list_output(step, "identifiers", serde_json::to_string(&identifiers)?);
    list_output(step, "failed", serde_json::to_string(&failures)?);
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
    let from = match &source {
        Source::File { given, .. } => {
            format!(
                " from {}",
                crate::runner::markdown::code(&step.console, given)
            )
        }
        Source::Input(_) => String::new(),
    };
    let untied = run_ended.1.load(Ordering::Relaxed);
    if untied > 0 {
        super::run::run_ended(
            step,
            None,
            format!(
                "the entities of {untied} batch{} were written without being tied to it",
                if untied == 1 { "" } else { "es" }
            ),
        );
    }
    step.note(format!(
        "Bulk upsert{from}: {} of {total} entities written in {batch_count} {}{}",
        written.len(),
        if batch_count == 1 { "batch" } else { "batches" },
        step.run
            .as_ref()
            .map(|r| {
                let run = crate::runner::markdown::code(&step.console, &r.id);
                match untied {
                    0 => format!(", tied to run {run}"),
                    n if n >= batch_count => {
                        format!(", not tied to run {run}: it has already ended")
                    }
                    n => format!(", tied to run {run} but for {n} batches sent after it ended"),
                }
            })
            .unwrap_or_default()
    ));
    let unanswered = failures.iter().filter(|f| f.error == NO_ANSWER).count();
    let not_sent = failures.iter().filter(|f| f.error == NOT_SENT).count();
    if unanswered > 0 {
        step.note(format!(
            "{unanswered} entities got no answer: Port may have written them"
        ));
    }
    if let Some(u) = &unread {
        step.note(format!(
            "Reading the file stopped at line {} ({}): the entities after it were not sent",
            u.line,
            crate::runner::markdown::text(&step.console, &u.why)
        ));
    }
    if !failures.is_empty() {
        use crate::runner::markdown::text;
        let mut table = String::from("Entities not written, or not confirmed (index from 0, as in the 'failed' output):\n\n  | index | identifier | error | message |\n  |---|---|---|---|\n");
        for f in failures.iter().take(50) {
            table.push_str(&format!(
                "  | {} | {} | {} | {} |\n",
                f.index,
                text(&step.console, f.identifier.as_deref().unwrap_or("")),
                text(&step.console, &f.error),
                text(&step.console, &f.message)
            ));
        }
        step.note(table.trim_end().to_string());
    }
    if let (Some(e), Source::File { given, .. }) = (file_error, &source) {
        anyhow::bail!(
            "input 'entitiesFile' ('{}') {e}; {} of the {total} entities before it were written",
            printable(given),
            written.len()
        );
    }
    let mut problems = Vec::new();
    if !failures.is_empty() {
        let mut what = format!("{} of {total} entities were not written", failures.len());
        if unanswered > 0 {
            what.push_str(&format!(
                ", or not confirmed: {unanswered} got no answer and Port may have written them"
            ));
            if not_sent > 0 {
                what.push_str(&format!(", {not_sent} were not sent"));
            }
        }
        problems.push(format!("{what} (see the 'failed' output)"));
    }
    if let (Some(u), Source::File { given, .. }) = (&unread, &source) {
        problems.push(format!(
            "input 'entitiesFile' ('{}') was read up to line {} ({}): the entities after it \
             were not sent",
            printable(given),
            u.line,
            u.why
        ));
    }
    if !problems.is_empty() {
        anyhow::bail!("{}", problems.join("; "));
    }
    Ok(())
}

/// Sets output `name` to the JSON list `json` when it is at most [`MAX_LIST_OUTPUT_BYTES`];
/// a longer list is written to a file in the workspace, named by output `{name}File`, and
/// the output is left out with a warning (a cut list would read as a complete one).
fn list_output(step: &mut Step, name: &str, json: String) {
    if json.len() <= MAX_LIST_OUTPUT_BYTES {
        step.output(name, &json);
        return;
    }
    let size = super::entity::shown_size(json.len());
    let limit = super::entity::shown_size(MAX_LIST_OUTPUT_BYTES);
    let file_output = format!("{name}File");
    let written = crate::runner::write_step_file(
        step.job.workspace.as_deref(),
        step.job.step_id.as_deref(),
        &format!("{name}.json"),
        json.as_bytes(),
    );
    let text = match written {
        Ok(relative) => {
            step.output(&file_output, &relative);
            format!(
                "Output '{name}' is {size}, over the {limit} it may carry (GitHub keeps 1 MiB of \
                 outputs per job): it is left out; the whole list is in file {relative:?} \
                 (output '{file_output}')"
            )
        }
        Err(e) => format!(
            "Output '{name}' is {size}, over the {limit} it may carry (GitHub keeps 1 MiB of \
             outputs per job): it is left out, and the file meant to hold it cannot be written \
             ({e})"
        ),
    };
    step.console.warning(Some("Output left out"), &text);
}

/// Checks an element and strips `blueprint` from its body (it goes in the path).
fn check_element(element: Element, default_blueprint: Option<&str>) -> Result<Item, NotWritten> {
    let Element { index, line, value } = element;
    let failed = |identifier, error: &str, message: String| {
        not_written(index, line, identifier, error, message)
    };
    let mut body = match value {
        Ok(Value::Object(body)) => body,
        Ok(other) => {
            let problem = crate::inputs::entity_problem(&other).unwrap_or_default();
            return Err(failed(None, "invalid_entity", problem));
        }
        Err(rejected) => {
            return Err(failed(
                rejected.identifier,
                rejected.error,
                rejected.message,
            ))
        }
    };
    let identifier = body
        .get("identifier")
        .and_then(Value::as_str)
        .map(str::to_string);
    let blueprint = match body.shift_remove("blueprint") {
        Some(Value::String(b)) => b,
        _ => match default_blueprint {
            Some(b) => b.to_string(),
            None => {
                return Err(failed(
                    identifier,
                    "invalid_entity",
                    "has no \"blueprint\" and no 'blueprint' input is given".into(),
                ))
            }
        },
    };
    let body = Value::Object(body);
    let size = serde_json::to_vec(&body).map_or(usize::MAX, |b| b.len());
    if size > MAX_BATCH_BYTES {
        return Err(failed(
            identifier,
            "payload_too_large",
            format!("the entity is {size} bytes, over Port's 1 MiB request limit; it was not sent"),
        ));
    }
    Ok(Item {
        index,
        line,
        blueprint,
        identifier,
        body,
        size,
    })
}

/// Groups entities by blueprint as they come, one open batch a blueprint, and lets a batch out
/// when it holds [`MAX_BATCH_ENTITIES`] entities or the next would take it over
/// [`MAX_BATCH_BYTES`].
#[derive(Default)]
struct Batcher {
    /// Open batches in the order they were opened, with their size in bytes.
    open: VecDeque<(Batch, usize)>,
    open_bytes: usize,
    /// Batches let out so far.
    made: usize,
}

impl Batcher {
    fn add(&mut self, item: Item, ready: &mut VecDeque<Batch>) {
        // `{"entities":[` … `]}` and a comma per entity.
        let added = item.size + 1;
        let at = self
            .open
            .iter()
            .position(|(b, _)| b.blueprint == item.blueprint);
        if let Some(i) = at {
            if self.open[i].1 + added + 16 > MAX_BATCH_BYTES {
                self.let_out(i, ready);
            }
        }
        let at = match self
            .open
            .iter()
            .position(|(b, _)| b.blueprint == item.blueprint)
        {
            Some(i) => i,
            None => {
                let batch = Batch {
                    blueprint: item.blueprint.clone(),
                    items: Vec::new(),
                };
                self.open.push_back((batch, 0));
                self.open.len() - 1
            }
        };
        self.open[at].0.items.push(item);
        self.open[at].1 += added;
        self.open_bytes += added;
        if self.open[at].0.items.len() == MAX_BATCH_ENTITIES {
            self.let_out(at, ready);
        }
        while self.open_bytes > MAX_OPEN_BYTES || self.open.len() > MAX_OPEN_BATCHES {
            self.let_out(0, ready);
        }
    }

    fn let_out(&mut self, i: usize, ready: &mut VecDeque<Batch>) {
        if let Some((batch, bytes)) = self.open.remove(i) {
            self.open_bytes -= bytes;
            self.made += 1;
            ready.push_back(batch);
        }
    }

    /// At the end of the entities: every open batch, in the order they were opened.
    fn close(&mut self, ready: &mut VecDeque<Batch>) {
        while !self.open.is_empty() {
            self.let_out(0, ready);
        }
    }
}

/// Sends one batch and maps Port's answer back to the input's element numbers. A batch Port
/// refuses because the run has ended is sent again untied (see
/// [`super::entity::write_tied_while_open`]), counted in `run_ended.1`.
async fn send_batch(
    client: &PortClient,
    batch: Batch,
    write: &Write,
    run_ended: &(AtomicBool, AtomicUsize),
) -> BatchResult {
    let route = routes::bulk_upsert(
        &batch.blueprint,
        write,
        batch.items.iter().map(|i| &i.body).collect(),
    );
    let answer = super::entity::write_tied_while_open(client, route, &run_ended.0)
        .await
        .map(|(answer, untied)| {
            if untied {
                run_ended.1.fetch_add(1, Ordering::Relaxed);
            }
            answer
        });
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
            failed.push(item.not_written(error, message));
        }
    }
    for (_, item) in batch.items.iter().enumerate().filter(|(p, _)| !seen[*p]) {
        failed.push(item.not_written(
            "missing_result",
            "Port's answer did not mention this entity",
        ));
    }
    BatchResult::Done(ok, failed)
}

/// `error` of an entity whose batch got no answer (a dropped connection, a timeout, a
/// gateway's 502 or 504, the step cancelled while the batch was at Port): Port may have
/// written it.
const NO_ANSWER: &str = "no_answer";
/// `error` of an entity whose batch was never sent (the deadline had passed, or the step was
/// cancelled before it left): Port did not write it.
const NOT_SENT: &str = "not_sent";

/// Every entity of a batch whose request failed as a whole.
fn whole_batch_failed(batch: &Batch, e: &PortError) -> Vec<NotWritten> {
    let text = e.to_string();
    let (error, message) = match e {
        // A gateway's or a failing server's answer, given after Port may have done the work.
        PortError::Api {
            status: 500 | 502 | 504,
            ..
        } => (NO_ANSWER.to_string(), text),
        // "<message> (<route>, trace id …)": the code is the entity's `error`.
        PortError::Api { code, .. } => (code.clone(), e.detail()),
        PortError::Deadline { .. } | PortError::Stopped { sent: false, .. } => {
            (NOT_SENT.to_string(), text)
        }
        PortError::Transport { .. } | PortError::Stopped { sent: true, .. } => {
            (NO_ANSWER.to_string(), text)
        }
        _ => ("request_failed".to_string(), text),
    };
    batch
        .items
        .iter()
        .map(|i| i.not_written(error.clone(), message.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entity(i: usize, bp: Option<&str>, pad: usize) -> Value {
        let mut v = json!({"identifier": format!("e{i}"), "properties": {"pad": "x".repeat(pad)}});
        if let Some(bp) = bp {
            v["blueprint"] = json!(bp);
        }
        v
    }

    /// Checks the entities of an `entities` input: the items, and the entities not written.
    fn check_all(entities: Vec<Value>, bp: Option<&str>) -> (Vec<Item>, Vec<NotWritten>) {
        let mut items = Vec::new();
        let mut failed = Vec::new();
        for (index, value) in entities.into_iter().enumerate() {
            let element = Element {
                index,
                line: None,
                value: Ok(value),
            };
            match check_element(element, bp) {
                Ok(item) => items.push(item),
                Err(f) => failed.push(f),
            }
        }
        (items, failed)
    }

    /// The batches the items make, in the order they leave.
    fn batches(items: Vec<Item>) -> Vec<Batch> {
        let mut batcher = Batcher::default();
        let mut ready = VecDeque::new();
        for item in items {
            batcher.add(item, &mut ready);
        }
        batcher.close(&mut ready);
        assert_eq!(batcher.made, ready.len());
        ready.into()
    }

    #[test]
    fn batches_hold_at_most_twenty_entities_of_one_blueprint() {
        let entities: Vec<Value> = (0..45)
            .map(|i| entity(i, Some(if i % 3 == 0 { "a" } else { "b" }), 10))
            .collect();
        let (items, failed) = check_all(entities, None);
        assert!(failed.is_empty());
        let b = batches(items);
        let sizes: Vec<(String, usize)> = b
            .iter()
            .map(|b| (b.blueprint.clone(), b.items.len()))
            .collect();
        // A full batch leaves at once; the others when the entities end, oldest first.
        assert_eq!(
            sizes,
            [("b".into(), 20), ("a".into(), 15), ("b".into(), 10)]
        );
        let indexes: Vec<usize> = b[0].items.iter().map(|i| i.index).collect();
        assert_eq!(indexes[..4], [1, 2, 4, 5]);
        assert!(b
            .iter()
            .all(|b| b.items.iter().all(|i| i.body.get("blueprint").is_none())));
    }

    #[test]
    fn batches_stay_under_one_mebibyte() {
        let entities: Vec<Value> = (0..10).map(|i| entity(i, None, 300_000)).collect();
        let (items, _) = check_all(entities, Some("big"));
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
    fn entities_of_many_blueprints_do_not_all_wait_in_open_batches() {
        let entities: Vec<Value> = (0..100)
            .map(|i| entity(i, Some(&format!("bp{i}")), 10))
            .collect();
        let (items, _) = check_all(entities, None);
        let mut batcher = Batcher::default();
        let mut ready = VecDeque::new();
        for item in items {
            batcher.add(item, &mut ready);
            assert!(batcher.open.len() <= MAX_OPEN_BATCHES);
        }
        // The oldest went out as the 65th blueprint came.
        assert_eq!(ready.len(), 100 - MAX_OPEN_BATCHES);
        assert_eq!(ready[0].blueprint, "bp0");
        batcher.close(&mut ready);
        assert_eq!(ready.len(), 100);
        assert_eq!(batcher.made, 100);
    }

    #[test]
    fn an_entity_over_the_limit_fails_alone_without_being_sent() {
        let entities = vec![entity(0, None, 10), entity(1, None, 1_100_000)];
        let (items, failed) = check_all(entities, Some("bp"));
        assert_eq!(items.len(), 1);
        assert_eq!(failed[0].index, 1);
        assert_eq!(failed[0].error, "payload_too_large");
    }

    #[test]
    fn a_batch_port_refuses_whole_names_ports_code_once_per_entity() {
        let (items, _) = check_all(vec![entity(0, None, 1), entity(1, None, 1)], Some("bp"));
        let batch = batches(items).remove(0);
        let e = PortError::Api {
            status: 403,
            code: "missing_permissions".into(),
            message: "no write access".into(),
            method: "POST".into(),
            path: "/v1/blueprints/bp/entities/bulk".into(),
            trace_id: Some("t-1".into()),
            run_id: None,
        };
        let failed = whole_batch_failed(&batch, &e);
        assert_eq!(failed.len(), 2);
        for f in failed {
            assert_eq!(f.error, "missing_permissions");
            assert_eq!(
                f.message,
                "no write access (POST /v1/blueprints/bp/entities/bulk, trace id t-1)"
            );
        }
    }

    #[test]
    fn a_partial_answer_maps_back_to_input_elements() {
        let entities: Vec<Value> = (0..3).map(|i| entity(i, None, 1)).collect();
        let (items, _) = check_all(entities, Some("bp"));
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
