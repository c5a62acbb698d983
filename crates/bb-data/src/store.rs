//! The datastore: BitBake's `DataSmart`, rule for rule.

use std::cell::RefCell;
use std::collections::BTreeSet;

// Variable names are looked up through many layers on every read: FxHash is several
// times cheaper than SipHash for such short keys.
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::fmt;
use std::rc::Rc;
use std::sync::Arc;

use indexmap::IndexMap;

use crate::expand::{self, Parsed};
use crate::history::{Event, Origin, VariableHistory};
use crate::{DataError, ExpansionError, InlinePython, LogLevel, LogRecord, Value};

/// One variable: its value (`_content`) and its flags, in insertion order, as BitBake's
/// per-variable dict. `:append`/`:prepend`/`:remove` are flags holding `[value, override]`
/// pairs; no entries marks a deleted variable, which hides the variable of a parent store.
///
/// A vector searched from the front, not a hash map: most variables have one to five
/// entries, where comparing names is cheaper than hashing them, and a vector is one
/// allocation where a map is two. A/B on oe-core's cold parse: 6.68 → 6.49 CPU-s.
///
/// Names and values are shared, as in python's shallow `copy.copy` of the dict: a variable
/// is copied on its first write in a store that inherited it (setting one flag of a task
/// copies its body, say), and a value is copied only when changed in place.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct VarData(Vec<(Arc<str>, Arc<Value>)>);

impl VarData {
    fn position(&self, flag: &str) -> Option<usize> {
        self.0.iter().position(|(name, _)| &**name == flag)
    }

    pub(crate) fn get(&self, flag: &str) -> Option<&Value> {
        self.0
            .iter()
            .find(|(name, _)| &**name == flag)
            .map(|(_, value)| &**value)
    }

    /// The value of `flag`, shared: kept past the borrow of its store.
    fn get_shared(&self, flag: &str) -> Option<Arc<Value>> {
        self.0
            .iter()
            .find(|(name, _)| &**name == flag)
            .map(|(_, value)| Arc::clone(value))
    }

    pub(crate) fn contains_key(&self, flag: &str) -> bool {
        self.position(flag).is_some()
    }

    /// Sets `flag`, keeping its place when it is there already.
    pub(crate) fn insert(&mut self, flag: &str, value: Value) {
        match self.position(flag) {
            Some(i) => self.0[i].1 = Arc::new(value),
            None => self.0.push((flag.into(), Arc::new(value))),
        }
    }

    /// Removes `flag`, keeping the order of the others.
    pub(crate) fn shift_remove(&mut self, flag: &str) -> Option<Value> {
        self.position(flag)
            .map(|i| Arc::unwrap_or_clone(self.0.remove(i).1))
    }

    /// `flag`'s value to change in place, set to `make()` first when there is none.
    pub(crate) fn get_or_insert_with(
        &mut self,
        flag: &str,
        make: impl FnOnce() -> Value,
    ) -> &mut Value {
        let i = match self.position(flag) {
            Some(i) => i,
            None => {
                self.0.push((flag.into(), Arc::new(make())));
                self.0.len() - 1
            }
        };
        Arc::make_mut(&mut self.0[i].1)
    }

    /// The only entry's value to change in place, when it is `flag`.
    fn only_mut(&mut self, flag: &str) -> Option<&mut Value> {
        match &mut self.0[..] {
            [(name, value)] if &**name == flag => Some(Arc::make_mut(value)),
            _ => None,
        }
    }

    pub(crate) fn clear(&mut self) {
        self.0.clear();
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.0.iter().map(|(name, value)| (&**name, &**value))
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

const CONTENT: &str = "_content";
const DEFAULTVAL: &str = "_defaultval";
const SETVAR_KEYWORDS: [&str; 3] = [":append", ":prepend", ":remove"];

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

/// One override variant: (variant name, override). Shared strings: a store's first
/// change to a variable's variants copies the list it inherited, and lists such as
/// `FILES`' are long.
type Variant = (Arc<str>, Arc<str>);

/// The override variants of a variable.
type Variants = Arc<Vec<Variant>>;

/// BitBake's `overridedata`: variable → its override variants. A copy shares the table of
/// the store it was made from and keeps its own changes apart (a variable removed maps to
/// `None`): every recipe starts from the base configuration's thousands of entries and
/// changes a few.
#[derive(Debug, Clone, Default)]
struct OverrideData {
    shared: Arc<HashMap<Arc<str>, Variants>>,
    own: HashMap<Arc<str>, Option<Variants>>,
}

impl OverrideData {
    fn get(&self, var: &str) -> Option<&Variants> {
        match self.own.get(var) {
            Some(own) => own.as_ref(),
            None => self.shared.get(var),
        }
    }

    fn contains_key(&self, var: &str) -> bool {
        self.get(var).is_some()
    }

    fn insert(&mut self, var: &str, variants: Variants) {
        self.own.insert(var.into(), Some(variants));
    }

    fn remove(&mut self, var: &str) {
        if self.contains_key(var) {
            self.own.insert(var.into(), None);
        }
    }

    /// `var`'s variants to change in place (none yet: an empty list).
    fn variants_mut(&mut self, var: &str) -> &mut Vec<Variant> {
        if !self.own.contains_key(var) {
            let shared = self.shared.get(var).cloned();
            self.own.insert(var.into(), shared);
        }
        let slot = self.own.get_mut(var).expect("just inserted");
        Arc::make_mut(slot.get_or_insert_with(Variants::default))
    }

    fn iter(&self) -> impl Iterator<Item = (&str, &Variants)> {
        let own = self
            .own
            .iter()
            .filter_map(|(var, variants)| Some((&**var, variants.as_ref()?)));
        let shared = self
            .shared
            .iter()
            .filter(|(var, _)| !self.own.contains_key(&**var))
            .map(|(var, variants)| (&**var, variants));
        own.chain(shared)
    }

    /// Before a freeze: the own changes are folded into a new shared table once they are
    /// many (the base configuration's), and kept apart while they are few (a recipe's).
    fn fold_when_many(&mut self) {
        if self.own.len() * 8 <= self.shared.len() {
            return;
        }
        let mut merged = (*self.shared).clone();
        for (var, variants) in self.own.drain() {
            match variants {
                Some(variants) => merged.insert(var, variants),
                None => merged.remove(&var),
            };
        }
        self.shared = Arc::new(merged);
    }
}

/// A frozen layer of variables shared by every copy made from it. `Send + Sync`, so one
/// base configuration can serve recipe stores on every thread.
#[derive(Debug, Default)]
pub struct Frozen {
    vars: HashMap<String, VarData>,
    parent: Option<Arc<Frozen>>,
    overridedata: OverrideData,
    overridevars: HashSet<String>,
    renames: HashMap<String, String>,
    filters: HashMap<String, String>,
    history: Option<VariableHistory>,
    /// The names in `vars` holding `${`, found once: `expandKeys` of every recipe needs
    /// only them.
    templated_names: std::sync::OnceLock<Vec<String>>,
}

/// Layers are equal only to themselves: a value holding a datastore compares by identity.
impl PartialEq for Frozen {
    fn eq(&self, other: &Frozen) -> bool {
        std::ptr::eq(self, other)
    }
}

impl Eq for Frozen {}

impl Frozen {
    fn find(&self, var: &str) -> Option<&VarData> {
        let mut layer = Some(self);
        while let Some(current) = layer {
            if let Some(data) = current.vars.get(var) {
                return Some(data);
            }
            layer = current.parent.as_deref();
        }
        None
    }
}

struct Inner {
    local: HashMap<String, VarData>,
    parent: Option<Arc<Frozen>>,
    overridedata: OverrideData,
    overridevars: HashSet<String>,
    overrides: Option<Vec<String>>,
    overridesset: HashSet<String>,
    inoverride: bool,
    expand_cache: HashMap<String, Rc<Parsed>>,
    /// Reads in progress, with the state they started in (inside `need_overrides`, the
    /// overrides generation): a read that needs itself in the same state never ends.
    reading: Vec<(String, bool, u64)>,
    /// How many entries of `reading` are reads in progress (the rest are spare).
    reading_depth: usize,
    /// Bumped whenever the active overrides change.
    overrides_generation: u64,
    renames: HashMap<String, String>,
    filters: HashMap<String, String>,
    history: Option<VariableHistory>,
    /// Set while an operation that BitBake makes with `ignore=True` runs: nothing of it is
    /// recorded (its caller recorded the operation itself).
    ignore_history: bool,
    /// How many layers at the top of `parent` hold this store's own variables, frozen
    /// away by `freeze`: BitBake's store keeps them in its own dict (`localkeys`).
    own_layers: usize,
}

impl Inner {
    fn find(&self, var: &str) -> Option<&VarData> {
        self.local
            .get(var)
            .or_else(|| self.parent.as_deref().and_then(|p| p.find(var)))
    }

    /// The override variant of a variable that wins: BitBake peels the overrides off the
    /// active variants in OVERRIDES order, so the rightmost override wins.
    fn override_winner(&self, variants: &[Variant]) -> Option<String> {
        // A python dict in insertion order: override text -> variant name.
        let mut active: Vec<(String, String)> = Vec::new();
        let insert = |active: &mut Vec<(String, String)>, key: String, target: String| match active
            .iter_mut()
            .find(|(k, _)| *k == key)
        {
            Some(entry) => entry.1 = target,
            None => active.push((key, target)),
        };
        for (r, o) in variants {
            if override_active(o, &self.overridesset) {
                insert(&mut active, o.to_string(), r.to_string());
            }
        }
        let overrides = self.overrides.as_deref().unwrap_or_default();
        let mut winner = None;
        let mut changed = true;
        while changed && !active.is_empty() {
            changed = false;
            for o in overrides {
                // Only a key ending in `o` can be peeled or win.
                if !active.iter().any(|(key, _)| key.ends_with(o.as_str())) {
                    continue;
                }
                let suffix = format!(":{o}");
                for (key, target) in active.clone() {
                    if key.ends_with(&suffix) {
                        active.retain(|(k, _)| *k != key);
                        insert(&mut active, key.replace(&suffix, ""), target);
                        changed = true;
                    } else if key == *o {
                        winner = Some(target);
                        active.retain(|(k, _)| *k != key);
                    }
                }
            }
        }
        winner
    }

    /// The names of the variables this store holds (not deleted) whose data `wanted`
    /// accepts: each name once, judged by its nearest layer.
    fn visible_vars<'a>(
        &'a self,
        wanted: impl Fn(&VarData) -> bool + 'a,
    ) -> impl Iterator<Item = &'a String> {
        let mut layers: Vec<&HashMap<String, VarData>> = vec![&self.local];
        let mut parent = self.parent.as_deref();
        while let Some(layer) = parent {
            layers.push(&layer.vars);
            parent = layer.parent.as_deref();
        }
        let mut seen: HashSet<&str> = HashSet::default();
        layers
            .into_iter()
            .flatten()
            .filter(move |(key, data)| seen.insert(key) && !data.is_empty() && wanted(data))
            .map(|(key, _)| key)
    }

