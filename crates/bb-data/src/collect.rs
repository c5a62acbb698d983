//! Which recipe files a configuration selects: BitBake's `CookerCollectFiles`
//! (BBFILES globs in layer-priority order, BBMASK, bbappends with `%` wildcards).

use std::path::{Path, PathBuf};

use crate::{DataError, DataStore, LogLevel};

/// The recipe and append files of a configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecipeFiles {
    /// `.bb` files, in BitBake's order.
    pub recipes: Vec<PathBuf>,
    /// `.bbappend` files.
    pub appends: Vec<PathBuf>,
    /// Files excluded by BBMASK.
    pub masked: usize,
}

/// A layer collection: name, BBFILE_PATTERN, priority.
#[derive(Debug, Clone)]
struct Collection {
    name: String,
    /// BitBake's patterns are python regular expressions (lookaround included).
    pattern: Option<fancy_regex::Regex>,
    /// Length of BBFILE_PATTERN as written: the longest matching pattern names a file's
    /// layer, so nested layers win.
    pattern_len: usize,
    priority: i64,
}

/// The layer collections, in BBFILE_COLLECTIONS order.
fn collections(d: &DataStore) -> Result<Vec<Collection>, DataError> {
    let mut out = Vec::new();
    for name in d
        .get_var_str("BBFILE_COLLECTIONS")?
        .unwrap_or_default()
        .split_whitespace()
    {
        let pattern = d
            .get_var_str(&format!("BBFILE_PATTERN_{name}"))?
            .unwrap_or_default();
        let priority = d
            .get_var_str(&format!("BBFILE_PRIORITY_{name}"))?
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or(0);
        let pattern_len = pattern.len();
        // BitBake matches the pattern at the start of the path (`re.match`).
        let pattern = (!pattern.is_empty())
            .then(|| fancy_regex::Regex::new(&format!("^(?:{pattern})")).ok())
            .flatten();
        out.push(Collection {
            name: name.to_owned(),
            pattern,
            pattern_len,
            priority,
        });
    }
    Ok(out)
}

/// The collection (layer name) a file belongs to, as `bb.utils.get_file_layer`: the
/// collection with the longest BBFILE_PATTERN that matches the path.
pub fn file_layer_name(d: &DataStore, file: &Path) -> Result<Option<String>, DataError> {
    let text = file.display().to_string();
    let mut best: Option<Collection> = None;
    for collection in collections(d)? {
        let matches = collection
            .pattern
            .as_ref()
            .is_some_and(|p| p.is_match(&text).unwrap_or(false));
        if matches && collection.pattern_len > best.as_ref().map_or(0, |b| b.pattern_len) {
            best = Some(collection);
        }
    }
    Ok(best.map(|c| c.name))
}

/// BitBake's `collect_bbfiles`: BBFILES entries in layer-priority order, each globbed
/// and sorted, then BBMASK.
pub fn collect_recipe_files(d: &DataStore) -> Result<RecipeFiles, DataError> {
    let mut collections = collections(d)?;
    // BitBake looks priorities up highest first.
    collections.sort_by_key(|c| std::cmp::Reverse(c.priority));
    let priority = |entry: &str| {
        collections
            .iter()
            .find(|c| {
                c.pattern
                    .as_ref()
                    .is_some_and(|p| p.is_match(entry).unwrap_or(false))
            })
            .map_or(0, |c| c.priority)
    };
    let mut entries: Vec<String> = d
        .get_var_str("BBFILES")?
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    // A stable sort, lowest priority first, as Python's list.sort.
    entries.sort_by_key(|e| priority(e));
    let mut files: Vec<PathBuf> = Vec::new();
    for entry in &entries {
        let path = Path::new(entry);
        let mut found: Vec<PathBuf> = if path.is_dir() {
            walk(path)
        } else {
            let mut globbed: Vec<PathBuf> = glob::glob(entry)
                .map(|paths| paths.filter_map(Result::ok).collect())
                .unwrap_or_default();
            if globbed.is_empty() && path.exists() {
                globbed.push(path.to_owned());
            }
            globbed.sort();
            globbed
        };
        found.retain(|f| !files.contains(f));
        files.extend(found);
    }
    let mut masks = Vec::new();
    for mask in d
        .get_var_str("BBMASK")?
        .unwrap_or_default()
        .split_whitespace()
    {
        let mask = mask.strip_prefix('|').unwrap_or(mask);
        match fancy_regex::Regex::new(mask) {
            Ok(_) => masks.push(mask.to_owned()),
            Err(_) => d.log(
                LogLevel::Error,
                format!("BBMASK contains an invalid regular expression, ignoring: {mask}"),
            ),
        }
    }
    let mask = (!masks.is_empty())
        .then(|| fancy_regex::Regex::new(&masks.join("|")).ok())
        .flatten();
    let mut result = RecipeFiles::default();
    for file in files {
        let text = file.display().to_string();
        if mask
            .as_ref()
            .is_some_and(|m| m.is_match(&text).unwrap_or(false))
        {
            result.masked += 1;
        } else if text.ends_with(".bb") {
            result.recipes.push(file);
        } else if text.ends_with(".bbappend") {
            result.appends.push(file);
        }
    }
    Ok(result)
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    let mut entries: Vec<_> = entries.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().to_string();
        if path.is_dir() {
            if !["SCCS", "CVS", ".svn"].contains(&name.as_str()) {
                found.extend(walk(&path));
            }
        } else if name.ends_with(".bb") || name.ends_with(".bbappend") {
            found.push(path);
        }
    }
    found
}

/// The bbappends of a recipe: same base name, or a `%` in the append's name matching any
/// rest (`foo_%.bbappend` for `foo_1.0.bb`).
pub fn appends_for(recipe: &Path, appends: &[PathBuf]) -> Vec<PathBuf> {
    let name = recipe
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    appends
        .iter()
        .filter(|append| {
            let base = append
                .file_name()
                .map(|n| n.to_string_lossy().replace(".bbappend", ".bb"))
                .unwrap_or_default();
            base == name
                || base.find('%').is_some_and(|at| {
                    name.get(..at)
                        .is_some_and(|prefix| base.starts_with(prefix))
                })
        })
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_appends_match_any_version() {
        let appends = vec![
            PathBuf::from("/l/foo_%.bbappend"),
            PathBuf::from("/l/foo_1.0.bbappend"),
            PathBuf::from("/l/foo_2.0.bbappend"),
            PathBuf::from("/l/foobar_%.bbappend"),
        ];
        let found = appends_for(Path::new("/m/foo_1.0.bb"), &appends);
        assert_eq!(
            found,
            [
                PathBuf::from("/l/foo_%.bbappend"),
                PathBuf::from("/l/foo_1.0.bbappend")
            ]
        );
    }
}
