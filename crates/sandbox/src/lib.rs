//! Hermetic commands: Linux namespaces and cgroup limits.
//!
//! [`run`] runs a command in new user, mount, PID, IPC and UTS namespaces, and a new
//! network namespace unless [`Config::network`] is set. The command sees a root file system
//! of its own: the paths of [`Config::readonly`] bound read-only from the host, those of
//! [`Config::writable`] bound writable, a private `/tmp`, a new `/proc` and a minimal
//! `/dev` — nothing else of the host. It is PID 1 of its PID namespace; when it exits,
//! every process it left behind is killed with the namespace. Limits ([`Limits`]) are cgroup
//! limits (v2 where its controllers are enabled, else v1) plus `RLIMIT_CPU`; a command
//! stopped by one is reported as such ([`Stop`]), with what it used ([`Usage`]).
//!
//! The sandbox sets itself up in a fresh process of the calling program: call
//! [`enter_if_requested`] first thing in `main`.
//!
//! ```
//! sandbox::enter_if_requested();
//! # if sandbox::probe().namespaces.is_err() { return Ok(()); }
//! let work = std::env::temp_dir().join(format!("sandbox-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&work)?;
//! let config = sandbox::Config {
//!     program: "/bin/sh".into(),
//!     args: vec!["-c".into(), "echo built > out.txt; touch /etc/owned".into()],
//!     cwd: work.clone(),
//!     writable: vec![work.clone()],
//!     ..sandbox::Config::with_host_system()
//! };
//! let outcome = sandbox::run(&config)?;
//! // The write into the work directory landed; /etc is read-only, so `touch` failed.
//! assert_eq!(std::fs::read_to_string(work.join("out.txt"))?, "built\n");
//! assert_eq!(outcome.exit_code, Some(1));
//! assert!(!std::path::Path::new("/etc/owned").exists());
//! std::fs::remove_dir_all(&work)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod cgroup;
mod inside;

use std::ffi::OsString;
use std::fmt;
use std::io;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use cgroup::{CgroupSupport, CgroupVersion};

/// The first argument by which the sandbox re-executes its program, inside the new
/// namespaces, to build the root and run the command.
const INIT: &str = "__hitzeleiter-sandbox-init";

/// Resource limits of one run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Limits {
    /// Memory (bytes); exceeding it gets the command killed.
    pub memory: Option<u64>,
    /// Processes and threads at once; a fork beyond fails, and the run is stopped (and
    /// counts as failed however the command exits).
    pub pids: Option<u64>,
    /// CPU time of each process (seconds, `RLIMIT_CPU`).
    pub cpu_seconds: Option<u64>,
    /// CPU bandwidth (cores, e.g. 1.5), as a cgroup quota.
    pub cpus: Option<f64>,
}

/// What to run and what it may see.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Config {
    /// The program (an absolute path, or found on `PATH` of [`Config::env`]).
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<OsString>,
    /// Its whole environment.
    pub env: Vec<(OsString, OsString)>,
    /// Its working directory (inside the sandbox).
    pub cwd: PathBuf,
    /// Host paths visible read-only, at the same place.
    pub readonly: Vec<PathBuf>,
    /// Host paths visible writable, at the same place (they must exist).
    pub writable: Vec<PathBuf>,
    /// The host's network (BitBake's `[network] = "1"`); else only a loopback device.
    pub network: bool,
    /// Resource limits.
    pub limits: Limits,
    /// Read back what the command used ([`Usage`]) through cgroups, even without limits
    /// (about a millisecond per run for the groups' creation and removal).
    pub accounting: bool,
}

impl Config {
    /// A configuration that sees the host's system directories (`/usr`, `/bin`, `/lib*`,
    /// `/sbin`, `/etc`) read-only and nothing else, runs `/bin/true` in `/`, with `PATH`
    /// set.
    pub fn with_host_system() -> Config {
        let readonly = [
            "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc",
        ]
        .iter()
        .map(PathBuf::from)
        .filter(|p| p.exists())
        .collect();
        Config {
            program: "/bin/true".into(),
            args: Vec::new(),
            env: vec![("PATH".into(), "/usr/local/bin:/usr/bin:/bin".into())],
            cwd: "/".into(),
            readonly,
            writable: Vec::new(),
            network: false,
            limits: Limits::default(),
            accounting: true,
        }
    }
}

/// Why the command was stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// It used more than its memory limit (bytes) and was killed.
    Memory(u64),
    /// It tried to have more processes than its limit and was killed.
    Pids(u64),
    /// A process used more CPU time than its limit (seconds).
    CpuTime(u64),
}