    /// BitBake's `_makeShadowCopy`: the variable becomes local, copied from a parent.
    fn local_mut(&mut self, var: &str) -> &mut VarData {
        if !self.local.contains_key(var) {
            let copied = self
                .parent
                .as_deref()
                .and_then(|p| p.find(var))
                .cloned()
                .unwrap_or_default();
            self.local.insert(var.to_owned(), copied);
        }
        self.local.get_mut(var).expect("just inserted")
    }

    /// Variables named as `wanted` says that exist (also) through an active override
    /// variant.
    fn overridden_keys<'a>(
        &'a self,
        wanted: impl Fn(&str) -> bool + 'a,
    ) -> impl Iterator<Item = &'a str> {
        self.overridedata.iter().filter_map(move |(var, variants)| {
            (wanted(var)
                && variants
                    .iter()
                    .any(|(_, o)| override_active(o, &self.overridesset)))
            .then_some(var)
        })
    }

    /// Records the event `make` builds, only when history is kept (building one costs a
    /// string of the value).
    fn record(&mut self, make: impl FnOnce() -> Event) {
        if self.ignore_history {
            return;
        }
        if let Some(history) = &mut self.history {
            history.record(make());
        }
    }
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

/// Options of a read (BitBake's `getVarFlag` keyword arguments).
#[derive(Debug, Clone, Copy)]
struct Read {
    expand: bool,
    noweakdefault: bool,
    parsing: bool,
    retparser: bool,
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

    // ----- writing -----------------------------------------------------------------

    /// `d.setVar(var, value)` from python: pending `:append`/`:prepend`/`:remove` and
    /// active override variants of `var` are dropped.
    pub fn set_var(&self, var: &str, value: impl Into<Value>) -> Result<(), DataError> {
        self.set_var_full(var, value.into(), false, None, "set")
    }

    /// An assignment from a metadata file (`parsing=True`): pending operations are kept.
    pub fn set_var_parsing(
        &self,
        var: &str,
        value: impl Into<Value>,
        origin: Option<&Origin>,
        op: &str,
    ) -> Result<(), DataError> {
        self.set_var_full(var, value.into(), true, origin, op)
    }

    /// `setVar` with everything BitBake's callers pass: `parsing`, the origin, the history
    /// op name and the detail shown in the history (the text written; for `+=` only the
    /// appended part).
    pub fn set_var_logged(
        &self,
        var: &str,
        value: Value,
        parsing: bool,
        origin: Option<&Origin>,
        op: &str,
        detail: &str,
    ) -> Result<(), DataError> {
        self.with_detail(detail, || {
            self.set_var_full(var, value, parsing, origin, op)
        })
    }

