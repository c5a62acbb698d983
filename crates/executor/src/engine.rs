//! Running a plan of jobs: which need to run at all, in which order, several at a time,
//! with stamps, the action cache and retries.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cas::{ActionResult, Digest, Store};
use sha2::{Digest as _, Sha256};
use sysroot::Contributor;
use taskgraph::Scheduler;
use tracing::Instrument;

use crate::TaskFlags;
use crate::outputs::{capture, restore};
use crate::script::{replace_symlink, write_run_file};

/// The exit code (EX_TEMPFAIL) by which a task's process says its failure is transient.
pub const EXIT_TRANSIENT: i32 = 75;

/// What running a job does.
#[derive(Debug, Clone)]
pub enum Action {
    /// Nothing (`[noexec]`): it only orders other tasks.
    NoExec,
    /// A shell task: its run file is written and executed (with an empty environment: the
    /// run file exports what the task needs) after `[cleandirs]`/`[dirs]`.
    Shell {
        /// The run file's text.
        script: String,
        /// Its directories.
        flags: TaskFlags,
    },
    /// A task run by another process (python tasks: a process with a python host), which
    /// handles the task's directories itself.
    Process {
        /// The program.
        program: PathBuf,
        /// Its arguments.
        args: Vec<OsString>,
    },
    /// A trivial shell task ([`crate::trivial_commands`]), done without a shell after
    /// `[cleandirs]`/`[dirs]`.
    Builtin {
        /// What it does.
        commands: Vec<crate::Builtin>,
        /// Its directories.
        flags: TaskFlags,
    },
    /// Assembles sysroots from dependencies' outputs (`[sysroot-staging]`).
    Stage {
        /// Each sysroot with what goes into it.
        sysroots: Vec<(PathBuf, Vec<Contributor>)>,
    },
}

/// One task of the plan.
#[derive(Debug, Clone)]
pub struct Job {
    /// BitBake's id of the task: `FILE:do_task`.
    pub id: String,
    /// How it is shown: `PF do_task`.
    pub label: String,
    /// The task name (`do_compile`), for its log and run files.
    pub task: String,
    /// The jobs it runs after.
    pub deps: Vec<usize>,
    /// Its base hash ([`crate::base_hash`]).
    pub base_hash: [u8; 32],
    /// What running it does.
    pub action: Action,
    /// Its stamp file's name without the signature (`${STAMP}.do_task`); `None` for
    /// `[nostamp]` tasks, which always run.
    pub stamp: Option<PathBuf>,
    /// Its declared outputs (`[outputs]`), cached by content.
    pub outputs: Vec<PathBuf>,
    /// Runs even if it is up to date (`-f`).
    pub force: bool,
    /// Its recipe's `${T}`: logs and run files.
    pub temp: PathBuf,
    /// The sandbox it runs in; `None` runs it on the host.
    pub isolation: Option<Isolation>,
}

/// How a plan is run.
#[derive(Debug, Clone)]
pub struct Options {
    /// How many tasks run at once (BB_NUMBER_THREADS).
    pub parallel: usize,
    /// The action cache and its store; `None` runs without one.
    pub store: Option<Arc<Store>>,
    /// The directory outputs are recorded relative to (TMPDIR).
    pub output_root: PathBuf,
    /// Go on with independent tasks after a failure (`-k`).
    pub keep_going: bool,
    /// Say what would run, run nothing (`-n`).
    pub dry_run: bool,
    /// The waits before each retry of a transiently failed task.
    pub retry_delays: Vec<Duration>,
    /// Names the log and run files (BitBake uses its worker's process id).
    pub tag: String,
    /// When the sandbox turns out not to be available, run jobs on the host instead of
    /// failing them (HZ_SANDBOX = "best-effort").
    pub unsandboxed_fallback: bool,
}

