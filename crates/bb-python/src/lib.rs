//! Python in BitBake metadata, on RustPython.
//!
//! [`Python`] is a [`bb_data::PythonHost`]: it evaluates `${@…}` expressions with
//! BitBake's globals (the metadata's python context: `os`, `bb`, `def` functions, layer
//! libraries) and `DataContext` locals (`d`, and bare names read through `d.getVar`),
//! runs anonymous python, `def` blocks and event handlers, and imports layer python
//! libraries (`addpylib`) from the layers unchanged. The `d` object is a native class
//! backed by a [`bb_data::DataStore`]; the `bb` package is embedded python written for
//! Hitzeleiter on top of a small native module.
//!
//! One interpreter serves one thread; compile each distinct snippet once (the host caches
//! code objects) and keep python off paths Rust serves (expansion, overrides, flags).
//!
//! ```
//! use std::rc::Rc;
//! use bb_data::{DataStore, PythonHost};
//!
//! let python = Rc::new(bb_python::Python::new().expect("interpreter starts"));
//! let d = DataStore::new();
//! d.set_python(python.clone());
//! d.set_var("FILE", "/layer/recipes/zlib_1.3.1.bb").unwrap();
//! d.set_var("PV", "${@bb.parse.vars_from_file(d.getVar('FILE', False), d)[1]}").unwrap();
//! assert_eq!(d.get_var_str("PV").unwrap().as_deref(), Some("1.3.1"));
//! ```

mod codeparser;
mod datastore;
mod host;
mod modules;

pub use host::{Python, StartError};
