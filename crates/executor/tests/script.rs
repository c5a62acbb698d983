//! Run files and trivial tasks from a datastore.

use std::path::PathBuf;

use bb_data::DataStore;
use executor::{Builtin, shell_script, trivial_commands};

fn function(d: &DataStore, name: &str, body: &str) {
    d.set_var(name, body).unwrap();
    d.set_var_flag(name, "func", "1").unwrap();
}

#[test]
fn trivial_tasks_are_recognised_through_the_functions_they_call() {
    let d = DataStore::new();
    d.set_var("B", "/work/build").unwrap();
    function(&d, "base_do_configure", "    :\n");
    function(&d, "do_configure", "    base_do_configure\n");
    function(
        &d,
        "do_stage",
        "    mkdir -p ${B}/out ${B}/log\n    touch ${B}/out/.stamp\n",
    );
    function(&d, "do_compile", "    make -C ${B}\n");
    function(&d, "do_quoted", "    mkdir -p \"${B}/a b\"\n");
    function(&d, "do_climb", "    mkdir -p ${B}/../../etc/x\n");
    function(&d, "do_relative", "    touch stamp\n");
    function(&d, "do_option", "    mkdir -p -m 755 ${B}/x\n");
    assert_eq!(trivial_commands(&d, "do_configure").unwrap(), Some(vec![]));
    assert_eq!(
        trivial_commands(&d, "do_stage").unwrap(),
        Some(vec![
            Builtin::MakeDirectory(PathBuf::from("/work/build/out")),
            Builtin::MakeDirectory(PathBuf::from("/work/build/log")),
            Builtin::Touch(PathBuf::from("/work/build/out/.stamp")),
        ])
    );
    assert_eq!(trivial_commands(&d, "do_compile").unwrap(), None);
    // Quoting is the shell's business; done on the host, a path must be absolute and
    // stay where it says.
    for func in ["do_quoted", "do_climb", "do_relative", "do_option"] {
        assert_eq!(trivial_commands(&d, func).unwrap(), None, "{func}");
    }
}

#[test]
fn a_run_file_has_bitbakes_shape() {
    let d = DataStore::new();
    d.set_var("CC", "gcc").unwrap();
    d.set_var_flag("CC", "export", "1").unwrap();
    d.set_var("PWD", "/somewhere").unwrap();
    d.set_var_flag("PWD", "export", "1").unwrap();
    function(&d, "helper", "    echo help\n");
    function(&d, "do_compile", "    helper\n    ${CC} -c a.c\n");
    let script = shell_script(&d, "do_compile", Some(std::path::Path::new("/work"))).unwrap();
    assert!(
        script.starts_with("#!/bin/sh\n\n__BITBAKE_LAST_LINE=0\n"),
        "{script}"
    );
    assert!(script.contains("export CC=\"gcc\"\n"), "{script}");
    // The run file does not override the shell's PWD.
    assert!(!script.contains("PWD="), "{script}");
    assert!(
        script.contains("helper() {\n    echo help\n}\n"),
        "{script}"
    );
    assert!(
        script.ends_with("cd '/work'\ndo_compile\n\n# cleanup\nret=$?\ntrap '' 0\nexit $ret\n"),
        "{script}"
    );
}
