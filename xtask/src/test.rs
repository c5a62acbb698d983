//! `cargo xtask test`: what CI runs.

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use crate::{cargo, cargo_subcommand_installed, root, run_step, shared_dir};

/// Library crates that must package cleanly for crates.io, verified by building them.
const PUBLISHED_CRATES: &[&str] = &[
    "bb-syntax",
    "bb-data",
    "hitzeleiter-taskgraph",
    "bbquery",
    "hitzeleiter-cas",
    "sysroot",
    "hitzeleiter-sandbox",
    "hitzeleiter-executor",
];

/// Library crates packaged without the verifying build, which would compile RustPython
/// again in a target directory of its own (minutes of CI); the workspace's build and
/// tests verify them.
const PACKAGED_UNVERIFIED: &[&str] = &["bb-python", "bb-load"];

pub(crate) fn run() -> Result<(), String> {
    match shared_dir() {
        Some(dir) => eprintln!("corpus, oracle and conformance cases: {}", dir.display()),
        None => eprintln!(
            "no ../shared directory and HZ_SHARED unset: corpus and conformance tests will be skipped"
        ),
    }
    run_step(
        "cargo fmt --check",
        cargo().args(["fmt", "--all", "--", "--check"]),
    )?;
    run_step(
        "cargo clippy -D warnings",
        cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]),
    )?;
    if shared_dir().is_some() {
        ensure_host_tools();
    }
    let counts = cargo_tests()?;
    run_examples()?;
    cargo_deny()?;
    forget_packaged_workspace_crates();
    // One invocation, so that crates depending on each other are verified together.
    // Cargo takes registry crates as immutable and would reuse the build of an earlier
    // dry run of the same version: verify in a target directory of its own, fresh.
    let publish_target = root().join("target/publish-check");
    let _ = std::fs::remove_dir_all(&publish_target);
    let mut publish = cargo();
    publish
        .args([
            "publish",
            "--dry-run",
            "--allow-dirty",
            "--quiet",
            "--target-dir",
        ])
        .arg(&publish_target);
    for krate in PUBLISHED_CRATES {
        publish.args(["-p", krate]);
    }
    run_step(
        &format!("cargo publish --dry-run of {}", PUBLISHED_CRATES.join(", ")),
        &mut publish,
    )?;
    // Packaged together with the crates it depends on, which are not on crates.io.
    let mut package = cargo();
    package.args(["package", "--no-verify", "--allow-dirty", "--quiet"]);
    for krate in PUBLISHED_CRATES.iter().chain(PACKAGED_UNVERIFIED) {
        package.args(["-p", krate]);
    }
    run_step(
        &format!(
            "cargo package --no-verify of {}",
            PACKAGED_UNVERIFIED.join(", ")
        ),
        &mut package,
    )?;
    let skip_note = if counts.skipped.is_empty() {
        String::new()
    } else {
        eprintln!("skipped:");
        for reason in &counts.skipped {
            eprintln!("  {reason}");
        }
        format!(", {} skipped", counts.skipped.len())
    };
    println!(
        "tests: {} passed, {} failed{skip_note}",
        counts.passed, counts.failed
    );
    if counts.failed > 0 {
        return Err("tests failed".into());
    }
    Ok(())
}

/// Runs the example programs where an embedder starts, as a user runs them: a variable of
/// a recipe and a task graph's size from a copy of the parse test build directory, and one
/// sandboxed action twice (the second time restored from its cache).
fn run_examples() -> Result<(), String> {
    let scratch = root().join("target/examples-scratch");
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).map_err(|e| format!("{}: {e}", scratch.display()))?;
    run_step(
        "copy testdata/parse for the examples",
        std::process::Command::new("cp")
            .arg("-r")
            .arg(root().join("testdata/parse"))
            .arg(&scratch),
    )?;
    let build = scratch.join("parse/build").display().to_string();
    let action = scratch.join("action").display().to_string();
    // `cargo test --workspace` has built them with the workspace's features: `cargo run -p`
    // would resolve one crate's features and build RustPython again.
    run_step(
        "cargo build --workspace --examples",
        cargo().args(["build", "--workspace", "--examples"]),
    )?;
    let example = |name: &str, args: &[&str], expected: &str| {
        let description = format!("example {name} {}", args.join(" "));
        eprintln!("==> {description}");
        let output = std::process::Command::new(root().join("target/debug/examples").join(name))
            .args(args)
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| format!("{description}: cannot start: {e}"))?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        print!("{stdout}");
        if !output.status.success() || !stdout.contains(expected) {
            return Err(format!(
                "{description}: {}, expected output containing '{expected}'",
                output.status
            ));
        }
        Ok(())
    };
    example("print_variable", &[&build, "hello", "PV"], "1.0\n")?;
    example("graph_size", &[&build, "hello"], "hello: ")?;
    example("run_action", &[&action], "ran 1, restored 0")?;
    example("run_action", &[&action], "ran 0, restored 1")
}

/// Host tools small machines may lack: openembedded-core's sanity check (HOSTTOOLS)
/// requires the first four (the tests that parse openembedded-core need them), the demo
/// build (testdata/demo-build) runs make and patch. Debian package names equal the tool
/// names.
const HOST_TOOLS: &[&str] = &["chrpath", "cpio", "diffstat", "gawk", "make", "patch"];

