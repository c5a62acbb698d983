//! The datastore: BitBake's `DataSmart`, rule for rule. Its parts: [`layers`] (what a
//! store is made of), [`write`] and [`read`] (its operations), [`expand`] and [`fastpy`]
//! (expansion of `${VAR}` and `${@python}`), [`value`] (what variables hold).

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;
use std::sync::Arc;

// Variable names are looked up through many layers on every read: FxHash is several
// times cheaper than SipHash for such short keys.
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use crate::history::{Event, VariableHistory};
use crate::{InlinePython, LogLevel, LogRecord};

mod expand;
mod fastpy;
mod layers;
mod read;
mod value;
mod write;

pub(crate) use expand::Parsed;
pub use layers::Frozen;
use layers::{Inner, OverrideData, VarData};
use read::Read;
pub(crate) use value::list;
pub use value::{Value, to_boolean};

pub(super) const CONTENT: &str = "_content";
pub(super) const DEFAULTVAL: &str = "_defaultval";
pub(super) const SETVAR_KEYWORDS: [&str; 3] = [":append", ":prepend", ":remove"];

/// Variables renamed in BitBake; setting the old name is an error.
const RENAMED_VARIABLES: &[(&str, &str)] = &[
    ("BB_ENV_WHITELIST", "BB_ENV_PASSTHROUGH"),
    ("BB_ENV_EXTRAWHITE", "BB_ENV_PASSTHROUGH_ADDITIONS"),
    ("BB_HASHBASE_WHITELIST", "BB_BASEHASH_IGNORE_VARS"),
    ("BB_HASHCONFIG_WHITELIST", "BB_HASHCONFIG_IGNORE_VARS"),
    ("BB_HASHTASK_WHITELIST", "BB_TASKHASH_IGNORE_TASKS"),
    (
        "BB_SETSCENE_ENFORCE_WHITELIST",
        "BB_SETSCENE_ENFORCE_IGNORE_TASKS",
    ),
    ("MULTI_PROVIDER_WHITELIST", "BB_MULTI_PROVIDER_ALLOWED"),
    (
        "BB_STAMP_WHITELIST",
        "is a deprecated variable and support has been removed",
    ),
    (
        "BB_STAMP_POLICY",
        "is a deprecated variable and support has been removed",
    ),
];

/// BitBake's built-in renames: old name → new name (or why it is gone).
pub(crate) fn renamed_variables() -> impl Iterator<Item = (&'static str, &'static str)> {
    RENAMED_VARIABLES.iter().copied()
}

/// Shared by a store and all copies made from it.
struct Shared {
    python: RefCell<Option<Rc<dyn InlinePython>>>,
    log: RefCell<Vec<LogRecord>>,
}

/// A BitBake datastore (`d`). Cloning the handle gives the same store, as python's `d`
/// does; [`DataStore::create_copy`] gives an independent copy that shares unchanged
/// variables with this one.
#[derive(Clone)]
pub struct DataStore {
    inner: Rc<RefCell<Inner>>,
    shared: Rc<Shared>,
    /// The history detail of the write in progress, when the caller gives one.
    detail_override: Rc<RefCell<Option<String>>>,
}

impl fmt::Debug for DataStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.inner.borrow();
        f.debug_struct("DataStore")
            .field("local_vars", &inner.local.len())
            .field("has_parent", &inner.parent.is_some())
            .finish()
    }
}

impl Default for DataStore {
    fn default() -> Self {
        DataStore::new()
    }
}

