//! Entity queries: the rule language of `POST /v1/entities/search` (and of identifiers given as
//! a query), and the `include`/`exclude` projections of entity answers.

use serde_json::{Map, Value};

/// Whether `entity` satisfies a `{combinator, rules}` query. An operator the stand-in does not
/// model is an error rather than a silent mismatch.
pub(crate) fn matches(entity: &Value, query: &Value) -> Result<bool, String> {
    let combinator = query["combinator"].as_str().unwrap_or("and");
    let rules = query["rules"].as_array().cloned().unwrap_or_default();
    let mut results = Vec::with_capacity(rules.len());
    for rule in &rules {
        results.push(if rule.get("combinator").is_some() {
            matches(entity, rule)?
        } else {
            rule_matches(entity, rule)?
        });
    }
    Ok(match combinator {
        "or" => results.into_iter().any(|r| r),
        _ => results.into_iter().all(|r| r),
    })
}

fn field(entity: &Value, property: &str) -> Value {
    match property {
        "$identifier" => entity["identifier"].clone(),
        "$blueprint" => entity["blueprint"].clone(),
        "$title" => entity["title"].clone(),
        "$team" => entity["team"].clone(),
        "$icon" => entity["icon"].clone(),
        "$createdAt" => entity["createdAt"].clone(),
        "$updatedAt" => entity["updatedAt"].clone(),
        "$createdBy" => entity["createdBy"].clone(),
        "$updatedBy" => entity["updatedBy"].clone(),
        name => match entity["properties"].get(name) {
            Some(v) => v.clone(),
            None => entity["relations"]
                .get(name)
                .cloned()
                .unwrap_or(Value::Null),
        },
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

/// Equality where a scalar rule value also matches an element of an array field (`$team`,
/// array properties, many-relations).
fn equals(field: &Value, value: &Value) -> bool {
    match (field, value) {
        (Value::Array(items), v) if !v.is_array() => items.iter().any(|i| i == v),
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (a, b) => a == b,
    }
}

fn text_test(field: &Value, value: &Value, test: fn(&str, &str) -> bool) -> bool {
    let Some(needle) = value.as_str() else {
        return false;
    };
    match field {
        Value::String(s) => test(s, needle),
        Value::Array(items) => items
            .iter()
            .any(|i| i.as_str().is_some_and(|s| test(s, needle))),
        _ => false,
    }
}

fn number(v: &Value) -> Option<f64> {
    v.as_f64()
}

fn rule_matches(entity: &Value, rule: &Value) -> Result<bool, String> {
    let operator = rule["operator"].as_str().unwrap_or_default();
    let property = match &rule["property"] {
        Value::String(p) => p.as_str(),
        _ if operator == "relatedTo" => "",
        other => return Err(format!("property {other} is not modelled by the stand-in")),
    };
    let value = &rule["value"];
    let f = field(entity, property);
    let in_list = |list: &Value| -> bool {
        list.as_array()
            .is_some_and(|options| options.iter().any(|o| equals(&f, o)))
    };
    Ok(match operator {
        "=" => equals(&f, value),
        "!=" => !equals(&f, value),
        "in" | "containsAny" => in_list(value),
        "notIn" => !in_list(value),
        "contains" => match (&f, value) {
            (Value::Array(items), v) if !v.is_string() || !items.iter().all(Value::is_string) => {
                items.contains(v)
            }
            _ => text_test(&f, value, |s, n| s.contains(n)),
        },
        "doesNotContains" => !text_test(&f, value, |s, n| s.contains(n)),
        "beginsWith" => text_test(&f, value, |s, n| s.starts_with(n)),
        "doesNotBeginsWith" => !text_test(&f, value, |s, n| s.starts_with(n)),
        "endsWith" => text_test(&f, value, |s, n| s.ends_with(n)),
        "doesNotEndsWith" => !text_test(&f, value, |s, n| s.ends_with(n)),
        "isEmpty" => is_empty(&f),
        "isNotEmpty" => !is_empty(&f),
        ">" | ">=" | "<" | "<=" => match (number(&f), number(value)) {
            (Some(a), Some(b)) => match operator {
                ">" => a > b,
                ">=" => a >= b,
                "<" => a < b,
                _ => a <= b,
            },
            _ => match (f.as_str(), value.as_str()) {
                // ISO 8601 timestamps order as strings.
                (Some(a), Some(b)) => match operator {
                    ">" => a > b,
                    ">=" => a >= b,
                    "<" => a < b,
                    _ => a <= b,
                },
                _ => false,
            },
        },
        "relatedTo" => {
            let targets: Vec<&Value> = match value {
                Value::Array(a) => a.iter().collect(),
                v => vec![v],
            };
            entity["relations"].as_object().is_some_and(|relations| {
                relations
                    .values()
                    .any(|r| targets.iter().any(|t| equals(r, t)))
            })
        }
        other => {
            return Err(format!(
                "operator \"{other}\" is not modelled by the stand-in"
            ))
        }
    })
}

/// A fault of blueprint searches: cursors that go round. Every page is the first page again,
/// and its `next` is the cycle's next cursor (`cycle-0`, `cycle-1`, …, `cycle-{period - 1}`,
/// then `cycle-0` again), so a client that follows `next` never reaches the end.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CyclingCursors {
    pub period: usize,
}

impl CyclingCursors {
    /// The `next` of the answer to a search sent `from`; `None` when `from` is not one of the
    /// cycle's cursors.
    pub(crate) fn after(self, from: Option<&str>) -> Option<String> {
        let period = self.period.max(1);
        let at = match from {
            None => 0,
            Some(c) => {
                let k: usize = c.strip_prefix("cycle-")?.parse().ok()?;
                if k >= period {
                    return None;
                }
                (k + 1) % period
            }
        };
        Some(format!("cycle-{at}"))
    }
}

/// `entity` reduced to the `include` paths (when any) and without the `exclude` paths. Paths are
/// dotted (`identifier`, `properties.language`).
pub(crate) fn project(entity: &Value, include: &[String], exclude: &[String]) -> Value {
    let mut out = if include.is_empty() {
        entity.clone()
    } else {
        let mut out = Value::Object(Map::new());
        for path in include {
            let parts: Vec<&str> = path.split('.').collect();
            if let Some(v) = get_path(entity, &parts) {
                set_path(&mut out, &parts, v.clone());
            }
        }
        out
    };
    for path in exclude {
        let parts: Vec<&str> = path.split('.').collect();
        remove_path(&mut out, &parts);
    }
    out
}

/// `entity` reduced as a blueprint search's body `include`/`exclude` say: identifiers of
/// properties and relations (`language`), and meta-properties with their `$` (`$identifier`).
pub(crate) fn project_by_identifiers(
    entity: &Value,
    include: &[String],
    exclude: &[String],
) -> Value {
    let paths = |ids: &[String]| -> Vec<String> {
        ids.iter()
            .flat_map(|id| match id.strip_prefix('$') {
                Some(meta) => vec![meta.to_string()],
                None => vec![format!("properties.{id}"), format!("relations.{id}")],
            })
            .collect()
    };
    project(entity, &paths(include), &paths(exclude))
}

fn get_path<'a>(v: &'a Value, parts: &[&str]) -> Option<&'a Value> {
    parts.iter().try_fold(v, |v, p| v.get(*p))
}

