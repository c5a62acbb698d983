//! The interpreter: start-up, the embedded `bb` package, and the calls bb-data makes.

use rustc_hash::FxHashMap as HashMap;
use std::cell::RefCell;

use bb_data::{
    CodeRefs, CookerEvent, DataError, DataStore, EvalError, Handler, InlinePython, PythonFailure,
    PythonHost,
};
use rustpython::InterpreterBuilderExt;
use rustpython_vm::builtins::{PyBaseExceptionRef, PyCode, PyDictRef, PyTupleRef};
use rustpython_vm::compiler::Mode;
use rustpython_vm::function::ArgMapping;
use rustpython_vm::scope::Scope;
use rustpython_vm::{AsObject, Interpreter, PyObjectRef, PyRef, PyResult, VirtualMachine};

use crate::datastore::{_hz, str_list, with_current, wrap};
use crate::modules::import_module;

/// Serves the embedded modules to `import`, and prepares the metadata's global context
/// the way BitBake's `bb.utils.clean_context` and `bb.build` do.
const BOOTSTRAP: &str = r#"
import sys, _hz
# RustPython without threads brings a `_thread` whose threads run to their end as they
# start (a hang, for one that waits for work); ours refuses to start them. It must be in
# place before anything imports `threading`.
if "threading" in sys.modules:
    raise ImportError("threading was imported before the host's _thread")
_thread_module = type(sys)("_thread")
exec(compile(_hz.embedded_source("_thread")[0], "<hitzeleiter>/_thread.py", "exec"),
     _thread_module.__dict__)
sys.modules["_thread"] = _thread_module
del _thread_module
import importlib.util, importlib.machinery
import hashlib, marshal, os
import posixpath
# Native os.path functions (see _hz.path_join): python's own stay for what they do not do.
for _name in ("join", "basename", "dirname", "split"):
    setattr(_hz, "python_" + _name, getattr(posixpath, _name))
    setattr(posixpath, _name, getattr(_hz, "path_" + _name))
del _name

# `__code_cache__` (set by the host, or None): a directory keeping compiled modules by the
# digest of their source and path, so that each process does not compile the layers'
# python libraries (and the embedded `bb`) again. An entry carries the digest of its own
# bytes: one that does not match is compiled again and replaced. A use refreshes an
# entry's time; when a write finds more than _CODE_CACHE_LIMIT files, the least recently
# used go, down to three quarters of it (entries of edited sources are never used again).
_CODE_CACHE_LIMIT = 4096
# The files in the cache as this process last listed it, plus what it has written since:
# the directory is listed on the first write and again only when the count passes the
# limit, not on every write.
_code_cache_files = None

