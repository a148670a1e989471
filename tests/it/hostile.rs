//! Text from Port that tries to take over the step: workflow commands in error messages, error
//! pages and ids, and Markdown or HTML in what the job summary shows. Every line the runner
//! could read as a command is one port-action means; the summary shows Port's text as text;
//! no secret is ever printed.

use port_stand_in::{StandIn, CLIENT_SECRET};
use serde_json::json;

use crate::support::{respond, stand_in_with_run, Outcome, Step, WORKFLOW_RUN_URL};

/// Lines that are workflow commands of both forms, a stop of all commands among them.
const INJECTED: &str = "\n::error::pwned\n::stop-commands::x\n##[set-output name=a;]b";

/// Markdown and HTML that would change the job summary if pasted in as it is.
const MARKUP: &str = "<img src=x onerror=alert(1)> [x](javascript:alert(1)) *bold*";

/// Faults match `METHOD /path`, without the query.
const UPSERT_ROUTE: &str = "POST /v1/blueprints/service/entities";

/// The commands port-action prints.
const MEANT: &[&str] = &[
    "add-mask", "debug", "error", "warning", "notice", "group", "endgroup",
];

/// An upsert of `payments` with debug logging on (so that bodies are printed too), two
/// attempts at most.
fn upsert(port: &StandIn) -> Step {
    Step::new(port)
        .input("blueprint", "service")
        .input("identifier", "payments")
        .input("properties", r#"{"replicas": 3}"#)
        .input("maxAttempts", "2")
        .input("requestTimeout", "2s")
        .input("timeout", "8s")
        .env("RUNNER_DEBUG", "1")
}

/// The runner's `%` decoding of a command's data.
fn unescape_data(data: &str) -> String {
    data.replace("%0D", "\r")
        .replace("%0A", "\n")
        .replace("%25", "%")
}

/// Asserts that stdout holds no command port-action does not mean, read as the runner reads
/// it: lines end at `\n` or `\r`; `::name` counts after leading white space is trimmed, and a
/// line that is not one of port-action's commands must hold no `##[` anywhere. Returns the
/// decoded data of the annotations (`error`, `warning`, `notice`).
#[track_caller]
fn assert_only_meant_commands(out: &Outcome) -> Vec<String> {
    let mut annotations = Vec::new();
    for line in out.stdout.split(['\n', '\r']) {
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed.strip_prefix("::") {
            let name_end = rest.find([' ', ':']).unwrap_or(rest.len());
            let name = &rest[..name_end];
            assert!(
                MEANT.contains(&name) && rest[name_end..].contains("::"),
                "a command port-action does not mean: {line:?}\nstdout:\n{}",
                out.stdout
            );
            let data = &rest[name_end..][rest[name_end..].find("::").unwrap() + 2..];
            if ["error", "warning", "notice"].contains(&name) {
                let decoded = unescape_data(data);
                assert_ne!(decoded.trim(), "pwned", "a forged annotation: {line:?}");
                annotations.push(decoded);
            }
        } else {
            assert!(
                !line.contains("##["),
                "a legacy command in a plain line: {line:?}\nstdout:\n{}",
                out.stdout
            );
        }
    }
    assert!(
        !out.stdout
            .split(['\n', '\r'])
            .any(|l| l.trim_start().starts_with("::stop-commands")),
        "{}",
        out.stdout
    );
    annotations
}

/// Asserts that neither the client secret nor any access token the stand-in issued appears in
/// stdout (but for the `::add-mask::` that hides it), stderr, the outputs file or the job
/// summary.
#[track_caller]
fn assert_no_secret(port: &StandIn, out: &Outcome) {
    let printed: String = out
        .stdout
        .lines()
        .filter(|l| !l.starts_with("::add-mask::"))
        .map(|l| format!("{l}\n"))
        .collect();
    let mut secrets = vec![CLIENT_SECRET.to_string()];
    for r in port.requests() {
        if let Some(auth) = r.header("authorization") {
            secrets.push(auth.trim_start_matches("Bearer ").to_string());
        }
    }
    assert!(secrets.len() > 1, "no request carried a token");
    for secret in &secrets {
        for (what, text) in [
            ("stdout", &printed),
            ("stderr", &out.stderr),
            ("outputs", &out.outputs_raw),
            ("summary", &out.summary),
        ] {
            assert!(!text.contains(secret), "{secret} in {what}:\n{text}");
        }
    }
}

#[test]
fn commands_in_a_retried_503_message_are_printed_as_text() {
    let port = stand_in_with_run();
    let body = json!({"ok": false, "error": "service_unavailable", "message": INJECTED});
    // Both attempts (maxAttempts 2) get it.
    for _ in 0..2 {
        respond(&port, UPSERT_ROUTE, 503, &[], body.clone());
    }
    let out = upsert(&port).run();
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(out.stdout.contains("(attempt 2 of 2)"), "{}", out.stdout);
    let annotations = assert_only_meant_commands(&out);
    // Port's message is in the error, whole, as data of the one annotation.
    assert!(
        annotations.iter().any(|a| a.contains(INJECTED)),
        "{annotations:#?}"
    );
    assert_eq!(out.output("a"), None);
    assert_no_secret(&port, &out);
}

#[test]
fn commands_in_a_proxys_html_error_page_are_printed_as_text() {
    let port = stand_in_with_run();
    let page = format!("<html><body><h1>503 Service Unavailable</h1>{INJECTED}\n</body></html>");
    for _ in 0..2 {
        respond(&port, UPSERT_ROUTE, 503, &[], json!(page));
    }
    let out = upsert(&port).run();
    assert_eq!(out.code, 1, "{}", out.stdout);
    let annotations = assert_only_meant_commands(&out);
    assert!(
        annotations.iter().any(|a| a.contains(INJECTED)),
        "{annotations:#?}"
    );
    // The summary shows the page as text: no HTML, no command is read from it.
    assert!(!out.summary.contains("<h1>"), "{}", out.summary);
    assert!(out.summary.contains("&lt;h1&gt;"), "{}", out.summary);
    assert_no_secret(&port, &out);
}

#[test]
fn commands_in_the_id_of_a_created_run_are_printed_as_text() {
    let port = stand_in_with_run();
    let id = format!("r_new{INJECTED}");
    respond(
        &port,
        "POST /v1/actions/deploy_service/runs",
        201,
        &[],
        json!({"ok": true, "run": {"id": id, "status": "IN_PROGRESS"}}),
    );
    let out = Step::new(&port)
        .input("operation", "CREATE_RUN")
        .input("action", "deploy_service")
        .input("wait", "true")
        .input("waitTimeout", "2s")
        .input("timeout", "8s")
        .env("RUNNER_DEBUG", "1")
        .run();
    // The id is refused: it reaches no output, and no poll goes to a path Port's text chose.
    out.assert_failure("Port's answer for a new run of 'deploy_service' has an invalid run id");
    assert_eq!(out.output("runId"), None);
    assert_eq!(out.output("a"), None);
    assert!(
        !port
            .requests()
            .iter()
            .any(|r| r.method == "GET" && r.path.starts_with("/v1/actions/runs/r_new")),
        "no poll of the refused id"
    );
    assert_only_meant_commands(&out);
    assert_no_secret(&port, &out);
}

#[test]
fn the_summary_shows_an_upserted_identifier_as_text() {
    let port = stand_in_with_run();
    respond(
        &port,
        UPSERT_ROUTE,
        201,
        &[],
        json!({"ok": true, "entity": {"identifier": format!("`{MARKUP}`"), "blueprint": "service"}}),
    );
    let out = upsert(&port).run();
    out.assert_success();
    let item = out
        .summary
        .lines()
        .find(|l| l.starts_with("- Entity "))
        .unwrap_or_else(|| panic!("no entity item in\n{}", out.summary));
    // Backticks inside take a longer fence, so the code span holds the identifier whole.
    let label = format!("[`` `{MARKUP}` ``](");
    assert!(item.starts_with(&format!("- Entity {label}")), "{item}");
    // The link's destination ends at the first `)`: it must be the whole URL.
    let rest = &item[format!("- Entity {label}").len()..];
    let (url, after) = rest.split_once(')').expect("a link");
    assert!(
        url.starts_with("http://") && !url.contains([' ', '(', '<', '>']),
        "{url}"
    );
    assert_eq!(
        after, " upserted in blueprint `service`, tied to run `r_demo`",
        "{item}"
    );
    assert_no_secret(&port, &out);
}

#[test]
fn the_summary_shows_ports_error_text_as_text() {
    let port = stand_in_with_run();
    respond(
        &port,
        UPSERT_ROUTE,
        422,
        &[],
        json!({"ok": false, "error": "invalid_request", "message": format!("{MARKUP}\n# heading")}),
    );
    let out = upsert(&port).run();
    assert_eq!(out.code, 1, "{}", out.stdout);
    let caution = out
        .summary
        .split_once("> [!CAUTION]\n")
        .unwrap_or_else(|| panic!("no caution block in\n{}", out.summary))
        .1;
    assert!(
        caution.contains(
            "Port API 422 invalid_request: &lt;img src=x onerror=alert(1)&gt; \
             \\[x\\](javascript:alert(1)) \\*bold\\*\n> \\# heading ("
        ),
        "{caution}"
    );
    assert!(!out.summary.contains("<img"), "{}", out.summary);
    assert_no_secret(&port, &out);
}

#[test]
fn the_summary_shows_a_bulk_error_column_as_text() {
    let port = stand_in_with_run();
    port.reject_entity("service", "svc-1", 422, MARKUP, "also *here* | <b>");
    let entities = json!([
        {"identifier": "svc-0", "properties": {}},
        {"identifier": "svc-1", "properties": {}},
    ]);
    let out = Step::new(&port)
        .input("operation", "BULK_UPSERT")
        .input("blueprint", "service")
        .input("entities", &entities.to_string())
        .input("timeout", "8s")
        .run();
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(
        out.summary.contains(
            "  | 1 | svc-1 | &lt;img src=x onerror=alert(1)&gt; \\[x\\](javascript:alert(1)) \
             \\*bold\\* | also \\*here\\* \\| &lt;b&gt; |\n"
        ),
        "{}",
        out.summary
    );
    assert!(!out.summary.contains("<img"), "{}", out.summary);
    assert_only_meant_commands(&out);
}

#[test]
fn a_secret_in_a_summary_item_is_redacted() {
    let port = stand_in_with_run();
    // An entity named like the secret: its identifier is in the summary's item and link.
    let out = upsert(&port).input("identifier", CLIENT_SECRET).run();
    out.assert_success();
    assert!(!out.summary.contains(CLIENT_SECRET), "{}", out.summary);
    // The entity's page names the identifier in its URL: no link is made to it.
    assert!(
        out.summary
            .contains("- Entity `***` upserted in blueprint `service`, tied to run `r_demo`\n"),
        "{}",
        out.summary
    );
}

/// A client secret and an access token made of the characters Markdown escapes.
const MARKDOWN_SECRET: &str = "cs-S3cret*val_-ue|<x>`[y]";
const MARKDOWN_TOKEN: &str = "tok-T0ken_a*b|c<d>`e[f]";

/// Asserts that the summary shows `shown` and holds neither secret in any form: as it is,
/// escaped for Markdown or percent-encoded in a link. Their cores (`S3cret`, `T0ken`) are
/// plain letters and digits, kept by every escaping.
#[track_caller]
fn assert_summary_redacted(out: &Outcome, shown: &str) {
    assert!(
        out.summary.contains(shown),
        "{shown:?} in:\n{}",
        out.summary
    );
    for core in ["S3cret", "T0ken"] {
        assert!(
            !out.summary.contains(core),
            "{core} in the summary:\n{}",
            out.summary
        );
    }
}

/// A step whose client secret is [`MARKDOWN_SECRET`] and whose Port answers the token request
/// with [`MARKDOWN_TOKEN`] (the stand-in checks neither: every request is answered by a
/// fault).
fn with_markdown_secrets(port: &StandIn, step: Step) -> Step {
    respond(
        port,
        "POST /v1/auth/access_token",
        200,
        &[],
        json!({"ok": true, "accessToken": MARKDOWN_TOKEN, "expiresIn": 3600, "tokenType": "Bearer"}),
    );
    step.event(None)
        .input("clientSecret", MARKDOWN_SECRET)
        .input("maxAttempts", "1")
        .input("timeout", "8s")
}

#[test]
fn secrets_echoed_by_port_never_reach_the_summary_escaped() {
    let echo = format!("{MARKDOWN_SECRET} and {MARKDOWN_TOKEN}");

    // An upserted identifier: in a code span, and in the entity page's URL.
    let port = StandIn::start();
    let identifier = format!("svc-{MARKDOWN_SECRET}-{MARKDOWN_TOKEN}");
    respond(
        &port,
        UPSERT_ROUTE,
        201,
        &[],
        json!({"ok": true, "entity": {"identifier": identifier, "blueprint": "service"}}),
    );
    let out = with_markdown_secrets(&port, upsert(&port)).run();
    out.assert_success();
    assert_summary_redacted(
        &out,
        "- Entity `svc-***-***` upserted in blueprint `service`\n",
    );

    // Port's error message: in the caution block.
    let port = StandIn::start();
    respond(
        &port,
        UPSERT_ROUTE,
        422,
        &[],
        json!({"ok": false, "error": "invalid_request", "message": format!("bad: {echo}")}),
    );
    let out = with_markdown_secrets(&port, upsert(&port)).run();
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert_summary_redacted(&out, "bad: \\*\\*\\* and \\*\\*\\*");

    // A bulk upsert's error table: identifier, error and message columns.
    let port = StandIn::start();
    respond(
        &port,
        "POST /v1/blueprints/service/entities/bulk",
        207,
        &[],
        json!({"ok": false, "entities": [], "errors": [{
            "identifier": "svc-0", "index": 0, "statusCode": 422,
            "error": MARKDOWN_TOKEN, "message": format!("refused: {echo}"),
        }]}),
    );
    let out = with_markdown_secrets(
        &port,
        Step::new(&port)
            .input("operation", "BULK_UPSERT")
            .input("blueprint", "service")
            .input("entities", r#"[{"identifier": "svc-0"}]"#),
    )
    .run();
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert_summary_redacted(
        &out,
        "| 0 | svc-0 | \\*\\*\\* | refused: \\*\\*\\* and \\*\\*\\* |",
    );

    // The run's links and label as Port answers them.
    let port = StandIn::start();
    respond(
        &port,
        "GET /v1/actions/runs/r_demo",
        200,
        &[],
        json!({"ok": true, "run": {"id": "r_demo", "status": "IN_PROGRESS", "link": [
            format!("https://ci.example.com/?t={MARKDOWN_TOKEN}"),
            format!("https://ci.example.com/{MARKDOWN_SECRET}"),
        ]}}),
    );
    respond(
        &port,
        "PATCH /v1/actions/runs/r_demo",
        200,
        &[],
        json!({"ok": true, "run": {"id": "r_demo", "status": "SUCCESS"}}),
    );
    let out = with_markdown_secrets(
        &port,
        Step::new(&port)
            .input("operation", "PATCH_RUN")
            .input("runId", "r_demo")
            .input("status", "SUCCESS")
            .input("statusLabel", &format!("label {MARKDOWN_TOKEN}"))
            .input("link", "https://grafana.example.com/d/1")
            .input("addJobLink", "false"),
    )
    .run();
    out.assert_success();
    assert_summary_redacted(&out, "(label \\*\\*\\*)");
    assert_summary_redacted(
        &out,
        "- Run links: https://ci.example.com/?t=\\*\\*\\*, https://ci.example.com/\\*\\*\\*, \
         [https://grafana.example.com/d/1](https://grafana.example.com/d/1)\n",
    );
}

/// A client secret with the characters JSON and URLs escape: `"`, `\` and `*`.
const ENCODED_SECRET: &str = r#"cs-S3cret*val_-ue"q\z"#;

#[test]
fn a_secret_port_echoes_json_escaped_or_percent_encoded_reaches_no_log_summary_or_run() {
    let port = StandIn::start();
    let echoed = [
        ENCODED_SECRET,
        r#"cs-S3cret*val_-ue\"q\\z"#,
        "cs-S3cret%2Aval_-ue%22q%5Cz",
        "cs-S3cret*val_-ue%22q%5Cz",
    ];
    respond(
        &port,
        "POST /v1/auth/access_token",
        200,
        &[],
        json!({"ok": true, "accessToken": "tok-plain", "expiresIn": 3600, "tokenType": "Bearer"}),
    );
    respond(
        &port,
        UPSERT_ROUTE,
        422,
        &[],
        json!({"ok": false, "error": "invalid_request", "message": format!(
            "bad client: raw {} json {} url {} uri {}", echoed[0], echoed[1], echoed[2], echoed[3]
        )}),
    );
    respond(
        &port,
        "GET /v1/actions/runs/r_demo",
        200,
        &[],
        json!({"ok": true, "run": {"id": "r_demo", "status": "IN_PROGRESS", "link": []}}),
    );
    respond(
        &port,
        "PATCH /v1/actions/runs/r_demo",
        200,
        &[],
        json!({"ok": true, "run": {"id": "r_demo", "status": "FAILURE"}}),
    );
    let out = upsert(&port)
        .input("clientSecret", ENCODED_SECRET)
        .input("status", "SUCCESS")
        .run();
    out.assert_failure("bad client: raw *** json *** url *** uri ***");
    // Every form is masked for the runner too.
    for form in &echoed[1..] {
        let mask = format!("::add-mask::{}", form.replace('%', "%25"));
        assert!(
            out.stdout.lines().any(|l| l == mask),
            "{mask}\n{}",
            out.stdout
        );
    }
    // `S3cret` is kept by every encoding: no form of the secret is anywhere.
    let printed: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| !l.starts_with("::add-mask::"))
        .collect();
    assert!(
        printed.iter().any(|l| l.contains("bad client")),
        "{}",
        out.stdout
    );
    for line in &printed {
        assert!(!line.contains("S3cret"), "{line}\n{}", out.stdout);
    }
    assert!(
        out.summary.contains("bad client: raw \\*\\*\\* json"),
        "{}",
        out.summary
    );
    assert!(!out.summary.contains("S3cret"), "{}", out.summary);
    let patch = port
        .requests()
        .into_iter()
        .find(|r| r.method == "PATCH")
        .expect("the run was finished");
    let body = patch.body.expect("a PATCH body");
    assert_eq!(body["status"], "FAILURE");
    let summary = body["summary"].as_str().unwrap();
    assert!(
        summary.contains("raw *** json *** url *** uri ***"),
        "{summary}"
    );
    assert!(!body.to_string().contains("S3cret"), "{body}");
}

#[test]
fn the_summary_shows_the_runs_links_and_label_as_text() {
    let port = StandIn::start();
    let hostile_links = [
        WORKFLOW_RUN_URL.to_string(),
        format!("https://example.com/{MARKUP}"),
        "javascript:alert(1)".to_string(),
    ];
    let links: Vec<&str> = hostile_links.iter().map(String::as_str).collect();
    port.add_run("r_demo", "IN_PROGRESS", &links);
    let out = Step::new(&port)
        .input("operation", "PATCH_RUN")
        .input("status", "SUCCESS")
        .input("statusLabel", "<b>Deployed</b> *now*")
        .input("summary", "[click](javascript:alert(1)) <script>x</script>")
        .run();
    out.assert_success();
    let summary = &out.summary;
    for raw in ["<img", "<b>", "<script>", "<javascript:"] {
        assert!(!summary.contains(raw), "{raw} in\n{summary}");
    }
    // `](` opens a link destination unless its `]` is escaped.
    for (at, _) in summary.match_indices("](javascript:") {
        assert!(
            summary[..at].ends_with('\\'),
            "a javascript: link in\n{summary}"
        );
    }
    let links_item = summary
        .lines()
        .find(|l| l.starts_with("- Run links: "))
        .unwrap_or_else(|| panic!("no links item in\n{summary}"));
    // A web URL stays a link to itself; anything else is text, never a link.
    assert!(
        links_item.contains(&format!("]({WORKFLOW_RUN_URL})")),
        "{links_item}"
    );
    assert!(links_item.contains("javascript:alert(1)"), "{links_item}");
    assert!(
        summary.contains("(&lt;b&gt;Deployed&lt;/b&gt; \\*now\\*)"),
        "{summary}"
    );
}

/// What the start of `track` saves, with `name` replaced by `value`.
fn state_with(name: &str, value: &str) -> Vec<(String, String)> {
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    [
        ("portRunId", "r_demo".to_string()),
        ("portRunSource", "inputs.port_context.runId".to_string()),
        ("portStartedAt", started),
    ]
    .into_iter()
    .map(|(n, v)| {
        let v = if n == name { value.to_string() } else { v };
        (n.to_string(), v)
    })
    .collect()
}

#[test]
fn a_run_id_the_start_of_track_cannot_have_saved_sends_nothing_and_sets_no_output() {
    let port = stand_in_with_run();
    let cases = [
        ("..", "is not a valid Port run id: '..' is not allowed"),
        (".", "is not a valid Port run id: '.' is not allowed"),
        ("a/b", "is not a valid Port run id: 'a/b' contains '/'"),
        ("r_demo/../../entities", "is not a valid Port run id"),
        (
            "r_demo\n::set-output name=runId::pwned",
            "is not a valid Port run id: 'r_demo\\n::set-output name=runId::pwned' contains '\\n'",
        ),
        (
            "r_demo\nr_other",
            "is not a valid Port run id: 'r_demo\\nr_other' contains '\\n'",
        ),
    ];
    for (value, why) in cases {
        let name = "portRunId";
        let state = state_with(name, value);
        for fail_on_error in ["false", "true"] {
            let out = Step::track_end(&port, "success", &state)
                .input("failOnError", fail_on_error)
                .run();
            let expected =
                format!("STATE_{name}, saved by the start of track for the end of the job, {why}");
            let annotations = assert_only_meant_commands(&out);
            assert_eq!(annotations.len(), 1, "{name}={value:?}:\n{}", out.stdout);
            assert!(
                annotations[0].contains(&expected) && annotations[0].contains("nothing was sent"),
                "{name}={value:?}: {annotations:?}"
            );
            // By default a problem of track's is a warning and the job goes on.
            let (code, command) = match fail_on_error {
                "true" => (1, "::error"),
                _ => (0, "::warning"),
            };
            assert_eq!(out.code, code, "{name}={value:?}:\n{}", out.stdout);
            assert!(
                out.stdout.lines().any(|l| l.starts_with(command)),
                "{}",
                out.stdout
            );
            assert_eq!(out.outputs, [], "{name}={value:?}");
            assert!(
                port.requests().is_empty(),
                "{name}={value:?} sent {:?}",
                port.requests().iter().map(|r| r.line()).collect::<Vec<_>>()
            );
            assert!(!out.summary.contains("pwned\n"), "{}", out.summary);
        }
    }
    // A run id that is a valid identifier, if not one of Port's, goes only to its own routes
    // (one path segment) and reaches the `runId` output as the value it is.
    let out = Step::track_end(&port, "success", &state_with("portRunId", "::set-output")).run();
    assert_only_meant_commands(&out);
    assert_eq!(out.output("runId"), Some("::set-output"));
    for r in port.requests() {
        assert!(
            r.path == "/v1/auth/access_token"
                || r.path.starts_with("/v1/actions/runs/::set-output"),
            "{}",
            r.line()
        );
    }
}

#[test]
fn a_bad_source_or_start_time_in_the_state_of_track_is_left_out_and_the_run_still_finished() {
    let future = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 400)
        .to_string();
    let cases = [
        (
            "portRunSource",
            "x\n::error::pwned",
            "holds a control character: 'x\\n::error::pwned'; the run is said to come from \
             the track step's start",
        ),
        (
            "portRunSource",
            "a\tb",
            "holds a control character: 'a\\tb'; the run is said to come from the track \
             step's start",
        ),
        (
            "portStartedAt",
            "1e99",
            "is not a number of seconds since 1970: '1e99'; the job's duration is not given",
        ),
        ("portStartedAt", &future, "is in the future"),
    ];
    for (name, value, why) in cases {
        let port = stand_in_with_run();
        let out = Step::track_end(&port, "success", &state_with(name, value))
            .input("failOnError", "true")
            .run();
        out.assert_success();
        let annotations = assert_only_meant_commands(&out);
        let expected =
            format!("STATE_{name}, saved by the start of track for the end of the job, {why}");
        assert_eq!(annotations.len(), 1, "{name}={value:?}:\n{}", out.stdout);
        assert!(
            annotations[0].contains(&expected),
            "{name}={value:?}: {annotations:?}"
        );
        assert!(
            out.stdout
                .lines()
                .any(|l| l.starts_with("::warning") && l.contains(&format!("STATE_{name}"))),
            "{}",
            out.stdout
        );
        assert_eq!(out.output("runId"), Some("r_demo"));
        let run = port.run("r_demo").unwrap();
        assert_eq!(run["status"], "SUCCESS", "{name}={value:?}");
        assert_eq!(run["statusLabel"], "Succeeded", "{name}={value:?}");
        // Without a start time the summary names no duration.
        let summary = run["summary"].as_str().unwrap();
        assert_eq!(
            summary.contains(" succeeded after "),
            name != "portStartedAt",
            "{summary}"
        );
        assert!(!out.summary.contains("pwned\n"), "{}", out.summary);
    }
}

#[test]
fn an_answer_of_millions_of_tiny_values_fails_naming_the_route_before_it_is_parsed() {
    let port = StandIn::start();
    // 16 MB, well under the 32 MiB read, but 5.5 million `[]`: parsed, they would take 72 bytes
    // each and more.
    let body = format!(
        "{{\"ok\": true, \"entities\": [{}[]]}}",
        "[],".repeat(5_500_000)
    );
    respond(&port, "POST /v1/entities/search", 200, &[], json!(body));
    let out = Step::new(&port)
        .event(None)
        .input("operation", "SEARCH")
        .input(
            "query",
            r#"{"combinator": "or", "rules": [{"property": "$blueprint", "operator": "=", "value": "service"}]}"#,
        )
        .run();
    out.assert_failure(
        "Port's answer to POST /v1/entities/search holds more than 5000000 JSON values (an object \
         counting three); port-action parses no more than that",
    );
    assert_eq!(out.output("entities"), None);
    // The same answer would come again: it is not asked for twice.
    let searches: Vec<String> = crate::support::lines(&port)
        .into_iter()
        .filter(|l| l.contains("/search"))
        .collect();
    assert_eq!(searches, ["POST /v1/entities/search"]);
}