/// What the executor tells its user.
#[derive(Debug)]
pub enum Event<'a> {
    /// A job starts running (`index` of `total` runs).
    Started {
        /// The job.
        job: usize,
        /// Its number among the jobs that run.
        index: usize,
        /// How many jobs are known to run so far.
        total: usize,
    },
    /// A job's outputs were restored from the action cache.
    Restored {
        /// The job.
        job: usize,
    },
    /// A job would run (dry run).
    WouldRun {
        /// The job.
        job: usize,
    },
    /// A job failed transiently and runs again after `delay`.
    Retry {
        /// The job.
        job: usize,
        /// The attempt coming (2 for the first retry).
        attempt: usize,
        /// The wait.
        delay: Duration,
        /// Why it failed.
        reason: &'a str,
    },
    /// A job failed for good.
    Failed(&'a Failure),
    /// The sandbox is not available here; from now on jobs run on the host.
    SandboxUnavailable {
        /// Why.
        reason: &'a str,
    },
    /// The jobs running now, with when they started; sent about once a second.
    Running {
        /// The jobs and their start times.
        jobs: &'a [(usize, Instant)],
        /// How many have finished.
        done: usize,
        /// How many there are.
        total: usize,
    },
}

/// Receives the executor's events.
pub trait Reporter {
    /// One event.
    fn event(&mut self, jobs: &[Job], event: Event<'_>);
}

/// A job that failed.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The job.
    pub job: usize,
    /// What went wrong.
    pub message: String,
    /// Its log, if it ran.
    pub log: Option<PathBuf>,
    /// Its exit code, if it ran and exited.
    pub exit_code: Option<i32>,
}

