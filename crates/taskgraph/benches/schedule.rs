//! Scheduling benchmarks: BitBake's real task graph of core-image-minimal (5271 tasks, read
//! from ../shared/oracle/graph/task-depends.dot) scheduled from start to finish, and the
//! critical paths of a synthetic graph of one million tasks.

use std::collections::HashMap;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use taskgraph::Scheduler;

/// The dependency lists of a `task-depends.dot`.
fn read_dot(text: &str) -> Vec<Vec<usize>> {
    let mut ids: HashMap<&str, usize> = HashMap::new();
    let mut depends: Vec<Vec<usize>> = Vec::new();
    for line in text.lines() {
        let names: Vec<&str> = match line.split_once("\" -> \"") {
            Some((from, to)) => vec![from.trim_start_matches('"'), to.trim_end_matches('"')],
            None => match line.split_once("\" [label") {
                Some((name, _)) => vec![name.trim_start_matches('"')],
                None => continue,
            },
        };
        let ids: Vec<usize> = names
            .into_iter()
            .map(|name| {
                let next = ids.len();
                let id = *ids.entry(name).or_insert(next);
                if id == depends.len() {
                    depends.push(Vec::new());
                }
                id
            })
            .collect();
        if let [from, to] = ids[..] {
            depends[from].push(to);
        }
    }
    depends
}

/// Runs a whole build on the scheduler with every task succeeding at once.
fn drain(depends: &[Vec<usize>]) -> usize {
    let mut scheduler = Scheduler::new(depends, &[]).expect("no cycle");
    let mut ran = 0;
    while let Some(task) = scheduler.next_ready() {
        scheduler.complete(task);
        ran += 1;
    }
    ran
}

/// A random graph of `count` tasks, each depending on up to four earlier ones.
fn synthetic(count: usize) -> Vec<Vec<usize>> {
    let mut rng = test_support::Rng(7);
    (0..count)
        .map(|task| {
            if task == 0 {
                return Vec::new();
            }
            (0..rng.below(5)).map(|_| rng.below(task)).collect()
        })
        .collect()
}

fn benches(c: &mut Criterion) {
    let mut group = c.benchmark_group("schedule");
    // One million tasks take a large part of a second per run.
    group.sample_size(10);
    match test_support::shared_dir() {
        Some(shared) => {
            let text = std::fs::read_to_string(shared.join("oracle/graph/task-depends.dot"))
                .expect("oracle graph");
            let depends = read_dot(&text);
            assert_eq!(depends.len(), 5271);
            assert_eq!(drain(&depends), 5271);
            group.bench_function("core_image_minimal", |b| {
                b.iter(|| drain(black_box(&depends)))
            });
        }
        None => eprintln!("skipped schedule/core_image_minimal: no ../shared (or HZ_SHARED)"),
    }
    let depends = synthetic(1_000_000);
    group.bench_function("critical_paths_1m", |b| {
        b.iter(|| Scheduler::new(black_box(&depends), &[]).expect("no cycle"))
    });
    group.finish();
}

criterion_group!(schedule, benches);
criterion_main!(schedule);
