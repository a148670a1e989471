//! The catalog operations: UPSERT, GET, SEARCH and DELETE of entities, each tied to the Port
//! run when there is one.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context as _;
use serde_json::{json, Map, Value};

use super::Step;
use crate::inputs::WorkspaceFile;
use crate::port::routes::{self, Route};
use crate::port::{self, PortClient, PortError};
use crate::runner::markdown::{code, link};

/// How every entity write of the step is made: tied to its run, and creating missing related
/// entities when asked.
pub(super) fn write_of(step: &Step) -> routes::Write {
    routes::Write {
        run_id: step.run.as_ref().map(|r| r.id.clone()),
        create_missing_related_entities: step.inputs.create_missing_related_entities,
    }
}

/// Sends an entity write that may be tied to the step's run (`run_id`). When Port refuses it
/// because that run has already ended (`run_exhausted`: a re-run of the job finds the run of
/// its first attempt), the same write is sent again without `run_id`: the entity is the job's
/// real work, and only the tie cannot be had. That second request is declared safe here even
/// for an upsert without `identifier`, whose copies are otherwise never sent (a copy whose
/// answer was lost may have created an entity): Port refused the first before writing
/// anything, so the second is the only one that can take effect. Its own retries keep the
/// write's rule. Once a write has met an ended run (`ended` is set), the writes after it go
/// untied at once.
///
/// Returns Port's answer and whether the write went untied.
pub(super) async fn write_tied_while_open(
    client: &PortClient,
    route: Route,
    ended: &AtomicBool,
) -> Result<(Value, bool), PortError> {
    let tied = route.is_tied();
    if !tied || !ended.load(Ordering::Relaxed) {
        match client.call(&route).await {
            Err(e) if tied && e.code() == Some("run_exhausted") => {
                ended.store(true, Ordering::Relaxed)
            }
            answer => return answer.map(|a| (a, false)),
        }
    }
    let answer = client.call(&route.untied()).await?;
    Ok((answer, true))
}

/// ", tied to run `r_…`", or that it could not be for a run that has ended.
fn tie_note(step: &Step, untied: bool) -> String {
    match (&step.run, untied) {
        (Some(r), false) => format!(", tied to run {}", code(&step.console, &r.id)),
        (Some(r), true) => format!(
            ", not tied to run {}: it has already ended",
            code(&step.console, &r.id)
        ),
        (None, _) => String::new(),
    }
}

/// UPSERT: `POST /v1/blueprints/{bp}/entities`, with only the fields given.
pub async fn upsert(step: &mut Step) -> anyhow::Result<()> {
    let inputs = &step.inputs;
    let blueprint = inputs
        .blueprint
        .clone()
        .context("input 'blueprint' is required for UPSERT")?;
    let mut body = Map::new();
    let strings = [
        ("identifier", &inputs.identifier),
        ("title", &inputs.title),
        ("icon", &inputs.icon),
    ];
    for (key, value) in strings {
        if let Some(v) = value {
            body.insert(key.into(), json!(v));
        }
    }
    if let Some(team) = &inputs.team {
        body.insert("team".into(), team.clone());
    }
    if let Some(p) = &inputs.properties {
        body.insert("properties".into(), Value::Object(p.clone()));
    }
    if let Some(r) = &inputs.relations {
        body.insert("relations".into(), Value::Object(r.clone()));
    }
    let route = routes::upsert_entity(&blueprint, &write_of(step), Value::Object(body));
    // Without `identifier` this write is never repeated, except here: refused because the run
    // has ended, Port wrote nothing, and it is sent again untied (see the function).
    let (answer, untied) = write_tied_while_open(&step.client, route, &AtomicBool::new(false))
        .await
        .with_context(|| format!("cannot upsert the entity in blueprint '{blueprint}'"))?;
    if untied {
        super::run::run_ended(
            step,
            None,
            "the entity was written without being tied to it",
        );
    }
    let entity = answer
        .get("entity")
        .cloned()
        .context("Port's answer to the upsert has no \"entity\"")?;
    let identifier = entity
        .get("identifier")
        .and_then(Value::as_str)
        .context("Port's answer to the upsert has no entity.identifier")?
        .to_string();
    step.output("identifier", &identifier);
    step.output("entity", &serde_json::to_string(&entity)?);
    let url = port::entity_url(&step.inputs.api_base, &blueprint, &identifier);
    let tied = tie_note(step, untied);
    step.note(format!(
        "Entity {} upserted in blueprint {}{tied}",
        link(&step.console, &code(&step.console, &identifier), &url),
        code(&step.console, &blueprint)
    ));
    Ok(())
}

