//! `hitzeleiter parse --profile`: where a parse's time went, by step of a recipe's parse,
//! by python function or expression, and by recipe.

use std::fmt::Write;
use std::path::Path;
use std::time::Duration;

use bb_data::profile::{Profile, Timing};
use bb_load::RecipeProfile;

/// How many python entries and recipes the report lists.
const LISTED: usize = 15;

/// The report: the steps with their shares of the recipes' time (what no step measured
/// is `other`), the costliest python, the slowest recipes.
pub(crate) fn report(
    recipes: &[(&Path, &RecipeProfile)],
    base_configuration: Duration,
    workers: usize,
) -> String {
    let mut total = Profile::default();
    let mut time = Duration::ZERO;
    for (_, recipe) in recipes {
        total.merge(&recipe.profile);
        time += recipe.time;
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Parse profile: {} recipe files parsed in {} by {workers} worker{}; the base configuration took {} before.",
        recipes.len(),
        seconds(time),
        if workers == 1 { "" } else { "s" },
        seconds(base_configuration),
    );
    let _ = writeln!(out, "Steps of a recipe's parse:");
    let measured: Duration = total.steps.values().map(|t| t.time).sum();
    let mut steps: Vec<(&str, Timing)> = total
        .steps
        .iter()
        .map(|(name, timing)| (name.as_str(), *timing))
        .collect();
    steps.push((
        "other",
        Timing {
            time: time.saturating_sub(measured),
            count: 0,
        },
    ));
    steps.sort_by(|a, b| b.1.time.cmp(&a.1.time).then(a.0.cmp(b.0)));
    for (name, timing) in steps {
        let share = if time.is_zero() {
            0.0
        } else {
            100.0 * timing.time.as_secs_f64() / time.as_secs_f64()
        };
        let _ = writeln!(out, "  {:>9}  {share:5.1}%  {name}", seconds(timing.time));
    }
    let _ = writeln!(
        out,
        "Costliest python (an anonymous function's or handler's time includes the ${{@…}} it expanded):"
    );
    let mut python: Vec<(&String, &Timing)> = total.python.iter().collect();
    python.sort_by(|a, b| b.1.time.cmp(&a.1.time).then(a.0.cmp(b.0)));
    for (name, timing) in python.into_iter().take(LISTED) {
        let _ = writeln!(
            out,
            "  {:>9}  {:>7}×  {}",
            seconds(timing.time),
            timing.count,
            one_line(name)
        );
    }
    let _ = writeln!(out, "Slowest recipe files:");
    let mut slowest: Vec<&(&Path, &RecipeProfile)> = recipes.iter().collect();
    slowest.sort_by(|a, b| b.1.time.cmp(&a.1.time).then(a.0.cmp(b.0)));
    for (path, recipe) in slowest.into_iter().take(LISTED) {
        let _ = writeln!(out, "  {:>9}  {}", seconds(recipe.time), path.display());
    }
    out
}

fn seconds(time: Duration) -> String {
    format!("{:.3} s", time.as_secs_f64())
}

/// A python entry on one line of at most 100 characters.
fn one_line(name: &str) -> String {
    let flat: String = name.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.char_indices().nth(99) {
        Some((at, _)) => format!("{}…", &flat[..at]),
        None => flat,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timing(millis: u64, count: u64) -> Timing {
        Timing {
            time: Duration::from_millis(millis),
            count,
        }
    }

    #[test]
    fn steps_share_the_recipes_time_and_the_rest_is_other() {
        let mut slow = RecipeProfile {
            time: Duration::from_millis(300),
            ..RecipeProfile::default()
        };
        slow.profile
            .steps
            .insert("anonymous python".into(), timing(200, 1));
        slow.profile.python.insert(
            "anonymous python classes-global/base.bbclass:454".into(),
            timing(150, 1),
        );
        let mut fast = RecipeProfile {
            time: Duration::from_millis(100),
            ..RecipeProfile::default()
        };
        fast.profile
            .steps
            .insert("recipe statements".into(), timing(60, 1));
        let recipes = [
            (Path::new("a/fast.bb"), &fast),
            (Path::new("b/slow.bb"), &slow),
        ];
        let text = report(&recipes, Duration::from_millis(450), 2);
        let expected = [
            "Parse profile: 2 recipe files parsed in 0.400 s by 2 workers; the base configuration took 0.450 s before.",
            "Steps of a recipe's parse:",
            "    0.200 s   50.0%  anonymous python",
            "    0.140 s   35.0%  other",
            "    0.060 s   15.0%  recipe statements",
            "Costliest python (an anonymous function's or handler's time includes the ${@…} it expanded):",
            "    0.150 s        1×  anonymous python classes-global/base.bbclass:454",
            "Slowest recipe files:",
            "    0.300 s  b/slow.bb",
            "    0.100 s  a/fast.bb",
        ];
        assert_eq!(text.lines().collect::<Vec<_>>(), expected);
    }

    #[test]
    fn long_python_is_cut_to_one_line() {
        let code = format!("${{@{}\n}}", "x".repeat(200));
        let line = one_line(&code);
        assert_eq!(line.chars().count(), 100);
        assert!(line.ends_with('…') && !line.contains('\n'));
    }
}
