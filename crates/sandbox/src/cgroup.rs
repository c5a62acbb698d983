//! cgroups: a group per run, with the limits written and the usage read back. v2 where
//! its controllers are enabled for our group, else v1's per-controller hierarchies.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::{Limits, SandboxError, Usage};

const ROOT: &str = "/sys/fs/cgroup";

/// Which cgroup interface limits go through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupVersion {
    /// The unified hierarchy.
    V2,
    /// One hierarchy per controller.
    V1,
    /// Neither has the controllers.
    None,
}

/// The controllers the sandbox can use on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupSupport {
    /// The interface.
    pub version: CgroupVersion,
    /// Memory limits and peak usage.
    pub memory: bool,
    /// Process limits.
    pub pids: bool,
    /// CPU bandwidth limits.
    pub cpu: bool,
}

impl fmt::Display for CgroupSupport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = [
            ("memory", self.memory),
            ("pids", self.pids),
            ("cpu", self.cpu),
        ]
        .iter()
        .filter(|(_, on)| *on)
        .map(|(name, _)| *name)
        .collect();
        match self.version {
            CgroupVersion::None => f.write_str("no cgroup controllers: no resource limits"),
            CgroupVersion::V2 => write!(f, "cgroup v2 ({})", names.join(", ")),
            CgroupVersion::V1 => write!(f, "cgroup v1 ({})", names.join(", ")),
        }
    }
}

/// This process's cgroup path in the hierarchy of `controller` (`""` for v2's).
fn own_path(controller: &str) -> Option<String> {
    let text = fs::read_to_string("/proc/self/cgroup").ok()?;
    text.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let (_, names, path) = (parts.next()?, parts.next()?, parts.next()?);
        let matches = if controller.is_empty() {
            names.is_empty()
        } else {
            names.split(',').any(|n| n == controller)
        };
        matches.then(|| path.to_owned())
    })
}

/// v2's directory for our group, if the unified hierarchy is mounted.
fn v2_base() -> Option<PathBuf> {
    let path = own_path("")?;
    [Path::new(ROOT), &Path::new(ROOT).join("unified")]
        .iter()
        .map(|mount| mount.join(path.trim_start_matches('/')))
        .find(|dir| dir.join("cgroup.controllers").exists())
}

/// Whether this process may create groups in `dir`.
fn writable(dir: &Path) -> bool {
    rustix::fs::access(dir, rustix::fs::Access::WRITE_OK).is_ok()
}

/// v1's directory for our group in `controller`'s hierarchy, if we can create children
/// there.
fn v1_base(controller: &str) -> Option<PathBuf> {
    let path = own_path(controller)?;
    let dir = Path::new(ROOT)
        .join(controller)
        .join(path.trim_start_matches('/'));
    (dir.join("cgroup.procs").exists() && writable(&dir)).then_some(dir)
}

