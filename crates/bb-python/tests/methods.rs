//! `def`s inserted into the global python context (`PythonHost::insert_method`): a class
//! evaluated again for another recipe does not make its functions again, unless something
//! bound another function to the name meanwhile.

use bb_data::{DataStore, InlinePython, PythonHost};
use bb_python::Python;

const FIRST: &str = "def hz_greeting():\n    return 'first'\n";
const SECOND: &str = "def hz_greeting():\n    return 'second'\n";

fn greeting(python: &Python, d: &DataStore) -> String {
    python
        .eval_inline(d, "hz_greeting()", None)
        .expect("the function is called")
}

/// The identity of the function bound to `hz_greeting`, as python's `id`.
fn identity(python: &Python, d: &DataStore) -> String {
    python
        .eval_inline(d, "id(hz_greeting)", None)
        .expect("the function is found")
}

#[test]
fn a_def_inserted_again_is_made_again_only_when_its_name_was_rebound() {
    let python = Python::new().expect("python starts");
    let d = DataStore::new();
    let insert = |text: &str, line: u32| {
        python
            .insert_method(&d, "hz_greeting", text, "classes/greeting.bbclass", line)
            .expect("the def runs");
    };

    insert(FIRST, 3);
    let made = identity(&python, &d);
    insert(FIRST, 3);
    assert_eq!(identity(&python, &d), made, "a bound function is kept");

    // Another def of the same name (another class, or a recipe) rebinds it.
    insert(SECOND, 10);
    assert_eq!(greeting(&python, &d), "second");
    insert(FIRST, 3);
    assert_eq!(greeting(&python, &d), "first", "the def runs again");

    // So does python assigning the name directly.
    python
        .exec(
            &d,
            "import bb.utils\nbb.utils._context['hz_greeting'] = lambda: 'lambda'",
        )
        .expect("the name is rebound");
    assert_eq!(greeting(&python, &d), "lambda");
    insert(FIRST, 3);
    assert_eq!(greeting(&python, &d), "first");
}

#[test]
fn a_def_that_fails_is_an_error_each_time() {
    let python = Python::new().expect("python starts");
    let d = DataStore::new();
    let text = "def hz_broken():\n    return (\n";
    for _ in 0..2 {
        let err = python
            .insert_method(&d, "hz_broken", text, "classes/broken.bbclass", 0)
            .expect_err("a syntax error is reported");
        assert!(
            err.to_string().contains("broken.bbclass"),
            "the error names the file: {err}"
        );
    }
}
