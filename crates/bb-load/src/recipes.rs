//! Every parsed recipe indexed for provider lookups, and a target name resolved to the
//! recipe file BitBake would use for it.

use std::path::PathBuf;

use taskgraph::{Notice, ProviderSettings, Recipe, RecipeCache, TaskData};

use crate::{LoadError, ParsedRecipes, RecipeTarget};

/// Every parsed recipe variant, indexed as BitBake's `CacheData`, with the parse it came
/// from.
#[derive(Debug)]
pub struct Recipes {
    /// The recipes, for providers and task graphs.
    pub cache: RecipeCache,
    /// The parse: files, outcomes (their infos moved into `cache`), provider settings,
    /// layers.
    pub parsed: ParsedRecipes,
    /// What reading the provider settings logged (a malformed PREFERRED_PROVIDERS entry).
    pub notices: Vec<Notice>,
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
    /// Indexes every variant of `parsed` (moving their infos out of the outcomes), with
    /// the configuration's provider settings. Recipes that failed to parse are not there:
    /// [`ParsedRecipes::summary`] counts them.
    pub fn new(mut parsed: ParsedRecipes) -> Recipes {
        let mut notices = Vec::new();
        let settings = ProviderSettings::from_variables(&parsed.provider_vars, &mut notices);
        let mut cache = RecipeCache::new(settings);
        for entry in parsed
            .outcomes
            .iter_mut()
            .filter_map(|o| o.cache_entry.as_mut())
        {
            let file = entry.file.display().to_string();
            let priority = bb_data::bbfile_priority(&parsed.collections, &file).0;
            // BitBake adds a file's class-extended variants before the recipe itself.
            let (plain, extended): (Vec<_>, Vec<_>) =
                entry.variants.iter_mut().partition(|v| v.name.is_empty());
            for variant in extended.into_iter().chain(plain) {
                cache.add(Recipe {
                    file: taskgraph::virtual_name(&file, &variant.name),
                    info: std::mem::take(&mut variant.info),
                    priority,
                });
            }
        }
        Recipes {
            cache,
            parsed,
            notices,
        }
    }

    /// The recipe file and variant BitBake shows for `name`, resolved as `how` says. A
    /// skipped recipe is refused with BitBake's reasons. What resolving logs is added to
    /// `notices` (for a build target; tinfoil logs nothing).
    pub fn resolve(
        &self,
        name: &str,
        how: Resolution,
        notices: &mut Vec<Notice>,
    ) -> Result<RecipeTarget, LoadError> {
        let _span = tracing::info_span!("resolve", name).entered();
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
                // BitBake's buildTaskData: `bitbake -e zlib:do_compile` shows zlib.
                let name = name.split_once(":do_").map_or(name, |(recipe, _)| recipe);
                let assumed = vars
                    .get("ASSUME_PROVIDED")
                    .map(String::as_str)
                    .unwrap_or_default();
                if assumed.split_whitespace().any(|provided| provided == name) {
                    return Err(LoadError::AssumeProvided {
                        name: name.to_owned(),
                    });
                }
                taskdata.add_provider(cache, vars, name)?;
                notices.append(&mut taskdata.notices);
                taskdata.build_providers(name).first().copied()
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