/// What a run did.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// The jobs the targets need, done or not.
    pub attempted: usize,
    /// Jobs that were up to date, restored from the cache, or not needed.
    pub not_rerun: usize,
    /// Of those, jobs whose outputs came from the action cache.
    pub restored: usize,
    /// Jobs that ran.
    pub ran: usize,
    /// Jobs that failed.
    pub failed: Vec<Failure>,
    /// Jobs that did not run because something they need failed.
    pub blocked: usize,
    /// What the sandboxed jobs that ran used (CPU, memory, I/O), by job.
    pub usage: Vec<(usize, sandbox::Usage)>,
}

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
fn running_marker(job: &Job) -> Option<PathBuf> {
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
fn interrupted_jobs(jobs: &[Job]) -> Vec<bool> {
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
fn stamped(job: &Job, signature: &[u8; 32]) -> Option<[u8; 32]> {
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
fn write_stamp(job: &Job, signature: &[u8; 32], result: &[u8; 32]) -> io::Result<()> {
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

/// What a job's dependents see of it: its outputs' digest if it declares outputs,
/// else its signature (a forced run mixes in the time, so that dependents run too).
fn result_of(job: &Job, signature: &[u8; 32], outputs: Option<&ActionResult>) -> [u8; 32] {
    match outputs {
        Some(result) => {
            let text = serde_description(result);
            Sha256::digest(text.as_bytes()).into()
        }
        None if job.force => {
            let mut hasher = Sha256::new();
            hasher.update(signature);
            hasher.update(format!("{:?}", std::time::SystemTime::now()).as_bytes());
            hasher.finalize().into()
        }
        None => *signature,
    }
}

fn serde_description(result: &ActionResult) -> String {
    let mut text = String::new();
    for dir in &result.output_directories {
        text.push_str(&format!("d {dir}\n"));
    }
    for file in &result.output_files {
        text.push_str(&format!(
            "f {} {} {}\n",
            file.path, file.digest, file.executable
        ));
    }
    for link in &result.output_symlinks {
        text.push_str(&format!("l {} {}\n", link.path, link.target));
    }
    text
}

fn signature(job: &Job, results: &[Option<[u8; 32]>]) -> Option<[u8; 32]> {
    let mut hasher = Sha256::new();
    hasher.update(job.base_hash);
    let mut deps: Vec<[u8; 32]> = job
        .deps
        .iter()
        .map(|&d| results[d])
        .collect::<Option<_>>()?;
    deps.sort();
    for dep in deps {
        hasher.update(dep);
    }
    Some(hasher.finalize().into())
}

/// What is known of a job before running anything.
#[derive(Clone, Copy, PartialEq)]
enum Known {
    /// Up to date (a valid stamp).
    Current,
    /// Its outputs are in the action cache.
    Cached,
    /// Must run (or cannot be known yet).
    Unknown,
}

fn action_key(signature: &[u8; 32]) -> Digest {
    Digest::of(signature)
}

fn cached_result(options: &Options, job: &Job, signature: &[u8; 32]) -> Option<ActionResult> {
    if job.outputs.is_empty() || job.force {
        return None;
    }
    options
        .store
        .as_ref()?
        .get_action(&action_key(signature))
        .ok()
        .flatten()
}

/// Runs `jobs` so that `targets` are done: jobs already done (by stamp) or whose outputs
/// are in the action cache are not run, nor the jobs only they need; the others run in
/// critical-path order, `options.parallel` at a time.
pub fn run(
    jobs: &[Job],
    targets: &[usize],
    options: &Options,
    reporter: &mut dyn Reporter,
) -> Summary {
    let _span = tracing::info_span!("run", jobs = jobs.len(), targets = targets.len()).entered();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            return Summary {
                attempted: jobs.len(),
                failed: vec![Failure {
                    job: targets.first().copied().unwrap_or(0),
                    message: format!("could not start the executor: {e}"),
                    log: None,
                    exit_code: None,
                }],
                ..Summary::default()
            };
        }
    };
    let local = tokio::task::LocalSet::new();
    // A job planned as restored from the cache whose outputs turn out to be gone (evicted
    // meanwhile) has been planned without its dependencies: plan again without its entry.
    let mut uncached = vec![false; jobs.len()];
    let mut ran_before = 0;
    let mut usage_before = Vec::new();
    loop {
        let (mut summary, replan) =
            local.block_on(&runtime, drive(jobs, targets, options, &uncached, reporter));
        summary.ran += ran_before;
        summary.not_rerun = summary.not_rerun.saturating_sub(ran_before);
        usage_before.append(&mut summary.usage);
        if replan.is_empty() || !summary.failed.is_empty() || replan.iter().any(|&j| uncached[j]) {
            summary.usage = usage_before;
            return summary;
        }
        for job in replan {
            uncached[job] = true;
        }
        ran_before = summary.ran;
    }
}

/// Signatures and what is already done, before anything runs.
fn survey(
    jobs: &[Job],
    options: &Options,
    distrusted: &[bool],
    uncached: &[bool],
) -> (Vec<Option<[u8; 32]>>, Vec<Known>) {
    let depends: Vec<Vec<usize>> = jobs.iter().map(|j| j.deps.clone()).collect();
    let order = taskgraph::topological_order(&depends).unwrap_or_default();
    let mut results: Vec<Option<[u8; 32]>> = vec![None; jobs.len()];
    let mut known = vec![Known::Unknown; jobs.len()];
    for id in order {
        let job = &jobs[id];
        let Some(signature) = signature(job, &results) else {
            continue;
        };
        if let Some(result) = stamped(job, &signature).filter(|_| !distrusted[id]) {
            known[id] = Known::Current;
            results[id] = Some(result);
        } else if let Some(result) =
            cached_result(options, job, &signature).filter(|_| !uncached[id])
        {
            known[id] = Known::Cached;
            results[id] = Some(result_of(job, &signature, Some(&result)));
        } else if job.outputs.is_empty() && !job.force {
            results[id] = Some(signature);
        }
    }
    (results, known)
}

/// The jobs reached from `targets` through dependencies, going below a job only where
/// `descend` says so.
fn reachable(jobs: &[Job], targets: &[usize], descend: impl Fn(usize) -> bool) -> Vec<bool> {
    let mut reached = vec![false; jobs.len()];
    let mut pending: Vec<usize> = targets.to_vec();
    while let Some(id) = pending.pop() {
        if !std::mem::replace(&mut reached[id], true) && descend(id) {
            pending.extend(jobs[id].deps.iter().copied());
        }
    }
    reached
}

/// One pass over the plan; also the jobs whose restore failed although they were planned
/// without their dependencies (the caller plans again).
async fn drive(
    jobs: &[Job],
    targets: &[usize],
    options: &Options,
    uncached: &[bool],
    reporter: &mut dyn Reporter,
) -> (Summary, Vec<usize>) {
    // Attempted: what the targets need at all, done or not (BitBake drops the rest).
    let attempted = reachable(jobs, targets, |_| true)
        .iter()
        .filter(|w| **w)
        .count();
    let mut summary = Summary {
        attempted,
        ..Summary::default()
    };
    let distrusted = interrupted_jobs(jobs);
    let (mut results, known) = survey(jobs, options, &distrusted, uncached);
    let mut replan = Vec::new();

    // The jobs needed: from the targets down, not below what is done or cached.
    let needed = reachable(jobs, targets, |id| known[id] == Known::Unknown);
    let plan: Vec<usize> = (0..jobs.len()).filter(|&id| needed[id]).collect();
    // BitBake's "task N of M": M counts what may run; early cut-off can leave it short.
    let may_run = plan
        .iter()
        .filter(|&&id| known[id] == Known::Unknown)
        .count();
    summary.not_rerun += attempted - plan.len();
    let position: HashMap<usize, usize> = plan.iter().enumerate().map(|(i, &id)| (id, i)).collect();
    let depends: Vec<Vec<usize>> = plan
        .iter()
        .map(|&id| {
            jobs[id]
                .deps
                .iter()
                .filter_map(|d| position.get(d).copied())
                .collect()
        })
        .collect();
    let mut scheduler = match Scheduler::new(&depends, &vec![1.0; plan.len()]) {
        Ok(s) => s,
        Err(cycle) => {
            summary.failed.push(Failure {
                job: plan[cycle.0[0]],
                message: format!("dependency cycle: {cycle}"),
                log: None,
                exit_code: None,
            });
            return (summary, Vec::new());
        }
    };

    let mut running = tokio::task::JoinSet::new();
    let mut started: Vec<(usize, Instant)> = Vec::new();
    let mut attempts: HashMap<usize, usize> = HashMap::new();
    let mut signatures: HashMap<usize, [u8; 32]> = HashMap::new();
    let mut started_count = 0;
    let mut done = 0;
    let mut stopping = false;
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    let mut sandbox_off = false;
    let write_task_order = |job: &Job, tag: &str| {
        let _ = fs::create_dir_all(&job.temp);
        if let Ok(mut order) = OpenOptions::new()
            .create(true)
            .append(true)
            .open(job.temp.join("log.task_order"))
        {
            let _ = writeln!(order, "{} ({tag}): log.{}.{tag}", job.task, job.task);
        }
    };

    loop {
        while !stopping && running.len() < options.parallel.max(1) {
            let Some(slot) = scheduler.next_ready() else {
                break;
            };
            let id = plan[slot];
            let job = &jobs[id];
            let Some(signature) = signature(job, &results) else {
                // Cannot happen: every dependency has finished.
                scheduler.fail(slot);
                continue;
            };
            // Known from the survey, or now that its dependencies ran (early cut-off: a
            // dependency that ran again and gave the same outputs).
            if let Some(result) = stamped(job, &signature).filter(|_| !distrusted[id]) {
                results[id] = Some(result);
                summary.not_rerun += 1;
                done += 1;
                scheduler.complete(slot);
                continue;
            }
            if let Some(cached) = cached_result(options, job, &signature).filter(|_| !uncached[id])
            {
                let restored = match &options.store {
                    Some(store) if !options.dry_run => {
                        restore(store, &options.output_root, &job.outputs, &cached)
                    }
                    _ => Ok(()),
                };
                if restored.is_ok() {
                    let result = result_of(job, &signature, Some(&cached));
                    if !options.dry_run {
                        let _ = write_stamp(job, &signature, &result);
                    }
                    results[id] = Some(result);
                    summary.not_rerun += 1;
                    summary.restored += 1;
                    done += 1;
                    reporter.event(jobs, Event::Restored { job: id });
                    scheduler.complete(slot);
                    continue;
                }
                if restored.is_err() && job.deps.iter().any(|&d| !needed[d]) {
                    // What it needs was left out for the cache's sake: let what runs
                    // finish, then plan again without this entry.
                    replan.push(id);
                    stopping = true;
                    continue;
                }
            }
            if options.dry_run {
                if !matches!(job.action, Action::NoExec) {
                    reporter.event(jobs, Event::WouldRun { job: id });
                }
                results[id] = Some(signature);
                summary.ran += 1;
                done += 1;
                scheduler.complete(slot);
                continue;
            }
            signatures.insert(id, signature);
            started_count += 1;
            if !matches!(job.action, Action::NoExec | Action::Stage { .. }) {
                write_task_order(job, &options.tag);
            }
            if let Some(marker) =
                running_marker(job).filter(|_| !matches!(job.action, Action::NoExec))
            {
                if let Some(dir) = marker.parent() {
                    let _ = fs::create_dir_all(dir);
                }
                let _ = fs::write(&marker, b"");
            }
            reporter.event(
                jobs,
                Event::Started {
                    job: id,
                    index: started_count,
                    total: may_run.max(started_count),
                },
            );
            started.push((id, Instant::now()));
            let action = job.action.clone();
            let isolation = job.isolation.clone().filter(|_| !sandbox_off);
            let (temp, task, tag) = (job.temp.clone(), job.task.clone(), options.tag.clone());
            let delay = attempts
                .get(&id)
                .and_then(|&n| options.retry_delays.get(n.saturating_sub(1)).copied());
            let span = tracing::info_span!("task", id = %job.id);
            running.spawn_local(
                async move {
                    if let Some(delay) = delay {
                        tokio::time::sleep(delay).await;
                    }
                    let outcome = execute(&action, isolation.as_ref(), &temp, &task, &tag).await;
                    tracing::debug!(ok = outcome.is_ok(), "task ended");
                    (slot, outcome)
                }
                .instrument(span),
            );
        }
        if running.is_empty() {
            break;
        }
        let finished = tokio::select! {
            finished = running.join_next() => finished,
            _ = ticker.tick() => {
                reporter.event(jobs, Event::Running { jobs: &started, done, total: plan.len() });
                continue;
            }
        };
        let Some(Ok((slot, outcome))) = finished else {
            continue;
        };
        let id = plan[slot];
        let job = &jobs[id];
        started.retain(|(j, _)| *j != id);
        let signature = signatures[&id];
        let outcome = outcome.and_then(|usage| {
            if let Some(usage) = usage {
                summary.usage.push((id, usage));
            }
            finish(job, &signature, options)
        });
        match outcome {
            Ok(result) => {
                results[id] = Some(result);
                summary.ran += 1;
                done += 1;
                scheduler.complete(slot);
            }
            Err(failure) => {
                // A failure is a known state (BitBake runs the failed task again next
                // time); only a kill leaves the marker.
                if let Some(marker) = running_marker(job) {
                    let _ = fs::remove_file(marker);
                }
                if let Some(reason) = &failure.unsandboxable
                    && options.unsandboxed_fallback
                {
                    if !sandbox_off {
                        sandbox_off = true;
                        reporter.event(jobs, Event::SandboxUnavailable { reason });
                    }
                    scheduler.retry(slot);
                    continue;
                }
                let attempt = attempts.entry(id).or_insert(0);
                *attempt += 1;
                if failure.transient && *attempt <= options.retry_delays.len() {
                    reporter.event(
                        jobs,
                        Event::Retry {
                            job: id,
                            attempt: *attempt + 1,
                            delay: options.retry_delays[*attempt - 1],
                            reason: &failure.message,
                        },
                    );
                    scheduler.retry(slot);
                    continue;
                }
                let failure = Failure {
                    job: id,
                    message: failure.message,
                    log: failure.log,
                    exit_code: failure.exit_code,
                };
                reporter.event(jobs, Event::Failed(&failure));
                summary.failed.push(failure);
                done += 1;
                summary.blocked += scheduler.fail(slot).len();
                if !options.keep_going {
                    stopping = true;
                }
            }
        }
    }
    if stopping && replan.is_empty() {
        // BitBake counts what it did not get to as not run, not as failed.
        summary.blocked += plan.len() - done - summary.blocked;
    }
    (summary, replan)
}

/// A failed run of a job.
struct RunFailure {
    message: String,
    log: Option<PathBuf>,
    exit_code: Option<i32>,
    transient: bool,
    /// Why the sandbox cannot run here, when that is the failure.
    unsandboxable: Option<String>,
}

impl RunFailure {
    fn io(what: &str, e: io::Error) -> RunFailure {
        RunFailure {
            message: format!("{what}: {e}"),
            log: None,
            exit_code: None,
            transient: true,
            unsandboxable: None,
        }
    }
}

/// After a successful run: outputs into the action cache, the stamp written.
fn finish(job: &Job, signature: &[u8; 32], options: &Options) -> Result<[u8; 32], RunFailure> {
    let permanent = |message: String| RunFailure {
        message,
        log: None,
        exit_code: None,
        transient: false,
        unsandboxable: None,
    };
    let outputs = match (&options.store, job.outputs.is_empty()) {
        (Some(store), false) => {
            let result = capture(store, &options.output_root, &job.outputs)
                .map_err(|e| permanent(e.to_string()))?;
            store
                .put_action(&action_key(signature), &result)
                .map_err(|e| permanent(format!("recording the outputs: {e}")))?;
            Some(result)
        }
        (None, false) => {
            if let Some(missing) = job
                .outputs
                .iter()
                .find(|o| fs::symlink_metadata(o).is_err())
            {
                return Err(permanent(format!(
                    "declared output {} was not produced",
                    missing.display()
                )));
            }
            None
        }
        _ => None,
    };
    let result = match &outputs {
        Some(result) => result_of(job, signature, Some(result)),
        None => result_of(job, signature, None),
    };
    write_stamp(job, signature, &result).map_err(|e| RunFailure::io("writing the stamp", e))?;
    Ok(result)
}

/// Opens `${T}/log.TASK.TAG` and points `log.TASK` at it.
fn open_log(temp: &Path, task: &str, tag: &str) -> io::Result<(PathBuf, File)> {
    fs::create_dir_all(temp)?;
    let name = format!("log.{task}.{tag}");
    let path = temp.join(&name);
    let file = File::create(&path)?;
    replace_symlink(&temp.join(format!("log.{task}")), Path::new(&name))?;
    Ok((path, file))
}

/// How a job is isolated: what it sees of the host, what it may write, its network and
/// limits ([`sandbox`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Isolation {
    /// Host paths it can read.
    pub readonly: Vec<PathBuf>,
    /// Host paths it can write (they exist before it runs).
    pub writable: Vec<PathBuf>,
    /// Whether it has the host's network.
    pub network: bool,
    /// Its resource limits.
    pub limits: sandbox::Limits,
}

impl Isolation {
    /// BitBake's view of what `task` of `d` touches: it writes `${WORKDIR}`, its `[dirs]`,
    /// `[cleandirs]` and `[outputs]` (and `${DL_DIR}` if it uses the network), and reads
    /// `readonly` (the host's system directories, the layers, the build directory).
    /// Writable paths inside another are not bound again (a task may remove and recreate
    /// its `[cleandirs]`); a `[cleandirs]` or file output elsewhere has its parent bound.
    pub fn for_task(
        d: &bb_data::DataStore,
        task: &str,
        readonly: Vec<PathBuf>,
        limits: sandbox::Limits,
    ) -> Result<Isolation, bb_data::DataError> {
        let flags = TaskFlags::read(d, task)?;
        let var = |name: &str| -> Result<Option<PathBuf>, bb_data::DataError> {
            Ok(d.get_var_str(name)?
                .filter(|v| !v.is_empty())
                .map(PathBuf::from))
        };
        let mut wanted: Vec<PathBuf> = var("WORKDIR")?.into_iter().collect();
        wanted.extend(flags.dirs.iter().cloned());
        let parent = |p: &PathBuf| {
            p.parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| p.clone())
        };
        wanted.extend(flags.cleandirs.iter().map(parent));
        wanted.extend(flags.outputs.iter().map(parent));
        if flags.network {
            wanted.extend(var("DL_DIR")?);
        }
        wanted.sort_by_key(|p| p.components().count());
        let mut writable: Vec<PathBuf> = Vec::new();
        for path in wanted {
            if !writable.iter().any(|w| path.starts_with(w)) {
                writable.push(path);
            }
        }
        Ok(Isolation {
            readonly,
            writable,
            network: flags.network,
            limits,
        })
    }
}

