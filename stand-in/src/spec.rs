//! Port's OpenAPI document as a request and answer checker.
//!
//! Port rejects a request whose query string or JSON body does not match the route's schema
//! (422 `invalid_request`). The stand-in does the same from the very document Port publishes: it
//! finds the operation for a method and path, then checks the path parameters, every query
//! parameter (undeclared ones included) and the body. It also checks its own answers against the
//! operation's response schemas, so that a client tested against it reads what Port sends.
//! Validators are compiled on first use of an operation and shared by every stand-in in the
//! process.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use jsonschema::error::ValidationErrorKind;
use jsonschema::{Draft, Validator};
use percent_encoding::percent_decode_str;
use serde_json::{Map, Value};

const SPEC_JSON: &str = include_str!("../../spec/apispec.json");

/// The operations of the spec, indexed for lookup, plus the compiled checks.
pub(crate) struct Spec {
    components: Value,
    operations: Vec<Operation>,
    checks: Mutex<HashMap<usize, Arc<Checks>>>,
}

struct Operation {
    method: String,
    template: String,
    segments: Vec<Segment>,
    parameters: Vec<Value>,
    body: Option<(bool, Value)>,
    /// Status (or `default`) and the JSON schema of the answer, if the spec gives one.
    responses: Vec<(String, Option<Value>)>,
}

enum Segment {
    Literal(String),
    Param(String),
}

/// The operation a request resolved to, with its decoded path parameters.
#[derive(Clone, Debug)]
pub(crate) struct Matched {
    index: usize,
    pub template: String,
    pub params: Vec<(String, String)>,
}

impl Matched {
    /// A decoded path parameter by name.
    pub fn param(&self, name: &str) -> &str {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map_or("", |(_, v)| v.as_str())
    }
}

struct ParamCheck {
    name: String,
    location: String,
    required: bool,
    schema: Value,
    validator: Result<Validator, String>,
}

struct Checks {
    params: Vec<ParamCheck>,
    body: Option<(bool, Result<Validator, String>)>,
    responses: Vec<(String, Option<Result<Validator, String>>)>,
}

/// The process-wide spec, parsed on first use.
pub(crate) fn spec() -> &'static Spec {
    static SPEC: OnceLock<Spec> = OnceLock::new();
    SPEC.get_or_init(|| Spec::parse(SPEC_JSON))
}

