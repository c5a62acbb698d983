//! `hitzeleiter env` on the real openembedded-core snapshot (`../shared/corpus`) against
//! what real BitBake printed for it (`../shared/oracle/env`): every variable value and every
//! function body, after substituting the path placeholders and ignoring the values that
//! differ between any two runs (../shared/oracle/README.md).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Values that differ between runs or machines: time stamps and what derives from them
/// (handled by substitution below), the process environment, BitBake's own command line.
const PER_RUN: &[&str] = &[
    "DATETIME",
    "DATE",
    "TIME",
    "PID",
    "LOGFIFO",
    "BB_CONSOLELOG",
    "BB_HASHSERVE",
    "BB_ORIGENV",
    "BB_CMDLINE",
    "BB_DEFAULT_EVENTLOG",
    "COMBINED_FEATURES",
    // Taken from the environment of the run: the user, PATH, which python and bitbake.
    "PATH",
    "PWD",
    "USER",
    "HOME",
    "XAUTHORITY",
    "LOGNAME",
    "BB_ENV_PASSTHROUGH_ADDITIONS",
    "HOST_USER_UID",
    "HOST_USER_GID",
    "PYTHON",
    "BITBAKEPATH",
    // They list the files of openembedded-core's scripts/ directory, which the corpus
    // snapshot leaves out (BitBake ran on the whole checkout).
    "POSTINST_INTERCEPTS",
    "POSTINST_INTERCEPT_CHECKSUMS",
];

/// The host tools openembedded-core's sanity check wants that minimal machines lack
/// (`cargo xtask test` installs them where it can).
const HOST_TOOLS: &[&str] = &["chrpath", "cpio", "diffstat", "gawk"];

/// Variables and functions of a `bitbake -e` text: name → value or body.
fn entries(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let start = text.find("# INCLUDE HISTORY:").unwrap_or(0);
    let mut lines = text[start..].lines();
    while let Some(line) = lines.next() {
        if line.starts_with('#') {
            continue;
        }
        let body_of = |lines: &mut std::str::Lines<'_>| {
            let mut body = Vec::new();
            for line in lines.by_ref() {
                if line == "}" {
                    break;
                }
                body.push(line.to_owned());
            }
            body.join("\n")
        };
        if let Some(name) = line
            .strip_prefix("python ")
            .and_then(|l| l.strip_suffix(" () {"))
        {
            out.insert(format!("python {name}"), body_of(&mut lines));
        } else if let Some(name) = line.strip_suffix("() {") {
            out.insert(format!("function {name}"), body_of(&mut lines));
        } else if let Some((name, value)) = line.split_once("=\"") {
            let mut value = value.to_owned();
            // A value continues while its line ends with the ` \` of an escaped newline.
            while value.ends_with(" \\") {
                value.push('\n');
                value.push_str(lines.next().unwrap_or_default());
            }
            out.insert(name.trim_start_matches("export ").to_owned(), value);
        } else if let Some(name) = line.strip_prefix("unset ") {
            out.insert(name.to_owned(), "<unset>".to_owned());
        }
    }
    out
}

/// The value of `var` in a `bitbake -e` text.
fn value_of(text: &str, var: &str) -> Option<String> {
    let prefix = format!("\n{var}=\"");
    let at = text.find(&prefix)? + prefix.len();
    let end = text[at..].find("\"\n")?;
    Some(text[at..at + end].to_owned())
}

/// The value `var` had in the environment BitBake ran in, from its history in a `bitbake -e`
/// text (`#   from env …` followed by the quoted value).
fn value_from_environment(text: &str, var: &str) -> Option<String> {
    let history = &text[text.find(&format!("\n# ${var} "))?..];
    let mut lines = history.lines().skip(1);
    lines.find(|line| line.starts_with("#   from env "))?;
    let value = lines.next()?.trim_start_matches('#').trim();
    Some(value.strip_prefix('"')?.strip_suffix('"')?.to_owned())
}

