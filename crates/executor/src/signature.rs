//! A task's base hash: everything about it that is known before its dependencies run.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::Path;

use bb_data::{DataError, DataStore, Signatures};
use sha2::{Digest, Sha256};

use crate::TaskFlags;

/// Bumped whenever what goes into a base hash changes, so that old cache entries miss.
const HASH_VERSION: &str = "hitzeleiter-task-1";

/// Why a base hash could not be computed.
#[derive(Debug)]
pub enum SignatureError {
    /// Reading the datastore failed.
    Data(DataError),
    /// An input file could not be read.
    Io {
        /// The file.
        path: String,
        /// The error.
        error: io::Error,
    },
}

impl std::fmt::Display for SignatureError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SignatureError::Data(e) => write!(f, "{e}"),
            SignatureError::Io { path, error } => write!(f, "{path}: {error}"),
        }
    }
}

impl std::error::Error for SignatureError {}

impl From<DataError> for SignatureError {
    fn from(e: DataError) -> Self {
        SignatureError::Data(e)
    }
}

fn feed(hasher: &mut Sha256, parts: &[&[u8]]) {
    for part in parts {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
}

/// Hashes a file's contents, or a directory's names and contents recursively.
fn feed_path(hasher: &mut Sha256, path: &Path) -> Result<(), SignatureError> {
    let err = |error| SignatureError::Io {
        path: path.display().to_string(),
        error,
    };
    let metadata = fs::symlink_metadata(path).map_err(err)?;
    if metadata.is_dir() {
        let mut names: Vec<_> = fs::read_dir(path)
            .map_err(err)?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<_, _>>()
            .map_err(err)?;
        names.sort();
        for name in names {
            feed(hasher, &[b"entry", name.as_encoded_bytes()]);
            feed_path(hasher, &path.join(name))?;
        }
    } else if metadata.file_type().is_symlink() {
        let target = fs::read_link(path).map_err(err)?;
        feed(hasher, &[b"symlink", target.as_os_str().as_encoded_bytes()]);
    } else {
        let data = fs::read(path).map_err(err)?;
        feed(hasher, &[b"file", &data]);
    }
    Ok(())
}

/// The base hash of `task` in `d`: the task's code and every variable and function it
/// depends on (BitBake's signature dependencies, without BB_BASEHASH_IGNORE_VARS), the
/// contents of its `[file-checksums]` files, the checksums of SRC_URI for a task that
/// uses the network, and the flags that say how it runs. Dependencies' results are
/// added by the executor when they are known.
///
/// The names and contents of input files are hashed, not where they are, so that the
/// same layer in another directory gives the same hash.
pub fn base_hash(
    d: &DataStore,
    signatures: &Signatures,
    task: &str,
) -> Result<[u8; 32], SignatureError> {
    let mut closure: BTreeMap<String, Option<String>> = BTreeMap::new();
    let mut pending = vec![task.to_owned()];
    while let Some(name) = pending.pop() {
        if closure.contains_key(&name) {
            continue;
        }
        let deps = signatures.dependencies(&name)?;
        pending.extend(deps.deps.into_iter().filter(|d| !closure.contains_key(d)));
        closure.insert(name, deps.value);
    }
    let mut hasher = Sha256::new();
    feed(&mut hasher, &[HASH_VERSION.as_bytes(), task.as_bytes()]);
    for (name, value) in &closure {
        let value = value.as_deref().unwrap_or("None");
        feed(&mut hasher, &[name.as_bytes(), value.as_bytes()]);
    }
    let flags = TaskFlags::read(d, task)?;
    // How it runs, with paths as written before expansion (TMPDIR is not hashed).
    for flag in [
        "dirs",
        "cleandirs",
        "outputs",
        "sysroot-staging",
        "prefuncs",
        "postfuncs",
    ] {
        let raw = d
            .get_var_flag(task, flag, false)?
            .map(|v| v.to_string())
            .unwrap_or_default();
        feed(&mut hasher, &[flag.as_bytes(), raw.as_bytes()]);
    }
    feed(
        &mut hasher,
        &[
            b"noexec",
            &[flags.noexec as u8],
            b"network",
            &[flags.network as u8],
            b"python",
            &[flags.python as u8],
        ],
    );
    if let Some(files) = d.get_var_flag(task, "file-checksums", true)? {
        for entry in files.to_string().split_whitespace() {
            // BitBake's entries are `PATH:EXISTS`.
            let (path, exists) = entry.rsplit_once(':').unwrap_or((entry, "True"));
            let name = Path::new(path)
                .file_name()
                .map(|n| n.as_encoded_bytes().to_vec())
                .unwrap_or_default();
            feed(&mut hasher, &[b"input", &name, exists.as_bytes()]);
            if exists == "True" {
                feed_path(&mut hasher, Path::new(path))?;
            }
        }
    }
    if flags.network {
        // A download's checksum stands for its contents.
        for (flag, value) in d.get_var_flags("SRC_URI") {
            if flag.ends_with("sum") {
                let value = d.expand(&value.to_string())?;
                feed(
                    &mut hasher,
                    &[b"checksum", flag.as_bytes(), value.as_bytes()],
                );
            }
        }
    }
    Ok(hasher.finalize().into())
}
