//! The inputs as a workflow gives them: every test sets `INPUT_*` variables the way the runner
//! does and reads what [`super::parse`] makes of them, so a test of one value's parser checks
//! it in place, with its input's name and default.

use super::*;
use serde_json::json;

/// The inputs an `action.yml` declares, with their defaults, in order.
fn declared_in(file: &str) -> Vec<(String, String)> {
    let path = format!("{}/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).expect(file);
    let docs = yaml_rust2::YamlLoader::load_from_str(&text).expect("YAML");
    let declared = docs[0]["inputs"].as_hash().expect("inputs");
    declared
        .iter()
        .map(|(name, spec)| {
            let default = match &spec["default"] {
                yaml_rust2::Yaml::String(s) => s.clone(),
                yaml_rust2::Yaml::Integer(i) => i.to_string(),
                yaml_rust2::Yaml::Boolean(b) => b.to_string(),
                _ => String::new(),
            };
            (name.as_str().unwrap().to_string(), default)
        })
        .collect()
}

#[test]
fn the_input_table_has_action_yml_names_and_defaults() {
    let table: Vec<(String, String)> = INPUTS
        .iter()
        .filter(|d| d.is_root())
        .map(|d| (d.name.to_string(), d.default.to_string()))
        .collect();
    assert_eq!(table, declared_in("action.yml"));
}

/// The inputs whose default in `track/action.yml` is not the root action's: `timeout` is
/// empty there, so that each stage takes its own deadline.
const TRACK_DEFAULTS: [(&str, &str); 1] = [("timeout", "")];

#[test]
fn the_input_table_has_track_action_yml_names_and_defaults() {
    let table: Vec<(String, String)> = INPUTS
        .iter()
        .filter(|d| d.tracked)
        .map(|d| {
            let default = TRACK_DEFAULTS
                .iter()
                .find(|(name, _)| *name == d.name)
                .map_or(d.default, |(_, default)| default);
            (d.name.to_string(), default.to_string())
        })
        .collect();
    assert_eq!(table, declared_in("track/action.yml"));
}

/// The environment of a step: every declared input set, `""` when not given, as the
/// runner does, plus `pairs` (input names as written in the workflow).
fn env(pairs: &[(&str, &str)]) -> Env {
    let mut env: Env = names()
        .iter()
        .map(|name| (format!("INPUT_{}", name.to_uppercase()), String::new()))
        .collect();
    env.insert("INPUT_CLIENTID".into(), "id".into());
    env.insert("INPUT_CLIENTSECRET".into(), "s3cr3t-value".into());
    env.insert("GITHUB_RUN_ID".into(), "1".into());
    for (name, value) in pairs {
        env.insert(format!("INPUT_{}", name.to_uppercase()), (*value).into());
    }
    env
}

fn ok(pairs: &[(&str, &str)]) -> Inputs {
    parse(&env(pairs)).unwrap()
}

fn err(pairs: &[(&str, &str)]) -> String {
    parse(&env(pairs)).unwrap_err().to_string()
}

const UPSERT: (&str, &str) = ("blueprint", "service");

/// Steps of other operations, with what each requires.
const DELETE: [(&str, &str); 3] = [
    ("operation", "DELETE"),
    ("blueprint", "service"),
    ("identifier", "x"),
];
const CREATE_RUN: [(&str, &str); 2] = [("operation", "CREATE_RUN"), ("action", "deploy")];
const BULK: [(&str, &str); 2] = [("operation", "BULK_UPSERT"), ("entities", "[]")];

/// `base` and then `more`.
fn with(
    base: &[(&'static str, &'static str)],
    more: &[(&'static str, &'static str)],
) -> Vec<(&'static str, &'static str)> {
    [base, more].concat()
}

#[test]
fn defaults() {
    let i = ok(&[UPSERT]);
    assert_eq!(i.operation, Operation::Upsert);
    assert_eq!(i.api_base, "https://api.getport.io");
    assert_eq!(i.credentials.client_id, "id");
    assert_eq!(i.credentials.client_secret, "s3cr3t-value");
    assert_eq!(i.blueprint.as_deref(), Some("service"));
    assert_eq!(i.identifier, None);
    assert_eq!(i.properties, None);
    assert_eq!(i.team, None);
    assert!(i.include.is_empty());
    assert!(i.link.is_empty());
    assert_eq!(i.status, None);
    assert!(!i.delete_dependents);
    assert!(!i.create_missing_related_entities);
    assert!(i.add_job_link);
    assert!(!i.wait);
    assert_eq!(i.job_id, None);
    assert_eq!(i.concurrency, 4);
    assert_eq!(i.max_attempts, 5);
    assert_eq!(i.wait_timeout, Duration::from_secs(30 * 60));
    assert_eq!(i.request_timeout, Duration::from_secs(30));
    assert_eq!(i.timeout, Duration::from_secs(5 * 60));
}

#[test]
fn only_the_variables_that_are_set_count() {
    // Not every runner sets every input: a bare environment works too.
    let mut env = Env::new();
    env.insert("INPUT_CLIENTID".into(), "id".into());
    env.insert("INPUT_CLIENTSECRET".into(), "secret".into());
    env.insert("INPUT_BLUEPRINT".into(), "service".into());
    env.insert("INPUT_SOMETHING_ELSE".into(), "ignored".into());
    let i = parse(&env).unwrap();
    assert_eq!(i.operation, Operation::Upsert);
}

#[test]
fn empty_and_whitespace_mean_absent() {
    let i = ok(&[
        UPSERT,
        ("title", "  "),
        ("wait", " "),
        ("properties", "\n  \n"),
    ]);
    assert_eq!(i.title, None);
    assert!(!i.wait);
    assert_eq!(i.properties, None);
    assert_eq!(
        err(&[UPSERT, ("clientId", "  ")]),
        "input 'clientId' is required"
    );
}

#[test]
fn values_are_trimmed() {
    let i = ok(&[
        (" blueprint", ""),
        ("blueprint", " service\n"),
        ("title", " My title "),
    ]);
    assert_eq!(i.blueprint.as_deref(), Some("service"));
    assert_eq!(i.title.as_deref(), Some("My title"));
}

#[test]
fn operation_is_case_insensitive() {
    let cases = [
        ("upsert", Operation::Upsert),
        ("Get", Operation::Get),
        ("search", Operation::Search),
        ("bulk_upsert", Operation::BulkUpsert),
        ("create_run", Operation::CreateRun),
        ("patch_run", Operation::PatchRun),
        ("delete", Operation::Delete),
    ];
    for (text, op) in cases {
        let i = ok(&[
            ("operation", text),
            ("blueprint", "bp"),
            ("identifier", "id"),
            ("query", "{}"),
            ("action", "deploy"),
            ("entities", "[]"),
        ]);
        assert_eq!(i.operation, op, "{text}");
    }
}

#[test]
fn unknown_operation() {
    assert_eq!(
        err(&[("operation", "FOO")]),
        "input 'operation' must be one of UPSERT, GET, SEARCH, BULK_UPSERT, CREATE_RUN, \
         PATCH_RUN, DELETE, got 'FOO'"
    );
}

#[test]
fn credentials_are_required_and_the_secret_never_shows() {
    let mut e = env(&[UPSERT]);
    e.insert("INPUT_CLIENTID".into(), String::new());
    assert_eq!(
        parse(&e).unwrap_err().to_string(),
        "input 'clientId' is required"
    );
    let mut e = env(&[UPSERT]);
    e.remove("INPUT_CLIENTSECRET");
    assert_eq!(
        parse(&e).unwrap_err().to_string(),
        "input 'clientSecret' is required"
    );

    let i = ok(&[UPSERT]);
    assert!(!format!("{i:?}").contains("s3cr3t-value"));
    // Errors about other inputs never carry it either.
    assert!(!err(&[("operation", "nope")]).contains("s3cr3t-value"));
}

#[test]
fn base_url_normalisation() {
    let cases = [
        ("https://api.getport.io", "https://api.getport.io"),
        ("https://api.getport.io/", "https://api.getport.io"),
        ("https://api.getport.io/v1", "https://api.getport.io"),
        ("https://api.getport.io/v1/", "https://api.getport.io"),
        ("https://API.GetPort.io", "https://api.getport.io"),
        ("https://api.us.getport.io/", "https://api.us.getport.io"),
        ("http://localhost:8080", "http://localhost:8080"),
        ("http://127.0.0.1:3000/v1/", "http://127.0.0.1:3000"),
        (
            "https://proxy.example.com/port/",
            "https://proxy.example.com/port",
        ),
        (
            "https://proxy.example.com/port/v1",
            "https://proxy.example.com/port",
        ),
        (
            "https://proxy.example.com/v1x",
            "https://proxy.example.com/v1x",
        ),
    ];
    for (given, want) in cases {
        assert_eq!(ok(&[UPSERT, ("baseUrl", given)]).api_base, want, "{given}");
    }
}

#[test]
fn region() {
    assert_eq!(
        ok(&[UPSERT, ("region", "us")]).api_base,
        "https://api.us.getport.io"
    );
    assert_eq!(
        ok(&[UPSERT, ("region", "US")]).api_base,
        "https://api.us.getport.io"
    );
    assert_eq!(
        ok(&[UPSERT, ("region", "Eu")]).api_base,
        "https://api.getport.io"
    );
    assert_eq!(
        ok(&[
            UPSERT,
            ("region", "us"),
            ("baseUrl", "https://api.us.port.io/v1")
        ])
        .api_base,
        "https://api.us.port.io"
    );
    assert_eq!(
        ok(&[
            UPSERT,
            ("region", "eu"),
            ("baseUrl", "https://api.getport.io/")
        ])
        .api_base,
        "https://api.getport.io"
    );
    assert_eq!(
        err(&[UPSERT, ("region", "asia")]),
        "input 'region' must be eu or us, got 'asia'"
    );
}

#[test]
fn region_and_base_url_that_disagree() {
    assert_eq!(
        err(&[
            UPSERT,
            ("region", "us"),
            ("baseUrl", "https://api.getport.io")
        ]),
        "input 'region' is 'us' but input 'baseUrl' ('https://api.getport.io') is not a US \
         host of Port; give only one of them"
    );
    assert_eq!(
        err(&[
            UPSERT,
            ("region", "eu"),
            ("baseUrl", "http://localhost:8080")
        ]),
        "input 'region' is 'eu' but input 'baseUrl' ('http://localhost:8080') is not an EU \
         host of Port; give only one of them"
    );
}

#[test]
fn bad_base_urls() {
    for bad in [
        "ftp://x",
        "api.getport.io",
        "not a url",
        "file:///tmp/x",
        "https://",
    ] {
        assert_eq!(
            err(&[UPSERT, ("baseUrl", bad)]),
            format!("input 'baseUrl' must be an http(s) URL, got '{bad}'")
        );
    }
    assert_eq!(
        err(&[UPSERT, ("baseUrl", "https://api.getport.io/?x=1")]),
        "input 'baseUrl' must not have a query or a fragment, got 'https://api.getport.io/?x=1'"
    );
    assert_eq!(
        err(&[UPSERT, ("baseUrl", "https://api.getport.io#v1")]),
        "input 'baseUrl' must not have a query or a fragment, got 'https://api.getport.io#v1'"
    );
}

#[test]
fn a_base_url_with_credentials_is_refused_without_showing_them() {
    assert_eq!(
        err(&[
            UPSERT,
            ("baseUrl", "https://deploy:s3cret@api.getport.io/v1")
        ]),
        "input 'baseUrl' must not hold a user name or password, got \
         'https://***@api.getport.io/v1': Port authenticates with 'clientId' and \
         'clientSecret', and a proxy's credentials go in HTTPS_PROXY"
    );
    assert_eq!(
        err(&[UPSERT, ("baseUrl", "https://token@api.getport.io")]),
        "input 'baseUrl' must not hold a user name or password, got \
         'https://***@api.getport.io': Port authenticates with 'clientId' and \
         'clientSecret', and a proxy's credentials go in HTTPS_PROXY"
    );
    // Not a URL at all: shown, but not what stands before the host's `@`.
    let e = err(&[UPSERT, ("baseUrl", "ftp://u:s3cret@host/x")]);
    assert_eq!(
        e,
        "input 'baseUrl' must be an http(s) URL, got 'ftp://***@host/x'"
    );
}

#[test]
fn json_objects() {
    let i = ok(&[
        UPSERT,
        ("properties", "{\n  \"b\": 1,\n  \"a\": \"x\"\n}\n"),
        ("relations", r#"{"owner": "team-a"}"#),
    ]);
    let props = i.properties.unwrap();
    assert_eq!(props.keys().collect::<Vec<_>>(), ["b", "a"]);
    assert_eq!(i.relations.unwrap()["owner"], "team-a");
    assert_eq!(
        err(&[UPSERT, ("relations", "[1]")]),
        "input 'relations' must be a JSON object, got an array"
    );
    assert_eq!(
        err(&[UPSERT, ("properties", "\"x\"")]),
        "input 'properties' must be a JSON object, got a string"
    );
    assert_eq!(
        err(&[("operation", "SEARCH"), ("query", "42")]),
        "input 'query' must be a JSON object, got a number"
    );
}

#[test]
fn json_with_a_pasted_multi_line_value() {
    // `"message": "${{ github.event.head_commit.message }}"` with a two-line commit message.
    let text = "{\n  \"message\": \"fix: x\n\nlong\tbody\",\n  \"n\": 1\n}\n";
    let i = ok(&[UPSERT, ("properties", text)]);
    assert_eq!(i.properties.unwrap()["message"], "fix: x\n\nlong\tbody");
}

#[test]
fn json_error_positions_refer_to_the_users_text() {
    let text = "{\n  \"message\": \"fix: x\n\nbody\",\n  \"sha\": ,\n}\n";
    assert_eq!(
        err(&[UPSERT, ("properties", text)]),
        "input 'properties' is not valid JSON: expected value at line 5 column 10"
    );
    assert_eq!(
        err(&[UPSERT, ("properties", r#"{"x": ,}"#)]),
        "input 'properties' is not valid JSON: expected value at line 1 column 7"
    );
}

#[test]
fn entities() {
    let i = ok(&[
        ("operation", "BULK_UPSERT"),
        (
            "entities",
            r#"[{"identifier": "a", "blueprint": "svc"}, {"blueprint": "svc"}]"#,
        ),
    ]);
    assert_eq!(i.entities.unwrap().len(), 2);
    assert_eq!(
        err(&[("operation", "BULK_UPSERT"), ("entities", r#"{"a": 1}"#)]),
        "input 'entities' must be a JSON array of objects, got an object"
    );
    assert_eq!(
        err(&[
            ("operation", "BULK_UPSERT"),
            ("entities", r#"[{}, {}, "x"]"#)
        ]),
        "input 'entities' element 2 must be a JSON object, got a string"
    );
    assert_eq!(
        err(&[
            ("operation", "BULK_UPSERT"),
            ("entities", r#"[{"blueprint": "svc"}, {"identifier": "b"}]"#)
        ]),
        "input 'entities' element 1 has no \"blueprint\" and no 'blueprint' input is given"
    );
    let i = ok(&[
        ("operation", "BULK_UPSERT"),
        ("blueprint", "svc"),
        ("entities", r#"[{"identifier": "a"}, {"identifier": "b"}]"#),
    ]);
    assert_eq!(i.entities.unwrap()[1], json!({"identifier": "b"}));
    assert_eq!(
        err(&[
            ("operation", "BULK_UPSERT"),
            ("blueprint", "svc"),
            ("entities", r#"[{"identifier": "a b"}]"#)
        ]),
        "input 'entities' element 0 has an invalid \"identifier\": 'a b' contains ' ' \
         (allowed: letters, digits and @ _ . + : \\ / = -)"
    );
    assert_eq!(
        err(&[
            ("operation", "BULK_UPSERT"),
            ("entities", r#"[{"identifier": "a", "blueprint": 5}]"#)
        ]),
        "input 'entities' element 0 \"blueprint\" must be a string, got a number"
    );
    assert_eq!(
        err(&[("operation", "BULK_UPSERT")]),
        "input 'entities' is required for operation BULK_UPSERT (or 'entitiesFile', a file of \
         entities in the workspace)"
    );
}

/// A BULK_UPSERT step given `entitiesFile: path` in the workspace `dir`.
fn entities_file(dir: &std::path::Path, path: &str) -> Result<Inputs, String> {
    let mut env = env(&[("operation", "BULK_UPSERT"), ("entitiesFile", path)]);
    env.insert("GITHUB_WORKSPACE".into(), dir.display().to_string());
    env.insert("GITHUB_REPOSITORY".into(), "acme/payments".into());
    parse(&env).map_err(|e| e.to_string())
}

#[test]
fn entities_file_is_a_file_inside_the_workspace() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().canonicalize().unwrap();
    std::fs::create_dir(ws.join("port")).unwrap();
    std::fs::write(ws.join("port/entities.json"), "[]").unwrap();
    let want = Some(WorkspaceFile {
        given: "port/entities.json".into(),
        relative: "port/entities.json".into(),
        path: ws.join("port/entities.json"),
    });
    let given = |path: &str| entities_file(&ws, path).map(|i| i.entities_file.unwrap().path);
    assert_eq!(
        entities_file(&ws, "port/entities.json")
            .unwrap()
            .entities_file,
        want
    );
    // `..` that stays inside, `./`, and the workspace's own absolute path are fine.
    for path in [
        "port/../port/entities.json".to_string(),
        "./port/entities.json".into(),
        ws.join("port/entities.json").display().to_string(),
    ] {
        assert_eq!(given(&path), Ok(ws.join("port/entities.json")), "{path}");
    }
    // A symbolic link inside the workspace is followed.
    std::os::unix::fs::symlink("port/entities.json", ws.join("link.json")).unwrap();
    assert_eq!(given("link.json"), Ok(ws.join("port/entities.json")));
    assert_eq!(
        given("port"),
        Err("input 'entitiesFile' is 'port', a directory: name the file in it".into())
    );
}

#[test]
fn entities_file_refuses_a_symbolic_link_out_of_the_workspace() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.json"), "[]").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().canonicalize().unwrap();
    std::os::unix::fs::symlink(outside.path().join("secret.json"), ws.join("out.json")).unwrap();
    // What the container sees of a link to the runner's host: a link to nothing.
    std::os::unix::fs::symlink("/home/runner/work/x.json", ws.join("gone.json")).unwrap();
    std::os::unix::fs::symlink(outside.path(), ws.join("dir")).unwrap();
    for path in ["out.json", "gone.json", "dir/secret.json"] {
        assert_eq!(
            entities_file(&ws, path).unwrap_err(),
            format!(
                "input 'entitiesFile' is '{path}', a symbolic link to a file outside the \
                 workspace ({}), the only folder the step may read or write: copy the file \
                 into the workspace",
                ws.display()
            )
        );
    }
}

#[test]
fn entities_file_is_not_read_by_other_operations() {
    let i = ok(&[UPSERT, ("entitiesFile", "../nowhere.json")]);
    assert_eq!(i.entities_file, None);
    assert_eq!(i.ignored, ["entitiesFile"]);
}

#[test]
fn team() {
    assert_eq!(
        ok(&[UPSERT, ("team", "platform")]).team,
        Some(json!("platform"))
    );
    assert_eq!(
        ok(&[UPSERT, ("team", " Platform Team ")]).team,
        Some(json!("Platform Team"))
    );
    assert_eq!(
        ok(&[UPSERT, ("team", "\"platform\"")]).team,
        Some(json!("platform"))
    );
    assert_eq!(
        ok(&[UPSERT, ("team", r#"["a", "b"]"#)]).team,
        Some(json!(["a", "b"]))
    );
    assert_eq!(ok(&[UPSERT, ("team", "[]")]).team, Some(json!([])));
    assert_eq!(
        err(&[UPSERT, ("team", "42")]),
        "input 'team' must be a team name, a JSON array of team names, or a search query \
         object, got a number"
    );
    assert_eq!(
        err(&[UPSERT, ("team", r#"{"a": 1}"#)]),
        "input 'team' must be a team name, a JSON array of team names, or a search query \
         object: an object must hold only \"combinator\" and \"rules\", not 'a'"
    );
    assert_eq!(
        err(&[UPSERT, ("team", r#"["a", 1]"#)]),
        "input 'team' must be a team name, a JSON array of team names, or a search query \
         object, got an array holding a number"
    );
    assert_eq!(
        err(&[UPSERT, ("team", r#"["a", "b""#)]),
        "input 'team' is not valid JSON: EOF while parsing a list at line 1 column 9"
    );
}

#[test]
fn team_as_a_list_of_single_quoted_names() {
    // Port's own UPSERT snippet writes `team: "['myTeam']"`.
    for (text, want) in [
        ("['myTeam']", json!(["myTeam"])),
        ("['a', 'b']", json!(["a", "b"])),
        (
            "[ 'Platform Team' ,'sre-1' ]",
            json!(["Platform Team", "sre-1"]),
        ),
        ("[]", json!([])),
        ("[ ]", json!([])),
    ] {
        assert_eq!(ok(&[UPSERT, ("team", text)]).team, Some(want), "{text}");
    }
    // Anything else that starts like a list is still a JSON mistake.
    for bad in [
        "['a', b]", "['it's']", "['a\"b']", "['a\\b']", "['a',]", "['']", "['a'", "['a\tb']",
    ] {
        assert!(
            err(&[UPSERT, ("team", bad)]).starts_with("input 'team' is not valid JSON: "),
            "{bad}"
        );
    }
}

#[test]
fn team_as_a_search_query() {
    let query = r#"{"combinator": "and", "rules": [{"property": "$identifier", "operator": "=", "value": "sre"}]}"#;
    assert_eq!(
        ok(&[UPSERT, ("team", query)]).team,
        Some(json!({
            "combinator": "and",
            "rules": [{"property": "$identifier", "operator": "=", "value": "sre"}]
        }))
    );
    let want = "input 'team' must be a team name, a JSON array of team names, or a search \
                query object: ";
    for (bad, why) in [
        (r#"{"rules": []}"#, "the query has no \"combinator\""),
        (r#"{"combinator": "or"}"#, "the query has no \"rules\""),
        (
            r#"{"combinator": "xor", "rules": []}"#,
            "\"combinator\" must be \"and\" or \"or\", got '\"xor\"'",
        ),
        (
            r#"{"combinator": "or", "rules": {}}"#,
            "\"rules\" must be a JSON array, got an object",
        ),
        (
            r#"{"combinator": "or", "rules": [{}, 3]}"#,
            "\"rules\" element 1 must be a JSON object, got a number",
        ),
        (
            r#"{"combinator": "or", "rules": [], "limit": 1}"#,
            "an object must hold only \"combinator\" and \"rules\", not 'limit'",
        ),
    ] {
        assert_eq!(
            err(&[UPSERT, ("team", bad)]),
            format!("{want}{why}"),
            "{bad}"
        );
    }
}

#[test]
fn link() {
    assert_eq!(
        ok(&[
            ("operation", "PATCH_RUN"),
            ("link", "https://example.com/a")
        ])
        .link,
        ["https://example.com/a"]
    );
    assert_eq!(
        ok(&[
            ("operation", "PATCH_RUN"),
            ("link", r#"["https://a.example", "https://b.example"]"#)
        ])
        .link,
        ["https://a.example", "https://b.example"]
    );
    assert_eq!(
        err(&[("operation", "PATCH_RUN"), ("link", r#"["https://a", ""]"#)]),
        "input 'link' element 1 is an empty string"
    );
    assert_eq!(
        err(&[("operation", "PATCH_RUN"), ("link", r#"["https://a", 3]"#)]),
        "input 'link' element 1 must be a string, got a number"
    );
    assert_eq!(
        err(&[("operation", "PATCH_RUN"), ("link", "[\"https://a\"")]),
        "input 'link' is not valid JSON: EOF while parsing a list at line 1 column 12"
    );
}

#[test]
fn link_as_a_list_of_single_quoted_urls() {
    let patch = ("operation", "PATCH_RUN");
    assert_eq!(
        ok(&[patch, ("link", "['https://a.example/x?y=1']")]).link,
        ["https://a.example/x?y=1"]
    );
    assert_eq!(
        ok(&[
            patch,
            ("link", "['https://a.example', 'https://b.example']")
        ])
        .link,
        ["https://a.example", "https://b.example"]
    );
    assert!(err(&[patch, ("link", "['https://a.example', x]")])
        .starts_with("input 'link' is not valid JSON: "));
}

#[test]
fn include_is_split_on_commas() {
    let i = ok(&[
        ("operation", "GET"),
        ("blueprint", "svc"),
        ("identifier", "x"),
        ("include", " title, properties.version ,,relations , "),
    ]);
    assert_eq!(i.include, ["title", "properties.version", "relations"]);
}

#[test]
fn status() {
    let cases = [
        ("SUCCESS", Status::Success),
        ("success", Status::Success),
        ("Success", Status::Success),
        ("FAILURE", Status::Failure),
        ("failure", Status::Failure),
        ("cancelled", Status::Cancelled),
        ("canceled", Status::Cancelled),
        ("CANCELLED", Status::Cancelled),
    ];
    for (text, want) in cases {
        let i = ok(&[("operation", "PATCH_RUN"), ("status", text)]);
        assert_eq!(i.status, Some(want), "{text}");
    }
    assert_eq!(
        err(&[("operation", "PATCH_RUN"), ("status", "done")]),
        "input 'status' must be SUCCESS or FAILURE (or a job.status value: success, failure, \
         cancelled), got 'done'"
    );
}

#[test]
fn booleans() {
    for (text, want) in [
        ("true", true),
        ("True", true),
        ("TRUE", true),
        ("false", false),
        ("False", false),
        ("FALSE", false),
    ] {
        let i = ok(&[
            UPSERT,
            ("createMissingRelatedEntities", text),
            ("addJobLink", text),
        ]);
        assert_eq!(i.create_missing_related_entities, want);
        assert_eq!(i.add_job_link, want);
        let i = ok(&with(&DELETE, &[("delete_dependents", text)]));
        assert_eq!(i.delete_dependents, want);
        let i = ok(&with(&CREATE_RUN, &[("wait", text)]));
        assert_eq!(i.wait, want);
    }
    assert_eq!(
        err(&with(&CREATE_RUN, &[("wait", "yes")])),
        "input 'wait' must be a boolean (true, True, TRUE, false, False or FALSE), got 'yes'"
    );
    assert_eq!(
        err(&with(&DELETE, &[("delete_dependents", "tRUE")])),
        "input 'delete_dependents' must be a boolean (true, True, TRUE, false, False or \
         FALSE), got 'tRUE'"
    );
    assert!(err(&[UPSERT, ("createMissingRelatedEntities", "1")])
        .starts_with("input 'createMissingRelatedEntities' must be a boolean"));
    assert!(err(&[UPSERT, ("addJobLink", "no")]).starts_with("input 'addJobLink' must be"));
}

#[test]
fn job_id() {
    assert_eq!(
        ok(&[UPSERT, ("jobId", "41234567890")]).job_id.as_deref(),
        Some("41234567890")
    );
    assert_eq!(ok(&[UPSERT, ("jobId", "")]).job_id, None);
    assert_eq!(
        err(&[UPSERT, ("jobId", "build")]),
        "input 'jobId' must be a numeric job id such as ${{ job.check_run_id }} gives, got \
         'build'"
    );
}

#[test]
fn numbers() {
    let i = ok(&with(&BULK, &[("concurrency", "16"), ("maxAttempts", "1")]));
    assert_eq!((i.concurrency, i.max_attempts), (16, 1));
    assert_eq!(
        err(&with(&BULK, &[("concurrency", "0")])),
        "input 'concurrency' must be a whole number from 1 to 16, got '0'"
    );
    assert_eq!(
        err(&with(&BULK, &[("concurrency", "17")])),
        "input 'concurrency' must be a whole number from 1 to 16, got '17'"
    );
    assert_eq!(
        err(&[UPSERT, ("maxAttempts", "11")]),
        "input 'maxAttempts' must be a whole number from 1 to 10, got '11'"
    );
    assert_eq!(
        err(&[UPSERT, ("maxAttempts", "2.5")]),
        "input 'maxAttempts' must be a whole number from 1 to 10, got '2.5'"
    );
}

#[test]
fn durations() {
    let secs = |text: &str| ok(&[UPSERT, ("timeout", text)]).timeout.as_secs();
    assert_eq!(secs("45"), 45);
    assert_eq!(secs("90s"), 90);
    assert_eq!(secs("5m"), 300);
    assert_eq!(secs("1h"), 3600);
    assert_eq!(secs("1m30s"), 90);
    assert_eq!(secs("2h5s"), 7205);
    let i = ok(&with(
        &CREATE_RUN,
        &[("waitTimeout", "1h30m"), ("requestTimeout", "10s")],
    ));
    assert_eq!(i.wait_timeout, Duration::from_secs(5400));
    assert_eq!(i.request_timeout, Duration::from_secs(10));
    for bad in [
        "abc",
        "5x",
        "m",
        "1.5m",
        "30s1m",
        "1m1m",
        "-5",
        "5 m",
        "99999999999999999999h",
    ] {
        assert_eq!(
            err(&with(&CREATE_RUN, &[("waitTimeout", bad)])),
            format!(
                "input 'waitTimeout' must be a duration in seconds (45) or with units s, m, h \
                 (90s, 5m, 1h, 1m30s), got '{bad}'"
            ),
            "{bad}"
        );
    }
    for zero in ["0", "0s", "0m0s"] {
        assert_eq!(
            err(&[UPSERT, ("requestTimeout", zero)]),
            format!("input 'requestTimeout' must be longer than zero, got '{zero}'")
        );
    }
    assert_eq!(secs("168h"), 604_800);
    for long in ["169h", "18446744073709551615"] {
        assert_eq!(
            err(&[UPSERT, ("timeout", long)]),
            format!("input 'timeout' must be at most 7 days (168h), got '{long}'")
        );
    }
}

#[test]
fn identifiers() {
    for good in [
        "my-service",
        "org/repo",
        "a:b+c=d@e\\f",
        "service_1.2",
        "服务",
        "Überdienst",
        "...",
        ".hidden",
    ] {
        let i = ok(&[
            ("operation", "GET"),
            ("blueprint", "svc"),
            ("identifier", good),
        ]);
        assert_eq!(i.identifier.as_deref(), Some(good));
    }
    assert_eq!(
        err(&[
            ("operation", "GET"),
            ("blueprint", "svc"),
            ("identifier", "my service")
        ]),
        "input 'identifier' is not a valid Port identifier: 'my service' contains ' ' \
         (allowed: letters, digits and @ _ . + : \\ / = -)"
    );
    assert_eq!(
        err(&[UPSERT, ("identifier", "..")]),
        "input 'identifier' is not a valid Port identifier: '..' is not allowed"
    );
    assert_eq!(
        err(&[("blueprint", "a#b")]),
        "input 'blueprint' is not a valid Port identifier: 'a#b' contains '#' \
         (allowed: letters, digits and @ _ . + : \\ / = -)"
    );
    assert_eq!(
        err(&[("operation", "CREATE_RUN"), ("action", "deploy?x")]),
        "input 'action' is not a valid Port identifier: 'deploy?x' contains '?' \
         (allowed: letters, digits and @ _ . + : \\ / = -)"
    );
    assert_eq!(
        err(&[("operation", "PATCH_RUN"), ("runId", "r 1")]),
        "input 'runId' is not a valid Port run id: 'r 1' contains ' ' \
         (allowed: letters, digits and @ _ . + : = -)"
    );
    let long = "a".repeat(1001);
    assert_eq!(
        err(&[UPSERT, ("identifier", &long)]),
        "input 'identifier' is not a valid Port identifier: it has 1001 characters, more \
         than 1000"
    );
    assert!(ok(&[UPSERT, ("identifier", &long[..1000])])
        .identifier
        .is_some());
}

#[test]
fn operation_requirements() {
    assert_eq!(
        err(&[]),
        "input 'blueprint' is required for operation UPSERT"
    );
    assert_eq!(
        err(&[("operation", "GET"), ("identifier", "x")]),
        "input 'blueprint' is required for operation GET"
    );
    assert_eq!(
        err(&[("operation", "DELETE"), ("blueprint", "svc")]),
        "input 'identifier' is required for operation DELETE"
    );
    assert_eq!(
        err(&[("operation", "SEARCH")]),
        "input 'query' is required for operation SEARCH"
    );
    assert_eq!(
        err(&[("operation", "CREATE_RUN")]),
        "input 'action' is required for operation CREATE_RUN"
    );
    // PATCH_RUN's run id may come from the event payload: not required here.
    let i = ok(&[("operation", "PATCH_RUN"), ("status", "SUCCESS")]);
    assert_eq!(i.run_id, None);
}

#[test]
fn inputs_an_operation_does_not_read_are_neither_checked_nor_used() {
    // Leftovers from a step that was copied and changed, as the official action allows.
    let i = ok(&[
        ("operation", "PATCH_RUN"),
        ("identifier", "My Service"),
        ("properties", r#"{"a": }"#),
        ("icon", "Github"),
        ("runId", "r_abc"),
        ("statusLabel", "Deployed"),
        ("logMessage", "done"),
    ]);
    assert_eq!((i.identifier, i.properties, i.icon), (None, None, None));
    assert_eq!(i.ignored, ["identifier", "icon", "properties"]);
    assert_eq!(i.status_label.as_deref(), Some("Deployed"));
    let i = ok(&[
        ("operation", "CREATE_RUN"),
        ("action", "deploy"),
        ("blueprint", "my blueprint"),
    ]);
    assert_eq!((i.blueprint, i.ignored), (None, vec!["blueprint"]));
    // Run inputs are read by every operation.
    let i = ok(&[UPSERT, ("logMessage", "hello"), ("status", "SUCCESS")]);
    assert_eq!(i.log_message.as_deref(), Some("hello"));
    assert!(i.ignored.is_empty());
    assert_eq!(i.run_inputs_given(), ["logMessage", "status"]);
    // What the operation reads is checked as ever.
    assert_eq!(
        err(&[
            ("operation", "CREATE_RUN"),
            ("action", "deploy"),
            ("properties", "[]")
        ]),
        "input 'properties' must be a JSON object, got an array"
    );
    assert_eq!(
        err(&[UPSERT, ("identifier", "My Service")]),
        "input 'identifier' is not a valid Port identifier: 'My Service' contains ' ' \
         (allowed: letters, digits and @ _ . + : \\ / = -)"
    );
}

#[test]
fn an_input_at_its_default_or_blank_was_not_given() {
    // The runner passes every declared input: its default, or "".
    let mut e = env(&[
        ("operation", "GET"),
        ("blueprint", "svc"),
        ("identifier", "x"),
    ]);
    for d in &INPUTS {
        if d.name != "jobId" && !d.default.is_empty() && d.name != "operation" {
            e.insert(format!("INPUT_{}", d.name.to_uppercase()), d.default.into());
        }
    }
    e.insert("INPUT_TITLE".into(), "  \n".into());
    let i = parse(&e).unwrap();
    assert!(i.ignored.is_empty(), "{:?}", i.ignored);
    e.insert("INPUT_WAIT".into(), "true".into());
    e.insert("INPUT_CONCURRENCY".into(), "8".into());
    assert_eq!(parse(&e).unwrap().ignored, ["concurrency", "wait"]);
}

#[test]
fn run_ids() {
    let patch = |id: &'static str| err(&[("operation", "PATCH_RUN"), ("runId", id)]);
    assert_eq!(
        patch("r_a/b"),
        "input 'runId' is not a valid Port run id: 'r_a/b' contains '/' (a run id is one \
         path segment; Port's look like r_ followed by letters and digits)"
    );
    assert_eq!(
        patch("r_a\\b"),
        "input 'runId' is not a valid Port run id: 'r_a\\b' contains '\\' (a run id is \
         one path segment; Port's look like r_ followed by letters and digits)"
    );
    assert_eq!(
        patch(".."),
        "input 'runId' is not a valid Port run id: '..' is not allowed"
    );
    assert_eq!(
        patch("r_1\n::error::x"),
        "input 'runId' is not a valid Port run id: 'r_1\\n::error::x' contains '\\n' \
         (allowed: letters, digits and @ _ . + : = -)"
    );
    let i = ok(&[("operation", "PATCH_RUN"), ("runId", "r_AbC123")]);
    assert_eq!(i.run_id.as_deref(), Some("r_AbC123"));
}

#[test]
fn control_characters_in_shown_values_are_escaped() {
    assert_eq!(
        err(&[("operation", "get\nx")]),
        "input 'operation' must be one of UPSERT, GET, SEARCH, BULK_UPSERT, CREATE_RUN, \
         PATCH_RUN, DELETE, got 'get\\nx'"
    );
}

#[test]
fn limit_is_a_positive_whole_number_read_by_search_only() {
    let search = [("operation", "SEARCH"), ("blueprint", "service")];
    assert_eq!(ok(&search).limit, None);
    assert_eq!(ok(&with(&search, &[("limit", "1500")])).limit, Some(1500));
    assert_eq!(
        err(&with(&search, &[("limit", "0")])),
        "input 'limit' must be a whole number from 1 to 1000000000, got '0'"
    );
    let get = ok(&[
        ("operation", "GET"),
        ("blueprint", "service"),
        ("identifier", "x"),
        ("limit", "nope"),
    ]);
    assert_eq!((get.limit, get.ignored), (None, vec!["limit"]));
    // A blueprint's search needs no query: all its entities.
    assert_eq!(ok(&search).query, None);
}

/// The inputs with `outputFile` set to `path` and the workspace `workspace`.
fn output_file(workspace: Option<&Path>, path: &str) -> Result<Option<WorkspaceFile>, String> {
    let mut env = env(&[
        ("operation", "SEARCH"),
        ("blueprint", "service"),
        ("outputFile", path),
    ]);
    if let Some(w) = workspace {
        env.insert("GITHUB_WORKSPACE".into(), w.to_string_lossy().into_owned());
    }
    parse(&env)
        .map(|i| i.output_file)
        .map_err(|e| e.to_string())
}

use std::path::Path;

#[test]
fn output_file_is_a_file_inside_the_workspace() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path();
    let file = output_file(Some(ws), "out/./e.json").unwrap().unwrap();
    assert_eq!(file.relative, "out/e.json");
    assert_eq!(file.path, ws.join("out/e.json"));
    let absolute = ws.join("a/b.json");
    let file = output_file(Some(ws), &absolute.to_string_lossy())
        .unwrap()
        .unwrap();
    assert_eq!((file.relative.as_str(), file.path), ("a/b.json", absolute));
    assert_eq!(output_file(Some(ws), "").unwrap(), None);

    let refused = |path: &str| output_file(Some(ws), path).unwrap_err();
    assert_eq!(
        refused("../e.json"),
        format!(
            "input 'outputFile' is '../e.json', which is outside the workspace ({}), the only \
             folder the step may read or write: put the file in the workspace and write its \
             path relative to it",
            ws.display()
        )
    );
    assert!(refused("/etc/e.json").starts_with(
        "input 'outputFile' is '/etc/e.json', an absolute path outside the workspace, "
    ));
    assert!(refused("/etc/e.json")
        .ends_with("write it relative to the workspace, without ${{ github.workspace }}"));
    // What `${{ github.workspace }}/out/e.json` gives on a runner: the relative path is named.
    let mut env = env(&[
        ("operation", "GET"),
        ("blueprint", "service"),
        ("identifier", "payments"),
        (
            "outputFile",
            "/home/runner/work/payments/payments/out/e.json",
        ),
    ]);
    env.insert("GITHUB_WORKSPACE".into(), ws.to_string_lossy().into_owned());
    env.insert("GITHUB_REPOSITORY".into(), "acme/payments".into());
    assert!(parse(&env)
        .unwrap_err()
        .to_string()
        .ends_with("write it relative to the workspace: out/e.json"));
    assert!(refused(&ws.to_string_lossy()).ends_with(", a directory: name the file in it"));
    assert!(refused("out/").ends_with(", a directory: name the file in it"));
    std::fs::create_dir(ws.join("dir")).unwrap();
    assert_eq!(
        refused("dir"),
        "input 'outputFile' is 'dir', a directory: name the file in it"
    );
    assert_eq!(
        output_file(None, "e.json").unwrap_err(),
        "input 'outputFile' needs $GITHUB_WORKSPACE, the workspace the file is written in \
         (GitHub's runners set it)"
    );
}

/// Where the rules of `entitiesFile` and `outputFile` used to differ, the one rule holds for
/// both: `..` that stays inside, links inside followed, a link out refused, a workspace needed.
#[test]
fn both_file_inputs_follow_one_rule() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().canonicalize().unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("e.json"), "[]").unwrap();
    std::fs::create_dir(ws.join("real")).unwrap();
    std::fs::write(ws.join("real/e.json"), "[]").unwrap();
    std::os::unix::fs::symlink("real", ws.join("linked")).unwrap();
    std::os::unix::fs::symlink(outside.path(), ws.join("away")).unwrap();
    std::os::unix::fs::symlink("real/e.json", ws.join("file-link.json")).unwrap();
    let entities = |path: &str| entities_file(&ws, path).map(|i| i.entities_file.unwrap());
    let output = |path: &str| output_file(Some(&ws), path).map(|f| f.unwrap());

    // `..` that stays inside the workspace: read and written.
    assert_eq!(
        entities("real/../real/e.json").unwrap().path,
        ws.join("real/e.json")
    );
    let written = output("real/../out/e.json").unwrap();
    assert_eq!(
        (written.relative.as_str(), written.path),
        ("out/e.json", ws.join("out/e.json"))
    );
    let absolute = ws.join("real/../e.json");
    assert_eq!(
        output(&absolute.to_string_lossy()).unwrap().relative,
        "e.json"
    );
    // A link inside the workspace: read and written through.
    assert_eq!(
        entities("linked/e.json").unwrap().path,
        ws.join("real/e.json")
    );
    assert_eq!(output("linked/e.json").unwrap().relative, "linked/e.json");
    let through = output("file-link.json").unwrap();
    assert_eq!(
        (through.relative.as_str(), through.path),
        ("file-link.json", ws.join("real/e.json"))
    );
    // A link out of it: refused for both.
    assert!(entities("away/e.json")
        .unwrap_err()
        .contains("a symbolic link to a file outside the workspace"));
    for path in ["away/e.json", "away/new.json"] {
        assert!(output(path)
            .unwrap_err()
            .contains("leads out of the workspace"));
    }
    // No workspace: refused for both, naming the input.
    let mut env = env(&[("operation", "BULK_UPSERT"), ("entitiesFile", "e.json")]);
    env.remove("GITHUB_WORKSPACE");
    assert_eq!(
        parse(&env).unwrap_err().to_string(),
        "input 'entitiesFile' needs $GITHUB_WORKSPACE, the workspace the file is read from \
         (GitHub's runners set it)"
    );
}

#[test]
fn fail_on_error_is_true_only_in_the_spellings_of_a_true_boolean() {
    let with = |value: &str| {
        let mut env = Env::new();
        env.insert("INPUT_FAILONERROR".into(), value.into());
        fails_on_error(&env)
    };
    for yes in ["true", "True", "TRUE", " true\n"] {
        assert!(with(yes), "{yes:?}");
    }
    for no in ["", "false", "FALSE", "yes", "tRUE"] {
        assert!(!with(no), "{no:?}");
    }
    assert!(!fails_on_error(&Env::new()));
}

#[test]
fn matrix_values_are_one_short_line_of_what_the_runner_gives() {
    assert_eq!(
        matrix_values("{\n  \"os\": \"ubuntu-latest\",\n  \"node\": 20\n}").as_deref(),
        Some("os: ubuntu-latest, node: 20")
    );
    // Outside a matrix the runner gives `null`; a user may give a value of their own.
    assert_eq!(matrix_values("null"), None);
    assert_eq!(matrix_values("{}"), None);
    assert_eq!(
        matrix_values("arm64\nlinux").as_deref(),
        Some("arm64 linux")
    );
    let long = matrix_values(&format!("{{\"target\": \"{}\"}}", "x".repeat(200))).unwrap();
    assert_eq!(long.chars().count(), MAX_MATRIX_TEXT + 1);
    assert!(long.ends_with('…'));
}

#[test]
fn finish_is_auto_unless_given_as_a_boolean() {
    assert_eq!(parse_finish(None), Ok(Finish::Auto));
    assert_eq!(parse_finish(Some("AUTO".into())), Ok(Finish::Auto));
    assert_eq!(parse_finish(Some("True".into())), Ok(Finish::Always));
    assert_eq!(parse_finish(Some("false".into())), Ok(Finish::Never));
    assert_eq!(
        parse_finish(Some("last".into())).unwrap_err().to_string(),
        "input 'finish' must be auto, true or false, got 'last'"
    );
}
