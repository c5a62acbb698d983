//! `hitzeleiter parse` and `getvar` on testdata/parse (a build directory and a small
//! layer): the values are what real BitBake 2.19 gives for it, which
//! `values_agree_with_real_bitbake` checks when `HZ_BB_PYTHON` is set.

use std::path::{Path, PathBuf};
use std::process::Command;

fn build_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/parse/build")
}

fn hitzeleiter(args: &[&str]) -> (i32, String, String) {
    test_support::run_in(env!("CARGO_BIN_EXE_hitzeleiter"), &build_dir(), args)
}

/// Runs one of the BitBake scripts of tests/ in the build directory, with ARGS.
fn run_bitbake(python: &std::ffi::OsStr, script: &str, args: &[&str]) -> String {
    let output = Command::new(python)
        .arg(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests")
                .join(script),
        )
        .args(args)
        .current_dir(build_dir())
        .env_remove("BBPATH")
        .output()
        .expect("run BitBake");
    assert!(
        output.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8")
}

/// `parse` (which writes a parse cache) runs in a scratch copy of the build directory,
/// given with `--build-dir` from elsewhere.
#[test]
fn parse_prints_bitbakes_summary() {
    let build = scratch_build("parse-summary", &[]);
    let output = Command::new(env!("CARGO_BIN_EXE_hitzeleiter"))
        .args(["parse", "--build-dir"])
        .arg(&build)
        .current_dir(std::env::temp_dir())
        .env_remove("BBPATH")
        .output()
        .expect("run hitzeleiter");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "Parsing of 2 .bb files complete (0 cached, 2 parsed). 3 targets, 1 skipped, 0 masked, 0 errors.\n"
    );
}

#[test]
fn parse_without_bblayers_says_where_it_looked() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("no-build-dir");
    std::fs::create_dir_all(&dir).expect("directory");
    let output = Command::new(env!("CARGO_BIN_EXE_hitzeleiter"))
        .arg("parse")
        .current_dir(&dir)
        .env_remove("BBPATH")
        .output()
        .expect("run hitzeleiter");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("did not find a conf/bblayers.conf"),
        "{stderr}"
    );
}

