//! The process one step runs in, as the action's binary gives it: a panic ends as an annotation
//! the runner shows, an input that is not UTF-8 is refused by name, the runner's SIGINT or
//! SIGTERM stops the step, the runtime's leftover work cannot hold the process, and the result
//! becomes the exit code. The binary runs every step in it, and the demo its steps, so that they
//! behave alike.

use crate::ops::Entry;
use crate::runner::Console;
use crate::stop::{self, Stop};

/// Runs `entry` with the process's environment and returns the exit code: 0, or 1 when the
/// step failed (its error already printed as an annotation).
pub fn run(entry: Entry) -> i32 {
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
    let (env, bad_inputs) = crate::env_from_os(std::env::vars_os());
    if !bad_inputs.is_empty() {
        Console::new(false).error(
            Some("port-action failed"),
            &format!(
                "the value of {} is not valid UTF-8; nothing was sent",
                bad_inputs.join(", ")
            ),
        );
        return 1;
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            Console::new(false).error(
                Some("port-action failed"),
                &format!("cannot start the async runtime: {e}; nothing was sent"),
            );
            return 1;
        }
    };
    let stop = Stop::default();
    rt.spawn(stop::on_signals(stop.clone()));
    let result = rt.block_on(crate::ops::run_entry(&env, entry, stop));
    // The step is done, its outputs and summary written. A DNS lookup that never finished
    // still holds a thread of the blocking pool, which dropping the runtime would wait for
    // (20 s and more): the process ends now instead.
    rt.shutdown_timeout(SHUTDOWN_WAIT);
    match result {
        Ok(()) => 0,
        Err(_) => 1,
    }
}

/// How long the runtime's leftover work (a hung DNS lookup) may hold the process once the
/// step is done.
const SHUTDOWN_WAIT: std::time::Duration = std::time::Duration::from_millis(100);
