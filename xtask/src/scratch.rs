//! Scratch build directories under target/, for the benchmarks and the profile-training
//! build of `cargo xtask dist`.

use std::path::Path;

use crate::{root, run_step};

/// A fresh copy of testdata's demo layers and build directory in `work`; returns the
/// build directory.
pub(crate) fn demo_copy(work: &Path) -> Result<std::path::PathBuf, String> {
    let _ = std::fs::remove_dir_all(work);
    std::fs::create_dir_all(work).map_err(|e| format!("{}: {e}", work.display()))?;
    for dir in ["layers", "demo-build"] {
        run_step(
            &format!("copy testdata/{dir}"),
            std::process::Command::new("cp")
                .arg("-a")
                .arg(root().join("testdata").join(dir))
                .arg(work),
        )?;
    }
    Ok(work.join("demo-build"))
}

/// A fresh target/NAME holding a link to `oe_core` as `openembedded-core` and an empty
/// build directory `oe-build/conf` beside it: (work directory, build directory).
pub(crate) fn scratch_build_dir(
    name: &str,
    oe_core: &Path,
) -> Result<(std::path::PathBuf, std::path::PathBuf), String> {
    let work = root().join("target").join(name);
    let _ = std::fs::remove_dir_all(&work);
    let build = work.join("oe-build");
    std::fs::create_dir_all(build.join("conf")).map_err(|e| e.to_string())?;
    let oe_core = oe_core
        .canonicalize()
        .map_err(|e| format!("{}: {e}", oe_core.display()))?;
    std::os::unix::fs::symlink(&oe_core, work.join("openembedded-core"))
        .map_err(|e| e.to_string())?;
    Ok((work, build))
}
