//! Every parsed recipe indexed for provider lookups, and a target name resolved to the
//! recipe file BitBake would use for it.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use taskgraph::{
    FileId, Notice, ProviderSettings, Recipe, RecipeCache, ResolveError, TargetError, TaskData,
    TaskGraph,
};

use crate::cache::CachedRecipe;
use crate::{LoadError, ParsedRecipes, RecipeTarget};

/// Every parsed recipe variant, indexed as BitBake's `CacheData`, with the parse it came
/// from.
///
/// A variant's tasks and dependencies (most of what a parse keeps of it) are decoded when
/// a command reaches it: [`Recipes::resolve`] decodes the providers of the name it
/// resolves, [`Recipes::task_graph`] the recipes its targets may need,
/// [`Recipes::decode_all`] every variant (for code that walks all recipes' tasks).
#[derive(Debug)]
pub struct Recipes {
    cache: RecipeCache,
    /// The parse: files, outcomes (their cache entries moved here), provider settings,
    /// layers.
    pub parsed: ParsedRecipes,
    /// What reading the provider settings logged (a malformed PREFERRED_PROVIDERS entry).
    pub notices: Vec<Notice>,
    /// The recipes whose variants' infos are not decoded yet, with each variant's id in
    /// `cache` (none for a skipped one).
    undecoded: Vec<Option<(CachedRecipe, Vec<Option<FileId>>)>>,
    /// A variant's recipe in `undecoded`.
    recipe_of: HashMap<FileId, usize>,
}

/// How a name is resolved to a recipe, as the BitBake front end it stands for does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// As a build target (`bitbake -e NAME`): `:do_task` dropped; PROVIDES, preferred
    /// provider and version; a name in ASSUME_PROVIDED is refused.
    BuildTarget,
    /// As tinfoil does (`bitbake-getvar -r NAME`): the cooker's `findBestProvider`, which
    /// also gives the recipe a name in ASSUME_PROVIDED is the PN of.
    Tinfoil,
}

impl Recipes {
    /// Indexes every variant of `parsed` (taking the outcomes' cache entries), with the
    /// configuration's provider settings; `parsed` must come from a parse
    /// [`crate::ParseOptions::with_infos`]. Recipes that failed to parse are not there:
    /// [`ParsedRecipes::summary`] counts them.
    pub fn new(mut parsed: ParsedRecipes) -> Recipes {
        let mut notices = Vec::new();
        let settings = ProviderSettings::from_variables(&parsed.provider_vars, &mut notices);
        let mut cache = RecipeCache::new(settings);
        let mut undecoded = Vec::new();
        let mut recipe_of = HashMap::new();
        for mut entry in parsed
            .outcomes
            .iter_mut()
            .filter_map(|o| o.cache_entry.take())
        {
            let file = entry.file.display().to_string();
            let priority = bb_data::bbfile_priority(&parsed.collections, &file).0;
            let mut ids = vec![None; entry.variants.len()];
            // BitBake adds a file's class-extended variants before the recipe itself.
            let (plain, extended): (Vec<_>, Vec<_>) = entry
                .variants
                .iter_mut()
                .enumerate()
                .partition(|(_, v)| v.name.is_empty());
            for (at, variant) in extended.into_iter().chain(plain) {
                let name = taskgraph::virtual_name(&file, &variant.name);
                let skipped = variant.skipped.is_some();
                cache.add_summary(Recipe {
                    file: name.clone(),
                    info: std::mem::take(&mut variant.providers),
                    priority,
                });
                if !skipped {
                    ids[at] = cache.find(&name);
                }
            }
            for id in ids.iter().flatten() {
                recipe_of.insert(*id, undecoded.len());
            }
            undecoded.push(Some((entry, ids)));
        }
        Recipes {
            cache,
            parsed,
            notices,
            undecoded,
            recipe_of,
        }
    }

    /// The recipes, for providers and task graphs. Only the variants decoded so far have
    /// their tasks and dependencies ([`Recipes::decode_all`]).
    pub fn cache(&self) -> &RecipeCache {
        &self.cache
    }

    /// Decodes every variant's tasks and dependencies.
    pub fn decode_all(&mut self) -> Result<(), LoadError> {
        let _span = tracing::info_span!("decode_all").entered();
        for at in 0..self.undecoded.len() {
            self.decode(at)?;
        }
        Ok(())
    }

    /// The task graph of `targets` ([`taskgraph::resolve_targets`]: `name` or
    /// `name:do_task`, the others running `default_task`, else BB_DEFAULT_TASK, else
    /// `build`). The recipes it may reach are decoded first: every provider of each name
    /// the targets depend on (DEPENDS, RDEPENDS, RRECOMMENDS, the tasks' `[depends]` and
    /// `[rdepends]`), transitively. Should resolving reach another one, every recipe is
    /// decoded and the graph made again: never a graph of recipes without their tasks.
    pub fn task_graph(
        &mut self,
        targets: &[String],
        default_task: Option<&str>,
        notices: &mut Vec<Notice>,
    ) -> Result<TaskGraph, LoadError> {
        let _span = tracing::info_span!("task_graph", targets = targets.len()).entered();
        self.decode_reachable(targets)?;
        let before = notices.len();
        let vars = &self.parsed.provider_vars;
        match taskgraph::resolve_targets(&self.cache, vars, targets, default_task, notices) {
            Err(TargetError::Resolve(ResolveError::Incomplete(file))) => {
                tracing::warn!(
                    file,
                    "a recipe reached was not decoded: decoding every recipe"
                );
                notices.truncate(before);
                self.decode_all()?;
                let vars = &self.parsed.provider_vars;
                Ok(taskgraph::resolve_targets(
                    &self.cache,
                    vars,
                    targets,
                    default_task,
                    notices,
                )?)
            }
            graph => Ok(graph?),
        }
    }

