//! `show-layers`, `show-recipes` and `show-appends`: bitbake-layers' views of the layers
//! and recipes of a build directory, in its text formats or as JSON.

use std::path::Path;
use std::process::ExitCode;

use clap::Args;
use serde_json::json;
use taskgraph::RecipeCache;

use crate::finish;
use bb_load::Recipes;
use taskgraph::real_file;

use crate::load::{BuildDir, Reporting, index_recipes, load_recipes};
use crate::metadata::Format;

#[derive(Args)]
pub(crate) struct ShowLayersArgs {
    /// Output format: bitbake-layers' text, or JSON.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

#[derive(Args)]
pub(crate) struct ShowRecipesArgs {
    /// Show recipe files instead of names and versions.
    #[arg(short = 'f', long)]
    filenames: bool,
    /// Show only recipe names.
    #[arg(short = 'r', long = "recipes-only")]
    recipes_only: bool,
    /// Only recipes with more than one provider.
    #[arg(short = 'm', long)]
    multiple: bool,
    /// Only recipes inheriting these classes (comma-separated).
    #[arg(short = 'i', long)]
    inherits: Option<String>,
    /// Only recipes of these layers (layer directory names).
    #[arg(short = 'l', long = "layer")]
    layers: Vec<String>,
    /// No title and no skip reasons.
    #[arg(short = 'b', long)]
    bare: bool,
    /// Output format: bitbake-layers' text, or JSON.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Recipe names or globs (`gcc*`).
    pnspec: Vec<String>,
}

#[derive(Args)]
pub(crate) struct ShowAppendsArgs {
    /// Output format: bitbake-layers' text, or JSON.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

/// The layer directory's name of the collection a file belongs to (`?` if none), as
/// bitbake-layers shows it.
fn layer_of(recipes: &Recipes, file: &str) -> String {
    let parsed = &recipes.parsed;
    bb_data::file_collection(&parsed.collections, file)
        .and_then(|c| parsed.layer_dirs.iter().find(|(name, _)| *name == c.name))
        .and_then(|(_, dir)| dir.file_name())
        .map_or_else(|| "?".to_owned(), |n| n.to_string_lossy().into_owned())
}

/// `hitzeleiter show-layers`.
pub(crate) fn show_layers(args: &ShowLayersArgs, build: &BuildDir) -> ExitCode {
    finish(index_recipes(build, Reporting::ALL).map(|recipes| {
        let parsed = &recipes.parsed;
        let dir_of = |name: &str| {
            parsed
                .layer_dirs
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, dir)| dir.display().to_string())
                .unwrap_or_default()
        };
        if args.format == Format::Json {
            let layers: Vec<_> = parsed
                .collections
                .iter()
                .map(|c| {
                    json!({"name": c.name, "path": dir_of(&c.name), "pattern": c.pattern, "priority": c.priority})
                })
                .collect();
            return format!("{:#}\n", json!(layers));
        }
        let mut out = format!("{:<20}  {:<70}  priority\n{}\n", "layer", "path", "=".repeat(104));
        for c in &parsed.collections {
            out.push_str(&format!("{:<20}  {:<70}  {}\n", c.name, dir_of(&c.name), c.priority));
        }
        out
    }))
}

/// A provider row: file, layer, version, skip reason.
struct Row {
    file: String,
    layer: String,
    version: String,
    skipped: Option<String>,
}

fn version_text(pe: &str, pv: &str) -> String {
    if pe.is_empty() {
        pv.to_owned()
    } else {
        format!("{pe}:{pv}")
    }
}

/// `hitzeleiter show-recipes`: bitbake-layers' `list_recipes`.
pub(crate) fn show_recipes(args: &ShowRecipesArgs, build: &BuildDir) -> ExitCode {
    // Only `-i` reads more of a recipe than its provider fields: the classes it inherits.
    let load = if args.inherits.is_some() {
        load_recipes
    } else {
        index_recipes
    };
    finish(load(build, Reporting::ALL).and_then(|recipes| list_recipes(args, &recipes)))
}

