//! From the names a user types to the graph: BitBake's virtual file names, provider settings
//! read from the configuration, command-line targets (`name`, `name:do_task`) resolved to
//! their recipes and the task graph they need.

use crate::{
    FileId, GraphError, Level, Notice, ProviderSettings, RecipeCache, ResolveError, Target,
    TaskData, TaskGraph, Variables,
};

/// BitBake's name for a variant of a recipe file (`virtual:native:/…/x.bb`; the file
/// itself for the recipe, variant `""`), as its `realfn2virtual`.
///
/// ```
/// assert_eq!(taskgraph::virtual_name("/l/x.bb", "native"), "virtual:native:/l/x.bb");
/// assert_eq!(taskgraph::real_file("virtual:multilib:lib32:/l/x.bb"), ("/l/x.bb", "multilib:lib32"));
/// assert_eq!(taskgraph::real_file("/l/x.bb"), ("/l/x.bb", ""));
/// ```
pub fn virtual_name(file: &str, variant: &str) -> String {
    match variant {
        "" => file.to_owned(),
        variant => format!("virtual:{variant}:{file}"),
    }
}

/// The real file of a virtual name (`virtual:native:/x.bb` → `/x.bb`) and its variant
/// (everything between, as BitBake's `virtualfn2realfn`).
pub fn real_file(name: &str) -> (&str, &str) {
    match name.strip_prefix("virtual:") {
        Some(rest) => match rest.rfind(':') {
            Some(at) => (&rest[at + 1..], &rest[..at]),
            None => (rest, ""),
        },
        None => (name, ""),
    }
}

/// `do_TASK` for `TASK` or `do_TASK`.
pub fn with_do(task: &str) -> String {
    if task.starts_with("do_") {
        task.to_owned()
    } else {
        format!("do_{task}")
    }
}

