//! The parsed recipes as the provider code looks them up: BitBake's `CacheData`
//! (`pkg_pn`, `providers`, `rproviders`, `packages`, …).

use std::collections::BTreeMap;

use bb_data::RecipeInfo;
use rustc_hash::FxHashMap;

/// A recipe variant in a [`RecipeCache`] (the order of ids is the order variants were
/// added in).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FileId(u32);

impl FileId {
    fn index(self) -> usize {
        self.0 as usize
    }
}

/// One parsed recipe variant.
#[derive(Debug, Clone)]
pub struct Recipe {
    /// BitBake's name for it: the recipe file, or `virtual:VARIANT:FILE` for a
    /// BBCLASSEXTEND variant.
    pub file: String,
    /// What parsing it gave.
    pub info: RecipeInfo,
    /// Its file's layer priority (BBFILE_PRIORITY of the layer it belongs to).
    pub priority: i64,
}

/// What the configuration says about providers.
#[derive(Debug, Clone, Default)]
pub struct ProviderSettings {
    /// ASSUME_PROVIDED: names never resolved (exact names, or `^…`/`…$` regexes).
    pub assume_provided: Vec<String>,
    /// PREFERRED_PROVIDERS entries (`providee:provider`).
    pub preferred_providers: BTreeMap<String, String>,
    /// BB_MULTI_PROVIDER_ALLOWED.
    pub multi_provider_allowed: Vec<String>,
}

/// The recipes whose PACKAGES_DYNAMIC has one pattern.
#[derive(Debug)]
struct DynamicPackages {
    pattern: String,
    /// What every name the pattern matches starts with ([`literal_prefix`]): most
    /// lookups are decided by it, without compiling the pattern.
    prefix: String,
    /// Compiled when first matched (`None` if invalid): a large layer stack has thousands
    /// of patterns, and most commands match none of them.
    regex: std::sync::OnceLock<Option<fancy_regex::Regex>>,
    files: Vec<FileId>,
}

impl DynamicPackages {
    fn new(pattern: &str, file: FileId) -> DynamicPackages {
        DynamicPackages {
            prefix: literal_prefix(pattern),
            pattern: pattern.to_owned(),
            regex: std::sync::OnceLock::new(),
            files: vec![file],
        }
    }

    fn matches(&self, name: &str) -> bool {
        if !name.starts_with(&self.prefix) {
            return false;
        }
        self.regex
            .get_or_init(|| {
                // BitBake escapes `+` (package names such as `gtk+3-…`).
                let escaped = self.pattern.replace('+', "\\+");
                fancy_regex::Regex::new(&format!("^(?:{escaped})")).ok()
            })
            .as_ref()
            .is_some_and(|r| r.is_match(name).unwrap_or(false))
    }
}

/// Every parsed recipe variant, indexed the ways BitBake's `CacheData` is. Skipped
/// variants are kept apart: they provide nothing, but say why something is missing.
#[derive(Debug, Default)]
pub struct RecipeCache {
    pub(crate) recipes: Vec<Recipe>,
    /// Whether each variant has its tasks and dependencies ([`RecipeCache::add_summary`]).
    complete: Vec<bool>,
    pub(crate) by_file: FxHashMap<String, FileId>,
    pub(crate) skipped: Vec<Recipe>,
    /// PN → its files, in the order they were added.
    pub(crate) pkg_pn: BTreeMap<String, Vec<FileId>>,
    /// Build-time name (PN or PROVIDES) → files.
    pub(crate) providers: FxHashMap<String, Vec<FileId>>,
    /// PN → everything its files provide.
    pub(crate) pn_provides: FxHashMap<String, Vec<String>>,
    pub(crate) rproviders: FxHashMap<String, Vec<FileId>>,
    pub(crate) packages: FxHashMap<String, Vec<FileId>>,
    /// PACKAGES_DYNAMIC patterns, in the order first seen, with their files.
    packages_dynamic: Vec<DynamicPackages>,
    /// Pattern → index in `packages_dynamic`.
    dynamic_index: FxHashMap<String, usize>,
    pub(crate) settings: ProviderSettings,
    /// ASSUME_PROVIDED entries that are regular expressions, compiled.
    assumed_patterns: Vec<fancy_regex::Regex>,
}

impl RecipeCache {
    /// An empty cache with the configuration's provider settings.
    pub fn new(settings: ProviderSettings) -> RecipeCache {
        let assumed_patterns = settings
            .assume_provided
            .iter()
            .filter(|p| p.starts_with('^') || p.ends_with('$'))
            .filter_map(|p| fancy_regex::Regex::new(&format!("^(?:{p})")).ok())
            .collect();
        RecipeCache {
            settings,
            assumed_patterns,
            ..RecipeCache::default()
        }
    }

    /// Adds a variant, as `CoreRecipeInfo.add_cacheData` (skipped ones go to the skip list).
    pub fn add(&mut self, recipe: Recipe) {
        self.insert(recipe, true);
    }

    /// Adds a variant whose info has only the fields [`RecipeCache::add`] indexes (PN,
    /// versions, PROVIDES, packages, …): a loader that decodes a variant's tasks and
    /// dependencies only when a command reaches it gives them with
    /// [`RecipeCache::complete`]. Resolving tasks of a variant left so is an error
    /// ([`crate::ResolveError::Incomplete`]), never a variant without tasks.
    pub fn add_summary(&mut self, recipe: Recipe) {
        self.insert(recipe, false);
    }

