//! `graph`, `show-layers`, `show-recipes` and `show-appends` on testdata/graph: two layers
//! (one whose priority BitBake calculates from LAYERDEPENDS), several versions of a recipe
//! across them, virtual providers, PREFERRED_PROVIDER and PREFERRED_VERSION, a class
//! extension, ASSUME_PROVIDED, a runtime provider, a bbappend, a skipped recipe, a missing
//! dependency and a dependency loop. The expected choices follow BitBake's provider rules
//! (bb/providers.py); the graph of real openembedded-core is compared with BitBake's own in
//! tests/oe_core.rs.

use std::path::{Path, PathBuf};

/// A scratch copy of testdata/graph; returns its build directory.
fn scratch(name: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/graph");
    test_support::scratch_copy(&source, &root, &[]);
    root.join("build")
}

fn hitzeleiter(build: &Path, args: &[&str]) -> (i32, String, String) {
    test_support::run_in(env!("CARGO_BIN_EXE_hitzeleiter"), build, args)
}

#[test]
fn graph_chooses_providers_as_bitbake_does() {
    let build = scratch("graph_chooses_providers");
    let (code, _, stderr) = hitzeleiter(&build, &["graph", "app"]);
    assert_eq!(code, 0, "{stderr}");
    let buildlist = std::fs::read_to_string(build.join("pn-buildlist")).expect("pn-buildlist");
    // hosttool-native is ASSUME_PROVIDED; libc-a loses to PREFERRED_PROVIDER.
    assert_eq!(buildlist, "app\nbar\nlibc-b\ntool-native\nzlib\n");
    let dot = std::fs::read_to_string(build.join("task-depends.dot")).expect("dot");
    let root = build.join("..").display().to_string();
    for expected in [
        // The higher-priority layer's zlib 1.1 beats meta-core's 1.2 and 1.3.
        format!(
            "\"zlib.do_fetch\" [label=\"zlib do_fetch\\n:1.1-r0\\n{root}/meta-extra/recipes/zlib/zlib_1.1.bb\"]"
        ),
        // PREFERRED_VERSION_bar = "1.%" picks 1.2 over 2.0.
        format!(
            "\"bar.do_fetch\" [label=\"bar do_fetch\\n:1.2-r0\\n{root}/meta-core/recipes/bar/bar_1.2.bb\"]"
        ),
        // The native variant is named virtual:native:FILE.
        format!(
            "\"tool-native.do_fetch\" [label=\"tool-native do_fetch\\n:1.0-r0\\nvirtual:native:{root}/meta-core/recipes/tool/tool_1.0.bb\"]"
        ),
        // [deptask]: configure waits for the sysroots of DEPENDS (bar from the bbappend).
        "\"app.do_configure\" -> \"bar.do_populate_sysroot\"".to_owned(),
        "\"app.do_configure\" -> \"libc-b.do_populate_sysroot\"".to_owned(),
        "\"app.do_configure\" -> \"tool-native.do_populate_sysroot\"".to_owned(),
        // [rdeptask]: bar RPROVIDES bar-runtime, which app RDEPENDS on.
        "\"app.do_build\" -> \"bar.do_package\"".to_owned(),
        // addtask … after.
        "\"app.do_configure\" -> \"app.do_fetch\"".to_owned(),
    ] {
        assert!(dot.contains(&expected), "missing {expected} in:\n{dot}");
    }
    // do_build[recrdeptask] = "do_build" names its own task: BitBake then drops every such
    // self-referencing task from the others' dependencies, so no other recipe's do_build
    // is in the graph.
    assert!(!dot.contains("\"bar.do_build\" ["), "{dot}");
    assert!(dot.contains("\"app.do_build\" ["), "{dot}");

    // JSON carries the same graph.
    let (code, stdout, _) = hitzeleiter(&build, &["graph", "app", "--format", "json"]);
    assert_eq!(code, 0);
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    let tasks = json["tasks"].as_array().expect("tasks");
    assert_eq!(tasks.len(), dot.matches("[label=").count());
    assert!(stdout.contains("\"zlib.do_populate_sysroot\""));
}