def _prune_code_cache():
    """Lists the cache, prunes it when it holds too many files; returns how many are left."""
    found = []
    try:
        for item in os.scandir(__code_cache__):
            try:
                found.append((item.stat().st_mtime_ns, item.path))
            except OSError:
                pass
    except OSError:
        return 0
    if len(found) <= _CODE_CACHE_LIMIT:
        return len(found)
    found.sort()
    removed = found[:len(found) - _CODE_CACHE_LIMIT * 3 // 4]
    for _, old in removed:
        try:
            os.unlink(old)
        except OSError:
            pass
    return len(found) - len(removed)

def _count_code_cache_write():
    global _code_cache_files
    if _code_cache_files is not None and _code_cache_files < _CODE_CACHE_LIMIT:
        _code_cache_files += 1
    else:
        _code_cache_files = _prune_code_cache()

def _compile_module(source, path):
    if __code_cache__ is None:
        return compile(source, path, "exec")
    data = source.encode() if isinstance(source, str) else bytes(source)
    key = hashlib.blake2b(
        data + b"\0" + path.encode() + importlib.util.MAGIC_NUMBER, digest_size=20
    ).hexdigest()
    entry = os.path.join(__code_cache__, key)
    try:
        with open(entry, "rb") as f:
            stored = f.read()
        if hashlib.blake2b(stored[20:], digest_size=20).digest() == stored[:20]:
            code = marshal.loads(stored[20:])
            try:
                os.utime(entry)
            except OSError:
                pass
            return code
    except (OSError, ValueError, EOFError, TypeError):
        pass
    code = compile(source, path, "exec")
    payload = marshal.dumps(code)
    temporary = "%s.%d.tmp" % (entry, os.getpid())
    try:
        os.makedirs(__code_cache__, exist_ok=True)
        with open(temporary, "wb") as f:
            f.write(hashlib.blake2b(payload, digest_size=20).digest() + payload)
        os.replace(temporary, entry)
    except OSError:
        try:
            os.unlink(temporary)
        except OSError:
            pass
    _count_code_cache_write()
    return code

class _CachingSourceLoader(importlib.machinery.SourceFileLoader):
    def source_to_code(self, data, path, **_):
        return _compile_module(data, path)

sys.path_hooks.insert(0, importlib.machinery.FileFinder.path_hook(*[
    (_CachingSourceLoader if loader is importlib.machinery.SourceFileLoader else loader, suffixes)
    for loader, suffixes in importlib._bootstrap_external._get_supported_file_loaders()
]))
sys.path_importer_cache.clear()

class _HostLoader:
    def __init__(self, src, is_pkg, origin):
        self.src, self.is_pkg, self.origin = src, is_pkg, origin
    def create_module(self, spec):
        return None
    def exec_module(self, module):
        module.__file__ = self.origin
        exec(_compile_module(self.src, self.origin), module.__dict__)
    def get_source(self, name):
        return self.src
    def is_package(self, name):
        return self.is_pkg

class _HostFinder:
    @classmethod
    def find_spec(cls, fullname, path=None, target=None):
        found = _hz.embedded_source(fullname)
        if found is None:
            return None
        src, is_pkg = found
        origin = "<hitzeleiter>/" + fullname.replace(".", "/") + ("/__init__.py" if is_pkg else ".py")
        return importlib.util.spec_from_loader(
            fullname, _HostLoader(src, is_pkg, origin), origin=origin, is_package=is_pkg)

sys.meta_path.insert(0, _HostFinder)

import builtins, os, time
import bb, bb.utils, bb.data_smart
bb.utils._context.update({"os": os, "bb": bb, "time": time})
builtins.bb = bb
builtins.os = os

# RustPython gaps that metadata's python relies on (docs/python.md).
# Metadata runs `${PYTHON}` (sys.executable) as a python interpreter in tasks; this
# process is not one, the host's python3 is.
import shutil
sys.executable = shutil.which("python3") or sys.executable
if not hasattr(os, "sched_getaffinity"):
    def _sched_getaffinity(pid):
        return set(range(os.cpu_count() or 1))
    os.sched_getaffinity = _sched_getaffinity
try:
    import multiprocessing
    multiprocessing.set_start_method("fork", force=True)
except Exception:
    pass
"#;

/// A python interpreter hosting BitBake metadata's python. One per thread.
pub struct Python {
    interpreter: Interpreter,
    globals: PyDictRef,
    /// The `hz_host` module, which every call of the host into python goes through.
    host_module: PyObjectRef,
    data_context: PyObjectRef,
    /// `dict.__new__`, to make a `DataContext` without running its python `__init__`.
    dict_new: PyObjectRef,
    inline_code: RefCell<HashMap<String, PyRef<PyCode>>>,
    /// `analyze` results by code, as BitBake's codeparser cache keeps them.
    analyses: RefCell<HashMap<String, CodeRefs>>,
    /// Event handler functions made so far (a configuration has a few handlers, and each
    /// recipe's finalisation fires several events at them).
    handlers: RefCell<Vec<(Handler, PyObjectRef)>>,
    /// Variable filter results by expression, then value: filter expressions see only
    /// pure functions (`bb.filter`), and a recipe's filtered variables are read again and
    /// again with the same values.
    filtered: RefCell<HashMap<String, HashMap<String, String>>>,
    /// The plain `def`s run so far, by file: classes are evaluated again for every recipe
    /// inheriting them, and a function still bound is not made again (a new function
    /// object, equal in all but identity).
    defined: RefCell<HashMap<String, Vec<DefinedMethod>>>,
}

/// A `def` run into the global context, and what it bound there.
struct DefinedMethod {
    line: u32,
    text: String,
    name: String,
    function: PyObjectRef,
}

impl std::fmt::Debug for Python {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Python")
            .field("cached_expressions", &self.inline_code.borrow().len())
            .finish()
    }
}

/// What the host keeps of a python exception.
struct Failure {
    type_name: String,
    message: String,
    frames: Vec<(String, u32, String)>,
    skip: bool,
    handled: bool,
    unterminated_string: bool,
}

/// The interpreter did not start: setting up the embedded `bb` package raised.
#[derive(Debug, thiserror::Error)]
#[error("{traceback}")]
pub struct StartError {
    /// The python exception, formatted as python prints it.
    pub traceback: String,
}

