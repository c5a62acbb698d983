//! The read rules of bitbake-semantics.md §4, one test each.

use bb_data::{DataError, DataStore, Value};

fn get(d: &DataStore, var: &str) -> Option<String> {
    d.get_var_str(var).expect("expansion succeeds")
}

fn raw(d: &DataStore, var: &str) -> Option<String> {
    d.get_var_raw(var)
        .expect("read succeeds")
        .map(|v| v.to_string())
}

fn parsing(d: &DataStore, var: &str, value: &str) {
    d.set_var_parsing(var, value, None, "set").expect("set");
}

#[test]
fn rightmost_override_wins_and_longer_override_beats_shorter() {
    let d = DataStore::new();
    parsing(&d, "OVERRIDES", "x:y:z");
    parsing(&d, "A", "base");
    parsing(&d, "A:x", "x");
    parsing(&d, "A:y", "y");
    assert_eq!(get(&d, "A").as_deref(), Some("y"));
    parsing(&d, "B:x:y", "xy");
    parsing(&d, "B:y", "y");
    assert_eq!(get(&d, "B").as_deref(), Some("xy"));
    parsing(&d, "C:Foo", "not an override: capital letter");
    parsing(&d, "OVERRIDES", "Foo");
    assert_eq!(get(&d, "C"), None);
}

#[test]
fn appends_then_prepends_last_prepend_first() {
    let d = DataStore::new();
    parsing(&d, "OVERRIDES", "o");
    parsing(&d, "A", "a");
    parsing(&d, "A:append", " 1");
    parsing(&d, "A:prepend", "p1 ");
    parsing(&d, "A:append:o", " 2");
    parsing(&d, "A:append:other", " never");
    parsing(&d, "A:prepend", "p2 ");
    assert_eq!(get(&d, "A").as_deref(), Some("p2 p1 a 1 2"));
}

#[test]
fn weak_default_keeps_appends_but_operators_discard_it() {
    let d = DataStore::new();
    d.set_var_flag("A", "_defaultval", "default").expect("??=");
    parsing(&d, "A:append", " more");
    assert_eq!(get(&d, "A").as_deref(), Some("default more"));
    // `+=` reads the base value only (noweakdefault), so the default is lost.
    let base = d.get_var_base("A").expect("read");
    assert_eq!(base, None);
}

#[test]
fn remove_splits_on_single_whitespace_and_keeps_separators() {
    let d = DataStore::new();
    parsing(&d, "A", "a b c b");
    parsing(&d, "A:remove", "b");
    assert_eq!(get(&d, "A").as_deref(), Some("a  c "));
    assert_eq!(
        raw(&d, "A").as_deref(),
        Some("a b c b"),
        "getVar(v, False) applies no remove"
    );
}

#[test]
fn remove_values_are_expanded_and_apply_after_append() {
    let d = DataStore::new();
    parsing(&d, "X", "y z");
    parsing(&d, "A", "x");
    parsing(&d, "A:append", " y w");
    parsing(&d, "A:remove", "${X}");
    assert_eq!(get(&d, "A").as_deref(), Some("x  w"));
}

#[test]
fn override_variant_carries_its_removes() {
    let d = DataStore::new();
    parsing(&d, "OVERRIDES", "o");
    parsing(&d, "A:o", "keep drop");
    parsing(&d, "A:o:remove", "drop");
    parsing(&d, "A", "base");
    assert_eq!(get(&d, "A").as_deref(), Some("keep "));
}

#[test]
fn undefined_references_stay_literal_and_nested_references_resolve() {
    let d = DataStore::new();
    parsing(&d, "V", "NAME");
    parsing(&d, "NAME", "value");
    parsing(&d, "A", "${${V}} ${UNDEFINED}");
    assert_eq!(get(&d, "A").as_deref(), Some("value ${UNDEFINED}"));
}

#[test]
fn self_reference_is_an_expansion_error_naming_the_chain() {
    let d = DataStore::new();
    parsing(&d, "A", "x ${A}");
    let err = d.get_var("A").expect_err("self reference");
    assert!(
        err.to_string().contains("variable A references itself"),
        "{err}"
    );
    parsing(&d, "B", "${C}");
    parsing(&d, "C", "${B}");
    let err = d.get_var("B").expect_err("indirect self reference");
    let DataError::Expansion(e) = &err else {
        panic!("{err:?}")
    };
    assert!(
        e.chain.contains(&"B".to_string()) && e.chain.contains(&"C".to_string()),
        "{err}"
    );
}

#[test]
fn overrides_reach_a_fixpoint_through_overridden_variables() {
    let d = DataStore::new();
    parsing(&d, "MACHINEOVERRIDES", "base");
    parsing(&d, "MACHINEOVERRIDES:base", "base:extra");
    parsing(&d, "OVERRIDES", "${MACHINEOVERRIDES}");
    parsing(&d, "A", "plain");
    parsing(&d, "A:extra", "extra");
    assert_eq!(get(&d, "A").as_deref(), Some("extra"));
}

