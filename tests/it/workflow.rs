//! The workflows users run. The one Port dispatches: an UPSERT tied to the run with no `runId`
//! input, then a final PATCH_RUN with `status: ${{ job.status }}`, from only the event file and
//! the inputs. And the reusable workflows this repository ships (report-run-status.yml,
//! upsert-entities.yml): their inputs, their jobs' runner and condition, and what their steps
//! send to Port, run here step by step as the runner would.

use std::collections::BTreeMap;
use std::path::Path;

use port_stand_in::{StandIn, CLIENT_ID, CLIENT_SECRET};
use serde_json::json;
use yaml_rust2::Yaml;

use crate::support::{
    assert_spec_clean, declared_inputs, lines, yaml_scalar, Outcome, Step, JOB_URL,
    WORKFLOW_RUN_URL,
};

#[test]
fn upsert_then_final_status_from_the_event_alone() {
    let port = StandIn::start();
    port.add_run("r_demo", "IN_PROGRESS", &[WORKFLOW_RUN_URL]);

    let upsert = Step::new(&port)
        .input("blueprint", "service")
        .input("identifier", "payments")
        .input("title", "Payments")
        .input(
            "properties",
            "{\n  \"language\": \"rust\",\n  \"replicas\": 3\n}\n",
        )
        .run();
    upsert.assert_success();
    assert_eq!(
        lines(&port),
        [
            "POST /v1/auth/access_token",
            "POST /v1/blueprints/service/entities?upsert=true&merge=true&run_id=r_demo",
        ]
    );
    let sent = &port.requests()[1];
    assert_eq!(
        sent.body,
        Some(json!({
            "identifier": "payments",
            "title": "Payments",
            "properties": {"language": "rust", "replicas": 3}
        }))
    );
    assert_eq!(upsert.output("identifier"), Some("payments"));
    assert_eq!(upsert.json_output("entity")["properties"]["replicas"], 3);
    assert_eq!(upsert.output("runId"), Some("r_demo"));
    assert!(upsert
        .stdout
        .contains("Port run r_demo (from inputs.port_context.runId)"));
    assert!(upsert.summary.contains("`payments`"), "{}", upsert.summary);
    port.clear_requests();

    let finish = Step::new(&port)
        .input("operation", "PATCH_RUN")
        .input("status", "success")
        .run();
    finish.assert_success();
    assert_eq!(
        lines(&port),
        [
            "POST /v1/auth/access_token",
            "GET /v1/actions/runs/r_demo?version=v2",
            "PATCH /v1/actions/runs/r_demo",
        ]
    );
    let patch = &port.requests()[2];
    assert_eq!(
        patch.body,
        Some(json!({
            "status": "SUCCESS",
            "statusLabel": "Succeeded",
            "summary": "GitHub Actions job `deploy` in acme/payments succeeded (run 1234, attempt 1)",
            "link": [WORKFLOW_RUN_URL, JOB_URL],
        }))
    );
    let run = port.run("r_demo").expect("run");
    assert_eq!(run["status"], "SUCCESS");
    assert_eq!(run["link"], json!([WORKFLOW_RUN_URL, JOB_URL]));
    assert_eq!(finish.output("runId"), Some("r_demo"));
    assert_eq!(
        finish.json_output("link"),
        json!([WORKFLOW_RUN_URL, JOB_URL])
    );
    assert_eq!(
        finish.output("runUrl"),
        Some(format!("{}/organization/run?runId=r_demo", port.url()).as_str())
    );
    assert!(finish.summary.contains("**SUCCESS**"), "{}", finish.summary);
    assert_spec_clean(&port);
}