impl Python {
    /// Starts an interpreter with the CPython standard library frozen in and the
    /// embedded `bb` package importable.
    pub fn new() -> Result<Python, StartError> {
        Python::start(None)
    }

    /// [`Python::new`], keeping the compiled code of the modules it imports from source
    /// (the layers' python libraries, the embedded `bb`) in `dir`, as CPython keeps
    /// `__pycache__`, but outside the layers and checked by the source's digest.
    pub fn with_code_cache(dir: &std::path::Path) -> Result<Python, StartError> {
        Python::start(Some(dir))
    }

    fn start(code_cache: Option<&std::path::Path>) -> Result<Python, StartError> {
        // No python signal handlers: installing them probes every signal by setting it to
        // SIG_IGN for a moment, process-wide, and a child of another thread that exits
        // then (SIGCHLD ignored) is reaped by the kernel, so its waitpid fails (ECHILD).
        let mut settings = rustpython_vm::Settings::default();
        settings.install_signal_handlers = false;
        // Importing a layer's python library must not write __pycache__ into the layer
        // (layers may be read-only or shared between builds).
        settings.write_bytecode = false;
        let builder = rustpython::InterpreterBuilder::new()
            .settings(settings)
            .init_stdlib();
        let module = _hz::module_def(&builder.ctx);
        let interpreter = builder.add_native_module(module).interpreter();
        let setup = interpreter.enter(
            |vm| -> PyResult<(PyDictRef, PyObjectRef, PyObjectRef, PyObjectRef)> {
                let scope = vm.new_scope_with_builtins();
                let code_cache = match code_cache {
                    Some(dir) => vm.ctx.new_str(dir.to_string_lossy().as_ref()).into(),
                    None => vm.ctx.none(),
                };
                scope.globals.set_item("__code_cache__", code_cache, vm)?;
                vm.run_string(scope, BOOTSTRAP, "<hitzeleiter bootstrap>")?;
                let utils = import_module(vm, "bb.utils")?;
                let globals = utils
                    .get_attr("_context", vm)?
                    .downcast::<rustpython_vm::builtins::PyDict>()
                    .map_err(|_| vm.new_type_error("bb.utils._context is not a dict".to_owned()))?;
                let data_context =
                    import_module(vm, "bb.data_smart")?.get_attr("DataContext", vm)?;
                let dict_new = vm.ctx.types.dict_type.as_object().get_attr("__new__", vm)?;
                let host_module = import_module(vm, "hz_host")?;
                Ok((globals, data_context, dict_new, host_module))
            },
        );
        let (globals, data_context, dict_new, host_module) = setup.map_err(|err| StartError {
            traceback: interpreter.enter(|vm| format_exception(vm, &err)),
        })?;
        Ok(Python {
            interpreter,
            globals,
            host_module,
            data_context,
            dict_new,
            inline_code: RefCell::default(),
            analyses: RefCell::default(),
            handlers: RefCell::default(),
            filtered: RefCell::default(),
            defined: RefCell::default(),
        })
    }

    /// Readies the interpreter to be shared by processes forked from this one: collects
    /// the cyclic garbage, then puts every python object made so far out of the cyclic
    /// collector's reach (`gc.freeze()`, as CPython advises before forking). A forked
    /// process's collections then neither scan nor write to the objects it shares with
    /// this process, so the pages holding them stay shared instead of being copied.
    pub fn freeze_for_fork(&self) {
        self.interpreter.enter(|vm| {
            vm.state.gc.collect_force(2);
            vm.state.gc.freeze();
        });
    }

    /// Collects the cyclic garbage among the objects made since
    /// [`Python::freeze_for_fork`] (all of them without it, which costs a scan of every
    /// object). RustPython's automatic collector only ever collects its youngest
    /// generation: a cycle that outlives one of its runs, such as a recipe's python
    /// objects referring to each other and to its datastore, is otherwise kept until the
    /// process ends.
    pub fn collect_garbage(&self) {
        self.interpreter.enter(|vm| {
            vm.state.gc.collect_force(1);
        });
    }

    /// Runs `f` inside the interpreter with `d` as the store python logs to.
    fn call<T>(
        &self,
        d: &DataStore,
        f: impl FnOnce(&VirtualMachine) -> PyResult<T>,
    ) -> Result<T, Failure> {
        with_current(d, || {
            self.interpreter
                .enter(|vm| f(vm).map_err(|exc| failure(vm, &exc)))
        })
    }