impl Spec {
    fn parse(text: &str) -> Spec {
        let doc: Value = serde_json::from_str(text).expect("spec/apispec.json is valid JSON");
        let mut operations = Vec::new();
        if let Some(paths) = doc["paths"].as_object() {
            for (template, item) in paths {
                let Some(item) = item.as_object() else {
                    continue;
                };
                let shared = item.get("parameters").and_then(Value::as_array);
                for (method, op) in item {
                    if !matches!(
                        method.as_str(),
                        "get" | "put" | "post" | "patch" | "delete" | "head" | "options"
                    ) {
                        continue;
                    }
                    let mut parameters: Vec<Value> =
                        op["parameters"].as_array().cloned().unwrap_or_default();
                    for p in shared.into_iter().flatten() {
                        if !parameters.iter().any(|q| q["name"] == p["name"]) {
                            parameters.push(p.clone());
                        }
                    }
                    let body = op.get("requestBody").and_then(|rb| {
                        let schema = rb["content"]["application/json"].get("schema")?;
                        Some((rb["required"] == Value::Bool(true), schema.clone()))
                    });
                    let responses = op["responses"]
                        .as_object()
                        .into_iter()
                        .flatten()
                        .map(|(status, r)| {
                            let mut schema =
                                r["content"]["application/json"].get("schema").cloned();
                            if let Some(schema) = &mut schema {
                                allow_stored_entity_keys(schema);
                            }
                            (status.clone(), schema)
                        })
                        .collect();
                    operations.push(Operation {
                        method: method.to_ascii_uppercase(),
                        template: template.clone(),
                        segments: template
                            .trim_start_matches('/')
                            .split('/')
                            .map(
                                |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                                    Some(name) => Segment::Param(name.to_string()),
                                    None => Segment::Literal(s.to_string()),
                                },
                            )
                            .collect(),
                        parameters,
                        body,
                        responses,
                    });
                }
            }
        }
        Spec {
            components: doc.get("components").cloned().unwrap_or(Value::Null),
            operations,
            checks: Mutex::new(HashMap::new()),
        }
    }

    /// The operation for `method` and a raw (still percent-encoded) `path`. Literal segments win
    /// over parameters, left to right, so `/v1/actions/runs` is not taken for an action named
    /// "runs".
    pub fn find(&self, method: &str, raw_path: &str) -> Option<Matched> {
        let decoded: Vec<String> = raw_path
            .strip_prefix('/')?
            .split('/')
            .map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned())
            .collect();
        let mut best: Option<(Vec<bool>, usize)> = None;
        for (index, op) in self.operations.iter().enumerate() {
            if !op.method.eq_ignore_ascii_case(method) || op.segments.len() != decoded.len() {
                continue;
            }
            let mut score = Vec::with_capacity(decoded.len());
            let fits = op
                .segments
                .iter()
                .zip(&decoded)
                .all(|(seg, value)| match seg {
                    Segment::Literal(l) => {
                        score.push(true);
                        l == value
                    }
                    Segment::Param(_) => {
                        score.push(false);
                        !value.is_empty()
                    }
                });
            if fits && best.as_ref().is_none_or(|(b, _)| score > *b) {
                best = Some((score, index));
            }
        }
        let (_, index) = best?;
        let op = &self.operations[index];
        let params = op
            .segments
            .iter()
            .zip(decoded)
            .filter_map(|(seg, value)| match seg {
                Segment::Param(name) => Some((name.clone(), value)),
                Segment::Literal(_) => None,
            })
            .collect();
        Some(Matched {
            index,
            template: op.template.clone(),
            params,
        })
    }

    /// Every way the request departs from the operation's schemas; empty when it conforms.
    pub fn check(
        &self,
        matched: &Matched,
        query: &[(String, String)],
        body: Option<&Value>,
    ) -> Vec<String> {
        let checks = self.checks_for(matched.index);
        let mut errors = Vec::new();

        for p in checks.params.iter().filter(|p| p.location == "path") {
            let value = Value::String(matched.param(&p.name).to_string());
            validate_into(
                &p.validator,
                &value,
                &format!("params/{}", p.name),
                &mut errors,
            );
        }

        let mut seen: Vec<&str> = Vec::new();
        for (key, _) in query {
            if seen.contains(&key.as_str()) {
                continue;
            }
            seen.push(key);
            let values: Vec<&str> = query
                .iter()
                .filter(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
                .collect();
            let Some(p) = checks
                .params
                .iter()
                .find(|p| p.location == "query" && &p.name == key)
            else {
                errors.push(format!(
                    "querystring: parameter \"{key}\" is not declared for this operation"
                ));
                continue;
            };
            let value = if has_type(&p.schema, "array") {
                let items = &p.schema["items"];
                Value::Array(values.iter().map(|v| coerce(items, v)).collect())
            } else if values.len() > 1 {
                errors.push(format!(
                    "querystring/{key}: given {} times, the parameter is not an array",
                    values.len()
                ));
                continue;
            } else {
                coerce(&p.schema, values[0])
            };
            validate_into(
                &p.validator,
                &value,
                &format!("querystring/{key}"),
                &mut errors,
            );
        }
        for p in &checks.params {
            if p.location == "query" && p.required && !seen.contains(&p.name.as_str()) {
                errors.push(format!(
                    "querystring: required parameter \"{}\" is missing",
                    p.name
                ));
            }
        }

        if let Some((required, validator)) = &checks.body {
            match body {
                Some(body) => validate_into(validator, body, "body", &mut errors),
                None if *required => errors.push("body: a JSON body is required".to_string()),
                None => {}
            }
        }
        errors
    }

    /// Every way an answer departs from the operation's response schema for its status (or
    /// `default`); empty when it conforms. Port's spec lists only some of the error statuses a
    /// route answers (the entity routes' 400 `run_exhausted` and 409 `identifier_taken`, say, are
    /// missing), so an error status it does not list is checked against the error shape the
    /// operation declares for 401, which every operation has.
    pub fn check_answer(&self, matched: &Matched, status: u16, body: &Value) -> Vec<String> {
        let checks = self.checks_for(matched.index);
        let find = |code: &str| checks.responses.iter().find(|(c, _)| c == code);
        let declared = find(&status.to_string())
            .or_else(|| find("default"))
            .or_else(|| if status >= 400 { find("401") } else { None });
        let mut errors = Vec::new();
        match declared {
            None => errors.push(format!(
                "answer {status}: the spec declares no such answer for this operation"
            )),
            Some((_, None)) => {}
            Some((_, Some(validator))) => {
                validate_into(validator, body, &format!("answer {status}"), &mut errors)
            }
        }
        errors
    }

    fn checks_for(&self, index: usize) -> Arc<Checks> {
        let mut cache = self.checks.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .entry(index)
            .or_insert_with(|| Arc::new(self.compile(index)))
            .clone()
    }

    fn compile(&self, index: usize) -> Checks {
        let op = &self.operations[index];
        let params = op
            .parameters
            .iter()
            .filter_map(|p| {
                let location = p["in"].as_str()?.to_string();
                if location != "query" && location != "path" {
                    return None;
                }
                let schema = p.get("schema").cloned().unwrap_or(Value::Bool(true));
                Some(ParamCheck {
                    name: p["name"].as_str()?.to_string(),
                    location,
                    required: p["required"] == Value::Bool(true),
                    validator: self.validator(&schema),
                    schema,
                })
            })
            .collect();
        let body = op
            .body
            .as_ref()
            .map(|(required, schema)| (*required, self.validator(schema)));
        let responses = op
            .responses
            .iter()
            .map(|(status, schema)| (status.clone(), schema.as_ref().map(|s| self.validator(s))))
            .collect();
        Checks {
            params,
            body,
            responses,
        }
    }

    /// Compiles a schema of the document; `#/components/...` references resolve because the
    /// document's components are attached to the schema's root.
    fn validator(&self, schema: &Value) -> Result<Validator, String> {
        let mut root = match schema {
            Value::Object(map) => {
                let mut map = map.clone();
                if !map.contains_key("components") && schema.to_string().contains("#/components/") {
                    map.insert("components".to_string(), self.components.clone());
                }
                Value::Object(map)
            }
            other => other.clone(),
        };
        dedupe_required(&mut root);
        jsonschema::options()
            .with_draft(Draft::Draft202012)
            .should_validate_formats(true)
            .build(&root)
            .map_err(|e| format!("the spec's schema could not be compiled: {e}"))
    }

    /// The statuses (or `default`) the operation declares answers for.
    #[cfg(test)]
    pub fn answer_statuses(&self, matched: &Matched) -> Vec<String> {
        let op = &self.operations[matched.index];
        op.responses.iter().map(|(s, _)| s.clone()).collect()
    }

    /// The path template of every operation (for listing what the spec covers).
    #[cfg(test)]
    pub fn templates(&self) -> Vec<(String, String)> {
        self.operations
            .iter()
            .map(|o| (o.method.clone(), o.template.clone()))
            .collect()
    }
}

