//! `action.yml` is the contract with every workflow: it must declare exactly the inputs the
//! binary reads (an input it does not declare never reaches the container), and the README
//! must document every input and output it declares. (Every step the suite runs also checks
//! that each output written is declared: see `support::Step::run`.)

use std::collections::BTreeSet;
use std::path::Path;

use crate::support::{declared_inputs, declared_outputs};

fn read(name: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(name)).expect(name)
}

/// The names in backticks in the first column of the README table under `heading`.
fn readme_table(heading: &str) -> BTreeSet<String> {
    let readme = read("README.md");
    let section = readme
        .split(&format!("\n## {heading}\n"))
        .nth(1)
        .unwrap_or_else(|| panic!("README has a '{heading}' section"));
    let section = section.split("\n## ").next().unwrap();
    section
        .lines()
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
    let read: BTreeSet<String> = port_action::inputs::NAMES
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
    assert_eq!(readme_table("Inputs"), inputs, "README inputs table");
    assert_eq!(
        readme_table("Outputs"),
        declared_outputs(),
        "README outputs table"
    );
}
