//! The catalog operations: UPSERT, GET, SEARCH and DELETE of entities, each tied to the Port
//! run when there is one.

use anyhow::Context as _;
use reqwest::Method;
use serde_json::{json, Map, Value};

use super::Step;
use crate::port;
use crate::runner::markdown::{code, link};

/// The query of every entity write: `upsert=true&merge=true`, plus the run and
/// `create_missing_related_entities` when asked.
pub(super) fn write_query(step: &Step) -> Vec<(&'static str, String)> {
    let mut q = vec![
        ("upsert", "true".to_string()),
        ("merge", "true".to_string()),
    ];
    if let Some(run) = &step.run {
        q.push(("run_id", run.id.clone()));
    }
    if step.inputs.create_missing_related_entities {
        q.push(("create_missing_related_entities", "true".to_string()));
    }
    q
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
    let query = write_query(step);
    let answer = step
        .client
        .call(
            Method::POST,
            &["blueprints", &blueprint, "entities"],
            &query,
            Some(&Value::Object(body)),
        )
        .await
        .with_context(|| format!("cannot upsert the entity in blueprint '{blueprint}'"))?;
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
    let tied = match &step.run {
        Some(r) => format!(", tied to run {}", code(&r.id)),
        None => String::new(),
    };
    step.note(format!(
        "Entity {} upserted in blueprint {}{tied}",
        link(&code(&identifier), &url),
        code(&blueprint)
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

fn include_query(step: &Step) -> Vec<(&'static str, String)> {
    step.inputs
        .include
        .iter()
        .map(|i| ("include", i.clone()))
        .collect()
}

/// GET: `GET /v1/blueprints/{bp}/entities/{id}` → outputs `entity` and `identifier`.
pub async fn get(step: &mut Step) -> anyhow::Result<()> {
    let (bp, id) = blueprint_and_identifier(step, "GET")?;
    let answer = step
        .client
        .call(
            Method::GET,
            &["blueprints", &bp, "entities", &id],
            &include_query(step),
            None,
        )
        .await
        .with_context(|| format!("cannot get entity '{id}' of blueprint '{bp}'"))?;
    let entity = answer
        .get("entity")
        .cloned()
        .context("Port's answer has no \"entity\"")?;
    step.output("identifier", &id);
    step.output("entity", &serde_json::to_string(&entity)?);
    let url = port::entity_url(&step.inputs.api_base, &bp, &id);
    step.note(format!(
        "Entity {} of blueprint {} read",
        link(&code(&id), &url),
        code(&bp)
    ));
    Ok(())
}

/// SEARCH: `POST /v1/entities/search` with the query untouched → output `entities`.
pub async fn search(step: &mut Step) -> anyhow::Result<()> {
    let query = step
        .inputs
        .query
        .clone()
        .context("input 'query' is required for SEARCH")?;
    let answer = step
        .client
        .call(
            Method::POST,
            &["entities", "search"],
            &include_query(step),
            Some(&query),
        )
        .await
        .context("cannot search entities")?;
    let entities = answer
        .get("entities")
        .cloned()
        .context("Port's answer to the search has no \"entities\"")?;
    let count = entities.as_array().map_or(0, Vec::len);
    step.output("entities", &serde_json::to_string(&entities)?);
    step.note(format!("Search found {count} entities"));
    Ok(())
}

/// DELETE: `DELETE /v1/blueprints/{bp}/entities/{id}` → output `ok`.
pub async fn delete(step: &mut Step) -> anyhow::Result<()> {
    let (bp, id) = blueprint_and_identifier(step, "DELETE")?;
    let mut query = vec![(
        "delete_dependents",
        step.inputs.delete_dependents.to_string(),
    )];
    if let Some(run) = &step.run {
        query.push(("run_id", run.id.clone()));
    }
    step.client
        .call(
            Method::DELETE,
            &["blueprints", &bp, "entities", &id],
            &query,
            None,
        )
        .await
        .with_context(|| format!("cannot delete entity '{id}' of blueprint '{bp}'"))?;
    step.output("ok", "true");
    step.note(format!(
        "Entity {} of blueprint {} deleted",
        code(&id),
        code(&bp)
    ));
    Ok(())
}
