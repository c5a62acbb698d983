//! Parse worker processes, as BitBake's: the calling process has parsed the base
//! configuration and forks the workers, which share it (and the python interpreter that
//! evaluated it) copy-on-write. Worker processes rather than threads because RustPython
//! keeps process-wide state (its GC lists and the shared builtin objects' reference
//! counts) that threads contend on, and because a worker that crashes (a recipe's python
//! calling `os._exit`, a signal) costs one recipe, not the parse.
//!
//! Work is handed out one item at a time from a counter in shared memory. Each worker
//! reports on its own pipe, in length-prefixed JSON frames: "started item i" before it
//! works on it and "done" with the result after. The calling process stays single-threaded
//! (it multiplexes the pipes with `poll`), so that it can fork a replacement for a worker
//! that died at any time.

use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::{Serialize, de::DeserializeOwned};

use crate::WorkerError;

/// A failed system call, as a [`WorkerError`].
fn system(what: impl Into<String>) -> impl FnOnce(rustix::io::Errno) -> WorkerError {
    let what = what.into();
    move |errno| WorkerError::System {
        what,
        source: errno.into(),
    }
}

/// One frame from a worker.
#[derive(serde::Serialize, serde::Deserialize)]
enum Report<T> {
    Started(usize),
    Done(usize, T),
}

/// A counter in memory shared with the forked workers.
struct SharedCounter {
    map: *mut std::ffi::c_void,
}

impl SharedCounter {
    fn new() -> Result<SharedCounter, WorkerError> {
        #[allow(unsafe_code)]
        // SAFETY: a fresh anonymous mapping, aliased by nothing.
        let map = unsafe {
            rustix::mm::mmap_anonymous(
                std::ptr::null_mut(),
                std::mem::size_of::<AtomicUsize>(),
                rustix::mm::ProtFlags::READ | rustix::mm::ProtFlags::WRITE,
                rustix::mm::MapFlags::SHARED,
            )
        }
        .map_err(system("cannot map memory for the parse workers"))?;
        Ok(SharedCounter { map })
    }

    fn get(&self) -> &AtomicUsize {
        #[allow(unsafe_code)]
        // SAFETY: the mapping is page-aligned, zero-filled (a valid AtomicUsize) and lives
        // as long as `self`; processes share it only through atomic operations.
        unsafe {
            &*self.map.cast::<AtomicUsize>()
        }
    }
}

impl Drop for SharedCounter {
    fn drop(&mut self) {
        #[allow(unsafe_code)]
        // SAFETY: mapped in `new` with this size; no reference from `get` outlives `self`.
        unsafe {
            let _ = rustix::mm::munmap(self.map, std::mem::size_of::<AtomicUsize>());
        }
    }
}

/// A worker process as the calling process sees it.
struct Worker {
    pid: rustix::process::Pid,
    reports: std::fs::File,
    /// Bytes read that do not make a whole frame yet.
    pending: Vec<u8>,
    /// The item it said it started and has not finished.
    in_flight: Option<usize>,
}

/// Runs `work` for every item `0..count` in `workers` forked processes and hands each
/// result to `done` in the calling process, in the order they finish. An item whose worker
/// died before finishing it gets `Err` with how the worker ended; a new worker takes over
/// the remaining items.
///
/// The calling process must have no other threads: a forked child has only the forking
/// thread, and a lock another thread held at the fork would stay locked in it.
pub(crate) fn run<T: Serialize + DeserializeOwned>(
    count: usize,
    workers: usize,
    work: &mut dyn FnMut(usize) -> T,
    done: &mut dyn FnMut(usize, Result<T, String>),
) -> Result<(), WorkerError> {
    if count == 0 {
        return Ok(());
    }
    // Checked, not assumed: a lock held by another thread at a fork would hang a worker.
    let threads = std::fs::read_dir("/proc/self/task").map_or(1, |tasks| tasks.count());
    if threads > 1 {
        return Err(WorkerError::Threads { threads });
    }
    release_program_read_only_data();
    let next = SharedCounter::new()?;
    let mut running = Vec::new();
    for _ in 0..workers.clamp(1, count) {
        running.push(spawn(&next, count, work)?);
    }
    while !running.is_empty() {
        let Some(index) = first_with_reports(&running)? else {
            continue;
        };
        if running[index].read_reports(done)? {
            continue;
        }
        running.swap_remove(index).reap(done)?;
        if next.get().load(Ordering::SeqCst) < count {
            running.push(spawn(&next, count, work)?);
        }
    }
    Ok(())
}

/// The program file's read-only data segment as mapped (the mapping at offset 0: its
/// relocation tables and `.rodata`, which holds the frozen bytecode of python's standard
/// library), from `/proc/self/smaps`.
struct ReadOnlySegment {
    start: usize,
    end: usize,
    resident_kb: u64,
    /// Pages written to (copied on write). A file page that is only dirty in the page
    /// cache (a freshly built program) is not one.
    anonymous_kb: u64,
}

