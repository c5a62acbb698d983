//! Runs BitBake task graphs.
//!
//! A plan is a list of [`Job`]s, each a task of the graph with its dependencies, its base
//! hash ([`base_hash`]: code, variables, input files) and its [`Action`]. [`run`] does
//! what BitBake's runqueue and `build.py` do, with Bazel's caching:
//!
//! - A job's signature is its base hash with what its dependencies gave: the digest of
//!   their declared outputs (`[outputs]`), else their signature. A dependency that runs
//!   again and gives the same outputs leaves its dependents alone.
//! - A job whose stamp (`${STAMP}.do_task.SIGNATURE`) exists is done. A job whose
//!   outputs are in the action cache for its signature has them restored, and the jobs
//!   only it needs do not run (BitBake's setscene, on content digests).
//! - The others run in critical-path order ([`taskgraph::Scheduler`]), several at a time
//!   on tokio: shell tasks from BitBake's run files ([`shell_script`]) with BitBake's
//!   logs (`${T}/log.do_task.TAG`, `log.task_order`), other tasks in a process of the
//!   caller's choosing (python tasks need a python host), sysroots assembled by hardlinks
//!   ([`sysroot::assemble`]). A transient failure is retried after the given delays.
//!
//! ```
//! use executor::{Action, Job, Options, Reporter, Event, run};
//!
//! struct Quiet;
//! impl Reporter for Quiet {
//!     fn event(&mut self, _: &[Job], _: Event<'_>) {}
//! }
//!
//! let dir = std::env::temp_dir().join(format!("executor-doc-{}", std::process::id()));
//! let job = |task: &str, script: &str, deps: Vec<usize>| Job {
//!     id: format!("demo.bb:{task}"),
//!     label: format!("demo {task}"),
//!     task: task.into(),
//!     deps,
//!     base_hash: [task.len() as u8; 32],
//!     action: Action::Shell { script: script.into(), flags: Default::default() },
//!     stamp: Some(dir.join(format!("stamps/demo.{task}"))),
//!     outputs: Vec::new(),
//!     force: false,
//!     temp: dir.join("temp"),
//!     isolation: None,
//! };
//! let out = dir.join("out.txt");
//! let jobs = vec![
//!     job("do_a", &format!("#!/bin/sh\necho a > {}\n", out.display()), vec![]),
//!     job("do_b", &format!("#!/bin/sh\necho b >> {}\n", out.display()), vec![0]),
//! ];
//! let options = Options {
//!     parallel: 2,
//!     store: None,
//!     output_root: dir.clone(),
//!     keep_going: false,
//!     dry_run: false,
//!     retry_delays: Vec::new(),
//!     tag: "1".into(),
//!     unsandboxed_fallback: false,
//! };
//! let summary = run(&jobs, &[1], &options, &mut Quiet);
//! assert_eq!((summary.ran, summary.failed.len()), (2, 0));
//! assert_eq!(std::fs::read_to_string(&out)?, "a\nb\n");
//! assert!(dir.join("temp/log.do_a.1").exists() && dir.join("temp/run.do_b").exists());
//!
//! // Done is done: the stamps say so.
//! let again = run(&jobs, &[1], &options, &mut Quiet);
//! assert_eq!((again.ran, again.not_rerun), (0, 2));
//! std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), std::io::Error>(())
//! ```

mod engine;
mod launch;
mod model;
mod outputs;
mod plan;
mod script;
mod signature;
mod stamps;

pub use engine::run;
pub use model::{
    Action, EXIT_TRANSIENT, Event, Failure, Isolation, Job, Options, Reporter, Summary,
};
pub use outputs::{OutputError, capture, restore};
pub use plan::{PlanError, PlanInputs, SandboxPolicy, SizeError, TaskProcess, parse_size, plan};
pub use script::{Builtin, TaskError, TaskFlags, exec_task, shell_script, trivial_commands};
pub use signature::{SignatureError, base_hash};
