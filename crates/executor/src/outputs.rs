//! A task's declared outputs in the content-addressed store: captured after it ran,
//! restored instead of running it.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use cas::{ActionResult, CasError, OutputFile, OutputSymlink, Store};

/// Why outputs could not be captured or restored.
#[derive(Debug)]
pub enum OutputError {
    /// A declared output was not produced.
    Missing(PathBuf),
    /// A declared output is not under the output root.
    Outside {
        /// The output.
        path: PathBuf,
        /// The root outputs must be under.
        root: PathBuf,
    },
    /// A file operation failed.
    Io(PathBuf, io::Error),
    /// The store failed.
    Store(CasError),
}

impl std::fmt::Display for OutputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OutputError::Missing(p) => {
                write!(f, "declared output {} was not produced", p.display())
            }
            OutputError::Outside { path, root } => write!(
                f,
                "declared output {} is not under {}",
                path.display(),
                root.display()
            ),
            OutputError::Io(p, e) => write!(f, "{}: {e}", p.display()),
            OutputError::Store(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for OutputError {}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> OutputError + '_ {
    move |e| OutputError::Io(path.to_owned(), e)
}

fn relative(root: &Path, path: &Path) -> Result<String, OutputError> {
    path.strip_prefix(root)
        .map(|p| p.to_string_lossy().into_owned())
        .map_err(|_| OutputError::Outside {
            path: path.to_owned(),
            root: root.to_owned(),
        })
}

/// Puts the declared outputs (files or directory trees) into the store and describes
/// them, with paths relative to `root`.
pub fn capture(
    store: &Store,
    root: &Path,
    outputs: &[PathBuf],
) -> Result<ActionResult, OutputError> {
    let mut result = ActionResult::default();
    for output in outputs {
        if fs::symlink_metadata(output).is_err() {
            return Err(OutputError::Missing(output.clone()));
        }
        let mut pending = vec![output.clone()];
        while let Some(path) = pending.pop() {
            let metadata = fs::symlink_metadata(&path).map_err(io_at(&path))?;
            let name = relative(root, &path)?;
            if metadata.is_dir() {
                result.output_directories.push(name);
                for entry in fs::read_dir(&path).map_err(io_at(&path))? {
                    pending.push(entry.map_err(io_at(&path))?.path());
                }
            } else if metadata.file_type().is_symlink() {
                let target = fs::read_link(&path).map_err(io_at(&path))?;
                result.output_symlinks.push(OutputSymlink {
                    path: name,
                    target: target.to_string_lossy().into_owned(),
                });
            } else {
                let digest = store.put_file(&path).map_err(OutputError::Store)?;
                result.output_files.push(OutputFile {
                    path: name,
                    digest,
                    executable: metadata.permissions().mode() & 0o111 != 0,
                });
            }
        }
    }
    // The same outputs give the same description, whatever order the directory had.
    result.output_directories.sort();
    result.output_symlinks.sort_by(|a, b| a.path.cmp(&b.path));
    result.output_files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(result)
}

/// Replaces the declared outputs under `root` with what `result` describes.
pub fn restore(
    store: &Store,
    root: &Path,
    outputs: &[PathBuf],
    result: &ActionResult,
) -> Result<(), OutputError> {
    for output in outputs {
        match fs::symlink_metadata(output) {
            Ok(m) if m.is_dir() => fs::remove_dir_all(output).map_err(io_at(output))?,
            Ok(_) => fs::remove_file(output).map_err(io_at(output))?,
            Err(_) => {}
        }
    }
    for dir in &result.output_directories {
        let path = root.join(dir);
        fs::create_dir_all(&path).map_err(io_at(&path))?;
    }
    for file in &result.output_files {
        let path = root.join(&file.path);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(io_at(parent))?;
        }
        store
            .get_to_file(&file.digest, &path, file.executable)
            .map_err(OutputError::Store)?;
    }
    for link in &result.output_symlinks {
        let path = root.join(&link.path);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(io_at(parent))?;
        }
        std::os::unix::fs::symlink(&link.target, &path).map_err(io_at(&path))?;
    }
    Ok(())
}