#[test]
fn getvar_prints_history_and_value() {
    let (code, stdout, stderr) = hitzeleiter(&["getvar", "-r", "hello", "DESCRIPTION"]);
    assert_eq!(code, 0, "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[1], "# $DESCRIPTION [2 operations]");
    assert!(
        lines[2].starts_with("#   set ") && lines[2].ends_with("hello_1.0.bb:2"),
        "{stdout}"
    );
    assert!(
        lines[4].starts_with("#   :append ") && lines[4].ends_with("hello_%.bbappend:1"),
        "{stdout}"
    );
    assert_eq!(
        lines[6..],
        [
            "# pre-expansion value:",
            "#   \"hello ${PV} (appended)\"",
            "DESCRIPTION=\"hello 1.0 (appended)\""
        ]
    );
}

#[test]
fn getvar_values_of_recipes_and_variants() {
    let value = |args: &[&str]| {
        let (code, stdout, stderr) = hitzeleiter(args);
        assert_eq!(code, 0, "{args:?}: {stderr}");
        stdout
    };
    assert_eq!(
        value(&["getvar", "-r", "hello", "--value", "DEPENDS"]),
        "zlib\n"
    );
    assert_eq!(
        value(&["getvar", "-r", "hello-native", "--value", "DEPENDS"]),
        "zlib native-only\n"
    );
    assert_eq!(
        value(&["getvar", "-r", "hello-native", "--value", "PN"]),
        "hello-native\n"
    );
    assert_eq!(
        value(&["getvar", "--value", "OVERRIDES"]),
        "pn-defaultpkgname:class-target:testmachine:forcevariable\n"
    );
    assert_eq!(
        value(&["getvar", "-r", "hello", "--value", "-u", "DESCRIPTION"]),
        "hello ${PV} (appended)\n"
    );
    assert_eq!(
        value(&[
            "getvar", "-r", "hello", "--value", "-f", "noexec", "do_build"
        ]),
        "1\n"
    );
}

#[test]
fn getvar_of_an_undefined_variable_fails() {
    let (code, stdout, stderr) = hitzeleiter(&["getvar", "NOT_DEFINED"]);
    assert_eq!(code, 1);
    assert_eq!(stdout, "");
    assert_eq!(stderr, "The variable 'NOT_DEFINED' is not defined\n");
}

/// The messages recipes log as their parse prints them: `env` (`bitbake -e`) all, with the
/// summary; `getvar -r` (bitbake-getvar's tinfoil at quiet level 2) warnings and errors,
/// no summary; `getvar -q -r` (level 3) errors only.
#[test]
fn getvar_prints_what_bitbake_getvar_prints_of_the_parse() {
    let build = scratch_build(
        "getvar-quiet-levels",
        &[(
            "meta-test/recipes-test/noisy/noisy_1.0.bb",
            "python () {\n    bb.note('a note from noisy')\n    bb.warn('a warning from noisy')\n}\n",
        )],
    );
    let cold = |args: &[&str]| {
        let _ = std::fs::remove_dir_all(build.join("cache"));
        let (code, _, stderr) =
            test_support::run_in(env!("CARGO_BIN_EXE_hitzeleiter"), &build, args);
        assert_eq!(code, 0, "{args:?}: {stderr}");
        ["Parsing of", "NOTE: a note", "WARNING: a warning"].map(|line| stderr.contains(line))
    };
    assert_eq!(cold(&["env", "hello"]), [true, true, true]);
    assert_eq!(cold(&["getvar", "-r", "hello", "PV"]), [false, false, true]);
    assert_eq!(
        cold(&["getvar", "-q", "-r", "hello", "PV"]),
        [false, false, false]
    );
}

/// `env -b` (`bitbake -e -b`) shows one recipe file, named by its path or by a regular
/// expression matching one file of BBFILES, a variant as `virtual:CLASS:FILE`; it shows a
/// recipe BitBake skips too, as `bitbake -e -b` does.
#[test]
fn env_of_a_recipe_file() {
    let value = |args: &[&str], var: &str| {
        let (code, stdout, stderr) = hitzeleiter(args);
        assert_eq!(code, 0, "{args:?}: {stderr}");
        let start = format!("\n{var}=\"");
        let at = stdout
            .find(&start)
            .unwrap_or_else(|| panic!("{args:?}: no {var}"));
        let rest = &stdout[at + start.len()..];
        rest[..rest.find('"').unwrap_or(rest.len())].to_owned()
    };
    assert_eq!(value(&["env", "-b", "hello_1"], "PN"), "hello");
    assert_eq!(value(&["env", "-b", "hello_1"], "FILE_LAYERNAME"), "test");
    // A path is made absolute as python's os.path.abspath makes it: without the `..` that
    // BBFILE_PATTERN_test has, so in no layer collection, and FILE_LAYERNAME is None (no
    // value printed), as BitBake sets it then.
    let path = "../meta-test/recipes-test/hello/hello_1.0.bb";
    assert_eq!(value(&["env", "-b", path], "PN"), "hello");
    let (_, stdout, _) = hitzeleiter(&["env", "-b", path]);
    assert!(stdout.contains("\n# $FILE_LAYERNAME\n"), "{stdout}");
    assert!(!stdout.contains("\nFILE_LAYERNAME="), "{stdout}");
    assert_eq!(
        value(&["env", "-b", "virtual:native:hello_1"], "PN"),
        "hello-native"
    );
    assert_eq!(value(&["env", "-b", "skipme_"], "PN"), "skipme");
    let (code, _, stderr) = hitzeleiter(&["env", "-b", "no-such-recipe"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("Unable to find any recipe file matching 'no-such-recipe'"),
        "{stderr}"
    );
    let (code, _, stderr) = hitzeleiter(&["env", "-b", r"\.bb$"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("to a specific recipe file - 2 matches found:\n    "),
        "{stderr}"
    );
}

/// A variable python set to None is not defined for bitbake-getvar (its getVar is None).
#[test]
fn getvar_of_a_variable_set_to_none_fails() {
    let build = scratch_build(
        "getvar-none",
        &[(
            "build/conf/local.conf",
            "MACHINE ??= \"testmachine\"\nDISTRO = \"testdistro\"\nSETTER := \"${@d.setVar('NONE_VALUED', None)}\"\n",
        )],
    );
    let (code, stdout, stderr) = test_support::run_in(
        env!("CARGO_BIN_EXE_hitzeleiter"),
        &build,
        &["getvar", "--value", "NONE_VALUED"],
    );
    assert_eq!((code, stdout.as_str()), (1, ""), "{stderr}");
    assert_eq!(stderr, "The variable 'NONE_VALUED' is not defined\n");
}

/// The same values from the real BitBake library.
#[test]
fn values_agree_with_real_bitbake() {
    let Some(python) = test_support::bitbake_python("values_agree_with_real_bitbake") else {
        return;
    };
    let theirs = run_bitbake(
        &python,
        "bitbake_values.py",
        &[
            "../meta-test/recipes-test/hello/hello_1.0.bb",
            "../meta-test/recipes-test/hello/hello_%.bbappend",
        ],
    );
    let mut ours = String::new();
    for (recipe, var) in [
        ("hello", "DESCRIPTION"),
        ("hello", "DEPENDS"),
        ("hello-native", "DEPENDS"),
        ("hello-native", "PN"),
    ] {
        let (_, stdout, _) = hitzeleiter(&["getvar", "-r", recipe, "--value", var]);
        ours.push_str(&format!("{recipe} {var}={stdout}"));
    }
    let (_, overrides, _) = hitzeleiter(&["getvar", "--value", "OVERRIDES"]);
    ours.push_str(&format!("OVERRIDES={overrides}"));
    assert_eq!(ours, theirs);
}

/// What of `bitbake -e` must be identical: the include history, every line that is not a
/// comment (values, exports, functions) except BB_ORIGENV (an object's address), and which
/// variables have a history block. The history lines themselves name BitBake's internal
/// python files for operations made by code, which we do not imitate.
fn comparable_env(text: &str) -> Vec<String> {
    let mut in_include_history = false;
    let mut out = Vec::new();
    for line in text.lines() {
        if line == "# INCLUDE HISTORY:" {
            in_include_history = true;
        } else if line.starts_with("# $") {
            in_include_history = false;
            // The operation count includes BitBake's quirks in sharing history between copies.
            out.push(line.split(" [").next().unwrap_or(line).to_owned());
            continue;
        }
        if (in_include_history || !line.starts_with('#')) && !line.starts_with("BB_ORIGENV=") {
            out.push(line.to_owned());
        }
    }
    out
}

/// `env` (global and for a recipe) against the real BitBake's `bitbake -e` code.
#[test]
fn env_agrees_with_real_bitbake() {
    let Some(python) = test_support::bitbake_python("env_agrees_with_real_bitbake") else {
        return;
    };
    for recipe in [None, Some("hello")] {
        let files: &[&str] = match recipe {
            None => &[],
            Some(_) => &[
                "../meta-test/recipes-test/hello/hello_1.0.bb",
                "../meta-test/recipes-test/hello/hello_%.bbappend",
            ],
        };
        let theirs = run_bitbake(&python, "bitbake_env.py", files);
        let mut args = vec!["env"];
        args.extend(recipe);
        let (code, ours, stderr) = hitzeleiter(&args);
        assert_eq!(code, 0, "{stderr}");
        let (ours, theirs) = (comparable_env(&ours), comparable_env(&theirs));
        assert!(theirs.len() > 40, "BitBake printed too little: {theirs:?}");
        for (i, (a, b)) in ours.iter().zip(&theirs).enumerate() {
            assert_eq!(a, b, "env {recipe:?}: line {i} differs");
        }
        assert_eq!(
            ours.len(),
            theirs.len(),
            "env {recipe:?}: line counts differ"
        );
    }
}

#[test]
fn getvar_and_env_print_json() {
    let (code, stdout, stderr) =
        hitzeleiter(&["getvar", "-r", "hello", "--format", "json", "DESCRIPTION"]);
    assert_eq!(code, 0, "{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(json["variable"], "DESCRIPTION");
    let (_, plain, _) = hitzeleiter(&["getvar", "-r", "hello", "--value", "DESCRIPTION"]);
    assert_eq!(json["value"], plain.trim_end_matches('\n'));
    assert!(
        json["history"].as_array().is_some_and(|h| !h.is_empty()),
        "{json}"
    );

    let (code, stdout, stderr) = hitzeleiter(&["env", "--format", "json", "hello-native"]);
    assert_eq!(code, 0, "{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(json["variables"]["PN"]["value"], "hello-native");
    assert_eq!(json["functions"]["do_compile"]["language"], "shell");
    assert!(
        json["include_history"]
            .as_array()
            .is_some_and(|files| files.iter().any(|f| f["file"] == "conf/bitbake.conf")),
        "{json}"
    );
}

/// Copies testdata/parse to a scratch directory and adds `files` (path relative to it).
fn scratch_build(name: &str, files: &[(&str, &str)]) -> PathBuf {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    test_support::scratch_copy(&build_dir().join(".."), &root, files);
    root.join("build")
}

/// A python exception in one recipe is reported with the metadata file and line of each
/// frame; the other recipes still parse and the error is counted.
#[test]
fn python_exceptions_name_the_metadata_lines() {
    let build = scratch_build(
        "python-exception",
        &[(
            "meta-test/recipes-test/bad/bad_1.0.bb",
            "A = \"a\"\n\npython __anonymous() {\n    x = 1\n    helper_fail(d)\n}\n\ndef helper_fail(d):\n    return {}[\"missing\"]\n",
        )],
    );
    let output = Command::new(env!("CARGO_BIN_EXE_hitzeleiter"))
        .args(["parse", "--build-dir"])
        .arg(&build)
        .env_remove("BBPATH")
        .output()
        .expect("run hitzeleiter");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stdout.contains(
            "3 .bb files complete (0 cached, 3 parsed). 3 targets, 1 skipped, 0 masked, 1 errors."
        ),
        "{stdout}"
    );
    assert!(
        stderr.contains("bad_1.0.bb\", line 5, in __anon_"),
        "{stderr}"
    );
    assert!(
        stderr.contains("bad_1.0.bb\", line 9, in helper_fail"),
        "{stderr}"
    );
    assert!(stderr.contains("KeyError: 'missing'"), "{stderr}");
}

/// `parse --profile` parses every recipe again, even with a current parse cache, and
/// reports the steps, the anonymous functions by file and line, and the recipe files; the
/// cache it writes serves the next parse.
#[test]
fn parse_profile_parses_again_and_names_the_python() {
    let build = scratch_build(
        "parse-profile",
        &[(
            "meta-test/recipes-test/timed/timed_1.0.bb",
            "A = \"a\"\n\npython __anonymous() {\n    d.setVar('B', 'b')\n}\n",
        )],
    );
    assert_eq!(parse_counts(&build, &[]), (0, 3));
    let output = Command::new(env!("CARGO_BIN_EXE_hitzeleiter"))
        .args(["parse", "--profile", "--build-dir"])
        .arg(&build)
        .env_remove("BBPATH")
        .output()
        .expect("run hitzeleiter");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].contains("(0 cached, 3 parsed)"), "{stdout}");
    assert!(
        lines[1].starts_with("Parse profile: 3 recipe files parsed in "),
        "{stdout}"
    );
    for expected in [
        "%  recipe statements",
        "%  anonymous python",
        "×  anonymous python timed/timed_1.0.bb:3",
        "recipes-test/timed/timed_1.0.bb",
    ] {
        assert!(
            lines.iter().any(|l| l.ends_with(expected)),
            "no line ending in {expected:?}: {stdout}"
        );
    }
    assert_eq!(parse_counts(&build, &[]), (3, 0));
}

/// `parse` in `build`, with extra environment variables; returns the summary's
/// "(C cached, P parsed)" counts.
fn parse_counts(build: &Path, env: &[(&str, &str)]) -> (usize, usize) {
    parse_counts_by(Path::new(env!("CARGO_BIN_EXE_hitzeleiter")), build, env)
}

/// [`parse_counts`] with the program `binary`.
fn parse_counts_by(binary: &Path, build: &Path, env: &[(&str, &str)]) -> (usize, usize) {
    let output = Command::new(binary)
        .args(["parse", "--build-dir"])
        .arg(build)
        .env_remove("BBPATH")
        .envs(env.iter().copied())
        .output()
        .expect("run hitzeleiter");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}{stderr}");
    let counts = stdout
        .split_once('(')
        .and_then(|(_, rest)| rest.split_once(')'))
        .map(|(inside, _)| inside.to_owned())
        .unwrap_or_default();
    let number = |word: &str| {
        counts
            .split(", ")
            .find_map(|part| part.strip_suffix(word))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("no '{word}' count in {stdout}"))
    };
    (number(" cached"), number(" parsed"))
}

