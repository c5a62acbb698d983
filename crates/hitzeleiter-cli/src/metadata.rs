//! `hitzeleiter parse` and `hitzeleiter getvar`: BitBake's parse of a build directory.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::rc::Rc;

use bb_data::{
    Cooker, CookerConfig, DataStore, Evaluator, Event, LogLevel, ParsedRecipe, PythonHost, Value,
};
use clap::Args;

/// Where the build directory is (BitBake's working directory).
#[derive(Args, Clone)]
pub(crate) struct BuildDir {
    /// The build directory (default: the current directory; bblayers.conf is searched
    /// from there upwards).
    #[arg(long, global = true)]
    build_dir: Option<PathBuf>,
}

#[derive(Args)]
pub(crate) struct ParseArgs {
    #[command(flatten)]
    build: BuildDir,
}

#[derive(Args)]
pub(crate) struct GetvarArgs {
    #[command(flatten)]
    build: BuildDir,
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
    /// The variable.
    var: String,
}

/// A parse session: the python host, the evaluator and the base configuration.
struct Session {
    evaluator: Evaluator,
    config: CookerConfig,
}

impl Session {
    fn new(build: &BuildDir, tracking: bool) -> Result<Session, String> {
        let python: Rc<dyn PythonHost> =
            Rc::new(bb_python::Python::new().map_err(|e| format!("python failed to start: {e}"))?);
        let cwd = match &build.build_dir {
            Some(dir) => std::path::absolute(dir).map_err(|e| format!("{}: {e}", dir.display()))?,
            None => std::env::current_dir().map_err(|e| format!("current directory: {e}"))?,
        };
        Ok(Session {
            evaluator: Evaluator::new(Some(python)),
            config: CookerConfig {
                cwd,
                env: std::env::vars().collect(),
                tracking,
            },
        })
    }

    fn cooker(&self) -> Cooker<'_> {
        Cooker::new(&self.evaluator, self.config.clone())
    }
}

fn print_log(d: &DataStore) {
    for record in d.take_log() {
        let prefix = match record.level {
            LogLevel::Debug => continue,
            LogLevel::Note => "NOTE",
            LogLevel::Warning => "WARNING",
            LogLevel::Error => "ERROR",
        };
        eprintln!("{prefix}: {}", record.message);
    }
}

