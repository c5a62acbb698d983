//! Loads a build directory and prints a variable of a recipe, as
//! `bitbake-getvar -r RECIPE VARIABLE --value` does: every recipe parsed (or taken from the
//! parse cache), the name resolved to its recipe file, that one recipe parsed again.
//!
//! ```sh
//! cargo run -p bb-load --example print_variable -- BUILD_DIR RECIPE VARIABLE
//! ```

use bb_load::{NoObserver, ParseOptions, Recipes, Resolution, Workspace};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir, recipe, variable] = args.as_slice() else {
        return Err("usage: print_variable BUILD_DIR RECIPE VARIABLE".into());
    };
    let workspace = Workspace::new(Some(dir.as_ref()))?;
    let parsed = workspace.parse_recipes(&ParseOptions::with_infos(), &mut NoObserver)?;
    let summary = parsed.summary();
    if summary.errors > 0 {
        return Err(format!("{summary}").into());
    }
    let target = Recipes::new(parsed).resolve(recipe, Resolution::Tinfoil, &mut Vec::new())?;
    let session = workspace.session(false)?;
    let mut configuration = session.configure()?;
    let d = configuration.parse_target(&target)?;
    match d.get_var_str(variable)? {
        Some(value) => println!("{value}"),
        None => return Err(format!("{variable} is not set in {recipe}").into()),
    }
    Ok(())
}
