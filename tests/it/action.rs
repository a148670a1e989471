//! `action.yml` is the contract with every workflow: it must declare exactly the inputs the
//! binary reads (an input it does not declare never reaches the container), and the README
//! must document every input and output it declares. The native actions (`native/action.yml`,
//! `native/track/action.yml`) run the same binary, so they declare the same inputs, defaults
//! and outputs as their container twins. (Every step the suite runs also checks
//! that each output written is declared: see `support::Step::run`.)

use std::collections::BTreeSet;
use std::path::Path;

use crate::support::{
    declared_inputs, declared_inputs_of, declared_outputs, declared_outputs_of, Action,
};

fn read(name: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(name)).expect(name)
}

/// The names in backticks in the first column of the README tables under `heading`.
fn readme_table(heading: &str) -> BTreeSet<String> {
    readme_tables(heading, 0..usize::MAX)
}

/// The names in backticks in the first column of the `which` tables (counted from 0) of the
/// README section whose heading is `heading` (`## Inputs`, `### Track a whole job`).
fn readme_tables(heading: &str, which: std::ops::Range<usize>) -> BTreeSet<String> {
    let readme = read("README.md");
    let level = heading.split(' ').next().unwrap();
    let section = readme
        .split(&format!("\n{heading}\n"))
        .nth(1)
        .unwrap_or_else(|| panic!("README has a '{heading}' section"));
    let section = section.split(&format!("\n{level} ")).next().unwrap();
    // Tables are runs of lines that start with `|`, numbered in order.
    let mut table = 0;
    let mut previous_was_row = false;
    let mut rows = Vec::new();
    for line in section.lines() {
        let is_row = line.starts_with('|');
        if previous_was_row && !is_row {
            table += 1;
        }
        if is_row && which.contains(&table) {
            rows.push(line);
        }
        previous_was_row = is_row;
    }
    rows.into_iter()
        .filter(|l| l.starts_with("| `"))
        .flat_map(|l| {
            let first = l.split('|').nth(1).unwrap();
            first
                .split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn action_yml_declares_exactly_the_inputs_the_binary_reads() {
    let declared: BTreeSet<String> = declared_inputs().into_keys().collect();
    let read: BTreeSet<String> = port_action::inputs::names()
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(declared, read);
}

#[test]
fn action_yml_keeps_the_official_defaults_and_the_job_id_default() {
    let inputs = declared_inputs();
    assert_eq!(inputs["operation"], "UPSERT");
    assert_eq!(inputs["delete_dependents"], "false");
    assert_eq!(inputs["createMissingRelatedEntities"], "false");
    assert_eq!(inputs["addJobLink"], "true");
    // The harness substitutes the runner's value for `${{ job.check_run_id }}`.
    assert_eq!(inputs["jobId"], crate::support::JOB_ID);
}

#[test]
fn the_readme_documents_every_input_and_output() {
    let inputs: BTreeSet<String> = declared_inputs().into_keys().collect();
    assert_eq!(readme_table("## Inputs"), inputs, "README inputs table");
    assert_eq!(
        readme_table("## Outputs"),
        declared_outputs(),
        "README outputs table"
    );
}

#[test]
fn track_action_yml_declares_exactly_the_inputs_track_reads() {
    let declared: BTreeSet<String> = declared_inputs_of(Action::Track).into_keys().collect();
    let read: BTreeSet<String> = port_action::inputs::track_names()
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(declared, read);
}

#[test]
fn the_readme_documents_every_input_and_output_of_track() {
    let heading = "### Track a whole job";
    let inputs: BTreeSet<String> = declared_inputs_of(Action::Track).into_keys().collect();
    assert_eq!(readme_tables(heading, 0..1), inputs, "README track inputs");
    assert_eq!(
        readme_tables(heading, 1..2),
        declared_outputs_of(Action::Track),
        "README track outputs"
    );
}

#[test]
fn track_runs_the_same_image_with_a_post_step_that_always_runs() {
    let root = crate::support::action_yml_of(Action::Root);
    let track = crate::support::action_yml_of(Action::Track);
    let image = |yml: &yaml_rust2::Yaml| yml["runs"]["image"].as_str().unwrap().to_string();
    // On main both build the one Dockerfile; a release pins both to the one image digest.
    assert_eq!(image(root), "Dockerfile");
    assert_eq!(image(track), "../Dockerfile");
    assert_eq!(track["runs"]["args"][0].as_str(), Some("track"));
    assert_eq!(
        track["runs"]["post-entrypoint"].as_str(),
        Some(format!("/{}", port_action::POST_ENTRYPOINT).as_str())
    );
    assert_eq!(track["runs"]["post-if"].as_str(), Some("always()"));
    assert!(
        root["runs"]["post-entrypoint"].is_badvalue(),
        "the root action has no post step"
    );
}

/// Each input's default (as the runner evaluates it) and whether it is required.
fn input_specs(action: Action) -> Vec<(String, String, bool)> {
    let defaults = declared_inputs_of(action);
    let yml = crate::support::action_yml_of(action);
    defaults
        .into_iter()
        .map(|(name, default)| {
            let required = yml["inputs"][name.as_str()]["required"]
                .as_bool()
                .unwrap_or(false);
            (name, default, required)
        })
        .collect()
}

#[test]
fn the_native_actions_declare_the_inputs_defaults_and_outputs_of_the_container_actions() {
    for (container, native) in [
        (Action::Root, Action::Native),
        (Action::Track, Action::NativeTrack),
    ] {
        assert_eq!(
            input_specs(native),
            input_specs(container),
            "{} and {}: inputs (name, default, required)",
            native.file(),
            container.file()
        );
        assert_eq!(
            declared_outputs_of(native),
            declared_outputs_of(container),
            "{} and {}: outputs",
            native.file(),
            container.file()
        );
    }
    // And so the binary reads exactly what each native action declares.
    let binary_reads =
        |names: Vec<&str>| -> BTreeSet<String> { names.into_iter().map(str::to_string).collect() };
    let native = |action| -> BTreeSet<String> { declared_inputs_of(action).into_keys().collect() };
    assert_eq!(
        native(Action::Native),
        binary_reads(port_action::inputs::names().to_vec())
    );
    assert_eq!(
        native(Action::NativeTrack),
        binary_reads(port_action::inputs::track_names().to_vec())
    );
}

#[test]
fn the_native_actions_run_the_launcher_on_node24_with_a_post_stage_for_track() {
    let root = crate::support::action_yml_of(Action::Native);
    let track = crate::support::action_yml_of(Action::NativeTrack);
    for (yml, main) in [(root, "native/main.js"), (track, "native/track/main.js")] {
        assert_eq!(yml["runs"]["using"].as_str(), Some("node24"));
        assert_eq!(yml["runs"]["main"].as_str(), Some("main.js"));
        assert!(yml["runs"]["image"].is_badvalue());
        assert!(read(main).contains("launcher.js\").main("), "{main}");
    }
    assert_eq!(track["runs"]["post"].as_str(), Some("post.js"));
    assert_eq!(track["runs"]["post-if"].as_str(), Some("always()"));
    assert!(
        root["runs"]["post"].is_badvalue(),
        "the root action has no post step"
    );
    // The post stage names itself the way the binary reads it: `track --post`.
    let post = read("native/track/post.js");
    assert!(
        post.contains(&format!(r#"main(["track", "{}"])"#, port_action::POST_ARG)),
        "{post}"
    );
}