fn v2_controllers(base: &Path) -> Vec<String> {
    fs::read_to_string(base.join("cgroup.subtree_control"))
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

/// What this machine offers.
pub(crate) fn support() -> CgroupSupport {
    if let Some(base) = v2_base().filter(|b| writable(b)) {
        let enabled = v2_controllers(&base);
        let has = |c: &str| enabled.iter().any(|e| e == c);
        if has("memory") || has("pids") || has("cpu") {
            return CgroupSupport {
                version: CgroupVersion::V2,
                memory: has("memory"),
                pids: has("pids"),
                cpu: has("cpu"),
            };
        }
    }
    let memory = v1_base("memory").is_some();
    let pids = v1_base("pids").is_some();
    let cpu = v1_base("cpu").is_some();
    CgroupSupport {
        version: if memory || pids || cpu {
            CgroupVersion::V1
        } else {
            CgroupVersion::None
        },
        memory,
        pids,
        cpu,
    }
}

/// A run's cgroup (one directory per v1 controller, or one v2 directory).
pub(crate) struct Group {
    version: CgroupVersion,
    /// (controller, directory); v2 has one entry named "".
    dirs: Vec<(&'static str, PathBuf)>,
}

fn write(dir: &Path, file: &str, value: &str) -> Result<(), SandboxError> {
    fs::write(dir.join(file), value).map_err(|e| {
        SandboxError::Setup(format!(
            "writing {value:?} to {}: {e}",
            dir.join(file).display()
        ))
    })
}

fn read_number(dir: &Path, file: &str) -> Option<u64> {
    fs::read_to_string(dir.join(file)).ok()?.trim().parse().ok()
}

/// The number after `key` in a `key value` list (memory.events, pids.events, cpu.stat).
fn keyed(dir: &Path, file: &str, key: &str) -> Option<u64> {
    fs::read_to_string(dir.join(file))
        .ok()?
        .lines()
        .find_map(|line| {
            let (k, v) = line.split_once(' ')?;
            (k == key).then(|| v.trim().parse().ok()).flatten()
        })
}

impl Group {
    /// Creates the group named `name` with `limits`; a limit the machine cannot enforce is
    /// an error, not silently dropped. Without limits and `accounting`, there is no group.
    pub(crate) fn create(
        name: &str,
        limits: &Limits,
        accounting: bool,
    ) -> Result<Group, SandboxError> {
        let support = support();
        let missing = |what: &str| {
            SandboxError::Unsupported(format!(
                "a {what} limit needs the {what} cgroup controller ({support})"
            ))
        };
        if limits.memory.is_some() && !support.memory {
            return Err(missing("memory"));
        }
        if limits.pids.is_some() && !support.pids {
            return Err(missing("pids"));
        }
        if limits.cpus.is_some() && !support.cpu {
            return Err(missing("cpu"));
        }
        let mut group = Group {
            version: support.version,
            dirs: Vec::new(),
        };
        let limited = limits.memory.is_some() || limits.pids.is_some() || limits.cpus.is_some();
        if !limited && !accounting {
            return Ok(group);
        }
        match support.version {
            CgroupVersion::None => {}
            CgroupVersion::V2 => {
                let base = v2_base().ok_or_else(|| missing("cgroup"))?;
                let dir = base.join(name);
                fs::create_dir(&dir)
                    .map_err(|e| SandboxError::Setup(format!("{}: {e}", dir.display())))?;
                group.dirs.push(("", dir.clone()));
                if let Some(memory) = limits.memory {
                    write(&dir, "memory.max", &memory.to_string())?;
                    write(&dir, "memory.swap.max", "0").ok();
                }
                if let Some(pids) = limits.pids {
                    write(&dir, "pids.max", &pids.to_string())?;
                }
                if let Some(cpus) = limits.cpus {
                    write(
                        &dir,
                        "cpu.max",
                        &format!("{} 100000", (cpus * 100_000.0) as u64),
                    )?;
                }
            }
            CgroupVersion::V1 => {
                for controller in ["memory", "pids", "cpu", "cpuacct", "blkio"] {
                    let Some(base) = v1_base(controller) else {
                        continue;
                    };
                    let dir = base.join(name);
                    if fs::create_dir(&dir).is_err() {
                        // Usage from this controller is then unknown; limits are checked below.
                        continue;
                    }
                    group.dirs.push((controller, dir));
                }
                if let Some(memory) = limits.memory {
                    let dir = group.dir("memory").ok_or_else(|| missing("memory"))?;
                    write(&dir, "memory.limit_in_bytes", &memory.to_string())?;
                    // Swap would let it go over: the limit covers memory and swap together.
                    write(&dir, "memory.memsw.limit_in_bytes", &memory.to_string()).ok();
                }
                if let Some(pids) = limits.pids {
                    let dir = group.dir("pids").ok_or_else(|| missing("pids"))?;
                    write(&dir, "pids.max", &pids.to_string())?;
                }
                if let Some(cpus) = limits.cpus {
                    let dir = group.dir("cpu").ok_or_else(|| missing("cpu"))?;
                    write(
                        &dir,
                        "cpu.cfs_quota_us",
                        &((cpus * 100_000.0) as u64).to_string(),
                    )?;
                }
            }
        }
        Ok(group)
    }

    fn dir(&self, controller: &str) -> Option<PathBuf> {
        let wanted = if self.version == CgroupVersion::V2 {
            ""
        } else {
            controller
        };
        self.dirs
            .iter()
            .find(|(c, _)| *c == wanted)
            .map(|(_, d)| d.clone())
    }

    /// The `cgroup.procs` files the sandbox's first process joins.
    pub(crate) fn procs_files(&self) -> Vec<PathBuf> {
        self.dirs
            .iter()
            .map(|(_, d)| d.join("cgroup.procs"))
            .collect()
    }

    /// Whether the kernel killed a process for going over the memory limit.
    pub(crate) fn memory_limit_hit(&self) -> bool {
        let Some(dir) = self.dir("memory") else {
            return false;
        };
        let file = match self.version {
            CgroupVersion::V2 => "memory.events",
            _ => "memory.oom_control",
        };
        keyed(&dir, file, "oom_kill").is_some_and(|n| n > 0)
    }

    /// Whether a fork failed for the process limit.
    pub(crate) fn pids_limit_hit(&self) -> bool {
        self.dir("pids")
            .and_then(|dir| keyed(&dir, "pids.events", "max"))
            .is_some_and(|n| n > 0)
    }

    /// CPU time, peak memory and block I/O of the group.
    pub(crate) fn usage(&self) -> Usage {
        match self.version {
            CgroupVersion::None => Usage::default(),
            CgroupVersion::V2 => {
                let dir = self.dir("").unwrap_or_default();
                let (io_read, io_write) = io_v2(&dir);
                Usage {
                    cpu: keyed(&dir, "cpu.stat", "usage_usec").map(Duration::from_micros),
                    peak_memory: read_number(&dir, "memory.peak"),
                    io_read,
                    io_write,
                }
            }
            CgroupVersion::V1 => {
                let (io_read, io_write) = self.dir("blkio").map(|d| io_v1(&d)).unwrap_or_default();
                Usage {
                    cpu: self
                        .dir("cpuacct")
                        .and_then(|d| read_number(&d, "cpuacct.usage"))
                        .map(Duration::from_nanos),
                    peak_memory: self
                        .dir("memory")
                        .and_then(|d| read_number(&d, "memory.max_usage_in_bytes")),
                    io_read,
                    io_write,
                }
            }
        }
    }

    /// Kills every process in the group (what a stopped run leaves behind).
    pub(crate) fn kill_all(&self) {
        for (_, dir) in &self.dirs {
            let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
            for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                if let Some(pid) = rustix::process::Pid::from_raw(pid) {
                    let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
                }
            }
        }
    }
}

impl Drop for Group {
    /// Removes the group; its processes are gone (the PID namespace died with its init,
    /// or [`Group::kill_all`] ended them).
    fn drop(&mut self) {
        for (_, dir) in std::mem::take(&mut self.dirs) {
            for _ in 0..100 {
                if fs::remove_dir(&dir).is_ok() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    }
}

/// Bytes read and written, from v1's `blkio.throttle.io_service_bytes_recursive`.
fn io_v1(dir: &Path) -> (Option<u64>, Option<u64>) {
    let Ok(text) = fs::read_to_string(dir.join("blkio.throttle.io_service_bytes_recursive")) else {
        return (None, None);
    };
    let (mut read, mut written) = (0, 0);
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if let [_, kind, bytes] = fields[..] {
            let bytes: u64 = bytes.parse().unwrap_or(0);
            match kind {
                "Read" => read += bytes,
                "Write" => written += bytes,
                _ => {}
            }
        }
    }
    (Some(read), Some(written))
}

/// Bytes read and written, from v2's `io.stat`.
fn io_v2(dir: &Path) -> (Option<u64>, Option<u64>) {
    let Ok(text) = fs::read_to_string(dir.join("io.stat")) else {
        return (None, None);
    };
    let (mut read, mut written) = (0, 0);
    for field in text.split_whitespace() {
        if let Some(n) = field.strip_prefix("rbytes=") {
            read += n.parse::<u64>().unwrap_or(0);
        } else if let Some(n) = field.strip_prefix("wbytes=") {
            written += n.parse::<u64>().unwrap_or(0);
        }
    }
    (Some(read), Some(written))
}
