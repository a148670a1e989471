//! File inputs: paths in the job's workspace, which is all of the runner's disk that the
//! action's container sees (mounted as `GITHUB_WORKSPACE`, `/github/workspace`). A file to
//! read (`entitiesFile`) must exist inside the workspace once `..` and symbolic links are
//! followed; a file to write (`outputFile`) must land inside it, through no link. Both are
//! checked before any request, and an absolute path of the runner's host (what
//! `${{ github.workspace }}/x.json` gives) is refused with the relative path to write instead.

use std::io::ErrorKind;
use std::path::{Component, Path, PathBuf};

use super::{printable, shown, InputError};
use crate::Env;

/// A file in the workspace, as the input gave it and as the action opens it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkspaceFile {
    /// The input's text, trimmed.
    pub given: String,
    /// The file's canonical path, inside the workspace.
    pub path: PathBuf,
}

/// Resolves `given`, the value of `input`, against the workspace: `GITHUB_WORKSPACE`, or the
/// current directory when the runner did not set it (a container action starts there).
pub(super) fn workspace_file(
    input: &'static str,
    given: &str,
    env: &Env,
) -> Result<WorkspaceFile, InputError> {
    let workspace = match env.get("GITHUB_WORKSPACE").filter(|w| !w.is_empty()) {
        Some(w) => PathBuf::from(w),
        None => std::env::current_dir()
            .map_err(|e| InputError::new(input, format!("cannot be read: no workspace ({e})")))?,
    };
    let ws = printable(&workspace.display().to_string());
    let as_given = lexical(&workspace).unwrap_or_else(|| workspace.clone());
    let workspace = workspace.canonicalize().map_err(|e| {
        InputError::new(
            input,
            format!("cannot be read: the workspace {ws} cannot be opened ({e})"),
        )
    })?;
    let given_shown = shown(given);
    let path = Path::new(given);
    let relative = if path.is_absolute() {
        let inside = lexical(path).and_then(|p| {
            [&workspace, &as_given]
                .into_iter()
                .find_map(|w| p.strip_prefix(w).ok().map(Path::to_path_buf))
        });
        match inside {
            Some(inside) => inside,
            None => {
                let instead = match host_relative(path, env.get("GITHUB_REPOSITORY")) {
                    Some(rel) => format!("write it relative to the workspace: {}", printable(&rel)),
                    None => "write it relative to the workspace, without ${{ github.workspace }}"
                        .to_string(),
                };
                return Err(InputError::new(
                    input,
                    format!(
                        "is {given_shown}, an absolute path outside the workspace: the action \
                         runs in a container that sees only the workspace, as {ws}; {instead}"
                    ),
                ));
            }
        }
    } else {
        lexical(path).ok_or_else(|| {
            InputError::new(
                input,
                format!(
                    "is {given_shown}, which is outside the workspace ({ws}), the only folder \
                     the action's container sees: put the file in the workspace and write its \
                     path relative to it"
                ),
            )
        })?
    };
    let full = workspace.join(&relative);
    let outside_through_link = || {
        InputError::new(
            input,
            format!(
                "is {given_shown}, a symbolic link to a file outside the workspace ({ws}), \
                 which the action's container cannot see: copy the file into the workspace"
            ),
        )
    };
    let canonical = match full.canonicalize() {
        Ok(c) => c,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            if links_outside(&full, &workspace) {
                return Err(outside_through_link());
            }
            return Err(InputError::new(
                input,
                format!(
                    "is {given_shown}, which does not exist in the workspace ({ws}): write the \
                     path relative to the workspace, and check out the repository or write the \
                     file in an earlier step of the job"
                ),
            ));
        }
        Err(e) => {
            return Err(InputError::new(
                input,
                format!("is {given_shown}, which cannot be read: {e}"),
            ))
        }
    };
    if !canonical.starts_with(&workspace) {
        return Err(outside_through_link());
    }
    if canonical.is_dir() {
        return Err(InputError::new(
            input,
            format!("is {given_shown}, a directory: name the file in it"),
        ));
    }
    if let Some(kind) = special_kind(&canonical) {
        return Err(InputError::new(
            input,
            format!("is {given_shown}, {kind}, not a regular file: {SPECIAL_HINT}"),
        ));
    }
    Ok(WorkspaceFile {
        given: given.to_string(),
        path: canonical,
    })
}

