//! Running a plan of jobs: which need to run at all, in which order, several at a time,
//! with stamps, the action cache and retries.

use std::collections::HashMap;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::time::{Duration, Instant};

use cas::{ActionResult, Digest};
use sha2::{Digest as _, Sha256};
use taskgraph::Scheduler;
use tracing::Instrument;

use crate::launch::{RunFailure, execute};
use crate::model::{Action, Event, Failure, Job, Options, Reporter, Summary};
use crate::outputs::{capture, restore};
use crate::stamps::{interrupted_jobs, running_marker, stamped, write_stamp};

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
    let mut pass = match Pass::plan(jobs, targets, options, uncached, reporter) {
        Ok(pass) => pass,
        Err(summary) => return (summary, Vec::new()),
    };
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    loop {
        pass.start_ready();
        if pass.running.is_empty() {
            break;
        }
        let finished = tokio::select! {
            finished = pass.running.join_next() => finished,
            _ = ticker.tick() => {
                pass.reporter.event(jobs, Event::Running {
                    jobs: &pass.started,
                    done: pass.done,
                    total: pass.plan.len(),
                });
                continue;
            }
        };
        if let Some(Ok((slot, outcome))) = finished {
            pass.finished(slot, outcome);
        }
    }
    pass.end()
}

/// What a task's run gives back: its slot in the plan and how it ended.
type Ran = (usize, Result<Option<sandbox::Usage>, RunFailure>);

/// A pass over the plan while it runs: the scheduler, what is known of each job, what
/// runs.
struct Pass<'a> {
    jobs: &'a [Job],
    options: &'a Options,
    uncached: &'a [bool],
    reporter: &'a mut dyn Reporter,
    /// Jobs whose stamps a killed run may have left wrong.
    distrusted: Vec<bool>,
    results: Vec<Option<[u8; 32]>>,
    /// What the targets need, not below what is done or cached.
    needed: Vec<bool>,
    /// The needed jobs; the scheduler's slots are positions in it.
    plan: Vec<usize>,
    /// BitBake's "task N of M": M counts what may run; early cut-off can leave it short.
    may_run: usize,
    scheduler: Scheduler,
    summary: Summary,
    /// Jobs to plan again (see [`drive`]).
    replan: Vec<usize>,
    running: tokio::task::JoinSet<Ran>,
    started: Vec<(usize, Instant)>,
    attempts: HashMap<usize, usize>,
    signatures: HashMap<usize, [u8; 32]>,
    started_count: usize,
    done: usize,
    stopping: bool,
    sandbox_off: bool,
}

