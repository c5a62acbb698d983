//! The embedded `bb` package against the real one: the same `${@…}` expressions, with the
//! same variables, evaluated by bb-python and by BitBake 2.19 (`HZ_BB_PYTHON`).

use std::path::Path;
use std::rc::Rc;

use bb_data::DataStore;
use serde_json::Value as Json;

const VARIABLES: &[(&str, &str)] = &[
    ("DISTRO_FEATURES", "x11 wayland opengl"),
    ("RDEPENDS", "a (>= 1.0) b c (= 2) d (<< 3.0~rc1)"),
    ("ABIEXTENSION", ""),
    ("PE", "2"),
    ("PKGE", " "),
    ("MACHINE", "qemu-x86"),
    ("TUNE_PKGARCH", "core2-64"),
    ("FILE", "/layer/recipes/foo_1.2.bb"),
    ("SPACES", "  a \u{1f}b  "),
    ("NUM", " 12 "),
];

fn expressions() -> Vec<String> {
    let versions = [
        "1.0", "1.0.1", "1.0~rc1", "1:0.9", "2.0-r1", "2.0-r2", "1.0a", "1.0b", "10", "9",
        "1.0+git", "1.0.0", "1.0-r0.1", "0:1.0",
    ];
    let mut out = Vec::new();
    for a in versions {
        for b in versions {
            out.push(format!("bb.utils.vercmp_string('{a}', '{b}')"));
        }
    }
    out.extend(
        [
            "bb.utils.contains('DISTRO_FEATURES', 'x11 opengl', 'yes', 'no', d)",
            "bb.utils.contains('DISTRO_FEATURES', ['x11', 'vulkan'], 'yes', 'no', d)",
            "bb.utils.contains('UNSET', 'x11', 'yes', 'no', d)",
            "bb.utils.contains_any('DISTRO_FEATURES', 'vulkan wayland', 'yes', 'no', d)",
            "bb.utils.filter('DISTRO_FEATURES', 'opengl x11 vulkan', d)",
            "bb.utils.explode_deps(d.getVar('RDEPENDS'))",
            // OrderedDict's repr differs between Python 3.11 and 3.14: compare contents.
            "list(bb.utils.explode_dep_versions2(d.getVar('RDEPENDS')).items())",
            "type(bb.utils.explode_dep_versions2(d.getVar('RDEPENDS'))).__name__",
            "bb.utils.join_deps(bb.utils.explode_dep_versions2(d.getVar('RDEPENDS')))",
            "bb.utils.to_boolean('Yes')",
            "bb.utils.to_boolean('0')",
            "bb.utils.vercmp_string_op('1.2', '1.10', '<')",
            "bb.parse.vars_from_file('/layer/recipes/foo_1.2_r3.bb', d)",
            "bb.parse.vars_from_file('/layer/recipes/foo.bbappend', d)",
            "bb.data.inherits_class('base', d)",
            "[d.setVar('__inherit_cache', ['/l/classes/base.bbclass', '/l/native.bbclass']), \
              bb.data.inherits_class('native', d), bb.data.inherits_class('nat', d), \
              bb.data.inherits_class('base', d)][1:]",
            "[d.setVar('__inherit_cache', ['/x/a.bbclass', 3]), bb.data.inherits_class('a', d)][1]",
            "[d.setVar('__inherit_cache', '/x/a.bbclass'), bb.data.inherits_class('a', d)][1]",
            // Tasks are found among all variables by their `task` flag.
            "[d.setVarFlag('do_a', 'task', '1'), d.setVarFlag('do_a', 'deps', []), \
              d.setVarFlag('do_b', 'task', '1'), d.setVarFlag('do_b', 'deps', ['do_a']), \
              d.setVarFlag('do_c', 'task', '1'), d.setVarFlag('do_c', 'deps', ['do_b']), \
              d.setVarFlag('do_x', 'task', ''), bb.build.tasksbetween('do_a', 'do_c', d)][-1]",
            "[d.setVarFlag('do_y', 'task', '1'), bb.build.tasksbetween('do_y', 'do_y', d)][-1]",
            // Every task's deps a list (computed natively): a branch that does not reach
            // the end is left out.
            "[d.setVarFlag('do_y', 'deps', []), d.setVarFlag('do_d', 'task', '1'), \
              d.setVarFlag('do_d', 'deps', ['do_a']), bb.build.tasksbetween('do_a', 'do_c', d)][-1]",
            // A deps string: python's `in` finds substrings ('do_c' in 'do_cc').
            "[d.setVarFlag('do_e', 'task', '1'), d.setVarFlag('do_e', 'deps', 'do_cc'), \
              bb.build.tasksbetween('do_a', 'do_e', d)][-1]",
            "[d.setVar('__BBTASKS', ['do_a', 'do_b']), bb.build.listtasks(d)][-1]",
            // Shapes bb-data evaluates without python (fastpy), and near misses it leaves
            // to python.
            "['', '-gnu'][(d.getVar('ABIEXTENSION') or '') != '']",
            "[d.getVar('TUNE_PKGARCH'), d.getVar('MACHINE')][bool(d.getVar('MACHINE'))].replace('-', '_')",
            "['',''][int(d.getVar('PE') or 0) > 0]",
            "['','1:'][int(d.getVar('PE') or 0) > 0]",
            "['',':'][d.getVar('PKGE').strip() != '']",
            "['.', ''][not d.getVar('PRAUTO')]",
            "'yes' if d.getVar('MACHINE') == 'qemu-x86' else 'no'",
            "'yes' if d.getVar('UNSET') else 'no' if d.getVar('PE') else 'never'",
            "os.path.dirname(d.getVar('FILE', False))",
            "os.path.dirname('/a//b//c')",
            "os.path.dirname('///x')",
            "os.path.dirname('x')",
            "bb.utils.filter('DISTRO_FEATURES', 'opengl x11 vulkan x11', d)",
            "bb.utils.filter('UNSET', 'x11', d)",
            "bb.utils.contains('DISTRO_FEATURES', 'x11', bb.utils.contains('DISTRO_FEATURES', 'vulkan', 'both', 'x11', d), 'none', d)",
            "bb.utils.contains_any('DISTRO_FEATURES', '', 'yes', 'no', d)",
            "bb.utils.contains('SPACES', 'b', 'yes', 'no', d)",
            "bb.parse.vars_from_file(d.getVar('FILE', False), d)[1] or 'x'",
            "bb.parse.vars_from_file(d.getVar('FILE', False), d)[2] or 'r0'",
            "bb.parse.vars_from_file(d.getVar('FILE', False), d)[2]",
            "bb.parse.vars_from_file(d.getVar('FILE', False), d)[-3]",
            "int(d.getVar('NUM'))",
            "int('-0') + int('+7')",
            "int('1_0')",
            "int(True) + 1",
            "True + True",
            "1 if 0 else 2",
            "not ''",
            "[] or 'e'",
            "'' and 'x'",
            "'a' and 'x'",
            "'a' in 'cat'",
            "'a' not in ['a', 'b']",
            "None == None",
            "1 == True",
            "'1' == 1",
            "'b' < 'a'",
            "2 >= 2",
            "[1, 2] + [3]",
            "d.getVar('SPACES').split()",
            "d.getVar('SPACES').strip()",
            "d.getVar('PE', False) + d.getVar('MACHINE', True)",
            "d.getVar('TUNE_PKGARCH').replace('-', '_').replace('_64', '')",
            // Bare names are variables (DataContext), except builtins and the context's.
            "MACHINE + '-' + PE",
            "[len(DISTRO_FEATURES.split()), str(os.sep)]",
            // A URI is parsed once per text: a later one of the same text is the same.
            "[(u.scheme, u.hostname, u.port, u.userinfo, u.path, u.relative, \
               sorted(u.params.items()), sorted(u.query.items()), str(u)) \
              for u in [bb.fetch.URI(s) for s in ['file://a/b.patch;subdir=x', \
              'file:///abs/c.patch', 'git://example.com/x/y.git;protocol=https;branch=main', \
              'https://user:pw@example.com:8080/p/q.tar.gz?x=1&y;downloadfilename=q.tgz', \
              'file://a/b.patch;subdir=x', 'npm://registry.example.com;package=p;version=1', \
              'file:rel.patch', 'git://x/y;protocol=file']]]",
            "[(u := bb.fetch.URI('file://m.patch;a=1')).params.update({'b': '2'}), \
              u.query.update({'q': '1'}), str(u), str(bb.fetch.URI('file://m.patch;a=1'))][2:]",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    out
}

fn ours(expressions: &[String]) -> Vec<String> {
    let python = Rc::new(bb_python::Python::new().expect("interpreter starts"));
    let d = DataStore::new();
    d.set_python(python);
    for (var, value) in VARIABLES {
        d.set_var(var, *value).expect("set");
    }
    expressions
        .iter()
        .map(|e| {
            d.expand(&format!("${{@{e}}}"))
                .unwrap_or_else(|err| format!("error: {err}"))
        })
        .collect()
}

#[test]
fn bb_functions_agree_with_real_bitbake() {
    let Some(python) = test_support::bitbake_python("bb_functions_agree_with_real_bitbake") else {
        return;
    };
    let expressions = expressions();
    let input = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bb-expressions.json");
    let payload = serde_json::json!({"variables": VARIABLES, "expressions": expressions});
    std::fs::write(&input, payload.to_string()).expect("write input");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bb_expand.py");
    let stdout = test_support::run_oracle(&python, &script, &input);
    let theirs: Vec<String> = serde_json::from_str::<Json>(&stdout)
        .expect("JSON")
        .as_array()
        .expect("a list")
        .iter()
        .map(|v| v.as_str().unwrap_or_default().to_owned())
        .collect();
    let ours = ours(&expressions);
    let differences: Vec<String> = expressions
        .iter()
        .zip(ours.iter().zip(&theirs))
        .filter(|(_, (a, b))| a != b)
        .map(|(e, (a, b))| format!("{e}: ours {a:?}, BitBake {b:?}"))
        .collect();
    assert!(
        differences.is_empty(),
        "{} of {} differ:\n{}",
        differences.len(),
        expressions.len(),
        differences.join("\n")
    );
}

/// A circular chain is BitBake's fatal error, with the chain (the expression oracle only
/// sees that an error was raised: BitBake's `bb.fatal` logs its message).
#[test]
fn circular_task_chains_are_fatal() {
    let expression = "[d.setVarFlag('do_e', 'task', '1'), d.setVarFlag('do_e', 'deps', ['do_f']), \
         d.setVarFlag('do_f', 'task', '1'), d.setVarFlag('do_f', 'deps', ['do_e']), \
         bb.build.tasksbetween('do_e', 'do_c', d)][-1]";
    let result = ours(&[expression.to_owned()]);
    assert_eq!(
        result,
        ["error: Circular task dependencies as do_e depends on itself via the chain do_e -> do_f"]
    );
}
