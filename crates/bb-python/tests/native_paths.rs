//! `os.path.join`, `basename`, `dirname` and `split` are native in the host: they must
//! give what python's own posixpath functions (kept as `_hz.python_NAME`) give, results
//! and exceptions alike, for every kind of argument.

use bb_data::{DataStore, InlinePython, PythonHost};
use bb_python::Python;

const CALLS: &[&str] = &[
    "join('a')",
    "join('')",
    "join('', '')",
    "join('a', 'b')",
    "join('a/', 'b')",
    "join('a//', 'b')",
    "join('', 'b')",
    "join('a', '')",
    "join('a', '', '')",
    "join('a', '/b', 'c')",
    "join('/', 'b')",
    "join('a', 'b/', 'c/')",
    "join('a', '//b')",
    "join('ä', 'ö')",
    "join(*['x'] * 5)",
    "join(b'a', b'b')",
    "join('a', b'b')",
    "join('a', None)",
    "join()",
    "join(__import__('pathlib').PurePosixPath('a'), 'b')",
    "basename('')",
    "basename('/')",
    "basename('a')",
    "basename('/a/b')",
    "basename('/a/b/')",
    "basename('a//b')",
    "basename(b'/a/b')",
    "basename(None)",
    "dirname('')",
    "dirname('/')",
    "dirname('//')",
    "dirname('///a')",
    "dirname('a')",
    "dirname('/a/b')",
    "dirname('/a/b/')",
    "dirname('a//b')",
    "dirname('a/b//c')",
    "dirname(b'/a/b')",
    "dirname(1)",
    "split('')",
    "split('/')",
    "split('//a')",
    "split('a/b')",
    "split('/a//b/')",
    "split(b'a/b')",
    "split('a', 'b')",
];

/// What `function(args)` returns (its repr), or what it raises (type and message).
fn outcome(python: &Python, d: &DataStore, function: &str, args: &str) -> String {
    let code = format!(
        "try:\n    out = repr({function}({args}))\nexcept Exception as e:\n    out = 'raises %s: %s' % (type(e).__name__, e)\nd.setVar('OUT', out)\n"
    );
    python.exec(d, &code).expect("the code runs");
    d.get_var_str("OUT").expect("read").expect("set")
}

#[test]
fn native_path_functions_agree_with_posixpath() {
    let python = Python::new().expect("python starts");
    let d = DataStore::new();
    for call in CALLS {
        let (name, args) = call.split_once('(').expect("a call");
        let args = args.strip_suffix(')').expect("a call");
        assert_eq!(
            outcome(&python, &d, &format!("__import__('os').path.{name}"), args),
            outcome(
                &python,
                &d,
                &format!("__import__('_hz').python_{name}"),
                args
            ),
            "os.path.{call}"
        );
    }
    // The functions in os.path are the native ones.
    assert_eq!(
        python
            .eval_inline(&d, "type(__import__('os').path.join).__name__", None)
            .expect("evaluates"),
        "builtin_function_or_method"
    );
}