#[test]
fn a_log_only_step_costs_one_request_after_the_token() {
    let port = StandIn::start();
    port.add_run("r_demo", "IN_PROGRESS", &[]);
    let out = Step::new(&port)
        .input("operation", "PATCH_RUN")
        .input("logMessage", "Building the image…")
        .input("icon", "Rust")
        .run();
    out.assert_success();
    assert_eq!(
        lines(&port),
        [
            "POST /v1/auth/access_token",
            "POST /v1/actions/runs/r_demo/logs"
        ]
    );
    assert_eq!(port.logs("r_demo")[0]["message"], "Building the image…");
    assert_eq!(out.output("logMessage"), Some("Building the image…"));
    assert_eq!(port.run("r_demo").unwrap()["status"], "IN_PROGRESS");
    assert_spec_clean(&port);
}

#[test]
fn outputs_survive_the_runner_parser_with_newlines_and_delimiter_lookalikes() {
    let port = StandIn::start();
    port.add_run("r_demo", "IN_PROGRESS", &[]);
    let message = "line one\nEOF\nghadelimiter_x\n<<not a heredoc";
    let out = Step::new(&port)
        .input("operation", "PATCH_RUN")
        .input("logMessage", message)
        .run();
    out.assert_success();
    assert_eq!(out.output("logMessage"), Some(message));
    assert!(out.outputs_raw.contains("logMessage<<ghadelimiter_"));
}

#[test]
fn run_id_input_wins_over_the_event() {
    let port = StandIn::start();
    port.add_run("r_other", "IN_PROGRESS", &[]);
    let out = Step::new(&port)
        .input("operation", "PATCH_RUN")
        .input("runId", "r_other")
        .input("logMessage", "hello")
        .run();
    out.assert_success();
    assert!(out.stdout.contains("Port run r_other (from input 'runId')"));
    assert_eq!(port.logs("r_other").len(), 1);
    assert_eq!(out.output("runId"), Some("r_other"));
}

#[test]
fn a_step_outside_a_port_run_writes_no_run_id() {
    let port = StandIn::start();
    let out = Step::new(&port)
        .event(Some(crate::support::data("push.json")))
        .input("blueprint", "service")
        .input("identifier", "payments")
        .run();
    out.assert_success();
    assert_eq!(
        lines(&port)[1],
        "POST /v1/blueprints/service/entities?upsert=true&merge=true"
    );
    assert_eq!(out.output("runId"), None);
}

#[test]
fn the_runner_environment_is_enough_without_a_job_id() {
    let port = StandIn::start();
    port.add_run("r_demo", "IN_PROGRESS", &[]);
    let out = Step::new(&port)
        .input("operation", "PATCH_RUN")
        .input("jobId", "")
        .input("status", "FAILURE")
        .input("summary", "Deploy failed")
        .run();
    out.assert_success();
    let run = port.run("r_demo").unwrap();
    assert_eq!(run["status"], "FAILURE");
    assert_eq!(run["summary"], "Deploy failed");
    assert_eq!(
        run["link"],
        json!(["https://github.com/acme/payments/actions/runs/1234/attempts/1"])
    );
}

#[test]
fn run_inputs_without_a_run_are_a_warning_not_silence() {
    let port = StandIn::start();
    let out = Step::new(&port)
        .event(Some(crate::support::data("push.json")))
        .input("blueprint", "service")
        .input("identifier", "payments")
        .input("logMessage", "written")
        .input("status", "success")
        .run();
    out.assert_success();
    assert!(
        out.stdout.lines().any(|l| l
            == "::warning title=No Port run::'logMessage', 'status' given, but this step has no \
                Port run (no 'runId' input, and none in the event payload), so nothing was sent \
                to a run"),
        "{}",
        out.stdout
    );
    assert_eq!(lines(&port).len(), 2, "token and upsert only");
}

// ---- The reusable workflows ----

fn reusable(name: &str) -> Yaml {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(".github/workflows")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
    yaml_rust2::YamlLoader::load_from_str(&text)
        .expect("a workflow is YAML")
        .remove(0)
}