    /// `DataContext(d)`, made and filled natively: python's `__init__` would cost a
    /// python call for each of a parse's ~50,000 inline evaluations that need python.
    fn new_data_context(&self, vm: &VirtualMachine, d: &PyObjectRef) -> PyResult<PyObjectRef> {
        let context = self.dict_new.call((self.data_context.clone(),), vm)?;
        context.set_item("d", d.clone(), vm)?;
        context.set_attr("metadata", d.clone(), vm)?;
        context.set_attr("context", self.globals.clone(), vm)?;
        Ok(context)
    }

    fn compiled_expression(
        &self,
        vm: &VirtualMachine,
        code: &str,
        varname: Option<&str>,
    ) -> PyResult<PyRef<PyCode>> {
        if let Some(compiled) = self.inline_code.borrow().get(code) {
            return Ok(compiled.clone());
        }
        let filename = match varname {
            Some(name) => format!("Var <{name}>"),
            None => "<expansion>".to_owned(),
        };
        let compiled = vm
            .compile(code, Mode::Eval, filename)
            .map_err(|e| e.into_pyexception(vm, Some(code)))?;
        self.inline_code
            .borrow_mut()
            .insert(code.to_owned(), compiled.clone());
        Ok(compiled)
    }

    fn host_call(
        &self,
        d: &DataStore,
        function: &'static str,
        args: impl FnOnce(&VirtualMachine) -> Vec<PyObjectRef>,
    ) -> Result<(), EvalError> {
        self.call(d, |vm| {
            let args = args(vm);
            self.host_module.get_attr(function, vm)?.call(args, vm)?;
            Ok(())
        })
        .map_err(Failure::into_eval_error)
    }

    /// The python function of an event handler, made on first use.
    fn handler_function(
        &self,
        vm: &VirtualMachine,
        host: &PyObjectRef,
        handler: &Handler,
    ) -> PyResult<PyObjectRef> {
        let made = self
            .handlers
            .borrow()
            .iter()
            .find(|(known, _)| known == handler)
            .map(|(_, function)| function.clone());
        if let Some(function) = made {
            return Ok(function);
        }
        let function = host.get_attr("handler", vm)?.call(
            (
                handler.name.as_str(),
                handler.code.as_str(),
                handler.file.as_str(),
                handler.line,
            ),
            vm,
        )?;
        self.handlers
            .borrow_mut()
            .push((handler.clone(), function.clone()));
        Ok(function)
    }
}

impl InlinePython for Python {
    fn eval_inline(
        &self,
        d: &DataStore,
        code: &str,
        varname: Option<&str>,
    ) -> Result<String, PythonFailure> {
        self.call(d, |vm| {
            let compiled = self.compiled_expression(vm, code, varname)?;
            let d_object = wrap(vm, d);
            let locals = self.new_data_context(vm, &d_object)?;
            // BitBake's DataContext raises KeyError for a name of the global context, and
            // python then finds it among the globals: such a name is given its global
            // value up front instead (the same value, without an exception to make).
            for name in compiled.names.iter() {
                let name = name.as_str();
                if name != "d"
                    && let Some(value) = self.globals.get_item_opt(name, vm)?
                {
                    locals.set_item(name, value, vm)?;
                }
            }
            let scope =
                Scope::with_builtins(Some(ArgMapping::new(locals)), self.globals.clone(), vm);
            // BitBake evaluates with `d` among the globals too, so that generator
            // expressions and lambdas in the code see it; the outer `d` comes back after.
            let outer = self.globals.get_item_opt("d", vm)?;
            self.globals.set_item("d", d_object, vm)?;
            let result = vm.run_code_obj(compiled, scope);
            match outer {
                Some(outer) => self.globals.set_item("d", outer, vm)?,
                None => self.globals.del_item("d", vm)?,
            }
            Ok(result?.str(vm)?.to_string_lossy().into_owned())
        })
        .map_err(Failure::into_python_failure)
    }

    fn apply_filter(&self, value: &str, expression: &str) -> Result<String, PythonFailure> {
        let known = self
            .filtered
            .borrow()
            .get(expression)
            .and_then(|results| results.get(value).cloned());
        if let Some(result) = known {
            return Ok(result);
        }
        let result = self
            .interpreter
            .enter(|vm| {
                let run = || -> PyResult<String> {
                    let filter = import_module(vm, "bb.filter")?;
                    let expressions = vm.ctx.new_list(vec![vm.ctx.new_str(expression).into()]);
                    let result = filter
                        .get_attr("apply_filters", vm)?
                        .call((vm.ctx.new_str(value), expressions), vm)?;
                    Ok(result.str(vm)?.to_string_lossy().into_owned())
                };
                run().map_err(|exc| failure(vm, &exc))
            })
            .map_err(Failure::into_python_failure)?;
        self.filtered
            .borrow_mut()
            .entry(expression.to_owned())
            .or_default()
            .insert(value.to_owned(), result.clone());
        Ok(result)
    }