/// Appends a line to a file, so that its size (and so its recorded state) changes.
fn touch(path: &Path) {
    let mut text = std::fs::read_to_string(path).expect("read");
    text.push_str("\n# changed\n");
    std::fs::write(path, text).expect("write");
}

/// The parse cache is used when nothing changed and invalidated exactly by each kind of
/// input: a recipe, a bbappend, an include, a class, a configuration file, a layer python
/// library, an environment variable BitBake passes through, the program itself; a
/// corrupt or truncated cache file is detected, reported and replaced.
#[test]
fn parse_cache_is_reused_and_invalidated_exactly() {
    let build = scratch_build(
        "parse-cache",
        &[
            (
                "meta-test/recipes-test/greet/greet_1.0.bb",
                "require greet.inc\ninherit greet\n",
            ),
            ("meta-test/recipes-test/greet/greet.inc", "A = \"a\"\n"),
            ("meta-test/classes-recipe/greet.bbclass", "B = \"b\"\n"),
            (
                "meta-test/lib/hztest/__init__.py",
                "def value():\n    return 'v'\n",
            ),
            (
                "meta-test/conf/layer.conf",
                &(std::fs::read_to_string(build_dir().join("../meta-test/conf/layer.conf"))
                    .expect("layer.conf")
                    + "addpylib ${LAYERDIR}/lib hztest\n"),
            ),
        ],
    );
    let layer = build.join("../meta-test");
    let env = [
        ("BB_ENV_PASSTHROUGH_ADDITIONS", "HZ_TEST_VALUE"),
        ("HZ_TEST_VALUE", "1"),
    ];
    assert_eq!(parse_counts(&build, &env), (0, 3), "cold");
    assert_eq!(parse_counts(&build, &env), (3, 0), "warm, nothing changed");

    for (what, file, reparsed) in [
        ("recipe", "recipes-test/greet/greet_1.0.bb", 1),
        ("include", "recipes-test/greet/greet.inc", 1),
        ("class", "classes-recipe/greet.bbclass", 1),
        ("bbappend", "recipes-test/hello/hello_%.bbappend", 1),
        ("configuration", "conf/bitbake.conf", 3),
        ("python library", "lib/hztest/__init__.py", 3),
    ] {
        touch(&layer.join(file));
        assert_eq!(
            parse_counts(&build, &env),
            (3 - reparsed, reparsed),
            "{what} changed"
        );
        assert_eq!(
            parse_counts(&build, &env),
            (3, 0),
            "after the {what} change"
        );
    }
    let changed_env = [env[0], ("HZ_TEST_VALUE", "2")];
    assert_eq!(
        parse_counts(&build, &changed_env),
        (0, 3),
        "passed-through variable changed"
    );

    // A copy of the program is another build of it (its modification time differs): it
    // trusts no cache of this one, nor this one a cache of it.
    let copy = build.join("../hitzeleiter-copy");
    std::fs::copy(env!("CARGO_BIN_EXE_hitzeleiter"), &copy).expect("copy the program");
    assert_eq!(
        parse_counts_by(&copy, &build, &changed_env),
        (0, 3),
        "another program's cache"
    );
    assert_eq!(
        parse_counts(&build, &changed_env),
        (0, 3),
        "another program's cache"
    );

    let cache_file = build.join("cache/hitzeleiter/parse.cache");

    let bytes = std::fs::read(&cache_file).expect("cache");
    std::fs::write(&cache_file, &bytes[..bytes.len() / 2]).expect("truncate");
    let output = Command::new(env!("CARGO_BIN_EXE_hitzeleiter"))
        .args(["parse", "--build-dir"])
        .arg(&build)
        .env_remove("BBPATH")
        .envs(changed_env.iter().copied())
        .output()
        .expect("run hitzeleiter");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("parse cache is corrupt"), "{stderr}");
    assert!(String::from_utf8_lossy(&output.stdout).contains("(0 cached, 3 parsed)"));
    assert_eq!(
        parse_counts(&build, &changed_env),
        (3, 0),
        "rewritten after corruption"
    );
}

