//! Runs port-action's main job locally, with no credentials, against the embedded Port
//! stand-in: the two steps of a Port-triggered workflow (UPSERT an entity tied to the run,
//! then PATCH_RUN with the job's status), from a sample `workflow_dispatch` event. Prints
//! each step's log, the requests Port received, the outputs and the job summary.
//!
//! `cargo run --example demo`

use std::collections::BTreeMap;

use port_action::runner::parse_github_output;
use port_stand_in::{StandIn, CLIENT_ID, CLIENT_SECRET};

const EVENT: &str = include_str!("../tests/data/workflow_dispatch.json");
const WORKFLOW_RUN_URL: &str = "https://github.com/acme/payments/actions/runs/1234";

fn main() -> anyhow::Result<()> {
    // The step runs in this process and reads proxies from its environment: the stand-in on
    // loopback is reached directly whatever proxy the machine sets.
    let no_proxy = std::env::var("NO_PROXY").unwrap_or_default();
    std::env::set_var("NO_PROXY", format!("{no_proxy},127.0.0.1"));
    let port = StandIn::start();
    // What Port did before the workflow started: create the run, and (through its GitHub
    // integration) put the workflow run's URL on it.
    port.add_run("r_demo", "IN_PROGRESS", &[WORKFLOW_RUN_URL]);

    let dir = tempfile::tempdir()?;
    let event = dir.path().join("event.json");
    std::fs::write(&event, EVENT)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;

    let steps: [(&str, &[(&str, &str)]); 2] = [
        (
            "Upsert the service, tied to the run",
            &[
                ("operation", "UPSERT"),
                ("blueprint", "service"),
                ("identifier", "payments"),
                ("title", "Payments"),
                (
                    "properties",
                    "{\n  \"language\": \"Rust\",\n  \"version\": \"1.2.3\"\n}",
                ),
                ("logMessage", "Service entity written"),
            ],
        ),
        (
            "Report the job's status (if: always())",
            &[("operation", "PATCH_RUN"), ("status", "success")],
        ),
    ];

    for (i, (title, inputs)) in steps.iter().enumerate() {
        let output = dir.path().join(format!("output-{i}"));
        let summary = dir.path().join(format!("summary-{i}"));
        let mut env: BTreeMap<String, String> = [
            ("GITHUB_SERVER_URL", "https://github.com"),
            ("GITHUB_REPOSITORY", "acme/payments"),
            ("GITHUB_RUN_ID", "1234"),
            ("GITHUB_RUN_ATTEMPT", "1"),
            ("GITHUB_JOB", "deploy"),
            ("GITHUB_EVENT_NAME", "workflow_dispatch"),
            ("INPUT_CLIENTID", CLIENT_ID),
            ("INPUT_CLIENTSECRET", CLIENT_SECRET),
            ("INPUT_JOBID", "31415926"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        env.insert("INPUT_BASEURL".into(), port.url());
        env.insert("GITHUB_EVENT_PATH".into(), event.display().to_string());
        env.insert("GITHUB_OUTPUT".into(), output.display().to_string());
        env.insert("GITHUB_STEP_SUMMARY".into(), summary.display().to_string());
        for (name, value) in inputs.iter() {
            env.insert(format!("INPUT_{}", name.to_uppercase()), value.to_string());
        }

        println!("\n=== Step {}: {title}", i + 1);
        println!("--- log");
        port.clear_requests();
        let result = runtime.block_on(port_action::run(&env));
        println!("--- requests Port received");
        for r in port.requests() {
            println!("{} → {}", r.line(), r.status);
            if let Some(body) = &r.body {
                let mut body = body.clone();
                if let Some(s) = body.get_mut("clientSecret") {
                    *s = "***".into();
                }
                println!("    {}", serde_json::to_string(&body)?);
            }
        }
        println!("--- outputs (as the runner reads $GITHUB_OUTPUT)");
        let text = std::fs::read_to_string(&output).unwrap_or_default();
        for (name, value) in parse_github_output(&text).map_err(anyhow::Error::msg)? {
            println!("{name} = {value}");
        }
        println!("--- job summary ($GITHUB_STEP_SUMMARY)");
        print!("{}", std::fs::read_to_string(&summary).unwrap_or_default());
        result?;
    }

    let run = port.run("r_demo").expect("the run exists");
    println!("\n=== The run in Port now");
    println!("{}", serde_json::to_string_pretty(&run)?);
    let violations = port.spec_violations();
    if violations.is_empty() {
        println!("\nEvery request validated against Port's OpenAPI spec.");
        Ok(())
    } else {
        anyhow::bail!("requests Port's spec rejects: {violations:#?}")
    }
}
