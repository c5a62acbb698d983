//! The executor on small plans of shell jobs: retries, failures, the action cache.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use executor::{Action, Event, Job, Options, Reporter, run};

#[derive(Default)]
struct Recorder {
    retries: Vec<(usize, usize)>,
    restored: Vec<usize>,
}

impl Reporter for Recorder {
    fn event(&mut self, _: &[Job], event: Event<'_>) {
        match event {
            Event::Retry { job, attempt, .. } => self.retries.push((job, attempt)),
            Event::Restored { job } => self.restored.push(job),
            _ => {}
        }
    }
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn job(dir: &Path, task: &str, script: &str, deps: Vec<usize>) -> Job {
    Job {
        id: format!("test.bb:{task}"),
        label: format!("test {task}"),
        task: task.into(),
        deps,
        base_hash: sha(task),
        action: Action::Shell {
            script: format!("#!/bin/sh\nset -e\n{script}\n"),
            flags: Default::default(),
        },
        stamp: Some(dir.join(format!("stamps/test.{task}"))),
        outputs: Vec::new(),
        force: false,
        temp: dir.join("temp"),
        isolation: None,
    }
}

fn sha(text: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (i, b) in text.bytes().enumerate() {
        out[i % 32] ^= b;
    }
    out
}

fn options(dir: &Path) -> Options {
    Options {
        parallel: 2,
        store: None,
        output_root: dir.to_owned(),
        keep_going: false,
        dry_run: false,
        retry_delays: vec![Duration::from_millis(10), Duration::from_millis(20)],
        tag: "7".into(),
        unsandboxed_fallback: false,
    }
}

#[test]
fn a_transient_failure_is_retried_and_a_permanent_one_is_not() {
    let dir = scratch("engine_retry");
    let counter = dir.join("attempts");
    // Fails transiently (exit 75) on the first two attempts.
    let flaky = format!(
        "echo x >> {c}\nif [ $(wc -l < {c}) -lt 3 ]; then exit 75; fi",
        c = counter.display()
    );
    let jobs = vec![
        job(&dir, "do_fetch", &flaky, vec![]),
        job(&dir, "do_build", "true", vec![0]),
    ];
    let mut recorder = Recorder::default();
    let summary = run(&jobs, &[1], &options(&dir), &mut recorder);
    assert!(summary.failed.is_empty(), "{summary:?}");
    assert_eq!(recorder.retries, [(0, 2), (0, 3)]);
    assert_eq!(
        std::fs::read_to_string(&counter).unwrap().lines().count(),
        3
    );

    let dir = scratch("engine_permanent");
    let jobs = vec![
        job(&dir, "do_compile", "echo broken >&2; exit 1", vec![]),
        job(&dir, "do_build", "true", vec![0]),
    ];
    let mut recorder = Recorder::default();
    let summary = run(&jobs, &[1], &options(&dir), &mut recorder);
    assert!(recorder.retries.is_empty());
    assert_eq!(summary.failed.len(), 1);
    assert_eq!(summary.failed[0].exit_code, Some(1));
    assert_eq!(summary.blocked, 1);
    let log = summary.failed[0].log.clone().unwrap();
    assert_eq!(log, dir.join("temp/log.do_compile.7"));
    assert_eq!(std::fs::read_to_string(log).unwrap(), "broken\n");
}

#[test]
fn with_keep_going_independent_jobs_finish() {
    let dir = scratch("engine_keep_going");
    let jobs = vec![
        job(&dir, "do_a", "exit 1", vec![]),
        job(&dir, "do_b", "sleep 0.2; touch b", vec![]),
        job(&dir, "do_c", "true", vec![0, 1]),
    ];
    let mut jobs = jobs;
    for j in &mut jobs {
        if let Action::Shell { flags, .. } = &mut j.action {
            flags.dirs = vec![dir.clone()];
        }
    }
    let summary = run(
        &jobs,
        &[2],
        &Options {
            keep_going: true,
            ..options(&dir)
        },
        &mut Recorder::default(),
    );
    assert_eq!(
        (summary.ran, summary.failed.len(), summary.blocked),
        (1, 1, 1)
    );
    assert!(dir.join("b").exists());
}

#[test]
fn declared_outputs_are_cached_by_content_and_restored() {
    let dir = scratch("engine_outputs");
    let store = Arc::new(cas::Store::open(&dir.join("cas"), cas::Codec::Zstd).unwrap());
    let out = dir.join("out");
    let script = format!(
        "mkdir -p {o}/bin {o}/empty\necho tool > {o}/bin/tool\nchmod 755 {o}/bin/tool\nln -s tool {o}/bin/alias\necho run >> {log}",
        o = out.display(),
        log = dir.join("runs").display()
    );
    let mut jobs = vec![job(&dir, "do_install", &script, vec![])];
    jobs[0].outputs = vec![out.clone()];
    let options = Options {
        store: Some(store),
        ..options(&dir)
    };
    let summary = run(&jobs, &[0], &options, &mut Recorder::default());
    assert_eq!(summary.ran, 1, "{summary:?}");

    // Outputs and stamps gone: the cache brings the outputs back without running.
    std::fs::remove_dir_all(&out).unwrap();
    std::fs::remove_dir_all(dir.join("stamps")).unwrap();
    let mut recorder = Recorder::default();
    let summary = run(&jobs, &[0], &options, &mut recorder);
    assert_eq!((summary.ran, summary.restored), (0, 1), "{summary:?}");
    assert_eq!(recorder.restored, [0]);
    assert_eq!(std::fs::read_to_string(dir.join("runs")).unwrap(), "run\n");
    assert_eq!(
        std::fs::read_to_string(out.join("bin/tool")).unwrap(),
        "tool\n"
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(out.join("bin/tool"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o755
    );
    assert_eq!(
        std::fs::read_link(out.join("bin/alias")).unwrap(),
        Path::new("tool")
    );
    assert!(out.join("empty").is_dir());

    // A declared output that is not produced fails the job.
    let mut jobs = vec![job(&dir, "do_deploy", "true", vec![])];
    jobs[0].outputs = vec![dir.join("never")];
    let summary = run(&jobs, &[0], &options, &mut Recorder::default());
    assert_eq!(summary.failed.len(), 1);
    assert!(
        summary.failed[0].message.contains("was not produced"),
        "{:?}",
        summary.failed
    );
}

#[test]
fn a_recipe_left_half_done_by_a_killed_build_runs_again_from_the_start() {
    let dir = scratch("engine_interrupted");
    let log = dir.join("runs");
    let step = |task: &str| format!("echo {task} >> {}", log.display());
    let jobs = vec![
        job(&dir, "do_unpack", &step("unpack"), vec![]),
        job(&dir, "do_patch", &step("patch"), vec![0]),
    ];
    assert_eq!(
        run(&jobs, &[1], &options(&dir), &mut Recorder::default()).ran,
        2
    );
    assert_eq!(
        run(&jobs, &[1], &options(&dir), &mut Recorder::default()).ran,
        0
    );
    // A build killed while do_patch ran leaves its marker: the work directory cannot be
    // trusted, so unpack runs again too.
    std::fs::write(dir.join("stamps/test.do_patch.running"), "").unwrap();
    let summary = run(&jobs, &[1], &options(&dir), &mut Recorder::default());
    assert_eq!(summary.ran, 2, "{summary:?}");
    assert!(!dir.join("stamps/test.do_patch.running").exists());
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "unpack\npatch\nunpack\npatch\n"
    );
    assert_eq!(
        run(&jobs, &[1], &options(&dir), &mut Recorder::default()).ran,
        0
    );
}

#[test]
fn outputs_evicted_after_the_cache_was_consulted_are_rebuilt_with_their_dependencies() {
    let dir = scratch("engine_evicted");
    let store = Arc::new(cas::Store::open(&dir.join("cas"), cas::Codec::Zstd).unwrap());
    let out = dir.join("image");
    let compiled = dir.join("compiled");
    let mut jobs = vec![
        job(
            &dir,
            "do_compile",
            &format!("echo object > {}", compiled.display()),
            vec![],
        ),
        job(
            &dir,
            "do_install",
            &format!(
                "mkdir -p {o}; cp {c} {o}/installed",
                o = out.display(),
                c = compiled.display()
            ),
            vec![0],
        ),
        job(&dir, "do_build", "true", vec![1]),
    ];
    jobs[1].outputs = vec![out.clone()];
    let options = Options {
        store: Some(store.clone()),
        ..options(&dir)
    };
    assert_eq!(run(&jobs, &[2], &options, &mut Recorder::default()).ran, 3);
    // Everything gone but the store's memory of do_install's result; its blob evicted.
    std::fs::remove_dir_all(dir.join("stamps")).unwrap();
    std::fs::remove_dir_all(&out).unwrap();
    std::fs::remove_file(&compiled).unwrap();
    let blob = cas::Digest::of(b"object\n");
    let hex = blob.hex();
    std::fs::remove_file(
        dir.join("cas/blobs")
            .join(&hex[..2])
            .join(format!("{hex}-{}", blob.size)),
    )
    .unwrap();
    let summary = run(&jobs, &[2], &options, &mut Recorder::default());
    assert!(summary.failed.is_empty(), "{summary:?}");
    assert_eq!(summary.ran, 3, "{summary:?}");
    assert_eq!(
        std::fs::read_to_string(out.join("installed")).unwrap(),
        "object\n"
    );
}
