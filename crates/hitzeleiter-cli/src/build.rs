//! `hitzeleiter build`: `bitbake TARGET…`, run by the executor with the action cache; and
//! the hidden `internal-run-task`, the process a python task runs in.

use std::ffi::OsString;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bb_data::DataStore;
use clap::Args;
use executor::{Action, Event, Failure, Job, Options, PlanInputs, Reporter, SandboxPolicy};
use indicatif::{ProgressBar, ProgressStyle};

use bb_load::{Recipes, Session};
use taskgraph::with_do;

use crate::graph::resolve;
use crate::load::{BuildDir, Reporting, index_recipes};

#[derive(Args)]
pub(crate) struct BuildArgs {
    /// The task to run for each target (default: BB_DEFAULT_TASK, else `build`).
    #[arg(short = 'c', long = "cmd")]
    task: Option<String>,
    /// Run the targets' task even if it is up to date (its dependents follow if its
    /// results change).
    #[arg(short = 'f', long)]
    force: bool,
    /// Go on with what does not depend on a failed task.
    #[arg(short = 'k', long = "continue")]
    keep_going: bool,
    /// Say what would run; run nothing.
    #[arg(short = 'n', long = "dry-run")]
    dry_run: bool,
    /// Also run this task for every recipe the targets depend on.
    #[arg(long)]
    runall: Vec<String>,
    /// Targets: PN or PROVIDES names, optionally `name:do_task`.
    #[arg(required = true)]
    targets: Vec<String>,
}

#[derive(Args)]
pub(crate) struct RunTaskArgs {
    /// The recipe file.
    file: PathBuf,
    /// Its variant (`native`), or an empty string.
    variant: String,
    /// The task (`do_compile`).
    task: String,
    /// Names the log and run files.
    #[arg(long)]
    tag: String,
}

fn var(d: &DataStore, name: &str) -> Result<String, String> {
    d.get_var_str(name)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("{name} is not set"))
}

/// The graph's targets, plus `--runall` tasks for every recipe of the graph.
fn with_runall(recipes: &mut Recipes, args: &BuildArgs) -> Result<Vec<String>, String> {
    let mut targets = args.targets.clone();
    if args.runall.is_empty() {
        return Ok(targets);
    }
    let (graph, _) = resolve(recipes, &args.targets, args.task.as_deref())?;
    let mut seen = std::collections::BTreeSet::new();
    for id in graph.ids() {
        let (file, _) = graph.task(id);
        let info = &recipes.cache().recipe(file).info;
        for task in &args.runall {
            let task = with_do(task);
            if info.tasks.iter().any(|t| t.name == task)
                && seen.insert((info.pn.clone(), task.clone()))
            {
                targets.push(format!("{}:{task}", info.pn));
            }
        }
    }
    Ok(targets)
}

/// The executor's jobs for the graph, from the recipes' datastores, with the configuration
/// and whether tasks may fall back to the host when the sandbox is unavailable.
fn plan(
    recipes: &Recipes,
    graph: &taskgraph::TaskGraph,
    session: &Session,
    build_dir: &Path,
    force: bool,
) -> Result<(Vec<Job>, DataStore, bool), String> {
    let mut configuration = session.configure().map_err(|e| e.to_string())?;
    let exe = std::env::current_exe().map_err(|e| format!("finding this program: {e}"))?;
    // Python tasks run this program: tasks read its directory.
    let mut notes = Vec::new();
    let policy = SandboxPolicy::from_config(configuration.data(), exe.parent(), &mut notes);
    for note in notes {
        println!("{note}");
    }
    let policy = policy.map_err(|e| e.to_string())?;
    let datastores = configuration
        .datastores(recipes.cache(), graph)
        .map_err(|e| e.to_string())?;
    let tag = std::process::id().to_string();
    // Python, or several functions in a row: BitBake's _exec_task in a process.
    let task_process = |file: &str, variant: &str, task: &str| {
        let mut args: Vec<OsString> = vec!["internal-run-task".into(), "--build-dir".into()];
        args.push(build_dir.into());
        args.extend([file.into(), variant.into(), task.into()]);
        args.extend(["--tag".into(), tag.clone().into()]);
        (exe.clone(), args)
    };
    let jobs = executor::plan(&PlanInputs {
        cache: recipes.cache(),
        graph,
        datastores: &datastores,
        sandbox: policy.as_ref(),
        task_process: &task_process,
        force,
    })
    .map_err(|e| e.to_string())?;
    let fallback = policy.as_ref().is_some_and(|p| p.fallback);
    Ok((jobs, configuration.data().clone(), fallback))
}

