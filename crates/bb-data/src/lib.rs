//! BitBake's datastore with BitBake 2.19's exact semantics.
//!
//! A [`DataStore`] holds variables and their flags. Reads apply what BitBake applies on
//! every read — the OVERRIDES fixpoint, override variants, `??=` defaults, `:append`,
//! `:prepend`, expansion of `${NAME}` and `${@python}`, then `:remove` — and nothing is
//! applied into storage, so later assignments and overrides keep working as in BitBake.
//! Copies share unchanged variables ([`DataStore::create_copy`], [`DataStore::freeze`]).
//!
//! Python is pluggable: `${@…}` is evaluated by an [`InlinePython`] host (bb-python
//! provides one on RustPython); without a host such an expression is an error, except
//! for a few common shapes (`d.getVar('X')`, `bb.utils.contains(…)`) evaluated natively.
//!
//! Around the datastore: the [`Evaluator`] and [`Cooker`] run metadata files in BitBake's
//! parse order; [`collect_recipe_files`] finds a configuration's recipes; [`Signatures`]
//! gives what a task's signature depends on; [`emit_environment`] and [`emit_variable`]
//! print `bitbake -e` and `bitbake-getvar` output; [`FileStamp`] records the state of each
//! input a parse read; [`profile`] tells where a parse spends its time.
//!
//! ```
//! use bb_data::DataStore;
//!
//! let d = DataStore::new();
//! d.set_var("OVERRIDES", "arm:linux")?;
//! d.set_var("CFLAGS", "-O2 ${EXTRA}")?;
//! d.set_var("EXTRA", "-g")?;
//! d.set_var("CFLAGS:append:arm", " -marm")?;
//! d.set_var("CFLAGS:remove", "-g")?;
//! assert_eq!(d.get_var_str("CFLAGS")?.as_deref(), Some("-O2  -marm"));
//! assert_eq!(d.get_var_raw("CFLAGS")?.unwrap().to_string(), "-O2 ${EXTRA} -marm");
//! # Ok::<(), bb_data::DataError>(())
//! ```

mod collect;
mod cooker;
mod deps;
mod emit;
mod eval;
mod event;
mod history;
mod info;
pub mod profile;
mod shell;
mod stamp;
mod store;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

pub use collect::{
    LayerCollection, RecipeFiles, appends_for, bbfile_priority, collect_recipe_files,
    file_collection, file_layer_name, layer_collections,
};
pub use cooker::{Cooker, CookerConfig, ParsedRecipe, abspath};
pub use deps::{Signatures, VarDeps};
pub use emit::{emit_environment, emit_function, emit_variable};
pub use eval::{EvalError, Evaluator, PythonHost, add_task, del_task};
pub use event::{CookerEvent, Handler};
pub use history::{Event, Origin};
pub use info::{RecipeInfo, TaskInfo};
pub use shell::{ShellSyntaxError, shell_execs};
pub use stamp::{FileStamp, collection_vars, provider_vars, python_library_files};
pub use store::{DataStore, Frozen, Value, to_boolean};

/// An error while reading or writing the datastore.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataError {
    /// Expanding a value failed (BitBake's `ExpansionError`).
    Expansion(ExpansionError),
    /// BitBake would call `bb.fatal` (e.g. the legacy `_append` syntax).
    Fatal(String),
    /// Python raised `bb.parse.SkipRecipe` while expanding.
    SkipRecipe(String),
}

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataError::Expansion(e) => e.fmt(f),
            DataError::Fatal(message) => f.write_str(message),
            DataError::SkipRecipe(reason) => write!(f, "recipe skipped: {reason}"),
        }
    }
}

impl std::error::Error for DataError {}

/// BitBake's `ExpansionError`: which variable, which expression, what went wrong, and
/// the chain of variables whose expansion led there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpansionError {
    /// The variable being expanded, if any.
    pub varname: Option<String>,
    /// The expression being expanded when it failed.
    pub expression: Option<String>,
    /// The underlying failure (`Type: message`).
    pub cause: String,
    /// The variables whose expansion led here, innermost first.
    pub chain: Vec<String>,
}

impl ExpansionError {
    pub(crate) fn new(
        varname: Option<&str>,
        expression: Option<&str>,
        cause: String,
    ) -> ExpansionError {
        ExpansionError {
            varname: varname.map(str::to_owned),
            expression: expression.map(str::to_owned),
            cause,
            chain: vec![varname.or(expression).unwrap_or_default().to_owned()],
        }
    }
}