#[test]
fn a_missing_provider_names_who_needs_it() {
    let build = scratch("a_missing_provider");
    let (code, _, stderr) = hitzeleiter(&build, &["graph", "broken"]);
    assert_eq!(code, 1);
    let expected = format!(
        "ERROR: Nothing PROVIDES 'missing-thing' (but {}/meta-core/recipes/broken/broken_1.0.bb DEPENDS on or otherwise requires it)",
        build.join("..").display()
    );
    assert_eq!(
        stderr.matches(&expected).count(),
        1,
        "expected once: {expected}\n{stderr}"
    );
    // Deeper down, the chain from the target is given too.
    let (code, _, stderr) = hitzeleiter(&build, &["graph", "uses-broken"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("The chain that requires it: uses-broken -> broken -> missing-thing"),
        "{stderr}"
    );
    let (code, _, stderr) = hitzeleiter(&build, &["graph", "no-such-recipe"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("ERROR: Nothing PROVIDES 'no-such-recipe'"),
        "{stderr}"
    );
    // A skipped recipe says why it cannot provide.
    let (code, _, stderr) = hitzeleiter(&build, &["graph", "skipped"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("skipped was skipped: not for this machine"),
        "{stderr}"
    );
}

#[test]
fn a_dependency_loop_lists_its_tasks_in_order() {
    let build = scratch("a_dependency_loop");
    let (code, _, stderr) = hitzeleiter(&build, &["graph", "cycle-a"]);
    assert_eq!(code, 1);
    let loop_lines: Vec<&str> = stderr
        .lines()
        .skip_while(|l| !l.starts_with("ERROR: Dependency loop"))
        .skip(1)
        .map(|l| l.trim().trim_end_matches(" ->"))
        .collect();
    assert!(loop_lines.len() > 2, "{stderr}");
    assert_eq!(loop_lines.first(), loop_lines.last(), "{stderr}");
    assert!(loop_lines.contains(&"cycle-b.do_fetch"), "{stderr}");
    assert!(loop_lines.contains(&"cycle-a.do_build"), "{stderr}");
}

#[test]
fn layer_tools_print_bitbake_layers_formats() {
    let build = scratch("layer_tools");
    let root = build.join("..").display().to_string();
    let (code, stdout, stderr) = hitzeleiter(&build, &["show-layers"]);
    assert_eq!(code, 0, "{stderr}");
    let expected = format!(
        "{:<20}  {:<70}  priority\n{}\n{:<20}  {:<70}  6\n{:<20}  {:<70}  5\n",
        "layer",
        "path",
        "=".repeat(104),
        "extra",
        format!("{root}/meta-extra"),
        "core",
        format!("{root}/meta-core"),
    );
    assert_eq!(stdout, expected);

    let (code, stdout, _) = hitzeleiter(&build, &["show-recipes", "zlib", "skipped", "bar"]);
    assert_eq!(code, 0);
    assert_eq!(
        stdout,
        "=== Matching recipes: ===\n\
         bar:\n  meta-core            1.2\n  meta-core            2.0\n\
         skipped:\n  meta-core            1.0 (skipped: not for this machine)\n\
         zlib:\n  meta-extra           1.1\n  meta-core            1.2\n  meta-core            1.3\n"
    );
    let (_, stdout, _) = hitzeleiter(&build, &["show-recipes"]);
    assert!(
        stdout.starts_with("=== Available recipes: ===\napp:\n"),
        "{stdout}"
    );
    // The native variant is listed under its recipe, not on its own.
    assert!(!stdout.contains("tool-native"), "{stdout}");
    let (_, stdout, _) = hitzeleiter(&build, &["show-recipes", "-f", "zlib"]);
    assert_eq!(
        stdout,
        format!(
            "=== Matching recipes: ===\n{root}/meta-extra/recipes/zlib/zlib_1.1.bb\n  {root}/meta-core/recipes/zlib/zlib_1.2.bb\n  {root}/meta-core/recipes/zlib/zlib_1.3.bb\n"
        )
    );
    let (_, stdout, _) = hitzeleiter(&build, &["show-recipes", "--format", "json", "zlib"]);
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(json[0]["pn"], "zlib");
    assert_eq!(json[0]["providers"][0]["version"], "1.1");
    assert_eq!(json[0]["providers"][0]["preferred"], true);

    let (code, stdout, stderr) = hitzeleiter(&build, &["show-appends"]);
    assert_eq!(code, 0);
    assert_eq!(
        stdout,
        format!(
            "=== Matched appended recipes ===\napp_1.0.bb:\n  {root}/meta-extra/recipes/app/app_%.bbappend\nzlib_1.2.bb:\n  {root}/meta-extra/recipes/zlib/zlib_1.2.bbappend\n"
        )
    );
    assert!(
        stderr.contains("WARNING: zlib_1.1.bb: missing append for preferred version"),
        "{stderr}"
    );
    let (_, stdout, _) = hitzeleiter(&build, &["show-layers", "--format", "json"]);
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(json[0]["name"], "extra");
    assert_eq!(json[0]["priority"], 6);
}

#[test]
fn query_answers_over_recipes_and_tasks() {
    let build = scratch("query_answers");
    let query = |expression: &str| -> Vec<String> {
        let (code, stdout, stderr) = hitzeleiter(&build, &["query", expression]);
        assert_eq!(code, 0, "{expression}: {stderr}");
        let mut labels: Vec<String> = stdout.lines().map(str::to_owned).collect();
        labels.sort();
        labels
    };
    assert_eq!(
        query("deps(app)"),
        ["app", "bar", "libc-b", "tool-native", "zlib"]
    );
    assert_eq!(query("deps(app, 0)"), ["app"]);
    assert_eq!(query("rdeps(deps(app), zlib)"), ["app", "zlib"]);
    assert_eq!(query("somepath(app, zlib)"), ["app", "zlib"]);
    assert_eq!(query("allpaths(app, zlib)"), ["app", "zlib"]);
    assert_eq!(query("kind(native, deps(app))"), ["tool-native"]);
    assert_eq!(query("filter('^lib', deps(app))"), ["libc-b"]);
    assert_eq!(query("attr(LICENSE, '^Zlib$', deps(app))"), ["zlib"]);
    // A PROVIDES name stands for the recipe chosen for it.
    assert_eq!(query("virtual/libc"), ["libc-b"]);
    assert_eq!(
        query("let d = deps(app) in $d - set(app zlib) ^ filter(b, $d)"),
        ["bar", "libc-b"]
    );
    assert_eq!(
        query("deps(app:do_configure, 1)"),
        [
            "app:do_configure",
            "app:do_fetch",
            "bar:do_populate_sysroot",
            "libc-b:do_populate_sysroot",
            "tool-native:do_populate_sysroot",
            "zlib:do_populate_sysroot",
        ]
    );

    let (code, stdout, _) = hitzeleiter(&build, &["query", "--output", "graph", "deps(bar)"]);
    assert_eq!(code, 0);
    assert_eq!(
        stdout,
        "digraph mygraph {\n  node [shape=box];\n  \"bar\"\n}\n"
    );
    let (code, stdout, _) = hitzeleiter(
        &build,
        &["query", "--output", "json", "somepath(app, zlib)"],
    );
    assert_eq!(code, 0);
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(json[0]["label"], "app");
    assert_eq!(json[0]["deps"][0], "zlib");

    let (code, _, stderr) = hitzeleiter(&build, &["query", "deps(app"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("expected ')', found the end of the expression")
            && stderr.contains("(column 9)"),
        "{stderr}"
    );
    let (code, _, stderr) = hitzeleiter(&build, &["query", "kind(native deps(app))"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("(column 13)") && stderr.contains("expected ','"),
        "{stderr}"
    );
}

#[test]
fn default_preference_runtime_recommends_and_ambiguous_providers() {
    let build = scratch("default_preference");
    let (code, _, stderr) = hitzeleiter(&build, &["graph", "pref"]);
    assert_eq!(code, 0, "{stderr}");
    let buildlist = std::fs::read_to_string(build.join("pn-buildlist")).expect("pn-buildlist");
    assert_eq!(buildlist, "pref\nrecommended\n");
    let dot = std::fs::read_to_string(build.join("task-depends.dot")).expect("dot");
    // DEFAULT_PREFERENCE = "-1" on 2.0 leaves 1.0 preferred.
    assert!(
        dot.contains("\"pref.do_fetch\" [label=\"pref do_fetch\\n:1.0-r0\\n"),
        "{dot}"
    );
    // [rdeptask] covers RRECOMMENDS too.
    assert!(
        dot.contains("\"pref.do_build\" -> \"recommended.do_package\""),
        "{dot}"
    );

    // Two providers and no preference: BitBake's note, plus which one is used and why.
    let (code, _, stderr) = hitzeleiter(&build, &["graph", "virtual/editor"]);
    assert_eq!(code, 0, "{stderr}");
    let expected = format!(
        "NOTE: Multiple providers are available for virtual/editor (nano-x, vim-x).\nConsider defining a PREFERRED_PROVIDER entry to match virtual/editor\nUsing nano-x ({}/meta-core/recipes/editor/nano-x_1.0.bb): first of the candidates in PN order",
        build.join("..").display()
    );
    assert!(stderr.contains(&expected), "{stderr}");
    let buildlist = std::fs::read_to_string(build.join("pn-buildlist")).expect("pn-buildlist");
    assert_eq!(buildlist, "nano-x\n");
}