/// The blueprint and identifier GET and DELETE need.
fn blueprint_and_identifier(step: &Step, op: &str) -> anyhow::Result<(String, String)> {
    let bp = step
        .inputs
        .blueprint
        .clone()
        .with_context(|| format!("input 'blueprint' is required for {op}"))?;
    let id = step
        .inputs
        .identifier
        .clone()
        .with_context(|| format!("input 'identifier' is required for {op}"))?;
    Ok((bp, id))
}

/// GET: `GET /v1/blueprints/{bp}/entities/{id}` → outputs `entity` and `identifier`, and
/// with `outputFile`, the entity in that file and output `file`.
pub async fn get(step: &mut Step) -> anyhow::Result<()> {
    let (bp, id) = blueprint_and_identifier(step, "GET")?;
    let mut result = ResultWriter::create(step.inputs.output_file.as_ref())?;
    let answer = step
        .client
        .call(&routes::get_entity(&bp, &id, &step.inputs.include))
        .await
        .with_context(|| format!("cannot get entity '{id}' of blueprint '{bp}'"))?;
    let entity = answer
        .get("entity")
        .context("Port's answer has no \"entity\"")?;
    result.single(entity)?;
    step.output("identifier", &id);
    result.finish(step, "entity", "The entity")?;
    let url = port::entity_url(&step.inputs.api_base, &bp, &id);
    step.note(format!(
        "Entity {} of blueprint {} read",
        link(&step.console, &code(&step.console, &id), &url),
        code(&step.console, &bp)
    ));
    Ok(())
}

/// The most entities Port's blueprint search answers in a page.
const PAGE_LIMIT: u64 = 1000;

/// SEARCH → output `entities`, and with `outputFile`, the entities in that file and output
/// `file`. The search of one blueprint (input `blueprint`, or a query whose top-level `and`
/// holds `$blueprint = <bp>`) goes through `POST /v1/blueprints/{bp}/entities/search` page by
/// page, each page written as it arrives; any other through `POST /v1/entities/search`, which
/// answers everything at once. `limit` caps the entities returned.
pub async fn search(step: &mut Step) -> anyhow::Result<()> {
    let query = step.inputs.query.clone();
    let limit = step.inputs.limit;
    let mut result = ResultWriter::create(step.inputs.output_file.as_ref())?;
    result.begin_array()?;
    let include = body_include(&step.inputs.include);
    let blueprint = step
        .inputs
        .blueprint
        .clone()
        .or_else(|| query.as_ref().and_then(blueprint_of_query))
        .filter(|_| include.is_some());
    let pages = match (&blueprint, include) {
        (Some(bp), Some(include)) => {
            search_pages(step, bp, query.as_ref(), &include, limit, &mut result).await?
        }
        _ => {
            let query = old_route_query(step.inputs.blueprint.as_deref(), query)?;
            let answer = step
                .client
                .call(&routes::search_entities(&step.inputs.include, query))
                .await
                .context("cannot search entities")?;
            let entities = answer
                .get("entities")
                .and_then(Value::as_array)
                .context("Port's answer to the search has no \"entities\" array")?;
            let wanted = limit.map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX));
            for entity in entities.iter().take(wanted) {
                result.push(entity)?;
            }
            1
        }
    };
    result.end_array()?;
    let count = result.count;
    result.finish(step, "entities", &format!("The result ({count} entities)"))?;
    let scope = match &blueprint {
        Some(bp) => format!(
            " in blueprint {} ({pages} page{})",
            code(&step.console, bp),
            if pages == 1 { "" } else { "s" }
        ),
        None => String::new(),
    };
    step.note(format!("Search found {count} entities{scope}"));
    Ok(())
}

/// The body of `POST /v1/entities/search`: the query as given, kept within the `blueprint`
/// input when one is given.
fn old_route_query(blueprint: Option<&str>, query: Option<Value>) -> anyhow::Result<Value> {
    let Some(bp) = blueprint else {
        return query.context("input 'query' is required for SEARCH");
    };
    let mut rules = vec![json!({"property": "$blueprint", "operator": "=", "value": bp})];
    rules.extend(query);
    Ok(json!({"combinator": "and", "rules": rules}))
}