fn set_path(out: &mut Value, parts: &[&str], value: Value) {
    let (last, parents) = parts.split_last().expect("a path has a segment");
    let mut cursor = out;
    for p in parents {
        cursor = cursor
            .as_object_mut()
            .expect("projection builds objects")
            .entry(p.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
    }
    if let Some(map) = cursor.as_object_mut() {
        map.insert(last.to_string(), value);
    }
}

fn remove_path(out: &mut Value, parts: &[&str]) {
    let (last, parents) = parts.split_last().expect("a path has a segment");
    let mut cursor = out;
    for p in parents {
        match cursor.get_mut(*p) {
            Some(next) => cursor = next,
            None => return,
        }
    }
    if let Some(map) = cursor.as_object_mut() {
        map.shift_remove(*last);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entity() -> Value {
        json!({"identifier": "svc-a", "blueprint": "service", "title": "Service A",
               "team": ["platform"], "properties": {"lang": "rust", "tags": ["x", "y"], "n": 3, "empty": ""},
               "relations": {"domain": "payments"}})
    }

    fn q(rules: Value) -> Value {
        json!({"combinator": "and", "rules": rules})
    }

    #[test]
    fn operators() {
        let e = entity();
        let yes = [
            json!({"property": "$identifier", "operator": "=", "value": "svc-a"}),
            json!({"property": "$blueprint", "operator": "!=", "value": "x"}),
            json!({"property": "$team", "operator": "=", "value": "platform"}),
            json!({"property": "lang", "operator": "in", "value": ["go", "rust"]}),
            json!({"property": "lang", "operator": "notIn", "value": ["go"]}),
            json!({"property": "$title", "operator": "contains", "value": "ice A"}),
            json!({"property": "tags", "operator": "contains", "value": "y"}),
            json!({"property": "$identifier", "operator": "beginsWith", "value": "svc-"}),
            json!({"property": "empty", "operator": "isEmpty"}),
            json!({"property": "missing", "operator": "isEmpty"}),
            json!({"property": "lang", "operator": "isNotEmpty"}),
            json!({"property": "n", "operator": ">", "value": 2}),
            json!({"property": "domain", "operator": "=", "value": "payments"}),
        ];
        for rule in yes {
            assert!(matches(&e, &q(json!([rule.clone()]))).unwrap(), "{rule}");
        }
        let nested = json!({"combinator": "or", "rules": [
            {"property": "$identifier", "operator": "=", "value": "nope"},
            {"combinator": "and", "rules": [{"property": "lang", "operator": "=", "value": "rust"}]}
        ]});
        assert!(matches(&e, &nested).unwrap());
        let no = q(json!([{"property": "lang", "operator": "=", "value": "go"}]));
        assert!(!matches(&e, &no).unwrap());
        let unknown = q(json!([{"property": "lang", "operator": "between", "value": {}}]));
        assert!(matches(&e, &unknown).is_err());
    }

    #[test]
    fn cycling_cursors_go_round() {
        let cycle = CyclingCursors { period: 2 };
        assert_eq!(cycle.after(None).as_deref(), Some("cycle-0"));
        assert_eq!(cycle.after(Some("cycle-0")).as_deref(), Some("cycle-1"));
        assert_eq!(cycle.after(Some("cycle-1")).as_deref(), Some("cycle-0"));
        assert_eq!(cycle.after(Some("cycle-2")), None);
        assert_eq!(cycle.after(Some("other")), None);
    }

    #[test]
    fn projection() {
        let e = entity();
        let p = project(&e, &["identifier".into(), "properties.lang".into()], &[]);
        assert_eq!(
            p,
            json!({"identifier": "svc-a", "properties": {"lang": "rust"}})
        );
        let p = project(&e, &[], &["properties".into(), "relations.domain".into()]);
        assert!(p.get("properties").is_none());
        assert_eq!(p["relations"], json!({}));
    }
}
