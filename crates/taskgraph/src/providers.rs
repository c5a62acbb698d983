//! Choosing among recipes that provide the same name: BitBake's `bb.providers`
//! (PREFERRED_VERSION, REQUIRED_VERSION, PREFERRED_PROVIDER, PREFERRED_RPROVIDER, layer
//! priority and DEFAULT_PREFERENCE).

use std::cmp::Ordering;
use std::collections::BTreeMap;

use crate::cache::{FileId, RecipeCache};
use crate::{Variables, vercmp};

/// A version as `(PE, PV, PR)`.
pub type Version = (String, String, String);

/// How serious a [`Notice`] is (BitBake's log level for it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Information (`NOTE:`), e.g. which of several providers was used.
    Note,
    /// A warning.
    Warning,
    /// An error: the build or graph is not what was asked for.
    Error,
}

impl Level {
    /// The prefix BitBake logs a message of this level with (`NOTE`, `WARNING`, `ERROR`).
    pub fn name(self) -> &'static str {
        match self {
            Level::Note => "NOTE",
            Level::Warning => "WARNING",
            Level::Error => "ERROR",
        }
    }
}

/// A message choosing providers or building the graph produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// How serious it is.
    pub level: Level,
    /// The message, in BitBake's words.
    pub message: String,
}

/// The preferred and latest version of one PN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BestProvider {
    /// The latest version in the highest-priority group, and its file.
    pub latest: Option<(Version, FileId)>,
    /// The preferred one: PREFERRED_VERSION's if set and found, else the latest.
    pub preferred: Option<(Version, FileId)>,
    /// Whether REQUIRED_VERSION was set.
    pub required: bool,
}

fn version_of(cache: &RecipeCache, id: FileId) -> Version {
    let info = &cache.recipe(id).info;
    (info.pe.clone(), info.pv.clone(), info.pr.clone())
}

fn as_refs(v: &Version) -> (&str, &str, &str) {
    (&v.0, &v.1, &v.2)
}

/// `sortPriorities`: the files of a PN grouped by layer priority (highest first), each
/// group ordered by DEFAULT_PREFERENCE (lowest first) then insertion order.
fn sort_priorities(cache: &RecipeCache, files: &[FileId]) -> Vec<Vec<FileId>> {
    let mut groups: BTreeMap<i64, BTreeMap<i64, Vec<FileId>>> = BTreeMap::new();
    for &id in files {
        let recipe = cache.recipe(id);
        groups
            .entry(recipe.priority)
            .or_default()
            .entry(recipe.info.default_preference)
            .or_default()
            .push(id);
    }
    groups
        .into_values()
        .rev()
        .map(|by_preference| by_preference.into_values().flatten().collect())
        .collect()
}

/// `versionVariableMatch`.
fn version_variable(vars: &dyn Variables, keyword: &str, pn: &str) -> Option<String> {
    [
        format!("{keyword}_VERSION:pn-{pn}"),
        format!("{keyword}_VERSION_{pn}"),
        format!("{keyword}_VERSION"),
    ]
    .iter()
    .find_map(|name| vars.get(name).filter(|v| !v.is_empty()))
}

