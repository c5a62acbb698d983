//! `hitzeleiter graph`: BitBake's `-g` (task-depends.dot and pn-buildlist), from the parsed
//! recipes and the configuration's provider settings.

use std::path::Path;
use std::process::ExitCode;

use bb_load::Recipes;
use clap::Args;
use serde_json::json;
use taskgraph::TaskGraph;

use crate::load::{BuildDir, Reporting, index_recipes, print_notices};
use crate::metadata::Format;

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
    recipes: &mut Recipes,
    targets: &[String],
    default_task: Option<&str>,
) -> Result<(TaskGraph, bool), String> {
    let mut notices = Vec::new();
    let graph = recipes.task_graph(targets, default_task, &mut notices);
    let errors = print_notices(&notices);
    Ok((graph.map_err(|e| e.to_string())?, errors))
}

/// `hitzeleiter graph`: `bitbake -g TARGET…`.
pub(crate) fn graph(args: &GraphArgs, build: &BuildDir) -> ExitCode {
    let run = || -> Result<bool, String> {
        let mut recipes = index_recipes(build, Reporting::ALL)?;
        let (graph, errors) = resolve(&mut recipes, &args.targets, args.task.as_deref())?;
        let cache = recipes.cache();
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
            let tasks: Vec<serde_json::Value> = graph
                .ids()
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