impl<'a> Pass<'a> {
    /// The plan: what the targets need of what is not done or cached. A cycle is a
    /// failure, reported in the summary.
    fn plan(
        jobs: &'a [Job],
        targets: &[usize],
        options: &'a Options,
        uncached: &'a [bool],
        reporter: &'a mut dyn Reporter,
    ) -> Result<Pass<'a>, Summary> {
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
        let (results, known) = survey(jobs, options, &distrusted, uncached);
        let needed = reachable(jobs, targets, |id| known[id] == Known::Unknown);
        let plan: Vec<usize> = (0..jobs.len()).filter(|&id| needed[id]).collect();
        let may_run = plan
            .iter()
            .filter(|&&id| known[id] == Known::Unknown)
            .count();
        summary.not_rerun += attempted - plan.len();
        let position: HashMap<usize, usize> =
            plan.iter().enumerate().map(|(i, &id)| (id, i)).collect();
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
        let scheduler = match Scheduler::new(&depends, &vec![1.0; plan.len()]) {
            Ok(scheduler) => scheduler,
            Err(cycle) => {
                summary.failed.push(Failure {
                    job: plan[cycle.0[0]],
                    message: format!("dependency cycle: {cycle}"),
                    log: None,
                    exit_code: None,
                });
                return Err(summary);
            }
        };
        Ok(Pass {
            jobs,
            options,
            uncached,
            reporter,
            distrusted,
            results,
            needed,
            plan,
            may_run,
            scheduler,
            summary,
            replan: Vec::new(),
            running: tokio::task::JoinSet::new(),
            started: Vec::new(),
            attempts: HashMap::new(),
            signatures: HashMap::new(),
            started_count: 0,
            done: 0,
            stopping: false,
            sandbox_off: false,
        })
    }

    /// Starts ready jobs while slots are free, settling first those that need no run.
    fn start_ready(&mut self) {
        while !self.stopping && self.running.len() < self.options.parallel.max(1) {
            let Some(slot) = self.scheduler.next_ready() else {
                break;
            };
            let id = self.plan[slot];
            let Some(signature) = signature(&self.jobs[id], &self.results) else {
                // Cannot happen: every dependency has finished.
                self.scheduler.fail(slot);
                continue;
            };
            if !self.settled_without_running(slot, id, &signature) {
                self.start(slot, id, signature);
            }
        }
    }

    /// Whether job `id` needs no run: its stamp is current, its outputs are restored from
    /// the cache, or this is a dry run. A restore that failed for a job planned without
    /// its dependencies stops the pass for a new plan.
    fn settled_without_running(&mut self, slot: usize, id: usize, signature: &[u8; 32]) -> bool {
        let (job, options) = (&self.jobs[id], self.options);
        // Known from the survey, or now that its dependencies ran (early cut-off: a
        // dependency that ran again and gave the same outputs).
        if let Some(result) = stamped(job, signature).filter(|_| !self.distrusted[id]) {
            self.results[id] = Some(result);
            self.summary.not_rerun += 1;
            self.complete(slot);
            return true;
        }
        if let Some(cached) = cached_result(options, job, signature).filter(|_| !self.uncached[id])
        {
            let restored = match &options.store {
                Some(store) if !options.dry_run => {
                    restore(store, &options.output_root, &job.outputs, &cached)
                }
                _ => Ok(()),
            };
            if restored.is_ok() {
                let result = result_of(job, signature, Some(&cached));
                if !options.dry_run {
                    let _ = write_stamp(job, signature, &result);
                }
                self.results[id] = Some(result);
                self.summary.not_rerun += 1;
                self.summary.restored += 1;
                self.reporter.event(self.jobs, Event::Restored { job: id });
                self.complete(slot);
                return true;
            }
            if job.deps.iter().any(|&d| !self.needed[d]) {
                // What it needs was left out for the cache's sake: let what runs finish,
                // then plan again without this entry.
                self.replan.push(id);
                self.stopping = true;
                return true;
            }
        }
        if options.dry_run {
            if !matches!(job.action, Action::NoExec) {
                self.reporter.event(self.jobs, Event::WouldRun { job: id });
            }
            self.results[id] = Some(*signature);
            self.summary.ran += 1;
            self.complete(slot);
            return true;
        }
        false
    }

    fn complete(&mut self, slot: usize) {
        self.done += 1;
        self.scheduler.complete(slot);
    }

    /// Runs job `id` in the background.
    fn start(&mut self, slot: usize, id: usize, signature: [u8; 32]) {
        let (job, options) = (&self.jobs[id], self.options);
        self.signatures.insert(id, signature);
        self.started_count += 1;
        if !matches!(job.action, Action::NoExec | Action::Stage { .. }) {
            write_task_order(job, &options.tag);
        }
        if let Some(marker) = running_marker(job).filter(|_| !matches!(job.action, Action::NoExec))
        {
            if let Some(dir) = marker.parent() {
                let _ = fs::create_dir_all(dir);
            }
            let _ = fs::write(&marker, b"");
        }
        self.reporter.event(
            self.jobs,
            Event::Started {
                job: id,
                index: self.started_count,
                total: self.may_run.max(self.started_count),
            },
        );
        self.started.push((id, Instant::now()));
        let action = job.action.clone();
        let isolation = job.isolation.clone().filter(|_| !self.sandbox_off);
        let (temp, task, tag) = (job.temp.clone(), job.task.clone(), options.tag.clone());
        let delay = self
            .attempts
            .get(&id)
            .and_then(|&n| options.retry_delays.get(n.saturating_sub(1)).copied());
        let span = tracing::info_span!("task", id = %job.id);
        self.running.spawn_local(
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

    /// A run ended: its result recorded, or its failure retried or reported.
    fn finished(&mut self, slot: usize, outcome: Result<Option<sandbox::Usage>, RunFailure>) {
        let id = self.plan[slot];
        let job = &self.jobs[id];
        self.started.retain(|(j, _)| *j != id);
        let signature = self.signatures[&id];
        let outcome = outcome.and_then(|usage| {
            if let Some(usage) = usage {
                self.summary.usage.push((id, usage));
            }
            finish(job, &signature, self.options)
        });
        match outcome {
            Ok(result) => {
                self.results[id] = Some(result);
                self.summary.ran += 1;
                self.complete(slot);
            }
            Err(failure) => self.failed(slot, id, failure),
        }
    }

    fn failed(&mut self, slot: usize, id: usize, failure: RunFailure) {
        let (job, options) = (&self.jobs[id], self.options);
        // A failure is a known state (BitBake runs the failed task again next time); only
        // a kill leaves the marker.
        if let Some(marker) = running_marker(job) {
            let _ = fs::remove_file(marker);
        }
        if let Some(reason) = &failure.unsandboxable
            && options.unsandboxed_fallback
        {
            if !self.sandbox_off {
                self.sandbox_off = true;
                self.reporter
                    .event(self.jobs, Event::SandboxUnavailable { reason });
            }
            self.scheduler.retry(slot);
            return;
        }
        let attempt = self.attempts.entry(id).or_insert(0);
        *attempt += 1;
        if failure.transient && *attempt <= options.retry_delays.len() {
            self.reporter.event(
                self.jobs,
                Event::Retry {
                    job: id,
                    attempt: *attempt + 1,
                    delay: options.retry_delays[*attempt - 1],
                    reason: &failure.message,
                },
            );
            self.scheduler.retry(slot);
            return;
        }
        let failure = Failure {
            job: id,
            message: failure.message,
            log: failure.log,
            exit_code: failure.exit_code,
        };
        self.reporter.event(self.jobs, Event::Failed(&failure));
        self.summary.failed.push(failure);
        self.done += 1;
        self.summary.blocked += self.scheduler.fail(slot).len();
        if !options.keep_going {
            self.stopping = true;
        }
    }

    /// The summary, and the jobs to plan again.
    fn end(mut self) -> (Summary, Vec<usize>) {
        if self.stopping && self.replan.is_empty() {
            // BitBake counts what it did not get to as not run, not as failed.
            self.summary.blocked += self.plan.len() - self.done - self.summary.blocked;
        }
        (self.summary, self.replan)
    }
}

/// Notes the task's log in `T/log.task_order`, as BitBake does.
fn write_task_order(job: &Job, tag: &str) {
    let _ = fs::create_dir_all(&job.temp);
    if let Ok(mut order) = OpenOptions::new()
        .create(true)
        .append(true)
        .open(job.temp.join("log.task_order"))
    {
        let _ = writeln!(order, "{} ({tag}): log.{}.{tag}", job.task, job.task);
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