#[test]
fn python_setvar_drops_pending_operations_but_parsing_keeps_them() {
    let d = DataStore::new();
    parsing(&d, "OVERRIDES", "o");
    parsing(&d, "A:append", " a");
    parsing(&d, "A:o", "override");
    parsing(&d, "A", "file");
    assert_eq!(get(&d, "A").as_deref(), Some("override a"));
    d.set_var("A", "python").expect("set");
    assert_eq!(get(&d, "A").as_deref(), Some("python"));
}

#[test]
fn append_var_adds_an_append_entry() {
    let d = DataStore::new();
    parsing(&d, "A", "a");
    d.append_var("A", " b").expect("append");
    d.prepend_var("A", "c ").expect("prepend");
    assert_eq!(get(&d, "A").as_deref(), Some("c a b"));
    d.set_var("A", "reset").expect("set");
    assert_eq!(get(&d, "A").as_deref(), Some("reset"));
}

#[test]
fn expand_keys_renames_and_loses_flags() {
    let d = DataStore::new();
    parsing(&d, "PN", "foo");
    parsing(&d, "pkg_postinst:${PN}", "echo");
    d.set_var_flag("pkg_postinst:${PN}", "func", 1)
        .expect("flag");
    d.expand_keys().expect("expandKeys");
    assert_eq!(raw(&d, "pkg_postinst:foo").as_deref(), Some("echo"));
    assert_eq!(
        d.get_var_flag("pkg_postinst:foo", "func", false)
            .expect("flag"),
        None
    );
    assert_eq!(raw(&d, "pkg_postinst:${PN}"), None);
}

#[test]
fn del_var_hides_the_parent_and_copies_are_independent() {
    let base = DataStore::new();
    parsing(&base, "A", "base");
    parsing(&base, "B", "b");
    let copy = base.create_copy();
    copy.del_var("A");
    parsing(&copy, "B", "changed");
    assert_eq!(raw(&copy, "A"), None);
    assert_eq!(raw(&base, "A").as_deref(), Some("base"));
    assert_eq!(raw(&base, "B").as_deref(), Some("b"));
    assert!(!copy.keys().expect("keys").contains(&"A".to_string()));
    assert!(base.keys().expect("keys").contains(&"A".to_string()));
}

#[test]
fn frozen_configuration_is_shared_across_threads() {
    let base = DataStore::new();
    parsing(&base, "OVERRIDES", "t");
    parsing(&base, "A", "base");
    parsing(&base, "A:t", "t");
    let frozen = base.freeze();
    let results: Vec<Option<String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..2)
            .map(|i| {
                let frozen = frozen.clone();
                scope.spawn(move || {
                    let d = DataStore::from_frozen(frozen);
                    parsing(&d, "A:append", &format!(" {i}"));
                    get(&d, "A")
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    assert_eq!(results, [Some("t 0".to_string()), Some("t 1".to_string())]);
    assert_eq!(get(&base, "A").as_deref(), Some("t"));
}

#[test]
fn keys_include_variables_that_exist_only_as_active_overrides() {
    let d = DataStore::new();
    parsing(&d, "OVERRIDES", "o");
    parsing(&d, "ONLY:o", "x");
    assert!(d.keys().expect("keys").contains(&"ONLY".to_string()));
    assert_eq!(get(&d, "ONLY").as_deref(), Some("x"));
}

#[test]
fn legacy_override_syntax_is_fatal_and_renamed_variables_are_errors() {
    let d = DataStore::new();
    let err = d
        .set_var_parsing("A_append", " y", None, "set")
        .expect_err("legacy");
    assert!(err.to_string().contains("old override syntax"), "{err}");
    d.set_var("BB_ENV_WHITELIST", "x")
        .expect("logged, not raised");
    let log = d.take_log();
    assert!(
        log.iter()
            .any(|r| r.message.contains("has been renamed to BB_ENV_PASSTHROUGH")),
        "{log:?}"
    );
    assert_eq!(
        d.get_var("_FAILPARSINGERRORHANDLED").expect("read"),
        Some(Value::Bool(true))
    );
}

#[test]
fn export_flags_feed_exported_keys() {
    let d = DataStore::new();
    parsing(&d, "A", "1");
    d.set_var_flag("A", "export", 1).expect("flag");
    parsing(&d, "B", "2");
    d.set_var_flag("B", "export", 1).expect("flag");
    d.set_var_flag("B", "unexport", "1").expect("flag");
    parsing(&d, "__HIDDEN", "3");
    d.set_var_flag("__HIDDEN", "export", 1).expect("flag");
    assert_eq!(d.exported_keys().expect("keys"), ["A"]);
}

#[test]
fn inline_python_without_a_host_is_an_error() {
    let d = DataStore::new();
    parsing(&d, "A", "${@len('ab')}");
    let err = d.get_var("A").expect_err("no host");
    assert!(err.to_string().contains("needs a python host"), "{err}");
    parsing(&d, "B", "${@d.getVar('${X}')}");
    assert_eq!(
        get(&d, "B").as_deref(),
        Some("${@d.getVar('${X}')}"),
        "code with unexpanded references waits"
    );
}