fn program_read_only_segments() -> Vec<ReadOnlySegment> {
    let (Ok(exe), Ok(smaps)) = (
        std::fs::read_link("/proc/self/exe"),
        std::fs::read_to_string("/proc/self/smaps"),
    ) else {
        return Vec::new();
    };
    let exe = exe.to_string_lossy();
    let kb = |value: &str| {
        value
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse::<u64>()
            .ok()
    };
    let mut segments = Vec::new();
    let mut lines = smaps.lines().peekable();
    while let Some(header) = lines.next() {
        let fields: Vec<&str> = header.split_whitespace().collect();
        let (mut resident_kb, mut anonymous_kb) = (None, None);
        // A mapping's attribute lines are `Name: value`; its header's first field is a range.
        while let Some(line) = lines.next_if(|l| {
            l.split_whitespace()
                .next()
                .is_some_and(|f| f.ends_with(':'))
        }) {
            if let Some(value) = line.strip_prefix("Rss:") {
                resident_kb = kb(value);
            } else if let Some(value) = line.strip_prefix("Anonymous:") {
                anonymous_kb = kb(value);
            }
        }
        let [range, "r--p", "00000000", _, _, path] = fields[..] else {
            continue;
        };
        let range = range.split_once('-').and_then(|(s, e)| {
            Some((
                usize::from_str_radix(s, 16).ok()?,
                usize::from_str_radix(e, 16).ok()?,
            ))
        });
        if let (true, Some((start, end)), Some(resident_kb), Some(anonymous_kb)) =
            (path == exe, range, resident_kb, anonymous_kb)
        {
            segments.push(ReadOnlySegment {
                start,
                end,
                resident_kb,
                anonymous_kb,
            });
        }
    }
    segments
}

/// Unmaps the resident pages of the program's read-only data segment. By now the python
/// modules in use have been unmarshalled and the relocations applied, so ~9 MiB of it
/// would stay resident (in every worker's parent) for nothing; a page still needed is
/// read again from the page cache. Only a segment with no page of its own (nothing
/// written to it) is released: its contents are the file's.
fn release_program_read_only_data() {
    for segment in program_read_only_segments() {
        if segment.anonymous_kb != 0 || segment.resident_kb == 0 {
            continue;
        }
        #[allow(unsafe_code)]
        // SAFETY: a read-only private mapping of the program file with no written page:
        // dropping its pages loses nothing, the next access reads them from the file.
        let _ = unsafe {
            rustix::mm::madvise(
                segment.start as *mut std::ffi::c_void,
                segment.end - segment.start,
                rustix::mm::Advice::LinuxDontNeed,
            )
        };
    }
}

/// Waits until a worker has something to read (reports, or the end of them); `None` when
/// the wait was interrupted by a signal.
fn first_with_reports(running: &[Worker]) -> Result<Option<usize>, WorkerError> {
    let mut fds: Vec<rustix::event::PollFd<'_>> = running
        .iter()
        .map(|w| rustix::event::PollFd::new(&w.reports, rustix::event::PollFlags::IN))
        .collect();
    match rustix::event::poll(&mut fds, None) {
        Ok(_) => Ok(fds.iter().position(|fd| !fd.revents().is_empty())),
        Err(rustix::io::Errno::INTR) => Ok(None),
        Err(err) => Err(system("waiting for the parse workers")(err)),
    }
}

impl Worker {
    /// Reads what the worker has written and hands each finished item to `done`; `false`
    /// once its reports have ended.
    fn read_reports<T: DeserializeOwned>(
        &mut self,
        done: &mut dyn FnMut(usize, Result<T, String>),
    ) -> Result<bool, WorkerError> {
        let mut chunk = [0u8; 65536];
        let read = match self.reports.read(&mut chunk) {
            Ok(read) => read,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => return Ok(true),
            Err(source) => {
                return Err(WorkerError::System {
                    what: "reading from a parse worker".to_owned(),
                    source,
                });
            }
        };
        self.pending.extend_from_slice(&chunk[..read]);
        while let Some(report) = take_frame::<T>(&mut self.pending)? {
            match report {
                Report::Started(item) => self.in_flight = Some(item),
                Report::Done(item, result) => {
                    self.in_flight = None;
                    done(item, Ok(result));
                }
            }
        }
        Ok(read > 0)
    }

    /// Collects the ended worker's status. The item it was working on, if any, fails with
    /// how it ended; a worker that ended badly between items fails the run.
    fn reap<T>(self, done: &mut dyn FnMut(usize, Result<T, String>)) -> Result<(), WorkerError> {
        let pid = self.pid.as_raw_nonzero();
        let status =
            rustix::process::waitpid(Some(self.pid), rustix::process::WaitOptions::empty())
                .map_err(system(format!("waiting for parse worker {pid}")))?
                .map(|(_, status)| status);
        let clean = status.is_some_and(|s| s.exit_status() == Some(0));
        if let Some(item) = self.in_flight {
            done(item, Err(ended(status)));
        } else if !clean || !self.pending.is_empty() {
            return Err(WorkerError::Ended {
                pid: pid.get(),
                how: ended(status),
            });
        }
        Ok(())
    }
}

