//! The release (`.ci/release-commit`, `.ci/release-rewrite`, `.ci/release-should-move-major`,
//! run by the release workflow): a caller that pins the action or one of its reusable workflows
//! to a release runs that release's image and binaries, by digest and by full commit SHA, and a
//! major tag never moves before the release is approved, nor back to older code.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use yaml_rust2::{Yaml, YamlLoader};

const VERSION: &str = "4.5.6";
const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
/// The repository the release is pushed to (a fork releases under its own name).
const REPOSITORY: &str = "acme-forks/port-action";

/// node's `process.platform-process.arch` of every binary a release ships, and its file name.
const PLATFORMS: [(&str, &str); 5] = [
    ("linux-x64", "port-action"),
    ("linux-arm64", "port-action"),
    ("darwin-x64", "port-action"),
    ("darwin-arm64", "port-action"),
    ("win32-x64", "port-action.exe"),
];

fn image() -> String {
    format!("docker://ghcr.io/getport-community/port-action:{VERSION}@{DIGEST}")
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every file under `dir` (relative to the root), recursively.
fn files_under(dir: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut pending = vec![root().join(dir)];
    while let Some(path) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&path) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let name = path.strip_prefix(root()).unwrap();
                found.push(name.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    found.sort();
    found
}

/// The files of the repository a release reads, as the source commit has them: path relative
/// to the root, text. The native actions and their launcher come along when they exist.
fn release_files() -> Vec<(String, String)> {
    let mut names = vec!["action.yml".to_string()];
    if root().join("track/action.yml").is_file() {
        names.push("track/action.yml".into());
    }
    // Binaries a contributor built locally are not part of the source commit.
    names.extend(
        files_under("native")
            .into_iter()
            .filter(|n| !n.starts_with("native/bin/") && !n.contains("/node_modules/")),
    );
    names.extend(
        files_under(".github/workflows")
            .into_iter()
            .filter(|n| n.ends_with(".yml") || n.ends_with(".yaml")),
    );
    names.extend(files_under(".ci").into_iter().filter(|n| {
        n.starts_with(".ci/release-") && !n.ends_with(".pyc") && !n.contains("__pycache__")
    }));
    names
        .into_iter()
        .map(|n| {
            let text = std::fs::read_to_string(root().join(&n)).expect("readable");
            (n, text)
        })
        .collect()
}

/// A git repository in a temp dir holding `files`, committed once: the source commit.
struct Repo {
    dir: tempfile::TempDir,
}

impl Repo {
    fn new(files: &[(String, String)]) -> Repo {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, text).unwrap();
        }
        let repo = Repo { dir };
        repo.git(&["init", "--quiet"]);
        repo.git(&["add", "--all"]);
        repo.git(&["commit", "--quiet", "-m", "source"]);
        repo
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Runs git in the repository with a fixed identity and no user configuration.
    fn run_git(&self, args: &[&str]) -> Output {
        Command::new("git")
            .args(args)
            .current_dir(self.path())
            .envs(git_env(self.path()))
            .output()
            .expect("git runs")
    }

    fn git(&self, args: &[&str]) -> String {
        let out = self.run_git(args);
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// The text of `name` at `rev`, or None when it does not exist there.
    fn show(&self, rev: &str, name: &str) -> Option<String> {
        let out = self.run_git(&["show", &format!("{rev}:{name}")]);
        out.status
            .success()
            .then(|| String::from_utf8(out.stdout).unwrap())
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path().join(name)).unwrap()
    }

    /// Runs one of the repository's own `.ci/release-*` scripts in it.
    fn script(&self, script: &str, args: &[&str]) -> (bool, String) {
        let path = self.path().join(".ci").join(script);
        let mut command = if script == "release-commit" {
            Command::new("bash")
        } else {
            Command::new("python3")
        };
        let out = command
            .arg(path)
            .args(args)
            .current_dir(self.path())
            .envs(git_env(self.path()))
            .output()
            .expect("the script runs");
        (out.status.success(), output_text(&out))
    }

    /// `.ci/release-commit`, as the release workflow runs it.
    fn release(&self, binaries: &Path) -> (bool, String) {
        let binaries = binaries.to_str().unwrap();
        self.script("release-commit", &[VERSION, &image(), binaries, REPOSITORY])
    }
}

