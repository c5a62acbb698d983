//! `hitzeleiter parse` and `hitzeleiter getvar`: BitBake's parse of a build directory.

use std::io::Write;
use std::process::ExitCode;

use bb_data::{DataStore, Event};
use bb_load::{ParseOptions, RecipeTarget, Resolution};
use clap::Args;
use serde_json::{Value as Json, json};

use crate::load::{BuildDir, Reporting, Shown};

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

fn print_log(d: &DataStore) {
    for line in d.take_log().iter().filter_map(bb_data::LogRecord::line) {
        eprintln!("{line}");
    }
}

/// `hitzeleiter parse`: every recipe of BBFILES with its variants, then BitBake's summary.
pub(crate) fn parse(args: &ParseArgs, build: &BuildDir) -> ExitCode {
    let options = ParseOptions {
        verbose: args.verbose,
        profile: args.profile,
        ..ParseOptions::default()
    };
    let parsed = build
        .workspace()
        .and_then(|workspace| crate::load::parse_recipes(&workspace, &options, Shown::Notes));
    match parsed {
        Ok(parsed) => {
            let (summary, errors) = crate::load::report(&parsed, Shown::Notes);
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

/// The recipe file and variant BitBake shows for target `name` (`how` says as which front
/// end), among all recipes (parsed, or from the parse cache), with what the parse and the
/// resolution print before it. Called before the command parses its own configuration: the
/// recipes' infos it loads are gone before that.
fn resolve_recipe(
    build: &BuildDir,
    name: &str,
    how: Resolution,
    reporting: Reporting,
) -> Result<RecipeTarget, String> {
    let mut recipes = crate::load::index_recipes(build, reporting)?;
    let mut notices = Vec::new();
    let target = recipes.resolve(name, how, &mut notices);
    if reporting.shown == Shown::Notes {
        crate::load::print_notices(&notices);
    }
    target.map_err(|e| e.to_string())
}

/// `hitzeleiter getvar`: bitbake-getvar's output.
pub(crate) fn getvar(args: &GetvarArgs, build: &BuildDir) -> ExitCode {
    let run = || -> Result<Option<String>, String> {
        // bitbake-getvar's tinfoil (quiet level 2, with -q 3) prints no parse summary.
        let reporting = Reporting {
            summary: false,
            shown: if args.quiet {
                Shown::Errors
            } else {
                Shown::Warnings
            },
        };
        let target = match &args.recipe {
            Some(name) => Some(resolve_recipe(build, name, Resolution::Tinfoil, reporting)?),
            None => None,
        };
        let session = build
            .workspace()?
            .session(true)
            .map_err(|e| e.to_string())?;
        let mut configuration = session.configure().map_err(|e| e.to_string())?;
        let d = match target {
            None => configuration.data().clone(),
            Some(target) => configuration
                .parse_target(&target)
                .map_err(|e| e.to_string())?,
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
                Resolution::BuildTarget,
                Reporting::ALL,
            )?),
            None => None,
        };
        let session = build
            .workspace()?
            .session(true)
            .map_err(|e| e.to_string())?;
        let mut configuration = session.configure().map_err(|e| e.to_string())?;
        let d = match (target, &args.buildfile) {
            (Some(target), _) => configuration.parse_target(&target),
            (None, Some(buildfile)) => {
                // Printed before an error from it too: the configuration's messages, then
                // collecting the recipe files'.
                let target = configuration.match_file(buildfile);
                print_log(configuration.data());
                target.and_then(|target| configuration.parse_target(&target))
            }
            (None, None) => {
                print_log(configuration.data());
                configuration.global_environment()
            }
        }
        .map_err(|e| e.to_string())?;
        let config = configuration.data();
        print_log(&d);
        if args.format == Format::Text {
            return Ok(bb_data::emit_environment(&d, config));
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
