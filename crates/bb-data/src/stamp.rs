//! The state of the files a parse read: what a parse cache records of its inputs, and the
//! configuration values it keeps so that later commands need no parse of the configuration.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};

use crate::{DataError, DataStore, Value};

/// The state of one input file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileStamp {
    /// The file.
    pub path: PathBuf,
    /// Size and modification time (ns since the epoch); `None` when it did not exist.
    pub state: Option<(u64, u128)>,
}

impl FileStamp {
    /// The file's state now.
    pub fn of(path: &Path) -> FileStamp {
        let state = std::fs::metadata(path).ok().map(|m| {
            let modified = m
                .modified()
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            (m.len(), modified)
        });
        FileStamp {
            path: path.to_owned(),
            state,
        }
    }

    /// Whether the file is still as recorded.
    pub fn is_current(&self) -> bool {
        FileStamp::of(&self.path).state == self.state
    }
}

/// The files a datastore read or looked for (`__base_depends` for a base configuration,
/// `__depends` for a recipe), each with the state `stamp` gives.
pub(crate) fn read_files(
    d: &DataStore,
    var: &str,
    stamp: impl Fn(&Path) -> FileStamp,
) -> Result<Vec<FileStamp>, DataError> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    if let Some(Value::List(entries)) = d.get_var_raw(var)? {
        for entry in entries {
            let path = match entry {
                Value::List(pair) => pair.first().map(Value::to_string),
                other => Some(other.to_string()),
            };
            if let Some(path) = path
                && seen.insert(path.clone())
            {
                out.push(stamp(Path::new(&path)));
            }
        }
    }
    Ok(out)
}

/// What choosing providers reads from the configuration, expanded, after the keys are
/// expanded as BitBake does for it: every variable named PREFERRED_VERSION*,
/// PREFERRED_PROVIDER*, PREFERRED_RPROVIDER* or REQUIRED_VERSION* (also under the name
/// without its override suffix, as a lookup applies OVERRIDES), ASSUME_PROVIDED,
/// PREFERRED_PROVIDERS, BB_MULTI_PROVIDER_ALLOWED, BB_DEFAULT_TASK and INHERIT.
pub fn provider_vars(config: &DataStore) -> Result<Vec<(String, String)>, DataError> {
    const PREFIXES: [&str; 4] = [
        "PREFERRED_VERSION",
        "PREFERRED_PROVIDER",
        "PREFERRED_RPROVIDER",
        "REQUIRED_VERSION",
    ];
    const NAMES: [&str; 5] = [
        "ASSUME_PROVIDED",
        "PREFERRED_PROVIDERS",
        "BB_MULTI_PROVIDER_ALLOWED",
        "BB_DEFAULT_TASK",
        "INHERIT",
    ];
    let d = config.create_copy();
    d.expand_keys()?;
    let mut names: BTreeSet<String> = NAMES.iter().map(|n| (*n).to_owned()).collect();
    for key in d.keys()? {
        if PREFIXES.iter().any(|p| key.starts_with(p)) {
            if let Some((base, _)) = key.split_once(':') {
                names.insert(base.to_owned());
            }
            names.insert(key);
        }
    }
    let mut out = Vec::new();
    for name in names {
        if let Some(value) = d.get_var_str(&name)? {
            out.push((name, value));
        }
    }
    Ok(out)
}

/// The variables [`crate::collect_recipe_files`] and [`crate::layer_collections`] read,
/// with their values in `config`.
pub fn collection_vars(config: &DataStore) -> Result<Vec<(String, String)>, DataError> {
    let mut names = vec![
        "BBFILES".to_owned(),
        "BBMASK".to_owned(),
        "BBFILE_COLLECTIONS".to_owned(),
    ];
    for collection in config
        .get_var_str("BBFILE_COLLECTIONS")?
        .unwrap_or_default()
        .split_whitespace()
    {
        names.push(format!("BBFILE_PATTERN_{collection}"));
        names.push(format!("BBFILE_PRIORITY_{collection}"));
        names.push(format!("LAYERDEPENDS_{collection}"));
        names.push(format!("LAYERRECOMMENDS_{collection}"));
    }
    let mut out = Vec::new();
    for name in names {
        if let Some(value) = config.get_var_str(&name)? {
            out.push((name, value));
        }
    }
    Ok(out)
}

/// Every python file below `dirs` (the layers' `addpylib` directories), with its state.
pub fn python_library_files(dirs: &[PathBuf]) -> Vec<FileStamp> {
    fn walk(dir: &Path, out: &mut Vec<FileStamp>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for path in paths {
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n != "__pycache__") {
                    walk(&path, out);
                }
            } else if path.extension().is_some_and(|e| e == "py") {
                out.push(FileStamp::of(&path));
            }
        }
    }
    let mut out = Vec::new();
    for dir in dirs {
        // The directory itself too: a new module appears in its listing.
        out.push(FileStamp::of(dir));
        walk(dir, &mut out);
    }
    out
}
