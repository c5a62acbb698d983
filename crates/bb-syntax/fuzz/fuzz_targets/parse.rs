//! Any bytes, parsed as each kind of file: no panic, a lossless tree for UTF-8 input, and
//! error ranges inside the text.
#![no_main]

use bb_syntax::FileKind;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for kind in [FileKind::Recipe, FileKind::Class, FileKind::Conf] {
        let parse = bb_syntax::parse_bytes(data, kind);
        let text = parse.syntax().to_string();
        if let Ok(input) = std::str::from_utf8(data) {
            assert_eq!(text, input);
        }
        for error in parse.errors() {
            assert!(usize::from(error.range().end()) <= text.len());
        }
        let tree = parse.tree();
        for statement in tree.statements() {
            let _ = statement.syntax().text();
        }
        for reference in tree.var_refs() {
            let _ = reference.name();
        }
        for expr in tree.py_exprs() {
            let _ = expr.code();
        }
        let _ = parse.debug_dump();
    }
});
