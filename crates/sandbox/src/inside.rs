//! Entering the sandbox. The calling process forks a child that, before it executes
//! this program again, joins the cgroups and enters new namespaces ([`Entry`], which
//! runs between fork and exec and so allocates nothing). That process ([`init`]) builds
//! the root file system and starts the command, which is PID 1 of the new PID namespace:
//! when it exits, every process it left behind is killed with the namespace.

use std::ffi::CString;
use std::fs::{self, File};
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use rustix::fs::{Mode, OFlags, StatVfsMountFlags};
use rustix::mount::{MountFlags, MountPropagationFlags, UnmountFlags};
use rustix::process::{Resource, Rlimit, Signal};
use rustix::thread::UnshareFlags;

use crate::{Config, Plan};

/// What the forked child does before executing the sandbox's init: everything prepared
/// beforehand, so that nothing is allocated between fork and exec.
pub(crate) struct Entry {
    cgroup_procs: Vec<CString>,
    flags: UnshareFlags,
    uid_map: Vec<u8>,
    gid_map: Vec<u8>,
}

fn write_file(path: &std::ffi::CStr, data: &[u8]) -> std::io::Result<()> {
    let fd = rustix::fs::open(path, OFlags::WRONLY | OFlags::CLOEXEC, Mode::empty())?;
    rustix::io::write(&fd, data)?;
    Ok(())
}

impl Entry {
    pub(crate) fn new(plan: &Plan) -> Result<Entry, String> {
        let mut flags = UnshareFlags::NEWUSER
            | UnshareFlags::NEWNS
            | UnshareFlags::NEWPID
            | UnshareFlags::NEWIPC
            | UnshareFlags::NEWUTS;
        if !plan.config.network {
            flags |= UnshareFlags::NEWNET;
        }
        let cgroup_procs = plan
            .cgroup_procs
            .iter()
            .map(|p| CString::new(p.as_os_str().as_encoded_bytes()).map_err(|e| e.to_string()))
            .collect::<Result<_, _>>()?;
        Ok(Entry {
            cgroup_procs,
            flags,
            // Root inside is this user outside.
            uid_map: format!("0 {} 1\n", plan.uid).into_bytes(),
            gid_map: format!("0 {} 1\n", plan.gid).into_bytes(),
        })
    }

    /// Makes `command` enter the sandbox between fork and exec.
    pub(crate) fn install(self, command: &mut Command) {
        #[allow(unsafe_code)]
        // SAFETY: the closure runs in the forked child, where only async-signal-safe
        // operations are allowed: it makes system calls through rustix on buffers prepared
        // beforehand and allocates nothing.
        unsafe {
            command.pre_exec(move || self.enter());
        }
    }

    fn enter(&self) -> std::io::Result<()> {
        rustix::process::set_parent_process_death_signal(Some(Signal::KILL))?;
        // A session of its own: the task has no controlling terminal to type into.
        rustix::process::setsid()?;
        for procs in &self.cgroup_procs {
            // "0" is the writing process itself; its children inherit the group.
            write_file(procs, b"0")?;
        }
        #[allow(unsafe_code)]
        // SAFETY: `unshare_unsafe` is unsafe only for `UnshareFlags::FILES` (threads could
        // see file descriptors from an unshared table); these flags do not include it, and
        // a forked child has a single thread.
        unsafe {
            rustix::thread::unshare_unsafe(self.flags)?;
        }
        write_file(c"/proc/self/setgroups", b"deny")?;
        write_file(c"/proc/self/uid_map", &self.uid_map)?;
        write_file(c"/proc/self/gid_map", &self.gid_map)?;
        Ok(())
    }
}

/// The sandbox's init: in the new namespaces (its children in the new PID namespace),
/// builds the root, runs the command as PID 1, reports how it ended; exits.
pub(crate) fn run_init(plan: &Plan) -> ! {
    match init(plan) {
        Ok(()) => std::process::exit(0),
        Err(why) => {
            let _ = fs::write(&plan.status_file, format!("error {why}"));
            eprintln!("sandbox: {why}");
            std::process::exit(126)
        }
    }
}

fn init(plan: &Plan) -> Result<(), String> {
    // Opened before the host's file system goes away.
    let mut status_file = File::create(&plan.status_file)
        .map_err(|e| format!("{}: {e}", plan.status_file.display()))?;
    let config = &plan.config;
    build_root(config)?;
    rustix::system::sethostname(b"hitzeleiter").map_err(|e| format!("sethostname: {e}"))?;
    let cpu_limit = config.limits.cpu_seconds.map(|seconds| Rlimit {
        // SIGXCPU at the limit (reported as the CPU limit), SIGKILL a second later.
        current: Some(seconds),
        maximum: Some(seconds + 1),
    });
    let mut command = Command::new(&config.program);
    command
        .args(&config.args)
        .env_clear()
        .envs(config.env.iter().map(|(k, v)| (k, v)))
        .current_dir(&config.cwd);
    #[allow(unsafe_code)]
    // SAFETY: runs in the forked child (PID 1 of the new PID namespace, which alone can
    // mount its /proc): system calls through rustix with static arguments, no allocation.
    unsafe {
        command.pre_exec(move || {
            rustix::mount::mount(
                c"proc",
                c"/proc",
                c"proc",
                MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC,
                None,
            )?;
            rustix::mount::unmount(c"/.oldroot", UnmountFlags::DETACH)?;
            // Root in the namespace keeps no capability: the mounts cannot be undone
            // (`mount -o remount,rw`), and an exec cannot give any back.
            for bit in 0..64 {
                match rustix::thread::remove_capability_from_bounding_set(
                    rustix::thread::CapabilitySet::from_bits_retain(1 << bit),
                ) {
                    Ok(()) | Err(rustix::io::Errno::INVAL) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            rustix::thread::set_no_new_privs(true)?;
            // Dies with the sandbox's init, whatever kills it.
            rustix::process::set_parent_process_death_signal(Some(Signal::KILL))?;
            if let Some(limit) = &cpu_limit {
                rustix::process::setrlimit(Resource::Cpu, *limit)?;
            }
            Ok(())
        });
    }
    let report = match command.status() {
        Ok(status) => {
            use std::os::unix::process::ExitStatusExt;
            match (status.code(), status.signal()) {
                (Some(code), _) => format!("exit {code}"),
                (None, Some(signal)) => format!("signal {signal}"),
                _ => "exit 126".to_owned(),
            }
        }
        Err(e) => {
            eprintln!("sandbox: cannot run {}: {e}", config.program.display());
            "exit 127".to_owned()
        }
    };
    status_file
        .write_all(report.as_bytes())
        .map_err(|e| format!("writing the status: {e}"))
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

    // The command mounts its /proc itself: only a process of the new PID namespace can.
    mkdirs(Path::new("/newroot/proc"))?;
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
    for node in ["null", "zero", "full", "random", "urandom"] {
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

    // Into the new root. The host stays reachable at /.oldroot until the command has
    // mounted its /proc (the kernel lets a user namespace mount a proc only where one is
    // already visible); the command's first act is to let it go.
    mkdirs(Path::new("/newroot/.oldroot"))?;
    rustix::process::pivot_root("/newroot", "/newroot/.oldroot")
        .map_err(|e| format!("pivot_root: {e}"))?;
    std::env::set_current_dir("/").map_err(|e| format!("chdir /: {e}"))?;
    // Nothing outside the bound paths can be written, not even the root's own tmpfs.
    rustix::mount::mount_remount("/", MountFlags::BIND | MountFlags::RDONLY, "")
        .map_err(|e| format!("making / read-only: {e}"))?;
    Ok(())
}