    fn set_var_full(
        &self,
        var: &str,
        value: Value,
        parsing: bool,
        origin: Option<&Origin>,
        op: &str,
    ) -> Result<(), DataError> {
        if !var.starts_with("__anon_")
            && ["_append", "_prepend", "_remove"]
                .iter()
                .any(|k| var.contains(k))
        {
            let mut info = var.to_owned();
            if let Some(origin) = origin {
                info.push_str(&format!(" file: {} line: {}", origin.file, origin.line));
            }
            return Err(DataError::Fatal(format!(
                "Variable {info} contains an operation using the old override syntax. Please convert this layer/metadata before attempting to use with a newer bitbake."
            )));
        }
        let shortvar = var.split(':').next().unwrap_or(var);
        self.check_renamed(shortvar, var, origin)?;

        if let Some((base, keyword, override_)) = split_setvar_keyword(var) {
            let mut inner = self.inner.borrow_mut();
            Self::clear_expand_cache(&mut inner);
            let entry = Value::List(vec![
                value.clone(),
                override_.map_or(Value::None, |o| Value::Str(o.to_owned())),
            ]);
            let data = inner.local_mut(base);
            match data.get_or_insert_with(keyword, || Value::List(Vec::new())) {
                Value::List(list) => list.push(entry),
                other => *other = Value::List(vec![entry]),
            }
            let op = match override_ {
                Some(o) => format!("{keyword}[{o}]"),
                None => keyword.to_owned(),
            };
            inner.record(|| Event::new(base, &op, origin, self.history_detail(&value), None));
            Self::update_overrides(&mut inner, base);
            let is_override_var = inner.overridevars.contains(base);
            drop(inner);
            if is_override_var {
                self.update_overridevars(var, &value)?;
            }
            return Ok(());
        }

        // BitBake clears the expansion cache before looking at active override variants,
        // which may fill it again; it is not cleared after the value is stored.
        Self::clear_expand_cache(&mut self.inner.borrow_mut());
        if !parsing {
            self.drop_pending_operations(var)?;
        }
        let mut inner = self.inner.borrow_mut();
        if var.contains(':') {
            Self::update_overrides(&mut inner, var);
        }
        inner.record(|| Event::new(var, op, origin, self.history_detail(&value), None));
        // The value moves into the store: a copy only for the rare variable OVERRIDES
        // depends on (lists like `__depends` grow to hundreds of entries).
        let override_var_value = inner.overridevars.contains(var).then(|| value.clone());
        inner.local_mut(var).insert(CONTENT, value);
        drop(inner);
        if let Some(value) = override_var_value {
            self.update_overridevars(var, &value)?;
        }
        Ok(())
    }

    /// `l = d.getVar(var, False) or []; if entry not in l: l.append(entry);
    /// d.setVar(var, l)`, as BitBake keeps `__depends`. A list the store holds as a plain
    /// value of its own grows in place; anything else goes the long way.
    pub fn push_unique(&self, var: &str, entry: Value) -> Result<(), DataError> {
        {
            let mut inner = self.inner.borrow_mut();
            let plain = inner.history.is_none()
                && !inner.overridedata.contains_key(var)
                && !inner.overridevars.contains(var)
                && !inner.renames.contains_key(var)
                && !var.contains(':');
            if plain
                && let Some(data) = inner.local.get_mut(var)
                && let Some(Value::List(list)) = data.only_mut(CONTENT)
            {
                if !list.contains(&entry) {
                    list.push(entry);
                    Self::clear_expand_cache(&mut inner);
                }
                return Ok(());
            }
        }
        let mut list = crate::value::list(self.get_var_raw(var)?);
        if !list.contains(&entry) {
            list.push(entry);
            self.set_var(var, Value::List(list))?;
        }
        Ok(())
    }

    fn check_renamed(
        &self,
        shortvar: &str,
        fullvar: &str,
        origin: Option<&Origin>,
    ) -> Result<(), DataError> {
        let renamed = self.inner.borrow().renames.get(shortvar).cloned();
        let Some(renamed) = renamed else {
            return Ok(());
        };
        let mut info = String::new();
        if let Some(origin) = origin {
            info = format!("file: {} line: {}", origin.file, origin.line);
        }
        if fullvar != shortvar {
            info = format!("{info} referenced as: {fullvar}").trim().to_owned();
        }
        let info = if info.is_empty() {
            String::new()
        } else {
            format!(" ({info})")
        };
        let message = if renamed.contains(' ') {
            format!("Variable {shortvar} {renamed}{info}")
        } else {
            format!("Variable {shortvar} has been renamed to {renamed}{info}")
        };
        self.log(LogLevel::Error, message);
        // BitBake logs the error, marks the parse as failed, and goes on.
        self.set_var("_FAILPARSINGERRORHANDLED", true)
    }

    /// `setVar` without `parsing`: drop `:append`/`:prepend`/`:remove` and the override
    /// variants that are active now.
    fn drop_pending_operations(&self, var: &str) -> Result<(), DataError> {
        let variants = {
            let mut inner = self.inner.borrow_mut();
            let has_pending = inner
                .find(var)
                .is_some_and(|d| SETVAR_KEYWORDS.iter().any(|k| d.contains_key(k)));
            if has_pending {
                let data = inner.local_mut(var);
                for keyword in SETVAR_KEYWORDS {
                    data.shift_remove(keyword);
                }
            }
            inner.overridedata.get(var).cloned()
        };
        if let Some(variants) = variants {
            self.need_overrides()?;
            let active: Vec<String> = {
                let inner = self.inner.borrow();
                variants
                    .iter()
                    .filter(|(_, o)| override_active(o, &inner.overridesset))
                    .map(|(r, _)| r.to_string())
                    .collect()
            };
            for name in active {
                self.del_var(&name);
            }
            self.inner.borrow_mut().overridedata.remove(var);
        }
        Ok(())
    }

    /// Indexes `VAR:o1:o2` under `VAR:o1` and `VAR` while each suffix looks like an
    /// override (`[a-z0-9]` first).
    fn update_overrides(inner: &mut Inner, var: &str) {
        for (shortvar, override_) in override_indexes(var) {
            let known = inner
                .overridedata
                .get(shortvar)
                .is_some_and(|list| list.iter().any(|(v, o)| &**v == var && &**o == override_));
            if !known {
                inner
                    .overridedata
                    .variants_mut(shortvar)
                    .push((var.into(), override_.into()));
            }
        }
    }

    /// Variables that OVERRIDES depends on: changing one of them resets the overrides.
    fn update_overridevars(&self, var: &str, value: &Value) -> Result<(), DataError> {
        let parsed = self.expand_with_refs(Some(Arc::new(value.clone())), Some(var))?;
        let mut new: BTreeSet<String> = parsed.references;
        loop {
            let fresh: Vec<String> = {
                let inner = self.inner.borrow();
                new.iter()
                    .filter(|v| !inner.overridevars.contains(*v))
                    .cloned()
                    .collect()
            };
            if fresh.is_empty() {
                break;
            }
            self.inner
                .borrow_mut()
                .overridevars
                .extend(fresh.iter().cloned());
            let mut next = BTreeSet::new();
            for name in &new {
                let value = self.get_var_flag_full(name, CONTENT, Read::plain(true))?.0;
                next.extend(
                    self.expand_with_refs(value.map(Arc::new), Some(name))?
                        .references,
                );
            }
            new = next;
        }
        let mut inner = self.inner.borrow_mut();
        inner.overrides = None;
        inner.overrides_generation += 1;
        Self::clear_expand_cache(&mut inner);
        Ok(())
    }

    /// What the history shows of a write of `value`: the value, unless the caller gave
    /// its own words ([`DataStore::with_detail`]).
    fn history_detail(&self, value: &Value) -> String {
        self.detail_override
            .borrow()
            .clone()
            .unwrap_or_else(|| value.to_string())
    }

    /// Runs a write whose history records `detail` instead of the value written.
    fn with_detail<T>(&self, detail: &str, write: impl FnOnce() -> T) -> T {
        // Without history the detail is never shown: no copy of it.
        if !self.is_tracking() {
            return write();
        }
        self.detail_override.replace(Some(detail.to_owned()));
        let result = write();
        self.detail_override.replace(None);
        result
    }

    /// `d.setVarFlag(var, flag, value)`.
    pub fn set_var_flag(
        &self,
        var: &str,
        flag: &str,
        value: impl Into<Value>,
    ) -> Result<(), DataError> {
        self.set_var_flag_full(var, flag, value.into(), None, "set")
    }

