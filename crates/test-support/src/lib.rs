//! Helpers every test crate of the workspace uses: finding the shared corpus, oracle and
//! conformance cases, the real BitBake for differential tests, and reporting a test that
//! cannot run here as skipped, with its reason.

use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::path::{Path, PathBuf};

/// `HZ_SHARED`, else the `shared` directory beside the workspace, if it exists.
pub fn shared_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("HZ_SHARED") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
    };
    dir.is_dir().then_some(dir)
}

/// Says why a test cannot run: on stderr, and in the file `HZ_SKIP_LOG` names, which
/// `cargo xtask test` reports at the end.
pub fn skip(reason: &str) {
    eprintln!("SKIPPED {reason}");
    if let Some(log) = std::env::var_os("HZ_SKIP_LOG") {
        let appended = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .and_then(|mut file| writeln!(file, "{reason}"));
        if let Err(err) = appended {
            eprintln!("cannot record the skip: {err}");
        }
    }
}

/// The shared directory, or `None` after reporting `test` as skipped.
pub fn require_shared(test: &str) -> Option<PathBuf> {
    let dir = shared_dir();
    if dir.is_none() {
        skip(&format!(
            "{test}: no ../shared directory and HZ_SHARED is not set"
        ));
    }
    dir
}

/// The python with the real BitBake (`HZ_BB_PYTHON`), or `None` after reporting `test`
/// as skipped.
pub fn bitbake_python(test: &str) -> Option<OsString> {
    let python = std::env::var_os("HZ_BB_PYTHON");
    if python.is_none() {
        skip(&format!(
            "{test}: HZ_BB_PYTHON is not set (cargo xtask test installs BitBake in a venv)"
        ));
    }
    python
}

/// Runs a BitBake oracle script, `python SCRIPT INPUT` (UTF-8 mode), and returns its
/// standard output; a failing script fails the test with its standard error.
pub fn run_oracle(python: &OsStr, script: &Path, input: &Path) -> String {
    let output = std::process::Command::new(python)
        .arg(script)
        .arg(input)
        .env("PYTHONUTF8", "1")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    assert!(
        output.status.success(),
        "{} failed: {}",
        script.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("oracle prints UTF-8")
}

/// [`run_oracle`] for a script that prints one JSON value per input item and line.
pub fn oracle_json_lines(python: &OsStr, script: &Path, input: &Path) -> Vec<serde_json::Value> {
    run_oracle(python, script, input)
        .lines()
        .map(|l| serde_json::from_str(l).expect("oracle prints JSON lines"))
        .collect()
}

/// Fails the test when a differential comparison of `compared` items found differences,
/// showing the first ones.
pub fn assert_agree(differences: &[String], compared: usize) {
    assert!(
        differences.is_empty(),
        "{} of {compared} differ from BitBake; first ones:\n{}",
        differences.len(),
        differences
            .iter()
            .take(8)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// A small deterministic generator (xorshift64*), so randomised tests reproduce.
#[derive(Debug, Clone)]
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }

    /// One of `items`.
    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// Copies the tree `source` to `scratch` (emptied first), leaving out what parses write
/// (`cache/`, `tmp/` directories and graph files), then adds `files` (path relative to
/// `scratch`, contents).
pub fn scratch_copy(source: &Path, scratch: &Path, files: &[(&str, &str)]) {
    fn walk(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(dir).expect("read_dir") {
            let path = entry.expect("entry").path();
            let name = path.file_name().unwrap_or_default();
            if path.is_dir() {
                if name != "cache" && name != "tmp" {
                    out.extend(walk(&path));
                }
            } else if name != "task-depends.dot" && name != "pn-buildlist" {
                out.push(path);
            }
        }
        out
    }
    let _ = std::fs::remove_dir_all(scratch);
    for entry in walk(source) {
        let target = scratch.join(entry.strip_prefix(source).expect("under source"));
        std::fs::create_dir_all(target.parent().expect("parent")).expect("mkdir");
        std::fs::copy(&entry, &target).expect("copy");
    }
    for (path, text) in files {
        let path = scratch.join(path);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }
}

/// Runs `program` with `args` in `dir`, without a BBPATH from the calling environment:
/// (exit code, or -1 if killed; standard output; standard error).
pub fn run_in(program: &str, dir: &Path, args: &[&str]) -> (i32, String, String) {
    let output = std::process::Command::new(program)
        .args(args)
        .current_dir(dir)
        .env_remove("BBPATH")
        .output()
        .expect("run the program");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8(output.stdout).expect("UTF-8"),
        String::from_utf8(output.stderr).expect("UTF-8"),
    )
}