fn words(vars: &dyn Variables, var: &str) -> Vec<String> {
    vars.get(var)
        .map(|v| v.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default()
}

impl ProviderSettings {
    /// The settings the configuration gives: ASSUME_PROVIDED, PREFERRED_PROVIDERS
    /// (`providee:provider` entries; a malformed one is an error notice, as BitBake logs it)
    /// and BB_MULTI_PROVIDER_ALLOWED.
    ///
    /// ```
    /// use std::collections::HashMap;
    /// let vars = HashMap::from([
    ///     ("PREFERRED_PROVIDERS".to_owned(), "virtual/x:a oops".to_owned()),
    ///     ("ASSUME_PROVIDED".to_owned(), "git-native".to_owned()),
    /// ]);
    /// let mut notices = Vec::new();
    /// let settings = taskgraph::ProviderSettings::from_variables(&vars, &mut notices);
    /// assert_eq!(settings.preferred_providers["virtual/x"], "a");
    /// assert_eq!(settings.assume_provided, ["git-native"]);
    /// assert_eq!(notices[0].message, "Malformed option in PREFERRED_PROVIDERS variable: oops");
    /// ```
    pub fn from_variables(vars: &dyn Variables, notices: &mut Vec<Notice>) -> ProviderSettings {
        let mut preferred_providers = std::collections::BTreeMap::new();
        for entry in words(vars, "PREFERRED_PROVIDERS") {
            match entry.split_once(':') {
                Some((providee, provider)) => {
                    preferred_providers.insert(providee.to_owned(), provider.to_owned());
                }
                None => notices.push(Notice {
                    level: Level::Error,
                    message: format!("Malformed option in PREFERRED_PROVIDERS variable: {entry}"),
                }),
            }
        }
        ProviderSettings {
            assume_provided: words(vars, "ASSUME_PROVIDED"),
            preferred_providers,
            multi_provider_allowed: words(vars, "BB_MULTI_PROVIDER_ALLOWED"),
        }
    }
}

/// Why targets could not be turned into a task graph.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// A target, or something it needs, has no provider.
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    /// The graph of the resolved targets is not valid.
    #[error(transparent)]
    Graph(#[from] GraphError),
}

/// The task graph of `targets` (`name` or `name:do_task`; the others run `default_task`,
/// else BB_DEFAULT_TASK, else `build`), as BitBake's runqueue builds it from the command
/// line. What BitBake logs on the way (a target in ASSUME_PROVIDED, providers chosen,
/// missing providers) is added to `notices`, also when an error follows.
pub fn resolve_targets(
    cache: &RecipeCache,
    vars: &dyn Variables,
    targets: &[String],
    default_task: Option<&str>,
    notices: &mut Vec<Notice>,
) -> Result<TaskGraph, TargetError> {
    let default_task = default_task
        .map(str::to_owned)
        .or_else(|| vars.get("BB_DEFAULT_TASK"))
        .unwrap_or_else(|| "build".to_owned());
    let assumed = words(vars, "ASSUME_PROVIDED");
    let mut taskdata = TaskData::new(true, true);
    let mut resolved = Vec::new();
    for target in targets {
        if assumed.contains(target) {
            notices.push(Notice {
                level: Level::Warning,
                message: format!("Explicit target \"{target}\" is in ASSUME_PROVIDED, ignoring"),
            });
        }
        let (name, task) = match target.split_once(":do_") {
            Some((name, task)) => (name, with_do(task)),
            None => (target.as_str(), with_do(&default_task)),
        };
        taskdata.add_provider(cache, vars, name)?;
        if let Some(&file) = taskdata.build_providers(name).first() {
            resolved.push(Target {
                name: name.to_owned(),
                task,
                file,
            });
        }
    }
    taskdata.add_unresolved(cache, vars)?;
    notices.append(&mut taskdata.notices);
    let graph = TaskGraph::build(cache, &taskdata, &resolved)?;
    notices.extend(graph.notices.iter().cloned());
    Ok(graph)
}

/// A recipe as [`RecipeListing`] lists it: its (PE, PV) and BitBake's name for its file.
pub type ListedRecipe = ((String, String), String);

/// The recipe BitBake chooses for each PN, with every provider of it: bitbake-layers'
/// `show-recipes` view. Skipped recipes are listed under the name and version their file
/// name gives (they are not parsed far enough to know more), after the parsed ones.
#[derive(Debug, Default)]
pub struct RecipeListing {
    /// PN → every recipe (variant) named so: (PE, PV) and BitBake's name for its file.
    pub all: std::collections::BTreeMap<String, Vec<ListedRecipe>>,
    /// PN → the preferred one.
    pub preferred: std::collections::BTreeMap<String, ListedRecipe>,
    /// File name → why it was skipped.
    pub skip_reasons: std::collections::BTreeMap<String, String>,
}

/// A recipe's name and version as guessed from its file name (`foo_1.0.bb`), as
/// bitbake-layers does for skipped recipes.
fn guess_from_file(file: &str) -> (String, String) {
    let stem = std::path::Path::new(file)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut parts = stem.split('_');
    let pn = parts.next().unwrap_or_default().to_owned();
    (pn, parts.next().unwrap_or("unknown").to_owned())
}

impl RecipeListing {
    /// Every PN of `cache` with its providers and the preferred one
    /// ([`crate::find_best_provider`]), skipped recipes included.
    pub fn new(cache: &RecipeCache, vars: &dyn Variables) -> RecipeListing {
        let mut listing = RecipeListing::default();
        let mut notices = Vec::new();
        for pn in cache.pns() {
            let files: Vec<FileId> = cache.files_of(pn).to_vec();
            for &id in &files {
                let recipe = cache.recipe(id);
                listing.all.entry(pn.to_owned()).or_default().push((
                    (recipe.info.pe.clone(), recipe.info.pv.clone()),
                    recipe.file.clone(),
                ));
            }
            let best = crate::find_best_provider(cache, vars, pn, &files, None, &mut notices);
            if let Some((version, id)) = best.preferred {
                listing.preferred.insert(
                    pn.to_owned(),
                    ((version.0, version.1), cache.recipe(id).file.clone()),
                );
            }
        }
        let mut skipped: Vec<&crate::Recipe> = cache.skipped().iter().collect();
        skipped.sort_by_key(|r| std::cmp::Reverse(r.priority));
        for recipe in skipped {
            listing.skip_reasons.insert(
                recipe.file.clone(),
                recipe.info.skipped.clone().unwrap_or_default(),
            );
            let (pn, version) = guess_from_file(&recipe.file);
            let entry = ((String::new(), version), recipe.file.clone());
            listing
                .all
                .entry(pn.clone())
                .or_default()
                .push(entry.clone());
            listing.preferred.entry(pn).or_insert(entry);
        }
        listing
    }
}
