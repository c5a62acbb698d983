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
