//! File inputs: paths in the job's workspace (`GITHUB_WORKSPACE`), the only folder a step may
//! read or write: all of the runner's disk that the action's container sees (mounted as
//! `/github/workspace`), and all the native action touches. One rule
//! for every file input, the file to read (`entitiesFile`) and the file to write
//! (`outputFile`) alike: a path relative to the workspace, or an absolute path inside it (the
//! runner translates `${{ github.workspace }}/…` to the container's path; the native action
//! gets the host's); `..` may not lead out of it, nor may a symbolic link; a directory, a named
//! pipe, a socket or a device is refused. All of it is checked before any request, and an
//! absolute path of the runner's host is refused with the relative path to write instead.

use std::io::ErrorKind;
use std::path::{Component, Path, PathBuf};

use super::{printable, shown, InputError};
use crate::Env;

/// A file in the workspace, as the input gave it and as the action opens it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkspaceFile {
    /// The input's text, trimmed.
    pub given: String,
    /// The path relative to the workspace, as later steps (whose working directory is the
    /// workspace) open it: the `file` output of GET and SEARCH.
    pub relative: String,
    /// The path the action opens: inside the workspace.
    pub path: PathBuf,
}

/// What the action does with a file input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Access {
    /// Reads it: it must exist.
    Read,
    /// Writes it, through a link inside the workspace when the path is one: its directories
    /// need not exist yet.
    Write,
}

impl Access {
    /// What is done to the file, in an error.
    fn done(self) -> &'static str {
        match self {
            Access::Read => "read",
            Access::Write => "written",
        }
    }

    /// Where the file is, in the error that the workspace is missing.
    fn place(self) -> &'static str {
        match self {
            Access::Read => "read from",
            Access::Write => "written in",
        }
    }

    /// What to do instead of naming a special file, which can block the step for ever before
    /// it could notice its deadline or a cancellation.
    fn special_hint(self) -> &'static str {
        match self {
            Access::Read => "write the entities to a file first",
            Access::Write => "write a path where a regular file can be written",
        }
    }
}

/// Resolves `given`, the value of `input`, against the workspace `GITHUB_WORKSPACE` by the one
/// rule of the module's documentation.
pub(super) fn workspace_file(
    input: &'static str,
    given: &str,
    env: &Env,
    access: Access,
) -> Result<WorkspaceFile, InputError> {
    let error = |what: String| InputError::new(input, what);
    let Some(workspace) = env.get("GITHUB_WORKSPACE").filter(|w| !w.is_empty()) else {
        return Err(error(format!(
            "needs $GITHUB_WORKSPACE, the workspace the file is {} (GitHub's runners set it)",
            access.place()
        )));
    };
    let workspace = PathBuf::from(workspace);
    let ws = printable(&workspace.display().to_string());
    let as_given = lexical(&workspace).unwrap_or_else(|| workspace.clone());
    let root = workspace.canonicalize().map_err(|e| {
        error(format!(
            "cannot be {}: the workspace {ws} cannot be opened ({e})",
            access.done()
        ))
    })?;
    let given_shown = shown(given);
    let path = Path::new(given);
    let relative = if path.is_absolute() {
        let inside = lexical(path).and_then(|p| {
            [&root, &as_given]
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
                return Err(error(format!(
                    "is {given_shown}, an absolute path outside the workspace, which this step \
                     sees as {ws}, the only folder it may read or write; {instead}"
                )));
            }
        }
    } else {
        lexical(path).ok_or_else(|| {
            error(format!(
                "is {given_shown}, which is outside the workspace ({ws}), the only folder the \
                 step may read or write: put the file in the workspace and write its path \
                 relative to it"
            ))
        })?
    };
    let directory = || {
        error(format!(
            "is {given_shown}, a directory: name the file in it"
        ))
    };
    if relative.as_os_str().is_empty() || given.ends_with(std::path::is_separator) {
        return Err(directory());
    }
    let link_out = || match access {
        Access::Read => error(format!(
            "is {given_shown}, a symbolic link to a file outside the workspace ({ws}), the \
             only folder the step may read or write: copy the file into the workspace"
        )),
        Access::Write => error(format!(
            "is {given_shown}, which leads out of the workspace ({ws}) through a symbolic \
             link: write a path inside it, such as 'out/entities.json'"
        )),
    };
    let full = root.join(&relative);
    let canonical = match full.canonicalize() {
        Ok(c) if !c.starts_with(&root) => return Err(link_out()),
        Ok(c) => Some(c),
        Err(e) if e.kind() == ErrorKind::NotFound => {
            if links_outside(&full, &root) {
                return Err(link_out());
            }
            None
        }
        Err(e) => {
            return Err(error(format!(
                "is {given_shown}, which cannot be {}: {e}",
                access.done()
            )))
        }
    };
    if let Some(c) = &canonical {
        if c.is_dir() {
            return Err(directory());
        }
        if let Some(kind) = special_kind(c) {
            return Err(error(format!(
                "is {given_shown}, {kind}, not a regular file: a named pipe or a device can \
                 block the step for ever; {}",
                access.special_hint()
            )));
        }
    }
    let path = match (access, canonical) {
        (Access::Read, Some(c)) => c,
        (Access::Read, None) => {
            return Err(error(format!(
                "is {given_shown}, which does not exist in the workspace ({ws}): write the \
                 path relative to the workspace, and check out the repository or write the \
                 file in an earlier step of the job"
            )))
        }
        // A link inside the workspace is written through, as it is read through.
        (Access::Write, Some(c)) if is_link(&full) => c,
        (Access::Write, _) => {
            // Where it is not there yet, the deepest directory on the way that is must be
            // inside: a link on the way may lead out.
            let existing = full
                .ancestors()
                .skip(1)
                .find(|a| a.exists())
                .and_then(|a| a.canonicalize().ok());
            if !existing.is_some_and(|dir| dir.starts_with(&root)) {
                return Err(link_out());
            }
            workspace.join(&relative)
        }
    };
    let relative: PathBuf = relative
        .components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .collect();
    Ok(WorkspaceFile {
        given: given.to_string(),
        relative: relative.to_string_lossy().into_owned(),
        path,
    })
}

/// Whether `path` is a symbolic link.
fn is_link(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
}

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
