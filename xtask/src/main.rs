//! Project automation, run as `cargo xtask <command>`:
//!
//! - `test`: everything CI runs (format, lints, tests, corpus and conformance tests,
//!   cargo-deny, publish dry runs), ending with one `tests: N passed, M failed` line.
//! - `bench [NAME]`: runs the benchmarks and rewrites their table in docs/benchmarks.md.
//! - `dist [--oe-core DIR]`: the release binary optimised with a profile of a parse of
//!   openembedded-core and a build of the demo image, in target/dist/hitzeleiter.
//! - `fuzz [SECONDS]`: runs the parser fuzz target for a fixed time budget.
//! - `oracle`: the differential harness: the cases of testdata/conformance/ evaluated by
//!   the real BitBake library (in the venv xtask makes) and by Hitzeleiter, differences
//!   listed. `test` runs it too.

mod bench;
mod dist;
mod fuzz;
mod scratch;
mod stack;
mod test;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => test::run(),
        Some("bench") => bench::run(args.get(1).map(String::as_str)),
        Some("fuzz") => fuzz::run(args.get(1).map(String::as_str)),
        Some("dist") => dist::run(&args[1..]).map(|_| ()),
        Some("oracle") => oracle(),
        _ => Err(
            "usage: cargo xtask test | bench [parse|stack|graph|cas|build|sandbox] | dist [--oe-core DIR] \
             | fuzz [SECONDS] | oracle"
                .to_owned(),
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

/// `cargo xtask oracle`: testdata/conformance/ against the real BitBake, live.
fn oracle() -> Result<(), String> {
    let python = test::bitbake_python()?;
    run_step(
        "testdata/conformance against the real BitBake",
        cargo()
            .args([
                "test",
                "-p",
                "bb-python",
                "--test",
                "conformance",
                "testdata_cases_agree_with_live_bitbake",
                "--",
                "--nocapture",
            ])
            .env("HZ_BB_PYTHON", python),
    )
}

/// The workspace root (xtask lives one level below it).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask is inside the workspace")
        .to_path_buf()
}

/// The directory with the corpus, oracle and conformance cases, if present.
fn shared_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("HZ_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("../shared"));
    dir.is_dir().then_some(dir)
}

fn cargo() -> Command {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command.current_dir(root());
    command
}

/// Whether `cargo NAME` is installed (answers `--version`).
fn cargo_subcommand_installed(name: &str) -> bool {
    cargo()
        .args([name, "--version"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs a command to completion, failing with its description if it fails.
fn run_step(description: &str, command: &mut Command) -> Result<(), String> {
    eprintln!("==> {description}");
    let status = command
        .status()
        .map_err(|err| format!("{description}: cannot start: {err}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{description} failed ({status})"))
    }
}
