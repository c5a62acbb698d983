//! Stamps (`${STAMP}.do_task.SIGNATURE`, holding the job's result) and the `.running`
//! markers of tasks in progress.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::model::Job;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn stamp_file(base: &Path, signature: &[u8; 32]) -> PathBuf {
    let mut name = base.as_os_str().to_owned();
    name.push(format!(".{}", hex(signature)));
    PathBuf::from(name)
}

/// `${STAMP}.do_task.running`: there while the job runs, so that a build killed meanwhile
/// is noticed by the next.
pub(crate) fn running_marker(job: &Job) -> Option<PathBuf> {
    let mut name = job.stamp.as_ref()?.as_os_str().to_owned();
    name.push(".running");
    Some(PathBuf::from(name))
}

/// `${STAMP}` of the job's recipe.
fn recipe_stamp(job: &Job) -> Option<PathBuf> {
    let base = job.stamp.as_ref()?.to_string_lossy().into_owned();
    base.strip_suffix(&format!(".{}", job.task))
        .map(PathBuf::from)
}

/// The jobs of recipes a killed build left half done (a task's running marker remains):
/// their work directories are in an unknown state, so none of their stamps is trusted
/// and they run again from the start (declared outputs may still come from the cache).
pub(crate) fn interrupted_jobs(jobs: &[Job]) -> Vec<bool> {
    let mut dirs: Vec<&Path> = jobs
        .iter()
        .filter_map(|j| j.stamp.as_deref().and_then(Path::parent))
        .collect();
    dirs.sort();
    dirs.dedup();
    let mut interrupted = std::collections::HashSet::new();
    for dir in dirs {
        for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some((recipe, _task)) = name
                .strip_suffix(".running")
                .and_then(|n| n.rsplit_once('.'))
            {
                interrupted.insert(dir.join(recipe));
            }
        }
    }
    jobs.iter()
        .map(|j| recipe_stamp(j).is_some_and(|r| interrupted.contains(&r)))
        .collect()
}

/// The result a valid stamp records, if `job` has one for `signature`.
pub(crate) fn stamped(job: &Job, signature: &[u8; 32]) -> Option<[u8; 32]> {
    let base = job.stamp.as_ref()?;
    if job.force {
        return None;
    }
    let text = fs::read_to_string(stamp_file(base, signature)).ok()?;
    if job.outputs.iter().any(|o| fs::symlink_metadata(o).is_err()) {
        return None;
    }
    parse_hex(text.trim())
}

fn parse_hex(text: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    if text.len() != 64 {
        return None;
    }
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// Records that `job` is done for `signature` with `result`, replacing its older stamps.
pub(crate) fn write_stamp(job: &Job, signature: &[u8; 32], result: &[u8; 32]) -> io::Result<()> {
    let Some(base) = &job.stamp else {
        return Ok(());
    };
    let dir = base.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let prefix = format!(
        "{}.",
        base.file_name().unwrap_or_default().to_string_lossy()
    );
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_name().to_string_lossy().starts_with(&prefix) {
            fs::remove_file(entry.path())?;
        }
    }
    let path = stamp_file(base, signature);
    let temporary = path.with_extension("tmp");
    fs::write(&temporary, format!("{}\n", hex(result)))?;
    fs::rename(&temporary, &path)
}