/// knotty's output: task lines (or a live footer on a terminal) and BitBake's failure
/// report.
struct Knotty {
    footer: Option<ProgressBar>,
    log_lines: usize,
}

impl Knotty {
    fn new(log_lines: usize) -> Knotty {
        let footer = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_style(ProgressStyle::with_template("{msg}").expect("a valid template"));
            bar
        });
        Knotty { footer, log_lines }
    }

    fn say(&self, line: &str) {
        match &self.footer {
            Some(bar) => bar.println(line),
            None => println!("{line}"),
        }
    }
}

fn elapsed(since: Instant) -> String {
    let secs = since.elapsed().as_secs();
    if secs >= 60 {
        format!("{}m{}s", secs / 60, secs % 60)
    } else {
        format!("{secs}s")
    }
}

impl Reporter for Knotty {
    fn event(&mut self, jobs: &[Job], event: Event<'_>) {
        match event {
            Event::Started { job, index, total } => {
                if self.footer.is_none() {
                    let kind = match jobs[job].action {
                        Action::NoExec => "noexec task",
                        _ => "task",
                    };
                    println!("NOTE: Running {kind} {index} of {total} ({})", jobs[job].id);
                }
            }
            Event::Restored { job } => {
                if self.footer.is_none() {
                    println!(
                        "NOTE: Restored the outputs of {} from the cache",
                        jobs[job].id
                    );
                }
            }
            Event::WouldRun { job } => self.say(&format!("NOTE: Would run {}", jobs[job].id)),
            Event::Retry {
                job,
                attempt,
                delay,
                reason,
            } => self.say(&format!(
                "WARNING: {}: {reason}; trying again in {}s (attempt {attempt})",
                jobs[job].label,
                delay.as_secs_f64()
            )),
            Event::Failed(failure) => self.say(&failure_report(jobs, failure, self.log_lines)),
            Event::SandboxUnavailable { reason } => self.say(&format!(
                "WARNING: Sandbox: not available here ({reason}); tasks run on the host (HZ_SANDBOX = \"best-effort\")"
            )),
            Event::Running {
                jobs: running,
                done,
                total,
            } => {
                if let Some(bar) = &self.footer {
                    let mut text = format!(
                        "Currently {:2} running tasks ({done} of {total})",
                        running.len()
                    );
                    for (i, (job, since)) in running.iter().enumerate() {
                        text.push_str(&format!(
                            "\n{i}: {} - {}",
                            jobs[*job].label,
                            elapsed(*since)
                        ));
                    }
                    bar.set_message(text);
                }
            }
        }
    }
}

/// BitBake's lines for a failed task: what failed, where its log is, the log's end.
fn failure_report(jobs: &[Job], failure: &Failure, log_lines: usize) -> String {
    let job = &jobs[failure.job];
    let mut text = format!("ERROR: {}: {}", job.label, failure.message);
    if let Some(log) = &failure.log {
        text.push_str(&format!(
            "\nERROR: Logfile of failure stored in: {}",
            log.display()
        ));
        if let Ok(content) = std::fs::read_to_string(log) {
            text.push_str("\nLog data follows:");
            let lines: Vec<&str> = content.lines().collect();
            for line in &lines[lines.len().saturating_sub(log_lines)..] {
                text.push_str(&format!("\n| {line}"));
            }
        }
    }
    match failure.exit_code {
        Some(code) => text.push_str(&format!(
            "\nERROR: Task ({}) failed with exit code '{code}'",
            job.id
        )),
        None => text.push_str(&format!("\nERROR: Task ({}) failed", job.id)),
    }
    text
}

