//! Reads after flag writes see what a store without an expansion cache sees, in the cases
//! where an expansion depends on flags: inline python reading a flag, listing flags, or
//! asking which variables exist, and a flag's own expansion. (BitBake empties its whole
//! cache on every write; a store that keeps more of it must still pass these.)

use std::rc::Rc;

use bb_data::DataStore;
use bb_python::Python;

fn store() -> DataStore {
    let d = DataStore::new();
    d.set_python(Rc::new(Python::new().expect("python starts")));
    d
}

fn get(d: &DataStore, var: &str) -> String {
    d.get_var_str(var).expect("reads").unwrap_or_default()
}

#[test]
fn expansions_reading_flags_through_python_see_flag_writes() {
    let d = store();
    d.set_var("READS_FLAG", "${@d.getVarFlag('B', 'x')}")
        .expect("set");
    d.set_var("LISTS_FLAGS", "${@sorted(d.getVarFlags('B') or {})}")
        .expect("set");
    d.set_var("EXISTS", "${@'B' in d}").expect("set");
    d.set_var("PLAIN", "${C}").expect("set");
    d.set_var("C", "c").expect("set");

    assert_eq!(get(&d, "READS_FLAG"), "None");
    assert_eq!(get(&d, "LISTS_FLAGS"), "[]");
    assert_eq!(get(&d, "EXISTS"), "False");
    assert_eq!(get(&d, "PLAIN"), "c");

    d.set_var_flag("B", "x", "1").expect("set flag");
    assert_eq!(get(&d, "READS_FLAG"), "1");
    assert_eq!(get(&d, "LISTS_FLAGS"), "['x']");
    assert_eq!(get(&d, "EXISTS"), "True");

    d.append_var_flag("B", "x", "2").expect("append flag");
    assert_eq!(get(&d, "READS_FLAG"), "12");
    d.del_var_flag("B", "x");
    assert_eq!(get(&d, "READS_FLAG"), "None");
    assert_eq!(get(&d, "PLAIN"), "c");
}

#[test]
fn a_flag_expansion_sees_writes_of_that_flag_and_of_what_it_reads() {
    let d = store();
    d.set_var("C", "c").expect("set");
    d.set_var_flag("T", "deps", "${C}:a").expect("set flag");
    let flag = |d: &DataStore| {
        d.get_var_flag("T", "deps", true)
            .expect("reads")
            .map(|v| v.to_string())
    };
    assert_eq!(flag(&d).as_deref(), Some("c:a"));
    d.set_var_flag("T", "deps", "${C}:b").expect("set flag");
    assert_eq!(flag(&d).as_deref(), Some("c:b"));
    d.set_var_flag("T", "other", "x").expect("set flag");
    assert_eq!(flag(&d).as_deref(), Some("c:b"));
    d.set_var("C", "d").expect("set");
    assert_eq!(flag(&d).as_deref(), Some("d:b"));
    d.del_var_flag("T", "deps");
    assert_eq!(flag(&d), None);
    // `T[deps] ??= "w"` is a flag of its own, read where `deps` is not set.
    d.set_var_flag("T", "_defaultval_flag_deps", "${C}:w")
        .expect("set flag");
    assert_eq!(flag(&d).as_deref(), Some("d:w"));
}

#[test]
fn an_expansion_that_read_a_flag_and_emptied_the_cache_stays_flag_dependent() {
    // The inline python reads a flag, then writes a variable (the cache is emptied while
    // the expansion of OUTER is in progress); OUTER's result, cached after, still depends
    // on the flag.
    let d = store();
    d.set_var_flag("B", "x", "1").expect("set flag");
    d.set_var(
        "OUTER",
        "${@d.getVarFlag('B', 'x') + (d.setVar('SIDE', 'y') or '')}",
    )
    .expect("set");
    assert_eq!(get(&d, "OUTER"), "1");
    d.set_var_flag("B", "x", "2").expect("set flag");
    assert_eq!(get(&d, "OUTER"), "2");
}
