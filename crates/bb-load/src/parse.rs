//! Parsing every recipe of a build directory: from the parse cache where a recipe's inputs
//! are unchanged, the rest in forked parse workers.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bb_data::{Cooker, DataStore, LogRecord, profile};

use crate::cache::{CacheKey, CachedRecipe, ParseCache};
use crate::{LoadError, Session, Workspace};

/// How [`Workspace::parse_recipes`] parses.
#[derive(Debug, Clone, Copy, Default)]
pub struct ParseOptions {
    /// Skip notes for skipped recipes (`bitbake -p -v`).
    pub verbose: bool,
    /// Every outcome carries its variants' [`bb_data::RecipeInfo`]s (for providers and task
    /// graphs: [`crate::Recipes`]), not only what the summary needs.
    pub with_infos: bool,
    /// Parse everything again (the parse cache is written, not read), measuring where the
    /// time goes ([`RecipeOutcome::profile`]).
    pub profile: bool,
}

impl ParseOptions {
    /// Options for a command that needs the recipe infos.
    pub fn with_infos() -> ParseOptions {
        ParseOptions {
            with_infos: true,
            ..ParseOptions::default()
        }
    }
}

/// What a caller hears of a parse while it runs. Every method does nothing by default.
pub trait ParseObserver {
    /// Lines the configuration's parse logged (`NOTE: …`, `WARNING: …`, `ERROR: …`), in
    /// order, as BitBake prints them; also replayed from the parse cache.
    fn messages(&mut self, _lines: &[String]) {}
    /// Something wrong with the parse cache or the loader itself (`WARNING: …`).
    fn problem(&mut self, _line: &str) {}
    /// Python is about to start: recipes must be parsed. Called before the base
    /// configuration is parsed, so that the caller can set up for parsing (memory
    /// settings).
    fn parsing(&mut self) {}
    /// `done` of `total` recipe files parsed (`0` first, once).
    fn progress(&mut self, _done: usize, _total: usize) {}
}

/// A [`ParseObserver`] that ignores everything.
pub struct NoObserver;

impl ParseObserver for NoObserver {}

/// One recipe file's parse, as a worker measured it.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct RecipeProfile {
    /// The whole parse of the file, with its variants.
    pub time: Duration,
    /// Its steps and python.
    pub profile: profile::Profile,
}

/// What parsing one recipe file gave; a parse worker sends it so.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct RecipeOutcome {
    targets: usize,
    skipped: usize,
    /// Lines for standard error: the recipe's log, skip notes, its error.
    pub messages: Vec<String>,
    /// Whether it failed to parse.
    pub failed: bool,
    /// What the parse cache keeps (a recipe that failed is parsed again next time).
    pub(crate) cache_entry: Option<CachedRecipe>,
    /// Whether it came from the parse cache.
    #[serde(skip)]
    cached: bool,
    /// Where its parse's time went, when profiled.
    pub profile: Option<RecipeProfile>,
}

/// Every recipe of a build directory, parsed or from the parse cache.
#[derive(Debug)]
pub struct ParsedRecipes {
    /// The recipe files, in BitBake's order.
    pub files: bb_data::RecipeFiles,
    /// One outcome per recipe file, in the same order.
    pub outcomes: Vec<RecipeOutcome>,
    /// The configuration's provider settings ([`bb_data::provider_vars`]).
    pub provider_vars: std::collections::HashMap<String, String>,
    /// The layer collections (name, pattern, priority), in BitBake's lookup order.
    pub collections: Vec<bb_data::LayerCollection>,
    /// Each collection's layer directory.
    pub layer_dirs: Vec<(String, PathBuf)>,
    /// How the recipes were parsed, when they were profiled.
    pub times: Option<ParseTimes>,
}

/// How a profiled parse went, besides the recipes' own profiles.
#[derive(Debug, Clone, Copy)]
pub struct ParseTimes {
    /// Parsing the base configuration, before the recipes.
    pub base_configuration: Duration,
    /// How many parse workers there were.
    pub workers: usize,
}

