//! Integration tests: the `port-action` binary, run as the GitHub runner runs it, against the
//! embedded Port stand-in, which checks every request against Port's OpenAPI spec.

mod support;

mod action;
mod bad_input;
mod compat;
mod entities;
mod failures;
mod faults;
mod fuzz;
mod network;
mod release;
mod runs;
mod workflow;
