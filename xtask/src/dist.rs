//! `cargo xtask dist`: the `hitzeleiter` binary to ship, optimised with a profile of its
//! own work (profile-guided optimisation, as rustc and CPython are built).
//!
//! 1. A release build instrumented to count what runs (`-Cprofile-generate`).
//! 2. That binary parses openembedded-core (cold, then warm), prints a recipe's
//!    environment and writes core-image-minimal's task graph: every recipe of the most
//!    common layer, through every part of the parse. Then it builds the demo image of
//!    testdata twice (from nothing, then with nothing to do) and queries it.
//! 3. `llvm-profdata` merges the counts; the release build is made again with them
//!    (`-Cprofile-use`), into `target/dist/hitzeleiter`.
//!
//! A cold parse of openembedded-core then takes ~10% less CPU (docs/benchmarks.md).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{cargo, root, run_step, shared_dir};

/// `cargo xtask dist [--oe-core DIR]`: builds target/dist/hitzeleiter, training on the
/// openembedded-core in DIR (default: the corpus in ../shared or HZ_SHARED); returns its
/// path.
pub(crate) fn run(args: &[String]) -> Result<PathBuf, String> {
    let oe_core = match args {
        [] => shared_dir()
            .map(|shared| shared.join("corpus/openembedded-core"))
            .ok_or(
                "the profile is made by parsing openembedded-core: give its checkout with \
                 `cargo xtask dist --oe-core DIR`, or put the corpus in ../shared (or HZ_SHARED)",
            )?,
        [flag, dir] if flag == "--oe-core" => PathBuf::from(dir),
        _ => return Err("usage: cargo xtask dist [--oe-core DIR]".into()),
    };
    let oe_core = oe_core
        .canonicalize()
        .map_err(|err| format!("{}: {err}", oe_core.display()))?;
    if !oe_core.join("meta/conf/bitbake.conf").is_file() {
        return Err(format!(
            "{} is not an openembedded-core checkout (no meta/conf/bitbake.conf)",
            oe_core.display()
        ));
    }
    let host = host_triple()?;
    let profdata = llvm_profdata(&host)?;
    let pgo = root().join("target/pgo");
    let profiles = pgo.join("profiles");
    let _ = std::fs::remove_dir_all(&profiles);
    std::fs::create_dir_all(&profiles).map_err(|err| format!("{}: {err}", profiles.display()))?;

    let instrumented = build(
        "instrumented release build",
        &host,
        &pgo.join("generate"),
        &format!(
            "--cfg hz_pgo_training -Cprofile-generate={}",
            profiles.display()
        ),
    )?;

    let (work, build_dir) = crate::scratch::scratch_build_dir("pgo/train", &oe_core)?;
    std::fs::write(
        build_dir.join("conf/bblayers.conf"),
        "BBPATH = \"${TOPDIR}\"\nBBFILES ?= \"\"\nBBLAYERS ?= \"${TOPDIR}/../openembedded-core/meta\"\n",
    )
    .map_err(|err| err.to_string())?;
    std::fs::write(
        build_dir.join("conf/local.conf"),
        "MACHINE = \"qemux86-64\"\nDISTRO = \"nodistro\"\nBB_NO_NETWORK = \"1\"\n",
    )
    .map_err(|err| err.to_string())?;
    let train = |dir: &Path, args: &[&str]| {
        run_step(
            &format!("training: hitzeleiter {}", args.join(" ")),
            Command::new(&instrumented)
                .args(args)
                .current_dir(dir)
                .env_remove("BBPATH")
                .stdout(std::process::Stdio::null()),
        )
    };
    for args in [
        &["parse"][..],
        &["parse"],
        &["env", "zlib"],
        &["graph", "core-image-minimal"],
    ] {
        train(&build_dir, args)?;
    }
    let _ = std::fs::remove_dir_all(&work);
    // Code no training run reaches is optimised as cold (for size): the builds' own code
    // (executor, store, sandbox, sysroots) is trained on the demo image.
    let demo = pgo.join("train-demo");
    let demo_build = crate::scratch::demo_copy(&demo)?;
    for args in [
        &["build", "demo-image"][..],
        &["build", "demo-image"],
        &["query", "rdeps(deps(demo-image), libdemo)"],
    ] {
        // A machine that cannot build (no user namespaces, no C compiler) still gets a
        // binary, said to be trained on parsing only.
        if let Err(err) = train(&demo_build, args) {
            eprintln!("warning: {err}; the profile has no builds in it");
            break;
        }
    }
    let _ = std::fs::remove_dir_all(&demo);

    let merged = pgo.join("merged.profdata");
    let raw: Vec<PathBuf> = std::fs::read_dir(&profiles)
        .map_err(|err| format!("{}: {err}", profiles.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|e| e == "profraw"))
        .collect();
    if raw.is_empty() {
        return Err(format!(
            "the training runs wrote no profile into {}",
            profiles.display()
        ));
    }
    run_step(
        "llvm-profdata merge",
        Command::new(&profdata)
            .arg("merge")
            .arg("-o")
            .arg(&merged)
            .args(&raw),
    )?;

    let optimised = build(
        "release build with the profile",
        &host,
        &pgo.join("use"),
        &format!("-Cprofile-use={}", merged.display()),
    )?;
    let target = root().join("target/dist/hitzeleiter");
    let parent = target.parent().ok_or("target/dist has no parent")?;
    std::fs::create_dir_all(parent).map_err(|err| format!("{}: {err}", parent.display()))?;
    // Copied beside, then renamed: a reader never sees half a binary.
    let partial = target.with_extension("partial");
    std::fs::copy(&optimised, &partial).map_err(|err| format!("{}: {err}", partial.display()))?;
    std::fs::rename(&partial, &target).map_err(|err| format!("{}: {err}", target.display()))?;
    eprintln!("==> {}", target.display());
    Ok(target)
}

