//! `hitzeleiter parse` and `hitzeleiter getvar`: BitBake's parse of a build directory.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::rc::Rc;

use bb_data::{Cooker, CookerConfig, DataStore, Evaluator, Event, LogRecord, PythonHost, profile};
use clap::Args;
use serde_json::{Value as Json, json};

/// Where the build directory is (BitBake's working directory).
#[derive(Args, Clone)]
pub(crate) struct BuildDir {
    /// The build directory (default: the current directory; bblayers.conf is searched
    /// from there upwards).
    #[arg(long, global = true, value_name = "DIR")]
    build_dir: Option<PathBuf>,
}

#[derive(Args)]
pub(crate) struct ParseArgs {
    /// Also say which recipes were skipped and why.
    #[arg(short, long)]
    verbose: bool,
    /// Parse every recipe again (the parse cache is not read, only written) and report
    /// where the time went: the steps of a recipe's parse, the costliest anonymous
    /// functions, handlers and inline python, the slowest recipe files.
    #[arg(long)]
    profile: bool,
}

/// How [`parse_recipes`] parses.
#[derive(Default)]
pub(crate) struct ParseOptions {
    /// Skip notes for skipped recipes.
    pub(crate) verbose: bool,
    /// The recipe infos of every recipe are wanted (a graph), not only the summary.
    pub(crate) with_infos: bool,
    /// Parse everything, measuring where the time goes (see [`ParseArgs`]).
    pub(crate) profile: bool,
    /// Which of the configuration's messages are printed.
    pub(crate) shown: Shown,
}

/// The least serious messages a command prints: knotty's console log level, which
/// tinfoil's quiet levels raise (`bitbake-getvar` shows warnings, with `-q` errors).
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum Shown {
    /// Everything.
    #[default]
    Notes,
    /// Warnings and errors.
    Warnings,
    /// Errors.
    Errors,
}

impl Shown {
    /// Whether a message line ([`LogRecord::line`]'s form: `NOTE: …`, `WARNING: …`,
    /// `ERROR: …`, a plain message as is) is printed.
    pub(crate) fn shows(self, line: &str) -> bool {
        match self {
            Shown::Notes => true,
            Shown::Warnings => line.starts_with("WARNING: ") || line.starts_with("ERROR: "),
            Shown::Errors => line.starts_with("ERROR: "),
        }
    }
}

#[derive(Args)]
pub(crate) struct GetvarArgs {
    /// The recipe (PN, or a variant's name such as `m4-native`); default: the global
    /// configuration.
    #[arg(short = 'r', long)]
    recipe: Option<String>,
    /// Print only the value.
    #[arg(long)]
    value: bool,
    /// A flag of the variable instead of its value (needs --value).
    #[arg(short = 'f', long, requires = "value")]
    flag: Option<String>,
    /// Do not expand the value (needs --value).
    #[arg(short = 'u', long, requires = "value")]
    unexpand: bool,
    /// Output format: BitBake's text, or JSON (value, export, history).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Print no progress or notes (bitbake-getvar's -q; notes go to standard error).
    #[arg(short = 'q', long)]
    quiet: bool,
    /// An undefined variable or flag is not an error: nothing is printed.
    #[arg(long)]
    ignore_undefined: bool,
    /// The variable.
    var: String,
}

#[derive(Args)]
pub(crate) struct EnvArgs {
    /// Output format: `bitbake -e`'s text, or JSON.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// The recipe (PN, or a variant's name such as `m4-native`); default: the global
    /// configuration.
    recipe: Option<String>,
    /// A recipe file instead (`bitbake -e -b`), parsed alone: its path, or else a regular
    /// expression matching exactly one file of BBFILES; `virtual:native:FILE` for a
    /// variant.
    #[arg(short = 'b', long, conflicts_with = "recipe")]
    buildfile: Option<String>,
}

/// How a command prints its result.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// BitBake's own text format.
    Text,
    /// JSON.
    Json,
}

/// A parse session: the python host, the evaluator and the base configuration.
pub(crate) struct Session {
    evaluator: Evaluator,
    config: CookerConfig,
    python: Rc<bb_python::Python>,
}

impl Session {
    /// Where and with which environment to parse.
    fn config(build: &BuildDir) -> Result<CookerConfig, String> {
        let cwd = match &build.build_dir {
            Some(dir) => std::path::absolute(dir).map_err(|e| format!("{}: {e}", dir.display()))?,
            None => std::env::current_dir().map_err(|e| format!("current directory: {e}"))?,
        };
        Ok(CookerConfig {
            cwd,
            env: std::env::vars().collect(),
            tracking: false,
        })
    }