/// The counts of BitBake's parse summary line; its `Display` is that line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseSummary {
    /// Recipe files.
    pub files: usize,
    /// Of which taken from the parse cache.
    pub cached: usize,
    /// Variants (targets) found.
    pub targets: usize,
    /// Of which skipped.
    pub skipped: usize,
    /// Files BBMASK masked.
    pub masked: usize,
    /// Files that failed to parse.
    pub errors: usize,
}

impl std::fmt::Display for ParseSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Parsing of {} .bb files complete ({} cached, {} parsed). {} targets, {} skipped, {} masked, {} errors.",
            self.files,
            self.cached,
            self.files - self.cached,
            self.targets,
            self.skipped,
            self.masked,
            self.errors
        )
    }
}

impl ParsedRecipes {
    /// BitBake's summary of the parse.
    pub fn summary(&self) -> ParseSummary {
        let mut summary = ParseSummary {
            files: self.files.recipes.len(),
            cached: 0,
            targets: 0,
            skipped: 0,
            masked: self.files.masked,
            errors: 0,
        };
        for outcome in &self.outcomes {
            summary.targets += outcome.targets;
            summary.skipped += outcome.skipped;
            summary.errors += usize::from(outcome.failed);
            summary.cached += usize::from(outcome.cached);
        }
        summary
    }
}

fn skip_note(recipe: &Path, variant: &str, reason: &str) -> String {
    let name = taskgraph::virtual_name(&recipe.display().to_string(), variant);
    format!("NOTE: Skipping {name}: {reason}")
}

/// A recipe's outcome from its parse-cache entry.
fn cached_outcome(entry: CachedRecipe, verbose: bool) -> RecipeOutcome {
    let mut outcome = RecipeOutcome {
        targets: entry.variants.len(),
        cached: true,
        ..RecipeOutcome::default()
    };
    for variant in &entry.variants {
        if let Some(reason) = &variant.skipped {
            outcome.skipped += 1;
            if verbose {
                outcome
                    .messages
                    .push(skip_note(&entry.file, &variant.name, reason));
            }
        }
    }
    outcome.cache_entry = Some(entry);
    outcome
}

/// The lines `d`'s log prints, taken from it.
pub(crate) fn log_lines(d: &DataStore) -> Vec<String> {
    d.take_log().iter().filter_map(LogRecord::line).collect()
}

/// How many variants of one recipe file are parsed between two collections of python's
/// cyclic garbage (there is one after each file too).
const GARBAGE_COLLECTED_EVERY: usize = 8;

fn collect_garbage(session: &Session) {
    profile::step("python garbage collection", || {
        session.interpreter().collect_garbage()
    });
}

