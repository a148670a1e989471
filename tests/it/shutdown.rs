//! The process ends by the step's deadline whatever the outside does: a DNS lookup that never
//! finishes holds a thread of the runtime's blocking pool, which must not keep the process
//! alive once the step is done.
//!
//! The hanging lookup comes from a test-only resolver of debug builds, turned on by
//! `PORT_ACTION_TEST_HANG_DNS=1` (see `src/port/hanging_dns.rs`): no DNS server is asked, and
//! nothing leaves the machine.

/// Debug builds only: release builds have no hanging resolver.
#[cfg(debug_assertions)]
#[test]
fn a_hanging_dns_lookup_does_not_keep_the_process_past_its_deadline() {
    use std::time::{Duration, Instant};

    use port_stand_in::StandIn;

    use crate::support::Step;

    // Only for the base URL and the workflow's settings: nothing is ever sent to it.
    let port = StandIn::start();
    let deadline = Duration::from_secs(2);
    let started = Instant::now();
    // `track` reports a problem as a warning and the job goes on: the step ends well, and the
    // process must still end at once.
    let out = Step::track_start(&port)
        .input("baseUrl", "http://port-api.invalid")
        .input("runId", "r_demo")
        .input("timeout", "2s")
        .env("PORT_ACTION_TEST_HANG_DNS", "1")
        .spawn()
        // Generous: the deadline, its grace, and time for a slow machine.
        .wait_at_most(deadline + Duration::from_secs(8));
    let took = started.elapsed();
    println!("the step ended {took:?} after it started, with a deadline of {deadline:?}");
    assert_eq!(out.code, 0, "{}", out.stdout);
    let warning = out
        .stdout
        .lines()
        .find(|l| l.starts_with("::warning title=Port tracking::"))
        .unwrap_or_else(|| panic!("no warning:\n{}", out.stdout));
    assert!(
        warning.contains("POST http://port-api.invalid/v1/auth/access_token"),
        "{warning}"
    );
    assert!(port.requests().is_empty());
}
