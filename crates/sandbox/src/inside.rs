//! The sandbox's two stages, each a fresh (single-threaded) process of the calling
//! program. Stage one joins the cgroups and enters the new namespaces; stage two, PID 1
//! of the new PID namespace, builds the root file system, starts the command and reaps
//! every process until the command ends.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use rustix::fs::StatVfsMountFlags;
use rustix::mount::{MountFlags, MountPropagationFlags, UnmountFlags};
use rustix::process::{Resource, Rlimit, Signal, WaitOptions};
use rustix::thread::UnshareFlags;

use crate::{Config, INIT, Plan};

pub(crate) enum Stage {
    Enter,
    Init,
}

/// Runs a stage and exits with its result.
pub(crate) fn run_stage(stage: Stage, plan: &Plan) -> ! {
    let result = match stage {
        Stage::Enter => enter(plan),
        Stage::Init => init(plan),
    };
    match result {
        Ok(code) => std::process::exit(code),
        Err(why) => {
            // Stage two's view of the status file may be gone; stage one reports for it.
            let _ = fs::write(&plan.status_file, format!("error {why}"));
            eprintln!("sandbox: {why}");
            std::process::exit(126)
        }
    }
}

fn die_with_parent() -> Result<(), String> {
    rustix::process::set_parent_process_death_signal(Some(Signal::KILL))
        .map_err(|e| format!("prctl(PR_SET_PDEATHSIG): {e}"))
}

/// Stage one: cgroups, then new namespaces, then stage two as PID 1.
fn enter(plan: &Plan) -> Result<i32, String> {
    die_with_parent()?;
    for procs in &plan.cgroup_procs {
        // "0" is the writing process itself; its children inherit the group.
        fs::write(procs, "0").map_err(|e| format!("joining {}: {e}", procs.display()))?;
    }
    let mut flags = UnshareFlags::NEWUSER
        | UnshareFlags::NEWNS
        | UnshareFlags::NEWPID
        | UnshareFlags::NEWIPC
        | UnshareFlags::NEWUTS;
    if !plan.config.network {
        flags |= UnshareFlags::NEWNET;
    }
    #[allow(unsafe_code)]
    // SAFETY: `unshare_unsafe` is unsafe only for `UnshareFlags::FILES` (threads could see
    // file descriptors from an unshared table); these flags do not include it, and this
    // process has a single thread.
    unsafe { rustix::thread::unshare_unsafe(flags) }
        .map_err(|e| format!("unshare (user, mount, PID, IPC, UTS namespaces): {e}"))?;
    // Root inside is this user outside.
    fs::write("/proc/self/setgroups", "deny").map_err(|e| format!("setgroups: {e}"))?;
    fs::write("/proc/self/uid_map", format!("0 {} 1\n", plan.uid))
        .map_err(|e| format!("uid_map: {e}"))?;
    fs::write("/proc/self/gid_map", format!("0 {} 1\n", plan.gid))
        .map_err(|e| format!("gid_map: {e}"))?;
    let json = serde_json::to_string(plan).map_err(|e| e.to_string())?;
    let exe = std::env::current_exe().map_err(|e| format!("finding this program: {e}"))?;
    let status = Command::new(exe)
        .arg(INIT)
        .arg(json)
        .stdin(Stdio::null())
        .status()
        .map_err(|e| format!("starting the sandbox's init: {e}"))?;
    Ok(status.code().unwrap_or(126))
}

