//! The `port-action` binary: runs one step and maps its result to the exit code.

use port_action::runner::Console;
use port_action::stop::{self, Stop};

/// What `--help` prints: the binary is started by the runner, with its inputs in `INPUT_*`.
const USAGE: &str = "\
port-action: connects GitHub workflows to Port (getport.io)

Usage:
  port-action               one step of the action: the operation named by INPUT_OPERATION
  port-action track         the start of the track action
  port-action-post track    the end of the track action (its post step)
  port-action --help        this text
  port-action --version     the version

The runner starts it with every input as an INPUT_<NAME> variable (INPUT_CLIENTID,
INPUT_CLIENTSECRET, INPUT_OPERATION, INPUT_BLUEPRINT, ...) and the GITHUB_* variables
(GITHUB_OUTPUT, GITHUB_STEP_SUMMARY, GITHUB_EVENT_PATH, ...). The inputs are documented in
action.yml and the README: https://github.com/getport-community/port-action
";

fn main() {
    // Asked by a person, not the runner (which passes no argument, or `track`): answer and
    // send nothing.
    match std::env::args_os()
        .nth(1)
        .as_deref()
        .and_then(|a| a.to_str())
    {
        Some("--help" | "-h") => {
            print!("{USAGE}");
            return;
        }
        Some("--version" | "-V") => {
            println!("port-action {}", env!("CARGO_PKG_VERSION"));
            return;
        }
        _ => {}
    }
    // A bug must still end as an annotation the runner shows, and its text (which may quote
    // outside data) as escaped command data, never as raw lines on stderr.
    std::panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        Console::new(false).error(
            Some("port-action crashed"),
            &format!("{message}{at}; please report this"),
        );
    }));
    let (env, bad_inputs) = port_action::env_from_os(std::env::vars_os());
    if !bad_inputs.is_empty() {
        Console::new(false).error(
            Some("port-action failed"),
            &format!(
                "the value of {} is not valid UTF-8; nothing was sent",
                bad_inputs.join(", ")
            ),
        );
        std::process::exit(1);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let stop = Stop::default();
    rt.spawn(stop::on_signals(stop.clone()));
    let entry = port_action::entry_from_args(std::env::args_os());
    let result = rt.block_on(port_action::ops::run_entry(&env, entry, stop));
    // The step is done, its outputs and summary written. A DNS lookup that never finished
    // still holds a thread of the blocking pool, which dropping the runtime would wait for
    // (20 s and more): the process ends now instead.
    rt.shutdown_timeout(SHUTDOWN_WAIT);
    if result.is_err() {
        std::process::exit(1);
    }
}

/// How long the runtime's leftover work (a hung DNS lookup) may hold the process once the
/// step is done.
const SHUTDOWN_WAIT: std::time::Duration = std::time::Duration::from_millis(100);