    /// A flag assignment from a metadata file, with its origin and history op name.
    pub fn set_var_flag_from(
        &self,
        var: &str,
        flag: &str,
        value: impl Into<Value>,
        origin: Option<&Origin>,
        op: &str,
    ) -> Result<(), DataError> {
        self.set_var_flag_full(var, flag, value.into(), origin, op)
    }

    /// `setVarFlag` with the history detail given explicitly.
    pub fn set_var_flag_logged(
        &self,
        var: &str,
        flag: &str,
        value: Value,
        origin: Option<&Origin>,
        op: &str,
        detail: &str,
    ) -> Result<(), DataError> {
        self.with_detail(detail, || {
            self.set_var_flag_full(var, flag, value, origin, op)
        })
    }

    fn set_var_flag_full(
        &self,
        var: &str,
        flag: &str,
        value: Value,
        origin: Option<&Origin>,
        op: &str,
    ) -> Result<(), DataError> {
        if var == "BB_RENAMED_VARIABLES" {
            self.inner
                .borrow_mut()
                .renames
                .insert(flag.to_owned(), value.to_string());
        }
        self.check_renamed(var, var, origin)?;
        let mut inner = self.inner.borrow_mut();
        Self::clear_expand_cache(&mut inner);
        inner.record(|| {
            Event::new(
                var,
                op,
                origin,
                self.history_detail(&value),
                Some(flag.to_owned()),
            )
        });
        inner.local_mut(var).insert(flag, value.clone());
        if flag == DEFAULTVAL && var.contains(':') {
            Self::update_overrides(&mut inner, var);
        }
        let is_override_var = flag == DEFAULTVAL && inner.overridevars.contains(var);
        if flag == "export" || flag == "unexport" {
            let list = inner.local_mut("__exportlist");
            let mut names: BTreeSet<String> = match list.get(CONTENT) {
                Some(Value::List(items)) => items
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect(),
                _ => BTreeSet::new(),
            };
            names.insert(var.to_owned());
            list.insert(
                CONTENT,
                Value::List(names.into_iter().map(Value::Str).collect()),
            );
        }
        drop(inner);
        if is_override_var {
            self.update_overridevars(var, &value)?;
        }
        Ok(())
    }

    /// `d.delVar(var)`: the variable and its flags are gone (hiding any parent's).
    pub fn del_var(&self, var: &str) {
        self.del_var_from(var, None);
    }

    /// `delVar` from a metadata file (`unset`), recorded with its origin.
    pub fn del_var_from(&self, var: &str, origin: Option<&Origin>) {
        let mut inner = self.inner.borrow_mut();
        Self::clear_expand_cache(&mut inner);
        inner.record(|| Event::new(var, "del", origin, String::new(), None));
        inner.local.insert(var.to_owned(), VarData::default());
        inner.overridedata.remove(var);
        for (shortvar, override_) in override_indexes(var) {
            let listed = inner
                .overridedata
                .get(shortvar)
                .is_some_and(|list| list.iter().any(|(v, o)| &**v == var && &**o == override_));
            if listed {
                inner
                    .overridedata
                    .variants_mut(shortvar)
                    .retain(|(v, o)| !(&**v == var && &**o == override_));
            }
        }
    }

    /// `d.delVarFlag(var, flag)`.
    pub fn del_var_flag(&self, var: &str, flag: &str) {
        self.del_var_flag_from(var, flag, None);
    }

    /// `delVarFlag` recorded with the origin of the call.
    pub fn del_var_flag_from(&self, var: &str, flag: &str, origin: Option<&Origin>) {
        let mut inner = self.inner.borrow_mut();
        Self::clear_expand_cache(&mut inner);
        if inner.find(var).is_none() {
            return;
        }
        let data = inner.local_mut(var);
        if data.shift_remove(flag).is_some() {
            data.shift_remove(&format!("_defaultval_flag_{flag}"));
            inner.record(|| {
                Event::new(var, "delFlag", origin, String::new(), Some(flag.to_owned()))
            });
        }
    }

    /// Runs `write` without recording anything in the history: BitBake's `ignore=True`,
    /// for an operation whose caller records it in its own words.
    pub fn without_history<T>(&self, write: impl FnOnce() -> T) -> T {
        let before = std::mem::replace(&mut self.inner.borrow_mut().ignore_history, true);
        let result = write();
        self.inner.borrow_mut().ignore_history = before;
        result
    }

    /// Records one history event (when tracking: its strings are made only then).
    fn record_event(
        &self,
        var: &str,
        op: impl fmt::Display,
        origin: Option<&Origin>,
        detail: impl fmt::Display,
        flag: Option<&str>,
    ) {
        self.inner.borrow_mut().record(|| {
            Event::new(
                var,
                &op.to_string(),
                origin,
                detail.to_string(),
                flag.map(str::to_owned),
            )
        });
    }

    /// `d.appendVar(var, value)`: an `:append` entry.
    pub fn append_var(&self, var: &str, value: &str) -> Result<(), DataError> {
        self.append_var_from(var, value, None)
    }

    /// `appendVar` recorded as BitBake does: one `append` event from `origin`.
    pub fn append_var_from(
        &self,
        var: &str,
        value: &str,
        origin: Option<&Origin>,
    ) -> Result<(), DataError> {
        self.add_to_var(var, value, origin, "append")
    }

    /// `d.prependVar(var, value)`: a `:prepend` entry.
    pub fn prepend_var(&self, var: &str, value: &str) -> Result<(), DataError> {
        self.prepend_var_from(var, value, None)
    }

    /// `prependVar` recorded as BitBake does: one `prepend` event from `origin`.
    pub fn prepend_var_from(
        &self,
        var: &str,
        value: &str,
        origin: Option<&Origin>,
    ) -> Result<(), DataError> {
        self.add_to_var(var, value, origin, "prepend")
    }

    /// An `:append` or `:prepend` entry (`op`), recorded as one event.
    fn add_to_var(
        &self,
        var: &str,
        value: &str,
        origin: Option<&Origin>,
        op: &str,
    ) -> Result<(), DataError> {
        self.record_event(var, op, origin, value, None);
        self.without_history(|| {
            self.set_var_full(&format!("{var}:{op}"), Value::from(value), true, origin, op)
        })
    }

    /// `d.appendVarFlag(var, flag, value)`.
    pub fn append_var_flag(&self, var: &str, flag: &str, value: &str) -> Result<(), DataError> {
        self.append_var_flag_from(var, flag, value, None)
    }

    /// `appendVarFlag` recorded as BitBake does: an `append` event with the added part.
    pub fn append_var_flag_from(
        &self,
        var: &str,
        flag: &str,
        value: &str,
        origin: Option<&Origin>,
    ) -> Result<(), DataError> {
        self.add_to_var_flag(var, flag, value, origin, "append")
    }

    /// `d.prependVarFlag(var, flag, value)`.
    pub fn prepend_var_flag(&self, var: &str, flag: &str, value: &str) -> Result<(), DataError> {
        self.prepend_var_flag_from(var, flag, value, None)
    }

    /// `prependVarFlag` recorded as BitBake does: a `prepend` event with the added part.
    pub fn prepend_var_flag_from(
        &self,
        var: &str,
        flag: &str,
        value: &str,
        origin: Option<&Origin>,
    ) -> Result<(), DataError> {
        self.add_to_var_flag(var, flag, value, origin, "prepend")
    }

