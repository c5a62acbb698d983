//! What BitBake's `build.py` does around one function: its flags, `[cleandirs]` and
//! `[dirs]`, the shell run file, and running a task's functions in order.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

use bb_data::{DataError, DataStore, EvalError, PythonHost};

/// The flags of a task (or function) that say how it runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskFlags {
    /// Whether it is python (`[python]`).
    pub python: bool,
    /// `[noexec]`: nothing runs.
    pub noexec: bool,
    /// `[nostamp]`: always runs.
    pub nostamp: bool,
    /// `[network]`: may use the network.
    pub network: bool,
    /// `[cleandirs]`, expanded: emptied before it runs.
    pub cleandirs: Vec<PathBuf>,
    /// `[dirs]`, expanded: created before it runs; the last is its working directory.
    pub dirs: Vec<PathBuf>,
    /// `[prefuncs]`: functions run before it.
    pub prefuncs: Vec<String>,
    /// `[postfuncs]`: functions run after it.
    pub postfuncs: Vec<String>,
    /// `[outputs]`: the files and directories it produces, cached by content.
    pub outputs: Vec<PathBuf>,
    /// `[sysroot-staging]`: the task assembles these sysroots (host, then native) from
    /// its dependencies' outputs instead of running its body.
    pub sysroot_staging: Vec<PathBuf>,
}