    fn analyze(&self, code: &str) -> Result<CodeRefs, PythonFailure> {
        if let Some(refs) = self.analyses.borrow().get(code) {
            return Ok(refs.clone());
        }
        let refs = crate::codeparser::analyze(code)?;
        self.analyses
            .borrow_mut()
            .insert(code.to_owned(), refs.clone());
        Ok(refs)
    }
}

impl PythonHost for Python {
    fn insert_method(
        &self,
        d: &DataStore,
        _module: &str,
        text: &str,
        file: &str,
        line: u32,
    ) -> Result<(), EvalError> {
        let known = self.defined.borrow().get(file).and_then(|defined| {
            defined
                .iter()
                .find(|m| m.line == line && m.text == text)
                .map(|m| (m.name.clone(), m.function.clone()))
        });
        if let Some((name, function)) = known {
            let still_bound = self.interpreter.enter(|vm| {
                self.globals
                    .get_item_opt(name.as_str(), vm)
                    .ok()
                    .flatten()
                    .is_some_and(|bound| bound.is(&function))
            });
            if still_bound {
                return Ok(());
            }
        }
        let made = self
            .call(d, |vm| {
                let made = self
                    .host_module
                    .get_attr("insert_method", vm)?
                    .call((text, file, line), vm)?;
                if vm.is_none(&made) {
                    return Ok(None);
                }
                let made: PyTupleRef = made.try_into_value(vm)?;
                let [name, function] = made.as_slice() else {
                    return Err(vm.new_type_error("insert_method returned no pair".to_owned()));
                };
                let name = name.str(vm)?.to_string_lossy().into_owned();
                Ok(Some((name, function.clone())))
            })
            .map_err(Failure::into_eval_error)?;
        if let Some((name, function)) = made {
            let mut defined = self.defined.borrow_mut();
            let defined = defined.entry(file.to_owned()).or_default();
            let method = DefinedMethod {
                line,
                text: text.to_owned(),
                name,
                function,
            };
            match defined
                .iter_mut()
                .find(|m| m.line == line && m.text == text)
            {
                Some(known) => *known = method,
                None => defined.push(method),
            }
        }
        Ok(())
    }

    fn add_pylib(&self, d: &DataStore, dir: &str, namespace: &str) -> Result<(), EvalError> {
        let global_mods: Vec<String> = d
            .get_var_str("BB_GLOBAL_PYMODULES")
            .map_err(EvalError::from)?
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        self.host_call(d, "add_pylib", |vm| {
            vec![
                vm.ctx.new_str(dir).into(),
                vm.ctx.new_str(namespace).into(),
                str_list(vm, &global_mods).into(),
            ]
        })
    }

    fn exec(&self, d: &DataStore, code: &str) -> Result<(), EvalError> {
        self.host_call(d, "run", |vm| {
            vec![vm.ctx.new_str(code).into(), wrap(vm, d)]
        })
    }

