//! The Port REST client. Operations build a request with a function of [`routes`], which
//! declares what is sent and whether it may be sent twice, and hand it to [`PortClient::call`];
//! they never build URLs or headers themselves.
//!
//! - [`routes`]: every request to Port, with its repeat rule.
//! - `client`: the token, the request with its retries, deadlines and cancellation.
//! - `answer`: Port's answer read within bounds and judged.
//! - [`retry`]: when a failed request is sent again, and after how long (a pure policy).
//! - `error`: what went wrong, in words a user can act on.
//! - `redact` and `shown`: what the client prints, never a secret.
//! - `urls`: links to runs and entities in Port's web app.

mod answer;
mod client;
mod error;
#[cfg(debug_assertions)]
mod hanging_dns;
mod redact;
pub mod retry;
pub mod routes;
mod shown;
mod urls;

pub use answer::{MAX_ANSWER_BYTES, MAX_ANSWER_VALUES};
pub use client::{Limits, PortClient, BACKOFF_UNIT_VAR, USER_AGENT};
pub use error::PortError;
pub(crate) use redact::percent_decode;
pub use routes::Route;
pub use shown::humantime;
pub use urls::{app_base, entity_url, run_url};
