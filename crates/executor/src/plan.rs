//! Planning, as BitBake's runqueue prepares a build: each task of a graph becomes a
//! [`Job`], a self-contained description of what to run (its [`Action`]), what it may read
//! and write ([`Isolation`]), where its stamp is, what it declares as outputs and its key
//! (the base hash), so that it can run here or, later, elsewhere.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use bb_data::{DataError, DataStore, Signatures};
use sysroot::Contributor;
use taskgraph::{RecipeCache, TaskGraph, TaskId};

use crate::{Action, Isolation, Job, TaskFlags};

/// Why a plan could not be made. Each names the task, or the setting, it concerns.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// Reading a task's variables or flags failed.
    #[error("{task}: {source}")]
    Task {
        /// BitBake's id of the task (`FILE:do_task`), or its recipe's file.
        task: String,
        /// Why.
        source: DataError,
    },
    /// A task's signature could not be computed (an input file cannot be read).
    #[error("{task}: {source}")]
    Signature {
        /// The task.
        task: String,
        /// Why.
        source: crate::SignatureError,
    },
    /// A variable a job needs is not set.
    #[error("{task}: {name} is not set")]
    Unset {
        /// The task.
        task: String,
        /// The variable.
        name: String,
    },
    /// A recipe of the graph has no datastore.
    #[error("{file}: no datastore given for it")]
    MissingDatastore {
        /// BitBake's (virtual) file name.
        file: String,
    },
    /// A `[sysroot-staging]` task depends on a `do_populate_sysroot` without `[outputs]`.
    #[error("{task} declares no [outputs] to stage")]
    NothingToStage {
        /// The dependency.
        task: String,
    },
    /// A sandbox setting has a value it cannot have.
    #[error("{name} = \"{value}\": {why}")]
    Setting {
        /// The variable.
        name: String,
        /// Its value.
        value: String,
        /// What was expected.
        why: String,
    },
    /// A sandbox limit HZ_SANDBOX = "required" asks for cannot be enforced here.
    #[error("{name} cannot be enforced here: {cgroups}")]
    Unenforceable {
        /// The setting.
        name: String,
        /// What the machine's cgroups allow.
        cgroups: String,
    },
    /// Reading the configuration failed.
    #[error(transparent)]
    Data(#[from] DataError),
}

/// Text that is not a size.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SizeError {
    /// No number.
    #[error("'{0}' is not a size (e.g. 500M, 20G)")]
    NotASize(String),
    /// A unit other than K, M, G, T (with an optional `B` or `iB`).
    #[error("unknown size unit '{0}' (K, M, G, T)")]
    Unit(String),
}

/// `10G`, `500M`, `2GiB`, `1024` → bytes (binary units).
pub fn parse_size(text: &str) -> Result<u64, SizeError> {
    let text = text.trim();
    let digits = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits);
    let number: f64 = number
        .parse()
        .map_err(|_| SizeError::NotASize(text.to_owned()))?;
    let shift = match unit.trim().trim_end_matches("iB").trim_end_matches('B') {
        "" => 0,
        "K" | "k" => 10,
        "M" | "m" => 20,
        "G" | "g" => 30,
        "T" | "t" => 40,
        other => return Err(SizeError::Unit(other.to_owned())),
    };
    Ok((number * (1u64 << shift) as f64) as u64)
}

/// How tasks are sandboxed, from the configuration: HZ_SANDBOX (`required`, the default,
/// `best-effort` or `off`), what every task may read (the host's system directories,
/// TOPDIR, TMPDIR, DL_DIR, the layers, the directory of the program that runs python
/// tasks) and the limits (HZ_SANDBOX_MEMORY, e.g. `2G`; HZ_SANDBOX_PIDS;
/// HZ_SANDBOX_CPU_SECONDS).
#[derive(Debug, Clone)]
pub struct SandboxPolicy {
    /// Host paths every task may read.
    pub readonly: Vec<PathBuf>,
    /// Limits of every task.
    pub limits: sandbox::Limits,
    /// Run on the host when namespaces turn out not to be allowed (`best-effort`; found
    /// when the first task starts, so that a build with nothing to do starts no sandbox).
    pub fallback: bool,
}