/// Runs `parse` in a scratch build directory and returns (exit code, stdout, stderr).
fn parse_in(build: &Path) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_hitzeleiter"))
        .args(["parse", "--build-dir"])
        .arg(build)
        .env_remove("BBPATH")
        .output()
        .expect("run hitzeleiter");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A syntax error in one recipe is reported with its file and line; the other recipes
/// still parse and the error is counted, as in BitBake.
#[test]
fn a_syntax_error_fails_only_its_recipe() {
    let build = scratch_build(
        "syntax-error",
        &[(
            "meta-test/recipes-test/broken/broken_1.0.bb",
            "A = \"a\"\ndo_compile() {\n    make\n",
        )],
    );
    let (code, stdout, stderr) = parse_in(&build);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stdout.contains(
            "3 .bb files complete (0 cached, 3 parsed). 3 targets, 1 skipped, 0 masked, 1 errors."
        ),
        "{stdout}"
    );
    assert!(
        stderr.contains("ERROR: Unable to parse") && stderr.contains("broken_1.0.bb"),
        "{stderr}"
    );
    assert!(
        stderr.contains("broken_1.0.bb:2"),
        "the line is named: {stderr}"
    );
}

/// Recipes are parsed in worker processes: a recipe whose python ends its process (an
/// exit, a signal) fails alone, saying how, and a new worker parses the rest, with one
/// worker as with several.
#[test]
fn a_recipe_that_ends_its_parse_worker_fails_alone() {
    for workers in ["1", "2"] {
        let build = scratch_build(
            &format!("worker-ends-{workers}"),
            &[
                (
                    "meta-test/recipes-test/leaves/leaves_1.0.bb",
                    "python __anonymous() {\n    import os\n    os._exit(3)\n}\n",
                ),
                (
                    "meta-test/recipes-test/killed/killed_1.0.bb",
                    "python __anonymous() {\n    import os, signal\n    os.kill(os.getpid(), signal.SIGKILL)\n}\n",
                ),
                (
                    "build/conf/local.conf",
                    &format!(
                        "MACHINE ??= \"testmachine\"\nDISTRO = \"testdistro\"\nBB_NUMBER_PARSE_THREADS = \"{workers}\"\n"
                    ),
                ),
            ],
        );
        let (code, stdout, stderr) = parse_in(&build);
        assert_eq!(code, 1, "{stderr}");
        assert!(
            stdout.contains(
                "4 .bb files complete (0 cached, 4 parsed). 3 targets, 1 skipped, 0 masked, 2 errors."
            ),
            "{workers} worker(s): {stdout}"
        );
        assert!(
            stderr.contains("leaves_1.0.bb: the parse worker exited with status 3"),
            "{stderr}"
        );
        assert!(
            stderr.contains("killed_1.0.bb: the parse worker was killed by signal 9"),
            "{stderr}"
        );
    }
}