/// A process to start for a job.
struct Launch {
    program: PathBuf,
    args: Vec<OsString>,
    /// Its whole environment, or `None` to inherit ours.
    env: Option<Vec<(OsString, OsString)>>,
    cwd: Option<PathBuf>,
    description: String,
}

/// Runs one job's action; gives what it used when the sandbox measured it.
async fn execute(
    action: &Action,
    isolation: Option<&Isolation>,
    temp: &Path,
    task: &str,
    tag: &str,
) -> Result<Option<sandbox::Usage>, RunFailure> {
    let launch = match action {
        Action::NoExec => return Ok(None),
        Action::Stage { sysroots } => {
            for (root, contributors) in sysroots {
                sysroot::assemble(root, contributors).map_err(|e| RunFailure {
                    message: format!("staging {}: {e}", root.display()),
                    log: None,
                    exit_code: None,
                    transient: false,
                    unsandboxable: None,
                })?;
            }
            return Ok(None);
        }
        Action::Builtin { commands, flags } => {
            let (_, mut log) =
                open_log(temp, task, tag).map_err(|e| RunFailure::io("opening the log", e))?;
            flags
                .prepare_dirs()
                .map_err(|e| RunFailure::io("creating the task's directories", e))?;
            for command in commands {
                let path = command.path();
                // Done outside the sandbox: only where the task could write in it.
                if let Some(isolation) = isolation
                    && !isolation.writable.iter().any(|w| path.starts_with(w))
                {
                    return Err(RunFailure {
                        message: format!(
                            "{task} writes {}, outside the directories it may write",
                            path.display()
                        ),
                        log: None,
                        exit_code: None,
                        transient: false,
                        unsandboxable: None,
                    });
                }
                let _ = writeln!(log, "{command:?} (done without a shell)");
                command
                    .run()
                    .map_err(|e| RunFailure::io(&format!("{}", path.display()), e))?;
            }
            return Ok(None);
        }
        Action::Shell { script, flags } => {
            flags
                .prepare_dirs()
                .map_err(|e| RunFailure::io("creating the task's directories", e))?;
            let run_file = write_run_file(temp, task, tag, script)
                .map_err(|e| RunFailure::io("writing the run file", e))?;
            Launch {
                description: format!("Execution of '{}'", run_file.display()),
                program: run_file,
                args: Vec::new(),
                // The run file exports what the task needs.
                env: Some(Vec::new()),
                cwd: flags.dirs.last().cloned(),
            }
        }
        Action::Process { program, args } => Launch {
            description: format!("Task process {}", program.display()),
            program: program.clone(),
            args: args.clone(),
            env: None,
            cwd: None,
        },
    };
    match isolation {
        None => {
            let mut command = tokio::process::Command::new(&launch.program);
            command.args(&launch.args);
            if let Some(env) = &launch.env {
                command.env_clear().envs(env.iter().map(|(k, v)| (k, v)));
            }
            if let Some(cwd) = &launch.cwd {
                command.current_dir(cwd);
            }
            spawn_logged(command, temp, task, tag, &launch.description)
                .await
                .map(|()| None)
        }
        Some(isolation) => sandboxed(launch, isolation, temp, task, tag)
            .await
            .map(Some),
    }
}