    /// Decodes the recipes `targets` may reach (see [`Recipes::task_graph`]).
    fn decode_reachable(&mut self, targets: &[String]) -> Result<(), LoadError> {
        // (name, whether it is a runtime name)
        let mut names: Vec<(String, bool)> = targets
            .iter()
            .map(|t| {
                (
                    t.split_once(":do_")
                        .map_or(t.as_str(), |(n, _)| n)
                        .to_owned(),
                    false,
                )
            })
            .collect();
        let mut seen_names = HashSet::new();
        let mut visited = HashSet::new();
        while let Some((name, runtime)) = names.pop() {
            if !seen_names.insert((name.clone(), runtime)) {
                continue;
            }
            let providers = if runtime {
                self.cache.runtime_providers(&name)
            } else {
                self.cache.providers_of(&name).to_vec()
            };
            for id in providers {
                if !visited.insert(id) {
                    continue;
                }
                if let Some(&at) = self.recipe_of.get(&id) {
                    self.decode(at)?;
                }
                dependency_names(&self.cache.recipe(id).info, &mut names);
            }
        }
        tracing::debug!(
            recipes = visited.len(),
            "decoded the recipes the targets may reach"
        );
        Ok(())
    }

    /// Decodes the variants of the recipe at `at` in `undecoded`, if not done yet.
    fn decode(&mut self, at: usize) -> Result<(), LoadError> {
        let Some((entry, ids)) = self.undecoded[at].take() else {
            return Ok(());
        };
        let infos = entry.decode_infos()?;
        for (id, info) in ids.into_iter().zip(infos) {
            if let Some(id) = id {
                self.cache.complete(id, info);
            }
        }
        Ok(())
    }

    /// The recipe file and variant BitBake shows for `name`, resolved as `how` says. A
    /// skipped recipe is refused with BitBake's reasons. What resolving logs is added to
    /// `notices` (for a build target; tinfoil logs nothing).
    pub fn resolve(
        &mut self,
        name: &str,
        how: Resolution,
        notices: &mut Vec<Notice>,
    ) -> Result<RecipeTarget, LoadError> {
        let _span = tracing::info_span!("resolve", name).entered();
        // The name without `:do_task` (BitBake's buildTaskData: `bitbake -e zlib:do_compile`
        // shows zlib). What resolving reads of the recipes beyond their providers: the
        // tasks of those that provide it.
        let provided = name.split_once(":do_").map_or(name, |(recipe, _)| recipe);
        let reached: Vec<usize> = self
            .cache
            .providers_of(provided)
            .iter()
            .filter_map(|id| self.recipe_of.get(id).copied())
            .collect();
        for at in reached {
            self.decode(at)?;
        }
        let cache = &self.cache;
        let vars = &self.parsed.provider_vars;
        let mut taskdata = TaskData::new(true, true);
        let file = match how {
            Resolution::Tinfoil => {
                match taskgraph::cooker_best_provider(cache, vars, name, &mut Vec::new()) {
                    Some(file) => Some(file),
                    None => {
                        // TaskData words BitBake's reasons (skipped, …), as tinfoil asks it
                        // for them.
                        taskdata.add_provider(cache, vars, name)?;
                        None
                    }
                }
            }
            Resolution::BuildTarget => {
                let assumed = vars
                    .get("ASSUME_PROVIDED")
                    .map(String::as_str)
                    .unwrap_or_default();
                if assumed
                    .split_whitespace()
                    .any(|assumed| assumed == provided)
                {
                    return Err(LoadError::AssumeProvided {
                        name: provided.to_owned(),
                    });
                }
                taskdata.add_provider(cache, vars, provided)?;
                notices.append(&mut taskdata.notices);
                taskdata.build_providers(provided).first().copied()
            }
        };
        let file = file.ok_or_else(|| LoadError::NothingProvides {
            name: name.to_owned(),
        })?;
        let (real, variant) = taskgraph::real_file(&cache.recipe(file).file);
        let file = PathBuf::from(real);
        tracing::debug!(file = %file.display(), variant, "resolved");
        Ok(RecipeTarget {
            appends: bb_data::appends_for(&file, &self.parsed.files.appends),
            file,
            variant: variant.to_owned(),
        })
    }
}

/// The names `info` depends on, each with whether it is a runtime name: DEPENDS, the
/// runtime names the task data takes ([`taskgraph::runtime_dependencies`]), and the names
/// of its tasks' `[depends]` and `[rdepends]` (`name:do_task`).
fn dependency_names(info: &bb_data::RecipeInfo, names: &mut Vec<(String, bool)>) {
    names.extend(info.depends.iter().map(|n| (n.clone(), false)));
    let runtime = taskgraph::runtime_dependencies(info);
    names.extend(runtime.into_iter().map(|n| (n, true)));
    for task in &info.tasks {
        for (flag, runtime) in [("depends", false), ("rdepends", true)] {
            for word in task.flag_words(flag) {
                if let Some((name, _)) = word.split_once(':') {
                    names.push((name.to_owned(), runtime));
                }
            }
        }
    }
}
