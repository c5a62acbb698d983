//! Starting a job's action: on the host or in the sandbox, with BitBake's logs.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::model::{Action, EXIT_TRANSIENT, Isolation};
use crate::script::{replace_symlink, write_run_file};

/// A failed run of a job.
pub(crate) struct RunFailure {
    pub(crate) message: String,
    pub(crate) log: Option<PathBuf>,
    pub(crate) exit_code: Option<i32>,
    pub(crate) transient: bool,
    /// Why the sandbox cannot run here, when that is the failure.
    pub(crate) unsandboxable: Option<String>,
}

impl RunFailure {
    pub(crate) fn io(what: &str, e: io::Error) -> RunFailure {
        RunFailure {
            message: format!("{what}: {e}"),
            log: None,
            exit_code: None,
            transient: true,
            unsandboxable: None,
        }
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
pub(crate) async fn execute(
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

/// Opens `${T}/log.TASK.TAG` and points `log.TASK` at it.
fn open_log(temp: &Path, task: &str, tag: &str) -> io::Result<(PathBuf, File)> {
    fs::create_dir_all(temp)?;
    let name = format!("log.{task}.{tag}");
    let path = temp.join(&name);
    let file = File::create(&path)?;
    replace_symlink(&temp.join(format!("log.{task}")), Path::new(&name))?;
    Ok((path, file))
}
