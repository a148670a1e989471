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
pub mod stop;

use std::collections::BTreeMap;
use std::ffi::OsString;

/// The process environment, as a map so that tests and the demo can run a step in-process.
pub type Env = BTreeMap<String, String>;

pub use ops::{run, run_until_stopped};

/// The environment as text. A variable that is not valid UTF-8 is kept with its invalid bytes
/// replaced, and named in the second list when it is an input (`INPUT_*`): an input changed on
/// the way in must fail the step, not be sent. Values are never printed.
pub fn env_from_os(vars: impl IntoIterator<Item = (OsString, OsString)>) -> (Env, Vec<String>) {
    let mut env = Env::new();
    let mut bad_inputs = Vec::new();
    for (name, value) in vars {
        let name = name.to_string_lossy().into_owned();
        let value = match value.into_string() {
            Ok(v) => v,
            Err(raw) => {
                if name.starts_with("INPUT_") {
                    bad_inputs.push(name.clone());
                }
                raw.to_string_lossy().into_owned()
            }
        };
        env.insert(name, value);
    }
    (env, bad_inputs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStringExt;

    #[test]
    fn a_variable_that_is_not_utf8_neither_panics_nor_passes_as_an_input() {
        let vars = vec![
            (OsString::from("HOME"), OsString::from("/github/home")),
            (
                OsString::from("INPUT_CLIENTSECRET"),
                OsString::from_vec(b"s3cr\xffet".to_vec()),
            ),
            (
                OsString::from("LANG_X"),
                OsString::from_vec(b"\xfe".to_vec()),
            ),
        ];
        let (env, bad) = env_from_os(vars);
        assert_eq!(bad, ["INPUT_CLIENTSECRET"]);
        assert_eq!(env["HOME"], "/github/home");
        assert_eq!(env["LANG_X"], "\u{fffd}");
    }
}