/// Sizes as people write them: 2 GiB, 512 MiB.
fn human_bytes(bytes: u64) -> String {
    const UNITS: [(&str, u32); 4] = [("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)];
    for (unit, shift) in UNITS {
        let size = 1u64 << shift;
        if bytes >= size && bytes.is_multiple_of(size) {
            return format!("{} {unit}", bytes / size);
        }
    }
    format!("{bytes} bytes")
}

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stop::Memory(limit) => {
                write!(f, "killed: memory limit {} exceeded", human_bytes(*limit))
            }
            Stop::Pids(limit) => write!(f, "killed: process limit {limit} reached"),
            Stop::CpuTime(limit) => write!(f, "killed: CPU time limit {limit} s exceeded"),
        }
    }
}

/// What the command used, as far as the machine can tell (`None`: no controller).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Usage {
    /// CPU time of all its processes.
    pub cpu: Option<Duration>,
    /// Peak memory (bytes).
    pub peak_memory: Option<u64>,
    /// Bytes read from block devices.
    pub io_read: Option<u64>,
    /// Bytes written to block devices.
    pub io_write: Option<u64>,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The command's exit code, if it exited.
    pub exit_code: Option<i32>,
    /// The signal that ended it, if one did.
    pub signal: Option<i32>,
    /// The limit that stopped it, if one did.
    pub stopped: Option<Stop>,
    /// What it used.
    pub usage: Usage,
}

impl Outcome {
    /// Whether the command exited with 0 and nothing stopped it.
    pub fn success(&self) -> bool {
        self.exit_code == Some(0) && self.stopped.is_none()
    }

    /// What happened, in words: `exit code 2`, `killed by signal 9`, or the limit.
    pub fn describe(&self) -> String {
        match (self.stopped, self.exit_code, self.signal) {
            (Some(stop), _, _) => stop.to_string(),
            (None, Some(code), _) => format!("exit code {code}"),
            (None, None, Some(signal)) => format!("killed by signal {signal}"),
            (None, None, None) => "ended for no known reason".to_owned(),
        }
    }
}

/// Why a command could not be run in a sandbox.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The machine does not allow what the sandbox needs (namespaces, a controller).
    #[error("sandbox not available: {0}")]
    Unsupported(String),
    /// Setting the sandbox up failed.
    #[error("sandbox setup failed: {0}")]
    Setup(String),
    /// Starting or waiting for the process failed.
    #[error("sandbox: {0}")]
    Io(#[source] io::Error),
}

/// What the stages inside need: the configuration, where to report, which cgroups to
/// join.
#[derive(Debug, Serialize, Deserialize)]
struct Plan {
    config: Config,
    /// Written by stage two: `exit N` or `signal N`; or `error TEXT` by either stage.
    status_file: PathBuf,
    /// `cgroup.procs` files to write the stage-one process into.
    cgroup_procs: Vec<PathBuf>,
    uid: u32,
    gid: u32,
}

/// Runs the sandbox's own stages when this process was started as one of them (it then
/// never returns); otherwise returns at once. Call it first thing in `main` of every
/// program that calls [`run`].
pub fn enter_if_requested() {
    let mut args = std::env::args_os().skip(1);
    if args.next().is_none_or(|arg| arg != INIT) {
        return;
    }
    let plan: Option<Plan> = args
        .next()
        .and_then(|json| serde_json::from_slice(json.as_encoded_bytes()).ok());
    let Some(plan) = plan else {
        eprintln!("sandbox: started without a valid plan");
        std::process::exit(126);
    };
    inside::run_init(&plan)
}

/// What this machine allows.
#[derive(Debug)]
pub struct Probe {
    /// Whether namespaces work here (`Err` with the reason if not).
    pub namespaces: Result<(), SandboxError>,
    /// The cgroup controllers available for limits.
    pub cgroups: CgroupSupport,
}

/// The cgroup controllers available for limits (cheap: nothing is started).
pub fn cgroup_support() -> CgroupSupport {
    cgroup::support()
}

/// Finds out what this machine allows: runs `/bin/true` in a sandbox, and looks for cgroup
/// controllers.
pub fn probe() -> Probe {
    let namespaces = match run(&Config::with_host_system()) {
        Ok(outcome) if outcome.success() => Ok(()),
        Ok(outcome) => Err(SandboxError::Unsupported(format!(
            "a sandboxed /bin/true ended with {}",
            outcome.describe()
        ))),
        Err(e) => Err(e),
    };
    Probe {
        namespaces,
        cgroups: cgroup::support(),
    }
}

