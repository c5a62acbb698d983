//! The native module `_hz`: the `d` datastore class and the host functions the embedded
//! `bb` package calls.
//!
//! With RustPython's `threading` feature every python object must be `Send + Sync`, while
//! datastores are single-threaded handles; so a `DataSmart` object holds only an id into
//! a thread-local table of datastores (one interpreter serves one thread).

use rustc_hash::FxHashMap as HashMap;
use std::cell::{Cell, RefCell};

use bb_data::{DataError, DataStore, LogLevel};

mod convert;

pub(crate) use convert::str_list;

thread_local! {
    static STORES: RefCell<HashMap<u64, DataStore>> = const { RefCell::new(HashMap::with_hasher(rustc_hash::FxBuildHasher)) };
    static NEXT_ID: Cell<u64> = const { Cell::new(1) };
    /// The datastore of the python call in progress, where `bb.note` & co. log.
    static CURRENT: RefCell<Vec<DataStore>> = const { RefCell::new(Vec::new()) };
}

pub(crate) fn register(d: &DataStore) -> u64 {
    let id = NEXT_ID.with(|n| {
        let id = n.get();
        n.set(id + 1);
        id
    });
    STORES.with(|s| s.borrow_mut().insert(id, d.clone()));
    id
}

fn store(id: u64) -> Option<DataStore> {
    STORES.with(|s| s.borrow().get(&id).cloned())
}

/// Runs `f` with `d` as the datastore python's log calls report to.
pub(crate) fn with_current<T>(d: &DataStore, f: impl FnOnce() -> T) -> T {
    CURRENT.with(|c| c.borrow_mut().push(d.clone()));
    let result = f();
    CURRENT.with(|c| c.borrow_mut().pop());
    result
}

/// Python's logging: into the log of the datastore being worked on, which its caller
/// prints; with none (module-level code of a library, say), straight to standard error,
/// as BitBake's logger would print it (in a task process that is the task's log).
fn log(level: LogLevel, message: String) {
    let current = CURRENT.with(|c| c.borrow().last().cloned());
    match current {
        Some(d) => d.log(level, message),
        None => eprintln!("{message}"),
    }
}

fn level_of(name: &str) -> LogLevel {
    match name {
        "debug" => LogLevel::Debug,
        "note" => LogLevel::Note,
        "plain" => LogLevel::Plain,
        "warning" => LogLevel::Warning,
        _ => LogLevel::Error,
    }
}

#[rustpython_vm::pymodule]
pub(crate) mod _hz {
    use bb_data::{DataError, Value};
    use rustpython_vm::builtins::{PyDictRef, PyStr, PyStrRef};
    use rustpython_vm::function::{FuncArgs, KwArgs, OptionalArg};
    use rustpython_vm::protocol::PyMappingMethods;
    use rustpython_vm::types::{AsMapping, Iterable};
    use rustpython_vm::{
        AsObject, Py, PyObjectRef, PyPayload, PyRef, PyResult, VirtualMachine, pyclass,
    };

    use super::convert::{from_python, str_list, to_python};
    use super::{level_of, raise, store};

    /// `log(level, message)`: bb.note, bb.warn, … end up here.
    #[pyfunction]
    fn log(level: String, message: String) {
        super::log(level_of(level.as_str()), message.as_str().to_owned());
    }

    /// A new, empty datastore (`bb.data.init()`).
    #[pyfunction]
    fn new_datastore(vm: &VirtualMachine) -> PyObjectRef {
        super::wrap(vm, &bb_data::DataStore::new())
    }

    /// `bb.build.addtask(task, before, after, d)`.
    #[pyfunction]
    fn addtask(
        task: String,
        before: String,
        after: String,
        d: PyObjectRef,
        vm: &VirtualMachine,
    ) -> PyResult<()> {
        let d = DataSmart::store_of(&d, vm)?;
        bb_data::add_task(&d, task.as_str(), before.as_str(), after.as_str())
            .map_err(|e| raise(vm, e))
    }

    /// `bb.build.deltask(task, d)`.
    #[pyfunction]
    fn deltask(task: String, d: PyObjectRef, vm: &VirtualMachine) -> PyResult<()> {
        let d = DataSmart::store_of(&d, vm)?;
        bb_data::del_task(&d, task.as_str()).map_err(|e| raise(vm, e))
    }

    // `os.path` (posixpath) is python code, interpreted: `join`, `basename`, `dirname` and
    // `split` run tens of thousands of times in a parse (FILESPATH alone joins ~30 paths
    // per recipe). The bootstrap puts these in their place; they compute what python's
    // own do for plain `str` arguments and hand anything else to those, kept here as
    // `python_NAME`.