fn list_recipes(args: &ShowRecipesArgs, recipes: &Recipes) -> Result<String, String> {
    let cache: &RecipeCache = recipes.cache();
    let vars = &recipes.parsed.provider_vars;
    let inherits: Vec<&str> = args
        .inherits
        .as_deref()
        .map(|i| i.split(',').filter(|c| !c.is_empty()).collect())
        .unwrap_or_default();
    // PN → (version, file) of every provider, skipped recipes included (by file name).
    let taskgraph::RecipeListing {
        all,
        preferred,
        skip_reasons,
    } = taskgraph::RecipeListing::new(cache, vars);
    let global_inherit: Vec<String> = vars
        .get("INHERIT")
        .map(|v| v.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default();
    let mut listed: Vec<(String, Vec<Row>)> = Vec::new();
    let mut shown_files: Vec<String> = Vec::new();
    for (pn, providers) in &all {
        if !args.pnspec.is_empty()
            && !args
                .pnspec
                .iter()
                .any(|spec| glob::Pattern::new(spec).is_ok_and(|p| p.matches(pn)))
        {
            continue;
        }
        if args.multiple && providers.len() < 2 {
            continue;
        }
        let Some((pref_version, pref_name)) = preferred.get(pn) else {
            continue;
        };
        let (pref_file, variant) = real_file(pref_name);
        // One entry per recipe file: a class-extended variant is shown under its recipe.
        if !variant.is_empty() && cache.find(pref_file).is_some() {
            continue;
        }
        if !inherits.is_empty() {
            let classes: Vec<String> = cache
                .find(pref_file)
                .map(|id| cache.recipe(id).info.inherits.clone())
                .unwrap_or_default()
                .iter()
                // bitbake-layers ignores relative `classes…/` entries (regex `classes.*/`).
                .filter(|c| {
                    !c.strip_prefix("classes")
                        .is_some_and(|rest| rest.contains('/'))
                })
                .filter_map(|c| {
                    Path::new(c)
                        .file_stem()
                        .map(|s| s.to_string_lossy().into_owned())
                })
                .filter(|c| !global_inherit.contains(c))
                .collect();
            if !inherits
                .iter()
                .all(|wanted| classes.iter().any(|c| c == wanted))
            {
                continue;
            }
        }
        if shown_files.iter().any(|f| f == pref_file) {
            continue;
        }
        shown_files.push(pref_file.to_owned());
        let row = |name: &str, version: &(String, String)| {
            let file = real_file(name).0.to_owned();
            Row {
                layer: layer_of(recipes, &file),
                version: version_text(&version.0, &version.1),
                skipped: skip_reasons.get(file.as_str()).map(|r| (*r).to_owned()),
                file,
            }
        };
        let mut rows = vec![row(pref_name, pref_version)];
        for (version, name) in providers {
            if real_file(name).0 != pref_file {
                rows.push(row(name, version));
            }
        }
        let wanted_layer = |r: &Row| args.layers.is_empty() || args.layers.contains(&r.layer);
        rows.retain(wanted_layer);
        if !rows.is_empty() {
            listed.push((pn.clone(), rows));
        }
    }
    if args.format == Format::Json {
        let list: Vec<_> = listed
            .iter()
            .map(|(pn, rows)| {
                let providers: Vec<_> = rows
                    .iter()
                    .enumerate()
                    .map(|(i, r)| json!({"file": r.file, "layer": r.layer, "version": r.version, "preferred": i == 0, "skipped": r.skipped}))
                    .collect();
                json!({"pn": pn, "providers": providers})
            })
            .collect();
        return Ok(format!("{:#}\n", json!(list)));
    }
    let mut out = String::new();
    if !listed.is_empty() && !args.bare {
        let title = if inherits.is_empty() && args.pnspec.is_empty() && !args.multiple {
            "Available recipes:"
        } else {
            "Matching recipes:"
        };
        out.push_str(&format!("=== {title} ===\n"));
    }
    let mut unique_pns: Vec<&str> = Vec::new();
    for (pn, rows) in &listed {
        for (i, row) in rows.iter().enumerate() {
            let skipped = match (&row.skipped, args.bare) {
                (Some(reason), false) => format!(" (skipped: {reason})"),
                _ => String::new(),
            };
            if args.filenames {
                let indent = if i == 0 { "" } else { "  " };
                out.push_str(&format!("{indent}{}{skipped}\n", row.file));
            } else if args.recipes_only {
                if !unique_pns.contains(&pn.as_str()) {
                    unique_pns.push(pn);
                    out.push_str(&format!("{pn}{skipped}\n"));
                }
            } else {
                if i == 0 {
                    out.push_str(&format!("{pn}:\n"));
                }
                out.push_str(&format!("  {:<20} {}{skipped}\n", row.layer, row.version));
            }
        }
    }
    Ok(out)
}

/// `hitzeleiter show-appends`: the bbappends applied to each recipe file.
pub(crate) fn show_appends(args: &ShowAppendsArgs, build: &BuildDir) -> ExitCode {
    finish(index_recipes(build, Reporting::ALL).map(|recipes| {
        let appends = &recipes.parsed.files.appends;
        let cache = recipes.cache();
        let mut groups: Vec<(String, Vec<String>)> = Vec::new();
        // Returns the file's base name and whether bbappends apply to it (None for a
        // class-extended variant, which bitbake-layers leaves out).
        let mut add = |name: &str, suffix: &str| -> Option<(String, bool)> {
            let (file, variant) = real_file(name);
            if !variant.is_empty() {
                return None;
            }
            let applied = bb_data::appends_for(Path::new(file), appends);
            let base = Path::new(file)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if !applied.is_empty() {
                groups.push((
                    format!("{base}{suffix}"),
                    applied.iter().map(|a| a.display().to_string()).collect(),
                ));
            }
            Some((base, !applied.is_empty()))
        };
        let mut notices = Vec::new();
        for pn in cache.pns() {
            let files = cache.files_of(pn);
            let results: Vec<(String, bool)> = files
                .iter()
                .filter_map(|&id| add(&cache.recipe(id).file, ""))
                .collect();
            // Some version has bbappends but the preferred one has none: say so, as
            // bitbake-layers does.
            if results.iter().any(|(_, appended)| *appended) {
                let best = taskgraph::find_best_provider(
                    cache,
                    &recipes.parsed.provider_vars,
                    pn,
                    files,
                    None,
                    &mut notices,
                );
                if let Some((_, id)) = best.preferred {
                    let base = Path::new(real_file(&cache.recipe(id).file).0)
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    if results.iter().any(|(b, appended)| *b == base && !appended) {
                        eprintln!("WARNING: {base}: missing append for preferred version");
                    }
                }
            }
        }
        for recipe in cache.skipped() {
            add(&recipe.file, " (skipped)");
        }
        if args.format == Format::Json {
            let list: Vec<_> = groups
                .iter()
                .map(|(recipe, appends)| json!({"recipe": recipe, "appends": appends}))
                .collect();
            return format!("{:#}\n", json!(list));
        }
        let mut out = String::from("=== Matched appended recipes ===\n");
        if groups.is_empty() {
            out.push_str("No append files found\n");
        }
        for (recipe, appends) in groups {
            out.push_str(&format!("{recipe}:\n"));
            for append in appends {
                out.push_str(&format!("  {append}\n"));
            }
        }
        out
    }))
}