/// The workflow's only job.
fn only_job(workflow: &Yaml) -> &Yaml {
    let jobs = workflow["jobs"].as_hash().expect("jobs");
    assert_eq!(jobs.len(), 1, "one job");
    jobs.values().next().unwrap()
}

fn step<'a>(job: &'a Yaml, id: &str) -> &'a Yaml {
    job["steps"]
        .as_vec()
        .expect("steps")
        .iter()
        .find(|s| s["id"].as_str() == Some(id))
        .unwrap_or_else(|| panic!("no step {id}"))
}

/// `on.workflow_call.inputs`: name -> (type, default as the runner passes it, required).
fn call_inputs(workflow: &Yaml) -> BTreeMap<String, (String, String, bool)> {
    workflow["on"]["workflow_call"]["inputs"]
        .as_hash()
        .expect("inputs")
        .iter()
        .map(|(name, spec)| {
            (
                name.as_str().unwrap().to_string(),
                (
                    spec["type"].as_str().expect("type").to_string(),
                    yaml_scalar(&spec["default"]).unwrap_or_default(),
                    spec["required"].as_bool().unwrap_or(false),
                ),
            )
        })
        .collect()
}

/// The value of a `${{ … }}` template, for the few contexts a reusable workflow's steps read
/// here: `inputs.X`, `secrets.X`, `steps.ID.outputs.X`. Anything else fails the test: a
/// `with:` that needs more logic than this belongs in a step's script, where it is tested.
fn evaluate(
    template: &str,
    inputs: &BTreeMap<String, String>,
    steps: &BTreeMap<String, Vec<(String, String)>>,
) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("${{") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find("}}").expect("closed expression") + start;
        let expression = rest[start + 3..end].trim();
        let value = if let Some(name) = expression.strip_prefix("inputs.") {
            inputs
                .get(name)
                .unwrap_or_else(|| panic!("no input {name}"))
                .clone()
        } else if let Some(name) = expression.strip_prefix("secrets.") {
            match name {
                "PORT_CLIENT_ID" => CLIENT_ID.to_string(),
                "PORT_CLIENT_SECRET" => CLIENT_SECRET.to_string(),
                _ => panic!("no secret {name}"),
            }
        } else if let Some(path) = expression.strip_prefix("steps.") {
            let (id, name) = path.split_once(".outputs.").expect("steps.ID.outputs.NAME");
            let outputs = steps.get(id).unwrap_or_else(|| panic!("no step {id} ran"));
            let found = outputs.iter().rev().find(|(n, _)| n == name);
            found.map(|(_, v)| v.clone()).unwrap_or_default()
        } else {
            panic!("expression not evaluated here: {expression}")
        };
        out.push_str(&value);
        rest = &rest[end + 2..];
    }
    out.push_str(rest);
    out
}

/// The workflow's inputs as the runner passes them: the defaults, then the caller's `with:`.
fn given_inputs(workflow: &Yaml, with: &[(&str, &str)]) -> BTreeMap<String, String> {
    let declared = call_inputs(workflow);
    let mut inputs: BTreeMap<String, String> = declared
        .iter()
        .map(|(name, (_, default, _))| (name.clone(), default.clone()))
        .collect();
    for (name, value) in with {
        assert!(declared.contains_key(*name), "no input {name}");
        inputs.insert(name.to_string(), value.to_string());
    }
    inputs
}