/// Parses `recipe` (in the layer collection `layer`, or none) with its variants.
fn parse_one(
    cooker: &mut Cooker<'_>,
    session: &Session,
    config: &DataStore,
    appends: &[PathBuf],
    recipe: &Path,
    layer: &str,
    verbose: bool,
) -> RecipeOutcome {
    let mut outcome = RecipeOutcome::default();
    let mut inputs = Vec::new();
    let mut variants = Vec::new();
    // A set beside the list: core-image-ptest's 137 variants each name its ~300 inputs.
    let mut seen_inputs = HashSet::new();
    // Each variant's store is reduced to what is kept of it as soon as it is finalised.
    // Its messages are taken then: in the order they were logged, as BitBake prints them.
    let parsed = cooker.parse_recipe_variants(config, recipe, appends, layer, &mut |variant, d| {
        let info = profile::step("recipe info", || bb_data::RecipeInfo::from_datastore(&d))?;
        if let Some(reason) = &info.skipped
            && verbose
        {
            outcome.messages.push(skip_note(recipe, variant, reason));
        }
        outcome.messages.extend(log_lines(&d));
        let read = profile::step("parse cache inputs", || {
            session.evaluator().read_files(&d, "__depends")
        });
        for input in read.unwrap_or_default() {
            // Most inputs were named by an earlier variant: the path is copied only
            // for a new one.
            if !seen_inputs.contains(&input.path) {
                seen_inputs.insert(input.path.clone());
                inputs.push(input);
            }
        }
        variants.push((variant.to_owned(), info));
        // The python garbage of a file with many variants (cycles that may hold their
        // stores) goes every few variants, not only after the file: core-image-ptest
        // has 150.
        drop(d);
        if variants.len().is_multiple_of(GARBAGE_COLLECTED_EVERY) {
            collect_garbage(session);
        }
        Ok(())
    });
    collect_garbage(session);
    match parsed {
        Ok(()) => {
            outcome.targets = variants.len();
            outcome.skipped = variants
                .iter()
                .filter(|(_, info)| info.skipped.is_some())
                .count();
            variants.sort_by(|a, b| a.0.cmp(&b.0));
            outcome.cache_entry = Some(CachedRecipe::new(
                recipe.to_path_buf(),
                appends.to_vec(),
                inputs,
                variants,
            ));
        }
        Err(err) => {
            tracing::debug!(recipe = %recipe.display(), error = %err, "recipe failed to parse");
            outcome.failed = true;
            outcome.messages.push(format!(
                "ERROR: Unable to parse {}: {err}",
                recipe.display()
            ));
        }
    }
    outcome
}