    pub(crate) fn new(build: &BuildDir, tracking: bool) -> Result<Session, String> {
        let code_cache = build_directory(build)?.join("cache/hitzeleiter/python");
        let python = Rc::new(
            bb_python::Python::with_code_cache(&code_cache)
                .map_err(|e| format!("python failed to start: {e}"))?,
        );
        Ok(Session {
            evaluator: Evaluator::new(Some(python.clone() as Rc<dyn PythonHost>)),
            python,
            config: CookerConfig {
                tracking,
                ..Session::config(build)?
            },
        })
    }

    /// The python host (for running python tasks).
    pub(crate) fn python(&self) -> &dyn PythonHost {
        &*self.python
    }

    pub(crate) fn cooker(&self) -> Cooker<'_> {
        Cooker::new(&self.evaluator, self.config.clone())
    }
}

fn print_log(d: &DataStore) {
    for line in log_lines(d) {
        eprintln!("{line}");
    }
}

/// What parsing one recipe file gave, ready to print; a parse worker sends it so.
#[derive(Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct RecipeOutcome {
    targets: usize,
    skipped: usize,
    /// Lines for standard error: the recipe's log, skip notes, its error.
    pub(crate) messages: Vec<String>,
    pub(crate) failed: bool,
    /// What the parse cache keeps (a recipe that failed is parsed again next time).
    pub(crate) cache_entry: Option<bb_data::CachedRecipe>,
    /// The entry's variant infos while they are encoded (as a worker sends them and the
    /// cache saves them); decoded into the entry only where they are used.
    infos: Option<bb_data::EncodedInfos>,
    /// Whether it came from the parse cache.
    #[serde(skip)]
    cached: bool,
    /// Where its parse's time went, when profiled.
    profile: Option<crate::parse_profile::RecipeProfile>,
}

fn skip_note(recipe: &Path, variant: &str, reason: &str) -> String {
    let name = match variant {
        "" => recipe.display().to_string(),
        variant => format!("virtual:{variant}:{}", recipe.display()),
    };
    format!("NOTE: Skipping {name}: {reason}")
}

