//! `cargo xtask bench`: runs the benchmarks and records them in docs/benchmarks.md.

use std::path::Path;

use crate::{cargo, root, run_step, shared_dir};

pub(crate) fn run(which: Option<&str>) -> Result<(), String> {
    match which {
        None | Some("parse") => parse(),
        Some(other) => Err(format!("unknown benchmark '{other}' (known: parse)")),
    }
}

/// Syntax-only parse of the whole corpus, one core (criterion).
fn parse() -> Result<(), String> {
    if shared_dir().is_none() {
        return Err("the parse benchmark needs ../shared/corpus (or HZ_SHARED)".into());
    }
    run_step(
        "cargo bench -p bb-syntax --bench parse",
        cargo().args([
            "bench",
            "--ignore-rust-version",
            "-p",
            "bb-syntax",
            "--bench",
            "parse",
        ]),
    )?;
    let dir = root().join("target/criterion/syntax/parse_corpus/new");
    let estimates = read_json(&dir.join("estimates.json"))?;
    let benchmark = read_json(&dir.join("benchmark.json"))?;
    let mean_ns = estimates["mean"]["point_estimate"]
        .as_f64()
        .ok_or("estimates.json has no mean")?;
    let low_ns = estimates["mean"]["confidence_interval"]["lower_bound"]
        .as_f64()
        .unwrap_or(mean_ns);
    let high_ns = estimates["mean"]["confidence_interval"]["upper_bound"]
        .as_f64()
        .unwrap_or(mean_ns);
    let bytes = benchmark["throughput"]["Bytes"]
        .as_f64()
        .ok_or("benchmark.json has no byte throughput")?;
    let mb_per_s = bytes / 1e6 / (mean_ns / 1e9);
    let table = format!(
        "| date | machine | input | mean time (95% CI) | throughput | goal |\n\
         |---|---|---|---|---|---|\n\
         | {date} | {machine} | {mb:.2} MB, openembedded-core | {mean:.1} ms ({low:.1}–{high:.1}) | {mb_per_s:.0} MB/s | ≤ 100 ms on one core |\n",
        date = today(),
        machine = machine(),
        mb = bytes / 1e6,
        mean = mean_ns / 1e6,
        low = low_ns / 1e6,
        high = high_ns / 1e6,
    );
    let section = format!(
        "## Syntax-only parse of openembedded-core (bb-syntax)\n\n\
         Command: `cargo xtask bench parse` (criterion, `cargo bench -p bb-syntax --bench parse`): \
         every metadata file of `../shared/corpus/openembedded-core` parsed into a syntax tree, \
         sequentially on one core, files already in memory.\n\n{table}"
    );
    write_section("parse", &section)?;
    eprintln!(
        "parse: {:.1} ms, {mb_per_s:.0} MB/s; docs/benchmarks.md updated",
        mean_ns / 1e6
    );
    Ok(())
}

fn read_json(path: &Path) -> Result<serde_json::Value, String> {
    let text = std::fs::read_to_string(path).map_err(|err| format!("{}: {err}", path.display()))?;
    serde_json::from_str(&text).map_err(|err| format!("{}: {err}", path.display()))
}

/// Replaces (or appends) the section between `<!-- bench:NAME -->` markers.
fn write_section(name: &str, body: &str) -> Result<(), String> {
    let path = root().join("docs/benchmarks.md");
    let current = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        "# Benchmarks\n\nEach section is written by `cargo xtask bench`, with the command that \
         produced it. Numbers are from the machine named in the table.\n\n"
            .to_owned()
    });
    let start_marker = format!("<!-- bench:{name} -->");
    let end_marker = format!("<!-- /bench:{name} -->");
    let block = format!("{start_marker}\n{body}{end_marker}");
    let updated = match (current.find(&start_marker), current.find(&end_marker)) {
        (Some(start), Some(end)) if start < end => {
            format!(
                "{}{block}{}",
                &current[..start],
                &current[end + end_marker.len()..]
            )
        }
        _ => format!("{}\n\n{block}\n", current.trim_end()),
    };
    let temporary = path.with_extension("md.tmp");
    std::fs::write(&temporary, updated).map_err(|err| format!("{}: {err}", temporary.display()))?;
    std::fs::rename(&temporary, &path).map_err(|err| format!("{}: {err}", path.display()))
}

fn today() -> String {
    std::process::Command::new("date")
        .arg("+%Y-%m-%d")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
            })
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!("{cpu}, {cores} cores")
}