/// `findPreferredProvider`: the first file (by priority group) matching REQUIRED_VERSION
/// or PREFERRED_VERSION.
fn find_preferred(
    cache: &RecipeCache,
    vars: &dyn Variables,
    pn: &str,
    groups: &[Vec<FileId>],
    item: Option<&str>,
    notices: &mut Vec<Notice>,
) -> (Option<(Version, FileId)>, bool) {
    let item_text = item.map_or(String::new(), |i| format!(" (for item {i})"));
    let required_version = version_variable(vars, "REQUIRED", pn);
    let mut preferred_version = version_variable(vars, "PREFERRED", pn);
    let mut required = false;
    if let Some(required_version) = required_version {
        if preferred_version.is_some() {
            notices.push(Notice {
                level: Level::Warning,
                message: format!("REQUIRED_VERSION and PREFERRED_VERSION for package {pn}{item_text} are both set using REQUIRED_VERSION {required_version}"),
            });
        }
        preferred_version = Some(required_version);
        required = true;
    }
    let Some(wanted) = preferred_version else {
        return (None, false);
    };
    // `(\d+:)*(.*)(_.*)*`: an optional epoch; the greedy middle takes the rest, so a
    // revision is never split off (as in BitBake).
    let (epoch, version) = match wanted.split_once(':') {
        Some((e, v)) if !e.is_empty() && e.chars().all(|c| c.is_ascii_digit()) => {
            (Some(e.to_owned()), v.to_owned())
        }
        _ => (None, wanted.clone()),
    };
    let matches = |v: &Version| {
        if epoch.as_ref().is_some_and(|e| *e != v.0) {
            return false;
        }
        version == v.1
            || version
                .strip_suffix('%')
                .is_some_and(|prefix| v.1.starts_with(prefix))
    };
    let found = groups
        .iter()
        .flatten()
        .map(|&id| (version_of(cache, id), id))
        .find(|(v, _)| matches(v));
    if found.is_none() {
        let shown = match &epoch {
            Some(e) => format!("{e}:{version}"),
            None => version.clone(),
        };
        if !required {
            notices.push(Notice {
                level: Level::Warning,
                message: format!("preferred version {shown} of {pn} not available{item_text}"),
            });
        }
        let mut available: Vec<String> = Vec::new();
        for &id in groups.iter().flatten() {
            let (pe, pv, _) = version_of(cache, id);
            let text = if pe.is_empty() {
                pv
            } else {
                format!("{pe}:{pv}")
            };
            if !available.contains(&text) {
                available.push(text);
            }
        }
        if !available.is_empty() {
            available.sort();
            notices.push(Notice {
                level: Level::Warning,
                message: format!("versions of {pn} available: {}", available.join(" ")),
            });
        }
        if required {
            notices.push(Notice {
                level: Level::Error,
                message: format!("required version {shown} of {pn} not available{item_text}"),
            });
        }
    }
    (found, required)
}

/// `findLatestProvider`: the highest version in a group, a higher DEFAULT_PREFERENCE
/// winning over any version.
fn find_latest(cache: &RecipeCache, group: &[FileId]) -> Option<(Version, FileId)> {
    let mut latest: Option<(Version, FileId, i64)> = None;
    for &id in group {
        let version = version_of(cache, id);
        let preference = cache.recipe(id).info.default_preference;
        let better = match &latest {
            None => true,
            Some((best, _, best_preference)) => {
                (*best_preference == preference
                    && vercmp(as_refs(best), as_refs(&version)) == Ordering::Less)
                    || preference > *best_preference
            }
        };
        if better {
            latest = Some((version, id, preference));
        }
    }
    latest.map(|(v, id, _)| (v, id))
}

/// `findBestProvider`: the preferred and latest versions of `pn` among `files`.
pub fn find_best_provider(
    cache: &RecipeCache,
    vars: &dyn Variables,
    pn: &str,
    files: &[FileId],
    item: Option<&str>,
    notices: &mut Vec<Notice>,
) -> BestProvider {
    let groups = sort_priorities(cache, files);
    let (preferred, required) = find_preferred(cache, vars, pn, &groups, item, notices);
    let latest = groups.first().and_then(|g| find_latest(cache, g));
    BestProvider {
        preferred: if !required && preferred.is_none() {
            latest.clone()
        } else {
            preferred
        },
        latest,
        required,
    }
}