/// A recipe's outcome from its parse-cache entry.
fn cached_outcome(entry: &bb_data::CachedRecipe, verbose: bool) -> RecipeOutcome {
    let mut outcome = RecipeOutcome {
        targets: entry.variants.len(),
        cached: true,
        cache_entry: Some(entry.clone()),
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
    outcome
}

/// The lines `d`'s log prints, taken from it.
fn log_lines(d: &DataStore) -> Vec<String> {
    d.take_log().iter().filter_map(LogRecord::line).collect()
}

/// How many variants of one recipe file are parsed between two collections of python's
/// cyclic garbage (there is one after each file too).
const GARBAGE_COLLECTED_EVERY: usize = 8;

fn collect_garbage(session: &Session) {
    profile::step("python garbage collection", || {
        session.python.collect_garbage()
    });
}

/// Parses `recipe` (in the layer collection `layer`, or none) with its variants.
fn parse_one(
    cooker: &mut Cooker<'_>,
    session: &Session,
    config: &DataStore,
    files: &bb_data::RecipeFiles,
    recipe: &Path,
    layer: &str,
    verbose: bool,
) -> RecipeOutcome {
    let mut outcome = RecipeOutcome::default();
    let appends = bb_data::appends_for(recipe, &files.appends);
    let mut entry = bb_data::CachedRecipe {
        file: recipe.to_path_buf(),
        appends: appends.clone(),
        inputs: Vec::new(),
        variants: Vec::new(),
    };
    // A set beside the list: core-image-ptest's 137 variants each name its ~300 inputs.
    let mut seen_inputs = std::collections::HashSet::new();
    // Each variant's store is reduced to what is kept of it as soon as it is finalised.
    // Its messages are taken then: in the order they were logged, as BitBake prints them.
    let parsed =
        cooker.parse_recipe_variants(config, recipe, &appends, layer, &mut |variant, d| {
            let info = profile::step("recipe info", || bb_data::RecipeInfo::from_datastore(&d))?;
            if let Some(reason) = &info.skipped
                && verbose
            {
                outcome.messages.push(skip_note(recipe, variant, reason));
            }
            outcome.messages.extend(log_lines(&d));
            let inputs = profile::step("parse cache inputs", || {
                session.evaluator.read_files(&d, "__depends")
            });
            for input in inputs.unwrap_or_default() {
                // Most inputs were named by an earlier variant: the path is copied only
                // for a new one.
                if !seen_inputs.contains(&input.path) {
                    seen_inputs.insert(input.path.clone());
                    entry.inputs.push(input);
                }
            }
            entry.variants.push(bb_data::CachedVariant {
                name: variant.to_owned(),
                skipped: info.skipped.clone(),
                info,
            });
            // The python garbage of a file with many variants (cycles that may hold their
            // stores) goes every few variants, not only after the file: core-image-ptest
            // has 150.
            drop(d);
            if entry.variants.len().is_multiple_of(GARBAGE_COLLECTED_EVERY) {
                collect_garbage(session);
            }
            Ok(())
        });
    collect_garbage(session);
    match parsed {
        Ok(()) => {
            outcome.targets = entry.variants.len();
            outcome.skipped = entry
                .variants
                .iter()
                .filter(|v| v.skipped.is_some())
                .count();
            entry.variants.sort_by(|a, b| a.name.cmp(&b.name));
            outcome.cache_entry = Some(entry);
        }
        Err(err) => {
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

/// Where the parse cache of a build directory lives.
fn cache_path(build_dir: &Path) -> PathBuf {
    build_dir.join("cache/hitzeleiter/parse.cache")
}

/// The parse cache, if it applies to this parse at all (same program, environment and base
/// configuration); a broken one is reported and ignored.
fn usable_cache(
    path: &Path,
    key: &bb_data::CacheKey,
    with_infos: bool,
) -> Option<bb_data::ParseCache> {
    let loaded = if with_infos {
        bb_data::ParseCache::load_with_infos(path)
    } else {
        bb_data::ParseCache::load(path)
    };
    match loaded {
        Ok(Some(cache)) if cache.key == *key && cache.base_is_current() => Some(cache),
        Ok(_) => None,
        Err(err) => {
            eprintln!("WARNING: {err}; parsing everything again");
            None
        }
    }
}

impl ParsedRecipes {
    /// Prints each recipe's messages that `shown` shows (standard error), then returns
    /// BitBake's summary line and the number of recipes that failed.
    pub(crate) fn report(&self, shown: Shown) -> (String, usize) {
        let (mut targets, mut skipped, mut errors, mut cached) = (0, 0, 0, 0);
        for outcome in &self.outcomes {
            targets += outcome.targets;
            skipped += outcome.skipped;
            errors += usize::from(outcome.failed);
            cached += usize::from(outcome.cached);
            for message in outcome.messages.iter().filter(|m| shown.shows(m)) {
                eprintln!("{message}");
            }
        }
        let files = &self.files;
        let summary = format!(
            "Parsing of {} .bb files complete ({cached} cached, {} parsed). {targets} targets, {skipped} skipped, {} masked, {errors} errors.",
            files.recipes.len(),
            files.recipes.len() - cached,
            files.masked
        );
        (summary, errors)
    }
}

/// The build directory: where conf/bblayers.conf is found (from the working directory,
/// or `--build-dir`, upwards), else the working directory itself.
pub(crate) fn build_directory(build: &BuildDir) -> Result<PathBuf, String> {
    let no_python = Evaluator::new(None);
    let config = Session::config(build)?;
    let cwd = config.cwd.clone();
    Ok(Cooker::new(&no_python, config).build_dir().unwrap_or(cwd))
}

/// `hitzeleiter parse`: every recipe of BBFILES with its variants, then BitBake's summary.
pub(crate) fn parse(args: &ParseArgs, build: &BuildDir) -> ExitCode {
    let options = ParseOptions {
        verbose: args.verbose,
        profile: args.profile,
        ..ParseOptions::default()
    };
    match parse_recipes(build, &options) {
        Ok(parsed) => {
            let (summary, errors) = parsed.report(Shown::Notes);
            println!("{summary}");
            if let Some(times) = &parsed.times {
                let recipes: Vec<_> = parsed
                    .files
                    .recipes
                    .iter()
                    .zip(&parsed.outcomes)
                    .filter_map(|(path, o)| Some((path.as_path(), o.profile.as_ref()?)))
                    .collect();
                let report =
                    crate::parse_profile::report(&recipes, times.base_configuration, times.workers);
                print!("{report}");
            }
            // As knotty: any ERROR message (a recipe's bb.error too) fails the run.
            let count = |prefix: &str| {
                parsed
                    .outcomes
                    .iter()
                    .flat_map(|o| &o.messages)
                    .filter(|m| m.starts_with(prefix))
                    .count()
            };
            let (warnings, error_messages) = (count("WARNING:"), count("ERROR:"));
            if let Some(summary) = crate::knotty_summary(warnings, error_messages) {
                println!("{summary}");
            }
            if errors > 0 || error_messages > 0 {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(err) => {
            eprintln!("ERROR: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Every recipe of a build directory, parsed or from the parse cache.
pub(crate) struct ParsedRecipes {
    /// The recipe files, in BitBake's order.
    pub(crate) files: bb_data::RecipeFiles,
    /// One outcome per recipe file, in the same order.
    pub(crate) outcomes: Vec<RecipeOutcome>,
    /// The configuration's provider settings ([`bb_data::provider_vars`]).
    pub(crate) provider_vars: std::collections::HashMap<String, String>,
    /// The layer collections (name, pattern, priority), in BitBake's lookup order.
    pub(crate) collections: Vec<bb_data::LayerCollection>,
    /// Each collection's layer directory.
    pub(crate) layer_dirs: Vec<(String, PathBuf)>,
    /// How the recipes were parsed, when they were profiled.
    pub(crate) times: Option<ParseTimes>,
}

/// How a profiled parse went, besides the recipes' own profiles.
pub(crate) struct ParseTimes {
    /// Parsing the base configuration, before the recipes.
    pub(crate) base_configuration: std::time::Duration,
    /// How many parse workers there were.
    pub(crate) workers: usize,
}

/// Memory settings for this process while it parses, as they were before afterwards (the
/// tasks a build runs later get the machine's settings back). Parsing makes and frees
/// short-lived heaps at a high rate, in forked workers that share the parent's pages:
/// - transparent huge pages off: with them the peak RSS counts whole huge pages (the
///   largest worker's ~9 MiB more, for ~3% less CPU time);
/// - freed memory returned to the system at once, not after mimalloc's 10 ms: the summed
///   peak of a cold parse of openembedded-core stays at ~142 MiB instead of 142–166 MiB
///   from run to run, for ~2% more CPU time (docs/benchmarks.md).
struct ParsingMemory {
    huge_pages_were_disabled: Option<bool>,
    purge_delay: std::ffi::c_long,
}

/// mimalloc 2's `mi_option_purge_delay` (mimalloc.h), which libmimalloc-sys does not name.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

impl ParsingMemory {
    fn while_parsing() -> ParsingMemory {
        // Where the kernel lacks the switch, parsing just runs with its default.
        let huge_pages_were_disabled = rustix::thread::transparent_huge_pages_are_disabled().ok();
        if huge_pages_were_disabled == Some(false) {
            let _ = rustix::thread::disable_transparent_huge_pages(true);
        }
        #[allow(unsafe_code)]
        // SAFETY: reads and sets an option of the allocator this program uses, which no
        // other thread sets.
        let purge_delay = unsafe {
            let delay = libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY);
            libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0);
            delay
        };
        ParsingMemory {
            huge_pages_were_disabled,
            purge_delay,
        }
    }
}

impl Drop for ParsingMemory {
    fn drop(&mut self) {
        if self.huge_pages_were_disabled == Some(false) {
            let _ = rustix::thread::disable_transparent_huge_pages(false);
        }
        #[allow(unsafe_code)]
        // SAFETY: as in `while_parsing`.
        unsafe {
            libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, self.purge_delay);
        }
    }
}

/// Parses every recipe of BBFILES with its variants. Recipes whose inputs are unchanged
/// since the last parse come from the parse cache (with nothing changed, no python starts
/// at all); the others are parsed on every core: each worker thread has its own python
/// interpreter and base configuration. With `with_infos`, every outcome's cache entry
/// carries its variants' [`bb_data::RecipeInfo`].
pub(crate) fn parse_recipes(
    build: &BuildDir,
    options: &ParseOptions,
) -> Result<ParsedRecipes, String> {
    let ParseOptions {
        verbose,
        with_infos,
        profile,
        shown,
    } = *options;
    let print_lines = |lines: &[String]| {
        for line in lines.iter().filter(|line| shown.shows(line)) {
            eprintln!("{line}");
        }
    };
    // Logs are taken whether printed or not: the recipes' stores, copies of the
    // configuration's, would print what is left.
    // Finding the cache needs no python: only where bblayers.conf is.
    let no_python = Evaluator::new(None);
    let probe = Cooker::new(&no_python, Session::config(build)?);
    let cache_file = cache_path(&build_directory(build)?);
    let key = bb_data::CacheKey {
        tool: tool_id(),
        environment: probe.approved_environment(),
    };
    let cache = usable_cache(&cache_file, &key, with_infos).filter(|_| !profile);
    if let Some(cache) = &cache {
        let store = cache.collection_store().map_err(|e| e.to_string())?;
        let files = bb_data::collect_recipe_files(&store).map_err(|e| e.to_string())?;
        let outcomes: Option<Vec<RecipeOutcome>> = files
            .recipes
            .iter()
            .map(|recipe| {
                let appends = bb_data::appends_for(recipe, &files.appends);
                cache
                    .current_recipe(recipe, &appends)
                    .map(|entry| cached_outcome(entry, verbose))
            })
            .collect();
        if let Some(outcomes) = outcomes {
            print_lines(&cache.configuration_messages);
            print_lines(&log_lines(&store));
            return Ok(ParsedRecipes {
                files,
                outcomes,
                provider_vars: cache.provider_vars.iter().cloned().collect(),
                collections: bb_data::layer_collections(&store).map_err(|e| e.to_string())?,
                layer_dirs: cache.layer_dirs.clone(),
                times: None,
            });
        }
    }
    // The entries reused below go into the new cache: they need their infos.
    let cache = match cache {
        Some(_) if !with_infos => usable_cache(&cache_file, &key, true),
        cache => cache,
    };

    let _parsing_memory = ParsingMemory::while_parsing();
    let session = Session::new(build, false)?;
    let mut cooker = session.cooker();
    let started = std::time::Instant::now();
    let config = cooker
        .parse_base_configuration()
        .map_err(|e| e.to_string())?;
    let base_configuration = started.elapsed();
    let configuration_messages = log_lines(&config);
    print_lines(&configuration_messages);
    let files = bb_data::collect_recipe_files(&config).map_err(|e| e.to_string())?;
    print_lines(&log_lines(&config));
    let mut outcomes: Vec<Option<RecipeOutcome>> = (0..files.recipes.len()).map(|_| None).collect();
    let mut todo = Vec::new();
    for (i, recipe) in files.recipes.iter().enumerate() {
        let appends = bb_data::appends_for(recipe, &files.appends);
        match cache
            .as_ref()
            .and_then(|c| c.current_recipe(recipe, &appends))
        {
            Some(entry) => outcomes[i] = Some(cached_outcome(entry, verbose)),
            None => todo.push(i),
        }
    }
    let progress = indicatif::ProgressBar::new(todo.len() as u64).with_style(
        indicatif::ProgressStyle::with_template(
            "Parsing recipes: {percent:>3}% |{bar:40}| ETA: {eta_precise}",
        )
        .expect("progress template")
        .progress_chars("## "),
    );
    let collections = bb_data::layer_collections(&config).map_err(|e| e.to_string())?;
    let mut work = |item: usize| {
        let recipe = &files.recipes[todo[item]];
        let layer = bb_data::file_collection(&collections, &recipe.display().to_string())
            .map_or("", |c| c.name.as_str());
        if profile {
            bb_data::profile::start();
        }
        let started = std::time::Instant::now();
        let mut outcome = parse_one(
            &mut cooker,
            &session,
            &config,
            &files,
            recipe,
            layer,
            verbose,
        );
        outcome.profile =
            bb_data::profile::take().map(|profile| crate::parse_profile::RecipeProfile {
                time: started.elapsed(),
                profile,
            });
        outcome.infos = outcome
            .cache_entry
            .as_mut()
            .map(bb_data::EncodedInfos::take);
        outcome
    };
    let mut decoding_failed = None;
    let mut done = |item: usize, sent: Result<RecipeOutcome, String>| {
        let recipe = todo[item];
        outcomes[recipe] = Some(match sent {
            Ok(mut outcome) => {
                if with_infos
                    && let (Some(entry), Some(infos)) =
                        (&mut outcome.cache_entry, outcome.infos.take())
                    && let Err(err) = infos.decode_into(entry)
                {
                    decoding_failed = Some(err.to_string());
                }
                outcome
            }
            Err(ended) => RecipeOutcome {
                failed: true,
                messages: vec![format!(
                    "ERROR: Unable to parse {}: the parse worker {ended}",
                    files.recipes[recipe].display()
                )],
                ..RecipeOutcome::default()
            },
        });
        progress.inc(1);
    };
    // The workers' collections must leave the objects they share with this process alone.
    if !todo.is_empty() {
        session.python.freeze_for_fork();
    }
    let workers = parse_workers(&config);
    crate::workers::run(todo.len(), workers, &mut work, &mut done)?;
    progress.finish_and_clear();
    if let Some(err) = decoding_failed {
        return Err(format!("a parse worker's result: {err}"));
    }
    // Outcomes are matched to recipes by position: a missing one (a fault in the workers'
    // bookkeeping) is an error, never a shift.
    let outcomes = outcomes
        .into_iter()
        .zip(&files.recipes)
        .map(|(outcome, recipe)| {
            outcome.ok_or_else(|| format!("{} was not parsed", recipe.display()))
        })
        .collect::<Result<Vec<RecipeOutcome>, String>>()?;

    let mut base_inputs = session
        .evaluator
        .read_files(&config, "__base_depends")
        .map_err(|e| e.to_string())?;
    base_inputs.extend(bb_data::python_library_files(
        &session.evaluator.python_library_dirs(),
    ));
    let provider_vars = bb_data::provider_vars(&config).map_err(|e| e.to_string())?;
    let layer_dirs = cooker.layer_dirs().to_vec();
    // The entries move into the cache to be saved and back out (their recipe infos are
    // large: no copy of them is made). Infos still encoded are saved as they are.
    let mut outcomes = outcomes;
    let (mut holders, mut entries, mut infos) = (Vec::new(), Vec::new(), Vec::new());
    for (i, outcome) in outcomes.iter_mut().enumerate() {
        if let Some(entry) = outcome.cache_entry.take() {
            infos.push(
                outcome
                    .infos
                    .take()
                    .unwrap_or_else(|| bb_data::EncodedInfos::of(&entry)),
            );
            entries.push(entry);
            holders.push(i);
        }
    }
    let mut new_cache = bb_data::ParseCache::new(
        key,
        base_inputs,
        bb_data::collection_vars(&config).map_err(|e| e.to_string())?,
        provider_vars.clone(),
        layer_dirs.clone(),
        entries,
    );
    new_cache.configuration_messages = configuration_messages;
    if let Err(err) = new_cache.save_with_infos(&cache_file, &infos) {
        eprintln!("WARNING: {err}");
    }
    for (i, entry) in holders.into_iter().zip(new_cache.recipes) {
        outcomes[i].cache_entry = Some(entry);
    }
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

/// Which BitBake front end a command stands for: `bitbake -e` resolves its target as a
/// build target and refuses what ASSUME_PROVIDED names; `bitbake-getvar -r` asks tinfoil
/// (`findBestProvider`), which gives those the recipe whose PN they are.
#[derive(Clone, Copy, PartialEq)]
enum Asker {
    Env,
    Getvar,
}

/// The variant of a recipe file a command shows, with the bbappends BBFILES gives it.
struct RecipeTarget {
    file: PathBuf,
    /// `""` for the recipe itself.
    variant: String,
    appends: Vec<PathBuf>,
}

/// The recipe file and variant BitBake shows for target `name`, among all recipes (parsed,
/// or from the parse cache). `bitbake -e` resolves it as a build target (`:do_task`
/// dropped; PROVIDES, preferred provider and version; ASSUME_PROVIDED refused), tinfoil
/// (`bitbake-getvar -r`) with the cooker's `findBestProvider`; a skipped recipe is refused
/// with BitBake's reasons. `reporting` is what the parse prints, before the recipe's parse
/// as BitBake prints it. Called before the command parses its own configuration: the
/// recipes' infos it loads are gone before that.
fn resolve_recipe(
    build: &BuildDir,
    name: &str,
    asker: Asker,
    reporting: crate::graph::Reporting,
) -> Result<RecipeTarget, String> {
    let recipes = crate::graph::load_recipes(build, reporting)?;
    let cache = &recipes.cache;
    let vars = &recipes.parsed.provider_vars;
    let mut taskdata = taskgraph::TaskData::new(true, true);
    let file = match asker {
        Asker::Getvar => {
            match taskgraph::cooker_best_provider(cache, vars, name, &mut Vec::new()) {
                Some(file) => Some(file),
                None => {
                    // TaskData words BitBake's reasons (skipped, …), as tinfoil asks it for them.
                    taskdata
                        .add_provider(cache, vars, name)
                        .map_err(|e| e.to_string())?;
                    None
                }
            }
        }
        Asker::Env => {
            // BitBake's buildTaskData: `bitbake -e zlib:do_compile` shows zlib.
            let name = name.split_once(":do_").map_or(name, |(recipe, _)| recipe);
            let assumed = vars
                .get("ASSUME_PROVIDED")
                .map(String::as_str)
                .unwrap_or_default();
            if assumed.split_whitespace().any(|provided| provided == name) {
                return Err(format!("{name} is in ASSUME_PROVIDED"));
            }
            taskdata
                .add_provider(cache, vars, name)
                .map_err(|e| e.to_string())?;
            if reporting.shown == Shown::Notes {
                crate::graph::print_notices(&taskdata.notices);
            }
            taskdata.build_providers(name).first().copied()
        }
    };
    let file = file.ok_or_else(|| format!("Nothing PROVIDES '{name}'"))?;
    let (real, variant) = crate::graph::real_file(&cache.recipe(file).file);
    let file = PathBuf::from(real);
    Ok(RecipeTarget {
        appends: bb_data::appends_for(&file, &recipes.parsed.files.appends),
        file,
        variant: variant.to_owned(),
    })
}

/// BitBake's `matchFile` (`bitbake -b NAME`): the recipe file NAME names, as a path that
/// exists (relative to the working directory) or else as a regular expression searched in
/// each file of BBFILES, which must match exactly one; with its variant
/// (`virtual:native:NAME`).
fn match_file(config: &DataStore, name: &str) -> Result<RecipeTarget, String> {
    let (file, variant) = crate::graph::real_file(name);
    let files = bb_data::collect_recipe_files(config).map_err(|e| e.to_string())?;
    let matches = if Path::new(file).exists() {
        vec![PathBuf::from(bb_data::abspath(file))]
    } else {
        let pattern = fancy_regex::Regex::new(file)
            .map_err(|e| format!("-b {file}: not a path, nor a regular expression: {e}"))?;
        files
            .recipes
            .iter()
            .filter(|f| pattern.is_match(&f.display().to_string()).unwrap_or(false) && f.is_file())
            .cloned()
            .collect()
    };
    match matches.as_slice() {
        [one] => Ok(RecipeTarget {
            file: one.clone(),
            variant: variant.to_owned(),
            appends: bb_data::appends_for(one, &files.appends),
        }),
        [] => Err(format!("Unable to find any recipe file matching '{file}'")),
        several => Err(format!(
            "Unable to match '{file}' to a specific recipe file - {} matches found:{}",
            several.len(),
            several
                .iter()
                .map(|f| format!("\n    {}", f.display()))
                .collect::<String>()
        )),
    }
}

/// The datastore of a recipe's variant ([`resolve_recipe`]'s or [`match_file`]'s answer),
/// parsed again with the session's settings (history tracking). The configuration's
/// messages left in its log are dropped: the resolution printed them.
fn recipe_store(
    cooker: &mut Cooker<'_>,
    config: &DataStore,
    target: RecipeTarget,
) -> Result<DataStore, String> {
    config.take_log();
    let RecipeTarget {
        file: recipe,
        variant,
        appends,
    } = target;
    let layer = bb_data::file_layer_name(config, &recipe)
        .ok()
        .flatten()
        .unwrap_or_default();
    cooker
        .parse_recipe_variant(config, &recipe, &appends, &layer, &variant)
        .map_err(|err| format!("Unable to parse {}: {err}", recipe.display()))?
        .ok_or_else(|| {
            format!(
                "{} has no variant '{variant}' when parsed again",
                recipe.display()
            )
        })
}

/// `hitzeleiter getvar`: bitbake-getvar's output.
pub(crate) fn getvar(args: &GetvarArgs, build: &BuildDir) -> ExitCode {
    let run = || -> Result<Option<String>, String> {
        // bitbake-getvar's tinfoil (quiet level 2, with -q 3) prints no parse summary.
        let reporting = crate::graph::Reporting {
            summary: false,
            shown: if args.quiet {
                Shown::Errors
            } else {
                Shown::Warnings
            },
        };
        let target = match &args.recipe {
            Some(name) => Some(resolve_recipe(build, name, Asker::Getvar, reporting)?),
            None => None,
        };
        let session = Session::new(build, true)?;
        let mut cooker = session.cooker();
        let config = cooker
            .parse_base_configuration()
            .map_err(|e| e.to_string())?;
        let d = match target {
            None => config,
            Some(target) => recipe_store(&mut cooker, &config, target)?,
        };
        if !args.quiet {
            print_log(&d);
        }
        let expand = !args.unexpand;
        let value = match &args.flag {
            Some(flag) => d.get_var_flag(&args.var, flag, expand),
            None if expand => d.get_var(&args.var),
            None => d.get_var_raw(&args.var),
        }
        .map_err(|e| e.to_string())?;
        // A variable python set to None is not defined, as bitbake-getvar sees it.
        let Some(value) = value.filter(|v| !matches!(v, bb_data::Value::None)) else {
            return Ok(None);
        };
        if args.format == Format::Json {
            let mut json = variable_json(&d, &args.var);
            json["variable"] = args.var.clone().into();
            json["value"] = value.to_string().into();
            if let Some(flag) = &args.flag {
                json["flag"] = flag.clone().into();
                json["unexpanded"] = d
                    .get_var_flag(&args.var, flag, false)
                    .ok()
                    .flatten()
                    .map(|v| v.to_string())
                    .into();
            }
            return Ok(Some(format!("{json:#}\n")));
        }
        if args.value {
            return Ok(Some(format!("{value}\n")));
        }
        Ok(Some(bb_data::emit_variable(&d, &args.var)))
    };
    match run() {
        Ok(Some(text)) => {
            let _ = std::io::stdout().write_all(text.as_bytes());
            ExitCode::SUCCESS
        }
        Ok(None) if args.ignore_undefined => ExitCode::SUCCESS,
        Ok(None) => {
            match &args.flag {
                Some(flag) => eprintln!(
                    "The flag '{flag}' is not defined for variable '{}'",
                    args.var
                ),
                None => eprintln!("The variable '{}' is not defined", args.var),
            }
            ExitCode::FAILURE
        }
        Err(err) => {
            eprintln!("ERROR: {err}");
            ExitCode::FAILURE
        }
    }
}

fn event_json(event: &Event) -> Json {
    json!({
        "op": event.op,
        "file": event.file,
        "line": event.line,
        "detail": event.detail,
        "flag": event.flag,
    })
}

/// A variable's expanded value, export state and history.
fn variable_json(d: &DataStore, var: &str) -> Json {
    let flag = |name: &str| {
        d.get_var_flag(var, name, true)
            .ok()
            .flatten()
            .is_some_and(|v| bb_data::to_boolean(&v))
    };
    let value = match d.get_var(var) {
        Ok(value) => json!(value.map(|v| v.to_string())),
        Err(err) => json!({"error": err.to_string()}),
    };
    json!({
        "value": value,
        "unexpanded": d.get_var_raw(var).ok().flatten().map(|v| v.to_string()),
        "exported": flag("export") && !flag("unexport"),
        "history": d.history(var).iter().map(event_json).collect::<Vec<_>>(),
    })
}

/// `hitzeleiter env`: `bitbake -e`'s output for the configuration or a recipe.
pub(crate) fn env(args: &EnvArgs, build: &BuildDir) -> ExitCode {
    let run = || -> Result<String, String> {
        let target = match &args.recipe {
            Some(name) => Some(resolve_recipe(
                build,
                name,
                Asker::Env,
                crate::graph::Reporting::ALL,
            )?),
            None => None,
        };
        let session = Session::new(build, true)?;
        let mut cooker = session.cooker();
        let config = cooker
            .parse_base_configuration()
            .map_err(|e| e.to_string())?;
        let d = match (target, &args.buildfile) {
            (Some(target), _) => recipe_store(&mut cooker, &config, target)?,
            (None, Some(buildfile)) => {
                // Printed before an error from it too: the configuration's messages, then
                // collecting the recipe files'.
                let target = match_file(&config, buildfile);
                print_log(&config);
                recipe_store(&mut cooker, &config, target?)?
            }
            (None, None) => {
                print_log(&config);
                cooker
                    .global_environment(&config)
                    .map_err(|e| e.to_string())?
            }
        };
        print_log(&d);
        if args.format == Format::Text {
            return Ok(bb_data::emit_environment(&d, &config));
        }
        let mut keys = d.keys().map_err(|e| e.to_string())?;
        keys.sort();
        let mut variables = serde_json::Map::new();
        let mut functions = serde_json::Map::new();
        for key in keys {
            let is_set = |flag: &str| {
                d.get_var_flag(&key, flag, false)
                    .ok()
                    .flatten()
                    .is_some_and(|v| v.is_truthy())
            };
            if is_set("func") {
                let body = d.get_var_raw(&key).ok().flatten().map(|v| v.to_string());
                let language = if is_set("python") { "python" } else { "shell" };
                functions.insert(key, json!({"language": language, "body": body}));
            } else if !key.starts_with("__") {
                let json = variable_json(&d, &key);
                variables.insert(key, json);
            }
        }
        let includes: Vec<Json> = config
            .include_history()
            .into_iter()
            .map(|(depth, file)| json!({"depth": depth, "file": file}))
            .collect();
        let json = json!({
            "include_history": includes,
            "variables": variables,
            "functions": functions,
        });
        Ok(format!("{json:#}\n"))
    };
    match run() {
        Ok(text) => {
            let _ = std::io::stdout().write_all(text.as_bytes());
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("ERROR: {err}");
            ExitCode::FAILURE
        }
    }
}
