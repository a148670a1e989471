//! Integration tests: the `port-action` binary, run as the GitHub runner runs it, against the
//! embedded Port stand-in, which checks every request against Port's OpenAPI spec.

mod support;

mod action;
mod bad_input;
mod bounded;
mod bulk_report;
mod cli;
mod client;
mod compat;
mod entities;
mod entities_file;
mod failures;
mod faults;
mod fuzz;
mod hostile;
mod migration;
mod native;
mod network;
mod release;
mod reruns;
mod retries;
mod run_ids;
mod runs;
mod search;
mod shutdown;
mod toolkit;
mod track;
mod workflow;
