//! The errors of loading a build directory.

use std::path::PathBuf;

use bb_data::{DataError, EvalError};

use crate::CacheError;

/// Why loading a build directory, or a recipe of it, failed. Each names the file or
/// target it concerns; the text is BitBake's where BitBake has one.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The directory to work in is not usable.
    #[error("{}: {source}", path.display())]
    Directory {
        /// The directory.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// The python host did not start.
    #[error("python failed to start: {0}")]
    Python(#[source] bb_python::StartError),
    /// Parsing the base configuration failed.
    #[error(transparent)]
    Configuration(#[from] EvalError),
    /// Reading the configuration's variables failed.
    #[error(transparent)]
    Data(#[from] DataError),
    /// A recipe file did not parse.
    #[error("Unable to parse {}: {source}", file.display())]
    Recipe {
        /// The recipe file.
        file: PathBuf,
        /// Why.
        source: EvalError,
    },
    /// A recipe file parsed again lacks a variant it had.
    #[error("{} has no variant '{variant}' when parsed again", file.display())]
    NoVariant {
        /// The recipe file.
        file: PathBuf,
        /// The variant.
        variant: String,
    },
    /// The parse workers failed (not a recipe: a recipe's failure is its outcome).
    #[error(transparent)]
    Workers(#[from] WorkerError),
    /// What the parse cache keeps of a recipe did not decode.
    #[error(transparent)]
    Cache(#[from] CacheError),
    /// A recipe file got no outcome from the workers (a fault in their bookkeeping).
    #[error("{} was not parsed", file.display())]
    NotParsed {
        /// The recipe file.
        file: PathBuf,
    },
    /// The target is one ASSUME_PROVIDED names (`bitbake -e` refuses it).
    #[error("{name} is in ASSUME_PROVIDED")]
    AssumeProvided {
        /// The target.
        name: String,
    },
    /// No recipe provides the target, or only skipped ones do.
    #[error(transparent)]
    Resolve(#[from] taskgraph::ResolveError),
    /// The targets' task graph could not be made.
    #[error(transparent)]
    Target(#[from] taskgraph::TargetError),
    /// No recipe provides the target.
    #[error("Nothing PROVIDES '{name}'")]
    NothingProvides {
        /// The target.
        name: String,
    },
    /// `-b NAME` is neither an existing path nor a regular expression.
    #[error("-b {pattern}: not a path, nor a regular expression: {source}")]
    BadPattern {
        /// What was given.
        pattern: String,
        /// Why it is not a regular expression.
        source: Box<fancy_regex::Error>,
    },
    /// `-b NAME` matches no recipe file.
    #[error("Unable to find any recipe file matching '{pattern}'")]
    NoMatchingFile {
        /// What was given.
        pattern: String,
    },
    /// `-b NAME` matches several recipe files.
    #[error(
        "Unable to match '{pattern}' to a specific recipe file - {} matches found:{}",
        files.len(),
        files.iter().map(|f| format!("\n    {}", f.display())).collect::<String>()
    )]
    AmbiguousFile {
        /// What was given.
        pattern: String,
        /// The files it matches.
        files: Vec<PathBuf>,
    },
}

/// Why the parse worker processes failed as a whole.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WorkerError {
    /// Forking from a process with other threads could hang a worker.
    #[error("cannot fork parse workers from a process with {threads} threads")]
    Threads {
        /// How many threads the process has.
        threads: usize,
    },
    /// A system call failed.
    #[error("{what}: {source}")]
    System {
        /// What was being done.
        what: String,
        /// The error.
        source: std::io::Error,
    },
    /// A worker ended badly between two recipes.
    #[error("parse worker {pid} {how}")]
    Ended {
        /// Its process id.
        pid: i32,
        /// How it ended.
        how: String,
    },
    /// A worker wrote something that is not a report.
    #[error("a parse worker sent a broken report: {0}")]
    BrokenReport(#[source] serde_json::Error),
}