impl DataStore {
    /// An empty store.
    pub fn new() -> DataStore {
        let inner = Inner {
            local: HashMap::default(),
            parent: None,
            overridedata: OverrideData::default(),
            overridevars: ["OVERRIDES", "FILE"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            overrides: None,
            overridesset: HashSet::default(),
            inoverride: false,
            expand_cache: HashMap::default(),
            reading: Vec::new(),
            reading_depth: 0,
            overrides_generation: 0,
            renames: RENAMED_VARIABLES
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
            history: None,
            ignore_history: false,
            own_layers: 0,
            filters: HashMap::default(),
        };
        DataStore {
            inner: Rc::new(RefCell::new(inner)),
            shared: Rc::new(Shared {
                python: RefCell::new(None),
                log: RefCell::new(Vec::new()),
            }),
            detail_override: Rc::default(),
        }
    }

    /// Records every operation from now on (BitBake's `enableTracking`), for `env` and
    /// `getvar` history output.
    pub fn enable_tracking(&self) {
        let mut inner = self.inner.borrow_mut();
        if inner.history.is_none() {
            inner.history = Some(VariableHistory::default());
        }
    }

    /// Whether operations are being recorded (`enable_tracking`).
    pub fn is_tracking(&self) -> bool {
        self.inner.borrow().history.is_some()
    }

    /// `bb.parse.handle` starts handling `file` (recorded in the include history while
    /// tracking); [`DataStore::include_exit`] ends it.
    pub(crate) fn include_enter(&self, file: &str) {
        if let Some(history) = &mut self.inner.borrow_mut().history {
            history.include_enter(file);
        }
    }

    pub(crate) fn include_exit(&self) {
        if let Some(history) = &mut self.inner.borrow_mut().history {
            history.include_exit();
        }
    }

    /// The files handled while tracking, depth first: (depth from 1, the name as given to
    /// the parser), BitBake's include history.
    pub fn include_history(&self) -> Vec<(usize, String)> {
        self.inner
            .borrow()
            .history
            .as_ref()
            .map(|h| h.includes().to_vec())
            .unwrap_or_default()
    }

    /// The override variants of `var` that are set: (variant name, override), BitBake's
    /// `overridedata[var]`.
    pub(crate) fn override_variants(&self, var: &str) -> Vec<(String, String)> {
        self.inner
            .borrow()
            .overridedata
            .get(var)
            .map(|variants| {
                variants
                    .iter()
                    .map(|(v, o)| (v.to_string(), o.to_string()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The recorded operations on `var`, oldest first.
    pub fn history(&self, var: &str) -> Vec<Event> {
        self.inner
            .borrow()
            .history
            .as_ref()
            .map(|h| h.events(var))
            .unwrap_or_default()
    }

    /// Installs the evaluator of `${@…}` expressions; copies share it.
    pub fn set_python(&self, python: Rc<dyn InlinePython>) {
        *self.shared.python.borrow_mut() = Some(python);
    }

    pub(crate) fn python(&self) -> Option<Rc<dyn InlinePython>> {
        self.shared.python.borrow().clone()
    }

    /// Logs a message (BitBake's `bb.warn`, `bb.note`, …).
    pub fn log(&self, level: LogLevel, message: impl Into<String>) {
        self.shared.log.borrow_mut().push(LogRecord {
            level,
            message: message.into(),
        });
    }

    /// Takes the messages logged so far.
    pub fn take_log(&self) -> Vec<LogRecord> {
        std::mem::take(&mut self.shared.log.borrow_mut())
    }

    /// Freezes this store's variables into a layer that any number of stores (on any
    /// thread) can start from; this store goes on, on top of the frozen layer.
    pub fn freeze(&self) -> Arc<Frozen> {
        let mut guard = self.inner.borrow_mut();
        let inner = &mut *guard;
        inner.overridedata.fold_when_many();
        if let Some(parent) = inner.parent.as_mut() {
            // Our own top layer that no other store holds any more (the copy made for a
            // `:=` is gone) takes the new variables in, instead of a new layer on top:
            // reads walk the layers, so a short chain keeps them cheap.
            if inner.own_layers > 0
                && let Some(layer) = Arc::get_mut(parent)
            {
                layer.vars.extend(std::mem::take(&mut inner.local));
                layer.templated_names = std::sync::OnceLock::new();
                layer.overridedata = inner.overridedata.clone();
                layer.overridevars = inner.overridevars.clone();
                layer.renames = inner.renames.clone();
                layer.filters = inner.filters.clone();
                layer.history = inner.history.clone();
                return parent.clone();
            }
            if inner.local.is_empty() && parent.filters == inner.filters {
                return parent.clone();
            }
        }
        let frozen = Arc::new(Frozen {
            vars: std::mem::take(&mut inner.local),
            parent: inner.parent.take(),
            overridedata: inner.overridedata.clone(),
            overridevars: inner.overridevars.clone(),
            renames: inner.renames.clone(),
            filters: inner.filters.clone(),
            history: inner.history.clone(),
            templated_names: std::sync::OnceLock::new(),
        });
        inner.parent = Some(frozen.clone());
        inner.own_layers += 1;
        frozen
    }

    /// A new store on top of a frozen layer.
    pub fn from_frozen(frozen: Arc<Frozen>) -> DataStore {
        let store = DataStore::new();
        {
            let mut inner = store.inner.borrow_mut();
            inner.overridedata = frozen.overridedata.clone();
            inner.overridevars = frozen.overridevars.clone();
            inner.renames = frozen.renames.clone();
            inner.filters = frozen.filters.clone();
            inner.history = frozen.history.clone();
            inner.parent = Some(frozen);
        }
        store
    }

    /// BitBake's `createCopy`: an independent store that starts with this one's contents.
    /// The python host and the log are shared with the copy.
    pub fn create_copy(&self) -> DataStore {
        let copy = DataStore::from_frozen(self.freeze());
        DataStore {
            inner: copy.inner,
            shared: self.shared.clone(),
            detail_override: Rc::default(),
        }
    }

    fn clear_expand_cache(inner: &mut Inner) {
        // A store reads thousands of variables between two writes at times: their table
        // is not kept for the few reads of the next round.
        if inner.expand_cache.capacity() > 256 {
            inner.expand_cache = HashMap::default();
        } else {
            inner.expand_cache.clear();
        }
    }
}

/// What a read found: the unexpanded value (shared with the store) and its expansion.
pub(super) type RawAndParsed = (Option<Arc<Value>>, Option<Rc<Parsed>>);

/// A shared value's string, moved out when this was its last holder.
pub(super) fn into_string(value: Arc<Value>) -> String {
    Arc::unwrap_or_clone(value).into_string()
}

/// The `(text, override)` entries of an `:append`, `:prepend` or `:remove` list (none
/// when it is not a list).
pub(super) fn pending_entries(
    list: &Value,
) -> impl Iterator<Item = (std::borrow::Cow<'_, str>, Option<&str>)> {
    let entries = match list {
        Value::List(entries) => entries.as_slice(),
        _ => &[],
    };
    entries.iter().filter_map(|entry| match entry {
        Value::List(pair) if pair.len() == 2 => {
            let override_ = match &pair[1] {
                Value::Str(o) if !o.is_empty() => Some(o.as_str()),
                _ => None,
            };
            let text = match &pair[0] {
                Value::Str(text) => std::borrow::Cow::Borrowed(text.as_str()),
                other => std::borrow::Cow::Owned(other.to_string()),
            };
            Some((text, override_))
        }
        _ => None,
    })
}

/// Where BitBake indexes `VAR:o1:o2` among override variants: `(VAR:o1, o2)`, then
/// `(VAR, o1:o2)`, for as long as each suffix starts like an override (`[a-z0-9]`).
pub(super) fn override_indexes(var: &str) -> Vec<(&str, &str)> {
    let mut indexes = Vec::new();
    let Some(split) = var.rfind(':') else {
        return indexes;
    };
    let mut override_ = &var[split + 1..];
    let mut shortvar = &var[..split];
    while override_.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit()) {
        indexes.push((shortvar, override_));
        match shortvar.rfind(':') {
            Some(at) if at > 0 => {
                override_ = &var[at + 1..];
                shortvar = &var[..at];
            }
            _ => break,
        }
    }
    indexes
}

/// `o` is active when it is in OVERRIDES, or all of its `:`-separated parts are.
pub(super) fn override_active(o: &str, active: &HashSet<String>) -> bool {
    active.contains(o) || (o.contains(':') && o.split(':').all(|p| active.contains(p)))
}

/// `re.match(r'(?P<base>.*?)(?P<keyword>:append|:prepend|:remove)(:(?P<add>[^A-Z]*))?$', var)`.
pub(super) fn split_setvar_keyword(var: &str) -> Option<(&str, &'static str, Option<&str>)> {
    let mut search = 0;
    while let Some(found) = var[search..].find(':') {
        let at = search + found;
        for keyword in SETVAR_KEYWORDS {
            if let Some(rest) = var[at..].strip_prefix(keyword) {
                if rest.is_empty() {
                    return Some((&var[..at], keyword, None));
                }
                if let Some(add) = rest.strip_prefix(':')
                    && !add.contains(|c: char| c.is_ascii_uppercase())
                {
                    return Some((&var[..at], keyword, Some(add)));
                }
            }
        }
        search = at + 1;
    }
    None
}

/// `re.split(r'(\s)', s)`: words and single whitespace characters, in order.
pub(super) fn split_keep_whitespace(s: &str) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut start = 0;
    for (i, c) in s.char_indices() {
        if c.is_whitespace() {
            pieces.push(&s[start..i]);
            pieces.push(&s[i..i + c.len_utf8()]);
            start = i + c.len_utf8();
        }
    }
    pieces.push(&s[start..]);
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setvar_keyword_split_matches_bitbake_regex() {
        assert_eq!(
            split_setvar_keyword("A:append"),
            Some(("A", ":append", None))
        );
        assert_eq!(
            split_setvar_keyword("A:append:foo"),
            Some(("A", ":append", Some("foo")))
        );
        assert_eq!(
            split_setvar_keyword("A:foo:remove"),
            Some(("A:foo", ":remove", None))
        );
        assert_eq!(split_setvar_keyword("A:append:Foo"), None);
        assert_eq!(split_setvar_keyword("A:appendix"), None);
        assert_eq!(split_setvar_keyword("A"), None);
    }

    #[test]
    fn with_var_lends_what_get_var_returns() {
        let d = DataStore::new();
        d.set_var("A", "${B}-a").unwrap();
        d.set_var("B", "b").unwrap();
        d.set_var("B:append", "x").unwrap();
        for _ in 0..2 {
            // The second round reads from the expansion cache.
            let lent = d.with_var("A", |v| v.cloned()).unwrap();
            assert_eq!(lent, d.get_var("A").unwrap());
            assert_eq!(lent, Some(Value::from("bx-a")));
        }
        assert_eq!(d.with_var("UNSET", |v| v.cloned()).unwrap(), None);
    }

    #[test]
    fn push_unique_appends_once_and_leaves_the_layers_below_alone() {
        let list = |d: &DataStore| super::list(d.get_var_raw("L").unwrap());
        let base = DataStore::new();
        base.push_unique("L", Value::from("a")).unwrap();
        let copy = base.create_copy();
        // The first push to a list of a layer below copies it; later ones grow the copy.
        for item in ["b", "a", "c", "b"] {
            copy.push_unique("L", Value::from(item)).unwrap();
        }
        assert_eq!(list(&copy), ["a", "b", "c"].map(Value::from));
        assert_eq!(list(&base), [Value::from("a")]);
        // A value that is not a plain list of the store's own goes through getVar/setVar.
        copy.set_var("L", "x").unwrap();
        copy.push_unique("L", Value::from("y")).unwrap();
        assert_eq!(list(&copy), [Value::from("y")]);
    }

    #[test]
    fn whitespace_split_keeps_separators() {
        assert_eq!(
            split_keep_whitespace("a b  c"),
            ["a", " ", "b", " ", "", " ", "c"]
        );
    }
}
