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
        #[arg(long, value_parser = executor::parse_size)]
        max_size: u64,
    },
    /// Print the store's size on disk.
    Stats,
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
