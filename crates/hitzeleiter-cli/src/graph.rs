//! `hitzeleiter graph`: BitBake's `-g` (task-depends.dot and pn-buildlist), from the parsed
//! recipes and the configuration's provider settings.

use std::path::Path;
use std::process::ExitCode;

use std::collections::HashMap;

use clap::Args;
use serde_json::json;
use taskgraph::{
    Level, Notice, ProviderSettings, Recipe, RecipeCache, Target, TaskData, TaskGraph,
};

use crate::metadata::{BuildDir, Format, ParsedRecipes, Shown, parse_recipes};

#[derive(Args)]
pub(crate) struct GraphArgs {
    /// The task to graph for each target (default: BB_DEFAULT_TASK, else `build`).
    #[arg(short = 'c', long = "cmd")]
    task: Option<String>,
    /// Also print the graph as JSON on standard output.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Targets: PN or PROVIDES names, optionally `name:do_task`.
    #[arg(required = true)]
    targets: Vec<String>,
}

/// Every parsed recipe, indexed for provider lookups, with the configuration's provider
/// settings.
pub(crate) struct Recipes {
    /// The recipes.
    pub(crate) cache: RecipeCache,
    /// The parse outcome: files, provider settings, layers.
    pub(crate) parsed: ParsedRecipes,
}

fn words(vars: &HashMap<String, String>, var: &str) -> Vec<String> {
    vars.get(var)
        .map(|v| v.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default()
}

/// BitBake's name for a variant of a recipe file.
pub(crate) fn virtual_name(file: &Path, variant: &str) -> String {
    match variant {
        "" => file.display().to_string(),
        variant => format!("virtual:{variant}:{}", file.display()),
    }
}

/// The real file of a virtual name (`virtual:native:/x.bb` → `/x.bb`) and its variant
/// (everything between, as BitBake's `virtualfn2realfn`).
pub(crate) fn real_file(name: &str) -> (&str, &str) {
    match name.strip_prefix("virtual:") {
        Some(rest) => match rest.rfind(':') {
            Some(at) => (&rest[at + 1..], &rest[..at]),
            None => (rest, ""),
        },
        None => (name, ""),
    }
}

/// `do_TASK` for `TASK` or `do_TASK`.
pub(crate) fn with_do(task: &str) -> String {
    if task.starts_with("do_") {
        task.to_owned()
    } else {
        format!("do_{task}")
    }
}

/// What [`load_recipes`] prints on standard error.
#[derive(Clone, Copy)]
pub(crate) struct Reporting {
    /// BitBake's parse summary line.
    pub(crate) summary: bool,
    /// Which of the messages the configuration and the recipes log.
    pub(crate) shown: Shown,
}

impl Reporting {
    /// Everything, as BitBake prints it.
    pub(crate) const ALL: Reporting = Reporting {
        summary: true,
        shown: Shown::Notes,
    };
}

/// Parses (or takes from the parse cache) every recipe; a recipe that fails to parse is
/// reported and fails the whole.
pub(crate) fn load_recipes(build: &BuildDir, report: Reporting) -> Result<Recipes, String> {
    let options = crate::metadata::ParseOptions {
        with_infos: true,
        shown: report.shown,
        ..Default::default()
    };
    let mut parsed = parse_recipes(build, &options)?;
    let (summary, failed) = parsed.report(report.shown);
    if report.summary {
        eprintln!("{summary}");
    }
    if failed > 0 {
        return Err(format!("{failed} recipes could not be parsed"));
    }
    let vars = &parsed.provider_vars;
    let mut preferred_providers = std::collections::BTreeMap::new();
    for entry in words(vars, "PREFERRED_PROVIDERS") {
        match entry.split_once(':') {
            Some((providee, provider)) => {
                preferred_providers.insert(providee.to_owned(), provider.to_owned());
            }
            None => eprintln!("ERROR: Malformed option in PREFERRED_PROVIDERS variable: {entry}"),
        }
    }
    let settings = ProviderSettings {
        assume_provided: words(vars, "ASSUME_PROVIDED"),
        preferred_providers,
        multi_provider_allowed: words(vars, "BB_MULTI_PROVIDER_ALLOWED"),
    };
    let mut cache = RecipeCache::new(settings);
    for entry in parsed
        .outcomes
        .iter_mut()
        .filter_map(|o| o.cache_entry.as_mut())
    {
        let priority =
            bb_data::bbfile_priority(&parsed.collections, &entry.file.display().to_string()).0;
        // BitBake adds a file's class-extended variants before the recipe itself.
        let (plain, extended): (Vec<_>, Vec<_>) =
            entry.variants.iter_mut().partition(|v| v.name.is_empty());
        for variant in extended.into_iter().chain(plain) {
            cache.add(Recipe {
                file: virtual_name(&entry.file, &variant.name),
                info: std::mem::take(&mut variant.info),
                priority,
            });
        }
    }
    Ok(Recipes { cache, parsed })
}

pub(crate) fn print_notices(notices: &[Notice]) -> bool {
    let mut errors = false;
    for notice in notices {
        let level = match notice.level {
            Level::Note => "NOTE",
            Level::Warning => "WARNING",
            Level::Error => "ERROR",
        };
        errors |= notice.level == Level::Error;
        eprintln!("{level}: {}", notice.message);
    }
    errors
}

/// Writes a file atomically (a temporary beside it, then renamed).
fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let temporary = path.with_extension(format!("tmp.{}", std::process::id()));
    std::fs::write(&temporary, text)?;
    std::fs::rename(&temporary, path)
}

