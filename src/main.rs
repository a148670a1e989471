//! The `port-action` binary: runs one step and maps its result to the exit code.

use port_action::runner::Console;
use port_action::stop::{self, Stop};

fn main() {
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
    match rt.block_on(port_action::run_until_stopped(&env, stop)) {
        Ok(()) => {}
        Err(_) => std::process::exit(1),
    }
}
