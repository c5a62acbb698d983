//! While a parse is profiled, each event handler is fired alone and timed under its name;
//! the handlers still run in order, each seeing what the previous one did.

use std::rc::Rc;

use bb_data::{CookerEvent, DataStore, Handler, PythonHost};
use bb_python::Python;

fn handler(name: &str, code: &str) -> Handler {
    Handler {
        name: name.to_owned(),
        code: code.to_owned(),
        mask: vec!["bb.event.RecipeParsed".to_owned()],
        file: "classes/handlers.bbclass".to_owned(),
        line: 1,
    }
}

#[test]
fn each_handler_is_timed_under_its_name() {
    let python = Rc::new(Python::new().expect("python starts"));
    let d = DataStore::new();
    d.set_python(python.clone());
    let handlers = [
        handler("hz_first", "    d.setVar('SEEN', 'first')\n"),
        handler(
            "hz_second",
            "    d.setVar('SEEN', d.getVar('SEEN') + ' second')\n",
        ),
    ];
    let event = CookerEvent::RecipeParsed {
        file: "recipe.bb".to_owned(),
    };

    bb_data::profile::start();
    python
        .fire_event(&d, &event, &handlers)
        .expect("the handlers run");
    let profile = bb_data::profile::take().expect("profiling is on");

    assert_eq!(
        d.get_var_str("SEEN").expect("read").as_deref(),
        Some("first second")
    );
    let names: Vec<&str> = profile.python.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "handler hz_first of RecipeParsed",
            "handler hz_second of RecipeParsed"
        ]
    );
    assert!(profile.python.values().all(|timing| timing.count == 1));
}