/// Installs the missing HOST_TOOLS with apt-get when running as root; otherwise the
/// tests that need them report themselves skipped.
fn ensure_host_tools() {
    let on_path = |tool: &str| {
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
            .any(|dir| dir.join(tool).is_file())
    };
    let missing: Vec<&str> = HOST_TOOLS.iter().copied().filter(|t| !on_path(t)).collect();
    if missing.is_empty() {
        return;
    }
    let root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if !root || !on_path("apt-get") {
        eprintln!(
            "host tools missing ({}), not root with apt-get: the tests that need them will be skipped",
            missing.join(", ")
        );
        return;
    }
    let installed = run_step(
        "apt-get update",
        std::process::Command::new("apt-get").args(["update", "-qq"]),
    )
    .and_then(|()| {
        run_step(
            &format!("apt-get install {}", missing.join(" ")),
            std::process::Command::new("apt-get")
                .args(["install", "-y", "-qq"])
                .args(&missing)
                .env("DEBIAN_FRONTEND", "noninteractive"),
        )
    });
    if let Err(err) = installed {
        eprintln!("{err}: the tests that need them will be skipped");
    }
}

/// A dry run unpacks our own crates into cargo's registry cache, under their version,
/// and a later dry run would verify against those stale copies. They are not on
/// crates.io, so any copy there is a leftover: remove it.
fn forget_packaged_workspace_crates() {
    let home = std::env::var_os("CARGO_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".cargo")));
    let Some(home) = home else {
        return;
    };
    for kind in ["src", "cache"] {
        let Ok(registries) = std::fs::read_dir(home.join("registry").join(kind)) else {
            continue;
        };
        for registry in registries.flatten() {
            let Ok(entries) = std::fs::read_dir(registry.path()) else {
                continue;
            };
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().to_string();
                let ours = PUBLISHED_CRATES
                    .iter()
                    .chain(PACKAGED_UNVERIFIED)
                    .any(|krate| name.starts_with(&format!("{krate}-0.")));
                if ours {
                    let path = entry.path();
                    let _ = if path.is_dir() {
                        std::fs::remove_dir_all(&path)
                    } else {
                        std::fs::remove_file(&path)
                    };
                }
            }
        }
    }
}

struct Counts {
    passed: usize,
    failed: usize,
    skipped: Vec<String>,
}

/// Runs the whole workspace's tests, echoing their output and adding up the result lines.
/// Tests that cannot run here write why to `HZ_SKIP_LOG`.
fn cargo_tests() -> Result<Counts, String> {
    eprintln!("==> cargo test --workspace");
    let skip_log = root().join("target/xtask-skipped.log");
    let _ = std::fs::create_dir_all(root().join("target"));
    let _ = std::fs::remove_file(&skip_log);
    let mut command = cargo();
    command
        .args(["test", "--workspace", "--color", "never"])
        .env("HZ_SKIP_LOG", &skip_log);
    match bitbake_python() {
        Ok(python) => {
            command.env("HZ_BB_PYTHON", python);
        }
        Err(reason) => {
            eprintln!("real BitBake unavailable, its differential tests will be skipped: {reason}")
        }
    }
    let mut child = command
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|err| format!("cannot start cargo test: {err}"))?;
    let mut counts = Counts {
        passed: 0,
        failed: 0,
        skipped: Vec::new(),
    };
    let stdout = child.stdout.take().expect("stdout is piped");
    for line in BufReader::new(stdout).lines() {
        let line = line.map_err(|err| format!("reading cargo test output: {err}"))?;
        println!("{line}");
        if let Some(rest) = line.strip_prefix("test result: ") {
            counts.passed += count_before(rest, " passed");
            counts.failed += count_before(rest, " failed");
        }
    }
    let status = child.wait().map_err(|err| format!("cargo test: {err}"))?;
    counts.skipped = std::fs::read_to_string(&skip_log)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect();
    if !status.success() && counts.failed == 0 {
        return Err(format!("cargo test failed ({status})"));
    }
    Ok(counts)
}

/// The real BitBake parser, for differential tests: bitbake-setup 2.19.0 from PyPI in a
/// venv under target/, made on first use.
pub(crate) fn bitbake_python() -> Result<std::path::PathBuf, String> {
    let venv = root().join("target/oracle-venv");
    let python = venv.join("bin/python");
    let ready = venv.join(".bitbake-setup-2.19.0");
    if ready.exists() {
        return Ok(python);
    }
    run_step(
        "python3 -m venv target/oracle-venv",
        std::process::Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv),
    )?;
    run_step(
        "pip install bitbake-setup==2.19.0",
        std::process::Command::new(&python).args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "bitbake-setup==2.19.0",
        ]),
    )?;
    std::fs::write(&ready, "").map_err(|err| format!("{}: {err}", ready.display()))?;
    Ok(python)
}

/// The number in front of `label` in a `test result:` line.
fn count_before(line: &str, label: &str) -> usize {
    line.split(';')
        .find_map(|part| {
            part.trim()
                .trim_start_matches("ok. ")
                .trim_start_matches("FAILED. ")
                .strip_suffix(label.trim_start())
        })
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

/// Licences, bans and sources with cargo-deny, when it is installed (`.ci/run` installs
/// it). Advisories need the RustSec database from the network, which this machine lacks.
fn cargo_deny() -> Result<(), String> {
    let installed = cargo_subcommand_installed("deny");
    if !installed {
        eprintln!("==> cargo deny: not installed, skipped (cargo install --locked cargo-deny)");
        return Ok(());
    }
    run_step(
        "cargo deny check licenses bans sources",
        cargo().args([
            "deny",
            "--all-features",
            "check",
            "licenses",
            "bans",
            "sources",
        ]),
    )
}

#[cfg(test)]
mod tests {
    use super::count_before;

    #[test]
    fn reads_cargo_test_result_lines() {
        let line =
            "ok. 11 passed; 2 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.00s";
        assert_eq!(count_before(line, " passed"), 11);
        assert_eq!(count_before(line, " failed"), 2);
        let failed = "FAILED. 3 passed; 1 failed; 0 ignored";
        assert_eq!(count_before(failed, " passed"), 3);
    }
}
