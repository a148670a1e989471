//! Stopping when the runner says so.
//!
//! When a workflow is cancelled, the runner signals the step (SIGINT, then SIGTERM; on Windows
//! Ctrl-C, then Ctrl-Break). As PID 1 in its container the process gets no default handling of
//! either, so without this it would go on writing to Port until its own timeout. A [`Stop`] is shared by the step and
//! the Port client: once it is set, no new request is sent, requests in flight are dropped, and
//! the step writes the outputs and summary of what it did and exits.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use tokio::sync::Notify;

/// Set once, when the step is asked to stop.
#[derive(Debug, Clone, Default)]
pub struct Stop(Arc<Inner>);

#[derive(Debug, Default)]
struct Inner {
    set: AtomicBool,
    why: OnceLock<String>,
    notify: Notify,
}

impl Stop {
    /// Asks the step to stop; `why` names the cause (`SIGTERM`). Only the first call counts.
    pub fn trigger(&self, why: &str) {
        let _ = self.0.why.set(why.to_string());
        self.0.set.store(true, Ordering::SeqCst);
        self.0.notify.notify_waiters();
    }

    /// What asked the step to stop, once something has.
    pub fn reason(&self) -> Option<&str> {
        if self.0.set.load(Ordering::SeqCst) {
            self.0.why.get().map(String::as_str)
        } else {
            None
        }
    }

    /// Resolves when the step is asked to stop (at once if it already was).
    pub async fn stopped(&self) {
        loop {
            let notified = self.0.notify.notified();
            if self.0.set.load(Ordering::SeqCst) {
                return;
            }
            notified.await;
        }
    }
}

/// Triggers `stop` on the first SIGINT or SIGTERM. Runs until then; spawn it.
#[cfg(unix)]
pub async fn on_signals(stop: Stop) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return;
    };
    let why = tokio::select! {
        _ = int.recv() => "SIGINT",
        _ = term.recv() => "SIGTERM",
    };
    stop.trigger(why);
}

/// Triggers `stop` on the first Ctrl-C or Ctrl-Break: what the runner sends a step's console
/// on Windows when the job is cancelled, in that order. Runs until then; spawn it.
#[cfg(windows)]
pub async fn on_signals(stop: Stop) {
    use tokio::signal::windows::{ctrl_break, ctrl_c};
    let (Ok(mut int), Ok(mut brk)) = (ctrl_c(), ctrl_break()) else {
        return;
    };
    let why = tokio::select! {
        _ = int.recv() => "Ctrl-C",
        _ = brk.recv() => "Ctrl-Break",
    };
    stop.trigger(why);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_cause_is_kept() {
        let stop = Stop::default();
        assert_eq!(stop.reason(), None);
        stop.trigger("SIGINT");
        stop.trigger("SIGTERM");
        assert_eq!(stop.reason(), Some("SIGINT"));
    }

    #[test]
    fn waiting_ends_when_triggered_before_or_after() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let stop = Stop::default();
            let waiter = {
                let stop = stop.clone();
                tokio::spawn(async move { stop.stopped().await })
            };
            tokio::task::yield_now().await;
            stop.trigger("SIGTERM");
            waiter.await.unwrap();
            // Already set: returns at once.
            stop.stopped().await;
        });
    }
}
