//! Whatever a workflow or an event hands the action, parsing it never panics: a panic would end
//! the step without the one clear `::error` that names the input. Property tests over the event
//! payload, the JSON inputs and the whole `INPUT_*` environment; `PROPTEST_CASES` sets how many
//! cases each property tries (256 by default).

use std::sync::OnceLock;
use std::time::Instant;

use port_action::event::find_run_id;
use port_action::inputs::{self, parse_json_input};
use port_action::Env;
use proptest::prelude::*;
use proptest::test_runner::Config;
use serde_json::{Map, Value};

/// 256 cases per property unless `PROPTEST_CASES` says otherwise; no regression files written
/// into the source tree.
fn config() -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

/// Any string, control characters, quotes and backslashes included.
fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[\\x00-\\x1f\"\\\\{}\\[\\]:,a-z0-9 ]{0,40}",
        "\\PC{0,40}",
    ]
}

/// Any JSON value, a few levels deep.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        any_text().prop_map(Value::String),
        // Run ids and the JSON of an object holding one, as Port passes them.
        "r_[A-Za-z0-9]{0,12}".prop_map(Value::String),
        "r_[A-Za-z0-9]{1,8}".prop_map(|id| Value::String(format!("{{\"runId\":\"{id}\"}}"))),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..6)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Object keys: the names the run id is looked for under, and anything else.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "inputs", "client_payload", "port_context", "port_payload", "runId", "run_id",
            "port_run_id", "context", "run", "id",
        ])
        .prop_map(str::to_string),
        1 => any_text(),
    ]
}

/// A `workflow_dispatch` payload whose inputs are strings, as GitHub delivers them: some hold
/// JSON (an object with a run id somewhere, or anything), some arbitrary text.
fn dispatch_payload() -> impl Strategy<Value = Value> {
    let input = prop_oneof![
        any_text(),
        any_json().prop_map(|v| v.to_string()),
        "r_[A-Za-z0-9]{1,10}",
    ];
    (
        prop::sample::select(vec!["inputs", "client_payload"]),
        prop::collection::btree_map(key(), input, 0..6),
    )
        .prop_map(|(container, inputs)| {
            let inputs: Map<String, Value> = inputs
                .into_iter()
                .map(|(k, v)| (k, Value::String(v)))
                .collect();
            let mut payload = Map::new();
            payload.insert(container.to_string(), Value::Object(inputs));
            Value::Object(payload)
        })
}

/// JSON text, then control characters pushed in at arbitrary places (inside strings or not).
fn json_with_controls() -> impl Strategy<Value = String> {
    (
        any_json(),
        prop::collection::vec((any::<prop::sample::Index>(), 0u32..0x20), 0..8),
    )
        .prop_map(|(value, inserts)| {
            let mut chars: Vec<char> = value.to_string().chars().collect();
            for (at, c) in inserts {
                let at = at.index(chars.len() + 1);
                chars.insert(at, char::from_u32(c).unwrap());
            }
            chars.into_iter().collect()
        })
}

/// Text as `${{ }}` pastes it into a JSON string: no quote or backslash (those would end or
/// escape the literal), but raw newlines, carriage returns and tabs.
fn pasted_text() -> impl Strategy<Value = String> {
    "([^\"\\\\\\x00-\\x1f]|\n|\r|\t){0,40}"
}

/// The inputs the action declares, as the runner names their variables.
fn input_variables() -> Vec<String> {
    crate::support::declared_inputs()
        .keys()
        .map(|name| format!("INPUT_{}", name.replace(' ', "_").to_uppercase()))
        .chain([
            "INPUT_CLIENTID".to_string(),
            "INPUT_CLIENTSECRET".to_string(),
        ])
        .collect()
}

/// Values a workflow might give an input: plausible ones and arbitrary text.
fn input_value() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => prop::sample::select(vec![
            "", " ", "UPSERT", "get", "SEARCH", "BULK_UPSERT", "CREATE_RUN", "patch_run",
            "DELETE", "true", "false", "0", "1", "5", "17", "-1", "1s", "90s", "5m", "1h2m3s",
            "99999999999999999999", "18446744073709551615s", "https://api.getport.io",
            "http://127.0.0.1:1/v1/", "eu", "us", "success", "cancelled", "{}", "[]", "[{}]",
            "{\"a\": 1}", "[{\"identifier\": \"x\", \"blueprint\": \"b\"}]", "null", "\"x\"",
            "{\"combinator\": \"and\", \"rules\": []}", "a,b,,c", "r_1",
        ])
        .prop_map(str::to_string),
        1 => any_text(),
        1 => json_with_controls(),
    ]
}

