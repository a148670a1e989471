//! The benchmark: the release binary of port-action against the embedded Port stand-in with a
//! fixed latency per request, for the operations real workflows run most. Prints requests
//! sent, wall time and peak memory per scenario, and writes the table to a Markdown file.
//! The image's static musl build is measured too when it exists (`.ci/container-test` builds it).
//! With `--official PATH/dist/index.js` it also runs `port-labs/port-github-action` under node
//! on the same scenarios, so both are measured in one run. With `--native` it runs the binary
//! through port-action/native's node launcher too: by `PORT_ACTION_BINARY`, and from a
//! release's layout (a temporary copy of `native/` with the binary and its `SHA256SUMS`, so
//! the SHA-256 check is paid).
//!
//! ```text
//! cargo build --release --bin port-action
//! cargo run --release --example bench -- [--latency-ms 20] [--runs 5] [--official dist/index.js] [--out docs/benchmark.md]
//! cargo run --release --example bench -- --native --official dist/index.js --scenario UPSERT --runs 21 \
//!     --section "port-action/native: the launcher's cost, and the official action"
//! ```
//!
//! `--scenario PREFIX` runs only the scenarios whose name starts with it. `--section TITLE`
//! writes the table, with each program's difference from the bare binary, as the section
//! `## TITLE` of the output file (replacing one of that title) instead of the main table; the
//! main table keeps the sections after it.
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

/// The name of `port-labs/port-github-action` in the table.
const OFFICIAL: &str = "port-github-action v1 (node)";

/// A program to measure: its name in the table, its command line, and what it adds to the
/// runner's environment.
struct Program {
    name: String,
    argv: Vec<String>,
    env: Vec<(String, String)>,
}

impl Program {
    fn new(name: &str, argv: Vec<String>) -> Program {
        Program {
            name: name.into(),
            argv,
            env: Vec::new(),
        }
    }
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
    let mut native = false;
    let mut only: Option<String> = None;
    let mut section: Option<String> = None;
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
            "--native" => native = true,
            "--scenario" => only = Some(value()?),
            "--section" => section = Some(value()?),
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
    let bin = binary.display().to_string();
    let mut programs = vec![Program::new("port-action", vec![bin.clone()])];
    // The image's static build, when `.ci/container-test` has made it.
    let musl = root.join("target/x86_64-unknown-linux-musl/release/port-action");
    if musl.exists() && section.is_none() {
        programs.push(Program::new(
            "port-action (static musl, as in the image)",
            vec![musl.display().to_string()],
        ));
    }
    // Kept until the end: the release layout the launcher runs from.
    let layout = tempfile::tempdir()?;
    if native {
        let node = "node".to_string();
        let main_js = root.join("native/main.js").display().to_string();
        let mut named = Program::new(
            "port-action/native (node launcher, PORT_ACTION_BINARY)",
            vec![node.clone(), main_js],
        );
        named.env.push(("PORT_ACTION_BINARY".into(), bin.clone()));
        programs.push(named);
        release_layout(&root.join("native"), layout.path(), &binary)?;
        programs.push(Program::new(
            "port-action/native (node launcher, release layout: SHA-256 checked)",
            vec![node, layout.path().join("main.js").display().to_string()],
        ));
    }
    if let Some(js) = &official {
        programs.push(Program::new(
            OFFICIAL,
            vec!["node".into(), js.display().to_string()],
        ));
    }