/// Keys Port adds to an entity it stores, which its answers carry (Port's own clients read
/// `blueprint` from entities it returns) but the spec's entity answer schemas, copies of the
/// request body's schema with `additionalProperties: false`, leave out.
const STORED_ENTITY_KEYS: &[&str] = &[
    "blueprint",
    "createdAt",
    "createdBy",
    "updatedAt",
    "updatedBy",
];

/// Lets every closed entity schema in an answer schema (an object schema declaring
/// `identifier`, `properties` and `relations`) also hold [`STORED_ENTITY_KEYS`] as strings.
/// Nothing else is loosened.
fn allow_stored_entity_keys(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            let is_entity = map.get("additionalProperties") == Some(&Value::Bool(false))
                && ["identifier", "properties", "relations"]
                    .iter()
                    .all(|k| map.get("properties").and_then(|p| p.get(*k)).is_some());
            if is_entity {
                if let Some(Value::Object(props)) = map.get_mut("properties") {
                    for key in STORED_ENTITY_KEYS {
                        props
                            .entry(key.to_string())
                            .or_insert_with(|| serde_json::json!({"type": "string"}));
                    }
                }
            }
            map.values_mut().for_each(allow_stored_entity_keys);
        }
        Value::Array(items) => items.iter_mut().for_each(allow_stored_entity_keys),
        _ => {}
    }
}

