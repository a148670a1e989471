//! `outputFile`: a path in the workspace that GET and SEARCH write their result to. Checked
//! before any request: it must name a file inside `$GITHUB_WORKSPACE`, however it is spelled
//! and wherever the links already in the workspace lead.

use std::path::{Component, Path, PathBuf};

use super::values::shown;
use super::InputError;

const INPUT: &str = "outputFile";

/// Where the result goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputFile {
    /// The path relative to the workspace, as later steps (whose working directory is the
    /// workspace) open it: the `file` output.
    pub relative: String,
    /// The path the file is written to.
    pub path: PathBuf,
}

/// Checks `value` against the workspace `workspace` (`$GITHUB_WORKSPACE`).
pub(super) fn parse_output_file(
    value: &str,
    workspace: Option<&str>,
) -> Result<OutputFile, InputError> {
    let error = |what: String| InputError::new(INPUT, what);
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
            error(format!(
                "{shown} is outside the workspace ({}): write a path relative to the \
                 workspace, such as 'out/entities.json'",
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
    let error = |what: String| InputError::new(INPUT, what);
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
