//! Bare names in `${@…}` resolve as BitBake's `DataContext` resolves them: a name of the
//! global python context is the global (even when a variable has that name), any other
//! name is the variable's expanded value, builtins stay builtins, and `d` is the store
//! being expanded.

use std::rc::Rc;

use bb_data::DataStore;
use bb_python::Python;

#[test]
fn bare_names_resolve_as_bitbakes_data_context() {
    let python = Rc::new(Python::new().expect("python starts"));
    let d = DataStore::new();
    d.set_python(python);
    d.set_var("bb", "a variable named bb").expect("set");
    d.set_var("GREETING", "hello ${WHO}").expect("set");
    d.set_var("WHO", "world").expect("set");
    d.set_var("FEATURES", "a b").expect("set");
    d.set_var("MARK", "outer").expect("set");
    let expand = |text: &str| d.expand(text).expect("expands");

    assert_eq!(
        expand("${@bb.utils.contains('FEATURES', 'a', 'yes', 'no', d)}"),
        "yes"
    );
    assert_eq!(expand("${@GREETING.upper()}"), "HELLO WORLD");
    assert_eq!(expand("${@len(WHO)}"), "5");
    assert_eq!(expand("${@type(bb).__name__}"), "module");
    assert_eq!(expand("${@d.getVar('MARK')}"), "outer");

    let copy = d.create_copy();
    copy.set_var("MARK", "inner").expect("set");
    assert_eq!(
        copy.expand("${@d.getVar('MARK')}").expect("expands"),
        "inner"
    );
    assert!(
        d.expand("${@NOT_A_VARIABLE}").is_err(),
        "an unknown name is a NameError"
    );
}