/// Runs a `run:` step with bash as the runner does (`bash -e`), its `env:` evaluated; returns
/// its outputs and what it printed.
fn run_script(
    step: &Yaml,
    inputs: &BTreeMap<String, String>,
) -> (bool, Vec<(String, String)>, String) {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("step.sh");
    std::fs::write(&script, step["run"].as_str().expect("run")).unwrap();
    let output_file = dir.path().join("output");
    std::fs::write(&output_file, "").unwrap();
    let mut command = std::process::Command::new("bash");
    command
        .args(["--noprofile", "--norc", "-e"])
        .arg(&script)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("GITHUB_OUTPUT", &output_file);
    for (name, value) in step["env"].as_hash().into_iter().flatten() {
        let value = evaluate(value.as_str().unwrap(), inputs, &BTreeMap::new());
        command.env(name.as_str().unwrap(), value);
    }
    let out = command.output().expect("bash runs");
    let written = std::fs::read_to_string(&output_file).unwrap();
    let outputs = port_action::runner::parse_github_output(&written).expect("outputs file");
    (
        out.status.success(),
        outputs,
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// Runs the `port-action` step of a reusable workflow's job, its `with:` evaluated, as the
/// runner would: the action's other inputs at their defaults.
fn run_action(
    port: &StandIn,
    job: &Yaml,
    inputs: &BTreeMap<String, String>,
    steps: &BTreeMap<String, Vec<(String, String)>>,
    workspace: Option<&Path>,
) -> Outcome {
    let action = step(job, "port");
    let uses = action["uses"].as_str().unwrap();
    assert_eq!(
        uses, "getport-community/port-action@v1",
        "main runs the major tag"
    );
    let mut step = Step::new(port);
    if let Some(dir) = workspace {
        step = step.workspace(dir);
    }
    for (name, value) in action["with"].as_hash().expect("with") {
        let name = name.as_str().unwrap();
        let value = yaml_scalar(value).expect("a scalar");
        step = step.input(name, &evaluate(&value, inputs, steps));
    }
    step.run()
}

/// The `with:` of the port-action step, as written.
fn with_of(job: &Yaml) -> BTreeMap<String, String> {
    step(job, "port")["with"]
        .as_hash()
        .expect("with")
        .iter()
        .map(|(k, v)| (k.as_str().unwrap().to_string(), yaml_scalar(v).unwrap()))
        .collect()
}

const RUNS_ON: &str = "${{ (startsWith(inputs.runs-on, '[') || startsWith(inputs.runs-on, '{')) \
                       && fromJSON(inputs.runs-on) || inputs.runs-on || 'ubuntu-latest' }}";

#[test]
fn both_reusable_workflows_serve_any_region_any_runner_and_pass_what_they_take() {
    let action_inputs = declared_inputs();
    for name in ["report-run-status.yml", "upsert-entities.yml"] {
        let workflow = reusable(name);
        let inputs = call_inputs(&workflow);
        let string = |default: &str| ("string".to_string(), default.to_string(), false);
        assert_eq!(inputs["baseUrl"], string(""), "{name}");
        assert_eq!(inputs["region"], string(""), "{name}");
        assert_eq!(inputs["runs-on"], string("ubuntu-latest"), "{name}");

        let job = only_job(&workflow);
        // A label, or JSON for several labels or a group: `runs-on` cannot take a JSON string.
        assert_eq!(job["runs-on"].as_str(), Some(RUNS_ON), "{name}");

        // Every `with:` is an input of the action; the ones named alike pass straight through.
        let with = with_of(job);
        for (key, value) in &with {
            assert!(
                action_inputs.contains_key(key),
                "{name}: {key} is not an input of the action"
            );
            if inputs.contains_key(key) {
                assert_eq!(value, &format!("${{{{ inputs.{key} }}}}"), "{name}: {key}");
            }
        }
        for key in ["baseUrl", "region"] {
            assert!(with.contains_key(key), "{name}: {key} is not passed");
        }
    }
    let upsert = reusable("upsert-entities.yml");
    assert_eq!(
        call_inputs(&upsert)["timeout"],
        ("string".to_string(), "5m".to_string(), false)
    );
    assert_eq!(
        with_of(only_job(&upsert))["timeout"],
        "${{ inputs.timeout }}"
    );
    // The job outlives the longest `timeout` its description allows (85m).
    assert_eq!(only_job(&upsert)["timeout-minutes"].as_i64(), Some(90));
}

#[test]
fn the_inner_jobs_run_for_a_caller_that_runs_them_and_the_report_even_when_cancelled() {
    // A job without `if` is `success()`: GitHub does not start it, or cancels it, when the
    // caller's run is cancelled. The report must run then, to end the run in Port.
    let report = reusable("report-run-status.yml");
    assert_eq!(only_job(&report)["if"].as_str(), Some("always()"));
    // The upsert obeys a caller's `if: always()` or `failure()`, but stops with the run.
    let upsert = reusable("upsert-entities.yml");
    assert_eq!(
        only_job(&upsert)["if"].as_str(),
        Some("${{ !cancelled() }}")
    );
}

/// `report-run-status.yml` run against the stand-in: its summing step, then port-action with
/// what the step found. Returns the run as Port keeps it.
fn report(results: serde_json::Value, with: &[(&str, &str)]) -> serde_json::Value {
    let port = StandIn::start();
    port.add_run("r_demo", "IN_PROGRESS", &[WORKFLOW_RUN_URL]);
    let workflow = reusable("report-run-status.yml");
    let results = results.to_string();
    let mut given = vec![("results", results.as_str()), ("baseUrl", "")];
    given.extend_from_slice(with);
    let mut inputs = given_inputs(&workflow, &given);
    inputs.insert("baseUrl".into(), port.url());
    let job = only_job(&workflow);
    let (ok, outputs, printed) = run_script(step(job, "result"), &inputs);
    assert!(ok, "{printed}");
    let steps = BTreeMap::from([("result".to_string(), outputs)]);
    run_action(&port, job, &inputs, &steps, None).assert_success();
    assert_spec_clean(&port);
    port.run("r_demo").expect("the run")
}

fn needs(results: &[(&str, &str)]) -> serde_json::Value {
    results
        .iter()
        .map(|(job, result)| (job.to_string(), json!({"result": result, "outputs": {}})))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

#[test]
fn the_report_ends_the_run_with_the_outcome_and_its_label() {
    let deployed = [("status_label", "Deployed")];
    for (results, with, status, label) in [
        (
            needs(&[("build", "success"), ("deploy", "success")]),
            &deployed[..],
            "SUCCESS",
            "Deployed",
        ),
        (
            needs(&[("build", "success"), ("deploy", "skipped")]),
            &[][..],
            "SUCCESS",
            "Succeeded",
        ),
        // status_label names a success: a failed or cancelled run says so.
        (
            needs(&[("build", "success"), ("deploy", "failure")]),
            &deployed[..],
            "FAILURE",
            "Failed",
        ),
        (
            needs(&[("build", "failure"), ("deploy", "cancelled")]),
            &deployed[..],
            "FAILURE",
            "Cancelled",
        ),
    ] {
        let run = report(results.clone(), with);
        assert_eq!(run["status"], status, "{results}");
        assert_eq!(run["statusLabel"], label, "{results}");
    }
}

#[test]
fn a_status_label_on_several_lines_stays_one_label() {
    let run = report(
        needs(&[("deploy", "success")]),
        &[("status_label", "Deployed\nstatus=FAILURE")],
    );
    assert_eq!(run["status"], "SUCCESS");
    assert_eq!(run["statusLabel"], "Deployed status=FAILURE");
}

#[test]
fn the_upsert_workflow_sends_the_file_to_the_base_url_it_is_given() {
    let port = StandIn::start();
    port.add_run("r_demo", "IN_PROGRESS", &[]);
    let workspace = tempfile::tempdir().unwrap();
    std::fs::create_dir(workspace.path().join("port")).unwrap();
    std::fs::write(
        workspace.path().join("port/entities.ndjson"),
        "{\"identifier\": \"payments\", \"blueprint\": \"service\"}\n\
         {\"identifier\": \"ledger\", \"blueprint\": \"service\"}\n",
    )
    .unwrap();
    let workflow = reusable("upsert-entities.yml");
    let url = port.url();
    let inputs = given_inputs(
        &workflow,
        &[
            ("file", "port/entities.ndjson"),
            ("baseUrl", &url),
            ("timeout", "1m30s"),
        ],
    );
    let out = run_action(
        &port,
        only_job(&workflow),
        &inputs,
        &BTreeMap::new(),
        Some(workspace.path()),
    );
    out.assert_success();
    assert_eq!(
        out.json_output("identifiers"),
        json!(["payments", "ledger"])
    );
    assert_eq!(out.json_output("failed"), json!([]));
    assert!(
        lines(&port)
            .iter()
            .any(|l| l.contains("/v1/blueprints/service/entities/bulk")),
        "{:?}",
        lines(&port)
    );
    assert_spec_clean(&port);
}

#[test]
fn a_list_too_long_for_an_output_reaches_the_caller_as_an_artifact() {
    let port = StandIn::start();
    let workspace = tempfile::tempdir().unwrap();
    // 5,000 entities without a blueprint: each fails before anything is sent, and the failed
    // list is far over the 256 KiB an output carries.
    let mut text = String::new();
    for i in 0..5_000 {
        text.push_str(&format!("{{\"identifier\": \"svc-{i:05}\"}}\n"));
    }
    std::fs::write(workspace.path().join("entities.ndjson"), text).unwrap();
    let workflow = reusable("upsert-entities.yml");
    let url = port.url();
    let inputs = given_inputs(&workflow, &[("file", "entities.ndjson"), ("baseUrl", &url)]);
    assert_eq!(inputs["lists_artifact"], "port-entities-lists");
    let job = only_job(&workflow);
    let out = run_action(
        &port,
        job,
        &inputs,
        &BTreeMap::new(),
        Some(workspace.path()),
    );
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert_eq!(out.output("failed"), None, "left out of the output");
    let failed_file = out.output("failedFile").expect("failedFile").to_string();
    let steps = BTreeMap::from([("port".to_string(), out.outputs.clone())]);

    // The upload step runs after a failed upsert, and uploads exactly the files written.
    let upload = job["steps"]
        .as_vec()
        .unwrap()
        .iter()
        .find(|s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("actions/upload-artifact@"))
        })
        .expect("an upload step");
    let condition = upload["if"].as_str().unwrap();
    assert!(condition.contains("always()"), "{condition}");
    for output in ["identifiersFile", "failedFile"] {
        assert!(
            condition.contains(&format!("steps.port.outputs.{output} != ''")),
            "{condition}"
        );
    }
    let with = &upload["with"];
    assert_eq!(
        evaluate(with["name"].as_str().unwrap(), &inputs, &steps),
        "port-entities-lists"
    );
    // `.port-action` is a hidden folder, which upload-artifact leaves out unless told.
    assert_eq!(with["include-hidden-files"].as_bool(), Some(true));
    assert_eq!(with["if-no-files-found"].as_str(), Some("error"));
    let paths: Vec<String> = evaluate(with["path"].as_str().unwrap(), &inputs, &steps)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    assert_eq!(paths, [failed_file.as_str()]);
    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(workspace.path().join(&failed_file)).unwrap())
            .unwrap();
    assert_eq!(written.as_array().unwrap().len(), 5_000);

    // The job and the workflow name the file.
    assert_eq!(
        job["outputs"]["failed_file"].as_str(),
        Some("${{ steps.port.outputs.failedFile }}")
    );
    assert_eq!(
        workflow["on"]["workflow_call"]["outputs"]["failed_file"]["value"].as_str(),
        Some("${{ jobs.upsert.outputs.failed_file }}")
    );
    assert_eq!(
        workflow["on"]["workflow_call"]["outputs"]["identifiers_file"]["value"].as_str(),
        Some("${{ jobs.upsert.outputs.identifiers_file }}")
    );
}