/// How a worker ended, for a message.
fn ended(status: Option<rustix::process::WaitStatus>) -> String {
    match status {
        Some(status) => match (status.exit_status(), status.terminating_signal()) {
            (Some(code), _) => format!("exited with status {code}"),
            (_, Some(signal)) => format!("was killed by signal {signal}"),
            _ => "ended".to_owned(),
        },
        None => "ended".to_owned(),
    }
}

/// The next whole frame of `pending`, removed from it.
fn take_frame<T: DeserializeOwned>(
    pending: &mut Vec<u8>,
) -> Result<Option<Report<T>>, WorkerError> {
    let Some(length) = pending
        .first_chunk::<4>()
        .map(|b| u32::from_le_bytes(*b) as usize)
    else {
        return Ok(None);
    };
    if pending.len() < 4 + length {
        return Ok(None);
    }
    let report =
        serde_json::from_slice(&pending[4..4 + length]).map_err(WorkerError::BrokenReport)?;
    pending.drain(..4 + length);
    Ok(Some(report))
}

/// Forks a worker that claims items from `next` until there are none left.
fn spawn<T: Serialize>(
    next: &SharedCounter,
    count: usize,
    work: &mut dyn FnMut(usize) -> T,
) -> Result<Worker, WorkerError> {
    let (reports, sender) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
        .map_err(system("cannot make a pipe for a parse worker"))?;
    // What is buffered now would otherwise be written by the child too.
    let _ = std::io::stdout().flush();
    #[allow(unsafe_code)]
    // SAFETY: the caller guarantees there is no other thread (see `run`); the child never
    // returns from `work_in_child`, so nothing of the parent's state is dropped twice.
    let pid = unsafe { libc::fork() };
    match pid {
        -1 => Err(WorkerError::System {
            what: "cannot start a parse worker".to_owned(),
            source: std::io::Error::last_os_error(),
        }),
        0 => {
            drop(reports);
            work_in_child(next, count, work, sender)
        }
        pid => Ok(Worker {
            pid: rustix::process::Pid::from_raw(pid).ok_or_else(|| WorkerError::System {
                what: "cannot start a parse worker".to_owned(),
                source: std::io::Error::other("fork returned no pid"),
            })?,
            reports: std::fs::File::from(reports),
            pending: Vec::new(),
            in_flight: None,
        }),
    }
}

/// The forked worker's life: claims items, reports each, then ends the process.
fn work_in_child<T: Serialize>(
    next: &SharedCounter,
    count: usize,
    work: &mut dyn FnMut(usize) -> T,
    sender: OwnedFd,
) -> ! {
    let mut out = std::fs::File::from(sender);
    let mut send = |report: &Report<T>| -> std::io::Result<()> {
        let mut frame = vec![0u8; 4];
        serde_json::to_writer(&mut frame, report)?;
        let length = u32::try_from(frame.len() - 4)
            .map_err(|_| std::io::Error::other("a report over 4 GiB"))?;
        frame[..4].copy_from_slice(&length.to_le_bytes());
        out.write_all(&frame)
    };
    let worked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        loop {
            let item = next.get().fetch_add(1, Ordering::SeqCst);
            if item >= count {
                return Ok::<(), std::io::Error>(());
            }
            send(&Report::Started(item))?;
            let result = work(item);
            send(&Report::Done(item, result))?;
        }
    }));
    let _ = std::io::stdout().flush();
    let code = match worked {
        Ok(Ok(())) => 0,
        // The calling process is gone (its end of the pipe closed).
        Ok(Err(_)) => 2,
        // The panic message has been printed by the hook. (Only where panics unwind, as
        // in tests: the release build aborts, and the parent sees a signal.)
        Err(_) => 101,
    };
    // A profile-guided build's training binary (`cargo xtask dist`) writes this worker's
    // profile now: `_exit` skips the exit handler that would.
    #[cfg(hz_pgo_training)]
    #[allow(unsafe_code)]
    // SAFETY: the instrumented build's profiling runtime defines this function; it only
    // writes the counters to the profile file.
    unsafe {
        unsafe extern "C" {
            fn __llvm_profile_write_file() -> i32;
        }
        __llvm_profile_write_file();
    }
    #[allow(unsafe_code)]
    // SAFETY: ends this forked process without running the parent's exit handlers or
    // destructors, which belong to the parent.
    unsafe {
        libc::_exit(code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 1 MiB of read-only data (not zero: it is in the program file's `.rodata`).
    static TABLE: [u8; 1 << 20] = [7; 1 << 20];

    fn table_sum() -> u64 {
        std::hint::black_box(&TABLE)
            .iter()
            .map(|&b| u64::from(b))
            .sum()
    }

    fn resident_kb() -> u64 {
        program_read_only_segments()
            .iter()
            .map(|s| s.resident_kb)
            .sum()
    }

    #[test]
    fn released_read_only_data_leaves_memory_and_reads_the_same() {
        let sum = table_sum();
        let before = resident_kb();
        assert!(before >= 1024, "the table is resident: {before} kB");
        release_program_read_only_data();
        let after = resident_kb();
        assert!(
            after + 1024 <= before,
            "{before} kB resident, then {after} kB"
        );
        assert_eq!(table_sum(), sum);
    }
}
