//! Assembling a sysroot from a staged tree (the host's /usr/include: thousands of headers)
//! against `cp -a` (a copy) and `cp -al` (hardlinks made by coreutils) of the same tree.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use sysroot::{Contributor, assemble, manifest_dir};

fn benches(c: &mut Criterion) {
    let source = Path::new("/usr/include");
    if !source.is_dir() {
        eprintln!("no /usr/include to stage: nothing to measure");
        return;
    }
    let dir = std::env::temp_dir().join(format!("sysroot-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // The staged tree must be on the sysroot's file system for hardlinks.
    let staged = dir.join("staged");
    std::fs::create_dir_all(&dir).expect("dir");
    assert!(
        Command::new("cp")
            .arg("-a")
            .arg(source)
            .arg(&staged)
            .status()
            .expect("cp")
            .success()
    );
    let dest = dir.join("recipe-sysroot");
    let clear = || {
        let _ = std::fs::remove_dir_all(&dest);
        let _ = std::fs::remove_dir_all(manifest_dir(&dest));
    };
    let timed = |iters: u64, run: &dyn Fn()| -> Duration {
        let mut total = Duration::ZERO;
        for _ in 0..iters {
            clear();
            let start = Instant::now();
            run();
            total += start.elapsed();
        }
        total
    };
    let mut group = c.benchmark_group("sysroot");
    group.sample_size(10);
    group.bench_function("assemble", |b| {
        b.iter_custom(|iters| {
            timed(iters, &|| {
                let contributor = Contributor {
                    name: "include".into(),
                    dir: staged.clone(),
                };
                assemble(&dest, &[contributor]).expect("assemble");
            })
        })
    });
    for (name, flags) in [("cp_a", "-a"), ("cp_al", "-al")] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                timed(iters, &|| {
                    let ok = Command::new("cp")
                        .arg(flags)
                        .arg(&staged)
                        .arg(&dest)
                        .status();
                    assert!(ok.expect("cp").success());
                })
            })
        });
    }
    group.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(sysroot_bench, benches);
criterion_main!(sysroot_bench);
