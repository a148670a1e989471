//! A test-only resolver whose lookups never finish, as `getaddrinfo` does when no DNS server
//! answers: each lookup holds a thread of the runtime's blocking pool, the way the default
//! resolver does, so tests can prove that the process still ends by its deadline.
//!
//! Compiled into debug builds only (the tests' binary; the released image is a release build),
//! and used only when `PORT_ACTION_TEST_HANG_DNS=1` is set.

use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Name, Resolve, Resolving};

/// The variable that turns the resolver on.
pub const VARIABLE: &str = "PORT_ACTION_TEST_HANG_DNS";

/// How long a lookup holds its thread: longer than any test waits.
const HANG: Duration = Duration::from_secs(600);

/// A resolver whose lookups hang.
pub struct Hanging;

impl Resolve for Hanging {
    fn resolve(&self, _name: Name) -> Resolving {
        Box::pin(async {
            let _ = tokio::task::spawn_blocking(|| std::thread::sleep(HANG)).await;
            Err("the lookup hung".into())
        })
    }
}

/// The hanging resolver, when [`VARIABLE`] is `1`.
pub fn from_env() -> Option<Arc<Hanging>> {
    (std::env::var(VARIABLE).as_deref() == Ok("1")).then(|| Arc::new(Hanging))
}
