//! Peak memory of the release binary while Port's answer to a SEARCH is read and parsed:
//! answers of millions of tiny values (hostile: `[]` is 3 bytes as text, 72 once parsed) of
//! 31 MB and of as many values as an answer may hold, and an answer of ordinary entities of
//! 31 MB. Prints the peak resident set size of each run, as GNU time (`/usr/bin/time -f %M`)
//! measures it, as a Markdown table.
//!
//! ```text
//! cargo build --release --bin port-action
//! cargo run --release --example answer_memory -- [path/to/port-action]
//! ```

use std::collections::BTreeMap;

use port_stand_in::{Fault, FaultKind, StandIn, CLIENT_ID, CLIENT_SECRET};
use serde_json::json;

/// About 31 MB, under the 32 MiB the client reads.
const ANSWER_BYTES: usize = 31_000_000;

/// `element`s, with their commas, up to about [`ANSWER_BYTES`].
fn hostile_answer(element: &str) -> String {
    let elements = (ANSWER_BYTES - 40) / (element.len() + 1);
    format!(
        "{{\"ok\": true, \"entities\": [{}{element}]}}",
        format!("{element},").repeat(elements)
    )
}

/// As many `element`s as an answer may hold (`values` counted in each, with its comma): the
/// most memory an answer of them can take once parsed.
fn within_the_limit(element: &str, values: usize) -> String {
    // The envelope (`{"ok": true, "entities": [`) counts 7.
    let elements = (port_action::port::MAX_ANSWER_VALUES - 7) / values - 1;
    format!(
        "{{\"ok\": true, \"entities\": [{}{element}]}}",
        format!("{element},").repeat(elements)
    )
}

fn ordinary_answer() -> String {
    let mut entities = Vec::new();
    let mut size = 0;
    let mut i = 0;
    while size < ANSWER_BYTES - 1000 {
        let e = json!({
            "identifier": format!("svc-{i:07}"),
            "title": format!("Service {i}"),
            "blueprint": "service",
            "properties": {"language": "Rust", "tier": (i % 3).to_string(), "replicas": i % 7},
            "relations": {"domain": "payments"},
        })
        .to_string();
        size += e.len() + 1;
        entities.push(e);
        i += 1;
    }
    format!("{{\"ok\": true, \"entities\": [{}]}}", entities.join(","))
}

/// Runs a SEARCH whose answer is `body` and returns whether it succeeded and its peak RSS.
fn measure(binary: &str, body: String) -> anyhow::Result<(bool, u64, String)> {
    let port = StandIn::start();
    port.push_fault(Fault {
        matches: "POST /v1/entities/search".into(),
        kind: FaultKind::Respond {
            status: 200,
            headers: vec![],
            body: serde_json::Value::String(body),
        },
    });
    let dir = tempfile::tempdir()?;
    let mut env: BTreeMap<&str, String> = BTreeMap::new();
    env.insert("INPUT_BASEURL", port.url());
    env.insert("INPUT_CLIENTID", CLIENT_ID.into());
    env.insert("INPUT_CLIENTSECRET", CLIENT_SECRET.into());
    env.insert("INPUT_OPERATION", "SEARCH".into());
    env.insert(
        "INPUT_QUERY",
        r#"{"combinator": "or", "rules": [{"property": "$blueprint", "operator": "=", "value": "service"}]}"#.into(),
    );
    env.insert("INPUT_OUTPUTFILE", "result.json".into());
    env.insert("GITHUB_WORKSPACE", dir.path().display().to_string());
    env.insert(
        "GITHUB_OUTPUT",
        dir.path().join("output").display().to_string(),
    );
    let out = std::process::Command::new("/usr/bin/time")
        .args(["-f", "%M", binary])
        .env_clear()
        .envs(&env)
        .output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    let peak = stderr
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no figure from /usr/bin/time: {stderr}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let error = stdout
        .lines()
        .find(|l| l.starts_with("::error"))
        .unwrap_or("")
        .to_string();
    Ok((out.status.success(), peak, error))
}

fn main() -> anyhow::Result<()> {
    let binary = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "target/release/port-action".to_string());
    println!("binary: {binary}");
    println!("| answer | bytes | result | peak RSS |");
    println!("|---|---|---|---|");
    for (name, body) in [
        ("`[]` elements", hostile_answer("[]")),
        ("`{\"a\":0}` elements", hostile_answer(r#"{"a":0}"#)),
        (
            "`[]` elements, as many as allowed",
            within_the_limit("[]", 2),
        ),
        (
            "`{}` elements, as many as allowed",
            within_the_limit("{}", 4),
        ),
        (
            "`{\"a\":0}` elements, as many as allowed",
            within_the_limit(r#"{"a":0}"#, 5),
        ),
        (
            "`{\"a\":0,\"b\":0}` elements, as many as allowed",
            within_the_limit(r#"{"a":0,"b":0}"#, 7),
        ),
        (
            "`[0,0,0,0]` elements, as many as allowed",
            within_the_limit("[0,0,0,0]", 5),
        ),
        ("ordinary entities", ordinary_answer()),
    ] {
        let bytes = body.len();
        let (ok, peak_kib, error) = measure(&binary, body)?;
        let result = if ok {
            "ok".to_string()
        } else {
            format!("failed: {error}")
        };
        println!(
            "| {name} | {:.1} MB | {result} | {:.0} MiB |",
            bytes as f64 / 1e6,
            peak_kib as f64 / 1024.0
        );
    }
    Ok(())
}