fn git_env(home: &Path) -> Vec<(&'static str, String)> {
    let home = home.join(".git").to_string_lossy().into_owned();
    vec![
        ("GIT_AUTHOR_NAME", "release".into()),
        ("GIT_AUTHOR_EMAIL", "release@example.com".into()),
        ("GIT_COMMITTER_NAME", "release".into()),
        ("GIT_COMMITTER_EMAIL", "release@example.com".into()),
        ("GIT_CONFIG_NOSYSTEM", "1".into()),
        ("GIT_CONFIG_GLOBAL", "/dev/null".into()),
        ("HOME", home),
    ]
}

fn output_text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The first bytes of an executable for `platform`: what the build jobs upload.
fn executable_header(platform: &str) -> Vec<u8> {
    let elf = |machine: u16| {
        let mut b = b"\x7fELF\x02\x01\x01".to_vec();
        b.resize(18, 0);
        b.extend(machine.to_le_bytes());
        b.resize(64, 0);
        b
    };
    let mach_o = |cpu: u32| {
        let mut b = vec![0xcf, 0xfa, 0xed, 0xfe];
        b.extend(cpu.to_le_bytes());
        b.resize(32, 0);
        b
    };
    match platform {
        "linux-x64" => elf(0x3e),
        "linux-arm64" => elf(0xb7),
        "darwin-x64" => mach_o(0x0100_0007),
        "darwin-arm64" => mach_o(0x0100_000c),
        "win32-x64" => {
            let mut b = vec![0u8; 0x80];
            b[..2].copy_from_slice(b"MZ");
            b[0x3c..0x40].copy_from_slice(&0x40u32.to_le_bytes());
            b[0x40..0x44].copy_from_slice(b"PE\0\0");
            b[0x44..0x46].copy_from_slice(&0x8664u16.to_le_bytes());
            b
        }
        _ => panic!("{platform}"),
    }
}