    /// `posixpath.join`.
    #[pyfunction]
    fn path_join(args: FuncArgs, vm: &VirtualMachine) -> PyResult {
        let Some(parts) = plain_strs(&args, vm) else {
            return python_path_function("join", args, vm);
        };
        let [first, rest @ ..] = parts.as_slice() else {
            return python_path_function("join", args, vm);
        };
        if rest.is_empty() {
            return Ok(args.args[0].clone());
        }
        let mut path = (*first).to_owned();
        for part in rest {
            if part.starts_with('/') {
                path.clear();
            } else if !path.is_empty() && !path.ends_with('/') {
                path.push('/');
            }
            path.push_str(part);
        }
        Ok(vm.ctx.new_str(path).into())
    }

    /// `posixpath.basename`.
    #[pyfunction]
    fn path_basename(args: FuncArgs, vm: &VirtualMachine) -> PyResult {
        match plain_strs(&args, vm).as_deref() {
            Some([path]) => Ok(vm.ctx.new_str(split_path(path).1).into()),
            _ => python_path_function("basename", args, vm),
        }
    }

    /// `posixpath.dirname`.
    #[pyfunction]
    fn path_dirname(args: FuncArgs, vm: &VirtualMachine) -> PyResult {
        match plain_strs(&args, vm).as_deref() {
            Some([path]) => Ok(vm.ctx.new_str(split_path(path).0).into()),
            _ => python_path_function("dirname", args, vm),
        }
    }

    /// `posixpath.split`.
    #[pyfunction]
    fn path_split(args: FuncArgs, vm: &VirtualMachine) -> PyResult {
        match plain_strs(&args, vm).as_deref() {
            Some([path]) => {
                let (head, tail) = split_path(path);
                Ok(vm
                    .ctx
                    .new_tuple(vec![
                        vm.ctx.new_str(head).into(),
                        vm.ctx.new_str(tail).into(),
                    ])
                    .into())
            }
            _ => python_path_function("split", args, vm),
        }
    }

    /// posixpath's `split`: the head without its trailing slashes (unless it is all
    /// slashes), and the tail after the last slash.
    fn split_path(path: &str) -> (&str, &str) {
        let at = path.rfind('/').map_or(0, |i| i + 1);
        let (head, tail) = path.split_at(at);
        if head.is_empty() || head.bytes().all(|b| b == b'/') {
            (head, tail)
        } else {
            (head.trim_end_matches('/'), tail)
        }
    }