/// The task graph of `targets` (`name` or `name:do_task`; others run `default_task`,
/// else BB_DEFAULT_TASK, else `build`), as BitBake's runqueue builds it. Notices are
/// printed; the flag says whether one was an error.
pub(crate) fn resolve(
    recipes: &Recipes,
    targets: &[String],
    default_task: Option<&str>,
) -> Result<(TaskGraph, bool), String> {
    let config = &recipes.parsed.provider_vars;
    let cache = &recipes.cache;
    let default_task = default_task
        .map(str::to_owned)
        .or_else(|| config.get("BB_DEFAULT_TASK").cloned())
        .unwrap_or_else(|| "build".to_owned());
    let assumed = words(config, "ASSUME_PROVIDED");
    let mut taskdata = TaskData::new(true, true);
    let mut resolved = Vec::new();
    for target in targets {
        if assumed.contains(target) {
            eprintln!("WARNING: Explicit target \"{target}\" is in ASSUME_PROVIDED, ignoring");
        }
        let (name, task) = match target.split_once(":do_") {
            Some((name, task)) => (name, with_do(task)),
            None => (target.as_str(), with_do(&default_task)),
        };
        taskdata
            .add_provider(cache, config, name)
            .map_err(|e| e.to_string())?;
        if let Some(&file) = taskdata.build_providers(name).first() {
            resolved.push(Target {
                name: name.to_owned(),
                task,
                file,
            });
        }
    }
    taskdata
        .add_unresolved(cache, config)
        .map_err(|e| e.to_string())?;
    let mut errors = print_notices(&taskdata.notices);
    let graph = TaskGraph::build(cache, &taskdata, &resolved).map_err(|e| e.to_string())?;
    errors |= print_notices(&graph.notices);
    Ok((graph, errors))
}

/// `hitzeleiter graph`: `bitbake -g TARGET…`.
pub(crate) fn graph(args: &GraphArgs, build: &BuildDir) -> ExitCode {
    let run = || -> Result<bool, String> {
        let recipes = load_recipes(build, Reporting::ALL)?;
        let cache = &recipes.cache;
        let (graph, errors) = resolve(&recipes, &args.targets, args.task.as_deref())?;
        let pns = graph.pns(cache);
        let mut buildlist: String = pns.iter().map(|pn| format!("{pn}\n")).collect();
        if buildlist.is_empty() {
            buildlist.push('\n');
        }
        let io = |e: std::io::Error| format!("writing the graph: {e}");
        write_atomically(Path::new("pn-buildlist"), &buildlist).map_err(io)?;
        eprintln!("NOTE: PN build list saved to 'pn-buildlist'");
        write_atomically(Path::new("task-depends.dot"), &graph.to_dot(cache)).map_err(io)?;
        eprintln!("NOTE: Task dependencies saved to 'task-depends.dot'");
        if args.format == Format::Json {
            let tasks: Vec<serde_json::Value> = (0..graph.len())
                .map(|id| {
                    let (file, task) = graph.task(id);
                    let recipe = cache.recipe(file);
                    json!({
                        "task": graph.task_name(cache, id),
                        "pn": recipe.info.pn,
                        "name": task,
                        "file": recipe.file,
                        "version": format!("{}:{}-{}", recipe.info.pe, recipe.info.pv, recipe.info.pr),
                        "depends": graph.depends(id).iter().map(|&d| graph.task_name(cache, d)).collect::<Vec<_>>(),
                    })
                })
                .collect();
            println!("{:#}", json!({"recipes": pns, "tasks": tasks}));
        }
        Ok(errors)
    };
    match run() {
        Ok(false) => ExitCode::SUCCESS,
        Ok(true) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("ERROR: {err}");
            ExitCode::FAILURE
        }
    }
}