/// Stage two: PID 1. Builds the root, runs the command, reaps, reports.
fn init(plan: &Plan) -> Result<i32, String> {
    die_with_parent()?;
    // Opened before the host's file system goes away.
    let mut status_file = File::create(&plan.status_file)
        .map_err(|e| format!("{}: {e}", plan.status_file.display()))?;
    let config = &plan.config;
    build_root(config)?;
    rustix::system::sethostname(b"hitzeleiter").map_err(|e| format!("sethostname: {e}"))?;
    if let Some(seconds) = config.limits.cpu_seconds {
        // SIGXCPU at the limit (reported as the CPU limit), SIGKILL a second later.
        rustix::process::setrlimit(
            Resource::Cpu,
            Rlimit {
                current: Some(seconds),
                maximum: Some(seconds + 1),
            },
        )
        .map_err(|e| format!("setrlimit(RLIMIT_CPU): {e}"))?;
    }
    let child = Command::new(&config.program)
        .args(&config.args)
        .env_clear()
        .envs(config.env.iter().map(|(k, v)| (k, v)))
        .current_dir(&config.cwd)
        .spawn();
    let child = match child {
        Ok(child) => child,
        Err(e) => {
            eprintln!("sandbox: cannot run {}: {e}", config.program.display());
            let _ = write!(status_file, "exit 127");
            return Ok(0);
        }
    };
    let main = rustix::process::Pid::from_child(&child);
    // As init, every orphan is ours to reap; the command's own status is what counts.
    let report = loop {
        match rustix::process::wait(WaitOptions::empty()) {
            Ok(Some((pid, status))) if pid == main => {
                break match (status.exit_status(), status.terminating_signal()) {
                    (Some(code), _) => format!("exit {code}"),
                    (None, Some(signal)) => format!("signal {signal}"),
                    _ => "exit 126".to_owned(),
                };
            }
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(format!("waiting for the command: {e}")),
        }
    };
    status_file
        .write_all(report.as_bytes())
        .map_err(|e| format!("writing the status: {e}"))?;
    // Exiting kills whatever the command left running: this is the namespace's init.
    Ok(0)
}

fn mkdirs(path: &Path) -> Result<(), String> {
    fs::create_dir_all(path).map_err(|e| format!("mkdir {}: {e}", path.display()))
}

/// A mount point at `target` for `source`: a directory, or an empty file.
fn mount_point(source: &Path, target: &Path) -> Result<(), String> {
    if source.is_dir() {
        return mkdirs(target);
    }
    if let Some(parent) = target.parent() {
        mkdirs(parent)?;
    }
    if !target.exists() {
        File::create(target).map_err(|e| format!("creating {}: {e}", target.display()))?;
    }
    Ok(())
}

/// Binds `source` at `target`, read-only if asked, keeping the flags the kernel locks on
/// mounts inherited into a user namespace (nosuid, nodev, noexec).
fn bind(source: &Path, target: &Path, readonly: bool) -> Result<(), String> {
    mount_point(source, target)?;
    rustix::mount::mount_bind_recursive(source, target)
        .map_err(|e| format!("binding {}: {e}", source.display()))?;
    if readonly {
        let locked = rustix::fs::statvfs(source)
            .map(|s| s.f_flag)
            .map_err(|e| format!("statvfs {}: {e}", source.display()))?;
        let mut flags = MountFlags::BIND | MountFlags::RDONLY;
        for (on, flag) in [
            (StatVfsMountFlags::NOSUID, MountFlags::NOSUID),
            (StatVfsMountFlags::NODEV, MountFlags::NODEV),
            (StatVfsMountFlags::NOEXEC, MountFlags::NOEXEC),
        ] {
            if locked.contains(on) {
                flags |= flag;
            }
        }
        rustix::mount::mount_remount(target, flags, "")
            .map_err(|e| format!("making {} read-only: {e}", target.display()))?;
    }
    Ok(())
}