/// Asks for the blueprint's entities page by page, sending each answer's `next` back as
/// `from`, until there is no `next` or `limit` entities came. Returns the pages asked for.
/// A cursor handed out twice (`a`, `b`, `a`, …) would make the pages go round until the
/// deadline: the search stops at the first one seen again.
async fn search_pages(
    step: &Step,
    blueprint: &str,
    query: Option<&Value>,
    include: &[String],
    limit: Option<u64>,
    result: &mut ResultWriter,
) -> anyhow::Result<u64> {
    let mut from: Option<String> = None;
    let mut pages = 0;
    // Every cursor handed out so far, and the page whose answer handed it out.
    let mut cursors: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
    loop {
        let left = limit.map(|l| l.saturating_sub(result.count as u64));
        let mut body = Map::new();
        if let Some(q) = query {
            body.insert("query".into(), q.clone());
        }
        if !include.is_empty() {
            body.insert("include".into(), json!(include));
        }
        body.insert(
            "limit".into(),
            json!(left.map_or(PAGE_LIMIT, |l| l.min(PAGE_LIMIT))),
        );
        if let Some(f) = &from {
            body.insert("from".into(), json!(f));
        }
        let answer = step
            .client
            .call(&routes::search_blueprint(blueprint, Value::Object(body)))
            .await
            .with_context(|| {
                format!(
                    "cannot search the entities of blueprint '{blueprint}' (page {})",
                    pages + 1
                )
            })?;
        pages += 1;
        let Value::Object(mut answer) = answer else {
            anyhow::bail!("Port's answer to the search is not a JSON object");
        };
        let Some(Value::Array(entities)) = answer.remove("entities") else {
            anyhow::bail!("Port's answer to the search has no \"entities\" array");
        };
        for entity in &entities {
            if limit.is_some_and(|l| result.count as u64 >= l) {
                break;
            }
            result.push(entity)?;
        }
        let next = match answer.remove("next") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.is_empty() => None,
            Some(Value::String(s)) => Some(s),
            Some(_) => {
                anyhow::bail!("Port's answer to the search has a \"next\" that is not a string")
            }
        };
        let Some(next) = next else {
            return Ok(pages);
        };
        if limit.is_some_and(|l| result.count as u64 >= l) {
            return Ok(pages);
        }
        if let Some(&first) = cursors.get(&next) {
            let again = if first + 1 == pages {
                "sends back the cursor it was sent".to_string()
            } else {
                format!(
                    "hands out the cursor page {first}'s answer handed out, so the pages go round"
                )
            };
            anyhow::bail!(
                "Port's answer to page {pages} of the search of blueprint '{blueprint}' {again}: \
                 stopped after {} entities",
                result.count
            );
        }
        cursors.insert(next.clone(), pages);
        from = Some(next);
    }
}

/// The blueprint a query searches when its top level is an `and` holding
/// `{"property": "$blueprint", "operator": "=", "value": "<bp>"}`, and `<bp>` is a valid Port
/// identifier as the `blueprint` input must be: it becomes a path segment, and a value such as
/// `..` would send the search elsewhere. A query naming no valid one is sent as it is.
fn blueprint_of_query(query: &Value) -> Option<String> {
    if query.get("combinator").and_then(Value::as_str) != Some("and") {
        return None;
    }
    let named: Vec<&str> = query
        .get("rules")?
        .as_array()?
        .iter()
        .filter(|r| {
            r.get("property").and_then(Value::as_str) == Some("$blueprint")
                && r.get("operator").and_then(Value::as_str) == Some("=")
        })
        .filter_map(|r| r.get("value").and_then(Value::as_str))
        .collect();
    match named.as_slice() {
        [one] if crate::inputs::check_identifier(one).is_ok() => Some((*one).to_string()),
        _ => None,
    }
}

/// The `include` input (paths in the entity's JSON, as the other routes take them:
/// `identifier`, `properties.language`) as a blueprint search's body takes it: identifiers of
/// properties and relations (`language`), meta-properties with a `$` (`$identifier`). `None`
/// when a path names no single field (`properties`, `properties.config.port`): that search
/// takes the route that accepts paths.
fn body_include(paths: &[String]) -> Option<Vec<String>> {
    const META: &[&str] = &[
        "identifier",
        "title",
        "icon",
        "team",
        "blueprint",
        "createdAt",
        "updatedAt",
        "createdBy",
        "updatedBy",
    ];
    paths
        .iter()
        .map(|p| {
            if let Some(name) = p
                .strip_prefix("properties.")
                .or_else(|| p.strip_prefix("relations."))
            {
                (!name.contains('.')).then(|| name.to_string())
            } else if META.contains(&p.as_str()) {
                Some(format!("${p}"))
            } else {
                None
            }
        })
        .collect()
}