/// How many recipes are parsed at once: BB_NUMBER_PARSE_THREADS, else every core.
fn parse_workers(config: &DataStore) -> usize {
    config
        .get_var_str("BB_NUMBER_PARSE_THREADS")
        .ok()
        .flatten()
        .and_then(|v| v.trim().parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Identifies this build of the program, so that a parse cache written by another build
/// is never trusted.
fn tool_id() -> String {
    let build = std::env::current_exe()
        .map(|exe| bb_data::FileStamp::of(&exe))
        .ok()
        .and_then(|stamp| stamp.state)
        .map(|(size, modified)| format!("{size}-{modified}"))
        .unwrap_or_default();
    format!("hitzeleiter {} {build}", env!("CARGO_PKG_VERSION"))
}

/// The parse cache, if it applies to this parse at all (same program, environment and base
/// configuration); a broken one is reported and ignored.
fn usable_cache(
    path: &Path,
    key: &CacheKey,
    with_infos: bool,
    observer: &mut dyn ParseObserver,
) -> Option<ParseCache> {
    let loaded = if with_infos {
        ParseCache::load_with_infos(path)
    } else {
        ParseCache::load(path)
    };
    match loaded {
        Ok(Some(cache)) if cache.key == *key && cache.base_is_current() => Some(cache),
        Ok(_) => None,
        Err(err) => {
            tracing::warn!(error = %err, "parse cache not used");
            observer.problem(&format!("WARNING: {err}; parsing everything again"));
            None
        }
    }
}

impl Workspace {
    /// Parses every recipe of BBFILES with its variants. Recipes whose inputs are
    /// unchanged since the last parse come from the parse cache (with nothing changed, no
    /// python starts at all); the others are parsed by BB_NUMBER_PARSE_THREADS forked
    /// worker processes (default: every core), which share the base configuration parsed
    /// once. The parse cache is then written. A recipe that fails is an outcome, not an
    /// error: the summary counts it.
    pub fn parse_recipes(
        &self,
        options: &ParseOptions,
        observer: &mut dyn ParseObserver,
    ) -> Result<ParsedRecipes, LoadError> {
        let _span = tracing::info_span!("parse_recipes").entered();
        let ParseOptions {
            verbose,
            with_infos,
            profile,
        } = *options;
        // Logs are taken whether shown or not: the recipes' stores, copies of the
        // configuration's, would print what is left.
        let no_python = bb_data::Evaluator::new(None);
        let probe = Cooker::new(&no_python, self.cooker_config(false));
        let cache_file = self.parse_cache_path();
        let key = CacheKey {
            tool: tool_id(),
            environment: probe.approved_environment(),
        };
        let mut cache = usable_cache(&cache_file, &key, with_infos, observer).filter(|_| !profile);
        if let Some(cache) = &mut cache
            && let Some(parsed) = all_cached(cache, verbose, observer)?
        {
            tracing::debug!(
                recipes = parsed.outcomes.len(),
                "every recipe from the parse cache"
            );
            return Ok(parsed);
        }
        // The entries reused below go into the new cache: they need their infos.
        let mut cache = match cache {
            Some(_) if !with_infos => usable_cache(&cache_file, &key, true, observer),
            cache => cache,
        };

        observer.parsing();
        let session = self.session(false)?;
        let mut cooker = session.cooker();
        let started = Instant::now();
        let config = cooker.parse_base_configuration()?;
        let base_configuration = started.elapsed();
        let configuration_messages = log_lines(&config);
        observer.messages(&configuration_messages);
        let files = bb_data::collect_recipe_files(&config)?;
        observer.messages(&log_lines(&config));
        let mut outcomes: Vec<Option<RecipeOutcome>> =
            (0..files.recipes.len()).map(|_| None).collect();
        let mut todo = Vec::new();
        for (i, recipe) in files.recipes.iter().enumerate() {
            let appends = bb_data::appends_for(recipe, &files.appends);
            match cache
                .as_mut()
                .and_then(|c| c.take_current_recipe(recipe, &appends))
            {
                Some(entry) => outcomes[i] = Some(cached_outcome(entry, verbose)),
                // Its appends, found here, go to the parse.
                None => todo.push((i, appends)),
            }
        }
        tracing::debug!(
            parse = todo.len(),
            cached = files.recipes.len() - todo.len(),
            "recipes"
        );
        let collections = bb_data::layer_collections(&config)?;
        let mut work = |item: usize| {
            let (index, appends) = &todo[item];
            let recipe = &files.recipes[*index];
            let layer = bb_data::file_collection(&collections, &recipe.display().to_string())
                .map_or("", |c| c.name.as_str());
            if profile {
                bb_data::profile::start();
            }
            let started = Instant::now();
            let mut outcome = parse_one(
                &mut cooker,
                &session,
                &config,
                appends,
                recipe,
                layer,
                verbose,
            );
            outcome.profile = bb_data::profile::take().map(|profile| RecipeProfile {
                time: started.elapsed(),
                profile,
            });
            outcome
        };
        let mut finished = 0;
        observer.progress(0, todo.len());
        let mut done = |item: usize, sent: Result<RecipeOutcome, String>| {
            let recipe = todo[item].0;
            outcomes[recipe] = Some(match sent {
                Ok(outcome) => outcome,
                Err(ended) => RecipeOutcome {
                    failed: true,
                    messages: vec![format!(
                        "ERROR: Unable to parse {}: the parse worker {ended}",
                        files.recipes[recipe].display()
                    )],
                    ..RecipeOutcome::default()
                },
            });
            finished += 1;
            observer.progress(finished, todo.len());
        };
        // The workers' collections must leave the objects they share with this process
        // alone.
        if !todo.is_empty() {
            session.interpreter().freeze_for_fork();
        }
        let workers = parse_workers(&config);
        crate::workers::run(todo.len(), workers, &mut work, &mut done)?;
        // Outcomes are matched to recipes by position: a missing one (a fault in the
        // workers' bookkeeping) is an error, never a shift.
        let mut outcomes = outcomes
            .into_iter()
            .zip(&files.recipes)
            .map(|(outcome, recipe)| {
                outcome.ok_or_else(|| LoadError::NotParsed {
                    file: recipe.clone(),
                })
            })
            .collect::<Result<Vec<RecipeOutcome>, LoadError>>()?;

        let base = BaseConfiguration {
            session: &session,
            config: &config,
            layer_dirs: cooker.layer_dirs(),
            messages: configuration_messages,
        };
        let provider_vars = save_cache(base, key, &mut outcomes, &cache_file, observer)?;
        let layer_dirs = cooker.layer_dirs().to_vec();
        Ok(ParsedRecipes {
            files,
            outcomes,
            provider_vars: provider_vars.into_iter().collect(),
            collections,
            layer_dirs,
            times: profile.then_some(ParseTimes {
                base_configuration,
                workers,
            }),
        })
    }
}

/// What the parse cache keeps of a parsed base configuration.
struct BaseConfiguration<'a> {
    session: &'a Session,
    config: &'a DataStore,
    layer_dirs: &'a [(String, PathBuf)],
    /// The lines its parse printed.
    messages: Vec<String>,
}

/// Writes the parse cache of `outcomes` (a failure to write is reported, not an error:
/// the next parse parses again); returns the configuration's provider settings.
fn save_cache(
    base: BaseConfiguration<'_>,
    key: CacheKey,
    outcomes: &mut [RecipeOutcome],
    path: &Path,
    observer: &mut dyn ParseObserver,
) -> Result<Vec<(String, String)>, LoadError> {
    let evaluator = base.session.evaluator();
    let mut base_inputs = evaluator.read_files(base.config, "__base_depends")?;
    base_inputs.extend(bb_data::python_library_files(
        &evaluator.python_library_dirs(),
    ));
    let provider_vars = bb_data::provider_vars(base.config)?;
    // The entries move into the cache to be saved and back out: no copy of them is made.
    let (mut holders, mut entries) = (Vec::new(), Vec::new());
    for (i, outcome) in outcomes.iter_mut().enumerate() {
        if let Some(entry) = outcome.cache_entry.take() {
            entries.push(entry);
            holders.push(i);
        }
    }
    let mut cache = ParseCache::new(
        key,
        base_inputs,
        bb_data::collection_vars(base.config)?,
        provider_vars.clone(),
        base.layer_dirs.to_vec(),
        entries,
    );
    cache.configuration_messages = base.messages;
    if let Err(err) = cache.save(path) {
        tracing::warn!(error = %err, "parse cache not saved");
        observer.problem(&format!("WARNING: {err}"));
    }
    for (i, entry) in holders.into_iter().zip(cache.into_recipes()) {
        outcomes[i].cache_entry = Some(entry);
    }
    Ok(provider_vars)
}

/// Every recipe from `cache`, if every one of them is current there.
fn all_cached(
    cache: &mut ParseCache,
    verbose: bool,
    observer: &mut dyn ParseObserver,
) -> Result<Option<ParsedRecipes>, LoadError> {
    let store = cache.collection_store()?;
    let files = bb_data::collect_recipe_files(&store)?;
    let appends: Vec<Vec<PathBuf>> = files
        .recipes
        .iter()
        .map(|recipe| bb_data::appends_for(recipe, &files.appends))
        .collect();
    // Checked before any entry is taken: otherwise the caller parses, reusing the cache.
    let all_current = files
        .recipes
        .iter()
        .zip(&appends)
        .all(|(recipe, appends)| cache.current_recipe(recipe, appends).is_some());
    if !all_current {
        return Ok(None);
    }
    let outcomes: Option<Vec<RecipeOutcome>> = files
        .recipes
        .iter()
        .zip(&appends)
        .map(|(recipe, appends)| {
            cache
                .take_current_recipe(recipe, appends)
                .map(|entry| cached_outcome(entry, verbose))
        })
        .collect();
    let Some(outcomes) = outcomes else {
        // A recipe file named twice: the cache holds it once.
        return Ok(None);
    };
    observer.messages(&cache.configuration_messages);
    observer.messages(&log_lines(&store));
    Ok(Some(ParsedRecipes {
        outcomes,
        provider_vars: cache.provider_vars.iter().cloned().collect(),
        collections: bb_data::layer_collections(&store)?,
        layer_dirs: cache.layer_dirs.clone(),
        times: None,
        files,
    }))
}
