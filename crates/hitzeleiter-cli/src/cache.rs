//! `hitzeleiter cache`: the content store and action cache of a build directory.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::load::BuildDir;

#[derive(Args)]
pub(crate) struct CacheArgs {
    /// The store directory (default: BUILDDIR/cache/hitzeleiter/cas).
    #[arg(long, global = true)]
    dir: Option<PathBuf>,
    #[command(subcommand)]
    command: CacheCommand,
}

#[derive(Subcommand)]
enum CacheCommand {
    /// Evict least-recently-used blobs until the store is at most SIZE (e.g. 500M, 20G).
    Gc {
        /// The size bound: bytes, or with K, M, G, T (powers of 1024; `iB` accepted).
        #[arg(long, value_parser = parse_size)]
        max_size: u64,
    },
    /// Print the store's size on disk.
    Stats,
}

/// `10G`, `500M`, `2GiB`, `1024` → bytes.
pub(crate) fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let digits = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("'{text}' is not a size (e.g. 500M, 20G)"))?;
    let shift = match unit.trim().trim_end_matches("iB").trim_end_matches('B') {
        "" => 0,
        "K" | "k" => 10,
        "M" | "m" => 20,
        "G" | "g" => 30,
        "T" | "t" => 40,
        other => return Err(format!("unknown size unit '{other}' (K, M, G, T)")),
    };
    Ok((number * (1u64 << shift) as f64) as u64)
}

/// The build directory's content store and action cache.
pub(crate) fn store_dir(build_dir: &std::path::Path) -> PathBuf {
    build_dir.join("cache/hitzeleiter/cas")
}

pub(crate) fn cache(args: &CacheArgs, build: &BuildDir) -> ExitCode {
    let run = || -> Result<String, String> {
        let dir = match &args.dir {
            Some(dir) => dir.clone(),
            None => store_dir(build.workspace()?.build_dir()),
        };
        let store = cas::Store::open(&dir, cas::Codec::Zstd).map_err(|e| e.to_string())?;
        match args.command {
            CacheCommand::Gc { max_size } => {
                let report = store.gc(max_size).map_err(|e| e.to_string())?;
                Ok(format!(
                    "{}: removed {} blobs ({} bytes); {} bytes left\n",
                    dir.display(),
                    report.removed,
                    report.freed,
                    report.remaining
                ))
            }
            CacheCommand::Stats => Ok(format!(
                "{}: {} bytes\n",
                dir.display(),
                store.disk_size().map_err(|e| e.to_string())?
            )),
        }
    };
    crate::finish(run())
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