/// A release build of the command with extra compiler flags, in its own target directory;
/// returns the binary. `--target` keeps the flags off build scripts and proc macros.
fn build(description: &str, host: &str, target_dir: &Path, flags: &str) -> Result<PathBuf, String> {
    let rustflags = match std::env::var("RUSTFLAGS") {
        Ok(existing) if !existing.trim().is_empty() => format!("{existing} {flags}"),
        _ => flags.to_owned(),
    };
    run_step(
        description,
        cargo()
            .args([
                "build",
                "--release",
                "-p",
                "hitzeleiter-cli",
                "--target",
                host,
                "--target-dir",
            ])
            .arg(target_dir)
            .env("RUSTFLAGS", rustflags),
    )?;
    Ok(target_dir.join(host).join("release/hitzeleiter"))
}

/// The toolchain's `llvm-profdata` (rustup's llvm-tools component, added when missing):
/// its profile format must match the compiler's LLVM.
fn llvm_profdata(host: &str) -> Result<PathBuf, String> {
    let find = || -> Result<PathBuf, String> {
        let sysroot = rustc_output(&["--print", "sysroot"])?;
        Ok(Path::new(sysroot.trim())
            .join("lib/rustlib")
            .join(host)
            .join("bin/llvm-profdata"))
    };
    let path = find()?;
    if path.is_file() {
        return Ok(path);
    }
    run_step(
        "rustup component add llvm-tools",
        Command::new("rustup")
            .args(["component", "add", "llvm-tools"])
            .current_dir(root()),
    )?;
    let path = find()?;
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "{} is missing after adding llvm-tools",
            path.display()
        ))
    }
}

fn host_triple() -> Result<String, String> {
    rustc_output(&["-vV"])?
        .lines()
        .find_map(|line| line.strip_prefix("host: "))
        .map(str::to_owned)
        .ok_or_else(|| "`rustc -vV` names no host".into())
}

/// What the workspace's rustc (the toolchain of rust-toolchain.toml) prints.
fn rustc_output(args: &[&str]) -> Result<String, String> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let output = Command::new(&rustc)
        .args(args)
        .current_dir(root())
        .output()
        .map_err(|err| format!("rustc {}: {err}", args.join(" ")))?;
    if !output.status.success() {
        return Err(format!(
            "rustc {} failed ({})",
            args.join(" "),
            output.status
        ));
    }
    String::from_utf8(output.stdout).map_err(|err| err.to_string())
}