    /// A flag's value with `value` added after (`append`) or before (`prepend`), recorded
    /// as one event naming the added part.
    fn add_to_var_flag(
        &self,
        var: &str,
        flag: &str,
        value: &str,
        origin: Option<&Origin>,
        op: &str,
    ) -> Result<(), DataError> {
        self.record_event(var, op, origin, value, Some(flag));
        let old = self
            .get_var_flag(var, flag, false)?
            .map(Value::into_string)
            .unwrap_or_default();
        let new = if op == "prepend" {
            value.to_owned() + &old
        } else {
            old + value
        };
        self.without_history(|| self.set_var_flag_full(var, flag, Value::Str(new), origin, op))
    }

    /// `d.renameVar(key, newkey)`: value, pending operations and override variants move.
    pub fn rename_var(&self, key: &str, newkey: &str) -> Result<(), DataError> {
        self.rename_var_from(key, newkey, None)
    }

    /// `renameVar` recorded as BitBake does: `newkey` gets `key`'s history and a
    /// `rename from KEY` event, `key` a `rename (to)` event, both from `origin`.
    pub fn rename_var_from(
        &self,
        key: &str,
        newkey: &str,
        origin: Option<&Origin>,
    ) -> Result<(), DataError> {
        if key == newkey {
            self.log(
                LogLevel::Warning,
                format!("Calling renameVar with equivalent keys ({key}) is invalid"),
            );
            return Ok(());
        }
        let mut found = false;
        let value = self
            .get_var_flag_full(
                key,
                CONTENT,
                Read {
                    expand: false,
                    noweakdefault: false,
                    parsing: true,
                    retparser: false,
                },
            )?
            .0;
        if let Some(value) = &value {
            {
                let mut inner = self.inner.borrow_mut();
                if !inner.ignore_history
                    && let Some(history) = &mut inner.history
                {
                    history.copy_events(key, newkey);
                }
            }
            self.record_event(
                newkey,
                format_args!("rename from {key}"),
                origin,
                value,
                None,
            );
            self.without_history(|| {
                self.set_var_full(newkey, value.clone(), true, origin, "rename")
            })?;
            found = true;
        }
        let pending: Vec<(String, Value)> = self
            .inner
            .borrow()
            .find(key)
            .map(|d| {
                SETVAR_KEYWORDS
                    .iter()
                    .filter_map(|k| d.get(k).map(|v| (k.to_string(), v.clone())))
                    .collect()
            })
            .unwrap_or_default();
        for (keyword, entries) in pending {
            let mut inner = self.inner.borrow_mut();
            Self::clear_expand_cache(&mut inner);
            // Assigning an existing flag keeps its place, as in a python dict.
            let slot = inner
                .local_mut(newkey)
                .get_or_insert_with(&keyword, || Value::List(Vec::new()));
            if !matches!(slot, Value::List(_)) {
                *slot = Value::List(Vec::new());
            }
            if let (Value::List(list), Value::List(entries)) = (slot, entries) {
                list.extend(entries);
            }
            found = true;
        }
        let variants = self.inner.borrow().overridedata.get(key).cloned();
        if let Some(variants) = variants {
            found = true;
            let renamed: Vec<Variant> = variants
                .iter()
                .map(|(v, o)| (v.replace(key, newkey).into(), o.clone()))
                .collect();
            self.inner
                .borrow_mut()
                .overridedata
                .insert(newkey, Arc::new(renamed));
            for (v, _) in variants.iter() {
                self.rename_var_from(v, &v.replace(key, newkey), origin)?;
            }
        }
        if !found {
            return Ok(());
        }
        if newkey.contains(':') && value.is_none() {
            Self::update_overrides(&mut self.inner.borrow_mut(), newkey);
        }
        self.record_event(key, "rename (to)", origin, newkey, None);
        self.without_history(|| self.del_var(key));
        Ok(())
    }

    // ----- reading -----------------------------------------------------------------

    /// `d.getVar(var)`: overrides, appends and removes applied, fully expanded.
    pub fn get_var(&self, var: &str) -> Result<Option<Value>, DataError> {
        Ok(self.get_var_flag_full(var, CONTENT, Read::plain(true))?.0)
    }

    /// `d.getVar(var, expand, noweakdefault, parsing)` with every option.
    pub fn get_var_with(
        &self,
        var: &str,
        expand: bool,
        noweakdefault: bool,
        parsing: bool,
    ) -> Result<Option<Value>, DataError> {
        Ok(self
            .get_var_flag_full(
                var,
                CONTENT,
                Read {
                    expand,
                    noweakdefault,
                    parsing,
                    retparser: false,
                },
            )?
            .0)
    }

    /// `d.getVarFlag(var, flag, expand, noweakdefault)` with every option.
    pub fn get_var_flag_with(
        &self,
        var: &str,
        flag: &str,
        expand: bool,
        noweakdefault: bool,
    ) -> Result<Option<Value>, DataError> {
        Ok(self
            .get_var_flag_full(
                var,
                flag,
                Read {
                    expand,
                    noweakdefault,
                    parsing: false,
                    retparser: false,
                },
            )?
            .0)
    }

    /// Identifies the store (not the contents): two handles to one store share it.
    pub fn id(&self) -> usize {
        Rc::as_ptr(&self.inner) as *const () as usize
    }

    /// `d.getVar(var)` as a string (`None` when unset).
    pub fn get_var_str(&self, var: &str) -> Result<Option<String>, DataError> {
        Ok(self.get_var(var)?.map(Value::into_string))
    }

    /// `d.getVar(var, False)`: overrides and appends applied, not expanded, no removes.
    pub fn get_var_raw(&self, var: &str) -> Result<Option<Value>, DataError> {
        Ok(self.get_var_flag_full(var, CONTENT, Read::plain(false))?.0)
    }

    /// `d.getVar(var, False, noweakdefault=True, parsing=True)`: the base value only, as
    /// the `?=` and `+=` operators see it.
    pub fn get_var_base(&self, var: &str) -> Result<Option<Value>, DataError> {
        Ok(self
            .get_var_flag_full(
                var,
                CONTENT,
                Read {
                    expand: false,
                    noweakdefault: true,
                    parsing: true,
                    retparser: false,
                },
            )?
            .0)
    }

    /// `d.getVarFlag(var, flag, expand)`.
    pub fn get_var_flag(
        &self,
        var: &str,
        flag: &str,
        expand: bool,
    ) -> Result<Option<Value>, DataError> {
        Ok(self.get_var_flag_full(var, flag, Read::plain(expand))?.0)
    }

    /// `d.getVarFlag(var, flag, False, retparser=True)`: the unexpanded value and its
    /// expansion.
    pub(crate) fn get_var_flag_parsed(
        &self,
        var: &str,
        flag: &str,
    ) -> Result<(Option<Value>, Rc<Parsed>), DataError> {
        let read = Read {
            retparser: true,
            ..Read::plain(false)
        };
        let (value, parsed) = self.get_var_flag_full(var, flag, read)?;
        Ok((value, parsed.unwrap_or_default()))
    }

    /// `d.getVarFlag(var, flag, expand=False, noweakdefault=True)`: ignores `??=` defaults.
    pub fn get_var_flag_no_default(
        &self,
        var: &str,
        flag: &str,
    ) -> Result<Option<Value>, DataError> {
        Ok(self
            .get_var_flag_full(
                var,
                flag,
                Read {
                    expand: false,
                    noweakdefault: true,
                    parsing: false,
                    retparser: false,
                },
            )?
            .0)
    }