/// The command's root: the configured host paths under a fresh tmpfs, a new /proc, a
/// private /tmp, a minimal /dev; then the host's root is let go.
fn build_root(config: &Config) -> Result<(), String> {
    rustix::mount::mount_change(
        "/",
        MountPropagationFlags::REC | MountPropagationFlags::PRIVATE,
    )
    .map_err(|e| format!("making / private: {e}"))?;
    // A scratch root on /tmp; after the first pivot the host is at /oldroot.
    rustix::mount::mount(
        "tmpfs",
        "/tmp",
        "tmpfs",
        MountFlags::NOSUID | MountFlags::NODEV,
        None,
    )
    .map_err(|e| format!("mounting the scratch tmpfs: {e}"))?;
    mkdirs(Path::new("/tmp/oldroot"))?;
    mkdirs(Path::new("/tmp/newroot"))?;
    rustix::process::pivot_root("/tmp", "/tmp/oldroot").map_err(|e| format!("pivot_root: {e}"))?;
    std::env::set_current_dir("/").map_err(|e| format!("chdir /: {e}"))?;
    let host = |path: &Path| Path::new("/oldroot").join(path.strip_prefix("/").unwrap_or(path));
    let new = |path: &Path| Path::new("/newroot").join(path.strip_prefix("/").unwrap_or(path));
    rustix::mount::mount_bind("/newroot", "/newroot")
        .map_err(|e| format!("binding the new root: {e}"))?;

    let proc_dir = Path::new("/newroot/proc");
    mkdirs(proc_dir)?;
    rustix::mount::mount(
        "proc",
        proc_dir,
        "proc",
        MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC,
        None,
    )
    .map_err(|e| format!("mounting /proc: {e}"))?;
    let tmp = Path::new("/newroot/tmp");
    mkdirs(tmp)?;
    rustix::mount::mount(
        "tmpfs",
        tmp,
        "tmpfs",
        MountFlags::NOSUID | MountFlags::NODEV,
        None,
    )
    .map_err(|e| format!("mounting /tmp: {e}"))?;
    fs::set_permissions(tmp, std::os::unix::fs::PermissionsExt::from_mode(0o1777))
        .map_err(|e| format!("chmod /tmp: {e}"))?;
    let dev = Path::new("/newroot/dev");
    mkdirs(dev)?;
    rustix::mount::mount(
        "tmpfs",
        dev,
        "tmpfs",
        MountFlags::NOSUID | MountFlags::NOEXEC,
        None,
    )
    .map_err(|e| format!("mounting /dev: {e}"))?;
    for node in ["null", "zero", "full", "random", "urandom", "tty"] {
        let source = Path::new("/oldroot/dev").join(node);
        if source.exists() {
            bind(&source, &dev.join(node), false)?;
        }
    }
    for (link, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        std::os::unix::fs::symlink(target, dev.join(link))
            .map_err(|e| format!("/dev/{link}: {e}"))?;
    }
    mkdirs(&dev.join("shm"))?;

    // After /tmp and /dev, so that given paths below them are bound on top.
    // Parents before children, so that a writable directory inside a read-only one is
    // bound on top of it.
    let mut binds: Vec<(&PathBuf, bool)> = config
        .readonly
        .iter()
        .map(|p| (p, true))
        .chain(config.writable.iter().map(|p| (p, false)))
        .collect();
    binds.sort_by_key(|(p, readonly)| (p.components().count(), !readonly));
    for (path, readonly) in binds {
        if !path.is_absolute() {
            return Err(format!("{} is not an absolute path", path.display()));
        }
        let source = host(path);
        if !source.exists() {
            if readonly {
                continue;
            }
            return Err(format!("writable path {} does not exist", path.display()));
        }
        bind(&source, &new(path), readonly)?;
    }

    // Into the new root; the scratch root and the host go.
    std::env::set_current_dir("/newroot").map_err(|e| format!("chdir /newroot: {e}"))?;
    rustix::process::pivot_root(".", ".").map_err(|e| format!("pivot_root: {e}"))?;
    rustix::mount::unmount(".", UnmountFlags::DETACH)
        .map_err(|e| format!("detaching the host root: {e}"))?;
    std::env::set_current_dir("/").map_err(|e| format!("chdir /: {e}"))?;
    // Nothing outside the bound paths can be written, not even the root's own tmpfs.
    rustix::mount::mount_remount("/", MountFlags::BIND | MountFlags::RDONLY, "")
        .map_err(|e| format!("making / read-only: {e}"))?;
    Ok(())
}
