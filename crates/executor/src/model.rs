//! What the executor runs and reports: jobs, their actions, the options of a run, the
//! events a caller hears and the summary it gets.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cas::Store;
use sysroot::Contributor;

use crate::TaskFlags;

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