/// The binaries of a release as the build jobs' artifacts arrive:
/// `<dir>/<platform>-<arch>/port-action[.exe]`, each one different.
fn binaries(dir: &Path) -> PathBuf {
    let out = dir.join("binaries");
    for (platform, file) in PLATFORMS {
        std::fs::create_dir_all(out.join(platform)).unwrap();
        let mut bytes = executable_header(platform);
        bytes.extend(format!("port-action {VERSION} for {platform}").bytes());
        std::fs::write(out.join(platform).join(file), bytes).unwrap();
    }
    out
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

/// `OWNER/REPO[/PATH]@<40 hex> # vX.Y.Z`, the whole value of a `uses:` line: (path, sha).
fn pinned_by_sha(line: &str) -> Option<(String, String)> {
    let value = line
        .trim_start()
        .strip_prefix("- ")
        .unwrap_or(line.trim_start());
    let value = value.strip_prefix("uses:")?.trim();
    let (reference, comment) = value.split_once(" # ")?;
    if comment != format!("v{VERSION}") {
        return None;
    }
    let (path, sha) = reference.trim_matches('"').split_once('@')?;
    let hex = sha.len() == 40 && sha.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    hex.then(|| (path.to_string(), sha.to_string()))
}

#[test]
fn a_release_pins_the_reusable_workflows_by_full_sha_to_a_commit_that_runs_the_image() {
    let source = release_files();
    let repo = Repo::new(&source);
    let main = repo.git(&["rev-parse", "HEAD"]);
    let scratch = tempfile::tempdir().unwrap();
    let (ok, printed) = repo.release(&binaries(scratch.path()));
    assert!(ok, "{printed}");
    let tag = format!("v{VERSION}");

    // The tag is on the second commit; the first is its parent, so pushing the tag publishes it.
    let first = repo.git(&["rev-parse", &format!("{tag}^{{commit}}^")]);
    let first = first.trim();
    assert_eq!(
        repo.git(&["rev-parse", &format!("{tag}^{{commit}}~2")]),
        main
    );
    assert_eq!(
        repo.git(&["cat-file", "-t", &tag]).trim(),
        "tag",
        "annotated"
    );

    let mut references = 0;
    for (name, old) in source.iter().filter(|(n, _)| n.ends_with(".yml")) {
        let is_action = name.ends_with("action.yml") && !name.starts_with("native/");
        let new = repo.show(&tag, name).expect("every file is in the release");
        if is_action {
            assert_eq!(runs_image(&new), image(), "{name} at {tag}");
            assert_eq!(
                runs_image(&repo.show(first, name).unwrap()),
                image(),
                "{name} at {first}"
            );
        }
        let workflow = name.starts_with(".github/workflows/");
        let reusable = workflow && is_reusable(&yaml(old));
        let (mut old_uses, mut new_uses) = (Vec::new(), Vec::new());
        uses_values(&yaml(old), &mut old_uses);
        uses_values(&yaml(&new), &mut new_uses);
        assert_eq!(old_uses.len(), new_uses.len(), "{name}");

        // An organisation that requires actions pinned to a full commit SHA accepts every
        // `uses:` of a reusable workflow, this action's and the others'.
        if reusable {
            for line in new.lines().filter(|l| {
                let l = l.trim_start();
                l.trim_start_matches("- ").starts_with("uses:")
            }) {
                let reference = line.split_once("uses:").unwrap().1.trim();
                let (_, at) = reference
                    .split_once('@')
                    .unwrap_or_else(|| panic!("{line}"));
                let sha = at.split_whitespace().next().unwrap().trim_matches('"');
                assert!(
                    sha.len() == 40 && sha.bytes().all(|b| b.is_ascii_hexdigit()),
                    "{name} at {tag}: not pinned by full SHA: {line}"
                );
                assert!(at.contains(" # v"), "{name}: the tag in a comment: {line}");
            }
        }

        // Line by line: the same lines, but for the image and this action's references.
        let (old_lines, new_lines): (Vec<&str>, Vec<&str>) =
            (old.split('\n').collect(), new.split('\n').collect());
        assert_eq!(old_lines.len(), new_lines.len(), "{name}");
        for (o, n) in old_lines.iter().zip(&new_lines) {
            let uses_ours = o.trim_start().trim_start_matches("- ").starts_with("uses:")
                && names_this_action(o.split_once("uses:").unwrap().1.trim());
            if (reusable || is_action) && uses_ours {
                let (path, sha) = pinned_by_sha(n)
                    .unwrap_or_else(|| panic!("{name}: not pinned by SHA with its tag: {n}"));
                assert_eq!(sha, first, "{name}: {n}");
                let old_path = o.split('@').next().unwrap().trim().trim_matches('"');
                let sub = old_path.splitn(3, '/').nth(2).map(|s| format!("/{s}"));
                let sub = sub.unwrap_or_default();
                assert_eq!(path, format!("{REPOSITORY}{sub}"), "{name}: {n}");
                // The commit exists, is carried by the tag, and runs the image by digest.
                repo.git(&["merge-base", "--is-ancestor", &sha, &tag]);
                let action = match sub.strip_prefix('/') {
                    Some(dir) => format!("{dir}/action.yml"),
                    None => "action.yml".to_string(),
                };
                let pinned = repo
                    .show(&sha, &action)
                    .unwrap_or_else(|| panic!("{sha}:{action}"));
                if !action.starts_with("native/") {
                    assert_eq!(runs_image(&pinned), image(), "{sha}:{action}");
                }
                references += 1;
            } else if is_action && o.trim_start().starts_with("image:") {
                assert!(n.contains(&image()), "{name}: {n}");
            } else {
                assert_eq!(
                    o, n,
                    "{name}: only the image and this action's references change"
                );
            }
        }
    }
    assert!(
        references >= 2,
        "the reusable workflows run the action: {references} references found\n{printed}"
    );

    // What the release adds: the five binaries, executable, and their sums.
    let added = repo.git(&["diff", "--name-only", "--diff-filter=A", main.trim(), &tag]);
    let mut expected: Vec<String> = PLATFORMS
        .iter()
        .map(|(platform, file)| format!("native/bin/{platform}/{file}"))
        .collect();
    expected.push("native/SHA256SUMS".into());
    expected.sort();
    let mut added: Vec<&str> = added.lines().collect();
    added.sort();
    assert_eq!(added, expected);
    let tree = repo.git(&["ls-tree", "-r", &tag, "native/bin"]);
    assert_eq!(tree.lines().count(), 5, "{tree}");
    assert!(
        tree.lines().all(|l| l.starts_with("100755 blob ")),
        "executable in git: {tree}"
    );
    let sums = repo.show(&tag, "native/SHA256SUMS").unwrap();
    let listed: Vec<&str> = sums
        .lines()
        .map(|l| l.split_once("  ").unwrap().1)
        .collect();
    assert_eq!(
        listed,
        PLATFORMS
            .iter()
            .map(|(platform, file)| format!("bin/{platform}/{file}"))
            .collect::<Vec<_>>()
    );
    // sha256sum's own check, from native/ as the launcher reads it.
    repo.git(&["checkout", "--quiet", &tag]);
    let check = Command::new("sha256sum")
        .args(["--check", "--strict", "SHA256SUMS"])
        .current_dir(repo.path().join("native"))
        .output()
        .expect("sha256sum runs");
    assert!(check.status.success(), "{}", output_text(&check));
    assert_eq!(
        String::from_utf8_lossy(&check.stdout)
            .matches(": OK")
            .count(),
        5
    );
}

#[test]
fn a_reference_the_rewrite_cannot_pin_fails_the_release_and_tags_nothing() {
    let flow = ".github/workflows/flow-style.yml";
    let chained = ".github/workflows/chained.yml";
    for (name, text, at) in [
        // A reusable workflow whose step is written in flow style.
        (
            flow,
            "on:\n  workflow_call:\njobs:\n  go:\n    runs-on: ubuntu-latest\n    steps:\n      \
             - {name: Go, uses: getport-community/port-action@v1}\n",
            "flow-style.yml:7",
        ),
        // One that calls another reusable workflow of this repository: pinning it would need
        // the SHA of the very commit being made.
        (
            chained,
            "on: [workflow_call]\njobs:\n  report:\n    \
             uses: getport-community/port-action/.github/workflows/report-run-status.yml@v1\n",
            "chained.yml:4",
        ),
    ] {
        let mut files = release_files();
        files.push((name.to_string(), text.to_string()));
        let repo = Repo::new(&files);
        let scratch = tempfile::tempdir().unwrap();
        let (ok, printed) = repo.release(&binaries(scratch.path()));
        assert!(
            !ok,
            "{name}: a missed reference must fail the release:\n{printed}"
        );
        assert!(printed.contains(at), "{printed}");
        assert!(
            repo.run_git(&["rev-parse", "--verify", "-q", &format!("v{VERSION}")])
                .stdout
                .is_empty(),
            "no tag"
        );
        for (file, text) in files.iter().filter(|(f, _)| f.starts_with(".github/")) {
            assert_eq!(&repo.read(file), text, "{file}: nothing is written");
        }
    }
}

#[test]
fn the_workflows_are_pinned_only_to_a_commit_that_runs_the_image_of_this_version() {
    let repo = Repo::new(&release_files());
    let source = repo.git(&["rev-parse", "HEAD"]);
    let (ok, printed) = repo.script(
        "release-rewrite",
        &[
            "workflows",
            VERSION,
            source.trim(),
            "--repository",
            REPOSITORY,
        ],
    );
    assert!(!ok, "{printed}");
    assert!(
        printed.contains("action.yml runs 'Dockerfile', not the image of 4.5.6 by digest"),
        "{printed}"
    );
    for bad in [
        &source.trim()[..12],
        "0000000000000000000000000000000000000000",
    ] {
        let (ok, printed) = repo.script(
            "release-rewrite",
            &["workflows", VERSION, bad, "--repository", REPOSITORY],
        );
        assert!(!ok, "{bad}: {printed}");
    }
    assert!(
        repo.git(&["status", "--porcelain"]).is_empty(),
        "nothing written"
    );
}

#[test]
fn an_image_of_another_version_or_without_a_digest_is_refused() {
    let files = release_files();
    let repo = Repo::new(&files);
    let scratch = tempfile::tempdir().unwrap();
    let bins = binaries(scratch.path());
    let bins = bins.to_str().unwrap();
    for bad in [
        format!("docker://ghcr.io/getport-community/port-action:4.5.7@{DIGEST}"),
        format!("docker://ghcr.io/getport-community/port-action:{VERSION}"),
        format!("ghcr.io/getport-community/port-action:{VERSION}@{DIGEST}"),
    ] {
        let (ok, printed) = repo.script(
            "release-rewrite",
            &["image", VERSION, &bad, "--binaries", bins],
        );
        assert!(!ok, "{bad} accepted:\n{printed}");
    }
    let (ok, printed) = repo.script(
        "release-rewrite",
        &["image", "4.5", &image(), "--binaries", bins],
    );
    assert!(!ok, "{printed}");
    assert!(
        repo.git(&["status", "--porcelain"]).is_empty(),
        "nothing written"
    );
}

#[test]
fn a_missing_extra_or_mismatched_binary_fails_the_release_and_writes_nothing() {
    let repo = Repo::new(&release_files());
    let scratch = tempfile::tempdir().unwrap();
    /// A case's name, how it spoils the binaries, and what the release says.
    type Case = (&'static str, fn(&Path), &'static str);
    let cases: [Case; 4] = [
        (
            "missing",
            |d| std::fs::remove_file(d.join("darwin-x64/port-action")).unwrap(),
            "no darwin-x64/port-action",
        ),
        (
            "extra",
            |d| std::fs::create_dir(d.join("linux-riscv64")).unwrap(),
            "unexpected linux-riscv64",
        ),
        (
            // The arm64 build uploaded as x64: an ELF for the wrong machine.
            "swapped",
            |d| {
                std::fs::copy(
                    d.join("linux-arm64/port-action"),
                    d.join("linux-x64/port-action"),
                )
                .unwrap();
            },
            "linux-x64/port-action: ELF machine 0xb7, expected ELF machine 0x3e for linux-x64",
        ),
        (
            "not an executable",
            |d| std::fs::write(d.join("win32-x64/port-action.exe"), "<html>").unwrap(),
            "not an executable, expected PE machine 0x8664 for win32-x64",
        ),
    ];
    for (case, spoil, message) in cases {
        let dir = scratch.path().join(case);
        let bins = binaries(&dir);
        spoil(&bins);
        let (ok, printed) = repo.release(&bins);
        assert!(!ok, "{case}: {printed}");
        assert!(printed.contains(message), "{case}: {printed}");
        assert!(
            repo.git(&["status", "--porcelain"]).is_empty(),
            "{case}: nothing written"
        );
        assert_eq!(
            repo.git(&["rev-list", "--count", "HEAD"]).trim(),
            "1",
            "{case}"
        );
    }
}

#[test]
fn native_actions_without_binaries_are_refused() {
    let mut files = release_files();
    if !files.iter().any(|(n, _)| n == "native/action.yml") {
        files.push((
            "native/action.yml".into(),
            "name: port-action (native)\ndescription: d\nruns:\n  using: node24\n  \
             main: launcher.js\n"
                .into(),
        ));
    }
    let repo = Repo::new(&files);
    let (ok, printed) = repo.script("release-rewrite", &["image", VERSION, &image()]);
    assert!(!ok, "{printed}");
    assert!(
        printed.contains("native/action.yml") && printed.contains("--binaries"),
        "{printed}"
    );
    assert!(
        repo.git(&["status", "--porcelain"]).is_empty(),
        "nothing written"
    );
}

/// `.ci/release-should-move-major`'s answer, or its error.
fn should_move(args: &[&str]) -> Result<String, String> {
    let out = Command::new("python3")
        .arg(root().join(".ci/release-should-move-major"))
        .args(args)
        .output()
        .expect("python3 runs");
    if out.status.success() {
        Ok(String::from_utf8(out.stdout).unwrap().trim().to_string())
    } else {
        Err(output_text(&out))
    }
}

#[test]
fn the_major_tag_moves_only_forward() {
    let published = [
        "refs/tags/v1.2.4",
        "refs/tags/v1.3.0",
        "refs/tags/v1",
        "refs/tags/src-v1.3.0",
        "refs/tags/v2.0.0",
        "refs/tags/v2",
        "refs/tags/v1.9.0-rc.1",
    ];
    let case = |version: &str, across: bool| {
        let mut args: Vec<&str> = if across {
            vec!["--across-majors"]
        } else {
            vec![]
        };
        args.push(version);
        args.extend(published);
        should_move(&args).unwrap()
    };
    // A patch of an older minor leaves v1 (and :1) where they are.
    assert_eq!(case("1.2.5", false), "no");
    // A patch of the newest minor moves them; the newer major is not its concern.
    assert_eq!(case("1.3.1", false), "yes");
    // Versions compare as numbers, and a pre-release tag is not a release.
    assert_eq!(case("1.10.0", false), "yes");
    // The first release of a major moves its tag.
    assert_eq!(case("3.0.0", false), "yes");
    assert_eq!(case("2.0.1", false), "yes");
    // The repository's latest release: newer than every release of every major.
    assert_eq!(case("1.3.1", true), "no");
    assert_eq!(case("2.0.1", true), "yes");
    // Tags as plain names, as `git tag --list` gives them.
    assert_eq!(should_move(&["1.2.5", "v1.3.0"]).unwrap(), "no");
    assert_eq!(should_move(&["1.2.5"]).unwrap(), "yes");

    let published_already = should_move(&["1.3.0", "refs/tags/v1.3.0"]).unwrap_err();
    assert!(
        published_already.contains("v1.3.0 is published already"),
        "{published_already}"
    );
    let bad = should_move(&["1.3", "v1.2.0"]).unwrap_err();
    assert!(bad.contains("version must be X.Y.Z, got '1.3'"), "{bad}");
}

fn release_workflow() -> Yaml {
    yaml(&std::fs::read_to_string(root().join(".github/workflows/release.yml")).unwrap())
}

/// The text of every `run:` and `with:` of a job: what it does.
fn job_text(job: &Yaml) -> String {
    let mut out = String::new();
    yaml_rust2::YamlEmitter::new(&mut out).dump(job).unwrap();
    out
}

#[test]
fn mutable_tags_move_only_in_the_approved_job_and_only_forward() {
    let workflow = release_workflow();
    let jobs = workflow["jobs"].as_hash().expect("jobs");
    // What moves a major: the git tag vX, and the image tag :X.
    let moving = [
        "refs/tags/v$MAJOR",
        "git tag --force",
        "imagetools create",
        ":${{ needs.prepare.outputs.major }}",
    ];
    for (name, job) in jobs {
        let name = name.as_str().unwrap();
        let text = job_text(job);
        let moves = moving
            .iter()
            .filter(|m| text.contains(*m))
            .collect::<Vec<_>>();
        if name == "publish" {
            assert_eq!(
                job["environment"].as_str(),
                Some("release"),
                "publish is approved"
            );
            for needed in &moving[..3] {
                assert!(text.contains(needed), "publish: {needed}");
            }
        } else {
            assert!(moves.is_empty(), "{name} moves a major tag: {moves:?}");
        }
    }
    // The image job pushes the version's own tag, never the major's.
    let image = &workflow["jobs"]["image"];
    let build = image["steps"]
        .as_vec()
        .unwrap()
        .iter()
        .find(|s| s["id"].as_str() == Some("build"))
        .expect("the build step");
    let tags: Vec<&str> = build["with"]["tags"].as_str().unwrap().lines().collect();
    assert_eq!(
        tags,
        ["${{ needs.prepare.outputs.image }}:${{ needs.prepare.outputs.version }}"]
    );
    // In publish, the major moves as the decision says, from the published tags.
    let publish = job_text(&workflow["jobs"]["publish"]);
    assert!(
        publish.contains(".ci/release-should-move-major"),
        "{publish}"
    );
    assert!(publish.contains("git ls-remote --tags --refs"), "{publish}");
}

#[test]
fn the_binaries_are_built_on_their_own_runners_without_secrets_or_write_permissions() {
    let workflow = release_workflow();
    let build = &workflow["jobs"]["binaries"];
    let text = job_text(build);
    assert!(!text.contains("secrets."), "{text}");
    assert!(build["environment"].is_badvalue(), "no environment: {text}");
    let permissions = build["permissions"]
        .as_hash()
        .expect("explicit permissions");
    for (scope, level) in permissions {
        assert_eq!(level.as_str(), Some("read"), "{scope:?}");
    }
    let matrix = build["strategy"]["matrix"]["include"]
        .as_vec()
        .expect("matrix");
    let mut built: Vec<(String, String, String)> = matrix
        .iter()
        .map(|leg| {
            let s = |k: &str| leg[k].as_str().unwrap_or_else(|| panic!("{k}")).to_string();
            (s("platform"), s("runner"), s("target"))
        })
        .collect();
    built.sort();
    let mut expected: Vec<(String, String, String)> = [
        ("darwin-arm64", "macos-15", "aarch64-apple-darwin"),
        ("darwin-x64", "macos-15-intel", "x86_64-apple-darwin"),
        (
            "linux-arm64",
            "ubuntu-24.04-arm",
            "aarch64-unknown-linux-musl",
        ),
        ("linux-x64", "ubuntu-24.04", "x86_64-unknown-linux-musl"),
        ("win32-x64", "windows-2025", "x86_64-pc-windows-msvc"),
    ]
    .iter()
    .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
    .collect();
    expected.sort();
    assert_eq!(built, expected);
    // The names the native launcher looks for (node's process.platform-process.arch): the
    // release tests above build their binaries from this list.
    assert_eq!(
        PLATFORMS.map(|(p, _)| p).to_vec(),
        [
            "linux-x64",
            "linux-arm64",
            "darwin-x64",
            "darwin-arm64",
            "win32-x64"
        ]
    );
    // Built by the Rust of the image's builder, as the step that reads the Dockerfile finds it.
    let steps = build["steps"].as_vec().unwrap();
    let find = steps
        .iter()
        .find(|s| s["id"].as_str() == Some("rust"))
        .expect("the step that finds the Rust version");
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("output");
    let run = Command::new("bash")
        .args(["-e", "-c", find["run"].as_str().unwrap()])
        .current_dir(root())
        .env("GITHUB_OUTPUT", &output)
        .output()
        .expect("bash runs");
    assert!(run.status.success(), "{}", output_text(&run));
    let dockerfile = std::fs::read_to_string(root().join("Dockerfile")).unwrap();
    let builder = dockerfile
        .lines()
        .find(|l| l.starts_with("FROM ") && l.ends_with(" AS builder"))
        .expect("the builder");
    let tag = builder.split(" rust:").nth(1).expect("a rust image");
    let version = tag.split('-').next().unwrap();
    assert_eq!(
        std::fs::read_to_string(&output).unwrap(),
        format!("version={version}\n")
    );
    let toolchain = steps
        .iter()
        .find(|s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("dtolnay/rust-toolchain@"))
        })
        .expect("the toolchain step");
    assert_eq!(
        toolchain["with"]["toolchain"].as_str(),
        Some("${{ steps.rust.outputs.version }}")
    );
    // Windows: the C runtime linked in, so no Visual C++ redistributable is needed.
    assert!(text.contains("+crt-static"), "{text}");
    // The job that makes the release commits receives them.
    let publish = &workflow["jobs"]["publish"];
    let needs: Vec<&str> = publish["needs"]
        .as_vec()
        .unwrap()
        .iter()
        .filter_map(Yaml::as_str)
        .collect();
    assert!(needs.contains(&"binaries"), "{needs:?}");
    assert!(job_text(publish).contains(".ci/release-commit"));
}