/// The most bytes of JSON the `entity` and `entities` outputs carry when `outputFile` is
/// given, and above which, without it, a warning says the output is large: half the 1 MiB
/// GitHub allows for all of a job's outputs, leaving room for the others.
pub const MAX_OUTPUT_BYTES: usize = 512 * 1024;

/// The result as it is written: to the `outputFile` when given (into a temporary file next to
/// it, renamed once complete), as each entity arrives; and kept as the output's text while it
/// fits (without a file: always).
///
/// The file is written with blocking calls on the step's single-threaded runtime: a SEARCH asks
/// for its next page only once this one is written, so no request waits on the disk, and each
/// write is one entity into a buffered local file.
struct ResultWriter {
    file: Option<PartFile>,
    /// The output's JSON; `None` once it outgrew [`MAX_OUTPUT_BYTES`] with a file to hold it.
    text: Option<String>,
    /// The size of the whole result's JSON.
    bytes: usize,
    /// Entities written.
    count: usize,
}

/// The file being written, removed unless it is completed.
struct PartFile {
    writer: std::io::BufWriter<std::fs::File>,
    part: PathBuf,
    target: WorkspaceFile,
    done: bool,
}

impl Drop for PartFile {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_file(&self.part);
        }
    }
}

impl ResultWriter {
    /// Creates the file (and its directories) before anything is asked of Port.
    fn create(target: Option<&WorkspaceFile>) -> anyhow::Result<ResultWriter> {
        let file = target
            .map(|t| {
                let cannot = || format!("cannot write input 'outputFile' {:?}", t.relative);
                let dir = t.path.parent().context("the file has no directory")?;
                std::fs::create_dir_all(dir).with_context(cannot)?;
                let name = t.path.file_name().unwrap_or_default().to_string_lossy();
                let part = dir.join(format!(".{name}.part"));
                // A leftover (or a link planted in the workspace) is removed, never followed:
                // the file is created anew.
                let _ = std::fs::remove_file(&part);
                let f = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&part)
                    .with_context(cannot)?;
                anyhow::Ok(PartFile {
                    writer: std::io::BufWriter::new(f),
                    part,
                    target: t.clone(),
                    done: false,
                })
            })
            .transpose()?;
        Ok(ResultWriter {
            file,
            text: Some(String::new()),
            bytes: 0,
            count: 0,
        })
    }

    /// Adds `text` to the output and `file_text` to the file.
    fn write(&mut self, text: &str, file_text: &str) -> anyhow::Result<()> {
        self.bytes += text.len();
        if let Some(f) = &mut self.file {
            f.writer.write_all(file_text.as_bytes()).with_context(|| {
                format!("cannot write input 'outputFile' {:?}", f.target.relative)
            })?;
            if self.bytes > MAX_OUTPUT_BYTES {
                self.text = None;
            }
        }
        if let Some(t) = &mut self.text {
            t.push_str(text);
        }
        Ok(())
    }

    fn single(&mut self, value: &Value) -> anyhow::Result<()> {
        let text = serde_json::to_string(value)?;
        self.write(&text, &text)?;
        self.write("", "\n")
    }

    fn begin_array(&mut self) -> anyhow::Result<()> {
        self.write("[", "[\n")
    }

    fn push(&mut self, entity: &Value) -> anyhow::Result<()> {
        let text = serde_json::to_string(entity)?;
        if self.count > 0 {
            self.write(",", ",\n")?;
        }
        self.write(&text, &text)?;
        self.count += 1;
        Ok(())
    }

    fn end_array(&mut self) -> anyhow::Result<()> {
        let end = if self.count > 0 { "\n]\n" } else { "]\n" };
        self.write("]", end)
    }

    /// Completes the file (output `file`) and sets output `name` when it fits, warning when it
    /// is left out or large. `what` names the result in the warning.
    fn finish(mut self, step: &mut Step, name: &str, what: &str) -> anyhow::Result<()> {
        let size = shown_size(self.bytes);
        let limit = shown_size(MAX_OUTPUT_BYTES);
        match self.file.take() {
            Some(mut f) => {
                let cannot = || format!("cannot write input 'outputFile' {:?}", f.target.relative);
                f.writer.flush().with_context(cannot)?;
                std::fs::rename(&f.part, &f.target.path).with_context(cannot)?;
                f.done = true;
                step.output("file", &f.target.relative);
                match self.text.take() {
                    Some(text) => step.output(name, &text),
                    None => step.console.warning(
                        Some("Output left out"),
                        &format!(
                            "{what} is {size}, over the {limit} an output carries: output \
                             '{name}' is left out; the result is in file {:?} (output 'file')",
                            f.target.relative
                        ),
                    ),
                }
            }
            None => {
                if self.bytes > MAX_OUTPUT_BYTES {
                    step.console.warning(
                        Some("Large output"),
                        &format!(
                            "Output '{name}' is {size}, over {limit}: GitHub allows 1 MiB of \
                             outputs per job and may drop it; set input 'outputFile' to write \
                             the result to a file instead"
                        ),
                    );
                }
                if let Some(text) = self.text.take() {
                    step.output(name, &text);
                }
            }
        }
        Ok(())
    }
}