/// What to do about a special file: reading or writing one can block for ever, before the
/// step could notice its deadline or a cancellation.
const SPECIAL_HINT: &str = "a named pipe or a device can block the step for ever; write the \
                            entities to a file first";

/// What `path` is when it exists and is neither a regular file nor a directory (a named pipe,
/// a socket, a device), as words; found without opening it, which could block.
fn special_kind(path: &Path) -> Option<&'static str> {
    let kind = std::fs::metadata(path).ok()?.file_type();
    if kind.is_file() || kind.is_dir() {
        return None;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt as _;
        if kind.is_fifo() {
            return Some("a named pipe (FIFO)");
        }
        if kind.is_socket() {
            return Some("a socket");
        }
        if kind.is_char_device() || kind.is_block_device() {
            return Some("a device");
        }
    }
    Some("a special file")
}

/// `path` with `.` dropped and each `..` taking off the component before it; `None` when a
/// `..` would climb above the start (or the root).
fn lexical(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if !matches!(out.components().next_back(), Some(Component::Normal(_))) {
                    return None;
                }
                out.pop();
            }
            other => out.push(other),
        }
    }
    Some(out)
}

/// Whether `full`, which does not resolve, is a symbolic link whose target lies outside
/// `workspace` (as seen from inside the container: a link to the runner's host, say).
fn links_outside(full: &Path, workspace: &Path) -> bool {
    let Ok(target) = std::fs::read_link(full) else {
        return false;
    };
    let target = match full.parent() {
        Some(parent) if target.is_relative() => parent.join(target),
        _ => target,
    };
    lexical(&target).is_none_or(|t| !t.starts_with(workspace))
}

/// The path to write instead of an absolute path of the runner's host: the part after the
/// host's workspace, which the runner names `…/{repository}/{repository}` (e.g.
/// `/home/runner/work/payments/payments/port/entities.json` gives `port/entities.json`).
fn host_relative(path: &Path, repository: Option<&String>) -> Option<String> {
    let name = repository?.rsplit('/').next().filter(|n| !n.is_empty())?;
    let parts: Vec<&str> = path.iter().filter_map(|p| p.to_str()).collect();
    let at = parts.windows(2).rposition(|w| w == [name, name])?;
    let rest = &parts[at + 2..];
    (!rest.is_empty()).then(|| rest.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lexical_paths_stay_below_their_start() {
        assert_eq!(lexical(Path::new("a/./b/../c")), Some(PathBuf::from("a/c")));
        assert_eq!(lexical(Path::new("a/../../c")), None);
        assert_eq!(lexical(Path::new("../c")), None);
        assert_eq!(lexical(Path::new("/x/../../c")), None);
        assert_eq!(lexical(Path::new("/x/y/../c")), Some(PathBuf::from("/x/c")));
    }

    #[test]
    fn a_host_path_gives_the_part_after_the_repository_twice() {
        let repo = "acme/payments".to_string();
        let host = Path::new("/home/runner/work/payments/payments/port/entities.json");
        assert_eq!(
            host_relative(host, Some(&repo)).as_deref(),
            Some("port/entities.json")
        );
        // A self-hosted runner's `_work`, and a job container's `/__w`.
        let host = Path::new("/__w/payments/payments/x.json");
        assert_eq!(host_relative(host, Some(&repo)).as_deref(), Some("x.json"));
        assert_eq!(host_relative(Path::new("/tmp/x.json"), Some(&repo)), None);
        assert_eq!(host_relative(host, None), None);
    }
}

/// The input that names the file GET and SEARCH write.
const OUTPUT_INPUT: &str = "outputFile";

/// Where GET and SEARCH write their result (`outputFile`): a file inside the workspace,
/// however it is spelled and wherever the links already in the workspace lead; it need not
/// exist yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputFile {
    /// The path relative to the workspace, as later steps (whose working directory is the
    /// workspace) open it: the `file` output.
    pub relative: String,
    /// The path the file is written to.
    pub path: PathBuf,
}