    /// The arguments as `&str`, when they are all positional, exact `str` objects
    /// without lone surrogates.
    fn plain_strs<'a>(args: &'a FuncArgs, vm: &VirtualMachine) -> Option<Vec<&'a str>> {
        if !args.kwargs.is_empty() {
            return None;
        }
        args.args
            .iter()
            .map(|arg| arg.downcast_ref_if_exact::<PyStr>(vm)?.to_str())
            .collect()
    }

    fn python_path_function(name: &str, args: FuncArgs, vm: &VirtualMachine) -> PyResult {
        crate::modules::import_module(vm, "_hz")?
            .get_attr(&vm.ctx.new_str(format!("python_{name}")), vm)?
            .call(args, vm)
    }

    /// What `bb.fetch2.URI` reads of `urllib.parse.urlparse(url)`: `(scheme, path, query,
    /// hostname, port, username, password)`, computed as python's parse computes them
    /// (~25 python calls per URL, for every SRC_URI entry of every recipe). Only for an
    /// exact `str` of printable ASCII without `;`, `[` or `]` (no whitespace to strip, no
    /// parameters to split, no IPv6 host) and with a valid port, if any; None for
    /// anything else, which python's own parse handles (and raises about).
    #[pyfunction]
    fn split_url(url: PyObjectRef, vm: &VirtualMachine) -> Option<PyObjectRef> {
        let url = url.downcast_ref_if_exact::<PyStr>(vm)?.to_str()?;
        let fields = super::split_url(url)?;
        let optional = |field: Option<&str>| match field {
            Some(text) => vm.ctx.new_str(text).into(),
            None => vm.ctx.none(),
        };
        let port = match fields.port {
            Some(port) => vm.ctx.new_int(port).into(),
            None => vm.ctx.none(),
        };
        Some(
            vm.ctx
                .new_tuple(vec![
                    vm.ctx.new_str(fields.scheme).into(),
                    vm.ctx.new_str(fields.path).into(),
                    vm.ctx.new_str(fields.query).into(),
                    optional(fields.hostname.as_deref()),
                    port,
                    optional(fields.username),
                    optional(fields.password),
                ])
                .into(),
        )
    }

    /// Python source of an embedded module: `(source, is_package)`.
    #[pyfunction]
    fn embedded_source(name: String) -> Option<(String, bool)> {
        crate::modules::embedded_source(name.as_str()).map(|(src, pkg)| (src.to_owned(), pkg))
    }

    /// The datastore object, `d`.
    #[pyattr]
    #[pyclass(module = "_hz", name = "DataSmart")]
    #[derive(Debug, PyPayload)]
    pub(crate) struct DataSmart {
        pub(crate) id: u64,
    }

    impl Drop for DataSmart {
        fn drop(&mut self) {
            // The store may be gone already while the thread shuts down.
            let _ = super::STORES.try_with(|s| s.borrow_mut().remove(&self.id));
        }
    }

    /// Where the python code calling the datastore is (file, line, function), for the
    /// variable history; only while the store records history, as frames cost to look at.
    fn caller(d: &bb_data::DataStore, vm: &VirtualMachine) -> Option<bb_data::Origin> {
        if !d.is_tracking() {
            return None;
        }
        let frame = vm.current_frame()?;
        let frame = frame.as_object();
        let text = |object: PyObjectRef| {
            object
                .str(vm)
                .ok()
                .map(|s| s.to_string_lossy().into_owned())
        };
        let code = frame.get_attr("f_code", vm).ok()?;
        Some(bb_data::Origin {
            file: text(code.get_attr("co_filename", vm).ok()?)?,
            line: frame
                .get_attr("f_lineno", vm)
                .ok()
                .and_then(|l| l.try_into_value::<u32>(vm).ok())
                .unwrap_or(0),
            func: text(code.get_attr("co_name", vm).ok()?),
        })
    }

    /// What the history shows of a write from python: the value, made only when history
    /// is kept.
    fn history_detail(d: &bb_data::DataStore, value: &Value) -> String {
        if d.is_tracking() {
            value.to_string()
        } else {
            String::new()
        }
    }

    fn kw_bool(kwargs: &KwArgs, name: &str, vm: &VirtualMachine) -> PyResult<bool> {
        match kwargs.get(name) {
            Some(value) => value.clone().try_to_bool(vm),
            None => Ok(false),
        }
    }

    impl DataSmart {
        pub(crate) fn store_of(
            object: &PyObjectRef,
            vm: &VirtualMachine,
        ) -> PyResult<bb_data::DataStore> {
            let Some(zelf) = object.downcast_ref::<DataSmart>() else {
                return Err(vm.new_type_error(format!(
                    "expected a datastore, got {}",
                    object.class().name()
                )));
            };
            zelf.store(vm)
        }

        fn store(&self, vm: &VirtualMachine) -> PyResult<bb_data::DataStore> {
            store(self.id).ok_or_else(|| {
                vm.new_runtime_error("datastore used after its thread ended".to_owned())
            })
        }

        fn value(
            &self,
            result: Result<Option<Value>, DataError>,
            vm: &VirtualMachine,
        ) -> PyResult<PyObjectRef> {
            match result {
                Ok(Some(value)) => Ok(to_python(vm, &value)),
                Ok(None) => Ok(vm.ctx.none()),
                Err(err) => Err(raise(vm, err)),
            }
        }
    }

    /// `for key in d`, `key in d`: every variable, as `keys()`.
    impl Iterable for DataSmart {
        fn iter(zelf: PyRef<Self>, vm: &VirtualMachine) -> PyResult {
            let keys = zelf.store(vm)?.keys().map_err(|e| raise(vm, e))?;
            Ok(str_list(vm, keys).as_object().get_iter(vm)?.into())
        }
    }

    /// `d[var]` (unexpanded, KeyError if unset), `d[var] = value`, `del d[var]`, `len(d)`.
    impl AsMapping for DataSmart {
        fn as_mapping() -> &'static PyMappingMethods {
            static AS_MAPPING: PyMappingMethods = PyMappingMethods {
                length: Some(|mapping, vm| {
                    let zelf = DataSmart::mapping_downcast(mapping);
                    Ok(zelf.store(vm)?.keys().map_err(|e| raise(vm, e))?.len())
                }),
                subscript: Some(|mapping, needle, vm| {
                    let zelf = DataSmart::mapping_downcast(mapping);
                    let var = needle.str(vm)?.to_string_lossy().into_owned();
                    match zelf.store(vm)?.get_var_raw(&var) {
                        Ok(Some(value)) if value != Value::None => Ok(to_python(vm, &value)),
                        Ok(_) => Err(vm.new_key_error(needle.to_owned())),
                        Err(err) => Err(raise(vm, err)),
                    }
                }),
                ass_subscript: Some(|mapping, needle, value, vm| {
                    let zelf = DataSmart::mapping_downcast(mapping);
                    let var = needle.str(vm)?.to_string_lossy().into_owned();
                    let d = zelf.store(vm)?;
                    match value {
                        Some(value) => d
                            .set_var(&var, from_python(vm, &value)?)
                            .map_err(|e| raise(vm, e)),
                        None => {
                            d.del_var(&var);
                            Ok(())
                        }
                    }
                }),
            };
            &AS_MAPPING
        }
    }

    #[pyclass(with(Iterable, AsMapping))]
    impl DataSmart {
        /// `getVar(var, expand=True, noweakdefault=False, parsing=False)`.
        #[pymethod(name = "getVar")]
        fn get_var(zelf: &Py<Self>, args: FuncArgs, vm: &VirtualMachine) -> PyResult<PyObjectRef> {
            let (var, expand, noweakdefault, parsing) = var_options(args, vm)?;
            let var = var.to_string_lossy();
            let d = zelf.store(vm)?;
            if expand && !noweakdefault && !parsing {
                return d
                    .with_var(&var, |value| {
                        value.map_or_else(|| vm.ctx.none(), |v| to_python(vm, v))
                    })
                    .map_err(|err| raise(vm, err));
            }
            zelf.value(d.get_var_with(&var, expand, noweakdefault, parsing), vm)
        }

        /// `getVarFlag(var, flag, expand=True, noweakdefault=False)`.
        #[pymethod(name = "getVarFlag")]
        fn get_var_flag(
            zelf: &Py<Self>,
            args: FuncArgs,
            vm: &VirtualMachine,
        ) -> PyResult<PyObjectRef> {
            let mut positional = args.args.iter();
            let var = arg_str(positional.next(), &args, "var", vm)?;
            let flag = arg_str(positional.next(), &args, "flag", vm)?;
            let (var, flag) = (var.to_string_lossy(), flag.to_string_lossy());
            let expand = match positional.next().or(args.kwargs.get("expand")) {
                Some(v) => v.clone().try_to_bool(vm)?,
                None => true,
            };
            let noweakdefault = match positional.next().or(args.kwargs.get("noweakdefault")) {
                Some(v) => v.clone().try_to_bool(vm)?,
                None => false,
            };
            let d = zelf.store(vm)?;
            if expand && !noweakdefault {
                return d
                    .with_var_flag(&var, &flag, |value| {
                        value.map_or_else(|| vm.ctx.none(), |v| to_python(vm, v))
                    })
                    .map_err(|err| raise(vm, err));
            }
            zelf.value(d.get_var_flag_with(&var, &flag, expand, noweakdefault), vm)
        }

        /// `setVar(var, value, **loginfo)`; `parsing=True` keeps pending operations.
        #[pymethod(name = "setVar")]
        fn set_var(
            zelf: &Py<Self>,
            var: String,
            value: PyObjectRef,
            kwargs: KwArgs,
            vm: &VirtualMachine,
        ) -> PyResult<()> {
            let d = zelf.store(vm)?;
            let value = from_python(vm, &value)?;
            let parsing = kw_bool(&kwargs, "parsing", vm)?;
            let origin = caller(&d, vm);
            let detail = history_detail(&d, &value);
            d.set_var_logged(
                var.as_str(),
                value,
                parsing,
                origin.as_ref(),
                "set",
                &detail,
            )
            .map_err(|e| raise(vm, e))
        }

        /// `setVarFlag(var, flag, value)`.
        #[pymethod(name = "setVarFlag")]
        fn set_var_flag(
            zelf: &Py<Self>,
            var: String,
            flag: String,
            value: PyObjectRef,
            _kwargs: KwArgs,
            vm: &VirtualMachine,
        ) -> PyResult<()> {
            let d = zelf.store(vm)?;
            let value = from_python(vm, &value)?;
            let origin = caller(&d, vm);
            let detail = history_detail(&d, &value);
            d.set_var_flag_logged(
                var.as_str(),
                flag.as_str(),
                value,
                origin.as_ref(),
                "set",
                &detail,
            )
            .map_err(|e| raise(vm, e))
        }

        /// `setVarFlags(var, flags)`.
        #[pymethod(name = "setVarFlags")]
        fn set_var_flags(
            zelf: &Py<Self>,
            var: String,
            flags: PyDictRef,
            _kwargs: KwArgs,
            vm: &VirtualMachine,
        ) -> PyResult<()> {
            let d = zelf.store(vm)?;
            // BitBake records nothing for setVarFlags.
            d.without_history(|| {
                for (flag, value) in &flags {
                    let flag = flag.str(vm)?.to_string_lossy().into_owned();
                    if flag.as_str() == "_content" {
                        continue;
                    }
                    let value = from_python(vm, &value)?;
                    d.set_var_flag(var.as_str(), flag.as_str(), value)
                        .map_err(|e| raise(vm, e))?;
                }
                Ok(())
            })
        }

        /// `getVarFlags(var, expand=False, internalflags=False)`: a dict, or None.
        #[pymethod(name = "getVarFlags")]
        fn get_var_flags(
            zelf: &Py<Self>,
            var: String,
            expand: OptionalArg<PyObjectRef>,
            internalflags: OptionalArg<bool>,
            vm: &VirtualMachine,
        ) -> PyResult<PyObjectRef> {
            let d = zelf.store(vm)?;
            let flags = if internalflags.unwrap_or(false) {
                d.get_var_flags_internal(var.as_str())
            } else {
                d.get_var_flags(var.as_str())
            };
            if flags.is_empty() {
                return Ok(vm.ctx.none());
            }
            let expand_names: Vec<String> = match expand.into_option() {
                Some(names) if !vm.is_none(&names) && !names.class().is(vm.ctx.types.bool_type) => {
                    vm.extract_elements_with(&names, |o| {
                        Ok(o.str(vm)?.to_string_lossy().into_owned())
                    })?
                }
                _ => Vec::new(),
            };
            let dict = vm.ctx.new_dict();
            for (name, value) in flags {
                let value = if expand_names.contains(&name) {
                    let text = d
                        .expand_named(&value.to_string(), &format!("{}[{name}]", var.as_str()))
                        .map_err(|e| raise(vm, e))?;
                    vm.ctx.new_str(text).into()
                } else {
                    to_python(vm, &value)
                };
                dict.set_item(name.as_str(), value, vm)?;
            }
            Ok(dict.into())
        }

        /// `delVar(var)`.
        #[pymethod(name = "delVar")]
        fn del_var(
            zelf: &Py<Self>,
            var: String,
            _kwargs: KwArgs,
            vm: &VirtualMachine,
        ) -> PyResult<()> {
            let d = zelf.store(vm)?;
            d.del_var_from(var.as_str(), caller(&d, vm).as_ref());
            Ok(())
        }

        /// `delVarFlag(var, flag)`.
        #[pymethod(name = "delVarFlag")]
        fn del_var_flag(
            zelf: &Py<Self>,
            var: String,
            flag: String,
            _kwargs: KwArgs,
            vm: &VirtualMachine,
        ) -> PyResult<()> {
            let d = zelf.store(vm)?;
            d.del_var_flag_from(var.as_str(), flag.as_str(), caller(&d, vm).as_ref());
            Ok(())
        }

        /// `delVarFlags(var)`.
        #[pymethod(name = "delVarFlags")]
        fn del_var_flags(
            zelf: &Py<Self>,
            var: String,
            _kwargs: KwArgs,
            vm: &VirtualMachine,
        ) -> PyResult<()> {
            zelf.store(vm)?.del_var_flags(var.as_str());
            Ok(())
        }

        /// `appendVar(var, value)`.
        #[pymethod(name = "appendVar")]
        fn append_var(
            zelf: &Py<Self>,
            var: String,
            value: PyObjectRef,
            _kwargs: KwArgs,
            vm: &VirtualMachine,
        ) -> PyResult<()> {
            let value = value.str(vm)?.to_string_lossy().into_owned();
            let d = zelf.store(vm)?;
            d.append_var_from(var.as_str(), value.as_str(), caller(&d, vm).as_ref())
                .map_err(|e| raise(vm, e))
        }

        /// `prependVar(var, value)`.
        #[pymethod(name = "prependVar")]
        fn prepend_var(
            zelf: &Py<Self>,
            var: String,
            value: PyObjectRef,
            _kwargs: KwArgs,
            vm: &VirtualMachine,
        ) -> PyResult<()> {
            let value = value.str(vm)?.to_string_lossy().into_owned();
            let d = zelf.store(vm)?;
            d.prepend_var_from(var.as_str(), value.as_str(), caller(&d, vm).as_ref())
                .map_err(|e| raise(vm, e))
        }

        /// `appendVarFlag(var, flag, value)`.
        #[pymethod(name = "appendVarFlag")]
        fn append_var_flag(
            zelf: &Py<Self>,
            var: String,
            flag: String,
            value: PyObjectRef,
            _kwargs: KwArgs,
            vm: &VirtualMachine,
        ) -> PyResult<()> {
            let value = value.str(vm)?.to_string_lossy().into_owned();
            let d = zelf.store(vm)?;
            let origin = caller(&d, vm);
            d.append_var_flag_from(var.as_str(), flag.as_str(), value.as_str(), origin.as_ref())
                .map_err(|e| raise(vm, e))
        }

        /// `prependVarFlag(var, flag, value)`.
        #[pymethod(name = "prependVarFlag")]
        fn prepend_var_flag(
            zelf: &Py<Self>,
            var: String,
            flag: String,
            value: PyObjectRef,
            _kwargs: KwArgs,
            vm: &VirtualMachine,
        ) -> PyResult<()> {
            let value = value.str(vm)?.to_string_lossy().into_owned();
            let d = zelf.store(vm)?;
            let origin = caller(&d, vm);
            d.prepend_var_flag_from(var.as_str(), flag.as_str(), value.as_str(), origin.as_ref())
                .map_err(|e| raise(vm, e))
        }

        /// `renameVar(key, newkey)`.
        #[pymethod(name = "renameVar")]
        fn rename_var(
            zelf: &Py<Self>,
            key: String,
            newkey: String,
            _kwargs: KwArgs,
            vm: &VirtualMachine,
        ) -> PyResult<()> {
            let d = zelf.store(vm)?;
            d.rename_var_from(key.as_str(), newkey.as_str(), caller(&d, vm).as_ref())
                .map_err(|e| raise(vm, e))
        }

        /// `setVarFilter(var, filter)`.
        #[pymethod(name = "setVarFilter")]
        fn set_var_filter(
            zelf: &Py<Self>,
            var: String,
            filter: PyObjectRef,
            vm: &VirtualMachine,
        ) -> PyResult<()> {
            let filter = if vm.is_none(&filter) {
                String::new()
            } else {
                filter.str(vm)?.to_string_lossy().into_owned()
            };
            zelf.store(vm)?
                .set_var_filter(var.as_str(), filter.as_str());
            Ok(())
        }

        /// `expand(s, varname=None)`.
        #[pymethod]
        fn expand(
            zelf: &Py<Self>,
            s: PyObjectRef,
            varname: OptionalArg<PyObjectRef>,
            vm: &VirtualMachine,
        ) -> PyResult<PyObjectRef> {
            if vm.is_none(&s) {
                return Ok(s);
            }
            let Some(text) = s.downcast_ref::<rustpython_vm::builtins::PyStr>() else {
                return Ok(s);
            };
            let d = zelf.store(vm)?;
            let result = match varname.into_option().filter(|v| !vm.is_none(v)) {
                Some(name) => {
                    d.expand_named(&text.to_string_lossy(), &name.str(vm)?.to_string_lossy())
                }
                None => d.expand(&text.to_string_lossy()),
            };
            result
                .map(|t| vm.ctx.new_str(t).into())
                .map_err(|e| raise(vm, e))
        }

        /// `keys()`: every variable.
        #[pymethod]
        fn keys(zelf: &Py<Self>, vm: &VirtualMachine) -> PyResult<PyObjectRef> {
            let keys = zelf.store(vm)?.keys().map_err(|e| raise(vm, e))?;
            Ok(str_list(vm, keys).into())
        }

        /// `[k for k in d.keys() if d.getVarFlag(k, flag)]` in one call: `bb.build` lists a
        /// recipe's tasks so, and a call from python per variable costs milliseconds.
        #[pymethod(name = "_keys_with_flag")]
        fn keys_with_flag(
            zelf: &Py<Self>,
            flag: String,
            vm: &VirtualMachine,
        ) -> PyResult<PyObjectRef> {
            let keys = zelf
                .store(vm)?
                .keys_with_flag(&flag)
                .map_err(|e| raise(vm, e))?;
            Ok(str_list(vm, keys).into())
        }

        /// `bb.build.tasksbetween(start, end, d)` when every task's `deps` flag is a list of
        /// strings and no chain is circular (`None` otherwise: python then raises what
        /// BitBake raises). It follows every chain, as BitBake does, which costs an image
        /// recipe ~0.5 ms interpreted.
        #[pymethod(name = "_tasks_between")]
        fn tasks_between(
            zelf: &Py<Self>,
            start: String,
            end: String,
            vm: &VirtualMachine,
        ) -> PyResult<Option<PyObjectRef>> {
            let d = zelf.store(vm)?;
            let tasks = d.keys_with_flag("task").map_err(|e| raise(vm, e))?;
            let mut deps = Vec::with_capacity(tasks.len());
            for task in &tasks {
                let Some(Value::List(items)) = d
                    .get_var_flag(task, "deps", false)
                    .map_err(|e| raise(vm, e))?
                else {
                    return Ok(None);
                };
                let Some(names) = items
                    .iter()
                    .map(|v| v.as_str().map(str::to_owned))
                    .collect::<Option<Vec<String>>>()
                else {
                    return Ok(None);
                };
                deps.push(names);
            }
            Ok(super::tasks_between(&tasks, &deps, &start, &end).map(|t| str_list(vm, t).into()))
        }

        /// `bb.data.inherits_class(klass, d)` when `__inherit_cache` is a list of strings
        /// (`None` otherwise): whether a class file named `klass` was inherited. Classes ask this
        /// of every recipe many times, and a call from python copies the whole list.
        #[pymethod(name = "_inherits_class")]
        fn inherits_class(
            zelf: &Py<Self>,
            klass: String,
            vm: &VirtualMachine,
        ) -> PyResult<Option<bool>> {
            let cache = zelf
                .store(vm)?
                .get_var_raw("__inherit_cache")
                .map_err(|e| raise(vm, e))?;
            let needle = format!("/{klass}.bbclass");
            // Anything but a list of strings is python's (`endswith` may raise).
            let Some(Value::List(items)) = cache else {
                return Ok(None);
            };
            let names: Option<Vec<&str>> = items.iter().map(Value::as_str).collect();
            Ok(names.map(|names| names.iter().any(|n| n.ends_with(&needle))))
        }

        /// `createCopy()`.
        #[pymethod(name = "createCopy")]
        fn create_copy(zelf: &Py<Self>, vm: &VirtualMachine) -> PyResult<PyObjectRef> {
            Ok(super::wrap(vm, &zelf.store(vm)?.create_copy()))
        }

        /// `hasOverrides(var)`.
        #[pymethod(name = "hasOverrides")]
        fn has_overrides(zelf: &Py<Self>, var: String, vm: &VirtualMachine) -> PyResult<bool> {
            Ok(zelf.store(vm)?.has_overrides(var.as_str()))
        }

        /// `localkeys()`.
        #[pymethod]
        fn localkeys(zelf: &Py<Self>, vm: &VirtualMachine) -> PyResult<PyObjectRef> {
            Ok(str_list(vm, zelf.store(vm)?.local_keys()).into())
        }

        /// `expandKeys()` (what `bb.data.expandKeys(d)` calls).
        #[pymethod(name = "expandKeys")]
        fn expand_keys(zelf: &Py<Self>, vm: &VirtualMachine) -> PyResult<()> {
            zelf.store(vm)?.expand_keys().map_err(|e| raise(vm, e))
        }

        #[pymethod(name = "enableTracking")]
        fn enable_tracking(zelf: &Py<Self>, vm: &VirtualMachine) -> PyResult<()> {
            zelf.store(vm)?.enable_tracking();
            Ok(())
        }

        #[pymethod(name = "disableTracking")]
        fn disable_tracking(_zelf: &Py<Self>) {}
    }

    /// A str argument (its text borrowed with `to_string_lossy`: names are read on every
    /// `getVar`, and copying them cost an allocation each).
    fn arg_str(
        positional: Option<&PyObjectRef>,
        args: &FuncArgs,
        name: &str,
        vm: &VirtualMachine,
    ) -> PyResult<PyStrRef> {
        let value = positional
            .or(args.kwargs.get(name))
            .ok_or_else(|| vm.new_type_error(format!("missing argument '{name}'")))?;
        value.str(vm)
    }

    fn var_options(args: FuncArgs, vm: &VirtualMachine) -> PyResult<(PyStrRef, bool, bool, bool)> {
        let mut positional = args.args.iter();
        let var = arg_str(positional.next(), &args, "var", vm)?;
        let mut option = |name: &str, default: bool| -> PyResult<bool> {
            match positional.next().or(args.kwargs.get(name)) {
                Some(v) => v.clone().try_to_bool(vm),
                None => Ok(default),
            }
        };
        let expand = option("expand", true)?;
        let noweakdefault = option("noweakdefault", false)?;
        let parsing = option("parsing", false)?;
        Ok((var, expand, noweakdefault, parsing))
    }
}

