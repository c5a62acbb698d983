//! Action-cache lookups: 10,000 recorded actions (each with three outputs), looked up by
//! a store that has not seen them (from disk: read, verify, outputs checked) and by one
//! that has (from memory), and keys that are not there.

use std::hint::black_box;

use cas::{ActionResult, Codec, Digest, OutputFile, Store};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const ACTIONS: usize = 10_000;

fn benches(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("cas-bench-actions-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = Store::open(&dir, Codec::Zstd).expect("store");
    let outputs: Vec<Digest> = (0..3)
        .map(|i| store.put(format!("output {i}").as_bytes()).expect("put"))
        .collect();
    let keys: Vec<Digest> = (0..ACTIONS)
        .map(|i| Digest::of(format!("action {i}").as_bytes()))
        .collect();
    for key in &keys {
        let result = ActionResult {
            output_files: outputs
                .iter()
                .enumerate()
                .map(|(i, digest)| OutputFile {
                    path: format!("out/{i}"),
                    digest: *digest,
                    executable: false,
                })
                .collect(),
            ..ActionResult::default()
        };
        store.put_action(key, &result).expect("put_action");
    }
    let mut group = c.benchmark_group("action");
    group.throughput(Throughput::Elements(ACTIONS as u64));
    group.sample_size(10);
    group.bench_function("from_disk", |b| {
        b.iter(|| {
            let fresh = Store::open(&dir, Codec::Zstd).expect("store");
            for key in &keys {
                black_box(fresh.get_action(key).expect("lookup").expect("hit"));
            }
        })
    });
    let warm = Store::open(&dir, Codec::Zstd).expect("store");
    for key in &keys {
        warm.get_action(key).expect("lookup");
    }
    group.bench_function("from_memory", |b| {
        b.iter(|| {
            for key in &keys {
                black_box(warm.get_action(key).expect("lookup").expect("hit"));
            }
        })
    });
    let absent: Vec<Digest> = (0..ACTIONS)
        .map(|i| Digest::of(format!("absent {i}").as_bytes()))
        .collect();
    group.bench_function("misses", |b| {
        b.iter(|| {
            for key in &absent {
                assert!(warm.get_action(key).expect("lookup").is_none());
            }
        })
    });
    group.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(action, benches);
criterion_main!(action);
