//! `hitzeleiter`: the command line of Hitzeleiter, a BitBake-compatible build tool.
//!
//! The binary only wires the library crates together; each subcommand lives in its own
//! module.

mod build;
mod cache;
mod graph;
mod layers;
mod load;
mod metadata;
mod parse_profile;
mod query;
mod sandboxcmd;
mod syntax;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

// Parsing allocates and frees small strings and python objects at a high rate, on every
// core: mimalloc does that in about half the time of glibc's malloc. Its version 2 (the
// `v2` feature) parses openembedded-core ~4% faster than its version 3, at the same peak
// memory, and returns freed memory to the system after 10 ms (100 ms for whole arena
// blocks), as a parse worker needs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "hitzeleiter",
    version,
    about = "A BitBake-compatible build tool"
)]
struct Cli {
    /// Where the build directory is, for every command that reads one.
    #[command(flatten)]
    build: load::BuildDir,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Parse metadata files (.bb, .bbappend, .bbclass, .inc, .conf) and report syntax errors.
    Syntax(syntax::SyntaxArgs),
    /// Build targets, as `bitbake TARGET…`: tasks run in order, cached by content.
    Build(build::BuildArgs),
    /// Run a command in the task sandbox (for debugging and benchmarks).
    Sandbox(sandboxcmd::SandboxArgs),
    /// What this machine allows: namespaces for the sandbox, cgroup controllers for limits.
    Info,
    /// Runs one task in this process (used by `build` for python tasks).
    #[command(hide = true)]
    InternalRunTask(build::RunTaskArgs),
    /// Parse every recipe of the build directory, as `bitbake -p`.
    Parse(metadata::ParseArgs),
    /// Print a variable of the configuration or of a recipe, as `bitbake-getvar`.
    Getvar(metadata::GetvarArgs),
    /// Print the whole environment of the configuration or of a recipe, as `bitbake -e`.
    Env(metadata::EnvArgs),
    /// Write the task graph of targets (task-depends.dot, pn-buildlist), as `bitbake -g`.
    Graph(graph::GraphArgs),
    /// The content store and action cache: size, eviction.
    Cache(cache::CacheArgs),
    /// Query recipes and tasks with Bazel's query language (deps, rdeps, allpaths, kind, attr, …).
    Query(query::QueryArgs),
    /// List the layers with their paths and priorities, as `bitbake-layers show-layers`.
    ShowLayers(layers::ShowLayersArgs),
    /// List recipes with their layers and versions, as `bitbake-layers show-recipes`.
    ShowRecipes(layers::ShowRecipesArgs),
    /// List bbappends and the recipes they apply to, as `bitbake-layers show-appends`.
    ShowAppends(layers::ShowAppendsArgs),
}

/// Developer diagnostics (the libraries' `tracing` spans and events) on standard error,
/// when HZ_LOG (or RUST_LOG) asks for them, e.g. `HZ_LOG=debug` or `HZ_LOG=bb_load=trace`.
/// Off otherwise: what users see is BitBake's output, printed by the commands.
fn diagnostics() {
    let Some(filter) = ["HZ_LOG", "RUST_LOG"]
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
    else {
        return;
    };
    match tracing_subscriber::EnvFilter::try_new(&filter) {
        Ok(filter) => tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
            .init(),
        Err(err) => eprintln!("WARNING: HZ_LOG = \"{filter}\": {err}; no diagnostics"),
    }
}

fn main() -> ExitCode {
    // The sandbox sets itself up in processes of this program.
    sandbox::enter_if_requested();
    diagnostics();
    let cli = Cli::parse();
    match cli.command {
        Command::Syntax(args) => syntax::run(&args),
        Command::Build(args) => build::build(&args, &cli.build),
        Command::InternalRunTask(args) => build::run_task(&args, &cli.build),
        Command::Sandbox(args) => sandboxcmd::sandbox(&args),
        Command::Info => sandboxcmd::info(),
        Command::Parse(args) => metadata::parse(&args, &cli.build),
        Command::Getvar(args) => metadata::getvar(&args, &cli.build),
        Command::Env(args) => metadata::env(&args, &cli.build),
        Command::Graph(args) => graph::graph(&args, &cli.build),
        Command::Query(args) => query::query(&args, &cli.build),
        Command::Cache(args) => cache::cache(&args, &cli.build),
        Command::ShowLayers(args) => layers::show_layers(&args, &cli.build),
        Command::ShowRecipes(args) => layers::show_recipes(&args, &cli.build),
        Command::ShowAppends(args) => layers::show_appends(&args, &cli.build),
    }
}

/// knotty's closing lines: how many WARNING and ERROR messages were shown.
pub(crate) fn knotty_summary(warnings: usize, errors: usize) -> Option<String> {
    let mut lines = Vec::new();
    match warnings {
        0 => {}
        1 => lines.push("Summary: There was 1 WARNING message.".to_owned()),
        n => lines.push(format!("Summary: There were {n} WARNING messages.")),
    }
    match errors {
        0 => {}
        1 => lines
            .push("Summary: There was 1 ERROR message, returning a non-zero exit code.".to_owned()),
        n => lines.push(format!(
            "Summary: There were {n} ERROR messages, returning a non-zero exit code."
        )),
    }
    (!lines.is_empty()).then(|| lines.join("\n"))
}

/// Prints a command's output, or its error as BitBake does; the exit code says which.
pub(crate) fn finish(result: Result<String, String>) -> ExitCode {
    match result {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("ERROR: {err}");
            ExitCode::FAILURE
        }
    }
}
