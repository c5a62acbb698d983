//! `hitzeleiter sandbox run` (one command as a task would run) and `hitzeleiter info`
//! (what this machine allows).

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

#[derive(Args)]
pub(crate) struct SandboxArgs {
    #[command(subcommand)]
    command: SandboxCommand,
}

#[derive(Subcommand)]
enum SandboxCommand {
    /// Run a command in the sandbox, exactly as a task is run.
    Run(RunArgs),
}

#[derive(Args)]
struct RunArgs {
    /// A host directory the command may write (repeatable); it must exist.
    #[arg(long = "writable", value_name = "DIR")]
    writable: Vec<PathBuf>,
    /// A host path the command may read, besides the system directories (repeatable).
    #[arg(long = "readonly", value_name = "PATH")]
    readonly: Vec<PathBuf>,
    /// Give the command the host's network.
    #[arg(long)]
    network: bool,
    /// Memory limit (e.g. 512M, 2G).
    #[arg(long, value_name = "SIZE")]
    memory: Option<String>,
    /// Limit on processes and threads.
    #[arg(long, value_name = "N")]
    pids: Option<u64>,
    /// CPU time limit per process, in seconds.
    #[arg(long = "cpu-seconds", value_name = "S")]
    cpu_seconds: Option<u64>,
    /// The command and its arguments.
    #[arg(required = true, last = true)]
    command: Vec<OsString>,
}

/// The exit code for a command the sandbox stopped or could not start (as `timeout` and
/// shells use for "could not run").
const STOPPED: u8 = 125;

pub(crate) fn sandbox(args: &SandboxArgs) -> ExitCode {
    let SandboxCommand::Run(args) = &args.command;
    let run = || -> Result<sandbox::Outcome, String> {
        let memory = args
            .memory
            .as_deref()
            .map(executor::parse_size)
            .transpose()
            .map_err(|e| e.to_string())?;
        let cwd = std::env::current_dir().map_err(|e| format!("current directory: {e}"))?;
        let mut config = sandbox::Config::with_host_system();
        config.program = PathBuf::from(&args.command[0]);
        config.args = args.command[1..].to_vec();
        config.env = std::env::vars_os().collect();
        config.readonly.extend(args.readonly.iter().cloned());
        config.writable = args
            .writable
            .iter()
            .map(|dir| std::path::absolute(dir).map_err(|e| format!("{}: {e}", dir.display())))
            .collect::<Result<_, _>>()?;
        // The current directory stays the working directory if the command can see it.
        if config
            .readonly
            .iter()
            .chain(&config.writable)
            .any(|p| cwd.starts_with(p))
        {
            config.cwd = cwd;
        }
        config.network = args.network;
        config.limits = sandbox::Limits {
            memory,
            pids: args.pids,
            cpu_seconds: args.cpu_seconds,
            cpus: None,
        };
        sandbox::run(&config).map_err(|e| e.to_string())
    };
    match run() {
        Ok(outcome) if outcome.stopped.is_none() && outcome.exit_code.is_some() => {
            ExitCode::from(outcome.exit_code.unwrap_or(0) as u8)
        }
        Ok(outcome) => {
            eprintln!("hitzeleiter sandbox: {}", outcome.describe());
            ExitCode::from(STOPPED)
        }
        Err(err) => {
            eprintln!("ERROR: {err}");
            ExitCode::from(STOPPED)
        }
    }
}

/// `hitzeleiter info`: the version and what the sandbox can do here.
pub(crate) fn info() -> ExitCode {
    let probe = sandbox::probe();
    println!("hitzeleiter {}", env!("CARGO_PKG_VERSION"));
    match &probe.namespaces {
        Ok(()) => println!("sandbox: namespaces: user, mount, PID, network, IPC, UTS"),
        Err(why) => println!("sandbox: namespaces: not available ({why})"),
    }
    println!("sandbox: limits: {}", probe.cgroups);
    ExitCode::SUCCESS
}