/// Replaces the per-run values that others derive from by placeholders: DATETIME (a
/// 14-digit stamp, e.g. in IMAGE_NAME), DATE (SRCDATE) and the process id where it ends a fifo or log
/// name (`fifo.18814`, `log.do_$target.19483`). Only there: a small process id (as in a
/// fresh container) also occurs as a plain number in function bodies (`755`, `2`).
fn without_run_values(text: &str) -> String {
    let mut text = text.to_owned();
    if let Some(stamp) = value_of(&text, "DATETIME").filter(|v| v.len() == 14) {
        text = text.replace(&stamp, "@DATETIME@");
    }
    // After DATETIME, which starts with it: SRCDATE and others are `${DATE}`, the day of
    // the run (the oracle's day is not the test's).
    if let Some(day) = value_of(&text, "DATE").filter(|v| v.len() == 8) {
        text = text.replace(&day, "@DATE@");
    }
    let fifo = value_of(&text, "LOGFIFO")
        .and_then(|f| f.rsplit_once("fifo.").map(|(_, pid)| pid.to_owned()));
    if let Some(pid) = fifo {
        text = replace_name_suffix(&text, &pid, "@PID@");
    }
    text
}

/// Replaces `number` where it ends a name: after a `.` that follows no digit, and before
/// no digit.
fn replace_name_suffix(text: &str, number: &str, with: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(number) {
        let mut before = rest[..at].chars().rev();
        let ends_a_name = before.next() == Some('.')
            && before.next().is_some_and(|c| !c.is_ascii_digit())
            && !rest[at + number.len()..]
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_digit());
        out.push_str(&rest[..at]);
        out.push_str(if ends_a_name { with } else { number });
        rest = &rest[at + number.len()..];
    }
    out.push_str(rest);
    out
}

/// Compares the entries of target `name` but the per-run ones, adding each difference to
/// `differences`; returns how many were compared.
fn compare_entries(
    name: &str,
    theirs: &BTreeMap<String, String>,
    ours: &BTreeMap<String, String>,
    differences: &mut Vec<String>,
) -> usize {
    let keys: BTreeSet<&String> = theirs.keys().chain(ours.keys()).collect();
    let mut compared = 0;
    for key in keys {
        if PER_RUN.contains(&key.as_str()) {
            continue;
        }
        compared += 1;
        match (theirs.get(key), ours.get(key)) {
            (Some(a), Some(b)) if a == b => {}
            (a, b) => differences.push(format!(
                "{name} {key}:\n  BitBake: {:.300}\n  ours:    {:.300}",
                a.map_or("<missing>", String::as_str),
                b.map_or("<missing>", String::as_str)
            )),
        }
    }
    compared
}

/// Runs `hitzeleiter ARGS` in the build directory `build`.
fn hitzeleiter(build: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_hitzeleiter"))
        .args(args)
        .current_dir(build)
        .env_remove("BBPATH")
        .output()
        .expect("run hitzeleiter")
}

