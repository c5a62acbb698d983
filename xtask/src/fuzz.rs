//! `cargo xtask fuzz [SECONDS]`: the bb-syntax fuzz target under libFuzzer for a fixed
//! time budget. cargo-fuzz needs nightly flags; the pinned stable toolchain accepts them
//! with `RUSTC_BOOTSTRAP=1`, since no other toolchain can be installed here.

use crate::{cargo, cargo_subcommand_installed, root, run_step};

const DEFAULT_SECONDS: u32 = 60;

pub(crate) fn run(seconds: Option<&str>) -> Result<(), String> {
    let seconds: u32 = match seconds {
        Some(s) => s
            .parse()
            .map_err(|_| format!("not a number of seconds: {s}"))?,
        None => DEFAULT_SECONDS,
    };
    let installed = cargo_subcommand_installed("fuzz");
    if !installed {
        run_step(
            "cargo install cargo-fuzz",
            cargo().args(["install", "--locked", "cargo-fuzz"]),
        )?;
    }
    seed_corpus()?;
    run_step(
        &format!("cargo fuzz run parse for {seconds} s"),
        cargo()
            .env("RUSTC_BOOTSTRAP", "1")
            .args([
                "fuzz",
                "run",
                "--fuzz-dir",
                "crates/bb-syntax/fuzz",
                "parse",
                "--",
            ])
            .arg(format!("-max_total_time={seconds}")),
    )
}

/// Starts libFuzzer from the syntax test files, which hold every statement form.
fn seed_corpus() -> Result<(), String> {
    let corpus = root().join("crates/bb-syntax/fuzz/corpus/parse");
    std::fs::create_dir_all(&corpus).map_err(|err| format!("{}: {err}", corpus.display()))?;
    let testdata = root().join("testdata/syntax");
    let entries =
        std::fs::read_dir(&testdata).map_err(|err| format!("{}: {err}", testdata.display()))?;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e != "tree") {
            let target = corpus.join(entry.file_name());
            std::fs::copy(&path, &target).map_err(|err| format!("{}: {err}", target.display()))?;
        }
    }
    Ok(())
}
