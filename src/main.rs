//! The `port-action` binary: runs one step and maps its result to the exit code.

use port_action::runner::Console;
use port_action::stop::{self, Stop};

fn main() {
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
    match rt.block_on(port_action::ops::run_entry(&env, entry, stop)) {
        Ok(()) => {}
        Err(_) => std::process::exit(1),
    }
}