/// `1.5 MiB`, `700 KiB`, `12 bytes`.
pub(super) fn shown_size(bytes: usize) -> String {
    const KIB: usize = 1024;
    if bytes >= KIB * KIB {
        format!("{:.1} MiB", bytes as f64 / (KIB * KIB) as f64)
    } else if bytes >= KIB {
        format!("{} KiB", bytes / KIB)
    } else {
        format!("{bytes} bytes")
    }
}

/// DELETE: `DELETE /v1/blueprints/{bp}/entities/{id}` → output `ok`.
pub async fn delete(step: &mut Step) -> anyhow::Result<()> {
    let (bp, id) = blueprint_and_identifier(step, "DELETE")?;
    let route = routes::delete_entity(
        &bp,
        &id,
        step.inputs.delete_dependents,
        step.run.as_ref().map(|r| r.id.as_str()),
    );
    let (_, untied) = write_tied_while_open(&step.client, route, &AtomicBool::new(false))
        .await
        .with_context(|| format!("cannot delete entity '{id}' of blueprint '{bp}'"))?;
    if untied {
        super::run::run_ended(
            step,
            None,
            "the entity was deleted without being tied to it",
        );
    }
    step.output("ok", "true");
    let tied = tie_note(step, untied);
    step.note(format!(
        "Entity {} of blueprint {} deleted{tied}",
        code(&step.console, &id),
        code(&step.console, &bp)
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_names_one_blueprint_only_in_a_top_level_and() {
        let bp = |v: Value| blueprint_of_query(&v);
        let rule = json!({"property": "$blueprint", "operator": "=", "value": "service"});
        let other = json!({"property": "tier", "operator": "=", "value": "1"});
        assert_eq!(
            bp(json!({"combinator": "and", "rules": [other, rule]})),
            Some("service".into())
        );
        assert_eq!(bp(json!({"combinator": "or", "rules": [rule]})), None);
        assert_eq!(bp(json!({"rules": [rule]})), None);
        let nested = json!({"combinator": "and", "rules": [rule]});
        assert_eq!(bp(json!({"combinator": "and", "rules": [nested]})), None);
        let domain = json!({"property": "$blueprint", "operator": "=", "value": "domain"});
        assert_eq!(
            bp(json!({"combinator": "and", "rules": [rule, domain]})),
            None
        );
        let within = json!({"property": "$blueprint", "operator": "in", "value": ["service"]});
        assert_eq!(bp(json!({"combinator": "and", "rules": [within]})), None);
        // A value that is no Port identifier names no blueprint.
        for value in ["", ".", "..", "a b", "svc\n", "x?y"] {
            let rule = json!({"property": "$blueprint", "operator": "=", "value": value});
            assert_eq!(
                bp(json!({"combinator": "and", "rules": [rule]})),
                None,
                "{value:?}"
            );
        }
    }

    #[test]
    fn include_paths_become_field_identifiers_when_each_names_one_field() {
        let ids =
            |paths: &[&str]| body_include(&paths.iter().map(|p| p.to_string()).collect::<Vec<_>>());
        assert_eq!(
            ids(&[
                "identifier",
                "properties.language",
                "relations.domain",
                "createdAt"
            ]),
            Some(vec![
                "$identifier".to_string(),
                "language".into(),
                "domain".into(),
                "$createdAt".into()
            ])
        );
        assert_eq!(ids(&[]), Some(vec![]));
        assert_eq!(ids(&["identifier", "properties"]), None);
        assert_eq!(ids(&["properties.config.port"]), None);
    }
}
