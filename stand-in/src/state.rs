//! The stand-in's model of a Port organization: access tokens, blueprints with their entities,
//! action runs with their logs, plus what tests inject (faults, rejected entities) and what they
//! inspect (recorded requests, spec violations). Port's rules for these objects live here; the
//! HTTP side only maps requests onto these methods.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use indexmap::IndexMap;
use serde_json::{json, Map, Value};

use crate::search;
use crate::{Fault, Recorded, CLIENT_ID};

/// Port refusing an operation (an unknown run, an invalid body, an entity a test set up to be
/// rejected), answered as `{"ok":false,"error","message"}`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Rejection {
    pub status: u16,
    pub error: String,
    pub message: String,
}

impl Rejection {
    pub fn new(status: u16, error: &str, message: impl Into<String>) -> Rejection {
        Rejection {
            status,
            error: error.to_string(),
            message: message.into(),
        }
    }
}

/// How an entity write treats an existing entity (the query flags of the upsert routes).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct WriteMode {
    pub upsert: bool,
    pub merge: bool,
    pub validation_only: bool,
}

#[derive(Default)]
struct RunMeta {
    created_by_api: bool,
    gets: u32,
}

#[derive(Default)]
pub(crate) struct State {
    tokens: HashMap<String, Instant>,
    current_token: Option<String>,
    token_counter: u64,
    blueprints: IndexMap<String, IndexMap<String, Value>>,
    /// The organization's blueprints, once any was declared; `None`: every blueprint exists.
    declared_blueprints: Option<indexmap::IndexSet<String>>,
    pub runs: IndexMap<String, Value>,
    run_meta: HashMap<String, RunMeta>,
    logs: HashMap<String, Vec<Value>>,
    finish_created_runs: Option<(u32, String)>,
    rejections: HashMap<(String, String), Rejection>,
    pub faults: VecDeque<Fault>,
    pub requests: Vec<(u64, Recorded)>,
    pub violations: Vec<String>,
    /// The `next` cursors of blueprint searches handed out: where each one's next page starts.
    cursors: HashMap<String, Cursor>,
    /// A fault: blueprint searches hand out cursors that go round.
    pub cycling_cursors: Option<search::CyclingCursors>,
}

/// Where a blueprint search's next page starts, and the search it belongs to.
struct Cursor {
    blueprint: String,
    query: Value,
    offset: usize,
}

/// Now as Port writes timestamps: `2024-05-01T12:00:00.000Z`.
pub(crate) fn timestamp() -> String {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = since.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since.subsec_millis()
    )
}

/// A random identifier in Port's style: `prefix` and 16 alphanumerics.
pub(crate) fn random_id(prefix: &str) -> String {
    let tail: String = (0..16).map(|_| fastrand::alphanumeric()).collect();
    format!("{prefix}{tail}")
}

fn run_not_found(id: &str) -> Rejection {
    Rejection::new(404, "not_found", format!("Run with id \"{id}\" not found"))
}

fn entity_not_found(blueprint: &str, id: &str) -> Rejection {
    Rejection::new(
        404,
        "not_found",
        format!("Entity with identifier \"{id}\" not found in blueprint \"{blueprint}\""),
    )
}

fn blueprint_not_found(blueprint: &str) -> Rejection {
    Rejection::new(
        404,
        "not_found",
        format!("Blueprint with identifier \"{blueprint}\" was not found"),
    )
}

fn is_ended(status: &str) -> bool {
    matches!(status, "SUCCESS" | "FAILURE" | "DECLINED")
}

fn team_array(team: &Value) -> Value {
    match team {
        Value::String(t) => json!([t]),
        Value::Array(_) => team.clone(),
        _ => json!([]),
    }
}

impl State {
    // ---- tokens ----