/// `_filterProviders`: one eligible file per PN (its preferred version), the one whose PN
/// is `item` first.
fn filter_providers_common(
    cache: &RecipeCache,
    vars: &dyn Variables,
    providers: &[FileId],
    item: &str,
    notices: &mut Vec<Notice>,
) -> Vec<FileId> {
    let mut sorted = providers.to_vec();
    sorted.sort_by(|a, b| cache.recipe(*a).file.cmp(&cache.recipe(*b).file));
    let mut by_pn: BTreeMap<&str, Vec<FileId>> = BTreeMap::new();
    for &id in &sorted {
        by_pn
            .entry(cache.recipe(id).info.pn.as_str())
            .or_default()
            .push(id);
    }
    let mut eligible = Vec::new();
    let mut chosen: BTreeMap<&str, FileId> = BTreeMap::new();
    let mut groups: BTreeMap<&str, Vec<Vec<FileId>>> = BTreeMap::new();
    for (pn, files) in &by_pn {
        let pn_groups = sort_priorities(cache, files);
        let (preferred, required) =
            find_preferred(cache, vars, pn, &pn_groups, Some(item), notices);
        if required && preferred.is_none() {
            return eligible;
        }
        if let Some((_, id)) = preferred {
            eligible.push(id);
            chosen.insert(pn, id);
        }
        groups.insert(pn, pn_groups);
    }
    for (pn, pn_groups) in &groups {
        if chosen.contains_key(pn) {
            continue;
        }
        if let Some((_, id)) = pn_groups.first().and_then(|g| find_latest(cache, g)) {
            eligible.push(id);
            chosen.insert(pn, id);
        }
    }
    if eligible.is_empty() {
        return eligible;
    }
    for &id in &sorted {
        let pn = cache.recipe(id).info.pn.as_str();
        if pn != item {
            continue;
        }
        let Some(&best) = chosen.get(pn) else {
            continue;
        };
        if let Some(at) = eligible.iter().position(|&e| e == best) {
            eligible.remove(at);
            eligible.insert(0, best);
        }
    }
    eligible
}

fn move_to_front(eligible: &mut Vec<FileId>, id: FileId) {
    if let Some(at) = eligible.iter().position(|&e| e == id) {
        eligible.remove(at);
        eligible.insert(0, id);
    }
}

/// `filterProviders`: the eligible providers of a build-time name, best first, and whether
/// PREFERRED_PROVIDER (or PREFERRED_PROVIDERS) settled it.
pub fn filter_providers(
    cache: &RecipeCache,
    vars: &dyn Variables,
    providers: &[FileId],
    item: &str,
    notices: &mut Vec<Notice>,
) -> (Vec<FileId>, bool) {
    let mut eligible = filter_providers_common(cache, vars, providers, item, notices);
    let preferred = vars
        .get(&format!("PREFERRED_PROVIDER_{item}"))
        .filter(|v| !v.is_empty())
        .or_else(|| cache.settings.preferred_providers.get(item).cloned());
    let mut unique = false;
    if let Some(preferred) = preferred
        && let Some(&id) = eligible
            .iter()
            .find(|&&id| cache.recipe(id).info.pn == preferred)
    {
        move_to_front(&mut eligible, id);
        unique = true;
    }
    (eligible, unique)
}