/// `hitzeleiter parse`: every recipe of BBFILES with its variants, then BitBake's summary.
pub(crate) fn parse(args: &ParseArgs) -> ExitCode {
    let session = match Session::new(&args.build, false) {
        Ok(session) => session,
        Err(err) => {
            eprintln!("ERROR: {err}");
            return ExitCode::FAILURE;
        }
    };
    let mut cooker = session.cooker();
    let config = match cooker.parse_base_configuration() {
        Ok(config) => config,
        Err(err) => {
            eprintln!("ERROR: {err}");
            return ExitCode::FAILURE;
        }
    };
    print_log(&config);
    let files = match bb_data::collect_recipe_files(&config) {
        Ok(files) => files,
        Err(err) => {
            eprintln!("ERROR: {err}");
            return ExitCode::FAILURE;
        }
    };
    let (mut targets, mut skipped, mut errors) = (0, 0, 0);
    for recipe in &files.recipes {
        let appends = bb_data::appends_for(recipe, &files.appends);
        let layer = bb_data::file_layer_name(&config, recipe)
            .ok()
            .flatten()
            .unwrap_or_default();
        match cooker.parse_recipe(&config, recipe, &appends, &layer) {
            Ok(parsed) => {
                for (variant, d) in &parsed.variants {
                    targets += 1;
                    if parsed.skipped(variant).ok().flatten().is_some() {
                        skipped += 1;
                    }
                    print_log(d);
                }
            }
            Err(err) => {
                errors += 1;
                eprintln!("ERROR: Unable to parse {}: {err}", recipe.display());
            }
        }
    }
    println!(
        "Parsing of {} .bb files complete (0 cached, {} parsed). {targets} targets, {skipped} skipped, {} masked, {errors} errors.",
        files.recipes.len(),
        files.recipes.len(),
        files.masked
    );
    if errors > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Finds the recipe whose PN (or a variant's PN) is `name`: first among files named like
/// it, then among all.
fn find_recipe(
    cooker: &mut Cooker<'_>,
    config: &DataStore,
    name: &str,
) -> Result<(PathBuf, String, ParsedRecipe), String> {
    let files = bb_data::collect_recipe_files(config).map_err(|e| e.to_string())?;
    let base = ["-native", "-nativesdk", "-cross", "-crosssdk"]
        .iter()
        .find_map(|suffix| name.strip_suffix(suffix))
        .unwrap_or(name)
        .trim_start_matches("nativesdk-");
    let stem = |p: &Path| {
        p.file_stem()
            .map(|s| {
                s.to_string_lossy()
                    .split('_')
                    .next()
                    .unwrap_or_default()
                    .to_owned()
            })
            .unwrap_or_default()
    };
    let (likely, rest): (Vec<&PathBuf>, Vec<&PathBuf>) = files
        .recipes
        .iter()
        .partition(|p| stem(p) == base || stem(p) == name);
    for recipe in likely.into_iter().chain(rest) {
        let appends = bb_data::appends_for(recipe, &files.appends);
        let layer = bb_data::file_layer_name(config, recipe)
            .ok()
            .flatten()
            .unwrap_or_default();
        let Ok(parsed) = cooker.parse_recipe(config, recipe, &appends, &layer) else {
            continue;
        };
        let matching = parsed
            .variants
            .iter()
            .find(|(_, d)| d.get_var_str("PN").ok().flatten().as_deref() == Some(name))
            .map(|(variant, _)| variant.clone());
        if let Some(variant) = matching {
            return Ok((recipe.clone(), variant, parsed));
        }
    }
    Err(format!("Nothing PROVIDES '{name}'"))
}

/// The history block BitBake's `VariableHistory.emit` prints before a variable.
fn history_block(var: &str, events: &[Event], unexpanded: &str) -> String {
    let mut out = String::new();
    if events.is_empty() {
        out.push_str(&format!(
            "#\n# ${var}\n#   [no history recorded]\n#\n#   \"{}\"\n",
            unexpanded.replace('\n', "\n#")
        ));
        return out;
    }
    if events.len() == 1 {
        out.push_str(&format!("#\n# ${var}\n"));
    } else {
        out.push_str(&format!("#\n# ${var} [{} operations]\n", events.len()));
    }
    for event in events {
        let flag = event
            .flag
            .as_ref()
            .map(|f| format!("[{f}] "))
            .unwrap_or_default();
        out.push_str(&format!(
            "#   {} {}:{}\n#     {flag}\"{}\"\n",
            event.op,
            event.file,
            event.line,
            event.detail.replace('\n', "\n#     ")
        ));
    }
    if events.len() > 1 {
        out.push_str(&format!(
            "# pre-expansion value:\n#   \"{}\"\n",
            unexpanded.replace('\n', "\n#")
        ));
    }
    out
}

/// `hitzeleiter getvar`: bitbake-getvar's output.
pub(crate) fn getvar(args: &GetvarArgs) -> ExitCode {
    let run = || -> Result<Option<String>, String> {
        let session = Session::new(&args.build, true)?;
        let mut cooker = session.cooker();
        let config = cooker
            .parse_base_configuration()
            .map_err(|e| e.to_string())?;
        let d = match &args.recipe {
            None => config,
            Some(name) => {
                let (_, variant, parsed) = find_recipe(&mut cooker, &config, name)?;
                parsed.variants[&variant].clone()
            }
        };
        let expand = !args.unexpand;
        let value = match &args.flag {
            Some(flag) => d.get_var_flag(&args.var, flag, expand),
            None if expand => d.get_var(&args.var),
            None => d.get_var_raw(&args.var),
        }
        .map_err(|e| e.to_string())?;
        let Some(value) = value else {
            return Ok(None);
        };
        if args.value {
            return Ok(Some(format!("{value}\n")));
        }
        let unexpanded = d
            .get_var_raw(&args.var)
            .map_err(|e| e.to_string())?
            .map(|v| v.to_string())
            .unwrap_or_default();
        let exported = d
            .get_var_flag(&args.var, "export", false)
            .ok()
            .flatten()
            .is_some_and(|v| bb_data::to_boolean(&v));
        let history = history_block(&args.var, &d.history(&args.var), &unexpanded);
        let quoted = escape_value(&value);
        let export = if exported { "export " } else { "" };
        Ok(Some(format!(
            "{history}{export}{}=\"{quoted}\"\n",
            args.var
        )))
    };
    match run() {
        Ok(Some(text)) => {
            let _ = std::io::stdout().write_all(text.as_bytes());
            ExitCode::SUCCESS
        }
        Ok(None) => {
            eprintln!("The variable '{}' is not defined", args.var);
            ExitCode::FAILURE
        }
        Err(err) => {
            eprintln!("ERROR: {err}");
            ExitCode::FAILURE
        }
    }
}

/// `bb.data.emit_var`'s escaping of a value between double quotes.
fn escape_value(value: &Value) -> String {
    value.to_string().replace('"', "\\\"")
}
