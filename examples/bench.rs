//! The benchmark: the release binary of port-action against the embedded Port stand-in with a
//! fixed latency per request, for the operations real workflows run most. Prints requests
//! sent, wall time and peak memory per scenario, and writes the table to a Markdown file.
//! The image's static musl build is measured too when it exists (`.ci/container-test` builds it).
//! With `--official PATH/dist/index.js` it also runs `port-labs/port-github-action` under node
//! on the same scenarios, so both are measured in one run.
//!
//! ```text
//! cargo build --release --bin port-action
//! cargo run --release --example bench -- [--latency-ms 20] [--runs 5] [--official dist/index.js] [--out docs/benchmark.md]
//! ```
//!
//! Scenarios: UPSERT, PATCH_RUN (log line; final status), BULK_UPSERT of 1,000 entities through
//! the `entities` input and of 10,000 from an NDJSON file (`entitiesFile`), and a SEARCH of
//! 10,000 entities through the blueprint route's pages into `outputFile`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use port_stand_in::{Options, StandIn, CLIENT_ID, CLIENT_SECRET};

/// One measured run of one program on one scenario.
struct Measure {
    wall: Duration,
    requests: usize,
    peak_rss_kib: u64,
    ok: bool,
}

struct Scenario {
    name: &'static str,
    inputs: Vec<(&'static str, String)>,
    /// Files written to the workspace (`GITHUB_WORKSPACE`) before each run.
    files: Vec<(&'static str, String)>,
    /// Entities of blueprint `service` the stand-in holds before each run.
    seeded: usize,
}

impl Scenario {
    fn new(name: &'static str, inputs: Vec<(&'static str, String)>) -> Scenario {
        Scenario {
            name,
            inputs,
            files: Vec::new(),
            seeded: 0,
        }
    }
}

/// An ordinary entity of blueprint `service`.
fn entity(i: usize) -> serde_json::Value {
    serde_json::json!({
        "identifier": format!("svc-{i:05}"),
        "title": format!("Service {i}"),
        "blueprint": "service",
        "properties": {"language": "Rust", "tier": (i % 3).to_string()},
    })
}

fn scenarios() -> Vec<Scenario> {
    let entities: Vec<serde_json::Value> = (0..1000).map(entity).collect();
    let ndjson: String = (0..10_000).map(|i| format!("{}\n", entity(i))).collect();
    vec![
        Scenario::new(
            "UPSERT (one entity, tied to the run)",
            vec![
                ("operation", "UPSERT".into()),
                ("blueprint", "service".into()),
                ("identifier", "payments".into()),
                ("properties", r#"{"language":"Rust"}"#.into()),
                ("runId", "r_bench".into()),
            ],
        ),
        Scenario::new(
            "PATCH_RUN (log line)",
            vec![
                ("operation", "PATCH_RUN".into()),
                ("logMessage", "Deploying…".into()),
                ("runId", "r_bench".into()),
            ],
        ),
        Scenario::new(
            "PATCH_RUN (final status and link)",
            vec![
                ("operation", "PATCH_RUN".into()),
                ("status", "SUCCESS".into()),
                (
                    "link",
                    "https://github.com/acme/payments/actions/runs/1234".into(),
                ),
                ("runId", "r_bench".into()),
            ],
        ),
        Scenario::new(
            "BULK_UPSERT (1,000 entities)",
            vec![
                ("operation", "BULK_UPSERT".into()),
                ("entities", serde_json::to_string(&entities).unwrap()),
                ("runId", "r_bench".into()),
            ],
        ),
        Scenario {
            files: vec![("entities.ndjson", ndjson)],
            ..Scenario::new(
                "BULK_UPSERT (10,000 entities from an NDJSON file)",
                vec![
                    ("operation", "BULK_UPSERT".into()),
                    ("entitiesFile", "entities.ndjson".into()),
                    ("runId", "r_bench".into()),
                ],
            )
        },
        Scenario {
            seeded: 10_000,
            ..Scenario::new(
                "SEARCH (10,000 entities, through pages into outputFile)",
                vec![
                    ("operation", "SEARCH".into()),
                    ("blueprint", "service".into()),
                    (
                        "query",
                        r#"{"combinator":"and","rules":[{"property":"$blueprint","operator":"=","value":"service"}]}"#
                            .into(),
                    ),
                    ("outputFile", "found.json".into()),
                ],
            )
        },
    ]
}

fn main() -> anyhow::Result<()> {
    let all: Vec<String> = std::env::args().skip(1).collect();
    if all.first().map(String::as_str) == Some("--measure-child") {
        return measure_child(&all[1..]);
    }
    let mut args = all.into_iter();
    let mut latency_ms = 20u64;
    let mut runs = 5usize;
    let mut official: Option<PathBuf> = None;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = root.join("docs/benchmark.md");
    let mut binary = root.join("target/release/port-action");
    while let Some(a) = args.next() {
        let mut value = || {
            args.next()
                .ok_or_else(|| anyhow::anyhow!("{a} needs a value"))
        };
        match a.as_str() {
            "--latency-ms" => latency_ms = value()?.parse()?,
            "--runs" => runs = value()?.parse()?,
            "--official" => official = Some(value()?.into()),
            "--out" => out = value()?.into(),
            "--binary" => binary = value()?.into(),
            other => anyhow::bail!("unknown argument {other}"),
        }
    }
    anyhow::ensure!(
        binary.exists(),
        "{} is missing: run `cargo build --release --bin port-action` first",
        binary.display()
    );
    let latency = Duration::from_millis(latency_ms);
    let binary = binary.canonicalize()?;
    let mut programs: Vec<(String, Vec<String>)> =
        vec![("port-action".into(), vec![binary.display().to_string()])];
    // The image's static build, when `.ci/container-test` has made it.
    let musl = root.join("target/x86_64-unknown-linux-musl/release/port-action");
    if musl.exists() {
        programs.push((
            "port-action (static musl, as in the image)".into(),
            vec![musl.display().to_string()],
        ));
    }
    if let Some(js) = &official {
        programs.push((
            "port-github-action v1 (node)".into(),
            vec!["node".into(), js.display().to_string()],
        ));
    }

    let mut rows = Vec::new();
    for scenario in scenarios() {
        for (program, argv) in &programs {
            let mut measures = Vec::new();
            for _ in 0..runs {
                let port = StandIn::start_with(Options {
                    latency,
                    ..Options::default()
                });
                port.add_run("r_bench", "IN_PROGRESS", &[]);
                for i in 0..scenario.seeded {
                    let mut e = entity(i);
                    e.as_object_mut().map(|o| o.remove("blueprint"));
                    port.add_entity("service", e);
                }
                let m = measure(argv, &port, &scenario)?;
                measures.push(m);
            }
            measures.sort_by_key(|m| m.wall);
            let median = &measures[measures.len() / 2];
            let peak = measures.iter().map(|m| m.peak_rss_kib).max().unwrap_or(0);
            let ok = measures.iter().all(|m| m.ok);
            let row = format!(
                "| {} | {} | {} | {:.0} ms | {:.1} MiB | {} |",
                scenario.name,
                program,
                median.requests,
                median.wall.as_secs_f64() * 1000.0,
                peak as f64 / 1024.0,
                if ok { "ok" } else { "failed" }
            );
            println!("{row}");
            rows.push(row);
        }
    }

    let table = format!(
        "# Benchmark\n\n\
         The release binary (`{bin}`) against the embedded Port stand-in, {latency_ms} ms of \
         latency added to every request, median of {runs} runs (peak memory: the largest of \
         them), on {cores} cores. Requests count the token request. Produced by \
         `cargo build --release --bin port-action && cargo run --release --example bench`.\n\n\
         | scenario | program | requests | wall time | peak memory | result |\n\
         |---|---|---|---|---|---|\n{}\n",
        rows.join("\n"),
        cores = std::thread::available_parallelism().map_or(1, |n| n.get()),
        bin = binary
            .strip_prefix(root.canonicalize()?)
            .unwrap_or(&binary)
            .display(),
    );
    std::fs::write(&out, table)?;
    println!("\nwritten to {}", out.display());
    Ok(())
}

/// Runs one program on one scenario, as the runner would, and measures it.
fn measure(argv: &[String], port: &StandIn, scenario: &Scenario) -> anyhow::Result<Measure> {
    let dir = tempfile::tempdir()?;
    for (name, text) in &scenario.files {
        std::fs::write(dir.path().join(name), text)?;
    }
    let mut env: BTreeMap<String, String> = BTreeMap::new();
    env.insert("GITHUB_WORKSPACE".into(), dir.path().display().to_string());
    env.insert("INPUT_BASEURL".into(), port.url());
    env.insert("INPUT_CLIENTID".into(), CLIENT_ID.into());
    env.insert("INPUT_CLIENTSECRET".into(), CLIENT_SECRET.into());
    for (k, v) in &scenario.inputs {
        env.insert(format!("INPUT_{}", k.to_uppercase()), v.clone());
    }
    env.insert(
        "GITHUB_OUTPUT".into(),
        dir.path().join("output").display().to_string(),
    );
    env.insert(
        "GITHUB_STEP_SUMMARY".into(),
        dir.path().join("summary").display().to_string(),
    );
    env.insert("GITHUB_REPOSITORY".into(), "acme/payments".into());
    env.insert("GITHUB_RUN_ID".into(), "1234".into());
    env.insert("GITHUB_RUN_ATTEMPT".into(), "1".into());
    env.insert("PATH".into(), std::env::var("PATH").unwrap_or_default());
    port.clear_requests();
    let started = Instant::now();
    let (ok, rss) = spawn_and_wait(argv, &env, dir.path())?;
    let wall = started.elapsed();
    Ok(Measure {
        wall,
        requests: port.requests().len(),
        peak_rss_kib: rss,
        ok,
    })
}

/// Spawns with `env` only and returns whether it succeeded and its peak resident set size.
///
/// The peak comes from `wait4` in a small helper process (this program re-run with
/// `--measure-child`): Linux carries the parent's memory high-water mark into a spawned child's
/// `ru_maxrss` across `exec`, so measuring straight from this large process would report its
/// own size, not the child's.
fn spawn_and_wait(
    argv: &[String],
    env: &BTreeMap<String, String>,
    dir: &Path,
) -> anyhow::Result<(bool, u64)> {
    let out = std::process::Command::new(std::env::current_exe()?)
        .arg("--measure-child")
        .args(argv)
        .env_clear()
        .envs(env)
        .current_dir(dir)
        .stderr(std::process::Stdio::null())
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let last = text.lines().last().unwrap_or_default();
    let (ok, rss) = last
        .split_once(' ')
        .ok_or_else(|| anyhow::anyhow!("no measure from the helper: {text}"))?;
    Ok((ok == "ok", rss.parse()?))
}

/// The helper: runs `argv` with this process's environment, output discarded, and prints
/// `ok|failed <peak KiB>`.
fn measure_child(argv: &[String]) -> anyhow::Result<()> {
    let child = std::process::Command::new(&argv[0])
        .args(&argv[1..])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to overwrite.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our own child, not yet waited for; the pointers live across the call.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    anyhow::ensure!(
        r == pid,
        "wait4 failed: {}",
        std::io::Error::last_os_error()
    );
    // Reaped by wait4 above; dropping the handle does not wait again.
    drop(child);
    let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    println!("{} {}", if ok { "ok" } else { "failed" }, usage.ru_maxrss);
    Ok(())
}
