//! Loads a BitBake build directory, as BitBake's cooker does before it builds: the role
//! rust-analyzer's `load-cargo` plays for a Cargo workspace. An IDE, a CI system or
//! another build tool embeds this crate to get what `hitzeleiter parse`, `getvar`, `env`
//! and `graph` get:
//!
//! - [`Workspace`]: where the build directory is (conf/bblayers.conf, found from a
//!   directory upwards) and the environment a parse takes in.
//! - [`Workspace::parse_recipes`]: every recipe of BBFILES with its variants, from the
//!   parse cache where its inputs are unchanged, the rest parsed in forked worker processes
//!   that share the parsed base configuration (BitBake's `BB_NUMBER_PARSE_THREADS`);
//!   [`Recipes`] indexes the result for provider lookups and task graphs (taskgraph).
//! - [`Recipes::resolve`]: a target name resolved to the recipe file and variant BitBake
//!   would show for it (`bitbake -e`, `bitbake-getvar -r`); [`Configuration::match_file`]
//!   for `bitbake -b`.
//! - [`Session`] and [`Configuration`]: a python host, the parsed base configuration, and
//!   one recipe file parsed with its bbappends and layer ([`Configuration::parse_recipe`],
//!   [`Configuration::parse_target`]).
//!
//! ```no_run
//! use bb_load::{NoObserver, ParseOptions, Recipes, Resolution, Workspace};
//!
//! let workspace = Workspace::new(Some("build".as_ref()))?;
//! let parsed = workspace.parse_recipes(&ParseOptions::with_infos(), &mut NoObserver)?;
//! let mut recipes = Recipes::new(parsed);
//! let target = recipes.resolve("zlib", Resolution::BuildTarget, &mut Vec::new())?;
//! let session = workspace.session(false)?;
//! let mut configuration = session.configure()?;
//! let zlib = configuration.parse_target(&target)?;
//! println!("{:?}", zlib.get_var_str("SRC_URI")?);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Parsing forks: [`Workspace::parse_recipes`] must be called from a process with one
//! thread (it checks, and refuses otherwise).

mod cache;
mod error;
mod parse;
mod recipes;
mod session;
mod workers;

use std::path::{Path, PathBuf};

pub use cache::CacheError;
pub use error::{LoadError, WorkerError};
pub use parse::{
    NoObserver, ParseObserver, ParseOptions, ParseSummary, ParseTimes, ParsedRecipes,
    RecipeOutcome, RecipeProfile,
};
pub use recipes::{Recipes, Resolution};
pub use session::{Configuration, RecipeTarget, Session};

/// A build directory and the environment BitBake runs in.
#[derive(Debug, Clone)]
pub struct Workspace {
    cwd: PathBuf,
    env: Vec<(String, String)>,
    build_dir: PathBuf,
}

impl Workspace {
    /// The build directory found from `dir` (default: the current directory) upwards, as
    /// BitBake finds conf/bblayers.conf, with this process's environment.
    pub fn new(dir: Option<&Path>) -> Result<Workspace, LoadError> {
        Workspace::with_environment(dir, std::env::vars().collect())
    }

    /// As [`Workspace::new`], with the environment given (only BitBake's approved
    /// variables are taken in, as BitBake takes them).
    pub fn with_environment(
        dir: Option<&Path>,
        env: Vec<(String, String)>,
    ) -> Result<Workspace, LoadError> {
        let cwd = match dir {
            Some(dir) => std::path::absolute(dir).map_err(|source| LoadError::Directory {
                path: dir.to_owned(),
                source,
            })?,
            None => std::env::current_dir().map_err(|source| LoadError::Directory {
                path: PathBuf::from("current directory"),
                source,
            })?,
        };
        let mut workspace = Workspace {
            build_dir: cwd.clone(),
            cwd,
            env,
        };
        // Finding it needs no python: only where bblayers.conf is.
        let no_python = bb_data::Evaluator::new(None);
        if let Some(dir) =
            bb_data::Cooker::new(&no_python, workspace.cooker_config(false)).build_dir()
        {
            workspace.build_dir = dir;
        }
        Ok(workspace)
    }

    /// The build directory: where conf/bblayers.conf was found, else the directory given.
    pub fn build_dir(&self) -> &Path {
        &self.build_dir
    }

    /// A session to parse in: a python host (keeping compiled code in the build
    /// directory's `cache/hitzeleiter/python`) and an evaluator; `tracking` records
    /// variable history (for `bitbake -e`).
    pub fn session(&self, tracking: bool) -> Result<Session, LoadError> {
        Session::new(self, tracking)
    }

    fn cooker_config(&self, tracking: bool) -> bb_data::CookerConfig {
        bb_data::CookerConfig {
            cwd: self.cwd.clone(),
            env: self.env.clone(),
            tracking,
        }
    }

    /// Where the parse cache of the build directory is.
    fn parse_cache_path(&self) -> PathBuf {
        self.build_dir.join("cache/hitzeleiter/parse.cache")
    }
}
