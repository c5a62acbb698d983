//! The layers a store is made of: each variable's data, the table of override variants,
//! the frozen layers shared by copies, and a store's own layer on top of them.

use std::rc::Rc;
use std::sync::Arc;

// Variable names are looked up through many layers on every read: FxHash is several
// times cheaper than SipHash for such short keys.
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use super::expand::Parsed;
use super::override_active;
use crate::Value;
use crate::history::{Event, VariableHistory};

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
    pub(super) fn position(&self, flag: &str) -> Option<usize> {
        self.0.iter().position(|(name, _)| &**name == flag)
    }

    pub(crate) fn get(&self, flag: &str) -> Option<&Value> {
        self.0
            .iter()
            .find(|(name, _)| &**name == flag)
            .map(|(_, value)| &**value)
    }

    /// The value of `flag`, shared: kept past the borrow of its store.
    pub(super) fn get_shared(&self, flag: &str) -> Option<Arc<Value>> {
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
    pub(super) fn only_mut(&mut self, flag: &str) -> Option<&mut Value> {
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

/// One override variant: (variant name, override). Shared strings: a store's first
/// change to a variable's variants copies the list it inherited, and lists such as
/// `FILES`' are long.
pub(super) type Variant = (Arc<str>, Arc<str>);

/// The override variants of a variable.
pub(super) type Variants = Arc<Vec<Variant>>;

/// BitBake's `overridedata`: variable → its override variants. A copy shares the table of
/// the store it was made from and keeps its own changes apart (a variable removed maps to
/// `None`): every recipe starts from the base configuration's thousands of entries and
/// changes a few.
#[derive(Debug, Clone, Default)]
pub(super) struct OverrideData {
    pub(super) shared: Arc<HashMap<Arc<str>, Variants>>,
    pub(super) own: HashMap<Arc<str>, Option<Variants>>,
}

impl OverrideData {
    pub(super) fn get(&self, var: &str) -> Option<&Variants> {
        match self.own.get(var) {
            Some(own) => own.as_ref(),
            None => self.shared.get(var),
        }
    }

    pub(super) fn contains_key(&self, var: &str) -> bool {
        self.get(var).is_some()
    }

    pub(super) fn insert(&mut self, var: &str, variants: Variants) {
        self.own.insert(var.into(), Some(variants));
    }

    pub(super) fn remove(&mut self, var: &str) {
        if self.contains_key(var) {
            self.own.insert(var.into(), None);
        }
    }

    /// `var`'s variants to change in place (none yet: an empty list).
    pub(super) fn variants_mut(&mut self, var: &str) -> &mut Vec<Variant> {
        if !self.own.contains_key(var) {
            let shared = self.shared.get(var).cloned();
            self.own.insert(var.into(), shared);
        }
        let slot = self.own.get_mut(var).expect("just inserted");
        Arc::make_mut(slot.get_or_insert_with(Variants::default))
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = (&str, &Variants)> {
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
    pub(super) fn fold_when_many(&mut self) {
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
    pub(super) vars: HashMap<String, VarData>,
    pub(super) parent: Option<Arc<Frozen>>,
    pub(super) overridedata: OverrideData,
    pub(super) overridevars: HashSet<String>,
    pub(super) renames: HashMap<String, String>,
    pub(super) filters: HashMap<String, String>,
    pub(super) history: Option<VariableHistory>,
    /// The names in `vars` holding `${`, found once: `expandKeys` of every recipe needs
    /// only them.
    pub(super) templated_names: std::sync::OnceLock<Vec<String>>,
}

/// Layers are equal only to themselves: a value holding a datastore compares by identity.
impl PartialEq for Frozen {
    fn eq(&self, other: &Frozen) -> bool {
        std::ptr::eq(self, other)
    }
}

impl Eq for Frozen {}

impl Frozen {
    pub(super) fn find(&self, var: &str) -> Option<&VarData> {
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

pub(super) struct Inner {
    pub(super) local: HashMap<String, VarData>,
    pub(super) parent: Option<Arc<Frozen>>,
    pub(super) overridedata: OverrideData,
    pub(super) overridevars: HashSet<String>,
    pub(super) overrides: Option<Vec<String>>,
    pub(super) overridesset: HashSet<String>,
    pub(super) inoverride: bool,
    pub(super) expand_cache: HashMap<String, Rc<Parsed>>,
    /// Reads in progress, with the state they started in (inside `need_overrides`, the
    /// overrides generation): a read that needs itself in the same state never ends.
    pub(super) reading: Vec<(String, bool, u64)>,
    /// How many entries of `reading` are reads in progress (the rest are spare).
    pub(super) reading_depth: usize,
    /// Bumped whenever the active overrides change.
    pub(super) overrides_generation: u64,
    pub(super) renames: HashMap<String, String>,
    pub(super) filters: HashMap<String, String>,
    pub(super) history: Option<VariableHistory>,
    /// Set while an operation that BitBake makes with `ignore=True` runs: nothing of it is
    /// recorded (its caller recorded the operation itself).
    pub(super) ignore_history: bool,
    /// How many layers at the top of `parent` hold this store's own variables, frozen
    /// away by `freeze`: BitBake's store keeps them in its own dict (`localkeys`).
    pub(super) own_layers: usize,
}

impl Inner {
    pub(super) fn find(&self, var: &str) -> Option<&VarData> {
        self.local
            .get(var)
            .or_else(|| self.parent.as_deref().and_then(|p| p.find(var)))
    }

    /// The override variant of a variable that wins: BitBake peels the overrides off the
    /// active variants in OVERRIDES order, so the rightmost override wins.
    pub(super) fn override_winner(&self, variants: &[Variant]) -> Option<String> {
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
    pub(super) fn visible_vars<'a>(
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
    pub(super) fn local_mut(&mut self, var: &str) -> &mut VarData {
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
    pub(super) fn overridden_keys<'a>(
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
    pub(super) fn record(&mut self, make: impl FnOnce() -> Event) {
        if self.ignore_history {
            return;
        }
        if let Some(history) = &mut self.history {
            history.record(make());
        }
    }
}