impl SandboxPolicy {
    /// The policy `config` sets, `None` for `off`; `notes` gets what a build says of it
    /// (knotty's `NOTE: Sandbox: …` lines). `program_dir` is where the program that runs
    /// python tasks is, which tasks must read.
    pub fn from_config(
        config: &DataStore,
        program_dir: Option<&Path>,
        notes: &mut Vec<String>,
    ) -> Result<Option<SandboxPolicy>, PlanError> {
        let setting = |name: &str| -> Result<Option<String>, PlanError> {
            Ok(config
                .get_var_str(name)?
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty()))
        };
        let policy = setting("HZ_SANDBOX")?.unwrap_or_else(|| "required".to_owned());
        let required = match policy.as_str() {
            "off" => {
                notes.push(
                    "NOTE: Sandbox: off (HZ_SANDBOX = \"off\"): tasks run on the host".into(),
                );
                return Ok(None);
            }
            "required" => true,
            "best-effort" => false,
            other => {
                return Err(PlanError::Setting {
                    name: "HZ_SANDBOX".into(),
                    value: other.into(),
                    why: "expected \"required\", \"best-effort\" or \"off\"".into(),
                });
            }
        };
        let number = |name: &str| -> Result<Option<u64>, PlanError> {
            setting(name)?
                .map(|value| {
                    parse_size(&value).map_err(|why| PlanError::Setting {
                        name: name.into(),
                        value,
                        why: why.to_string(),
                    })
                })
                .transpose()
        };
        let mut limits = sandbox::Limits {
            memory: number("HZ_SANDBOX_MEMORY")?,
            pids: number("HZ_SANDBOX_PIDS")?,
            cpu_seconds: number("HZ_SANDBOX_CPU_SECONDS")?,
            cpus: None,
        };
        let cgroups = sandbox::cgroup_support();
        for (limit, available, name) in [
            (&mut limits.memory, cgroups.memory, "HZ_SANDBOX_MEMORY"),
            (&mut limits.pids, cgroups.pids, "HZ_SANDBOX_PIDS"),
        ] {
            if limit.is_some() && !available {
                if required {
                    return Err(PlanError::Unenforceable {
                        name: name.into(),
                        cgroups: cgroups.to_string(),
                    });
                }
                notes.push(format!(
                    "WARNING: Sandbox: {name} cannot be enforced here ({cgroups}); ignored"
                ));
                *limit = None;
            }
        }
        notes.push(format!(
            "NOTE: Sandbox: user, mount, PID, network, IPC and UTS namespaces; {cgroups}"
        ));
        let mut readonly = sandbox::Config::with_host_system().readonly;
        for name in ["TOPDIR", "TMPDIR", "DL_DIR"] {
            readonly.extend(setting(name)?.map(PathBuf::from));
        }
        readonly.extend(
            setting("BBLAYERS")?
                .unwrap_or_default()
                .split_whitespace()
                .map(PathBuf::from),
        );
        readonly.extend(program_dir.map(Path::to_path_buf));
        Ok(Some(SandboxPolicy {
            readonly,
            limits,
            fallback: !required,
        }))
    }
}

/// The process that runs a task needing a python host, given its recipe file, variant and
/// task: the program and its arguments.
pub type TaskProcess<'a> = &'a dyn Fn(&str, &str, &str) -> (PathBuf, Vec<OsString>);

/// What [`plan`] turns into jobs.
pub struct PlanInputs<'a> {
    /// The recipes the graph's tasks belong to.
    pub cache: &'a RecipeCache,
    /// The tasks.
    pub graph: &'a TaskGraph,
    /// Each recipe's finalised datastore, by BitBake's (virtual) file name
    /// ([`taskgraph::Recipe::file`]).
    pub datastores: &'a BTreeMap<String, DataStore>,
    /// How tasks are sandboxed; `None` runs them on the host.
    pub sandbox: Option<&'a SandboxPolicy>,
    /// The process that runs a task needing a python host (python, or several functions
    /// in a row: BitBake's `_exec_task`), given the recipe file, its variant and the task.
    pub task_process: TaskProcess<'a>,
    /// `-f`: the graph's targets run even if they are up to date.
    pub force: bool,
}