/// `BBCooker.findBestProvider`, which tinfoil (`bitbake-getvar -r`) resolves a name with:
/// the best eligible provider of a build-time name, else the preferred version of the PN
/// `name`; `None` when nothing provides it (or its REQUIRED_VERSION is not found). Unlike
/// a build target, a name in ASSUME_PROVIDED is resolved as any other.
///
/// ```
/// use std::collections::HashMap;
/// use bb_data::RecipeInfo;
/// use taskgraph::{ProviderSettings, Recipe, RecipeCache, cooker_best_provider};
///
/// let settings = ProviderSettings {
///     assume_provided: vec!["virtual/crypt-native".into()],
///     ..ProviderSettings::default()
/// };
/// let mut cache = RecipeCache::new(settings);
/// for (file, pn, provides) in [
///     ("/l/libxcrypt_4.bb", "libxcrypt-native", "virtual/crypt-native"),
///     ("/l/musl-crypt_1.bb", "musl-crypt-native", "virtual/crypt-native"),
///     ("/l/zlib_1.3.bb", "zlib", ""),
/// ] {
///     let info = RecipeInfo {
///         pn: pn.into(),
///         pv: "1".into(),
///         provides: provides.split_whitespace().map(str::to_owned).collect(),
///         ..RecipeInfo::default()
///     };
///     cache.add(Recipe { file: file.into(), info, priority: 5 });
/// }
/// let mut config: HashMap<String, String> = HashMap::new();
/// config.insert("PREFERRED_PROVIDER_virtual/crypt-native".into(), "musl-crypt-native".into());
/// let file = |name: &str| {
///     cooker_best_provider(&cache, &config, name, &mut Vec::new())
///         .map(|id| cache.recipe(id).file.clone())
/// };
/// assert_eq!(file("virtual/crypt-native").as_deref(), Some("/l/musl-crypt_1.bb"));
/// assert_eq!(file("zlib").as_deref(), Some("/l/zlib_1.3.bb"));
/// assert_eq!(file("nothing"), None);
/// ```
pub fn cooker_best_provider(
    cache: &RecipeCache,
    vars: &dyn Variables,
    name: &str,
    notices: &mut Vec<Notice>,
) -> Option<FileId> {
    if let Some(providers) = cache.providers.get(name) {
        let (eligible, _) = filter_providers(cache, vars, providers, name, notices);
        return eligible.first().copied();
    }
    let files = cache.files_of(name);
    if files.is_empty() {
        return None;
    }
    find_best_provider(cache, vars, name, files, None, notices)
        .preferred
        .map(|(_, file)| file)
}

/// `filterProvidersRunTime`: the eligible providers of a runtime name, best first, and how
/// many preferences picked one (more than one is a conflict).
pub fn filter_providers_runtime(
    cache: &RecipeCache,
    vars: &dyn Variables,
    providers: &[FileId],
    item: &str,
    notices: &mut Vec<Notice>,
) -> (Vec<FileId>, usize) {
    let mut eligible = filter_providers_common(cache, vars, providers, item, notices);
    if let Some(preferred) = vars
        .get(&format!("PREFERRED_RPROVIDER_{item}"))
        .filter(|v| !v.is_empty())
        && let Some(&id) = eligible
            .iter()
            .find(|&&id| cache.recipe(id).info.pn == preferred)
    {
        move_to_front(&mut eligible, id);
        return (eligible, 1);
    }
    let by_pn: BTreeMap<&str, FileId> = eligible
        .iter()
        .map(|&id| (cache.recipe(id).info.pn.as_str(), id))
        .collect();
    let mut preferred: Vec<FileId> = Vec::new();
    let mut reasons = Vec::new();
    for &id in &eligible.clone() {
        let pn = &cache.recipe(id).info.pn;
        for provide in cache.pn_provides.get(pn).into_iter().flatten() {
            let Some(wanted) = vars.get(&format!("PREFERRED_PROVIDER_{provide}")) else {
                continue;
            };
            if let Some(&pick) = by_pn.get(wanted.as_str())
                && !preferred.contains(&pick)
            {
                reasons.push(format!("PREFERRED_PROVIDER_{provide} = {wanted}"));
                move_to_front(&mut eligible, pick);
                preferred.push(pick);
                break;
            }
        }
    }
    if preferred.len() > 1 {
        let names: Vec<&str> = preferred
            .iter()
            .map(|&id| cache.recipe(id).file.as_str())
            .collect();
        notices.push(Notice {
            level: Level::Error,
            message: format!(
                "Trying to resolve runtime dependency {item} resulted in conflicting PREFERRED_PROVIDER entries being found.\nThe providers found were: {names:?}\nThe PREFERRED_PROVIDER entries resulting in this conflict were: {reasons:?}. You could set PREFERRED_RPROVIDER_{item}"
            ),
        });
    }
    (eligible, preferred.len())
}