/// A layer that does not exist, or a BBPATH without conf/bitbake.conf, is one clear
/// error saying what was looked for and where.
#[test]
fn missing_layers_and_bitbake_conf_are_clear_errors() {
    let build = scratch_build(
        "missing-layer",
        &[(
            "build/conf/bblayers.conf",
            "BBPATH = \"${TOPDIR}\"\nBBFILES ?= \"\"\nBBLAYERS ?= \"${TOPDIR}/../meta-test ${TOPDIR}/../meta-nowhere\"\n",
        )],
    );
    let (code, _, stderr) = parse_in(&build);
    assert_eq!(code, 1);
    assert!(stderr.contains("meta-nowhere"), "{stderr}");
    assert_eq!(
        stderr.lines().filter(|l| l.starts_with("ERROR")).count(),
        1,
        "{stderr}"
    );

    let build = scratch_build(
        "no-bitbake-conf",
        &[
            (
                "build/conf/bblayers.conf",
                "BBPATH = \"${TOPDIR}\"\nBBFILES ?= \"\"\nBBLAYERS ?= \"${TOPDIR}/../meta-empty\"\n",
            ),
            ("meta-empty/conf/layer.conf", "BBPATH .= \":${LAYERDIR}\"\n"),
        ],
    );
    let (code, _, stderr) = parse_in(&build);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("conf/bitbake.conf was not found in any BBPATH entry")
            && stderr.contains("meta-empty"),
        "{stderr}"
    );
}

