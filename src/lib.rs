//! port-action: a GitHub Action that connects workflows to Port.
//!
//! The binary reads its inputs from `INPUT_*` variables, finds the Port action run that started
//! the workflow in the event payload, speaks Port's REST API, and writes step outputs, a job
//! summary and annotations the way GitHub's own toolkit does. [`ops::run_entry`] is the whole
//! job of a step or of a stage of `track`; the binary around it answers `--help` and
//! `--version`, turns a panic into an annotation, refuses inputs that are not UTF-8, stops on
//! the runner's SIGINT or SIGTERM, and maps the result to an exit code.

pub mod event;
pub mod inputs;
pub mod ops;
pub mod port;
pub mod process;
pub mod runner;
pub mod stop;

use std::collections::BTreeMap;
use std::ffi::OsString;

/// The process environment, as a map so that tests and the demo can run a step in-process.
pub type Env = BTreeMap<String, String>;

pub use ops::Entry;

/// The name the image gives the binary for the post stage of `track` (a link to
/// `/port-action`): the runner starts a container's post stage with the same arguments as the
/// main stage, and only the entrypoint tells them apart.
pub const POST_ENTRYPOINT: &str = "port-action-post";

/// The argument after `track` that names the post stage where the launcher of the native
/// action starts the binary itself (`port-action track --post`): a program name is not
/// portable (Windows has no links, and keeps no `argv[0]` of its own choosing).
pub const POST_ARG: &str = "--post";

/// What the binary was started as: `port-action` alone is a step of the root action;
/// `port-action track` the start of `track`, and `port-action-post track` (the image) or
/// `port-action track --post` (the native launcher) its end.
pub fn entry_from_args(args: impl IntoIterator<Item = OsString>) -> Entry {
    let mut args = args.into_iter();
    let program = args.next().unwrap_or_default();
    let post_entrypoint = std::path::Path::new(&program)
        .file_name()
        .is_some_and(|name| name == POST_ENTRYPOINT);
    match (args.next(), args.next()) {
        (Some(a), Some(p)) if a == "track" && p == POST_ARG => Entry::Track(ops::track::Stage::End),
        (Some(a), None) if a == "track" && post_entrypoint => Entry::Track(ops::track::Stage::End),
        (Some(a), _) if a == "track" => Entry::Track(ops::track::Stage::Start),
        _ => Entry::Step,
    }
}

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

    #[test]
    fn the_entrypoint_and_the_first_argument_name_the_entry() {
        let entry = |args: &[&str]| entry_from_args(args.iter().map(OsString::from));
        use ops::track::Stage;
        assert_eq!(entry(&["/port-action"]), Entry::Step);
        assert_eq!(
            entry(&["/port-action", "track"]),
            Entry::Track(Stage::Start)
        );
        assert_eq!(
            entry(&["/port-action-post", "track"]),
            Entry::Track(Stage::End)
        );
        assert_eq!(entry(&["/port-action-post"]), Entry::Step);
        assert_eq!(entry(&[]), Entry::Step);
    }

    #[test]
    fn the_native_launcher_names_the_post_stage_by_argument() {
        let entry = |args: &[&str]| entry_from_args(args.iter().map(OsString::from));
        use ops::track::Stage;
        let installed = r"D:\a\_actions\port-action\v1\native\bin\win32-x64\port-action.exe";
        assert_eq!(
            entry(&[installed, "track", POST_ARG]),
            Entry::Track(Stage::End)
        );
        assert_eq!(entry(&[installed, "track"]), Entry::Track(Stage::Start));
        assert_eq!(
            entry(&["/opt/port-action", "track", "--post"]),
            Entry::Track(Stage::End)
        );
        // `--post` names the end of `track` only, and nothing else does.
        assert_eq!(entry(&["/opt/port-action", "--post"]), Entry::Step);
        assert_eq!(
            entry(&["/opt/port-action", "track", "--posts"]),
            Entry::Track(Stage::Start)
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_variable_that_is_not_utf8_neither_panics_nor_passes_as_an_input() {
        use std::os::unix::ffi::OsStringExt;
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
