//! port-action: a GitHub Action that connects workflows to Port.
//!
//! The binary reads its inputs from `INPUT_*` variables, finds the Port action run that started
//! the workflow in the event payload, speaks Port's REST API, and writes step outputs, a job
//! summary and annotations the way GitHub's own toolkit does. [`run`] is the whole job; `main`
//! only maps its result to an exit code.

pub mod event;
pub mod inputs;
pub mod ops;
pub mod port;
pub mod runner;

use std::collections::BTreeMap;

/// The process environment, as a map so that tests and the demo can run a step in-process.
pub type Env = BTreeMap<String, String>;

pub use ops::run;