/// `hitzeleiter build`.
pub(crate) fn build(args: &BuildArgs, build: &BuildDir) -> ExitCode {
    let run = || -> Result<bool, String> {
        let mut recipes = index_recipes(build, Reporting::ALL)?;
        let targets = with_runall(&mut recipes, args)?;
        let (graph, errors) = resolve(&mut recipes, &targets, args.task.as_deref())?;
        if errors {
            return Err("the task graph could not be built".into());
        }
        let workspace = build.workspace()?;
        let session = workspace.session(false).map_err(|e| e.to_string())?;
        let build_dir = workspace.build_dir().to_owned();
        // One build per build directory at a time, as BitBake's bitbake.lock.
        let lock_path = build_dir.join("hitzeleiter.lock");
        let lock = std::fs::File::create(&lock_path)
            .map_err(|e| format!("{}: {e}", lock_path.display()))?;
        lock.try_lock().map_err(|_| {
            format!(
                "Only one build can run in a build directory at a time: another holds {}",
                lock_path.display()
            )
        })?;
        let (jobs, config, unsandboxed_fallback) =
            plan(&recipes, &graph, &session, &build_dir, args.force)?;
        let number = |name: &str, default: usize| {
            config
                .get_var_str(name)
                .ok()
                .flatten()
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(default)
        };
        let retry_delays = config
            .get_var_str("HZ_RETRY_DELAYS")
            .ok()
            .flatten()
            .unwrap_or_else(|| "1 2 4 8".into())
            .split_whitespace()
            .map(|s| {
                s.parse::<f64>()
                    .ok()
                    .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
                    .ok_or_else(|| format!("HZ_RETRY_DELAYS: '{s}' is not a number of seconds"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        // HZ_CACHE_DIR lets build directories share one cache.
        let store_dir = match config
            .get_var_str("HZ_CACHE_DIR")
            .map_err(|e| e.to_string())?
        {
            Some(dir) if !dir.trim().is_empty() => PathBuf::from(dir.trim()),
            _ => crate::cache::store_dir(&build_dir),
        };
        let store = cas::Store::open(&store_dir, cas::Codec::Zstd).map_err(|e| e.to_string())?;
        let options = Options {
            parallel: number("BB_NUMBER_THREADS", 1),
            store: Some(Arc::new(store)),
            output_root: PathBuf::from(var(&config, "TMPDIR")?),
            keep_going: args.keep_going,
            dry_run: args.dry_run,
            retry_delays,
            tag: std::process::id().to_string(),
            unsandboxed_fallback,
        };
        let mut knotty = Knotty::new(number("BBINCLUDELOGS_LINES", 20));
        println!("NOTE: Executing Tasks");
        // With --runall, only those tasks (and what they need) run, as in BitBake.
        let runall: Vec<String> = args.runall.iter().map(|t| with_do(t)).collect();
        let targets: Vec<usize> = graph
            .targets()
            .iter()
            .copied()
            .filter(|&id| runall.is_empty() || runall.iter().any(|t| t == graph.task(id).1))
            .map(|id| id.index())
            .collect();
        let summary = executor::run(&jobs, &targets, &options, &mut knotty);
        if let Some(bar) = &knotty.footer {
            bar.finish_and_clear();
        }
        if summary.restored > 0 {
            println!(
                "NOTE: {} tasks restored their outputs from the cache",
                summary.restored
            );
        }
        let outcome = if summary.failed.is_empty() {
            "all succeeded".to_owned()
        } else {
            format!("{} failed", summary.failed.len())
        };
        println!(
            "NOTE: Tasks Summary: Attempted {} tasks of which {} didn't need to be rerun and {outcome}.",
            summary.attempted, summary.not_rerun
        );
        if !summary.failed.is_empty() {
            let n = summary.failed.len();
            println!(
                "\nSummary: {n} task{} failed:",
                if n == 1 { "" } else { "s" }
            );
            for failure in &summary.failed {
                println!("  {}", jobs[failure.job].id);
                if let Some(log) = &failure.log {
                    println!("    log: {}", log.display());
                }
            }
            if let Some(summary) = crate::knotty_summary(0, n) {
                println!("{summary}");
            }
        }
        Ok(summary.failed.is_empty())
    };
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("ERROR: {err}");
            ExitCode::FAILURE
        }
    }
}

/// `hitzeleiter internal-run-task`: runs one task of a recipe in this process (python
/// tasks need the python host), with its output going to the caller's log.
pub(crate) fn run_task(args: &RunTaskArgs, build: &BuildDir) -> ExitCode {
    let run = || -> Result<(), (String, bool)> {
        let fail = |e: String| (e, false);
        let session = build
            .workspace()
            .and_then(|w| w.session(false).map_err(|e| e.to_string()))
            .map_err(fail)?;
        let mut configuration = session.configure().map_err(|e| fail(e.to_string()))?;
        let parsed = configuration
            .parse_recipe(&args.file)
            .map_err(|e| fail(e.to_string()))?;
        let d = parsed.variants.get(&args.variant).ok_or_else(|| {
            fail(format!(
                "{}: no variant '{}'",
                args.file.display(),
                args.variant
            ))
        })?;
        executor::exec_task(d, &args.task, session.python(), &args.tag).map_err(|e| {
            // bb.fetch2 notes I/O failures (a mirror copy that broke off): worth retrying,
            // even though base_do_fetch turned them into bb.fatal.
            let fetch_transient = d
                .expand("${@bb.fetch2.had_transient_failure()}")
                .is_ok_and(|v| v == "True");
            (e.to_string(), e.is_transient() || fetch_transient)
        })
    };
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err((err, transient)) => {
            eprintln!("ERROR: {err}");
            if transient {
                ExitCode::from(executor::EXIT_TRANSIENT as u8)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