fn unique_name() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    format!(
        "hitzeleiter-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Runs `config`'s command in a sandbox, with standard input closed and its output
/// going to this process's standard output and error.
pub fn run(config: &Config) -> Result<Outcome, SandboxError> {
    run_with(config, Stdio::inherit(), Stdio::inherit())
}

/// [`run`] with the command's standard output and error going to `stdout` and `stderr`.
pub fn run_with(config: &Config, stdout: Stdio, stderr: Stdio) -> Result<Outcome, SandboxError> {
    let name = unique_name();
    let group = cgroup::Group::create(&name, &config.limits, config.accounting)?;
    let status_file = std::env::temp_dir().join(format!(".{name}.status"));
    let plan = Plan {
        config: config.clone(),
        status_file: status_file.clone(),
        cgroup_procs: group.procs_files(),
        uid: rustix::process::getuid().as_raw(),
        gid: rustix::process::getgid().as_raw(),
    };
    let json = serde_json::to_string(&plan).map_err(|e| SandboxError::Setup(e.to_string()))?;
    let exe = std::env::current_exe().map_err(SandboxError::Io)?;
    let mut command = Command::new(exe);
    command
        .arg(INIT)
        .arg(json)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr);
    inside::Entry::new(&plan)
        .map_err(SandboxError::Setup)?
        .install(&mut command);
    let mut child = command.spawn().map_err(|e| match e.raw_os_error() {
        // What a restricted container answers to new namespaces.
        Some(code)
            if code == rustix::io::Errno::PERM.raw_os_error()
                || code == rustix::io::Errno::NOSPC.raw_os_error()
                || code == rustix::io::Errno::INVAL.raw_os_error() =>
        {
            SandboxError::Unsupported(format!("entering new namespaces: {e}"))
        }
        _ => SandboxError::Io(e),
    })?;

    // Wait on a thread, so that a process limit can be watched meanwhile.
    let pid = child.id();
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait());
    });
    let mut stopped = None;
    loop {
        match finished.recv_timeout(Duration::from_millis(50)) {
            Ok(status) => {
                status.map_err(SandboxError::Io)?;
                break;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if stopped.is_none() && group.pids_limit_hit() {
                    // A fork bomb does not end by itself at the limit: end it.
                    stopped = config.limits.pids.map(Stop::Pids);
                    group.kill_all();
                    if let Some(pid) = rustix::process::Pid::from_raw(pid as i32) {
                        let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
                    }
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(SandboxError::Setup("lost the sandbox's process".into()));
            }
        }
    }
    let status = std::fs::read_to_string(&status_file).unwrap_or_default();
    let _ = std::fs::remove_file(&status_file);
    let usage = group.usage();
    let (oom_killed, forks_failed) = (group.memory_limit_hit(), group.pids_limit_hit());
    drop(group);
    if stopped.is_none() {
        stopped = oom_killed
            .then_some(config.limits.memory)
            .flatten()
            .map(Stop::Memory);
    }
    let (mut exit_code, mut signal) = (None, None);
    match status.split_once(' ') {
        Some(("exit", code)) => exit_code = code.trim().parse().ok(),
        Some(("signal", number)) => signal = number.trim().parse().ok(),
        Some(("error", why)) => return Err(SandboxError::Setup(why.trim().to_owned())),
        _ if stopped.is_some() => {}
        _ => {
            return Err(SandboxError::Setup(
                "the sandbox ended without a status".to_owned(),
            ));
        }
    }
    if stopped.is_none() {
        // PID 1 ignores SIGXCPU: it is killed at the hard limit, a second later.
        let over_cpu = |limit: u64| {
            usage
                .cpu
                .is_none_or(|used| used >= Duration::from_secs(limit))
        };
        if signal == Some(rustix::process::Signal::XCPU.as_raw())
            || (signal == Some(rustix::process::Signal::KILL.as_raw())
                && config.limits.cpu_seconds.is_some_and(over_cpu))
        {
            stopped = config.limits.cpu_seconds.map(Stop::CpuTime);
        } else if forks_failed {
            // Forks failed: whatever it exited with, it did not do all it tried to.
            stopped = config.limits.pids.map(Stop::Pids);
        }
    }
    Ok(Outcome {
        exit_code,
        signal,
        stopped,
        usage,
    })
}
