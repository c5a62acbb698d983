//! Runs one action in the sandbox, with its declared output cached by content: run it
//! twice and the second run restores the output from the store (or finds its stamp)
//! instead of running the command again.
//!
//! ```sh
//! cargo run -p hitzeleiter-executor --example run_action -- WORK_DIR
//! ```

use std::path::PathBuf;

use executor::{Action, Event, Isolation, Job, Options, Reporter, TaskFlags};

/// Prints what happens to the job.
struct Print;

impl Reporter for Print {
    fn event(&mut self, jobs: &[Job], event: Event<'_>) {
        match event {
            Event::Started { job, .. } => println!("running {}", jobs[job].id),
            Event::Restored { job } => println!("restored {} from the cache", jobs[job].id),
            Event::Failed(failure) => println!("failed: {}", failure.message),
            Event::SandboxUnavailable { reason } => println!("no sandbox here: {reason}"),
            _ => {}
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The sandbox sets itself up in a fresh process of this program.
    sandbox::enter_if_requested();
    let work = PathBuf::from(
        std::env::args()
            .nth(1)
            .ok_or("usage: run_action WORK_DIR")?,
    );
    let work = std::path::absolute(work)?;
    let (out, temp) = (work.join("out"), work.join("temp"));
    std::fs::create_dir_all(&temp)?;
    let flags = TaskFlags {
        cleandirs: vec![out.clone()],
        dirs: vec![out.clone()],
        outputs: vec![out.join("greeting")],
        ..TaskFlags::default()
    };
    let job = Job {
        id: "example:do_greet".into(),
        label: "example do_greet".into(),
        task: "do_greet".into(),
        deps: Vec::new(),
        // What the action is: the same base hash means the same action.
        base_hash: [7; 32],
        action: Action::Shell {
            script: "#!/bin/sh\nset -e\necho hello from $(hostname) > greeting\n".into(),
            flags: flags.clone(),
        },
        stamp: None,
        outputs: flags.outputs.clone(),
        force: false,
        temp,
        isolation: Some(Isolation {
            readonly: sandbox::Config::with_host_system().readonly,
            writable: vec![work.clone()],
            network: false,
            limits: sandbox::Limits::default(),
        }),
    };
    let store = cas::Store::open(&work.join("cas"), cas::Codec::Zstd)?;
    let options = Options {
        parallel: 1,
        store: Some(std::sync::Arc::new(store)),
        output_root: work.clone(),
        keep_going: false,
        dry_run: false,
        retry_delays: Vec::new(),
        tag: std::process::id().to_string(),
        // Where namespaces are not allowed, the action runs on the host instead.
        unsandboxed_fallback: true,
    };
    let summary = executor::run(std::slice::from_ref(&job), &[0], &options, &mut Print);
    if !summary.failed.is_empty() {
        return Err("the action failed".into());
    }
    print!("{}", std::fs::read_to_string(out.join("greeting"))?);
    println!("ran {}, restored {}", summary.ran, summary.restored);
    Ok(())
}
