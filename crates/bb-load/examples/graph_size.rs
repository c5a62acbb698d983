//! Loads a build directory, resolves a target as `bitbake -g TARGET` does and prints the
//! size of its task graph.
//!
//! ```sh
//! cargo run -p bb-load --example graph_size -- BUILD_DIR TARGET
//! ```

use bb_load::{NoObserver, ParseOptions, Recipes, Workspace};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir, target] = args.as_slice() else {
        return Err("usage: graph_size BUILD_DIR TARGET".into());
    };
    let workspace = Workspace::new(Some(dir.as_ref()))?;
    let mut recipes =
        Recipes::new(workspace.parse_recipes(&ParseOptions::with_infos(), &mut NoObserver)?);
    let mut notices = Vec::new();
    // Decodes the tasks of the recipes the target may reach, then resolves it.
    let graph = recipes.task_graph(std::slice::from_ref(target), None, &mut notices)?;
    for notice in &notices {
        eprintln!("{}: {}", notice.level.name(), notice.message);
    }
    let recipe_count = graph.pns(recipes.cache()).len();
    println!("{target}: {} tasks of {recipe_count} recipes", graph.len());
    Ok(())
}