/// A python `d` for a datastore.
pub(crate) fn wrap(
    vm: &rustpython_vm::VirtualMachine,
    d: &DataStore,
) -> rustpython_vm::PyObjectRef {
    use rustpython_vm::PyPayload;
    use rustpython_vm::class::PyClassImpl;
    let _ = _hz::DataSmart::make_static_type();
    _hz::DataSmart { id: register(d) }.into_ref(&vm.ctx).into()
}

/// Raises a datastore error in python as BitBake would: `SkipRecipe`, `ExpansionError`,
/// or `BBHandledException` after logging the message (as `bb.fatal`).
pub(crate) fn raise(
    vm: &rustpython_vm::VirtualMachine,
    err: DataError,
) -> rustpython_vm::builtins::PyBaseExceptionRef {
    let class = |module: &'static str, name: &'static str| -> Option<rustpython_vm::PyObjectRef> {
        crate::modules::import_module(vm, module)
            .ok()?
            .get_attr(name, vm)
            .ok()
    };
    let (exception_class, message) = match &err {
        DataError::SkipRecipe(reason) => (class("bb.parse", "SkipRecipe"), reason.clone()),
        DataError::Expansion(e) => (class("bb.data_smart", "ExpansionError"), e.to_string()),
        DataError::Fatal(message) => {
            log(LogLevel::Error, message.clone());
            (class("bb", "BBHandledException"), message.clone())
        }
    };
    let Some(exception_class) = exception_class else {
        return vm.new_runtime_error(message);
    };
    match exception_class.call((message.clone(),), vm) {
        Ok(instance) => match instance.downcast::<rustpython_vm::builtins::PyBaseException>() {
            Ok(exception) => exception,
            Err(_) => vm.new_runtime_error(message),
        },
        Err(exception) => exception,
    }
}