    /// The current token (issued again while it lives) and its remaining lifetime in seconds.
    pub fn issue_token(&mut self, ttl_secs: u64) -> (String, u64) {
        let now = Instant::now();
        if let Some(token) = &self.current_token {
            if let Some(expiry) = self.tokens.get(token) {
                if *expiry > now {
                    return (token.clone(), (*expiry - now).as_secs());
                }
            }
        }
        self.token_counter += 1;
        let token = format!("stand-in-token-{}-{}", self.token_counter, random_id(""));
        self.tokens
            .insert(token.clone(), now + Duration::from_secs(ttl_secs));
        self.current_token = Some(token.clone());
        (token, ttl_secs)
    }

    pub fn token_valid(&self, token: &str) -> bool {
        self.tokens
            .get(token)
            .is_some_and(|expiry| *expiry > Instant::now())
    }

    pub fn expire_tokens(&mut self) {
        self.tokens.clear();
        self.current_token = None;
    }

    // ---- runs ----

    fn new_run(id: &str, action: &str, status: &str) -> Map<String, Value> {
        let now = timestamp();
        let mut run = json!({
            "id": id,
            "status": status,
            "statusLabel": null,
            "link": [],
            "action": {"identifier": action, "title": action, "icon": null, "deleted": false},
            "properties": {},
            "rawProperties": {},
            "requiredApproval": false,
            "source": "UI",
            "createdBy": CLIENT_ID,
            "updatedBy": CLIENT_ID,
            "createdAt": now,
            "updatedAt": now,
        });
        if is_ended(status) {
            run["endedAt"] = json!(now);
        }
        match run {
            Value::Object(map) => map,
            _ => unreachable!(),
        }
    }

    pub fn add_run(&mut self, seed: Value) {
        let id = seed["id"]
            .as_str()
            .expect("a seeded run needs a string \"id\"")
            .to_string();
        let status = seed["status"].as_str().unwrap_or("IN_PROGRESS").to_string();
        let mut run = Self::new_run(&id, "demo_action", &status);
        if let Value::Object(fields) = seed {
            for (k, v) in fields {
                run.insert(k, v);
            }
        }
        self.runs.insert(id.clone(), Value::Object(run));
        self.run_meta.insert(id, RunMeta::default());
    }

    pub fn run(&self, id: &str) -> Option<Value> {
        self.runs.get(id).cloned()
    }

    pub fn logs(&self, run_id: &str) -> Vec<Value> {
        self.logs.get(run_id).cloned().unwrap_or_default()
    }

    pub fn finish_created_runs_after(&mut self, gets: u32, status: &str) {
        self.finish_created_runs = Some((gets, status.to_string()));
    }

    /// `GET /v1/actions/runs/{id}`. A run created through the API may finish here, after the
    /// configured number of reads.
    pub fn get_run(&mut self, id: &str) -> Result<Value, Rejection> {
        let meta = self.run_meta.entry(id.to_string()).or_default();
        let run = self.runs.get_mut(id).ok_or_else(|| run_not_found(id))?;
        if let (true, Some((after, status))) = (meta.created_by_api, &self.finish_created_runs) {
            if meta.gets >= *after && run["status"] == "IN_PROGRESS" {
                let now = timestamp();
                run["status"] = json!(status);
                run["endedAt"] = json!(now);
                run["updatedAt"] = json!(now);
            }
        }
        meta.gets += 1;
        Ok(run.clone())
    }