/// `used 1.2 s CPU, peak memory 45 MiB, read 0 KiB, wrote 12 KiB`, for what is known.
fn usage_line(usage: &sandbox::Usage) -> String {
    let kib = |bytes: u64| format!("{} KiB", bytes / 1024);
    let mut parts = Vec::new();
    if let Some(cpu) = usage.cpu {
        parts.push(format!("{:.2} s CPU", cpu.as_secs_f64()));
    }
    if let Some(peak) = usage.peak_memory {
        parts.push(format!("peak memory {} MiB", peak / (1 << 20)));
    }
    if let Some(read) = usage.io_read {
        parts.push(format!("read {}", kib(read)));
    }
    if let Some(written) = usage.io_write {
        parts.push(format!("wrote {}", kib(written)));
    }
    if parts.is_empty() {
        "resource use not measured here (no cgroup controllers)".to_owned()
    } else {
        format!("used {}", parts.join(", "))
    }
}

/// Runs `launch` in a sandbox, its output into the job's log.
async fn sandboxed(
    launch: Launch,
    isolation: &Isolation,
    temp: &Path,
    task: &str,
    tag: &str,
) -> Result<sandbox::Usage, RunFailure> {
    let (log, file) =
        open_log(temp, task, tag).map_err(|e| RunFailure::io("opening the log", e))?;
    let err_file = file
        .try_clone()
        .map_err(|e| RunFailure::io("opening the log", e))?;
    for dir in &isolation.writable {
        fs::create_dir_all(dir)
            .map_err(|e| RunFailure::io(&format!("creating {}", dir.display()), e))?;
    }
    let config = sandbox::Config {
        program: launch.program,
        args: launch.args,
        env: launch.env.unwrap_or_else(|| std::env::vars_os().collect()),
        cwd: launch.cwd.unwrap_or_else(|| temp.to_owned()),
        readonly: isolation.readonly.clone(),
        writable: isolation.writable.clone(),
        network: isolation.network,
        limits: isolation.limits.clone(),
        accounting: true,
    };
    let outcome = tokio::task::spawn_blocking(move || {
        sandbox::run_with(&config, Stdio::from(file), Stdio::from(err_file))
    })
    .await
    .map_err(|e| RunFailure::io("the sandbox's thread", io::Error::other(e)))?;
    if let Ok(outcome) = &outcome {
        // What it used, at the end of its log (buildstats' numbers, in one line).
        if let Ok(mut log) = OpenOptions::new().append(true).open(&log) {
            let _ = writeln!(log, "NOTE: {}", usage_line(&outcome.usage));
        }
    }
    let description = launch.description;
    match outcome {
        Ok(outcome) if outcome.success() => Ok(outcome.usage),
        Ok(outcome) => Err(RunFailure {
            message: match (outcome.stopped, outcome.exit_code) {
                (Some(stop), _) => format!("{description} was stopped: {stop}"),
                (None, Some(code)) => format!("{description} failed with exit code {code}"),
                (None, None) => format!("{description} was {}", outcome.describe()),
            },
            log: Some(log),
            exit_code: outcome.exit_code,
            transient: outcome.exit_code == Some(EXIT_TRANSIENT),
            unsandboxable: None,
        }),
        Err(sandbox::SandboxError::Io(e)) => Err(RunFailure::io(&description, e)),
        Err(sandbox::SandboxError::Unsupported(why)) => Err(RunFailure {
            message: format!("{description}: the sandbox is not available here: {why}"),
            log: Some(log),
            exit_code: None,
            transient: false,
            unsandboxable: Some(why),
        }),
        Err(e) => Err(RunFailure {
            message: format!("{description}: {e}"),
            log: Some(log),
            exit_code: None,
            transient: false,
            unsandboxable: None,
        }),
    }
}

async fn spawn_logged(
    mut command: tokio::process::Command,
    temp: &Path,
    task: &str,
    tag: &str,
    description: &str,
) -> Result<(), RunFailure> {
    let (log, file) =
        open_log(temp, task, tag).map_err(|e| RunFailure::io("opening the log", e))?;
    let err_file = file
        .try_clone()
        .map_err(|e| RunFailure::io("opening the log", e))?;
    command
        .stdin(Stdio::null())
        .stdout(Stdio::from(file))
        .stderr(Stdio::from(err_file))
        .kill_on_drop(true);
    let status = command
        .status()
        .await
        .map_err(|e| RunFailure::io(description, e))?;
    if status.success() {
        return Ok(());
    }
    let code = status.code();
    Err(RunFailure {
        message: match code {
            Some(code) => format!("{description} failed with exit code {code}"),
            None => format!("{description} was killed by a signal"),
        },
        log: Some(log),
        exit_code: code,
        transient: code == Some(EXIT_TRANSIENT),
        unsandboxable: None,
    })
}