/// Checks `value` against the workspace `workspace` (`$GITHUB_WORKSPACE`); `repository`
/// (`GITHUB_REPOSITORY`) helps say what to write instead of an absolute path of the runner.
pub(super) fn parse_output_file(
    value: &str,
    workspace: Option<&str>,
    repository: Option<&String>,
) -> Result<OutputFile, InputError> {
    let error = |what: String| InputError::new(OUTPUT_INPUT, what);
    let shown = shown(value);
    let Some(workspace) = workspace.filter(|w| !w.is_empty()) else {
        return Err(error(
            "needs $GITHUB_WORKSPACE, the workspace the file is written in (GitHub's runners \
             set it)"
                .into(),
        ));
    };
    let workspace = Path::new(workspace);
    let given = Path::new(value);
    if given
        .components()
        .any(|c| matches!(c, Component::ParentDir))
    {
        return Err(error(format!(
            "{shown} may leave the workspace: write a path inside it without '..', such as \
             'out/entities.json'"
        )));
    }
    let relative = if given.is_absolute() {
        given.strip_prefix(workspace).map_err(|_| {
            let instead = host_relative(given, repository)
                .map(|rel| format!("write it relative to the workspace: {}", printable(&rel)))
                .unwrap_or_else(|| {
                    "write a path relative to the workspace, such as 'out/entities.json'".into()
                });
            error(format!(
                "{shown} is outside the workspace ({}): {instead}",
                workspace.display()
            ))
        })?
    } else {
        given
    };
    let relative: PathBuf = relative
        .components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .collect();
    if relative.as_os_str().is_empty() || value.ends_with('/') {
        return Err(error(format!(
            "{shown} names a directory: write a file's path, such as 'out/entities.json'"
        )));
    }
    let path = workspace.join(&relative);
    check_links(&path, workspace, value)?;
    Ok(OutputFile {
        relative: relative.to_string_lossy().into_owned(),
        path,
    })
}

/// Refuses a path that a link already in the workspace leads out of it, and an existing link
/// or directory at the path itself.
fn check_links(path: &Path, workspace: &Path, value: &str) -> Result<(), InputError> {
    let error = |what: String| InputError::new(OUTPUT_INPUT, what);
    let shown = shown(value);
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if meta.file_type().is_symlink() {
            return Err(error(format!(
                "{shown} is a symbolic link: write the path of a regular file, or remove the \
                 link first"
            )));
        }
        if meta.is_dir() {
            return Err(error(format!(
                "{shown} is a directory: write a file's path, such as 'out/entities.json'"
            )));
        }
        if let Some(kind) = special_kind(path) {
            return Err(error(format!(
                "{shown} is {kind}, not a regular file: a named pipe or a device can block \
                 the step for ever; write a path where a regular file can be written"
            )));
        }
    }
    let Ok(root) = workspace.canonicalize() else {
        return Err(error(format!(
            "needs the workspace {} to exist",
            workspace.display()
        )));
    };
    // The deepest directory on the way that exists: where the links (if any) lead.
    let existing = path
        .ancestors()
        .skip(1)
        .find(|a| a.exists())
        .and_then(|a| a.canonicalize().ok());
    match existing {
        Some(dir) if dir.starts_with(&root) => Ok(()),
        _ => Err(error(format!(
            "{shown} leads out of the workspace through a symbolic link: write a path inside \
             it, such as 'out/entities.json'"
        ))),
    }
}