    pub fn list_runs(&self, filters: &[(String, String)]) -> Vec<Value> {
        let get = |name: &str| {
            filters
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        let limit = get("limit")
            .and_then(|l| l.parse::<f64>().ok())
            .map_or(usize::MAX, |l| l as usize);
        self.runs
            .values()
            .rev()
            .filter(|r| get("external_run_id").is_none_or(|x| r["externalRunId"] == x))
            .filter(|r| get("action").is_none_or(|a| r["action"]["identifier"] == a))
            .filter(|r| get("entity").is_none_or(|e| r["entity"]["identifier"] == e))
            .filter(|r| get("blueprint").is_none_or(|b| r["blueprint"]["identifier"] == b))
            .filter(|r| {
                get("active").is_none_or(|a| (a == "true") == (r["status"] == "IN_PROGRESS"))
            })
            .take(limit)
            .cloned()
            .collect()
    }

    /// `PATCH /v1/actions/runs/{id}`: every key sent replaces the stored one.
    pub fn patch_run(&mut self, id: &str, body: &Value) -> Result<Value, Rejection> {
        let run = self.runs.get_mut(id).ok_or_else(|| run_not_found(id))?;
        let synchronized =
            run["synchronized"] == Value::Bool(true) || run["payload"]["synchronized"] == true;
        if body.get("status").is_some() && synchronized {
            return Err(Rejection::new(
                422,
                "run_synchronized_error",
                "Cannot manually change status of a synchronized action run",
            ));
        }
        let now = timestamp();
        if let Some(status) = body.get("status") {
            run["status"] = status.clone();
            run["endedAt"] = json!(now);
        }
        for key in ["statusLabel", "summary", "externalRunId"] {
            if let Some(v) = body.get(key) {
                run[key] = v.clone();
            }
        }
        match body.get("link") {
            Some(Value::String(link)) => run["link"] = json!([link]),
            Some(links @ Value::Array(_)) => run["link"] = links.clone(),
            _ => {}
        }
        run["updatedAt"] = json!(now);
        run["updatedBy"] = json!(CLIENT_ID);
        Ok(run.clone())
    }

    /// `POST /v1/actions/runs/{id}/logs`. An ended run is 422 `run_exhausted`, as the spec with
    /// error codes lists it for this route (a 422 is declared by the current spec too).
    pub fn add_log(&mut self, id: &str, body: &Value) -> Result<Value, Rejection> {
        let run = self.runs.get_mut(id).ok_or_else(|| run_not_found(id))?;
        if is_ended(run["status"].as_str().unwrap_or_default()) {
            return Err(Rejection::new(
                422,
                "run_exhausted",
                "Action run already finished execution",
            ));
        }
        let now = timestamp();
        if let Some(label) = body.get("statusLabel") {
            run["statusLabel"] = label.clone();
        }
        if let Some(status) = body.get("terminationStatus") {
            run["status"] = status.clone();
            run["endedAt"] = json!(now);
        }
        run["updatedAt"] = json!(now);
        let log = json!({
            "id": random_id("log_"),
            "runId": id,
            "message": body["message"],
            "createdBy": CLIENT_ID,
            "createdAt": now,
        });
        self.logs
            .entry(id.to_string())
            .or_default()
            .push(log.clone());
        Ok(log)
    }

    /// `POST /v1/actions/{action}/runs`: a fresh run, in progress.
    pub fn create_run(&mut self, action: &str, body: &Value) -> Value {
        let id = random_id("r_");
        let mut run = Self::new_run(&id, action, "IN_PROGRESS");
        run.insert("source".into(), json!("API"));
        run.insert("properties".into(), body["properties"].clone());
        run.insert("rawProperties".into(), body["properties"].clone());
        if let Some(entity) = body.get("entity").and_then(Value::as_str) {
            run.insert("entity".into(), json!({"identifier": entity}));
        }
        let run = Value::Object(run);
        self.runs.insert(id.clone(), run.clone());
        self.run_meta.insert(
            id,
            RunMeta {
                created_by_api: true,
                gets: 0,
            },
        );
        run
    }

    /// Entity writes tied to a run need the run to exist and still be in progress. An ended run
    /// is 400 `run_exhausted`: the one status Port's spec with error codes (2024-07-22) gives it
    /// on the entity routes (POST, PATCH and PUT of an entity). The bulk route, newer, lists no
    /// error codes; it is taken to run the same check. The current spec lists no 400 on either
    /// route, so the answer is checked against the route's error shape.
    pub fn check_run_for_write(&self, run_id: Option<&str>) -> Result<(), Rejection> {
        let Some(id) = run_id else { return Ok(()) };
        let run = self.runs.get(id).ok_or_else(|| run_not_found(id))?;
        if run["status"] != "IN_PROGRESS" {
            return Err(Rejection::new(
                400,
                "run_exhausted",
                "Action run has already finished execution",
            ));
        }
        Ok(())
    }

    // ---- entities ----

    pub fn reject_entity(&mut self, blueprint: &str, id: &str, rejection: Rejection) {
        self.rejections
            .insert((blueprint.to_string(), id.to_string()), rejection);
    }

    fn rejection(&self, blueprint: &str, id: &str) -> Result<(), Rejection> {
        match self
            .rejections
            .get(&(blueprint.to_string(), id.to_string()))
        {
            Some(f) => Err(f.clone()),
            None => Ok(()),
        }
    }

    pub fn add_blueprint(&mut self, blueprint: &str) {
        self.declared_blueprints
            .get_or_insert_with(Default::default)
            .insert(blueprint.to_string());
    }

    /// Whether the organization has the blueprint (every blueprint, until one is declared).
    fn has_blueprint(&self, blueprint: &str) -> bool {
        self.declared_blueprints
            .as_ref()
            .is_none_or(|declared| declared.contains(blueprint))
    }

    /// Entity writes name a blueprint the organization has; Port answers 404 `not_found`
    /// otherwise (the spec's 404 "A resource with the provided identifier was not found").
    pub fn check_blueprint_for_write(&self, blueprint: &str) -> Result<(), Rejection> {
        if self.has_blueprint(blueprint) {
            Ok(())
        } else {
            Err(blueprint_not_found(blueprint))
        }
    }

    pub fn add_entity(&mut self, blueprint: &str, entity: Value) {
        if let Some(declared) = &mut self.declared_blueprints {
            declared.insert(blueprint.to_string());
        }
        let mode = WriteMode {
            upsert: true,
            ..WriteMode::default()
        };
        let stored = self.build_entity(blueprint, None, &entity, mode);
        let id = stored["identifier"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        self.blueprints
            .entry(blueprint.to_string())
            .or_default()
            .insert(id, stored);
    }

    pub fn entity(&self, blueprint: &str, id: &str) -> Option<Value> {
        self.blueprints.get(blueprint)?.get(id).cloned()
    }

    pub fn entities(&self, blueprint: &str) -> Vec<Value> {
        self.blueprints
            .get(blueprint)
            .map(|b| b.values().cloned().collect())
            .unwrap_or_default()
    }

    fn build_entity(
        &self,
        blueprint: &str,
        existing: Option<&Value>,
        input: &Value,
        mode: WriteMode,
    ) -> Value {
        let now = timestamp();
        let mut entity = match existing {
            Some(old) if mode.merge => old.clone(),
            Some(old) => json!({
                "identifier": old["identifier"],
                "createdAt": old["createdAt"],
                "createdBy": old["createdBy"],
            }),
            None => json!({"createdAt": now, "createdBy": CLIENT_ID}),
        };
        let id = match (existing, &input["identifier"]) {
            (Some(old), _) => old["identifier"].clone(),
            (None, Value::String(id)) => json!(id),
            (None, _) => json!(random_id("e_")),
        };
        let map = entity.as_object_mut().expect("entities are objects");
        map.insert("identifier".into(), id);
        for key in ["title", "icon"] {
            if let Some(v) = input.get(key) {
                map.insert(key.into(), v.clone());
            }
        }
        map.insert("blueprint".into(), json!(blueprint));
        match input.get("team") {
            Some(team) => {
                map.insert("team".into(), team_array(team));
            }
            None => {
                map.entry("team").or_insert_with(|| json!([]));
            }
        }
        for key in ["properties", "relations"] {
            let slot = map.entry(key).or_insert_with(|| json!({}));
            if let (Some(given), Some(stored)) = (
                input.get(key).and_then(Value::as_object),
                slot.as_object_mut(),
            ) {
                for (k, v) in given {
                    stored.insert(k.clone(), v.clone());
                }
            }
        }
        map.insert("updatedAt".into(), json!(now));
        map.insert("updatedBy".into(), json!(CLIENT_ID));
        // Keep Port's field order whatever the merge did.
        let order = [
            "identifier",
            "title",
            "icon",
            "blueprint",
            "team",
            "properties",
            "relations",
            "createdAt",
            "createdBy",
            "updatedAt",
            "updatedBy",
        ];
        let mut ordered = Map::new();
        for key in order {
            if let Some(v) = map.get(key) {
                ordered.insert(key.into(), v.clone());
            }
        }
        for (k, v) in map.iter() {
            if !ordered.contains_key(k) {
                ordered.insert(k.clone(), v.clone());
            }
        }
        Value::Object(ordered)
    }

    /// Resolves a body's `identifier`: a string, a search query over the blueprint, or absent.
    fn resolve_identifier(
        &self,
        blueprint: &str,
        input: &Value,
    ) -> Result<Option<String>, Rejection> {
        match &input["identifier"] {
            Value::String(id) => Ok(Some(id.clone())),
            query @ Value::Object(_) => {
                for entity in self.entities(blueprint) {
                    if search::matches(&entity, query)
                        .map_err(|m| Rejection::new(422, "invalid_request", m))?
                    {
                        return Ok(entity["identifier"].as_str().map(str::to_string));
                    }
                }
                Err(Rejection::new(
                    404,
                    "not_found",
                    format!("No entity of blueprint \"{blueprint}\" matches the identifier query"),
                ))
            }
            _ => Ok(None),
        }
    }

    /// One entity upsert; returns the entity as stored and whether it was created.
    pub fn upsert_entity(
        &mut self,
        blueprint: &str,
        input: &Value,
        mode: WriteMode,
    ) -> Result<(Value, bool), Rejection> {
        let id = self.resolve_identifier(blueprint, input)?;
        if let Some(id) = &id {
            self.rejection(blueprint, id)?;
        }
        let existing = id.as_deref().and_then(|id| self.entity(blueprint, id));
        if existing.is_some() && !mode.upsert {
            return Err(Rejection::new(
                409,
                "identifier_taken",
                format!(
                    "Entity with identifier \"{}\" already exists in blueprint \"{blueprint}\"",
                    id.unwrap_or_default()
                ),
            ));
        }
        let mut input = input.clone();
        if let (Some(id), Some(map)) = (&id, input.as_object_mut()) {
            map.insert("identifier".into(), json!(id));
        }
        let entity = self.build_entity(blueprint, existing.as_ref(), &input, mode);
        if !mode.validation_only {
            let id = entity["identifier"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            self.blueprints
                .entry(blueprint.to_string())
                .or_default()
                .insert(id, entity.clone());
        }
        Ok((entity, existing.is_none()))
    }

    /// `GET /v1/blueprints/{bp}/entities/{id}`.
    pub fn get_entity(&self, blueprint: &str, id: &str) -> Result<Value, Rejection> {
        let Some(entities) = self.blueprints.get(blueprint) else {
            return Err(match &self.declared_blueprints {
                Some(declared) if declared.contains(blueprint) => entity_not_found(blueprint, id),
                _ => blueprint_not_found(blueprint),
            });
        };
        entities
            .get(id)
            .cloned()
            .ok_or_else(|| entity_not_found(blueprint, id))
    }

    fn dependents(&self, id: &str, except: &(String, String)) -> Vec<(String, String)> {
        let mut found = Vec::new();
        for (bp, entities) in &self.blueprints {
            for (eid, e) in entities {
                if (bp, eid) == (&except.0, &except.1) {
                    continue;
                }
                let points_here = e["relations"].as_object().is_some_and(|rels| {
                    rels.values().any(|r| match r {
                        Value::String(s) => s == id,
                        Value::Array(a) => a.iter().any(|x| x == id),
                        _ => false,
                    })
                });
                if points_here {
                    found.push((bp.clone(), eid.clone()));
                }
            }
        }
        found
    }

    /// `DELETE /v1/blueprints/{bp}/entities/{id}`: an entity other entities relate to is only
    /// deleted with `delete_dependents=true`, and then its dependents go too.
    pub fn delete_entity(
        &mut self,
        blueprint: &str,
        id: &str,
        delete_dependents: bool,
    ) -> Result<(), Rejection> {
        self.get_entity(blueprint, id)?;
        self.rejection(blueprint, id)?;
        let key = (blueprint.to_string(), id.to_string());
        let dependents = self.dependents(id, &key);
        if !dependents.is_empty() && !delete_dependents {
            let names: Vec<String> = dependents.iter().map(|(b, e)| format!("{b}/{e}")).collect();
            return Err(Rejection::new(
                403,
                "has_dependents",
                format!(
                    "Entity \"{id}\" has dependent entities ({}). To delete them along with it, use \"delete_dependents=true\"",
                    names.join(", ")
                ),
            ));
        }
        let mut queue = vec![key];
        while let Some((bp, eid)) = queue.pop() {
            let removed = self
                .blueprints
                .get_mut(&bp)
                .and_then(|b| b.shift_remove(&eid));
            if removed.is_some() {
                queue.extend(self.dependents(&eid, &(bp, eid.clone())));
            }
        }
        Ok(())
    }

    /// Every entity, in every blueprint, matching a search query.
    pub fn search(&self, query: &Value) -> Result<Vec<Value>, Rejection> {
        let mut out = Vec::new();
        for entities in self.blueprints.values() {
            for e in entities.values() {
                if search::matches(e, query)
                    .map_err(|m| Rejection::new(422, "invalid_request", m))?
                {
                    out.push(e.clone());
                }
            }
        }
        Ok(out)
    }

    /// One page of `POST /v1/blueprints/{bp}/entities/search`: the entities of `blueprint`
    /// matching `query` (all of them without one), in the order they were stored, at most
    /// `limit` from where the `from` cursor points. `next` is a new opaque cursor while more
    /// entities match, as Port pages. A cursor is good for the search that handed it out only.
    pub fn search_page(
        &mut self,
        blueprint: &str,
        query: Option<&Value>,
        limit: usize,
        from: Option<&str>,
    ) -> Result<(Vec<Value>, Option<String>), Rejection> {
        let query = query.cloned().unwrap_or(Value::Null);
        let cycle_next = match self.cycling_cursors {
            Some(cycle) => Some(cycle.after(from).ok_or_else(|| {
                Rejection::new(
                    422,
                    "invalid_request",
                    format!("\"from\" is not a cursor of this search: {from:?}"),
                )
            })?),
            None => None,
        };
        let offset = match from {
            _ if cycle_next.is_some() => 0,
            None => 0,
            Some(c) => match self.cursors.get(c) {
                Some(cur) if cur.blueprint == blueprint && cur.query == query => cur.offset,
                _ => {
                    return Err(Rejection::new(
                        422,
                        "invalid_request",
                        format!("\"from\" is not a cursor of this search: {c:?}"),
                    ))
                }
            },
        };
        let Some(entities) = self.blueprints.get(blueprint) else {
            if self.has_blueprint(blueprint) {
                return Ok((Vec::new(), None));
            }
            return Err(blueprint_not_found(blueprint));
        };
        let mut matching = Vec::new();
        for e in entities.values() {
            let hit = query.is_null()
                || search::matches(e, &query)
                    .map_err(|m| Rejection::new(422, "invalid_request", m))?;
            if hit {
                matching.push(e);
            }
        }
        let page: Vec<Value> = matching
            .iter()
            .skip(offset)
            .take(limit)
            .map(|e| (*e).clone())
            .collect();
        let end = offset + page.len();
        if cycle_next.is_some() {
            return Ok((page, cycle_next));
        }
        let next = (end < matching.len()).then(|| {
            let cursor: String = std::iter::repeat_with(fastrand::alphanumeric)
                .take(32)
                .collect();
            self.cursors.insert(
                cursor.clone(),
                Cursor {
                    blueprint: blueprint.to_string(),
                    query,
                    offset: end,
                },
            );
            cursor
        });
        Ok((page, next))
    }
}