    fn fire_event(
        &self,
        d: &DataStore,
        event: &CookerEvent,
        handlers: &[Handler],
    ) -> Result<(), EvalError> {
        // Most events of a recipe's finalisation have no handler: python is not entered.
        let wanted: Vec<&Handler> = handlers.iter().filter(|h| h.wants(event)).collect();
        if wanted.is_empty() {
            return Ok(());
        }
        let kind = event
            .class_name()
            .strip_prefix("bb.event.")
            .unwrap_or(event.class_name());
        self.call(d, |vm| {
            let host = &self.host_module;
            let args: Vec<PyObjectRef> = match event {
                CookerEvent::ConfigParsed => vec![],
                CookerEvent::RecipePreDeferredInherits { file, inherits } => vec![
                    vm.ctx.new_str(file.as_str()).into(),
                    str_list(vm, inherits).into(),
                ],
                CookerEvent::RecipePreFinalise { file }
                | CookerEvent::RecipePostKeyExpansion { file }
                | CookerEvent::RecipeParsed { file } => vec![vm.ctx.new_str(file.as_str()).into()],
                CookerEvent::RecipeTaskPreProcess { file, tasks } => vec![
                    vm.ctx.new_str(file.as_str()).into(),
                    str_list(vm, tasks).into(),
                ],
            };
            let event = host
                .get_attr("make_event", vm)?
                .call((vm.ctx.new_str(kind), vm.ctx.new_list(args)), vm)?;
            let mut functions = Vec::with_capacity(wanted.len());
            for handler in &wanted {
                functions.push(self.handler_function(vm, host, handler)?);
            }
            let fire = host.get_attr("fire", vm)?;
            if !bb_data::profile::is_on() {
                fire.call((event, wrap(vm, d), vm.ctx.new_list(functions)), vm)?;
                return Ok(());
            }
            // Profiled, each handler is fired alone, to be timed apart.
            for (handler, function) in wanted.iter().zip(functions) {
                bb_data::profile::python(
                    || format!("handler {} of {kind}", handler.name),
                    || {
                        fire.call(
                            (event.clone(), wrap(vm, d), vm.ctx.new_list(vec![function])),
                            vm,
                        )
                    },
                )?;
            }
            Ok(())
        })
        .map_err(Failure::into_eval_error)
    }
}

fn is_instance(
    vm: &VirtualMachine,
    exc: &PyBaseExceptionRef,
    module: &str,
    name: &'static str,
) -> bool {
    import_module(vm, module)
        .and_then(|m| m.get_attr(name, vm))
        .is_ok_and(|class| exc.as_object().is_instance(&class, vm).unwrap_or(false))
}

fn failure(vm: &VirtualMachine, exc: &PyBaseExceptionRef) -> Failure {
    let type_name = exc.class().name().to_string();
    let message = exc
        .as_object()
        .str(vm)
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut frames = Vec::new();
    let mut traceback = exc.__traceback__();
    while let Some(tb) = traceback {
        let code = tb.frame.as_object().get_attr("f_code", vm);
        let attr = |name: &'static str| {
            code.as_ref()
                .ok()
                .and_then(|c| c.get_attr(name, vm).ok())
                .and_then(|o| o.str(vm).ok())
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        frames.push((attr("co_filename"), tb.lineno.get() as u32, attr("co_name")));
        traceback = tb.next.lock().clone();
    }
    let syntax = exc.fast_isinstance(vm.ctx.exceptions.syntax_error);
    let unterminated_string = syntax && {
        let msg = exc
            .as_object()
            .get_attr("msg", vm)
            .ok()
            .and_then(|m| m.str(vm).ok())
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        msg.starts_with("unterminated string literal")
            || msg.starts_with("EOL while scanning string literal")
            || msg.starts_with("unterminated triple-quoted string")
    };
    if syntax {
        let file = exc
            .as_object()
            .get_attr("filename", vm)
            .ok()
            .and_then(|f| f.str(vm).ok())
            .map(|s| s.to_string_lossy().into_owned());
        let line = exc
            .as_object()
            .get_attr("lineno", vm)
            .ok()
            .and_then(|l| l.try_into_value::<u32>(vm).ok());
        if let (Some(file), Some(line)) = (file, line) {
            frames.push((file, line, "<syntax>".to_owned()));
        }
    }
    Failure {
        skip: is_instance(vm, exc, "bb.parse", "SkipRecipe"),
        handled: is_instance(vm, exc, "bb", "BBHandledException"),
        type_name,
        message,
        frames,
        unterminated_string,
    }
}

impl Failure {
    fn into_python_failure(self) -> PythonFailure {
        if self.unterminated_string {
            PythonFailure::UnterminatedString
        } else if self.skip {
            PythonFailure::Data(DataError::SkipRecipe(self.message))
        } else if self.handled {
            PythonFailure::Data(DataError::Fatal(self.message))
        } else {
            PythonFailure::Exception {
                type_name: self.type_name,
                message: self.message,
            }
        }
    }

    fn into_eval_error(self) -> EvalError {
        if self.skip {
            EvalError::Skip(self.message)
        } else if self.handled {
            EvalError::Data(DataError::Fatal(self.message))
        } else {
            EvalError::Python {
                type_name: self.type_name,
                message: self.message,
                frames: self.frames,
            }
        }
    }
}

fn format_exception(vm: &VirtualMachine, exc: &PyBaseExceptionRef) -> String {
    let mut out = String::new();
    let _ = vm.write_exception(&mut out, exc);
    out
}
