//! Cyclic garbage (`Python::collect_garbage`) and the objects a forking process shares
//! (`Python::freeze_for_fork`): what is frozen is left alone, what is made after is
//! collected when asked.

use bb_data::{DataStore, InlinePython, PythonHost};
use bb_python::Python;

/// Makes a cycle of two objects, kept alive through `sys.hz_holders[name]`, with a weak
/// reference to it in `sys.hz_refs[name]`.
const MAKE_CYCLE: &str = "\
import sys, weakref
class Node:
    pass
a, b = Node(), Node()
a.other, b.other = b, a
sys.__dict__.setdefault('hz_holders', {})[NAME] = a
sys.__dict__.setdefault('hz_refs', {})[NAME] = weakref.ref(a)
";

fn make_cycle(python: &Python, d: &DataStore, name: &str) {
    let code = MAKE_CYCLE.replace("NAME", &format!("{name:?}"));
    python.exec(d, &code).expect("the cycle is made");
}

/// Drops the only outside reference to the cycle: it is garbage from now on.
fn abandon(python: &Python, d: &DataStore, name: &str) {
    python
        .exec(d, &format!("import sys\ndel sys.hz_holders[{name:?}]"))
        .expect("the holder is dropped");
}

fn alive(python: &Python, d: &DataStore, name: &str) -> bool {
    let answer = python
        .eval_inline(
            d,
            &format!("__import__('sys').hz_refs[{name:?}]() is not None"),
            None,
        )
        .expect("the weak reference is read");
    answer == "True"
}

#[test]
fn garbage_made_after_the_freeze_is_collected_and_frozen_objects_are_left_alone() {
    let python = Python::new().expect("python starts");
    let d = DataStore::new();
    make_cycle(&python, &d, "frozen");
    python.freeze_for_fork();
    make_cycle(&python, &d, "young");

    abandon(&python, &d, "young");
    abandon(&python, &d, "frozen");
    // Reference counting alone cannot free a cycle.
    assert!(alive(&python, &d, "young"));
    python.collect_garbage();
    assert!(!alive(&python, &d, "young"), "young garbage is collected");
    assert!(
        alive(&python, &d, "frozen"),
        "a frozen object is not even looked at"
    );
}