/// BBMASK is a python regular expression: lookarounds work; an invalid one is reported
/// and ignored, as BitBake does.
#[test]
fn bbmask_takes_python_regular_expressions() {
    let local = std::fs::read_to_string(build_dir().join("conf/local.conf")).expect("local.conf");
    let build = scratch_build(
        "bbmask",
        &[(
            "build/conf/local.conf",
            &format!("{local}BBMASK = \"recipes-test/(?!hello) (unclosed\"\n"),
        )],
    );
    let (code, stdout, stderr) = parse_in(&build);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("Parsing of 1 .bb files complete (0 cached, 1 parsed). 2 targets, 0 skipped, 1 masked, 0 errors."),
        "{stdout}"
    );
    assert!(
        stderr.contains("BBMASK contains an invalid regular expression, ignoring: (unclosed"),
        "{stderr}"
    );
}

/// An operation made by python code shows in the history as BitBake shows it: the file's
/// base name, the line in it, and the python function (an anonymous function is named
/// after its last line, as BitBake names it).
#[test]
fn history_names_the_python_function_that_set_a_variable() {
    let build = scratch_build(
        "python-history",
        &[(
            "meta-test/recipes-test/anon/anon_1.0.bb",
            "A = \"a\"\npython __anonymous() {\n    d.setVar('SET_BY_PYTHON', 'y')\n}\n",
        )],
    );
    let output = Command::new(env!("CARGO_BIN_EXE_hitzeleiter"))
        .args(["getvar", "-r", "anon", "SET_BY_PYTHON", "--build-dir"])
        .arg(&build)
        .env_remove("BBPATH")
        .output()
        .expect("run hitzeleiter");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("#   set anon_1.0.bb:3 [__anon_4_"),
        "history line missing in:\n{stdout}"
    );
}

