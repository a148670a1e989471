//! What a workflow moving from `port-labs/port-github-action` keeps: the checks its linters
//! made on the old `uses:` still hold on the new one.

use crate::support::{action_yml_of, Action};

#[test]
fn the_credentials_are_required_inputs_as_in_the_official_action() {
    // actionlint reports a step without them, as it did for port-labs/port-github-action; the
    // runner itself never enforces `required`, so port-action checks them too.
    for action in [Action::Root, Action::Track] {
        let inputs = &action_yml_of(action)["inputs"];
        for name in ["clientId", "clientSecret"] {
            assert_eq!(
                inputs[name]["required"].as_bool(),
                Some(true),
                "{} {name}",
                action.file()
            );
        }
    }
}