fn mangled(path: &str) -> String {
    path.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// A copy of the corpus' build directory beside a link to the corpus' openembedded-core,
/// for `test`; `None` (reported skipped) where the host lacks HOST_TOOLS.
fn oe_build_dir(shared: &Path, test: &str) -> Option<PathBuf> {
    let missing: Vec<&str> = HOST_TOOLS
        .iter()
        .copied()
        .filter(|tool| {
            !std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
                .any(|dir| dir.join(tool).is_file())
        })
        .collect();
    if !missing.is_empty() {
        test_support::skip(&format!(
            "{test}: openembedded-core's HOSTTOOLS check needs {} on PATH",
            missing.join(", ")
        ));
        return None;
    }
    let work = Path::new(env!("CARGO_TARGET_TMPDIR")).join(test);
    let _ = std::fs::remove_dir_all(&work);
    let build = work.join("oe-build");
    std::fs::create_dir_all(build.join("conf")).expect("build directory");
    for file in ["bblayers.conf", "local.conf"] {
        std::fs::copy(
            shared.join("corpus/oe-build/conf").join(file),
            build.join("conf").join(file),
        )
        .expect("copy conf");
    }
    let corpus: PathBuf = shared
        .join("corpus/openembedded-core")
        .canonicalize()
        .expect("corpus");
    std::os::unix::fs::symlink(&corpus, work.join("openembedded-core")).expect("symlink");
    Some(build)
}

/// Every recipe of openembedded-core evaluates without error, and the summary is
/// BitBake's: the same counts, the same 49 recipes skipped. Then, from the parse cache,
/// the task graph of core-image-minimal is BitBake's, file for file.
#[test]
fn parse_and_graph_of_openembedded_core_are_bitbakes() {
    const TEST: &str = "parse_and_graph_of_openembedded_core_are_bitbakes";
    let Some(shared) = test_support::require_shared(TEST) else {
        return;
    };
    let Some(build) = oe_build_dir(&shared, TEST) else {
        return;
    };
    let output = hitzeleiter(&build, &["parse", "-v"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        stdout,
        "Parsing of 950 .bb files complete (0 cached, 950 parsed). 1978 targets, 49 skipped, 0 masked, 0 errors.\n",
        "{stderr}"
    );
    assert!(output.status.success());
    // A sample of BitBake's skip reasons, one per kind.
    for expected in [
        "meta/recipes-kernel/linux/linux-dummy.bb: PREFERRED_PROVIDER_virtual/kernel set to linux-yocto, not linux-dummy",
        "meta/recipes-core/musl/musl_git.bb: PREFERRED_PROVIDER_virtual/libc set to glibc, not musl",
    ] {
        assert!(
            stderr.contains(expected),
            "missing skip '{expected}' in:\n{stderr}"
        );
    }

    let output = hitzeleiter(&build, &["graph", "core-image-minimal"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("(950 cached, 0 parsed)"),
        "the graph did not come from the parse cache:\n{stderr}"
    );
    let oecore = format!("{}/../openembedded-core", build.display());
    for file in ["pn-buildlist", "task-depends.dot"] {
        let ours = std::fs::read_to_string(build.join(file))
            .expect("graph file")
            .replace(&oecore, "@OECORE@");
        let theirs =
            std::fs::read_to_string(shared.join("oracle/graph").join(file)).expect("oracle graph");
        let (ours_lines, theirs_lines): (BTreeSet<&str>, BTreeSet<&str>) =
            (ours.lines().collect(), theirs.lines().collect());
        let missing: Vec<&&str> = theirs_lines.difference(&ours_lines).take(10).collect();
        let extra: Vec<&&str> = ours_lines.difference(&theirs_lines).take(10).collect();
        assert!(
            ours == theirs,
            "{file} differs from BitBake's: {} lines missing, {} extra; first missing: {missing:#?}; first extra: {extra:#?}",
            theirs_lines.difference(&ours_lines).count(),
            ours_lines.difference(&theirs_lines).count(),
        );
    }
}

#[test]
fn env_equals_bitbakes_on_openembedded_core() {
    const TEST: &str = "env_equals_bitbakes_on_openembedded_core";
    let Some(shared) = test_support::require_shared(TEST) else {
        return;
    };
    let Some(build) = oe_build_dir(&shared, TEST) else {
        return;
    };
    let work = build.parent().expect("work directory").to_path_buf();
    let topdir = build.display().to_string();
    let oecore = format!("{topdir}/../openembedded-core");
    let oecore_normalised = work.join("openembedded-core").display().to_string();
    let ours_with_placeholders = |text: &str| {
        let text = text
            .replace(&mangled(&oecore), "_OECORE")
            .replace(&mangled(&topdir), "_TOPDIR")
            .replace(&oecore, "@OECORE@")
            .replace(&oecore_normalised, "@OECORE@")
            .replace(&topdir, "@TOPDIR@");
        without_run_values(&text)
    };

    // SHELL passes from the environment into the metadata (DEVSHELL, terminal.bbclass's
    // default when it is unset): give ours the one BitBake ran with.
    let global =
        std::fs::read_to_string(shared.join("oracle/env/_global.env")).expect("oracle env");
    let shell = value_from_environment(&global, "SHELL").expect("the oracle's SHELL");

    let mut differences = Vec::new();
    let mut compared = 0;
    for recipe in [
        None,
        Some("zlib"),
        Some("busybox"),
        Some("quilt-native"),
        Some("gcc-cross-x86_64"),
        Some("base-files"),
        Some("core-image-minimal"),
    ] {
        let name = recipe.unwrap_or("_global");
        let oracle = std::fs::read_to_string(shared.join(format!("oracle/env/{name}.env")))
            .expect("oracle env");
        let output = Command::new(env!("CARGO_BIN_EXE_hitzeleiter"))
            .arg("env")
            .args(recipe)
            .current_dir(&build)
            .env_remove("BBPATH")
            .env("SHELL", &shell)
            .output()
            .expect("run hitzeleiter");
        let stdout = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() {
            differences.push(format!(
                "{name}: env failed: {}",
                String::from_utf8_lossy(&output.stderr)
            ));
            continue;
        }
        let theirs = entries(&without_run_values(&oracle));
        let ours = entries(&ours_with_placeholders(&stdout));
        assert!(
            theirs.len() > 1000,
            "{name}: the oracle has too few entries"
        );
        compared += compare_entries(name, &theirs, &ours, &mut differences);
    }
    eprintln!(
        "{compared} variable and function comparisons, {} differences",
        differences.len()
    );
    test_support::assert_agree(&differences, compared);
}

/// `env` of a sample of openembedded-core's recipe files, every target of each (its
/// BBCLASSEXTEND variants too), against what the real BitBake library's `bitbake -e`
/// output code (`emit_env`) prints for the same files in the same build directory: beyond
/// the oracle's six recipes, every entry must agree. A target BitBake skips must be
/// refused, with the reason. BitBake's side finalises every variant of a file
/// (`parseRecipeVariants`), where `bitbake -e` and `env` finalise only the one shown: the
/// values must not depend on it.
#[test]
fn env_equals_real_bitbakes_on_a_sample_of_openembedded_core() {
    const TEST: &str = "env_equals_real_bitbakes_on_a_sample_of_openembedded_core";
    /// Every how many-th recipe file (of openembedded-core's ~950, sorted) is compared.
    const SAMPLE_EVERY: usize = 40;
    let Some(shared) = test_support::require_shared(TEST) else {
        return;
    };
    let Some(python) = test_support::bitbake_python(TEST) else {
        return;
    };
    let Some(build) = oe_build_dir(&shared, TEST) else {
        return;
    };
    // Recipe paths as BitBake takes them from BBFILES (`${LAYERDIR}/recipes-*/*/*.bb`).
    let meta = format!("{}/../openembedded-core/meta", build.display());
    let mut recipes = Vec::new();
    for category in std::fs::read_dir(&meta).expect("meta") {
        let category = category.expect("meta entry").file_name();
        let category = category.to_string_lossy();
        if !category.starts_with("recipes-") {
            continue;
        }
        for dir in std::fs::read_dir(format!("{meta}/{category}")).expect("recipes dir") {
            let dir = dir.expect("recipes entry").file_name();
            let Ok(files) =
                std::fs::read_dir(format!("{meta}/{category}/{}", dir.to_string_lossy()))
            else {
                continue;
            };
            for file in files {
                let file = file.expect("recipe entry").file_name();
                let file = file.to_string_lossy();
                if file.ends_with(".bb") {
                    recipes.push(format!(
                        "{meta}/{category}/{}/{file}",
                        dir.to_string_lossy()
                    ));
                }
            }
        }
    }
    recipes.sort();
    assert!(recipes.len() > 900, "too few recipe files in {meta}");
    // And one file for each kind of target env does not show as itself: a skipped recipe,
    // an ASSUME_PROVIDED native (chrpath-native) and one provided by another recipe in
    // preference (gzip-native: pigz-native).
    let special = [
        "recipes-core/musl/musl_git.bb",
        "recipes-devtools/chrpath/chrpath_0.18.bb",
        "recipes-extended/gzip/gzip_1.14.bb",
    ];
    let mut sample: Vec<&String> = recipes.iter().step_by(SAMPLE_EVERY).collect();
    for file in special {
        let path = recipes
            .iter()
            .find(|r| r.ends_with(file))
            .unwrap_or_else(|| panic!("{file} is not in the corpus"));
        if !sample.contains(&path) {
            sample.push(path);
        }
    }

    let theirs_dir = build.parent().expect("work directory").join("bitbake-env");
    std::fs::create_dir_all(&theirs_dir).expect("output directory");
    let output = Command::new(&python)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bitbake_env_variants.py"))
        .arg(&theirs_dir)
        .arg("core")
        .args(&sample)
        .current_dir(&build)
        .env_remove("BBPATH")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("run BitBake");
    assert!(
        output.status.success(),
        "BitBake: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let targets = String::from_utf8(output.stdout).expect("UTF-8");

    let mut differences = Vec::new();
    let (mut compared, mut parsed, mut skipped, mut assumed) = (0, 0, 0, 0);
    let mut elsewhere = Vec::new();
    for line in targets.lines() {
        let (pn, outcome) = line.split_once(' ').expect("PN and outcome");
        if outcome == "again" {
            continue;
        }
        let output = hitzeleiter(&build, &["env", pn]);
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        if outcome == "skipped" {
            skipped += 1;
            if output.status.success() || !stderr.contains(&format!("{pn} was skipped")) {
                differences.push(format!("{pn}: BitBake skips it, ours: {stderr:.300}"));
            }
            continue;
        }
        parsed += 1;
        // bitbake -e refuses what ASSUME_PROVIDED names (cooker.showEnvironment).
        if stderr.contains(&format!("ERROR: {pn} is in ASSUME_PROVIDED")) {
            assumed += 1;
            continue;
        }
        if !output.status.success() {
            differences.push(format!("{pn}: env failed: {stderr}"));
            continue;
        }
        let theirs =
            std::fs::read_to_string(theirs_dir.join(format!("{pn}.env"))).expect("BitBake's env");
        let (theirs, ours) = (comparable(&theirs), comparable(&stdout));
        // The target is another recipe's too (PROVIDES) and that one is preferred: the
        // graph test checks provider choices against BitBake's.
        if ours
            .get("PN")
            .is_some_and(|ours_pn| *ours_pn != format!("{pn}\""))
        {
            elsewhere.push(pn);
            continue;
        }
        assert!(theirs.len() > 1000, "{pn}: BitBake printed too few entries");
        compared += compare_entries(pn, &theirs, &ours, &mut differences);
    }
    eprintln!(
        "{} recipe files, {parsed} targets ({assumed} assumed provided, {elsewhere:?} provided by other recipes) and {skipped} skipped: {compared} variable and function comparisons, {} differences",
        sample.len(),
        differences.len()
    );
    assert!(parsed > sample.len(), "too few targets: {targets}");
    assert!(
        skipped > 0 && assumed > 0 && elsewhere == ["gzip-native"],
        "the special targets were not met: {targets}"
    );
    test_support::assert_agree(&differences, compared);
}

/// The entries of a `bitbake -e` text made in this test's build directory, made comparable
/// between two processes: the run values and python's path (each side's own `sys.executable`)
/// replaced, and no blank lines in python functions: the BitBake on PyPI drops them where
/// the oracle's BitBake keeps them (env_equals_bitbakes_on_openembedded_core checks them).
fn comparable(text: &str) -> BTreeMap<String, String> {
    let mut text = without_run_values(text);
    if let Some(python) = value_of(&text, "PYTHON") {
        text = text.replace(&python, "@PYTHON@");
    }
    let mut entries = entries(&text);
    for (key, body) in entries.iter_mut() {
        if key.starts_with("python ") {
            *body = body
                .lines()
                .filter(|line| !line.trim().is_empty())
                .collect::<Vec<_>>()
                .join("\n");
        }
    }
    entries
}