/// As knotty: `bb.plain` is printed without a level, an ERROR message from a recipe that
/// otherwise parses fails the run with BitBake's closing summary, warnings are counted.
#[test]
fn logged_messages_are_printed_and_counted_as_bitbake_does() {
    let build = scratch_build(
        "logged-messages",
        &[(
            "meta-test/recipes-test/loud/loud_1.0.bb",
            "python __anonymous() {\n    bb.plain(\"just text\")\n    bb.warn(\"careful\")\n    bb.error(\"broken\")\n    bb.debug(1, \"hidden\")\n    bb.debug(\"wrong level\")\n}\n",
        )],
    );
    let (code, stdout, stderr) = parse_in(&build);
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(stdout.contains("0 masked, 0 errors.\n"), "{stdout}");
    assert!(
        stdout.ends_with(
            "Summary: There were 2 WARNING messages.\nSummary: There was 1 ERROR message, returning a non-zero exit code.\n"
        ),
        "{stdout}"
    );
    let lines: Vec<&str> = stderr.lines().collect();
    // Debug messages are not shown at the default level; a string level is BitBake's
    // warning.
    for line in [
        "just text",
        "WARNING: careful",
        "ERROR: broken",
        "WARNING: Passed invalid debug level 'wrong level' to bb.debug",
    ] {
        assert!(lines.contains(&line), "{line:?} not in {stderr}");
    }
    assert!(!stderr.contains("hidden"), "{stderr}");
}

#[test]
fn getvar_names_an_undefined_flag_and_can_ignore_undefined() {
    let (code, stdout, stderr) = hitzeleiter(&["getvar", "--value", "-f", "nosuchflag", "PN"]);
    assert_eq!((code, stdout.as_str()), (1, ""));
    assert_eq!(
        stderr,
        "The flag 'nosuchflag' is not defined for variable 'PN'\n"
    );
    let (code, stdout, stderr) = hitzeleiter(&["getvar", "--ignore-undefined", "NOT_DEFINED"]);
    assert_eq!((code, stdout.as_str(), stderr.as_str()), (0, "", ""));
}

/// BitBake names each variable of a failed expansion's chain once.
#[test]
fn an_expansion_failure_names_its_chain_once() {
    let build = scratch_build(
        "expansion-chain",
        &[(
            "meta-test/recipes-test/chain/chain_1.0.bb",
            "B = \"${@undefined_function()}\"\nC = \"${B}\"\nD := \"${C}\"\n",
        )],
    );
    let (code, _, stderr) = parse_in(&build);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("The variable dependency chain for the failure is: B -> C -> D[:=]"),
        "{stderr}"
    );
}

/// `--build-dir` is a global option: before the command or after it.
#[test]
fn build_dir_is_a_global_option() {
    for args in [
        vec!["--build-dir", "BUILD", "getvar", "--value", "MACHINE"],
        vec!["getvar", "--build-dir", "BUILD", "--value", "MACHINE"],
    ] {
        let build = build_dir().display().to_string();
        let args: Vec<&str> = args
            .iter()
            .map(|a| if *a == "BUILD" { build.as_str() } else { a })
            .collect();
        let (code, stdout, stderr) = test_support::run_in(
            env!("CARGO_BIN_EXE_hitzeleiter"),
            &std::env::temp_dir(),
            &args,
        );
        assert_eq!(code, 0, "{args:?}: {stderr}");
        assert!(!stdout.trim().is_empty(), "{args:?}");
    }
}

