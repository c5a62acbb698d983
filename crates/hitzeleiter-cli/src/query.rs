//! `hitzeleiter query`: Bazel's query language over the recipes and tasks that the targets
//! named in the expression need.

use std::cell::{OnceCell, RefCell};
use std::collections::HashMap;
use std::path::Path;
use std::process::ExitCode;

use bbquery::{Graph, NodeSet};
use clap::Args;
use serde_json::json;
use taskgraph::{FileId, Target, TaskData, TaskGraph};

use crate::load::{BuildDir, Reporting, load_recipes};

#[derive(Args)]
pub(crate) struct QueryArgs {
    /// How to print the result: labels one per line, a dot graph of the result and the
    /// dependencies among it, or JSON.
    #[arg(long, value_enum, default_value_t = Output::Label)]
    output: Output,
    /// The expression, e.g. `rdeps(deps(core-image-minimal), zlib)`.
    expression: String,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Output {
    Label,
    Graph,
    Json,
}

/// The classes a recipe inherits, by name (`/…/classes-recipe/cmake.bbclass` → `cmake`).
fn class_names(inherits: &[String]) -> Vec<String> {
    inherits
        .iter()
        .filter_map(|c| Path::new(c).file_stem())
        .map(|s| s.to_string_lossy().into_owned())
        .collect()
}

pub(crate) fn query(args: &QueryArgs, build: &BuildDir) -> ExitCode {
    let expr = match bbquery::parse(&args.expression) {
        Ok(expr) => expr,
        Err(err) => {
            eprintln!("ERROR: query: {}", err.message);
            eprintln!("  {}", args.expression);
            eprintln!("  {}^", " ".repeat(err.column.saturating_sub(1)));
            eprintln!("(column {})", err.column);
            return ExitCode::FAILURE;
        }
    };
    let run = || -> Result<String, String> {
        let recipes = load_recipes(build, Reporting::ALL)?;
        let cache = recipes.cache();
        let vars = &recipes.parsed.provider_vars;
        let default_task =
            taskgraph::with_do(vars.get("BB_DEFAULT_TASK").map_or("build", String::as_str));
        let mut taskdata = TaskData::new(false, true);
        let mut targets = Vec::new();
        for word in expr.targets() {
            let (name, task) = match word.split_once(":do_") {
                Some((name, task)) => (name, format!("do_{task}")),
                None => (word, default_task.clone()),
            };
            taskdata
                .add_provider(cache, vars, name)
                .map_err(|e| e.to_string())?;
            if let Some(&file) = taskdata.build_providers(name).first()
                && cache.recipe(file).info.task(&task).is_some()
            {
                targets.push(Target {
                    name: name.to_owned(),
                    task,
                    file,
                });
            }
        }
        taskdata
            .add_unresolved(cache, vars)
            .map_err(|e| e.to_string())?;
        for notice in taskdata
            .notices
            .iter()
            .filter(|n| n.level == taskgraph::Level::Error)
        {
            eprintln!("WARNING: {}", notice.message);
        }
        let tasks = TaskGraph::build(cache, &taskdata, &targets).map_err(|e| e.to_string())?;

        let mut graph = Graph::new();
        let mut recipe_node: HashMap<FileId, usize> = HashMap::new();
        let mut recipe_of = |graph: &mut Graph, file: FileId| -> usize {
            *recipe_node.entry(file).or_insert_with(|| {
                let info = &cache.recipe(file).info;
                let mut kinds = vec!["recipe".to_owned()];
                kinds.extend(class_names(&info.inherits));
                graph.add_node(&info.pn, kinds)
            })
        };
        let mut task_nodes = Vec::with_capacity(tasks.len());
        for id in tasks.ids() {
            let (file, task) = tasks.task(id);
            let recipe = recipe_of(&mut graph, file);
            let mut kinds = vec!["task".to_owned(), task.to_owned()];
            kinds.extend(class_names(&cache.recipe(file).info.inherits));
            let label = format!("{}:{task}", cache.recipe(file).info.pn);
            task_nodes.push((graph.add_node(&label, kinds), recipe, file));
        }
        for id in tasks.ids() {
            let (node, recipe, file) = task_nodes[id.index()];
            for &dep in tasks.depends(id) {
                let (dep_node, dep_recipe, dep_file) = task_nodes[dep.index()];
                graph.add_edge(node, dep_node);
                if dep_file != file {
                    graph.add_edge(recipe, dep_recipe);
                }
            }
        }
        for (name, file) in taskdata.chosen_providers() {
            if let Some(&node) = recipe_node.get(&file) {
                graph.add_alias(name, node);
            }
        }

        // attr() reads variables from the recipes themselves: parsed on first use.
        let workspace = build.workspace()?;
        let session: OnceCell<Option<bb_load::Session>> = OnceCell::new();
        let configuration: RefCell<Option<bb_load::Configuration<'_>>> = RefCell::new(None);
        let stores: RefCell<HashMap<String, bb_data::ParsedRecipe>> = RefCell::new(HashMap::new());
        let node_file: HashMap<&str, FileId> = recipe_node
            .iter()
            .map(|(&file, _)| (cache.recipe(file).info.pn.as_str(), file))
            .collect();
        let attribute = |label: &str, var: &str| -> Option<String> {
            let pn = label.split_once(':').map_or(label, |(pn, _)| pn);
            let name = &cache.recipe(*node_file.get(pn)?).file;
            let (file, variant) = taskgraph::real_file(name);
            let (file, variant) = (file.to_owned(), variant.to_owned());
            let mut stores = stores.borrow_mut();
            if !stores.contains_key(&file) {
                let mut configuration = configuration.borrow_mut();
                if configuration.is_none() {
                    let session = session
                        .get_or_init(|| workspace.session(false).ok())
                        .as_ref()?;
                    let started = session.configure().ok()?;
                    started.data().take_log();
                    *configuration = Some(started);
                }
                let parsed = configuration
                    .as_mut()?
                    .parse_recipe(Path::new(&file))
                    .ok()?;
                stores.insert(file.clone(), parsed);
            }
            stores
                .get(&file)?
                .variants
                .get(&variant)?
                .get_var_str(var)
                .ok()?
        };
        let result: NodeSet =
            bbquery::evaluate(&expr, &graph, &attribute).map_err(|e| e.to_string())?;
        Ok(match args.output {
            Output::Label => result
                .iter()
                .map(|&n| format!("{}\n", graph.label(n)))
                .collect(),
            Output::Graph => graph.to_dot(&result),
            Output::Json => {
                let nodes: Vec<_> = result
                    .iter()
                    .map(|&n| {
                        let deps: Vec<&str> = graph
                            .deps(n)
                            .iter()
                            .filter(|d| result.contains(*d))
                            .map(|&d| graph.label(d))
                            .collect();
                        json!({"label": graph.label(n), "kinds": graph.kinds(n), "deps": deps})
                    })
                    .collect();
                format!("{:#}\n", json!(nodes))
            }
        })
    };
    crate::finish(run())
}
