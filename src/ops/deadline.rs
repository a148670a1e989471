//! How a step's time is shared out, so that the final status always has time to land.
//!
//! The `timeout` input bounds the whole step. The status write comes last, so whatever came
//! before (writing entities, posting the log line, reading the run for its links) could eat the
//! whole budget and leave the PATCH "no answer within 0s". Instead a share of the budget is kept
//! for the status: the work ends at [`Deadlines::work`], reading the run at
//! [`Deadlines::read_run`], and only the status PATCH may use the time up to [`Deadlines::end`].
//! With CREATE_RUN `wait`, the budget also covers `waitTimeout`.

use std::time::{Duration, Instant};

/// The share of `timeout` kept for the final status write: a quarter…
pub const STATUS_RESERVE_DIVISOR: u32 = 4;
/// …but never more than this: a PATCH that has not landed in 30 s will not land in 60.
pub const MAX_STATUS_RESERVE: Duration = Duration::from_secs(30);

/// The instants a step's requests must be started by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    /// When the step started.
    pub start: Instant,
    /// Entity writes, searches, log lines, CREATE_RUN and its wait.
    pub work: Instant,
    /// Reading the run (for its links and state) before the status write: half the reserve.
    pub read_run: Instant,
    /// The status write itself, and the end of the step.
    pub end: Instant,
}

impl Deadlines {
    /// The deadlines of a step started at `start` with the `timeout` input, plus `wait` (the
    /// `waitTimeout` input) when the step waits for a run it created.
    pub fn new(start: Instant, timeout: Duration, wait: Option<Duration>) -> Deadlines {
        let reserve = status_reserve(timeout);
        let end = start + timeout + wait.unwrap_or(Duration::ZERO);
        Deadlines {
            start,
            work: end - reserve,
            read_run: end - reserve / 2,
            end,
        }
    }
}

impl Deadlines {
    /// The whole budget: `timeout`, plus `waitTimeout` when waiting for a run.
    pub fn budget(&self) -> Duration {
        self.end - self.start
    }
}

/// The time kept for the status write out of a step `timeout`.
pub fn status_reserve(timeout: Duration) -> Duration {
    (timeout / STATUS_RESERVE_DIVISOR).min(MAX_STATUS_RESERVE)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn a_quarter_of_a_short_timeout_is_kept_for_the_status() {
        let t0 = Instant::now();
        let d = Deadlines::new(t0, S(60), None);
        assert_eq!(d.work, t0 + S(45));
        assert_eq!(d.read_run, t0 + Duration::from_millis(52_500));
        assert_eq!(d.end, t0 + S(60));
    }

    #[test]
    fn the_reserve_is_capped_for_long_timeouts() {
        let t0 = Instant::now();
        let d = Deadlines::new(t0, S(300), None);
        assert_eq!(d.work, t0 + S(270));
        assert_eq!(d.read_run, t0 + S(285));
        assert_eq!(d.end, t0 + S(300));
    }

    #[test]
    fn waiting_for_a_run_adds_wait_timeout_to_the_budget() {
        let t0 = Instant::now();
        let d = Deadlines::new(t0, S(300), Some(S(45 * 60)));
        assert_eq!(d.end, t0 + S(300 + 45 * 60));
        assert_eq!(d.work, d.end - S(30));
    }

    #[test]
    fn the_phases_come_in_order() {
        let t0 = Instant::now();
        for secs in [1, 4, 10, 59, 121, 3600] {
            let d = Deadlines::new(t0, S(secs), None);
            assert!(
                t0 < d.work && d.work <= d.read_run && d.read_run < d.end,
                "{secs}"
            );
        }
    }
}