/// BitBake's `follow_chain` from `start`: the tasks of every chain of `deps` (task `i`
/// depends on the tasks `deps[i]` names) that reaches `end`, in the order first met;
/// `None` when a chain is circular.
fn tasks_between(
    tasks: &[String],
    deps: &[Vec<String>],
    start: &str,
    end: &str,
) -> Option<Vec<String>> {
    fn follow<'t>(
        task: &'t str,
        chain: &mut Vec<&'t str>,
        graph: (&'t [String], &'t [Vec<String>], &str),
        out: &mut Vec<String>,
    ) -> Option<()> {
        let (tasks, deps, end) = graph;
        if chain.contains(&task) {
            return None;
        }
        chain.push(task);
        for (other, other_deps) in tasks.iter().zip(deps) {
            if other == task {
                continue;
            }
            if task == end {
                for link in chain.iter() {
                    if !out.iter().any(|t| t == link) {
                        out.push((*link).to_owned());
                    }
                }
            } else if other_deps.iter().any(|d| d == task) {
                follow(other, chain, graph, out)?;
            }
        }
        chain.pop();
        Some(())
    }
    let mut out = Vec::new();
    follow(start, &mut Vec::new(), (tasks, deps, end), &mut out)?;
    Some(out)
}

/// The fields of [`_hz::split_url`].
#[derive(Debug)]
struct SplitUrl<'a> {
    scheme: String,
    path: &'a str,
    query: &'a str,
    hostname: Option<String>,
    port: Option<u16>,
    username: Option<&'a str>,
    password: Option<&'a str>,
}

