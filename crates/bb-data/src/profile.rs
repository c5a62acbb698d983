//! Where parsing spends its time, for a parse profile (`hitzeleiter parse --profile`).
//!
//! Profiling is switched on per thread ([`start`]); while it is off, a measured piece of
//! work costs one thread-local check. The [`Cooker`](crate::Cooker) measures the steps of
//! a recipe's parse, which do not overlap, and the python they run: each anonymous
//! function, each `${@…}` expression given to python; a [`PythonHost`](crate::PythonHost)
//! may measure each event handler. Python entries overlap (an anonymous function's time
//! includes the inline python it made expand).
//!
//! The recording functions are hidden from the documentation: the workspace's python host
//! and loader call them; an embedder gets profiles through bb-load (`ParseOptions::profile`).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// Time spent on one kind of work, and how many times it was done.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timing {
    /// Wall-clock time, all times together.
    pub time: Duration,
    /// How many times.
    pub count: u64,
}

impl Timing {
    fn add(&mut self, other: Timing) {
        self.time += other.time;
        self.count += other.count;
    }
}

/// What a thread's parses spent their time on since profiling started or was last taken.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    /// The steps of a recipe's parse (`recipe statements`, `anonymous python`, …), which
    /// do not overlap.
    pub steps: BTreeMap<String, Timing>,
    /// The python run within the steps: `anonymous python FILE:LINE`, `handler NAME of
    /// EVENT`, `${@CODE}`. These overlap.
    pub python: BTreeMap<String, Timing>,
}

impl Profile {
    /// Adds another profile's timings to this one.
    pub fn merge(&mut self, other: &Profile) {
        for (mine, theirs) in [
            (&mut self.steps, &other.steps),
            (&mut self.python, &other.python),
        ] {
            for (name, timing) in theirs {
                mine.entry(name.clone()).or_default().add(*timing);
            }
        }
    }
}

thread_local! {
    static PROFILE: RefCell<Option<Profile>> = const { RefCell::new(None) };
}

/// Starts profiling this thread's work (it goes on if it already runs).
#[doc(hidden)]
pub fn start() {
    PROFILE.with(|p| {
        p.borrow_mut().get_or_insert_with(Profile::default);
    });
}

/// Whether this thread's work is profiled.
#[doc(hidden)]
pub fn is_on() -> bool {
    PROFILE.with(|p| p.borrow().is_some())
}

/// The profile gathered so far (`None` when profiling is off); profiling goes on afresh.
#[doc(hidden)]
pub fn take() -> Option<Profile> {
    PROFILE.with(|p| p.borrow_mut().as_mut().map(std::mem::take))
}

/// Runs `work` as the parse step `name`.
#[doc(hidden)]
pub fn step<T>(name: &str, work: impl FnOnce() -> T) -> T {
    measure(work, |profile| &mut profile.steps, || name.to_owned())
}

/// Runs `work`, python named by `name` (made only when profiling is on).
#[doc(hidden)]
pub fn python<T>(name: impl FnOnce() -> String, work: impl FnOnce() -> T) -> T {
    measure(work, |profile| &mut profile.python, name)
}

fn measure<T>(
    work: impl FnOnce() -> T,
    table: impl FnOnce(&mut Profile) -> &mut BTreeMap<String, Timing>,
    name: impl FnOnce() -> String,
) -> T {
    if !is_on() {
        return work();
    }
    let started = Instant::now();
    let result = work();
    let time = started.elapsed();
    PROFILE.with(|p| {
        if let Some(profile) = p.borrow_mut().as_mut() {
            table(profile)
                .entry(name())
                .or_default()
                .add(Timing { time, count: 1 });
        }
    });
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_kept_until_profiling_starts_and_take_starts_afresh() {
        assert_eq!(step("before", || 1), 1);
        assert_eq!(take(), None);
        start();
        step("statements", || ());
        step("statements", || ());
        python(|| "${@1 + 1}".to_owned(), || ());
        let profile = take().expect("profiling is on");
        assert_eq!(profile.steps["statements"].count, 2);
        assert_eq!(profile.python["${@1 + 1}"].count, 1);
        assert!(!profile.steps.contains_key("before"));
        assert_eq!(take(), Some(Profile::default()));
    }

    #[test]
    fn merged_timings_add_up() {
        let one = |n| Timing {
            time: Duration::from_millis(n),
            count: 1,
        };
        let mut a = Profile::default();
        a.steps.insert("x".into(), one(2));
        let mut b = Profile::default();
        b.steps.insert("x".into(), one(3));
        b.python.insert("y".into(), one(1));
        a.merge(&b);
        assert_eq!(
            a.steps["x"],
            Timing {
                time: Duration::from_millis(5),
                count: 2
            }
        );
        assert_eq!(a.python["y"].count, 1);
    }
}