/// Drops repeated names from every `required` list. The spec has some (the bulk answer requires
/// `"ok"` twice), which a strict JSON Schema compiler refuses; the meaning is the same.
fn dedupe_required(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            if let Some(Value::Array(names)) = map.get_mut("required") {
                let mut seen = Vec::new();
                names.retain(|n| {
                    let fresh = !seen.contains(n);
                    seen.push(n.clone());
                    fresh
                });
            }
            map.values_mut().for_each(dedupe_required);
        }
        Value::Array(items) => items.iter_mut().for_each(dedupe_required),
        _ => {}
    }
}

fn validate_into(
    validator: &Result<Validator, String>,
    value: &Value,
    at: &str,
    errors: &mut Vec<String>,
) {
    match validator {
        Ok(v) => {
            for e in v.iter_errors(value) {
                errors.push(format!("{at}{}: {}", e.instance_path(), describe(&e)));
            }
        }
        Err(e) => errors.push(format!("{at}: {e}")),
    }
}

/// An error's text; for `oneOf`/`anyOf`, with the reasons of the alternatives the value had
/// the right type for (the identifier's pattern, say, rather than "not valid under any").
fn describe(e: &jsonschema::ValidationError) -> String {
    let context = match e.kind() {
        ValidationErrorKind::OneOfNotValid { context } | ValidationErrorKind::AnyOf { context } => {
            context
        }
        _ => return e.to_string(),
    };
    let mut reasons: Vec<String> = Vec::new();
    for branch in context {
        for sub in branch {
            if matches!(sub.kind(), ValidationErrorKind::Type { .. }) {
                continue;
            }
            let reason = if sub.instance_path() == e.instance_path() {
                describe(sub)
            } else {
                format!("{}: {}", sub.instance_path(), describe(sub))
            };
            if !reasons.contains(&reason) {
                reasons.push(reason);
            }
        }
    }
    if reasons.is_empty() {
        e.to_string()
    } else {
        reasons.truncate(3);
        format!("{} ({})", e, reasons.join("; "))
    }
}

fn has_type(schema: &Value, ty: &str) -> bool {
    match &schema["type"] {
        Value::String(s) => s == ty,
        Value::Array(types) => types.iter().any(|t| t == ty),
        _ => false,
    }
}

/// A query string value as the JSON value the schema expects, the way Port coerces it: a
/// value that does not convert stays a string and fails validation.
fn coerce(schema: &Value, raw: &str) -> Value {
    if has_type(schema, "boolean") {
        match raw {
            "true" => return Value::Bool(true),
            "false" => return Value::Bool(false),
            _ => {}
        }
    }
    if has_type(schema, "integer") {
        if let Ok(n) = raw.parse::<i64>() {
            return Value::from(n);
        }
    }
    if has_type(schema, "number") {
        if let Some(n) = raw
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
        {
            return Value::Number(n);
        }
    }
    Value::String(raw.to_string())
}

/// Top-level keys Port documents for an entity body. The spec leaves entity bodies open
/// (`additionalProperties: true`); strict mode flags anything else as a likely typo.
pub(crate) const ENTITY_KEYS: &[&str] = &[
    "identifier",
    "title",
    "icon",
    "team",
    "properties",
    "relations",
];

/// Unknown top-level keys of the entity bodies of an upsert or bulk upsert.
pub(crate) fn strict_entity_errors(template: &str, body: Option<&Value>) -> Vec<String> {
    let entities: Vec<(String, &Map<String, Value>)> = match (template, body) {
        ("/v1/blueprints/{blueprint_identifier}/entities", Some(Value::Object(e))) => {
            vec![("body".to_string(), e)]
        }
        ("/v1/blueprints/{blueprint_identifier}/entities/bulk", Some(body)) => body["entities"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
            .filter_map(|(i, e)| Some((format!("body/entities/{i}"), e.as_object()?)))
            .collect(),
        _ => Vec::new(),
    };
    let mut errors = Vec::new();
    for (at, entity) in entities {
        for key in entity.keys() {
            if !ENTITY_KEYS.contains(&key.as_str()) {
                errors.push(format!(
                    "{at}: unknown entity key \"{key}\" (strict mode; Port's spec allows extra keys)"
                ));
            }
        }
    }
    errors
}
