//! The release commit (`.ci/release-rewrite`, run by the release workflow): a caller that pins
//! the action or one of its reusable workflows to a release runs that release's image and that
//! release's action, never the moving major tag.

use std::path::Path;
use std::process::Command;

use yaml_rust2::{Yaml, YamlLoader};

const VERSION: &str = "4.5.6";
const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn image() -> String {
    format!("docker://ghcr.io/getport-community/port-action:{VERSION}@{DIGEST}")
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The files a release commit may change, as main has them: path relative to the root, text.
fn release_files() -> Vec<(String, String)> {
    let mut names = vec!["action.yml".to_string()];
    if root().join("track/action.yml").is_file() {
        names.push("track/action.yml".into());
    }
    let mut workflows: Vec<String> = std::fs::read_dir(root().join(".github/workflows"))
        .expect(".github/workflows")
        .map(|e| {
            e.expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|n| n.ends_with(".yml") || n.ends_with(".yaml"))
        .map(|n| format!(".github/workflows/{n}"))
        .collect();
    workflows.sort();
    names.extend(workflows);
    names
        .into_iter()
        .map(|n| {
            let text = std::fs::read_to_string(root().join(&n)).expect("readable");
            (n, text)
        })
        .collect()
}

fn copy_to(dir: &Path, files: &[(String, String)]) {
    for (name, text) in files {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

fn read_back(dir: &Path, files: &[(String, String)]) -> Vec<(String, String)> {
    files
        .iter()
        .map(|(name, _)| {
            let text = std::fs::read_to_string(dir.join(name)).unwrap();
            (name.clone(), text)
        })
        .collect()
}

/// Runs the script on `dir`; returns whether it succeeded and what it printed.
fn rewrite(dir: &Path, version: &str, image: &str) -> (bool, String) {
    let out = Command::new("python3")
        .arg(root().join(".ci/release-rewrite"))
        .args([version, image])
        .arg(dir)
        .output()
        .expect("python3 runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn yaml(text: &str) -> Yaml {
    YamlLoader::load_from_str(text)
        .expect("valid YAML")
        .pop()
        .expect("one document")
}

/// True when the workflow has a workflow_call trigger: it is what callers run by reference.
fn is_reusable(workflow: &Yaml) -> bool {
    match &workflow["on"] {
        Yaml::String(s) => s == "workflow_call",
        Yaml::Array(a) => a.iter().any(|t| t.as_str() == Some("workflow_call")),
        Yaml::Hash(h) => h.contains_key(&Yaml::String("workflow_call".into())),
        _ => false,
    }
}

/// Every `uses:` value in the document, at any depth (jobs and steps alike).
fn uses_values(doc: &Yaml, found: &mut Vec<String>) {
    match doc {
        Yaml::Hash(h) => {
            for (k, v) in h {
                if k.as_str() == Some("uses") {
                    if let Some(s) = v.as_str() {
                        found.push(s.to_string());
                    }
                }
                uses_values(v, found);
            }
        }
        Yaml::Array(a) => a.iter().for_each(|v| uses_values(v, found)),
        _ => {}
    }
}

fn names_this_action(uses: &str) -> bool {
    let path = uses.split('@').next().unwrap_or_default();
    let mut parts = path.split('/');
    parts.next().is_some() && parts.next() == Some("port-action")
}

fn runs_image(action: &str) -> String {
    yaml(action)["runs"]["image"]
        .as_str()
        .expect("runs.image")
        .to_string()
}

#[test]
fn the_release_commit_pins_the_image_and_every_reference_to_the_action_and_nothing_else() {
    let before = release_files();
    let dir = tempfile::tempdir().unwrap();
    copy_to(dir.path(), &before);
    let (ok, printed) = rewrite(dir.path(), VERSION, &image());
    assert!(ok, "{printed}");
    let after = read_back(dir.path(), &before);

    let mut expected_changes = 0;
    let mut references = 0;
    for ((name, old), (_, new)) in before.iter().zip(&after) {
        let is_action = name.ends_with("action.yml");
        let old_doc = yaml(old);
        let new_doc = yaml(new);
        if is_action {
            assert_eq!(runs_image(new), image(), "{name}");
            expected_changes += 1;
        }
        let reusable = !is_action && is_reusable(&old_doc);
        let (mut old_uses, mut new_uses) = (Vec::new(), Vec::new());
        uses_values(&old_doc, &mut old_uses);
        uses_values(&new_doc, &mut new_uses);
        assert_eq!(old_uses.len(), new_uses.len(), "{name}");
        for (o, n) in old_uses.iter().zip(&new_uses) {
            if (is_action || reusable) && names_this_action(o) {
                let path = o.split('@').next().unwrap();
                assert_eq!(n, &format!("{path}@v{VERSION}"), "{name}: {o}");
                references += 1;
                if o != n {
                    expected_changes += 1;
                }
            } else {
                assert_eq!(o, n, "{name}: only this action's references change");
            }
        }

        // Line by line: the same lines, but for the image and the references above.
        let (old_lines, new_lines): (Vec<&str>, Vec<&str>) =
            (old.split('\n').collect(), new.split('\n').collect());
        assert_eq!(old_lines.len(), new_lines.len(), "{name}");
        for (o, n) in old_lines.iter().zip(&new_lines).filter(|(o, n)| o != n) {
            let image_line = is_action && o.trim_start().starts_with("image:");
            let uses_line = o.trim_start().trim_start_matches("- ").starts_with("uses:")
                && o.split('@').next() == n.split('@').next()
                && n.trim_end().ends_with(&format!("@v{VERSION}"));
            assert!(
                image_line || uses_line,
                "{name}: unexpected change\n- {o}\n+ {n}"
            );
            expected_changes -= 1;
        }
    }
    assert_eq!(
        expected_changes, 0,
        "every change is one of the expected ones, and every expected one is made:\n{printed}"
    );
    assert!(
        references >= 2,
        "the reusable workflows run the action: {references} references found\n{printed}"
    );
}

#[test]
fn a_reference_the_rewrite_cannot_pin_fails_the_release_and_writes_nothing() {
    let before = release_files();
    let dir = tempfile::tempdir().unwrap();
    let mut files = before.clone();
    // A reusable workflow whose step is written in flow style.
    files.push((
        ".github/workflows/flow-style.yml".into(),
        "on:\n  workflow_call:\njobs:\n  go:\n    runs-on: ubuntu-latest\n    steps:\n      \
         - {name: Go, uses: getport-community/port-action@v1}\n"
            .into(),
    ));
    copy_to(dir.path(), &files);
    let (ok, printed) = rewrite(dir.path(), VERSION, &image());
    assert!(!ok, "a missed reference must fail the release:\n{printed}");
    assert!(printed.contains("flow-style.yml:7"), "{printed}");
    assert_eq!(read_back(dir.path(), &files), files, "nothing is written");
}

#[test]
fn the_track_action_and_the_reusable_workflows_called_from_a_reusable_workflow_are_pinned_too() {
    let mut files = release_files();
    files.push((
        ".github/workflows/chained.yml".into(),
        "on: [workflow_call]\njobs:\n  report:\n    \
         uses: getport-community/port-action/.github/workflows/report-run-status.yml@v1 # ok\n  \
         track:\n    runs-on: ubuntu-latest\n    steps:\n      \
         - uses: \"getport-community/port-action/track@v1\"\n"
            .into(),
    ));
    let dir = tempfile::tempdir().unwrap();
    copy_to(dir.path(), &files);
    let (ok, printed) = rewrite(dir.path(), VERSION, &image());
    assert!(ok, "{printed}");
    let chained =
        std::fs::read_to_string(dir.path().join(".github/workflows/chained.yml")).unwrap();
    assert_eq!(
        chained,
        format!(
            "on: [workflow_call]\njobs:\n  report:\n    \
             uses: getport-community/port-action/.github/workflows/report-run-status.yml@v{VERSION} # ok\n  \
             track:\n    runs-on: ubuntu-latest\n    steps:\n      \
             - uses: \"getport-community/port-action/track@v{VERSION}\"\n"
        )
    );
}

#[test]
fn the_track_action_is_pinned_like_the_main_one() {
    let mut files = release_files();
    if !files.iter().any(|(n, _)| n == "track/action.yml") {
        files.push((
            "track/action.yml".into(),
            "name: track\ndescription: d\nruns:\n  using: docker\n  image: ../Dockerfile\n  \
             args: [track]\n"
                .into(),
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    copy_to(dir.path(), &files);
    let (ok, printed) = rewrite(dir.path(), VERSION, &image());
    assert!(ok, "{printed}");
    let track = std::fs::read_to_string(dir.path().join("track/action.yml")).unwrap();
    assert_eq!(runs_image(&track), image(), "{track}");
}

#[test]
fn an_image_of_another_version_or_without_a_digest_is_refused() {
    let files = release_files();
    let dir = tempfile::tempdir().unwrap();
    copy_to(dir.path(), &files);
    for bad in [
        format!("docker://ghcr.io/getport-community/port-action:4.5.7@{DIGEST}"),
        format!("docker://ghcr.io/getport-community/port-action:{VERSION}"),
        format!("ghcr.io/getport-community/port-action:{VERSION}@{DIGEST}"),
    ] {
        let (ok, printed) = rewrite(dir.path(), VERSION, &bad);
        assert!(!ok, "{bad} accepted:\n{printed}");
    }
    let (ok, printed) = rewrite(dir.path(), "4.5", &image());
    assert!(!ok, "{printed}");
    assert_eq!(read_back(dir.path(), &files), files, "nothing is written");
}
