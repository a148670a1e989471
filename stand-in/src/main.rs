//! The stand-in as a process, for demos, benchmarks and container tests: serves until SIGTERM,
//! ctrl-c, or (with `--until-stdin-closes`) the end of stdin; prints its URL first, logs each
//! request to stderr and, with `--requests-log`, appends each as a JSON line to a file.

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::net::IpAddr;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use port_stand_in::{Options, Recorded, StandIn};

const USAGE: &str = "\
usage: port-stand-in [--host ADDR] [--port N] [--latency-ms N] [--token-ttl-secs N]
                     [--run RUN_ID[=EXTERNAL_RUN_ID]]... [--entities BLUEPRINT=N]...
                     [--requests-log FILE]
                     [--strict-entity-keys]
                     [--until-stdin-closes]

Serves a stand-in for the Port API on http://ADDR:N (127.0.0.1, port 0 = any free port).
Client id / secret: stand-in-client-id / stand-in-client-secret.
--run seeds an IN_PROGRESS run of action demo_action (repeatable), with the externalRunId
given after `=` (as Port's GitHub integration sets gh_<owner id>_<repository id>_<run id>).
--entities seeds N entities in BLUEPRINT (repeatable): identifiers BLUEPRINT-0 to BLUEPRINT-<N-1>,
each with a title and properties `n` (its number) and `text`, for searches and benchmarks.";

struct Args {
    options: Options,
    runs: Vec<String>,
    entities: Vec<(String, u64)>,
    requests_log: Option<String>,
    until_stdin_closes: bool,
}

fn parse(mut argv: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut args = Args {
        options: Options::default(),
        runs: Vec::new(),
        entities: Vec::new(),
        requests_log: None,
        until_stdin_closes: false,
    };
    while let Some(flag) = argv.next() {
        let (name, inline) = match flag.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
            _ => (flag.clone(), None),
        };
        let mut value = |what: &str| {
            inline
                .clone()
                .or_else(|| argv.next())
                .ok_or_else(|| format!("{name} needs {what}"))
        };
        match name.as_str() {
            "--host" => {
                args.options.host = value("an address")?
                    .parse::<IpAddr>()
                    .map_err(|e| format!("--host: {e}"))?
            }
            "--port" => {
                args.options.port = value("a port")?
                    .parse()
                    .map_err(|e| format!("--port: {e}"))?
            }
            "--latency-ms" => {
                let ms: u64 = value("milliseconds")?
                    .parse()
                    .map_err(|e| format!("--latency-ms: {e}"))?;
                args.options.latency = Duration::from_millis(ms);
            }
            "--token-ttl-secs" => {
                args.options.token_ttl_secs = value("seconds")?
                    .parse()
                    .map_err(|e| format!("--token-ttl-secs: {e}"))?
            }
            "--run" => args.runs.push(value("a run id")?),
            "--entities" => {
                let v = value("BLUEPRINT=N")?;
                let (bp, n) = v
                    .split_once('=')
                    .filter(|(bp, _)| !bp.is_empty())
                    .ok_or_else(|| format!("--entities: {v:?} is not BLUEPRINT=N"))?;
                let n = n.parse().map_err(|e| format!("--entities: {n:?}: {e}"))?;
                args.entities.push((bp.to_string(), n));
            }
            "--requests-log" => args.requests_log = Some(value("a file")?),
            "--strict-entity-keys" => args.options.strict_entity_keys = true,
            "--until-stdin-closes" => args.until_stdin_closes = true,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(args)
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    if argv.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let mut args = match parse(argv.into_iter()) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("port-stand-in: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };

    let log_file = match &args.requests_log {
        Some(path) => match OpenOptions::new().create(true).append(true).open(path) {
            Ok(f) => Some(Mutex::new(f)),
            Err(e) => {
                eprintln!("port-stand-in: cannot open {path}: {e}");
                return ExitCode::FAILURE;
            }
        },
        None => None,
    };
    args.options.on_request = Some(Arc::new(move |r: &Recorded| {
        eprintln!("{} -> {}", r.line(), r.status);
        for e in &r.spec_errors {
            eprintln!("  spec: {e}");
        }
        if let Some(file) = &log_file {
            let mut f = file.lock().unwrap_or_else(|e| e.into_inner());
            let _ = writeln!(f, "{}", r.to_json());
            let _ = f.flush();
        }
    }));

    let stand_in = StandIn::start_with(args.options.clone());
    for run in &args.runs {
        match run.split_once('=') {
            Some((id, external)) => stand_in.add_run_json(serde_json::json!({
                "id": id,
                "status": "IN_PROGRESS",
                "link": [],
                "externalRunId": external,
            })),
            None => stand_in.add_run(run, "IN_PROGRESS", &[]),
        }
    }
    for (blueprint, n) in &args.entities {
        for i in 0..*n {
            stand_in.add_entity(
                blueprint,
                serde_json::json!({
                    "identifier": format!("{blueprint}-{i}"),
                    "title": format!("Entity {i} of {blueprint}"),
                    "properties": {"n": i, "text": "seeded by port-stand-in --entities"},
                }),
            );
        }
    }
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "listening on {}", stand_in.url());
        let _ = out.flush();
    }

    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("port-stand-in: {e}");
            return ExitCode::FAILURE;
        }
    };
    let until_stdin_closes = args.until_stdin_closes;
    runtime.block_on(async move {
        let (stdin_closed_tx, stdin_closed) = tokio::sync::oneshot::channel::<()>();
        if until_stdin_closes {
            std::thread::spawn(move || {
                let mut sink = [0u8; 4096];
                let mut stdin = std::io::stdin();
                while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
                let _ = stdin_closed_tx.send(());
            });
        }
        let stdin_closed = async move {
            if until_stdin_closes {
                let _ = stdin_closed.await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = sigterm() => {}
            _ = stdin_closed => {}
        }
    });
    drop(stand_in);
    ExitCode::SUCCESS
}

#[cfg(unix)]
async fn sigterm() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut s) => {
            s.recv().await;
        }
        Err(_) => std::future::pending::<()>().await,
    }
}

#[cfg(not(unix))]
async fn sigterm() {
    std::future::pending::<()>().await;
}