impl fmt::Display for ExpansionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.varname, &self.expression) {
            (Some(var), Some(expr)) => write!(
                f,
                "Failure expanding variable {var}, expression was {expr} which triggered exception {}",
                self.cause
            )?,
            (Some(var), None) => write!(f, "Failure expanding variable {var}: {}", self.cause)?,
            (None, expr) => write!(
                f,
                "Failure expanding expression {} which triggered exception {}",
                expr.as_deref().unwrap_or_default(),
                self.cause
            )?,
        }
        write!(
            f,
            "\nThe variable dependency chain for the failure is: {}",
            self.chain.join(" -> ")
        )
    }
}

/// Why a `${@…}` expression produced no value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PythonFailure {
    /// An unterminated string literal: BitBake leaves the expression unexpanded.
    UnterminatedString,
    /// A python exception.
    Exception {
        /// The exception's type name.
        type_name: String,
        /// `str(exception)`.
        message: String,
    },
    /// A datastore error raised through python (e.g. `SkipRecipe`, `bb.fatal`).
    Data(DataError),
}

impl PythonFailure {
    /// The datastore error for a failure of python evaluating `expression` (inline code, a
    /// filter) for `varname`.
    pub(crate) fn into_data_error(
        self,
        varname: Option<&str>,
        expression: Option<&str>,
    ) -> DataError {
        let cause = match self {
            PythonFailure::Data(err) => return err,
            PythonFailure::UnterminatedString => "SyntaxError: unterminated string literal".into(),
            PythonFailure::Exception { type_name, message } => format!("{type_name}: {message}"),
        };
        DataError::Expansion(ExpansionError::new(varname, expression, cause))
    }
}

/// Evaluates `${@…}` expressions for a datastore.
pub trait InlinePython {
    /// Evaluates `code` with `d` bound, BitBake's globals and `DataContext` locals (bare
    /// names read through `d.getVar`), and returns `str()` of the result.
    fn eval_inline(
        &self,
        d: &DataStore,
        code: &str,
        varname: Option<&str>,
    ) -> Result<String, PythonFailure>;

    /// What python `code` reads and calls, as BitBake's `bb.codeparser.PythonParser` finds
    /// it (without running it); a syntax error is a [`PythonFailure::Exception`].
    fn analyze(&self, code: &str) -> Result<CodeRefs, PythonFailure>;

    /// Applies a variable filter (`d.setVarFilter`): BitBake's `bb.filter.apply_filters`
    /// of `value` with `expression`.
    fn apply_filter(&self, value: &str, expression: &str) -> Result<String, PythonFailure>;
}

/// The variables and functions python code uses, found in its syntax tree.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CodeRefs {
    /// Variables read with a literal name: `d.getVar("X")` gives `X`, `d.getVarFlag("X",
    /// "f")` gives `X[f]`.
    pub references: BTreeSet<String>,
    /// Names of the functions called (`foo`, `oe.utils.bar`), and the literal names given
    /// to `bb.build.exec_func`.
    pub execs: BTreeSet<String>,
    /// Items tested with `bb.utils.contains`/`contains_any`/`filter`, by variable.
    pub contains: BTreeMap<String, BTreeSet<String>>,
    /// Literal strings passed to `d.expand`, whose own references count too.
    pub expands: Vec<String>,
}

/// Severity of a logged message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    /// `bb.debug`.
    Debug,
    /// `bb.note`.
    Note,
    /// `bb.plain`: printed as is, without a level.
    Plain,
    /// `bb.warn`.
    Warning,
    /// `bb.error`.
    Error,
}

/// A message logged during parsing or evaluation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    /// How serious.
    pub level: LogLevel,
    /// The message.
    pub message: String,
}

impl LogRecord {
    /// The line BitBake's console shows for it (`NOTE: …`, `WARNING: …`, `ERROR: …`, a
    /// plain message as is); `None` for debug messages.
    pub fn line(&self) -> Option<String> {
        let prefix = match self.level {
            LogLevel::Debug => return None,
            LogLevel::Plain => return Some(self.message.clone()),
            LogLevel::Note => "NOTE",
            LogLevel::Warning => "WARNING",
            LogLevel::Error => "ERROR",
        };
        Some(format!("{prefix}: {}", self.message))
    }
}
