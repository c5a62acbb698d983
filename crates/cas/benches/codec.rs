//! Which codec the store should use: put and verified get of typical build outputs (text:
//! openembedded-core's metadata; binaries: the host's /usr/bin executables), 8 MiB each,
//! for every codec, and as plain files (the baseline). The ratio is printed (`ratio <codec> <input> <stored/original>`) for
//! `cargo xtask bench cas`.

use std::hint::black_box;
use std::path::Path;

use cas::{Codec, Store};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const LIMIT: usize = 8 << 20;

fn gather(dir: &Path, keep: &dyn Fn(&Path) -> bool, out: &mut Vec<u8>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        if out.len() >= LIMIT {
            return;
        }
        if path.is_dir() {
            gather(&path, keep, out);
        } else if keep(&path) {
            out.extend(std::fs::read(&path).unwrap_or_default());
        }
    }
}

fn inputs() -> Vec<(&'static str, Vec<u8>)> {
    let mut out = Vec::new();
    if let Some(shared) = test_support::shared_dir() {
        let mut text = Vec::new();
        gather(
            &shared.join("corpus/openembedded-core"),
            &|_| true,
            &mut text,
        );
        text.truncate(LIMIT);
        out.push(("text", text));
    }
    let mut binaries = Vec::new();
    let is_elf = |p: &Path| {
        std::fs::read(p)
            .map(|b| b.starts_with(b"\x7fELF"))
            .unwrap_or(false)
    };
    gather(Path::new("/usr/bin"), &is_elf, &mut binaries);
    binaries.truncate(LIMIT);
    out.push(("binaries", binaries));
    out
}

fn benches(c: &mut Criterion) {
    let mut group = c.benchmark_group("codec");
    group.sample_size(10);
    for (name, data) in inputs() {
        group.throughput(Throughput::Bytes(data.len() as u64));
        for codec in [Codec::None, Codec::Zstd, Codec::Lz4] {
            let dir = std::env::temp_dir().join(format!("cas-bench-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            let store = Store::open(&dir, codec).expect("store");
            let digest = store.put(&data).expect("put");
            assert_eq!(store.get(&digest).expect("get"), data);
            println!(
                "ratio {codec:?} {name} {:.3}",
                store.disk_size().expect("size") as f64 / data.len() as f64
            );
            group.bench_function(format!("{codec:?}/{name}"), |b| {
                b.iter(|| {
                    // A fresh blob each time: a stored one would only be looked up.
                    std::fs::remove_dir_all(dir.join("blobs")).expect("clear");
                    std::fs::create_dir_all(dir.join("blobs")).expect("blobs");
                    let stored = store.put(black_box(&data)).expect("put");
                    store.get(&stored).expect("get")
                })
            });
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
    // The baseline: the same bytes as a plain file, written as durably (temporary file,
    // fsync, rename) and read back.
    for (name, data) in inputs() {
        group.throughput(Throughput::Bytes(data.len() as u64));
        let dir = std::env::temp_dir().join(format!("cas-bench-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        println!("ratio Files {name} 1.000");
        group.bench_function(format!("Files/{name}"), |b| {
            b.iter(|| {
                let temporary = dir.join("blob.tmp");
                let mut file = std::fs::File::create(&temporary).expect("create");
                std::io::Write::write_all(&mut file, black_box(&data)).expect("write");
                file.sync_all().expect("fsync");
                std::fs::rename(&temporary, dir.join("blob")).expect("rename");
                std::fs::read(dir.join("blob")).expect("read")
            })
        });
        let _ = std::fs::remove_dir_all(&dir);
    }
    group.finish();
}

criterion_group!(codec, benches);
criterion_main!(codec);
