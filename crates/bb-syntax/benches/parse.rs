//! Syntax-only parse of the whole openembedded-core corpus (from `../shared` or
//! `HZ_SHARED`), one core. `cargo xtask bench` runs it and records the result.

use bb_syntax::FileKind;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn corpus() -> Option<Vec<(FileKind, String)>> {
    let root = test_support::shared_dir()?.join("corpus/openembedded-core");
    let files = bb_syntax::collect_metadata_files(&root).ok()?;
    let texts = files
        .iter()
        .filter_map(|path| {
            Some((
                FileKind::from_path(path)?,
                std::fs::read_to_string(path).ok()?,
            ))
        })
        .collect::<Vec<_>>();
    (!texts.is_empty()).then_some(texts)
}

fn parse_corpus(c: &mut Criterion) {
    let Some(files) = corpus() else {
        test_support::skip("parse_corpus: no ../shared/corpus and HZ_SHARED is not set");
        return;
    };
    let bytes: usize = files.iter().map(|(_, text)| text.len()).sum();
    let mut group = c.benchmark_group("syntax");
    group.throughput(Throughput::Bytes(bytes as u64));
    group.sample_size(20);
    group.bench_function("parse_corpus", |b| {
        b.iter(|| {
            let mut errors = 0;
            for (kind, text) in &files {
                errors += bb_syntax::parse(text, *kind).errors().len();
            }
            errors
        })
    });
    group.finish();
}

criterion_group!(benches, parse_corpus);
criterion_main!(benches);