/// `getvar -r NAME` and `env NAME` find NAME as `bitbake -e NAME` does: as a build target
/// among all recipes, through PROVIDES and the preferred version; a skipped recipe is
/// refused with the reason it was skipped.
#[test]
fn getvar_and_env_resolve_targets_as_bitbake_does() {
    let versions = [
        (
            "meta-test/recipes-test/multi/multi_1.0.bb",
            "PROVIDES = \"virtual/multi\"\n",
        ),
        (
            "meta-test/recipes-test/multi/multi_2.0.bb",
            "PROVIDES = \"virtual/multi\"\n",
        ),
    ];
    let build = scratch_build("resolve-targets", &versions);
    let run = |args: &[&str]| test_support::run_in(env!("CARGO_BIN_EXE_hitzeleiter"), &build, args);
    let value = |args: &[&str]| {
        let (code, stdout, stderr) = run(args);
        assert_eq!(code, 0, "{args:?}: {stderr}");
        stdout
    };
    assert_eq!(value(&["getvar", "-r", "multi", "--value", "PV"]), "2.0\n");
    assert_eq!(
        value(&["getvar", "-r", "virtual/multi", "--value", "PV"]),
        "2.0\n"
    );
    let (code, stdout, stderr) = run(&["env", "virtual/multi"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("\nPV=\"2.0\"\n"), "{stdout}");

    let (code, stdout, stderr) = run(&["getvar", "-r", "skipme", "PN"]);
    assert_eq!((code, stdout.as_str()), (1, ""), "{stderr}");
    assert!(
        stderr
            .contains("ERROR: Nothing PROVIDES 'skipme'\nskipme was skipped: not for testmachine"),
        "{stderr}"
    );
    let (code, _, stderr) = run(&["env", "no-such-recipe"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("Nothing PROVIDES 'no-such-recipe'"),
        "{stderr}"
    );

    let build = scratch_build(
        "resolve-preferred-version",
        &[
            versions[0],
            versions[1],
            (
                "build/conf/local.conf",
                "MACHINE ??= \"testmachine\"\nDISTRO = \"testdistro\"\nPREFERRED_VERSION_multi = \"1.0\"\nASSUME_PROVIDED = \"hello-native virtual/multi\"\n",
            ),
        ],
    );
    let (code, stdout, stderr) = test_support::run_in(
        env!("CARGO_BIN_EXE_hitzeleiter"),
        &build,
        &["getvar", "-r", "virtual/multi", "--value", "PV"],
    );
    assert_eq!((code, stdout.as_str()), (0, "1.0\n"), "{stderr}");
    // The parse was cold: bitbake-getvar's tinfoil prints no summary (bitbake -e does).
    assert!(!stderr.contains("Parsing of"), "{stderr}");
    // What ASSUME_PROVIDED names: bitbake -e refuses it, bitbake-getvar shows the recipe
    // (a PN, or a name another PN PROVIDES: the cooker's findBestProvider).
    let run = |args: &[&str]| test_support::run_in(env!("CARGO_BIN_EXE_hitzeleiter"), &build, args);
    let (code, stdout, stderr) = run(&["env", "virtual/multi"]);
    assert_eq!((code, stdout.as_str()), (1, ""), "{stderr}");
    assert!(
        stderr.contains("ERROR: virtual/multi is in ASSUME_PROVIDED"),
        "{stderr}"
    );
    let (code, stdout, stderr) = run(&["env", "multi:do_compile"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("\nPV=\"1.0\"\n"), "{stdout}");
    assert!(stderr.contains("Parsing of"), "{stderr}");
    let (code, stdout, stderr) = run(&["getvar", "-r", "hello-native", "--value", "PN"]);
    assert_eq!((code, stdout.as_str()), (0, "hello-native\n"), "{stderr}");
    let (code, _, stderr) = run(&["env", "hello-native"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("ERROR: hello-native is in ASSUME_PROVIDED"),
        "{stderr}"
    );
}

/// A local.conf whose parse logs a warning.
const WARNING_LOCAL_CONF: &str = "MACHINE ??= \"testmachine\"\nDISTRO = \"testdistro\"\nWARNED := \"${@bb.warn('from local.conf')}\"\n";

/// BitBake parses the configuration on every run, and prints its messages every time; a
/// parse with every recipe from the cache shows them too (from the cache, as it parses no
/// configuration), once.
#[test]
fn every_parse_prints_the_configurations_messages() {
    let build = scratch_build(
        "configuration-messages-parse",
        &[("build/conf/local.conf", WARNING_LOCAL_CONF)],
    );
    for cache in ["cold", "warm"] {
        let (code, stdout, stderr) =
            test_support::run_in(env!("CARGO_BIN_EXE_hitzeleiter"), &build, &["parse"]);
        assert_eq!(code, 0, "{cache}: {stderr}");
        let parsed = if cache == "cold" {
            "0 cached, 2 parsed"
        } else {
            "2 cached, 0 parsed"
        };
        assert!(stdout.contains(parsed), "{cache}: {stdout}");
        assert_eq!(
            stderr.matches("WARNING: from local.conf").count(),
            1,
            "{cache}: {stderr}"
        );
    }
}

/// A message the configuration logs is printed once by `env RECIPE`, which parses the
/// configuration twice when the parse cache is cold (all recipes, then the one shown).
#[test]
fn env_prints_the_configurations_messages_once() {
    let build = scratch_build(
        "configuration-messages",
        &[("build/conf/local.conf", WARNING_LOCAL_CONF)],
    );
    for cache in ["cold", "warm"] {
        let (code, _, stderr) =
            test_support::run_in(env!("CARGO_BIN_EXE_hitzeleiter"), &build, &["env", "hello"]);
        assert_eq!(code, 0, "{cache}: {stderr}");
        assert_eq!(
            stderr.matches("WARNING: from local.conf").count(),
            1,
            "{cache}: {stderr}"
        );
    }
}