/// `urllib.parse.urlsplit` (which `urlparse` is, for a URL without `;`) and the
/// `hostname`, `port`, `username` and `password` of its result, for the URLs
/// [`_hz::split_url`] takes; None for the others.
fn split_url(url: &str) -> Option<SplitUrl<'_>> {
    if !url.bytes().all(|b| b.is_ascii_graphic()) || url.contains([';', '[', ']']) {
        return None;
    }
    let mut scheme = String::new();
    let mut rest = url;
    if let Some(colon) = url.find(':')
        && colon > 0
        && url.as_bytes()[0].is_ascii_alphabetic()
        && url[..colon]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
    {
        scheme = url[..colon].to_ascii_lowercase();
        rest = &url[colon + 1..];
    }
    let mut netloc = "";
    if let Some(after) = rest.strip_prefix("//") {
        let end = after.find(['/', '?', '#']).unwrap_or(after.len());
        (netloc, rest) = after.split_at(end);
    }
    let rest = rest.split_once('#').map_or(rest, |(before, _)| before);
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (userinfo, hostinfo) = match netloc.rsplit_once('@') {
        Some((userinfo, hostinfo)) => (Some(userinfo), hostinfo),
        None => (None, netloc),
    };
    let (username, password) = match userinfo {
        Some(userinfo) => match userinfo.split_once(':') {
            Some((user, password)) => (Some(user), Some(password)),
            None => (Some(userinfo), None),
        },
        None => (None, None),
    };
    let (host, port) = hostinfo.split_once(':').unwrap_or((hostinfo, ""));
    let port = if port.is_empty() {
        None
    } else if port.bytes().all(|b| b.is_ascii_digit()) {
        // Python raises for a port past 65535: its own parse is left to say so.
        Some(port.parse::<u16>().ok()?)
    } else {
        return None;
    };
    // A scoped IPv6 zone (after `%`) keeps its case.
    let hostname = (!host.is_empty()).then(|| match host.split_once('%') {
        Some((name, zone)) => format!("{}%{zone}", name.to_ascii_lowercase()),
        None => host.to_ascii_lowercase(),
    });
    Some(SplitUrl {
        scheme,
        path,
        query,
        hostname,
        port,
        username,
        password,
    })
}