/// An `INPUT_*` environment: declared inputs and unknown ones, any values.
fn input_env() -> impl Strategy<Value = Env> {
    let name = prop_oneof![
        4 => prop::sample::select(input_variables()),
        1 => "INPUT_[A-Z_]{0,12}",
        1 => "[A-Za-z_]{1,10}",
    ];
    prop::collection::btree_map(name, input_value(), 0..24)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn find_run_id_takes_any_json_value(payload in any_json()) {
        let _ = find_run_id(&payload);
    }

    #[test]
    fn find_run_id_takes_any_workflow_dispatch_inputs(payload in dispatch_payload()) {
        if let Ok(Some(found)) = find_run_id(&payload) {
            prop_assert!(!found.id.is_empty());
            prop_assert!(
                found.source.starts_with("inputs.") || found.source.starts_with("client_payload."),
                "{}", found.source
            );
        }
    }

    #[test]
    fn parse_json_input_takes_any_text(text in any_text()) {
        if let Err(e) = parse_json_input("properties", &text) {
            prop_assert!(e.to_string().starts_with("input 'properties' "), "{}", e);
        }
    }

    #[test]
    fn parse_json_input_takes_json_with_control_characters(text in json_with_controls()) {
        if let Err(e) = parse_json_input("entities", &text) {
            prop_assert!(e.to_string().starts_with("input 'entities' is not valid JSON"), "{}", e);
        }
    }

    #[test]
    fn pasted_newlines_and_tabs_come_back_as_they_were(
        strings in prop::collection::btree_map("[a-z]{1,8}", pasted_text(), 1..6),
        pretty in any::<bool>(),
    ) {
        let object: Map<String, Value> = strings
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        let object = Value::Object(object);
        let escaped = if pretty {
            serde_json::to_string_pretty(&object).unwrap()
        } else {
            object.to_string()
        };
        // The strings hold no backslash, so every escape in the text is one of the pasted
        // characters: put them back raw, as a `${{ }}` expression would have.
        let pasted = escaped
            .replace("\\n", "\n")
            .replace("\\r", "\r")
            .replace("\\t", "\t");
        let parsed = parse_json_input("properties", &pasted);
        prop_assert_eq!(parsed.as_ref().ok(), Some(&object), "{:?} from {:?}", parsed, pasted);
    }

    #[test]
    fn parse_takes_any_input_environment(env in input_env()) {
        match inputs::parse(&env) {
            Ok(parsed) => {
                prop_assert!(parsed.max_attempts >= 1);
                prop_assert!(!parsed.timeout.is_zero() && !parsed.request_timeout.is_zero());
            }
            Err(e) => {
                let text = e.to_string();
                prop_assert!(text.starts_with("input '"), "{}", text);
            }
        }
    }

    #[test]
    fn parse_takes_any_value_of_each_input_on_a_valid_step(
        name in prop::sample::select(input_variables()),
        value in input_value(),
    ) {
        let mut env = valid_env();
        env.insert(name, value);
        let _ = inputs::parse(&env);
    }
}

/// A valid UPSERT step's environment.
fn valid_env() -> Env {
    static VALID: OnceLock<Env> = OnceLock::new();
    VALID.get_or_init(build_valid_env).clone()
}

fn build_valid_env() -> Env {
    let mut env: Env = crate::support::declared_inputs()
        .into_iter()
        .map(|(k, v)| (format!("INPUT_{}", k.to_uppercase()), v))
        .collect();
    for (k, v) in [
        ("INPUT_CLIENTID", "id"),
        ("INPUT_CLIENTSECRET", "secret"),
        ("INPUT_BLUEPRINT", "service"),
        ("INPUT_IDENTIFIER", "payments"),
    ] {
        env.insert(k.into(), v.into());
    }
    env
}

#[test]
fn the_valid_step_environment_parses() {
    inputs::parse(&valid_env()).expect("a valid step");
}

/// The step turns `timeout` into a deadline (`now + timeout`): every value the inputs accept
/// must fit.
#[test]
fn every_accepted_timeout_can_be_a_deadline() {
    for timeout in [
        "18446744073709551615",
        "5124095576030431h",
        "99999999999999999s",
    ] {
        let mut env = valid_env();
        env.insert("INPUT_TIMEOUT".into(), timeout.into());
        if let Ok(parsed) = inputs::parse(&env) {
            assert!(
                Instant::now().checked_add(parsed.timeout).is_some(),
                "timeout {timeout} is accepted but cannot be added to the clock"
            );
        }
    }
}
