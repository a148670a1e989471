//! The `port-action` binary: runs one step and maps its result to the exit code.

/// What `--help` prints: the binary is started by the runner, with its inputs in `INPUT_*`.
const USAGE: &str = "\
port-action: connects GitHub workflows to Port (getport.io)

Usage:
  port-action               one step of the action: the operation named by INPUT_OPERATION
  port-action track         the start of the track action
  port-action-post track    the end of the track action (its post step), as the image names it
  port-action track --post  the same, as the native launcher starts it
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
    let entry = port_action::entry_from_args(std::env::args_os());
    std::process::exit(port_action::process::run(entry));
}
