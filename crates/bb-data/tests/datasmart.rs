//! Differential test against BitBake's own `DataSmart`: random sequences of operations
//! are applied to both stores and every read is compared. Needs `HZ_BB_PYTHON` (a python
//! with bitbake-setup 2.19.0, made by `cargo xtask test`). `HZ_DATASMART_SEED` and
//! `HZ_DATASMART_SEQUENCES` choose other and more sequences than the fixed 3000.

use std::path::Path;

use bb_data::{DataError, DataStore};

/// Every failure counts as the same result (see [`shown`]), and nothing after the first
/// failure is compared: after an exception BitBake's store is left half-updated (e.g.
/// `need_overrides` keeps its dummy empty overrides), and no caller goes on using it.
fn normalise(value: Json) -> Json {
    let Json::Array(items) = value else {
        return value;
    };
    let mut out = Vec::new();
    for item in items {
        if item.get("error").is_some() {
            out.push(json!({"error": true}));
            break;
        }
        out.push(item);
    }
    Json::Array(out)
}
use serde_json::{Value as Json, json};
use test_support::Rng;

const BASES: &[&str] = &["A", "B", "C", "OVERRIDES", "OV"];
const SUFFIXES: &[&str] = &[
    "",
    "",
    "",
    ":append",
    ":prepend",
    ":remove",
    ":o1",
    ":o2",
    ":o1:o2",
    ":append:o1",
    ":remove:o2",
    ":o1:append",
    ":prepend:o2",
    ":x",
];
const VALUES: &[&str] = &[
    "a", "b", " c", "a b c b", "${A}", "${B} x", "${UNDEF}", "o1", "o2:o1", "${OV}", "o1:o2",
    "${C}", "", "b",
];
const FLAGS: &[&str] = &["doc", "export", "_defaultval", "vardeps"];

fn random_sequence(rng: &mut Rng) -> Vec<Json> {
    let mut ops = Vec::new();
    for _ in 0..(6 + rng.next_u64() % 14) {
        let var = format!("{}{}", rng.pick(BASES), rng.pick(SUFFIXES));
        let base = rng.pick(BASES);
        let value = rng.pick(VALUES);
        let op = match rng.next_u64() % 16 {
            0..=5 => json!(["set", var, value, true]),
            6 => json!(["set", var, value, false]),
            7 => json!(["setflag", base, rng.pick(FLAGS), value]),
            8 => json!(["del", var]),
            9 => json!(["append", base, value]),
            10 => json!(["prepend", base, value]),
            11 => json!(["rename", base, rng.pick(BASES)]),
            12 => json!(["copy"]),
            13 => json!(["raw", base]),
            14 => json!(["getflag", base, rng.pick(FLAGS)]),
            _ => json!(["get", base]),
        };
        ops.push(op);
    }
    for base in ["A", "B", "C"] {
        ops.push(json!(["get", base]));
        ops.push(json!(["raw", base]));
    }
    ops.push(json!(["keys"]));
    ops
}

fn shown(result: Result<Option<bb_data::Value>, DataError>) -> Json {
    match result {
        Ok(None) => Json::Null,
        Ok(Some(value)) => Json::String(value.to_string()),
        // BitBake fails some of these with internal errors (AttributeError,
        // RecursionError); what must agree is that the read fails.
        Err(_) => json!({"error": true}),
    }
}

fn run(ops: &[Json]) -> Vec<Json> {
    let mut d = DataStore::new();
    let mut out = Vec::new();
    let s = |v: &Json| v.as_str().expect("string operand").to_owned();
    for op in ops {
        let kind = op[0].as_str().expect("op kind");
        // Writes can fail too (e.g. an expansion while tracking OVERRIDES); BitBake
        // raises, and so do we: the failure is recorded like a read's.
        let write = match kind {
            "set" if op[3] == json!(true) => d.set_var_parsing(&s(&op[1]), s(&op[2]), None, "set"),
            "set" => d.set_var(&s(&op[1]), s(&op[2])),
            "setflag" => d.set_var_flag(&s(&op[1]), &s(&op[2]), s(&op[3])),
            "del" => {
                d.del_var(&s(&op[1]));
                Ok(())
            }
            "append" => d.append_var(&s(&op[1]), &s(&op[2])),
            "prepend" => d.prepend_var(&s(&op[1]), &s(&op[2])),
            "rename" => d.rename_var(&s(&op[1]), &s(&op[2])),
            "expandkeys" => d.expand_keys(),
            "copy" => {
                d = d.create_copy();
                Ok(())
            }
            "get" => {
                out.push(shown(d.get_var(&s(&op[1]))));
                Ok(())
            }
            "raw" => {
                out.push(shown(d.get_var_raw(&s(&op[1]))));
                Ok(())
            }
            "getflag" => {
                out.push(shown(d.get_var_flag(&s(&op[1]), &s(&op[2]), true)));
                Ok(())
            }
            "keys" => {
                match d.keys() {
                    Ok(keys) => out.push(json!(
                        keys.into_iter()
                            .filter(|k| !k.starts_with("__"))
                            .collect::<Vec<_>>()
                    )),
                    Err(_) => out.push(json!({"error": true})),
                }
                Ok(())
            }
            other => panic!("unknown op {other}"),
        };
        if let Err(err) = write {
            out.push(shown(Err(err)));
        }
    }
    out
}

#[test]
fn random_operation_sequences_agree_with_bitbake_datasmart() {
    let Some(python) =
        test_support::bitbake_python("random_operation_sequences_agree_with_bitbake_datasmart")
    else {
        return;
    };
    // The fixed seed and count are what CI runs; a longer hunt for differences sets them.
    let knob = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let mut rng = Rng(knob("HZ_DATASMART_SEED", 0x1234_5678_9abc_def1));
    let sequences: Vec<Vec<Json>> = (0..knob("HZ_DATASMART_SEQUENCES", 3000))
        .map(|_| random_sequence(&mut rng))
        .collect();
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let input = dir.join("datasmart-sequences.json");
    std::fs::write(&input, serde_json::to_string(&sequences).expect("JSON"))
        .expect("write sequences");
    let expected = test_support::oracle_json_lines(
        &python,
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/datasmart_ops.py"),
        &input,
    );
    assert_eq!(expected.len(), sequences.len());
    let mut differences = Vec::new();
    for (ops, theirs) in sequences.iter().zip(&expected) {
        let ours = normalise(Json::Array(run(ops)));
        let theirs = normalise(theirs.clone());
        if ours != theirs {
            differences.push(format!(
                "ops: {}\n  ours:    {ours}\n  BitBake: {theirs}",
                Json::Array(ops.clone())
            ));
        }
    }
    test_support::assert_agree(&differences, sequences.len());
}