    /// `d.getVarFlags(var, internalflags=True)`: every flag, internal ones included.
    pub fn get_var_flags_internal(&self, var: &str) -> IndexMap<String, Value> {
        self.inner
            .borrow()
            .find(var)
            .map(|data| {
                data.iter()
                    .map(|(k, v)| (k.to_owned(), v.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// `d.delVarFlags(var)`: all flags go, the value stays.
    pub fn del_var_flags(&self, var: &str) {
        let mut inner = self.inner.borrow_mut();
        Self::clear_expand_cache(&mut inner);
        if inner.find(var).is_none() {
            return;
        }
        let data = inner.local_mut(var);
        let content = data.shift_remove(CONTENT);
        data.clear();
        if let Some(content) = content {
            data.insert(CONTENT, content);
        }
    }

    /// `d.getVarFlags(var)`: the user-visible flags (internal `_`/`:` ones left out,
    /// `??=` flag defaults shown where no value is set). Unexpanded.
    pub fn get_var_flags(&self, var: &str) -> IndexMap<String, Value> {
        let inner = self.inner.borrow();
        let mut flags = IndexMap::new();
        if let Some(data) = inner.find(var) {
            for (name, value) in data.iter() {
                if let Some(flag) = name.strip_prefix("_defaultval_flag_") {
                    if !data.contains_key(flag) {
                        flags.insert(flag.to_owned(), value.clone());
                    }
                } else if !name.starts_with(['_', ':']) {
                    flags.insert(name.to_owned(), value.clone());
                }
            }
        }
        flags
    }

    /// Whether `var` exists in this store (possibly with no value).
    pub fn contains(&self, var: &str) -> bool {
        self.inner.borrow().find(var).is_some_and(|d| !d.is_empty())
    }

    /// `d.expand(s)`.
    pub fn expand(&self, s: &str) -> Result<String, DataError> {
        Ok(self
            .expand_with_refs(Some(Arc::new(Value::Str(s.to_owned()))), None)?
            .value
            .map(Value::into_string)
            .unwrap_or_default())
    }

    /// `d.expand(s, varname)`: self-references of `varname` are errors.
    pub fn expand_named(&self, s: &str, varname: &str) -> Result<String, DataError> {
        Ok(self
            .expand_with_refs(Some(Arc::new(Value::Str(s.to_owned()))), Some(varname))?
            .value
            .map(Value::into_string)
            .unwrap_or_default())
    }

    /// The keys of the store, as `iter(d)`: every variable not deleted, plus variables
    /// that only exist through an active override.
    pub fn keys(&self) -> Result<Vec<String>, DataError> {
        self.need_overrides()?;
        let inner = self.inner.borrow();
        // Sorted and unique; one sort of a vector is cheaper than a tree of ~10k keys.
        let mut keys: Vec<String> = inner.visible_vars(|_| true).cloned().collect();
        keys.extend(inner.overridden_keys(|_| true).map(str::to_owned));
        keys.sort_unstable();
        keys.dedup();
        Ok(keys)
    }

    /// `[k for k in d.keys() if d.getVarFlag(k, flag)]` (expanded), in that order, looking
    /// only at the variables that hold the flag or its weak default: a key made only by
    /// overrides has no flags of its own. `bb.build` lists a recipe's tasks so.
    pub fn keys_with_flag(&self, flag: &str) -> Result<Vec<String>, DataError> {
        self.need_overrides()?;
        let weak_default = format!("_defaultval_flag_{flag}");
        let candidates: BTreeSet<String> = self
            .inner
            .borrow()
            .visible_vars(|data| data.contains_key(flag) || data.contains_key(&weak_default))
            .cloned()
            .collect();
        let mut keys = Vec::new();
        for key in candidates {
            if self
                .get_var_flag_with(&key, flag, true, false)?
                .is_some_and(|v| v.is_truthy())
            {
                keys.push(key);
            }
        }
        Ok(keys)
    }

    /// The keys of [`DataStore::keys`] that contain `${`, found without listing every key.
    fn templated_keys(&self) -> Result<Vec<String>, DataError> {
        self.need_overrides()?;
        let inner = self.inner.borrow();
        let mut candidates: BTreeSet<&str> = inner
            .local
            .keys()
            .filter(|k| k.contains("${"))
            .map(String::as_str)
            .collect();
        let mut parent = inner.parent.as_deref();
        while let Some(layer) = parent {
            let names = layer.templated_names.get_or_init(|| {
                layer
                    .vars
                    .keys()
                    .filter(|k| k.contains("${"))
                    .cloned()
                    .collect()
            });
            candidates.extend(names.iter().map(String::as_str));
            parent = layer.parent.as_deref();
        }
        let mut keys: BTreeSet<String> = candidates
            .into_iter()
            .filter(|k| inner.find(k).is_some_and(|d| !d.is_empty()))
            .map(str::to_owned)
            .collect();
        keys.extend(
            inner
                .overridden_keys(|k| k.contains("${"))
                .map(str::to_owned),
        );
        Ok(keys.into_iter().collect())
    }

    /// Whether override variants of `var` exist (`d.hasOverrides`).
    pub fn has_overrides(&self, var: &str) -> bool {
        self.inner.borrow().overridedata.contains_key(var)
    }

    /// Keys set in this store itself, not inherited from a parent (`d.localkeys()`).
    pub fn local_keys(&self) -> Vec<String> {
        let inner = self.inner.borrow();
        let mut keys: BTreeSet<String> = inner.local.keys().cloned().collect();
        let mut layer = inner.parent.as_deref();
        for _ in 0..inner.own_layers {
            let Some(current) = layer else { break };
            keys.extend(current.vars.keys().cloned());
            layer = current.parent.as_deref();
        }
        keys.into_iter().collect()
    }

    /// `d.expandVarref(variable)`: in every local variable, `${variable}` is replaced by
    /// the variable's unexpanded value (used for `LAYERDIR`).
    pub fn expand_var_ref(&self, variable: &str) -> Result<(), DataError> {
        let reference = format!("${{{variable}}}");
        let value = self
            .get_var_raw(variable)?
            .map(Value::into_string)
            .unwrap_or_default();
        for key in self.local_keys() {
            if let Some(Value::Str(referrer)) = self.get_var_raw(&key)?
                && referrer.contains(&reference)
            {
                self.set_var(&key, referrer.replace(&reference, &value))?;
            }
        }
        Ok(())
    }

    /// The active overrides (`OVERRIDES` split on `:`, after the fixpoint).
    pub fn overrides(&self) -> Result<Vec<String>, DataError> {
        self.need_overrides()?;
        Ok(self.inner.borrow().overrides.clone().unwrap_or_default())
    }

    /// BitBake's `need_overrides`: expand OVERRIDES until stable, at most 5 times.
    fn need_overrides(&self) -> Result<(), DataError> {
        {
            let inner = self.inner.borrow();
            if inner.overrides.is_some() || inner.inoverride {
                return Ok(());
            }
        }
        let split = |value: Option<Value>| -> Vec<String> {
            value
                .map(Value::into_string)
                .unwrap_or_default()
                .split(':')
                .map(str::to_owned)
                .collect()
        };
        let mut stack = Vec::new();
        for _ in 0..5 {
            {
                let mut inner = self.inner.borrow_mut();
                inner.inoverride = true;
                inner.overrides = Some(Vec::new());
                inner.overridesset.clear();
                inner.overrides_generation += 1;
            }
            let result = self.get_var_flag_full("OVERRIDES", CONTENT, Read::plain(true));
            let current = match result {
                Ok((value, _)) => split(value),
                Err(err) => {
                    let mut inner = self.inner.borrow_mut();
                    inner.inoverride = false;
                    inner.overrides = None;
                    return Err(err);
                }
            };
            {
                let mut inner = self.inner.borrow_mut();
                inner.overridesset = current.iter().cloned().collect();
                inner.overrides = Some(current.clone());
                inner.overrides_generation += 1;
                inner.inoverride = false;
                Self::clear_expand_cache(&mut inner);
            }
            stack.push(current.clone());
            let again = split(
                self.get_var_flag_full("OVERRIDES", CONTENT, Read::plain(true))?
                    .0,
            );
            let mut inner = self.inner.borrow_mut();
            if again == current {
                return Ok(());
            }
            inner.overridesset = again.iter().cloned().collect();
            inner.overrides = Some(again);
            inner.overrides_generation += 1;
        }
        Err(DataError::Fatal(format!(
            "Overrides could not be expanded into a stable state after 5 iterations, overrides must be being referenced by other overridden variables in some recursive fashion. The list of failing override expansions: {}",
            stack
                .iter()
                .map(|s| s.join(":"))
                .collect::<Vec<_>>()
                .join("\n")
        )))
    }

    /// BitBake's `getVarFlag`, with all its options. A read that needs its own result
    /// (`A = "${B}"`, `B = "${A}"`, or a `:remove` of `${A}` on A) is an expansion error
    /// naming the chain; BitBake reaches the same through python's recursion limit.
    fn get_var_flag_full(
        &self,
        var: &str,
        flag: &str,
        read: Read,
    ) -> Result<(Option<Value>, Option<Rc<Parsed>>), DataError> {
        let (raw, parsed) = self.read(var, flag, read)?;
        let value = match &parsed {
            Some(parsed) if read.expand => parsed.value.clone(),
            _ => raw.map(Arc::unwrap_or_clone),
        };
        Ok((value, parsed))
    }

    /// `d.getVar(var)` lent to `f`: a read the expansion cache holds is not copied.
    pub fn with_var<T>(
        &self,
        var: &str,
        f: impl FnOnce(Option<&Value>) -> T,
    ) -> Result<T, DataError> {
        self.with_var_flag(var, CONTENT, f)
    }

    /// `d.getVarFlag(var, flag)` lent to `f`, as [`DataStore::with_var`].
    pub fn with_var_flag<T>(
        &self,
        var: &str,
        flag: &str,
        f: impl FnOnce(Option<&Value>) -> T,
    ) -> Result<T, DataError> {
        let (_, parsed) = self.read(var, flag, Read::plain(true))?;
        Ok(f(parsed.as_ref().and_then(|p| p.value.as_ref())))
    }

    /// A read with its expansion (always there when `read.expand` or `read.retparser`),
    /// and the unexpanded value when it is not expanded. An expanded value is only in
    /// the expansion: a caller wanting its own copy makes it.
    fn read(&self, var: &str, flag: &str, read: Read) -> Result<RawAndParsed, DataError> {
        // Most reads are of content and hit the cache: they allocate nothing.
        let cachename: std::borrow::Cow<str> = if flag == CONTENT {
            var.into()
        } else {
            format!("{var}[{flag}]").into()
        };
        if !read.noweakdefault {
            let inner = self.inner.borrow();
            if let Some(cached) = inner.expand_cache.get(&*cachename) {
                if read.expand {
                    return Ok((None, Some(cached.clone())));
                }
                if read.retparser {
                    return Ok((cached.unexpanded.clone(), Some(cached.clone())));
                }
            }
        }
        {
            let mut inner = self.inner.borrow_mut();
            let Inner {
                reading,
                reading_depth,
                inoverride,
                overrides_generation,
                ..
            } = &mut *inner;
            let state = (*inoverride, *overrides_generation);
            let active = &reading[..*reading_depth];
            if active
                .iter()
                .any(|(n, o, g)| *n == *cachename && (*o, *g) == state)
            {
                let mut chain: Vec<&str> = active.iter().map(|(n, _, _)| n.as_str()).collect();
                chain.push(&cachename);
                let start = chain.iter().position(|n| **n == *cachename).unwrap_or(0);
                return Err(DataError::Expansion(crate::ExpansionError::new(
                    Some(&cachename),
                    None,
                    format!(
                        "variable {cachename} references itself (through {})",
                        chain[start..].join(" -> ")
                    ),
                )));
            }
            // The stack's entries keep their buffers for the next reads at that depth.
            match reading.get_mut(*reading_depth) {
                Some(entry) => {
                    entry.0.clear();
                    entry.0.push_str(&cachename);
                    (entry.1, entry.2) = state;
                }
                None => reading.push((cachename.to_string(), state.0, state.1)),
            }
            *reading_depth += 1;
        }
        let result = self.read_unguarded(var, flag, &cachename, read);
        self.inner.borrow_mut().reading_depth -= 1;
        result
    }

    fn read_unguarded(
        &self,
        var: &str,
        flag: &str,
        cachename: &str,
        read: Read,
    ) -> Result<RawAndParsed, DataError> {
        let content = flag == CONTENT;
        // Shared with the store until an append or prepend makes a new value.
        let mut value: Option<Arc<Value>> = None;
        let mut removes: BTreeSet<String> = BTreeSet::new();

        // An active override variant replaces the value (and carries its removes).
        if content && !read.parsing {
            let has_variants = self.inner.borrow().overridedata.contains_key(var);
            if has_variants {
                self.need_overrides()?;
                let winner = {
                    let inner = self.inner.borrow();
                    let variants = inner.overridedata.get(var);
                    variants.and_then(|variants| inner.override_winner(variants))
                };
                if let Some(winner) = winner {
                    let (winning, parsed) = self.read(
                        &winner,
                        CONTENT,
                        Read {
                            expand: false,
                            noweakdefault: false,
                            parsing: false,
                            retparser: true,
                        },
                    )?;
                    value = winning;
                    if let Some(carried) = parsed.and_then(|p| p.removes.clone()) {
                        removes = carried;
                    }
                }
            }
        }

        let (appends, prepends, local_removes) = {
            let inner = self.inner.borrow();
            let data = inner.find(var);
            if let Some(data) = data
                && value.is_none()
            {
                if let Some(v) = data.get_shared(flag) {
                    value = Some(v);
                } else if content && !read.noweakdefault && data.contains_key(DEFAULTVAL) {
                    value = data.get_shared(DEFAULTVAL);
                } else if !read.noweakdefault
                    && let Some((name, _)) = data
                        .iter()
                        .find(|(name, _)| name.strip_prefix("_defaultval_flag_") == Some(flag))
                {
                    value = data.get_shared(name);
                }
            }
            // `None`: the variable has no such flag at all (BitBake then does not even
            // compute the overrides).
            let pending = |keyword: &str| -> Option<Arc<Value>> {
                if !content || read.parsing {
                    return None;
                }
                data?.get_shared(keyword)
            };
            (pending(":append"), pending(":prepend"), pending(":remove"))
        };

        let applies = |o: Option<&str>, overrides: &[String]| {
            o.is_none_or(|o| o.split(':').all(|p| overrides.iter().any(|x| x == p)))
        };
        // Appends first, then prepends, as BitBake applies them.
        for (pending, at_end) in [(&appends, true), (&prepends, false)] {
            let Some(pending) = pending else { continue };
            self.need_overrides()?;
            let inner = self.inner.borrow();
            let overrides = inner.overrides.as_deref().unwrap_or_default();
            for (text, o) in pending_entries(pending) {
                if applies(o, overrides) {
                    let base = value.take().map(into_string).unwrap_or_default();
                    let joined = if at_end {
                        base + &text
                    } else {
                        text.into_owned() + &base
                    };
                    value = Some(Arc::new(Value::Str(joined)));
                }
            }
        }

        let mut parsed = None;
        if read.expand {
            parsed = Some(self.expand_with_refs(value.take(), Some(cachename))?);
        } else if read.retparser {
            parsed = Some(self.expand_with_refs(value.clone(), Some(cachename))?);
        }

        let current = match &parsed {
            Some(parsed) if read.expand => parsed.value.as_ref(),
            _ => value.as_deref(),
        };
        let truthy = current.is_some_and(Value::is_truthy);
        if truthy && content && !read.parsing {
            if let Some(local_removes) = &local_removes {
                self.need_overrides()?;
                let inner = self.inner.borrow();
                let overrides = inner.overrides.as_deref().unwrap_or_default();
                for (text, o) in pending_entries(local_removes) {
                    if applies(o, overrides) {
                        removes.insert(text.into_owned());
                    }
                }
            }
            if !removes.is_empty()
                && let Some(parsed) = parsed.as_mut()
            {
                let mut expanded: Vec<(String, Vec<String>)> = Vec::new();
                for r in &removes {
                    let words = self
                        .expand(r)?
                        .split_whitespace()
                        .map(str::to_owned)
                        .collect();
                    expanded.push((r.clone(), words));
                }
                let current = parsed
                    .value
                    .as_ref()
                    .map(|v| v.to_string())
                    .unwrap_or_default();
                let mut applied = BTreeSet::new();
                let mut kept = String::with_capacity(current.len());
                for piece in split_keep_whitespace(&current) {
                    let mut skip = false;
                    for (r, words) in &expanded {
                        if words.iter().any(|w| w == piece) {
                            applied.insert(r.clone());
                            skip = true;
                        }
                    }
                    if !skip {
                        kept.push_str(piece);
                    }
                }
                parsed.removes = Some(applied);
                parsed.value = Some(Value::Str(kept));
            }
        }

        if read.expand
            && flag == CONTENT
            && let Some(parsed) = &mut parsed
            && let Some(Value::Str(current)) = &parsed.value
            && !current.is_empty()
        {
            let base = var.split(':').next().unwrap_or(var);
            let filter = self.inner.borrow().filters.get(base).cloned();
            if let Some(filter) = filter {
                let filtered = self.apply_filter(var, current, &filter)?;
                parsed.value = Some(Value::Str(filtered));
            }
        }

        let parsed = parsed.map(Rc::new);
        if let Some(parsed) = &parsed
            && !read.noweakdefault
        {
            self.inner
                .borrow_mut()
                .expand_cache
                .insert(cachename.to_owned(), parsed.clone());
        }
        Ok((value, parsed))
    }

    /// `d.setVarFilter(var, expression)`: expanded reads of `var` (and its override
    /// variants) pass through the python `expression` with `val` bound to the value; an
    /// empty expression removes the filter.
    pub fn set_var_filter(&self, var: &str, expression: &str) {
        let mut inner = self.inner.borrow_mut();
        Self::clear_expand_cache(&mut inner);
        if expression.is_empty() {
            inner.filters.remove(var);
        } else {
            inner.filters.insert(var.to_owned(), expression.to_owned());
        }
    }

    fn apply_filter(&self, var: &str, value: &str, filter: &str) -> Result<String, DataError> {
        let Some(python) = self.python() else {
            return Err(DataError::Expansion(ExpansionError::new(
                Some(var),
                Some(filter),
                "a variable filter needs a python host, and this datastore has none".into(),
            )));
        };
        python
            .apply_filter(value, filter)
            .map_err(|failure| failure.into_data_error(Some(var), Some(filter)))
    }

    pub(crate) fn expand_with_refs(
        &self,
        value: Option<Arc<Value>>,
        varname: Option<&str>,
    ) -> Result<Parsed, DataError> {
        expand::expand_with_refs(self, value, varname)
    }

    /// BitBake's `expandKeys`: every key containing `${` is renamed to its expansion.
    pub fn expand_keys(&self) -> Result<(), DataError> {
        let mut todo = Vec::new();
        for key in self.templated_keys()? {
            let expanded = self.expand(&key)?;
            if expanded != key {
                todo.push((key, expanded));
            }
        }
        todo.sort();
        for (key, expanded) in todo {
            if let Some(existing) = self.get_var_raw(&expanded)?
                && let Some(value) = self.get_var_raw(&key)?
            {
                self.log(
                    LogLevel::Warning,
                    format!("Variable key {key} ({value}) replaces original key {expanded} ({existing})."),
                );
            }
            self.rename_var(&key, &expanded)?;
        }
        Ok(())
    }

    /// Names of exported variables (`[export]` true and `[unexport]` false), as
    /// `bb.data.exported_keys`.
    pub fn exported_keys(&self) -> Result<Vec<String>, DataError> {
        let mut out = Vec::new();
        for key in self.keys()? {
            if key.starts_with("__") {
                continue;
            }
            let flag = |name: &str| -> Result<bool, DataError> {
                Ok(self
                    .get_var_flag(&key, name, true)?
                    .is_some_and(|v| to_boolean(&v)))
            };
            if flag("export")? && !flag("unexport")? {
                out.push(key);
            }
        }
        Ok(out)
    }
}

impl Read {
    fn plain(expand: bool) -> Read {
        Read {
            expand,
            noweakdefault: false,
            parsing: false,
            retparser: false,
        }
    }
}

/// `bb.utils.to_boolean`.
pub fn to_boolean(value: &Value) -> bool {
    match value {
        Value::Str(s) => matches!(s.to_lowercase().as_str(), "y" | "yes" | "1" | "true"),
        other => other.is_truthy(),
    }
}

/// What a read found: the unexpanded value (shared with the store) and its expansion.
type RawAndParsed = (Option<Arc<Value>>, Option<Rc<Parsed>>);

/// A shared value's string, moved out when this was its last holder.
fn into_string(value: Arc<Value>) -> String {
    Arc::unwrap_or_clone(value).into_string()
}

/// The `(text, override)` entries of an `:append`, `:prepend` or `:remove` list (none
/// when it is not a list).
fn pending_entries(
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
fn override_indexes(var: &str) -> Vec<(&str, &str)> {
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
fn override_active(o: &str, active: &HashSet<String>) -> bool {
    active.contains(o) || (o.contains(':') && o.split(':').all(|p| active.contains(p)))
}

/// `re.match(r'(?P<base>.*?)(?P<keyword>:append|:prepend|:remove)(:(?P<add>[^A-Z]*))?$', var)`.
fn split_setvar_keyword(var: &str) -> Option<(&str, &'static str, Option<&str>)> {
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
fn split_keep_whitespace(s: &str) -> Vec<&str> {
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
        let list = |d: &DataStore| crate::value::list(d.get_var_raw("L").unwrap());
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
