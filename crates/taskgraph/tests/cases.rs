//! Data-driven cases: `testdata/taskgraph/CASE/case.json` (recipes as `RecipeInfo` fields,
//! `"summary_only": true` for one added with `RecipeCache::add_summary`, configuration
//! variables, command-line targets) resolved with `resolve_targets`, and the
//! notices and `task-depends.dot` compared with `expected.txt`. `UPDATE_EXPECT=1` rewrites
//! the expectations.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use bb_data::RecipeInfo;
use serde_json::Value;
use taskgraph::{ProviderSettings, Recipe, RecipeCache};

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/taskgraph")
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A recipe's info: the case's fields over the defaults (PR `r0`), the case's common tasks
/// where it names none.
fn info(fields: &Value, tasks: &Value) -> RecipeInfo {
    let mut merged = serde_json::to_value(RecipeInfo::default()).expect("serializable");
    merged["pr"] = "r0".into();
    merged["tasks"] = tasks.clone();
    for (key, value) in fields.as_object().expect("info is an object") {
        assert!(merged.get(key).is_some(), "RecipeInfo has no field {key}");
        merged[key] = value.clone();
    }
    serde_json::from_value(merged).expect("a RecipeInfo")
}

/// What resolving the case gives: its notices, then its graph or its error.
fn run(case: &Value, common_tasks: &Value) -> String {
    let vars: HashMap<String, String> = case
        .get("vars")
        .and_then(Value::as_object)
        .map(|vars| {
            vars.iter()
                .map(|(k, v)| (k.clone(), v.as_str().expect("a string").to_owned()))
                .collect()
        })
        .unwrap_or_default();
    let tasks = case.get("tasks").unwrap_or(common_tasks);
    let mut notices = Vec::new();
    let mut cache = RecipeCache::new(ProviderSettings::from_variables(&vars, &mut notices));
    for recipe in case["recipes"].as_array().expect("recipes") {
        let recipe_entry = Recipe {
            file: recipe["file"].as_str().expect("file").to_owned(),
            info: info(&recipe["info"], tasks),
            priority: recipe.get("priority").and_then(Value::as_i64).unwrap_or(5),
        };
        // A loader's summary: indexed for providers, its tasks never given.
        if recipe.get("summary_only").and_then(Value::as_bool) == Some(true) {
            cache.add_summary(recipe_entry);
        } else {
            cache.add(recipe_entry);
        }
    }
    let targets: Vec<String> = case["targets"]
        .as_array()
        .expect("targets")
        .iter()
        .map(|t| t.as_str().expect("a string").to_owned())
        .collect();
    let result = taskgraph::resolve_targets(&cache, &vars, &targets, None, &mut notices);
    let mut out = String::new();
    for notice in &notices {
        out.push_str(&format!("{}: {}\n", notice.level.name(), notice.message));
    }
    match result {
        Ok(graph) => {
            let pns: Vec<String> = graph.pns(&cache).into_iter().collect();
            out.push_str(&format!("recipes: {}\n", pns.join(" ")));
            out.push_str(&graph.to_dot(&cache));
        }
        Err(err) => out.push_str(&format!("error: {err}\n")),
    }
    out
}

#[test]
fn cases_resolve_as_expected() {
    let common_tasks = read_json(&testdata().join("common-tasks.json"));
    let update = std::env::var_os("UPDATE_EXPECT").is_some();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(testdata())
        .expect("testdata/taskgraph")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 5, "the cases are there: {dirs:?}");
    let mut failures = Vec::new();
    for dir in dirs {
        let actual = run(&read_json(&dir.join("case.json")), &common_tasks);
        let expected_path = dir.join("expected.txt");
        if update {
            std::fs::write(&expected_path, &actual).expect("writing the expectation");
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if actual != expected {
            failures.push(format!(
                "{}:\n--- expected\n{expected}\n--- actual\n{actual}",
                dir.display()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