    let mut rows = Vec::new();
    for scenario in scenarios() {
        if only
            .as_ref()
            .is_some_and(|o| !scenario.name.starts_with(o.as_str()))
        {
            continue;
        }
        // The programs take turns, run after run, so that a change in the machine's load
        // falls on all of them alike.
        let mut measures: Vec<Vec<Measure>> = programs.iter().map(|_| Vec::new()).collect();
        for _ in 0..runs {
            for (program, measured) in programs.iter().zip(&mut measures) {
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
                measured.push(measure(program, &port, &scenario)?);
            }
        }
        let median_ms = |measured: &mut Vec<Measure>| {
            measured.sort_by_key(|m| m.wall);
            measured[measured.len() / 2].wall.as_secs_f64() * 1000.0
        };
        let medians: Vec<f64> = measures.iter_mut().map(median_ms).collect();
        let bare = medians[0];
        let official_ms = programs
            .iter()
            .position(|p| p.name == OFFICIAL)
            .map(|i| medians[i]);
        for ((program, measured), ms) in programs.iter().zip(&measures).zip(&medians) {
            let median = &measured[measured.len() / 2];
            let peak = measured.iter().map(|m| m.peak_rss_kib).max().unwrap_or(0);
            let ok = measured.iter().all(|m| m.ok);
            let versus = match (&section, official_ms) {
                (None, _) => String::new(),
                (Some(_), official) => {
                    let bare = if program.name == "port-action" {
                        "(the bare binary)".to_string()
                    } else {
                        format!("{:+.0} ms, {:.1}x", ms - bare, ms / bare)
                    };
                    let official = match official {
                        Some(o) if program.name != OFFICIAL => format!("{:.1}x", o / ms),
                        _ => String::new(),
                    };
                    format!(" | {bare} | {official}")
                }
            };
            let row = format!(
                "| {} | {} | {} | {:.0} ms | {:.1} MiB | {}{versus} |",
                scenario.name,
                program.name,
                median.requests,
                ms,
                peak as f64 / 1024.0,
                if ok { "ok" } else { "failed" }
            );
            println!("{row}");
            rows.push(row);
        }
    }

    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let bin_shown = binary
        .strip_prefix(root.canonicalize()?)
        .unwrap_or(&binary)
        .display()
        .to_string();
    let existing = std::fs::read_to_string(&out).unwrap_or_default();
    let text = match &section {
        None => {
            // The sections after the main table (written with --section) are kept.
            let kept = existing
                .find("\n## ")
                .map(|at| existing[at..].to_string())
                .unwrap_or_default();
            format!(
                "# Benchmark\n\n\
                 The release binary (`{bin_shown}`) against the embedded Port stand-in, \
                 {latency_ms} ms of latency added to every request, median of {runs} runs (peak \
                 memory: the largest of them), on {cores} cores. Requests count the token \
                 request. Produced by \
                 `cargo build --release --bin port-action && cargo run --release --example bench`.\n\n\
                 | scenario | program | requests | wall time | peak memory | result |\n\
                 |---|---|---|---|---|---|\n{}\n{kept}",
                rows.join("\n"),
            )
        }
        Some(title) => {
            // The command line, with the official action's path (outside the repository) as
            // its place in that project.
            let mut shown = Vec::new();
            let mut given = std::env::args().skip(1).peekable();
            while let Some(a) = given.next() {
                let value = given
                    .peek()
                    .filter(|_| a.starts_with("--") && a != "--native");
                let value = value.map(|v| {
                    if a == "--official" {
                        "port-github-action/dist/index.js".to_string()
                    } else if v.contains(' ') {
                        format!("\"{v}\"")
                    } else {
                        v.clone()
                    }
                });
                shown.push(a);
                if let Some(v) = value {
                    shown.push(v);
                    given.next();
                }
            }
            let body = format!(
                "## {title}\n\n\
                 Each program run from scratch as a step, with the runner's environment, against \
                 the stand-in with {latency_ms} ms of latency a request; the programs take turns, \
                 median of {runs} runs each, on {cores} cores. \"vs the bare binary\": the \
                 difference from `{bin_shown}` run alone, and the ratio of wall times; \"the \
                 official action takes\": its wall time over this program's. Peak memory is the \
                 largest of the process tree (node and the binary, for the launcher). Produced \
                 by `cargo run --release --example bench -- {}`.\n\n\
                 | scenario | program | requests | wall time | peak memory | result | vs the bare binary | the official action takes |\n\
                 |---|---|---|---|---|---|---|---|\n{}\n",
                shown.join(" "),
                rows.join("\n"),
            );
            replace_section(&existing, title, &body)
        }
    };
    std::fs::write(&out, text)?;
    println!("\nwritten to {}", out.display());
    Ok(())
}

/// `text` with the section `## title` (up to the next `## ` heading) replaced by `body`, or
/// `body` appended.
fn replace_section(text: &str, title: &str, body: &str) -> String {
    let heading = format!("\n## {title}\n");
    match text.find(&heading) {
        Some(start) => {
            let rest = &text[start + heading.len()..];
            let end = rest
                .find("\n## ")
                .map_or(text.len(), |at| start + heading.len() + at);
            format!("{}\n{body}{}", &text[..start], &text[end..])
        }
        None => format!("{}\n\n{body}", text.trim_end()),
    }
}

/// Lays out `dir` as a release commit's `native/`: the launcher's files from `native`, the
/// binary at `bin/<platform>-<arch>/port-action` and its line in `SHA256SUMS` (computed by
/// node, as the launcher computes it).
fn release_layout(native: &Path, dir: &Path, binary: &Path) -> anyhow::Result<()> {
    for rel in ["launcher.js", "main.js"] {
        std::fs::copy(native.join(rel), dir.join(rel))?;
    }
    let key = std::process::Command::new("node")
        .args(["-p", "process.platform + '-' + process.arch"])
        .output()?;
    let key = String::from_utf8(key.stdout)?.trim().to_string();
    let rel = format!("bin/{key}/port-action");
    std::fs::create_dir_all(dir.join(format!("bin/{key}")))?;
    std::fs::copy(binary, dir.join(&rel))?;
    let sum = std::process::Command::new("node")
        .args([
            "-p",
            "require('crypto').createHash('sha256')\
             .update(require('fs').readFileSync(process.argv[1])).digest('hex')",
        ])
        .arg(dir.join(&rel))
        .output()?;
    let sum = String::from_utf8(sum.stdout)?.trim().to_string();
    anyhow::ensure!(sum.len() == 64, "node computed no SHA-256 of {rel}");
    std::fs::write(dir.join("SHA256SUMS"), format!("{sum}  {rel}\n"))?;
    Ok(())
}

/// Runs one program on one scenario, as the runner would, and measures it.
fn measure(program: &Program, port: &StandIn, scenario: &Scenario) -> anyhow::Result<Measure> {
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
    // The runner creates the file-command files before the step (the toolkit refuses to
    // write to one that is missing).
    std::fs::write(dir.path().join("output"), "")?;
    std::fs::write(dir.path().join("summary"), "")?;
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
    env.extend(program.env.iter().cloned());
    port.clear_requests();
    let started = Instant::now();
    let (ok, rss) = spawn_and_wait(&program.argv, &env, dir.path())?;
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