/// The jobs of every task of the graph, in the graph's order (a job's `deps` are indices
/// into the result).
pub fn plan(inputs: &PlanInputs<'_>) -> Result<Vec<Job>, PlanError> {
    let _span = tracing::info_span!("plan", tasks = inputs.graph.len()).entered();
    let PlanInputs {
        cache,
        graph,
        datastores,
        ..
    } = *inputs;
    let datastore = |name: &str| {
        datastores
            .get(name)
            .ok_or_else(|| PlanError::MissingDatastore { file: name.into() })
    };
    let mut signatures: BTreeMap<&str, Signatures> = BTreeMap::new();
    for id in graph.ids() {
        let name = cache.recipe(graph.task(id).0).file.as_str();
        if !signatures.contains_key(name) {
            let d = datastore(name)?;
            let computed = Signatures::new(d).map_err(|source| PlanError::Task {
                task: name.into(),
                source,
            })?;
            signatures.insert(name, computed);
        }
    }
    let targets = graph.targets();
    let mut jobs = Vec::with_capacity(graph.len());
    // Jobs are in the graph's order: a job's dependencies are their tasks' indexes.
    for id in graph.ids() {
        let (file, task) = graph.task(id);
        let name = cache.recipe(file).file.as_str();
        let d = datastore(name)?;
        let job_id = format!("{name}:{task}");
        let context = |source: DataError| PlanError::Task {
            task: job_id.clone(),
            source,
        };
        let var = |var: &str| -> Result<String, PlanError> {
            d.get_var_str(var)
                .map_err(context)?
                .ok_or_else(|| PlanError::Unset {
                    task: job_id.clone(),
                    name: var.into(),
                })
        };
        let flags = TaskFlags::read(d, task).map_err(context)?;
        let base_hash = crate::base_hash(d, &signatures[name], task).map_err(|source| {
            PlanError::Signature {
                task: job_id.clone(),
                source,
            }
        })?;
        let action = action(inputs, id, name, task, d, &flags)?;
        let stamp = (!flags.nostamp)
            .then(|| var("STAMP").map(|s| PathBuf::from(format!("{s}.{task}"))))
            .transpose()?;
        let isolation = match (inputs.sandbox, &action) {
            (
                Some(policy),
                Action::Shell { .. } | Action::Process { .. } | Action::Builtin { .. },
            ) => Some(
                Isolation::for_task(d, task, policy.readonly.clone(), policy.limits.clone())
                    .map_err(context)?,
            ),
            _ => None,
        };
        jobs.push(Job {
            label: format!("{} {task}", var("PF")?),
            temp: PathBuf::from(var("T")?),
            id: job_id,
            task: task.to_owned(),
            deps: graph.depends(id).iter().map(|dep| dep.index()).collect(),
            base_hash,
            action,
            stamp,
            // A task that runs nothing produces nothing.
            outputs: if flags.noexec {
                Vec::new()
            } else {
                flags.outputs.clone()
            },
            force: inputs.force && targets.contains(&id),
            isolation,
        });
    }
    Ok(jobs)
}

/// What running task `id` does.
fn action(
    inputs: &PlanInputs<'_>,
    id: TaskId,
    name: &str,
    task: &str,
    d: &DataStore,
    flags: &TaskFlags,
) -> Result<Action, PlanError> {
    let context = |source: DataError| PlanError::Task {
        task: format!("{name}:{task}"),
        source,
    };
    Ok(if flags.noexec {
        Action::NoExec
    } else if !flags.sysroot_staging.is_empty() {
        Action::Stage {
            sysroots: staging(inputs, id, &flags.sysroot_staging)?,
        }
    } else if flags.needs_python(d).map_err(context)?
        || !flags.prefuncs.is_empty()
        || !flags.postfuncs.is_empty()
    {
        let (file, variant) = taskgraph::real_file(name);
        let (program, args) = (inputs.task_process)(file, variant, task);
        Action::Process { program, args }
    } else if let Some(commands) = crate::trivial_commands(d, task).map_err(context)? {
        Action::Builtin {
            commands,
            flags: flags.clone(),
        }
    } else {
        let script = crate::shell_script(d, task, flags.dirs.last().map(PathBuf::as_path))
            .map_err(context)?;
        Action::Shell {
            script,
            flags: flags.clone(),
        }
    })
}

/// The sysroots a `[sysroot-staging]` task assembles: the `[outputs]` of the
/// `do_populate_sysroot` tasks it depends on, native recipes' into the second sysroot.
fn staging(
    inputs: &PlanInputs<'_>,
    id: TaskId,
    sysroots: &[PathBuf],
) -> Result<Vec<(PathBuf, Vec<Contributor>)>, PlanError> {
    let mut out: Vec<(PathBuf, Vec<Contributor>)> =
        sysroots.iter().map(|s| (s.clone(), Vec::new())).collect();
    for &dep in inputs.graph.depends(id) {
        let (file, task) = inputs.graph.task(dep);
        if task != "do_populate_sysroot" {
            continue;
        }
        let name = &inputs.cache.recipe(file).file;
        let d = inputs
            .datastores
            .get(name)
            .ok_or_else(|| PlanError::MissingDatastore { file: name.clone() })?;
        let task_id = format!("{name}:{task}");
        let context = |source: DataError| PlanError::Task {
            task: task_id.clone(),
            source,
        };
        let flags = TaskFlags::read(d, task).map_err(context)?;
        let Some(dir) = flags.outputs.first() else {
            return Err(PlanError::NothingToStage { task: task_id });
        };
        let native =
            d.get_var_str("CLASSOVERRIDE").ok().flatten().as_deref() == Some("class-native");
        let slot = if native { out.len() - 1 } else { 0 };
        out[slot].1.push(Contributor {
            name: d
                .get_var_str("PN")
                .map_err(context)?
                .ok_or_else(|| PlanError::Unset {
                    task: task_id.clone(),
                    name: "PN".into(),
                })?,
            dir: dir.clone(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_take_binary_units() {
        assert_eq!(parse_size("1024"), Ok(1024));
        assert_eq!(parse_size("500M"), Ok(500 << 20));
        assert_eq!(parse_size("2GiB"), Ok(2 << 30));
        assert_eq!(parse_size("1.5K"), Ok(1536));
        assert!(parse_size("12Q").is_err());
        assert!(parse_size("big").is_err());
    }
}
