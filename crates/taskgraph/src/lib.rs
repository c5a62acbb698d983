//! From parsed recipes to the graph of tasks a build runs, as BitBake 2.19 builds it.
//!
//! - [`RecipeCache`] holds every parsed recipe variant ([`bb_data::RecipeInfo`]) indexed
//!   the ways BitBake's `CacheData` is: by PN, by what they PROVIDE and RPROVIDE, by
//!   package.
//! - [`find_best_provider`], [`filter_providers`] and [`filter_providers_runtime`] choose
//!   among recipes providing the same name (PREFERRED_VERSION, REQUIRED_VERSION,
//!   PREFERRED_PROVIDER, PREFERRED_RPROVIDER, layer priority, DEFAULT_PREFERENCE).
//! - [`TaskData`] resolves targets and everything they need, build time and runtime.
//! - [`TaskGraph`] turns that into task dependencies (`addtask`, `[depends]`,
//!   `[rdepends]`, `[deptask]`, `[rdeptask]`, `[recrdeptask]`, `[recideptask]`), pruned
//!   to what the targets need, and writes BitBake's `task-depends.dot`.
//! - [`Scheduler`] hands out ready tasks by critical path, for the executor to run.
//!
//! Configuration variables (PREFERRED_*, …) are read through [`Variables`], implemented
//! for [`bb_data::DataStore`] and for a plain map.
//!
//! ```
//! use std::collections::HashMap;
//! use bb_data::{RecipeInfo, TaskInfo};
//! use taskgraph::{ProviderSettings, Recipe, RecipeCache, TaskData, TaskGraph, Target};
//!
//! let task = |name: &str, parents: &[&str], flags: &[(&str, &str)]| TaskInfo {
//!     name: name.into(),
//!     parents: parents.iter().map(|p| p.to_string()).collect(),
//!     flags: flags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
//! };
//! let recipe = |pn: &str, depends: &[&str]| RecipeInfo {
//!     pn: pn.into(),
//!     pv: "1.0".into(),
//!     pr: "r0".into(),
//!     packages: vec![pn.into()],
//!     depends: depends.iter().map(|d| d.to_string()).collect(),
//!     tasks: vec![
//!         task("do_compile", &[], &[("deptask", "do_populate_sysroot")]),
//!         task("do_populate_sysroot", &["do_compile"], &[]),
//!         task("do_build", &["do_populate_sysroot"], &[]),
//!     ],
//!     ..RecipeInfo::default()
//! };
//! let mut cache = RecipeCache::new(ProviderSettings::default());
//! for (file, info) in [("/l/zlib_1.0.bb", recipe("zlib", &[])), ("/l/app_1.0.bb", recipe("app", &["zlib"]))] {
//!     cache.add(Recipe { file: file.into(), info, priority: 5 });
//! }
//! let config: HashMap<String, String> = HashMap::new();
//! let mut taskdata = TaskData::new(true, false);
//! taskdata.add_provider(&cache, &config, "app")?;
//! taskdata.add_unresolved(&cache, &config)?;
//! let app = taskdata.build_providers("app")[0];
//! let target = Target { name: "app".into(), task: "do_build".into(), file: app };
//! let graph = TaskGraph::build(&cache, &taskdata, &[target])?;
//! // app: compile, populate_sysroot, build; zlib: compile, populate_sysroot.
//! assert_eq!(graph.len(), 5);
//! assert!(graph.to_dot(&cache).contains("\"app.do_compile\" -> \"zlib.do_populate_sysroot\""));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod cache;
mod graph;
mod providers;
mod schedule;
mod targets;
mod taskdata;
mod version;

pub use cache::{FileId, ProviderSettings, Recipe, RecipeCache};
pub use graph::{GraphError, Target, TaskGraph, TaskId};
pub use providers::{
    BestProvider, Level, Notice, Version, cooker_best_provider, filter_providers,
    filter_providers_runtime, find_best_provider,
};
pub use schedule::{CycleError, Scheduler, TaskState, topological_order};
pub use targets::{
    ListedRecipe, RecipeListing, TargetError, real_file, resolve_targets, virtual_name, with_do,
};
pub use taskdata::{ResolveError, TaskData, TaskKey, runtime_dependencies};
pub use version::vercmp;

/// Where provider settings (PREFERRED_VERSION_*, PREFERRED_PROVIDER_*, …) are read from:
/// the configuration, with its keys expanded.
pub trait Variables {
    /// The expanded value of a variable, if it is set.
    fn get(&self, name: &str) -> Option<String>;
}

impl Variables for bb_data::DataStore {
    fn get(&self, name: &str) -> Option<String> {
        self.get_var_str(name).ok().flatten()
    }
}

impl<S: std::hash::BuildHasher> Variables for std::collections::HashMap<String, String, S> {
    fn get(&self, name: &str) -> Option<String> {
        std::collections::HashMap::get(self, name).cloned()
    }
}