    fn insert(&mut self, recipe: Recipe, complete: bool) {
        if recipe.info.skipped.is_some() {
            self.skipped.push(recipe);
            return;
        }
        let id =
            FileId(u32::try_from(self.recipes.len()).expect("fewer than 2^32 recipe variants"));
        let info = &recipe.info;
        self.by_file.insert(recipe.file.clone(), id);
        self.pkg_pn.entry(info.pn.clone()).or_default().push(id);
        for provide in info.build_provides() {
            self.providers
                .entry(provide.to_owned())
                .or_default()
                .push(id);
            let provides = self.pn_provides.entry(info.pn.clone()).or_default();
            if !provides.iter().any(|p| p == provide) {
                provides.push(provide.to_owned());
            }
        }
        let mut rprovides = info.rprovides.clone();
        for package in &info.packages {
            push_unique(self.packages.entry(package.clone()).or_default(), id);
            rprovides.extend(
                info.rprovides_pkg
                    .get(package)
                    .into_iter()
                    .flatten()
                    .cloned(),
            );
        }
        for rprovide in rprovides {
            push_unique(self.rproviders.entry(rprovide).or_default(), id);
        }
        for pattern in &info.packages_dynamic {
            match self.dynamic_index.get(pattern) {
                Some(&at) => self.packages_dynamic[at].files.push(id),
                None => {
                    self.dynamic_index
                        .insert(pattern.clone(), self.packages_dynamic.len());
                    self.packages_dynamic
                        .push(DynamicPackages::new(pattern, id));
                }
            }
        }
        self.recipes.push(recipe);
        self.complete.push(complete);
    }

    /// The variant with index `id`.
    pub fn recipe(&self, id: FileId) -> &Recipe {
        &self.recipes[id.index()]
    }

    /// The variants that provide `name` at build time (PN or PROVIDES), in the order they
    /// were added.
    pub fn providers_of(&self, name: &str) -> &[FileId] {
        self.providers.get(name).map_or(&[], Vec::as_slice)
    }

    /// Gives variant `id`, added with [`RecipeCache::add_summary`], the whole of its info.
    /// The indexes are kept: `info` must provide what the one added did.
    pub fn complete(&mut self, id: FileId, info: RecipeInfo) {
        self.recipes[id.index()].info = info;
        self.complete[id.index()] = true;
    }

    /// Whether variant `id` has its tasks and dependencies.
    pub fn is_complete(&self, id: FileId) -> bool {
        self.complete[id.index()]
    }

    /// The variant BitBake calls `file` (`virtual:native:/…/x.bb` for a variant).
    pub fn find(&self, file: &str) -> Option<FileId> {
        self.by_file.get(file).copied()
    }

    /// Every PN, sorted.
    pub fn pns(&self) -> impl Iterator<Item = &str> {
        self.pkg_pn.keys().map(String::as_str)
    }

    /// The files of a PN, in the order they were added.
    pub fn files_of(&self, pn: &str) -> &[FileId] {
        self.pkg_pn.get(pn).map_or(&[], Vec::as_slice)
    }

    /// The skipped variants.
    pub fn skipped(&self) -> &[Recipe] {
        &self.skipped
    }

    /// Whether ASSUME_PROVIDED covers `name`.
    pub(crate) fn is_assumed(&self, name: &str) -> bool {
        self.settings.assume_provided.iter().any(|p| p == name)
            || self
                .assumed_patterns
                .iter()
                .any(|r| r.is_match(name).unwrap_or(false))
    }

    /// `getRuntimeProviders`: files that RPROVIDE or package `name`, else those whose
    /// PACKAGES_DYNAMIC matches it.
    pub fn runtime_providers(&self, name: &str) -> Vec<FileId> {
        let mut out: Vec<FileId> = Vec::new();
        out.extend(self.rproviders.get(name).into_iter().flatten());
        out.extend(self.packages.get(name).into_iter().flatten());
        if !out.is_empty() {
            return out;
        }
        for dynamic in &self.packages_dynamic {
            if dynamic.matches(name) {
                out.extend(&dynamic.files);
            }
        }
        out
    }
}

/// The characters every match of PACKAGES_DYNAMIC `pattern` (matched from the start of a
/// name, `+` literal) begins with: its leading plain characters, less the last one when a
/// quantifier follows it; none when the pattern has an alternation or an escape.
fn literal_prefix(pattern: &str) -> String {
    if pattern.contains(['|', '\\']) {
        return String::new();
    }
    let pattern = pattern.strip_prefix('^').unwrap_or(pattern);
    let end = pattern
        .find(|c: char| ".^$*?()[]{}".contains(c))
        .unwrap_or(pattern.len());
    let mut prefix = pattern[..end].to_owned();
    if pattern[end..].starts_with(['*', '?', '{']) {
        prefix.pop();
    }
    prefix
}

fn push_unique(list: &mut Vec<FileId>, id: FileId) {
    if !list.contains(&id) {
        list.push(id);
    }
}

#[cfg(test)]
mod tests {
    use super::literal_prefix;

    #[test]
    fn literal_prefixes_are_what_every_match_starts_with() {
        for (pattern, prefix) in [
            ("perl-module-.*", "perl-module-"),
            ("^gtk+3-locale-.*", "gtk+3-locale-"),
            ("lib(foo|bar)", ""),
            ("python3-ab*c", "python3-a"),
            ("x{2}y", ""),
            ("kernel-module-\\w+", ""),
            ("abc", "abc"),
            ("a?", ""),
        ] {
            assert_eq!(literal_prefix(pattern), prefix, "{pattern}");
        }
    }
}