fn words(d: &DataStore, var: &str, flag: &str) -> Result<Vec<String>, DataError> {
    Ok(d.get_var_flag(var, flag, true)?
        .map(|v| {
            v.to_string()
                .split_whitespace()
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default())
}

fn is_set(d: &DataStore, var: &str, flag: &str) -> Result<bool, DataError> {
    Ok(d.get_var_flag(var, flag, true)?
        .is_some_and(|v| bb_data::to_boolean(&v)))
}

impl TaskFlags {
    /// Reads the flags of `func` from `d`, expanded.
    pub fn read(d: &DataStore, func: &str) -> Result<TaskFlags, DataError> {
        let paths = |flag: &str| -> Result<Vec<PathBuf>, DataError> {
            Ok(words(d, func, flag)?
                .into_iter()
                .map(PathBuf::from)
                .collect())
        };
        Ok(TaskFlags {
            python: is_set(d, func, "python")?,
            noexec: is_set(d, func, "noexec")?,
            nostamp: is_set(d, func, "nostamp")?,
            network: is_set(d, func, "network")?,
            cleandirs: paths("cleandirs")?,
            dirs: paths("dirs")?,
            prefuncs: words(d, func, "prefuncs")?,
            postfuncs: words(d, func, "postfuncs")?,
            outputs: paths("outputs")?,
            sysroot_staging: paths("sysroot-staging")?,
        })
    }

    /// Whether running it needs python (the task, or one of its pre/post functions).
    pub fn needs_python(&self, d: &DataStore) -> Result<bool, DataError> {
        if self.python {
            return Ok(true);
        }
        for func in self.prefuncs.iter().chain(&self.postfuncs) {
            if is_set(d, func, "python")? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// BitBake's handling of `[cleandirs]` and `[dirs]`: emptied, created; gives the working
    /// directory (the last of `[dirs]`).
    pub fn prepare_dirs(&self) -> io::Result<Option<PathBuf>> {
        for dir in &self.cleandirs {
            match fs::remove_dir_all(dir) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io::Error::new(e.kind(), format!("{}: {e}", dir.display()))),
            }
            fs::create_dir_all(dir)
                .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", dir.display())))?;
        }
        for dir in &self.dirs {
            fs::create_dir_all(dir)
                .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", dir.display())))?;
        }
        Ok(self.dirs.last().cloned())
    }
}

/// A command of a trivial shell task, done without a shell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Builtin {
    /// `mkdir -p PATH`.
    MakeDirectory(PathBuf),
    /// `touch PATH`.
    Touch(PathBuf),
}

impl Builtin {
    /// The path it writes.
    pub fn path(&self) -> &Path {
        match self {
            Builtin::MakeDirectory(p) | Builtin::Touch(p) => p,
        }
    }

    /// Does it.
    pub fn run(&self) -> io::Result<()> {
        match self {
            Builtin::MakeDirectory(path) => fs::create_dir_all(path),
            Builtin::Touch(path) => fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .and_then(|f| f.set_modified(std::time::SystemTime::now())),
        }
    }
}

/// The commands of the shell function `func` if it does nothing but `:`/`true`,
/// `mkdir -p` and `touch` of plain paths, and call shell functions that do the same
/// (BitBake would start a shell for them; they are done directly). `None` otherwise.
pub fn trivial_commands(d: &DataStore, func: &str) -> Result<Option<Vec<Builtin>>, DataError> {
    fn collect(
        d: &DataStore,
        func: &str,
        depth: usize,
        out: &mut Vec<Builtin>,
    ) -> Result<bool, DataError> {
        if depth > 4 || is_set(d, func, "python")? {
            return Ok(false);
        }
        let body = d.get_var(func)?.map(|v| v.to_string()).unwrap_or_default();
        let plain = |word: &str| !word.contains(|c: char| "$`\"'*?[];|&<>(){}\\~#=".contains(c));
        // Done on the host: only absolute paths that cannot climb out with `..`.
        let path = |word: &str| {
            plain(word) && word.starts_with('/') && !word.split('/').any(|part| part == "..")
        };
        for line in body.lines().map(str::trim) {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words[..] {
                [] | [":"] | ["true"] => {}
                ["mkdir", "-p", ref paths @ ..]
                    if !paths.is_empty() && paths.iter().all(|p| path(p)) =>
                {
                    out.extend(
                        paths
                            .iter()
                            .map(|p| Builtin::MakeDirectory(PathBuf::from(p))),
                    );
                }
                ["touch", ref paths @ ..] if !paths.is_empty() && paths.iter().all(|p| path(p)) => {
                    out.extend(paths.iter().map(|p| Builtin::Touch(PathBuf::from(p))));
                }
                [name] if plain(name) && is_set(d, name, "func")? => {
                    if !collect(d, name, depth + 1, out)? {
                        return Ok(false);
                    }
                }
                _ => return Ok(false),
            }
        }
        Ok(true)
    }
    let mut out = Vec::new();
    Ok(collect(d, func, 0, &mut out)?.then_some(out))
}

/// BitBake's `shell_trap_code`: the head of every run file, reporting the failing line.
const SHELL_TRAP: &str = r#"#!/bin/sh

__BITBAKE_LAST_LINE=0

# Emit a useful diagnostic if something fails:
bb_sh_exit_handler() {
    ret=$?
    if [ "$ret" != 0 ]; then
        echo "WARNING: exit code $ret from a shell command."
    fi
    exit $ret
}

bb_bash_exit_handler() {
    ret=$?
    { set +x; } > /dev/null
    trap "" DEBUG
    if [ "$ret" != 0 ]; then
        echo "WARNING: ${BASH_SOURCE[0]}:${__BITBAKE_LAST_LINE} exit $ret from '$1'"

        echo "WARNING: Backtrace (BB generated script): "
        for i in $(seq 1 $((${#FUNCNAME[@]} - 1))); do
            if [ "$i" -eq 1 ]; then
                echo -e "\t#$((i)): ${FUNCNAME[$i]}, ${BASH_SOURCE[$((i-1))]}, line ${__BITBAKE_LAST_LINE}"
            else
                echo -e "\t#$((i)): ${FUNCNAME[$i]}, ${BASH_SOURCE[$((i-1))]}, line ${BASH_LINENO[$((i-1))]}"
            fi
        done
    fi
    exit $ret
}

case $BASH_VERSION in
"") trap 'bb_sh_exit_handler' 0
    set -e
    ;;
*)  trap 'bb_bash_exit_handler "$BASH_COMMAND"' 0
    trap '{ __BITBAKE_LAST_LINE=$LINENO; }' DEBUG
    set -e
    shopt -s extdebug
    ;;
esac
"#;

/// The run file of the shell function `func` (BitBake's `exec_func_shell`): the trap code,
/// the exported variables and needed functions, a `cd` to `cwd`, the call.
pub fn shell_script(d: &DataStore, func: &str, cwd: Option<&Path>) -> Result<String, DataError> {
    // BitBake keeps the run file from overriding the shell's own PWD.
    let d = d.create_copy();
    d.del_var_flag("PWD", "export");
    let mut script = String::from(SHELL_TRAP);
    script.push_str(&bb_data::emit_function(&d, func)?);
    if let Some(cwd) = cwd {
        script.push_str(&format!("cd '{}'\n", cwd.display()));
    }
    script.push_str(&format!(
        "{func}\n\n# cleanup\nret=$?\ntrap '' 0\nexit $ret\n"
    ));
    Ok(script)
}

/// Writes a run file, executable, and points the `run.FUNC` symlink at it.
pub(crate) fn write_run_file(
    temp: &Path,
    func: &str,
    tag: &str,
    script: &str,
) -> io::Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    fs::create_dir_all(temp)?;
    let path = temp.join(format!("run.{func}.{tag}"));
    fs::write(&path, script)?;
    fs::set_permissions(&path, fs::Permissions::from_mode(0o775))?;
    replace_symlink(
        &temp.join(format!("run.{func}")),
        Path::new(&format!("run.{func}.{tag}")),
    )?;
    Ok(path)
}

/// Points `link` at `target`, replacing what was there.
pub(crate) fn replace_symlink(link: &Path, target: &Path) -> io::Result<()> {
    match fs::remove_file(link) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    std::os::unix::fs::symlink(target, link)
}

/// Why a task run in this process failed.
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    /// A datastore error (expansion, `bb.fatal`).
    #[error(transparent)]
    Data(#[from] DataError),
    /// Python code raised.
    #[error(transparent)]
    Python(EvalError),
    /// A shell function exited non-zero.
    #[error("Execution of '{}' failed with exit code {code}", run_file.display())]
    Shell {
        /// Its run file.
        run_file: PathBuf,
        /// Its exit code (-1 when killed by a signal).
        code: i32,
    },
    /// A file operation failed.
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl TaskError {
    /// Whether trying again may succeed: an I/O error, not a failing command.
    pub fn is_transient(&self) -> bool {
        matches!(self, TaskError::Io(_))
    }
}

/// Runs the task `task` of `d` in this process, as BitBake's `_exec_task` does: its
/// `[prefuncs]`, the task, its `[postfuncs]`, each with its own `[cleandirs]`/`[dirs]`;
/// python functions through `python`, shell functions from a run file in `${T}` named
/// with `tag`. Output goes to this process's standard output and error.
pub fn exec_task(
    d: &DataStore,
    task: &str,
    python: &dyn PythonHost,
    tag: &str,
) -> Result<(), TaskError> {
    let data = TaskError::Data;
    let flags = TaskFlags::read(d, task).map_err(data)?;
    let temp = PathBuf::from(d.get_var_str("T").map_err(data)?.unwrap_or_default());
    for func in flags
        .prefuncs
        .iter()
        .chain([&task.to_owned()])
        .chain(&flags.postfuncs)
    {
        let own = TaskFlags::read(d, func).map_err(data)?;
        let cwd = own.prepare_dirs().map_err(TaskError::Io)?;
        if own.python {
            if let Some(cwd) = &cwd {
                std::env::set_current_dir(cwd).map_err(TaskError::Io)?;
            }
            python
                .exec(d, &format!("bb.build.exec_func({func:?}, d)"))
                .map_err(TaskError::Python)?;
            for record in d.take_log() {
                if let Some(line) = record.line() {
                    println!("{line}");
                }
            }
        } else {
            let script = shell_script(d, func, cwd.as_deref()).map_err(data)?;
            let run_file = write_run_file(&temp, func, tag, &script).map_err(TaskError::Io)?;
            let status = Command::new(&run_file).status().map_err(TaskError::Io)?;
            if !status.success() {
                return Err(TaskError::Shell {
                    run_file,
                    code: status.code().unwrap_or(-1),
                });
            }
        }
    }
    Ok(())
}
