//! Evaluating metadata files into a datastore: BitBake's `bb.parse.handle` for recipes,
//! classes, includes and configuration files, and each statement's `eval`.

use rustc_hash::FxHashMap as HashMap;
use std::cell::RefCell;
use std::fmt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use bb_syntax::ast::{self, IncludeKind, Statement};
use bb_syntax::{FileKind, LineIndex, Parse, Severity};

use crate::store::list;
use crate::{DataError, DataStore, FileStamp, InlinePython, LogLevel, Origin, Value};

/// Python beyond `${@…}`: what the evaluator asks of a python host.
pub trait PythonHost: InlinePython {
    /// Compiles `text` (a `def`, or an anonymous function wrapped as `def NAME(d):`) and
    /// executes it into the global python context; `line` is the 0-based line of the
    /// text's first line in `file`, for tracebacks.
    fn insert_method(
        &self,
        d: &DataStore,
        module: &str,
        text: &str,
        file: &str,
        line: u32,
    ) -> Result<(), EvalError>;

    /// `addpylib DIR NAMESPACE`: adds `dir` to the module path and imports `namespace`
    /// into the global context.
    fn add_pylib(&self, d: &DataStore, dir: &str, namespace: &str) -> Result<(), EvalError>;

    /// Executes python statements with `d` bound (anonymous functions run this way).
    fn exec(&self, d: &DataStore, code: &str) -> Result<(), EvalError>;

    /// Calls the handlers whose mask admits `event`, each with an event object whose
    /// `data` is `d`.
    fn fire_event(
        &self,
        d: &DataStore,
        event: &crate::CookerEvent,
        handlers: &[crate::Handler],
    ) -> Result<(), EvalError>;
}

/// Why evaluating metadata failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EvalError {
    /// BitBake's `ParseError`: a syntax error, a missing required file or class.
    Parse {
        /// The file.
        file: String,
        /// BitBake's line number (0 when it gives none).
        line: u32,
        /// What is wrong.
        message: String,
    },
    /// A datastore error (expansion failure, `bb.fatal`).
    Data(DataError),
    /// `bb.parse.SkipRecipe` with its reason.
    Skip(String),
    /// A python exception in metadata, with the traceback's frames (file, line, function)
    /// pointing into the metadata files.
    Python {
        /// The exception's type name.
        type_name: String,
        /// `str(exception)`.
        message: String,
        /// Innermost last.
        frames: Vec<(String, u32, String)>,
    },
}

impl fmt::Display for EvalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EvalError::Parse {
                file,
                line,
                message,
            } => write!(f, "ParseError at {file}:{line}: {message}"),
            EvalError::Data(err) => err.fmt(f),
            EvalError::Skip(reason) => write!(f, "skipped: {reason}"),
            EvalError::Python {
                type_name,
                message,
                frames,
            } => {
                let place = frames
                    .iter()
                    .rev()
                    .find(|(file, _, _)| !file.starts_with('<'));
                match place {
                    Some((file, line, _)) => {
                        writeln!(f, "Error executing python code from {file}:{line}:")?
                    }
                    None => writeln!(f, "Error executing python code:")?,
                }
                writeln!(f, "Traceback (most recent call last):")?;
                for (file, line, function) in frames {
                    writeln!(f, "  File \"{file}\", line {line}, in {function}")?;
                }
                write!(f, "{type_name}: {message}")
            }
        }
    }
}

impl std::error::Error for EvalError {}

impl From<DataError> for EvalError {
    fn from(err: DataError) -> Self {
        match err {
            DataError::SkipRecipe(reason) => EvalError::Skip(reason),
            other => EvalError::Data(other),
        }
    }
}

/// A file's statements, ready to evaluate, each with its BitBake line. A class is
/// evaluated once for every recipe that inherits it: what an assignment says is taken out
/// of the syntax tree once.
type Statements = Vec<(u32, Lowered)>;

enum Lowered {
    Assignment(Assignment),
    Function(Function),
    PythonDef(PythonDef),
    Other(Statement),
}

/// `[python] [fakeroot] name() { body }`; anonymous python has no name.
struct Function {
    name: Option<String>,
    body: String,
    python: bool,
    fakeroot: bool,
}

/// A python `def` at the top level of a file.
struct PythonDef {
    name: String,
    text: String,
}

/// `VAR[flag] op "value"`, possibly `export`ed.
struct Assignment {
    key: String,
    value: String,
    flag: Option<String>,
    op: ast::AssignOp,
    exported: bool,
}

/// Parses and evaluates metadata files, caching the syntax trees of classes and includes
/// (which BitBake also parses once) and what each path held when first looked at (as
/// BitBake's `cached_mtime` does): an evaluator sees the files as they were when it first
/// read them. A parse that must see changes made since uses a new evaluator.
pub struct Evaluator {
    python: Option<Rc<dyn PythonHost>>,
    trees: RefCell<HashMap<PathBuf, Rc<Statements>>>,
    files: FileStates,
    /// The `addpylib` directories seen, for the parse cache.
    python_libraries: RefCell<Vec<PathBuf>>,
}

impl fmt::Debug for Evaluator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Evaluator")
            .field("has_python", &self.python.is_some())
            .field("cached_trees", &self.trees.borrow().len())
            .finish()
    }
}

/// What kind of inclusion `include_file` performs: BitBake's `error_out` verb.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Required {
    No,
    Yes(&'static str),
}

impl Evaluator {
    /// An evaluator; without a python host, python in metadata is an error where used.
    pub fn new(python: Option<Rc<dyn PythonHost>>) -> Evaluator {
        Evaluator {
            python,
            trees: RefCell::default(),
            files: FileStates::default(),
            python_libraries: RefCell::default(),
        }
    }

    /// The files `d` read or looked for (`__base_depends` for a base configuration,
    /// `__depends` for a recipe), each with its state when this evaluator first looked at
    /// it: the state the parse saw.
    pub fn read_files(&self, d: &DataStore, var: &str) -> Result<Vec<FileStamp>, DataError> {
        crate::stamp::read_files(d, var, |path| self.files.stamp(path))
    }

    /// The directories `addpylib` added so far.
    pub fn python_library_dirs(&self) -> Vec<PathBuf> {
        self.python_libraries.borrow().clone()
    }

    /// Installs the python host into `d` (copies share it).
    pub fn attach(&self, d: &DataStore) {
        if let Some(python) = &self.python {
            let inline: Rc<dyn InlinePython> = python.clone();
            d.set_python(inline);
        }
    }

    /// `bb.parse.handle(fn, d, include)` for a file that needs no finalisation (a
    /// configuration file, class, include or bbappend, or a recipe whose finalisation the
    /// caller runs). `path` may be relative: it is then looked up on BBPATH.
    pub fn handle(&self, d: &DataStore, path: &str, include: bool) -> Result<(), EvalError> {
        let kind = FileKind::from_path(Path::new(path)).unwrap_or(FileKind::Recipe);
        d.include_enter(path);
        let result = if kind == FileKind::Conf {
            self.handle_conf(d, path, include)
        } else {
            self.handle_recipe_like(d, path, include, kind)
        };
        d.include_exit();
        result
    }

    fn handle_conf(&self, d: &DataStore, path: &str, include: bool) -> Result<(), EvalError> {
        let oldfile = if include {
            d.get_var_raw("FILE")?
        } else {
            None
        };
        let abs = resolve_file(&self.files, d, path)?;
        let tree = self.tree(d, &abs, FileKind::Conf)?;
        d.set_var("FILE", abs.display().to_string())?;
        self.eval_statements(d, &tree, &abs, "", true)?;
        if let Some(oldfile) = oldfile
            && oldfile.is_truthy()
        {
            d.set_var("FILE", oldfile)?;
        }
        Ok(())
    }

    fn handle_recipe_like(
        &self,
        d: &DataStore,
        path: &str,
        include: bool,
        kind: FileKind,
    ) -> Result<(), EvalError> {
        let file_name = Path::new(path)
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let class_name = if kind == FileKind::Class {
            let root = file_name
                .strip_suffix(".bbclass")
                .unwrap_or(&file_name)
                .to_owned();
            let mut cache = list(d.get_var_raw("__inherit_cache")?);
            if !cache.iter().any(|v| v.as_str() == Some(path)) {
                cache.push(Value::Str(path.to_owned()));
                d.set_var("__inherit_cache", Value::List(cache))?;
            }
            root
        } else {
            String::new()
        };
        let oldfile = if include {
            d.get_var_raw("FILE")?
        } else {
            None
        };
        let abs = resolve_file(&self.files, d, path)?;
        let abs_text = abs.display().to_string();
        let tree = self.tree(d, &abs, kind)?;
        let same_file = oldfile.as_ref().and_then(Value::as_str) == Some(abs_text.as_str());
        if kind != FileKind::Class && !same_file {
            d.set_var("FILE", abs_text.clone())?;
        }
        match self.eval_statements(d, &tree, &abs, &class_name, false) {
            Ok(()) => {}
            Err(EvalError::Skip(_)) if !include => {
                d.set_var("__SKIPPED", true)?;
                return Ok(());
            }
            Err(err) => return Err(err),
        }
        if kind != FileKind::Class
            && !same_file
            && let Some(oldfile) = oldfile
            && oldfile.is_truthy()
        {
            d.set_var("FILE", oldfile)?;
        }
        Ok(())
    }

    /// The syntax tree of a file, parsed once; a syntax error is BitBake's ParseError,
    /// and the parser's warnings are logged to `d` as BitBake words them.
    fn tree(
        &self,
        d: &DataStore,
        path: &Path,
        kind: FileKind,
    ) -> Result<Rc<Statements>, EvalError> {
        if let Some(tree) = self.trees.borrow().get(path) {
            return Ok(tree.clone());
        }
        let bytes = std::fs::read(path).map_err(|err| EvalError::Parse {
            file: path.display().to_string(),
            line: 0,
            message: format!("cannot read: {err}"),
        })?;
        let parse = bb_syntax::parse_bytes(&bytes, kind);
        // The parsed text: the file, with invalid UTF-8 replaced as parse_bytes does.
        let index = LineIndex::new(&String::from_utf8_lossy(&bytes));
        if let Some(error) = parse
            .errors()
            .iter()
            .find(|e| e.severity() == Severity::Error)
        {
            let at = index.line_col(error.range().start());
            return Err(EvalError::Parse {
                file: path.display().to_string(),
                line: at.line,
                message: format!("{} (column {})", error.message(), at.col),
            });
        }
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        for warning in parse
            .errors()
            .iter()
            .filter(|e| e.severity() == Severity::Warning)
        {
            let line = index.line_col(warning.range().end()).line;
            let message = if warning.message().starts_with("python should use 4 spaces") {
                format!(
                    "python should use 4 spaces indentation, but found tabs in {file_name}, line {line}"
                )
            } else {
                format!("{}:{line} has a {}", path.display(), warning.message())
            };
            d.log(LogLevel::Warning, message);
        }
        let tree = Rc::new(lower(&parse, &index));
        // Like BitBake, classes and includes are parsed once; recipes every time.
        if matches!(kind, FileKind::Class | FileKind::Include) {
            self.trees
                .borrow_mut()
                .insert(path.to_owned(), tree.clone());
        }
        Ok(tree)
    }

    fn eval_statements(
        &self,
        d: &DataStore,
        statements: &Statements,
        path: &Path,
        class_name: &str,
        conf: bool,
    ) -> Result<(), EvalError> {
        let module = path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let mut origin = Origin {
            file: path.display().to_string(),
            line: 0,
            func: None,
        };
        for (line, statement) in statements {
            origin.line = *line;
            match statement {
                Lowered::Assignment(a) => self.assignment(d, a, &origin)?,
                Lowered::Function(f) => self.function(d, f, &origin)?,
                Lowered::PythonDef(def) => self.python_def(d, def, &origin, &module)?,
                Lowered::Other(statement) => {
                    self.eval_statement(d, statement, &origin, &module, class_name, conf)?
                }
            }
        }
        Ok(())
    }

    fn eval_statement(
        &self,
        d: &DataStore,
        statement: &Statement,
        origin: &Origin,
        module: &str,
        class_name: &str,
        conf: bool,
    ) -> Result<(), EvalError> {
        match statement {
            Statement::Assignment(a) => self.assignment(d, &Assignment::of(a), origin),
            Statement::Export(e) => {
                let name = e.name().map(|n| n.text()).unwrap_or_default();
                d.set_var_flag_from(&name, "export", 1, None, "exported")?;
                Ok(())
            }
            Statement::Unset(u) => {
                let name = u.name().map(|n| n.text()).unwrap_or_default();
                match u.flag() {
                    Some(flag) => d.del_var_flag(&name, &flag.name()),
                    None => d.del_var_from(&name, Some(origin)),
                }
                Ok(())
            }
            Statement::Include(i) => {
                let what = i.args().map(|a| a.text()).unwrap_or_default();
                let what = d.expand(&what)?;
                match i.kind() {
                    IncludeKind::Include => {
                        self.include(d, &origin.file, &what, origin.line, Required::No)
                    }
                    IncludeKind::Require => self.include(
                        d,
                        &origin.file,
                        &what,
                        origin.line,
                        Required::Yes("include required"),
                    ),
                    IncludeKind::IncludeAll => {
                        let bbpath = d.get_var_str("BBPATH")?.unwrap_or_default();
                        for dir in bbpath.split(':') {
                            let candidate = Path::new(dir).join(&what).display().to_string();
                            self.include(d, &origin.file, &candidate, origin.line, Required::No)?;
                        }
                        Ok(())
                    }
                }
            }
            Statement::Inherit(i) => {
                let classes = i.args().map(|a| a.text()).unwrap_or_default();
                if i.is_deferred() {
                    inherit_defer(d, &classes, &origin.file, origin.line)
                } else {
                    self.inherit(d, &classes, &origin.file, origin.line, false)
                }
            }
            Statement::AddTask(t) => {
                for task in t.tasks().split_whitespace() {
                    add_task(d, task, &t.before(), &t.after())?;
                }
                Ok(())
            }
            Statement::DelTask(t) => {
                for task in d.expand(&t.tasks())?.split_whitespace() {
                    del_task(d, task)?;
                }
                Ok(())
            }
            Statement::AddHandler(h) => {
                let mut handlers = list(d.get_var_raw("__BBHANDLERS")?);
                for name in h
                    .args()
                    .map(|a| a.text())
                    .unwrap_or_default()
                    .split_whitespace()
                {
                    handlers.push(Value::Str(name.to_owned()));
                    d.set_var_flag(name, "handler", 1)?;
                }
                d.set_var("__BBHANDLERS", Value::List(handlers))?;
                Ok(())
            }
            Statement::ExportFunctions(e) => {
                let names = e.args().map(|a| a.text()).unwrap_or_default();
                export_functions(d, &names, class_name)
            }
            Statement::AddPylib(p) => {
                let [dir, namespace] = p.parts().unwrap_or_default();
                let dir = d.expand(&dir)?;
                let mut seen = self.python_libraries.borrow_mut();
                if !seen.iter().any(|s| s == Path::new(&dir)) {
                    seen.push(PathBuf::from(&dir));
                }
                drop(seen);
                self.python()?.add_pylib(d, &dir, &namespace)
            }
            Statement::AddFragments(f) => {
                let parts = f.parts().unwrap_or_default();
                self.add_fragments(d, &parts, origin)
            }
            Statement::Function(f) => self.function(d, &Function::of(f), origin),
            Statement::PythonDef(def) => self.python_def(d, &PythonDef::of(def), origin, module),
            Statement::Error(_) => {
                let kind = if conf { "configuration" } else { "metadata" };
                Err(EvalError::Parse {
                    file: origin.file.clone(),
                    line: origin.line,
                    message: format!("unparsed line in {kind} file"),
                })
            }
        }
    }

    pub(crate) fn python(&self) -> Result<&Rc<dyn PythonHost>, EvalError> {
        self.python.as_ref().ok_or_else(|| {
            EvalError::Data(DataError::Fatal(
                "this metadata needs python, and no python host is configured".into(),
            ))
        })
    }

    /// `DataNode.eval`: the eight operators, with and without a flag.
    fn assignment(&self, d: &DataStore, a: &Assignment, origin: &Origin) -> Result<(), EvalError> {
        let Assignment {
            key,
            value,
            flag,
            op,
            exported,
        } = a;
        let (key, value, op) = (key.as_str(), value.as_str(), *op);
        if *exported {
            d.set_var_flag_logged(
                key,
                "export",
                Value::Int(1),
                Some(origin),
                "exported",
                value,
            )?;
        }
        let old = || -> Result<Option<Value>, EvalError> {
            Ok(match &flag {
                Some(flag) => d.get_var_flag_no_default(key, flag)?,
                None => d.get_var_base(key)?,
            })
        };
        let current = || -> Result<String, EvalError> {
            Ok(old()?.map(Value::into_string).unwrap_or_default())
        };
        let (history_op, new) = match op {
            ast::AssignOp::Default => (
                "set?",
                old()?.unwrap_or_else(|| Value::Str(value.to_owned())),
            ),
            ast::AssignOp::Immediate => {
                let copy = d.create_copy();
                (
                    "immediate",
                    Value::Str(copy.expand_named(value, &format!("{key}[:=]"))?),
                )
            }
            ast::AssignOp::Append => ("append", Value::Str(format!("{} {value}", current()?))),
            ast::AssignOp::Prepend => ("prepend", Value::Str(format!("{value} {}", current()?))),
            ast::AssignOp::AppendNoSpace => {
                ("postdot", Value::Str(format!("{}{value}", current()?)))
            }
            ast::AssignOp::PrependNoSpace => {
                ("predot", Value::Str(format!("{value}{}", current()?)))
            }
            ast::AssignOp::Set | ast::AssignOp::WeakDefault => {
                ("set", Value::Str(value.to_owned()))
            }
        };
        if [":append", ":remove", ":prepend"]
            .iter()
            .any(|k| key.contains(k))
            && matches!(
                op,
                ast::AssignOp::Append
                    | ast::AssignOp::Prepend
                    | ast::AssignOp::AppendNoSpace
                    | ast::AssignOp::PrependNoSpace
            )
        {
            d.log(
                LogLevel::Warning,
                format!(
                    "{key} {} is not a recommended operator combination, please replace it.",
                    op.as_str()
                ),
            );
        }
        let weak = op == ast::AssignOp::WeakDefault;
        let target_flag = match (&flag, weak) {
            (Some(flag), true) => Some(format!("_defaultval_flag_{flag}")),
            (Some(flag), false) => Some(flag.clone()),
            (None, true) => Some("_defaultval".to_owned()),
            (None, false) => None,
        };
        match target_flag {
            Some(flag) => {
                d.set_var_flag_logged(key, &flag, new, Some(origin), history_op, value)?
            }
            None => d.set_var_logged(key, new, true, Some(origin), history_op, value)?,
        }
        Ok(())
    }

    /// `PythonMethodNode.eval`: a `def` joins the python context and the datastore.
    fn python_def(
        &self,
        d: &DataStore,
        def: &PythonDef,
        origin: &Origin,
        module: &str,
    ) -> Result<(), EvalError> {
        let lines = def.text.split('\n').count() as u32;
        let first = origin.line.saturating_sub(lines + 1);
        self.python()?
            .insert_method(d, module, &def.text, &origin.file, first)?;
        d.set_var_flag(&def.name, "func", 1)?;
        d.set_var_flag(&def.name, "python", 1)?;
        store_function(d, &def.name, &def.text, origin, first)
    }

    /// `MethodNode.eval`: shell and python functions, anonymous python.
    fn function(&self, d: &DataStore, f: &Function, origin: &Origin) -> Result<(), EvalError> {
        let mut text = f.body.clone();
        let body_lines = text.matches('\n').count() as u32 + 1;
        let header_line = origin.line.saturating_sub(body_lines);
        let mut python = f.python;
        let name = match &f.name {
            Some(name) if name != "__anonymous" => name.clone(),
            _ => {
                let mangled: String = origin
                    .file
                    .chars()
                    .map(|c| if "/.+-@%&~".contains(c) { '_' } else { c })
                    .collect();
                let name = format!("__anon_{}_{mangled}", origin.line);
                python = true;
                text = format!("def {name}(d):\n{text}");
                self.python()?.insert_method(
                    d,
                    &name,
                    &text,
                    &origin.file,
                    header_line.saturating_sub(1),
                )?;
                let mut anon = list(d.get_var_raw("__BBANONFUNCS")?);
                anon.push(Value::Str(name.clone()));
                d.set_var("__BBANONFUNCS", Value::List(anon))?;
                name
            }
        };
        if d.get_var_raw(&name)?.is_some_and(|v| v.is_truthy()) {
            d.del_var_flag(&name, "python");
            d.del_var_flag(&name, "fakeroot");
        }
        if python {
            d.set_var_flag(&name, "python", "1")?;
        }
        if f.fakeroot {
            d.set_var_flag(&name, "fakeroot", "1")?;
        }
        d.set_var_flag(&name, "func", 1)?;
        store_function(d, &name, &text, origin, header_line)
    }

    /// `ConfHandler.include`: each word of `what`, relative to the including file's
    /// directory, then BBPATH.
    fn include(
        &self,
        d: &DataStore,
        parent: &str,
        what: &str,
        line: u32,
        required: Required,
    ) -> Result<(), EvalError> {
        let what = d.expand(what)?;
        let parent = d.expand(parent)?;
        for file in what.split_whitespace() {
            self.include_single(d, &parent, file, line, required)?;
        }
        Ok(())
    }

    fn include_single(
        &self,
        d: &DataStore,
        parent: &str,
        file: &str,
        line: u32,
        required: Required,
    ) -> Result<(), EvalError> {
        if parent == file {
            return Ok(());
        }
        let mut target = PathBuf::from(file);
        if !target.is_absolute() {
            let dir = Path::new(parent)
                .parent()
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            let bbpath = format!("{dir}:{}", d.get_var_str("BBPATH")?.unwrap_or_default());
            let (found, attempts) = which(&self.files, &bbpath, file);
            if let Some(found) = &found
                && check_dependency(&self.files, d, found)?
            {
                let current = d.get_var_str("FILE")?.unwrap_or_default();
                d.log(
                    LogLevel::Warning,
                    format!("Duplicate inclusion for {} in {current}", found.display()),
                );
            }
            for attempt in &attempts {
                mark_dependency(&self.files, d, attempt)?;
            }
            if let Some(found) = found {
                target = found;
            }
        } else if check_dependency(&self.files, d, &target)? {
            let current = d.get_var_str("FILE")?.unwrap_or_default();
            d.log(
                LogLevel::Warning,
                format!("Duplicate inclusion for {} in {current}", target.display()),
            );
        }
        if !self.files.is_file(&target) {
            // BitBake's handler records the file in the include history, and an absolute
            // path as a dependency (`resolve_file`), before it fails to open it.
            d.include_enter(&target.display().to_string());
            d.include_exit();
            if target.is_absolute() {
                mark_dependency(&self.files, d, &target)?;
            }
            return match required {
                Required::Yes(verb) => Err(EvalError::Parse {
                    file: parent.to_owned(),
                    line,
                    message: format!("Could not {verb} file {file}"),
                }),
                Required::No => Ok(()),
            };
        }
        self.handle(d, &target.display().to_string(), true)
    }

    /// `BBHandler.inherit`: each class once per datastore; names in BB_DEFER_BBCLASSES
    /// are deferred unless this is the deferred pass.
    pub fn inherit(
        &self,
        d: &DataStore,
        classes: &str,
        file: &str,
        line: u32,
        deferred: bool,
    ) -> Result<(), EvalError> {
        let classes = d.expand(classes)?;
        for class in classes.split_whitespace() {
            let defer: Vec<String> = d.get_var_words("BB_DEFER_BBCLASSES")?;
            if !deferred && defer.iter().any(|c| c == class) {
                inherit_defer(d, class, file, line)?;
                continue;
            }
            let classtype = d
                .get_var_raw("__bbclasstype")?
                .map(Value::into_string)
                .unwrap_or_default();
            let mut path = PathBuf::from(class);
            for dir in [format!("classes-{classtype}"), "classes".to_owned()] {
                path = PathBuf::from(class);
                if !path.is_absolute() && !class.ends_with(".bbclass") {
                    path = Path::new(&dir).join(format!("{class}.bbclass"));
                }
                if !path.is_absolute() {
                    let bbpath = d.get_var_str("BBPATH")?.unwrap_or_default();
                    let (found, attempts) =
                        which(&self.files, &bbpath, &path.display().to_string());
                    for attempt in attempts.iter().filter(|a| Some(*a) != found.as_ref()) {
                        mark_dependency(&self.files, d, attempt)?;
                    }
                    if let Some(found) = found {
                        path = found;
                    }
                }
                if self.files.exists(&path) {
                    break;
                }
            }
            if !self.files.exists(&path) {
                return Err(EvalError::Parse {
                    file: file.to_owned(),
                    line,
                    message: format!("Could not inherit file {}", path.display()),
                });
            }
            let path_text = path.display().to_string();
            let cache = list(d.get_var_raw("__inherit_cache")?);
            if !cache.iter().any(|v| v.as_str() == Some(path_text.as_str())) {
                let mut cache = cache;
                cache.push(Value::Str(path_text.clone()));
                d.set_var("__inherit_cache", Value::List(cache))?;
                self.handle(d, &path_text, true)?;
            }
        }
        Ok(())
    }

    /// `AddFragmentsNode.eval`: configuration fragments enabled by a variable.
    fn add_fragments(
        &self,
        d: &DataStore,
        parts: &[String; 4],
        origin: &Origin,
    ) -> Result<(), EvalError> {
        let [prefix, variable, flagged_list, builtins_var] = parts;
        if d.get_var_str("_BB_SKIP_FRAGMENTS")?.as_deref() == Some("1") {
            return Ok(());
        }
        let fragments = d.get_var_str(variable)?.unwrap_or_default();
        let layers = d.get_var_str("BBLAYERS")?.unwrap_or_default();
        let flagged: Vec<String> = d.get_var_words(flagged_list)?;
        let builtins: Vec<(String, String)> = d
            .get_var_str(builtins_var)?
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|f| f.split_once(':').map(|(a, b)| (a.to_owned(), b.to_owned())))
            .collect();
        if fragments.is_empty() {
            return Ok(());
        }
        for fragment in fragments.split_whitespace() {
            let Some((layer_or_prefix, name)) = fragment.split_once('/') else {
                return Err(EvalError::Data(DataError::Fatal(format!(
                    "Invalid fragment name {fragment}: expected LAYER/NAME"
                ))));
            };
            if let Some((_, target)) = builtins.iter().find(|(p, _)| p == layer_or_prefix) {
                if d.get_var_base(target)?.is_some() {
                    return Err(EvalError::Data(DataError::Fatal(format!(
                        "A builtin fragment '{fragment}' is used while {target} has already got an assignment."
                    ))));
                }
                d.set_var_logged(
                    target,
                    Value::Str(name.to_owned()),
                    true,
                    Some(origin),
                    "set",
                    name,
                )?;
                continue;
            }
            let relative = d.expand(&format!("{prefix}/{name}.conf"))?;
            let mut found = None;
            for layer in layers.split_whitespace() {
                let candidate = Path::new(layer).join(&relative);
                if self.files.exists(&candidate)
                    && crate::collect::file_layer_name(d, &candidate)?.as_deref()
                        == Some(layer_or_prefix)
                {
                    found = Some(candidate);
                    break;
                }
            }
            let Some(path) = found else {
                return Err(EvalError::Data(DataError::Fatal(format!(
                    "Could not find fragment {fragment} in enabled layers:\n\t{}",
                    layers.split_whitespace().collect::<Vec<_>>().join("\n\t")
                ))));
            };
            self.include(
                d,
                &origin.file,
                &path.display().to_string(),
                origin.line,
                Required::Yes("include fragment"),
            )?;
            for var in &flagged {
                let value = d.get_var(var)?.unwrap_or(Value::None);
                d.set_var_flag(var, fragment, value)?;
                d.set_var(var, Value::None)?;
            }
        }
        Ok(())
    }
}

/// A function's text with its `[filename]` and `[lineno]` flags (the last steps of
/// BitBake's MethodNode and PythonMethodNode).
fn store_function(
    d: &DataStore,
    name: &str,
    text: &str,
    origin: &Origin,
    lineno: u32,
) -> Result<(), EvalError> {
    d.set_var_logged(
        name,
        Value::Str(text.to_owned()),
        true,
        Some(origin),
        "set",
        text,
    )?;
    d.set_var_flag(name, "filename", origin.file.clone())?;
    d.set_var_flag(name, "lineno", lineno.to_string())?;
    Ok(())
}

/// `bb.utils.which(path, item)`: the first existing candidate, and every candidate tried.
fn which(files: &FileStates, path: &str, item: &str) -> (Option<PathBuf>, Vec<PathBuf>) {
    let mut attempts = Vec::new();
    for dir in path.split(':') {
        let candidate = Path::new(dir).join(item);
        attempts.push(candidate.clone());
        if files.exists(&candidate) {
            let absolute = if candidate.is_absolute() {
                candidate
            } else {
                std::env::current_dir()
                    .map(|cwd| cwd.join(&candidate))
                    .unwrap_or(candidate)
            };
            return (Some(absolute), attempts);
        }
    }
    (None, attempts)
}

/// `bb.parse.resolve_file`: relative paths on BBPATH; missing files are errors.
fn resolve_file(files: &FileStates, d: &DataStore, path: &str) -> Result<PathBuf, EvalError> {
    let not_found = |message: String| EvalError::Parse {
        file: path.to_owned(),
        line: 0,
        message,
    };
    let resolved = if Path::new(path).is_absolute() {
        mark_dependency(files, d, Path::new(path))?;
        PathBuf::from(path)
    } else {
        let bbpath = d.get_var_str("BBPATH")?.unwrap_or_default();
        let (found, attempts) = which(files, &bbpath, path);
        for attempt in &attempts {
            mark_dependency(files, d, attempt)?;
        }
        found.ok_or_else(|| not_found(format!("file {path} not found in {bbpath}")))?
    };
    if !files.is_file(&resolved) {
        return Err(not_found(format!("file {} not found", resolved.display())));
    }
    Ok(resolved)
}

/// What a path held when an evaluator first looked at it (`None`: nothing there), as
/// BitBake's `cached_mtime_noerror` remembers it: a parse looks up the same classes and
/// includes on BBPATH for every recipe, thousands of times.
#[derive(Default)]
struct FileStates(RefCell<HashMap<std::ffi::OsString, Option<FileState>>>);

#[derive(Clone, Copy)]
struct FileState {
    is_file: bool,
    len: u64,
    /// Nanoseconds since the epoch (0 where the system has no modification time).
    mtime: u128,
}

impl FileStates {
    fn state(&self, path: &Path) -> Option<FileState> {
        if let Some(known) = self.0.borrow().get(path.as_os_str()) {
            return *known;
        }
        let state = std::fs::metadata(path).ok().map(|m| FileState {
            is_file: m.is_file(),
            len: m.len(),
            mtime: m
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos()),
        });
        self.0
            .borrow_mut()
            .insert(path.as_os_str().to_owned(), state);
        state
    }

    fn exists(&self, path: &Path) -> bool {
        self.state(path).is_some()
    }

    fn is_file(&self, path: &Path) -> bool {
        self.state(path).is_some_and(|s| s.is_file)
    }

    /// 0 for a path where nothing is, as BitBake's `cached_mtime_noerror`.
    fn mtime(&self, path: &Path) -> i64 {
        self.state(path).map_or(0, |s| s.mtime as i64)
    }

    fn stamp(&self, path: &Path) -> FileStamp {
        FileStamp {
            path: path.to_owned(),
            state: self.state(path).map(|s| (s.len, s.mtime)),
        }
    }
}

/// A `__depends` entry: the file and its mtime.
fn dependency_entry(files: &FileStates, path: &Path) -> Value {
    Value::List(vec![
        Value::Str(path.display().to_string()),
        Value::Int(files.mtime(path)),
    ])
}

/// `bb.parse.mark_dependency`: remember a file (found or only tried) and its mtime.
fn mark_dependency(files: &FileStates, d: &DataStore, path: &Path) -> Result<(), DataError> {
    d.push_unique("__depends", dependency_entry(files, path))
}

fn check_dependency(files: &FileStates, d: &DataStore, path: &Path) -> Result<bool, DataError> {
    Ok(list(d.get_var_raw("__depends")?).contains(&dependency_entry(files, path)))
}

/// `inherit_defer`: queued in `__BBDEFINHERITS` until finalisation.
pub(crate) fn inherit_defer(
    d: &DataStore,
    expression: &str,
    file: &str,
    line: u32,
) -> Result<(), EvalError> {
    let mut deferred = list(d.get_var_raw("__BBDEFINHERITS")?);
    deferred.push(Value::List(vec![
        Value::Str(expression.to_owned()),
        Value::Str(file.to_owned()),
        Value::Int(i64::from(line)),
    ]));
    d.set_var("__BBDEFINHERITS", Value::List(deferred))?;
    Ok(())
}

fn task_name(task: &str) -> String {
    if task.starts_with("do_") {
        task.to_owned()
    } else {
        format!("do_{task}")
    }
}

/// `bb.build.addtask`.
#[doc(hidden)] // For bb-python's `bb.build`: not part of the documented API.
pub fn add_task(d: &DataStore, task: &str, before: &str, after: &str) -> Result<(), DataError> {
    let task = task_name(task);
    d.set_var_flag(&task, "task", 1)?;
    let mut tasks = list(d.get_var_raw("__BBTASKS")?);
    if !tasks.iter().any(|t| t.as_str() == Some(task.as_str())) {
        tasks.push(Value::Str(task.clone()));
    }
    d.set_var("__BBTASKS", Value::List(tasks))?;
    let mut deps = list(d.get_var_flag(&task, "deps", false)?);
    for entry in after.split_whitespace() {
        let entry = Value::Str(task_name(entry));
        if !deps.contains(&entry) {
            deps.push(entry);
        }
    }
    d.set_var_flag(&task, "deps", Value::List(deps))?;
    for entry in before.split_whitespace() {
        let entry = task_name(entry);
        let existing = list(d.get_var_flag(&entry, "deps", false)?);
        if !existing.iter().any(|t| t.as_str() == Some(task.as_str())) {
            let mut deps = vec![Value::Str(task.clone())];
            deps.extend(existing);
            d.set_var_flag(&entry, "deps", Value::List(deps))?;
        }
    }
    Ok(())
}

/// `bb.build.deltask`: the task and every reference to it go, without re-linking.
#[doc(hidden)] // For bb-python's `bb.build`: not part of the documented API.
pub fn del_task(d: &DataStore, task: &str) -> Result<(), DataError> {
    let task = task_name(task);
    let mut tasks = list(d.get_var_raw("__BBTASKS")?);
    if let Some(at) = tasks.iter().position(|t| t.as_str() == Some(task.as_str())) {
        tasks.remove(at);
        d.del_var_flag(&task, "task");
        d.set_var("__BBTASKS", Value::List(tasks))?;
    }
    d.del_var_flag(&task, "deps");
    for other in list(d.get_var_raw("__BBTASKS")?) {
        let Some(other) = other.as_str() else {
            continue;
        };
        let mut deps = list(d.get_var_flag(other, "deps", false)?);
        if let Some(at) = deps.iter().position(|t| t.as_str() == Some(task.as_str())) {
            deps.remove(at);
            d.set_var_flag(other, "deps", Value::List(deps))?;
        }
    }
    Ok(())
}

/// `ExportFuncsNode.eval`: `f` becomes a stub calling `CLASS_f`, unless the metadata
/// defines `f` itself.
fn export_functions(d: &DataStore, names: &str, class_name: &str) -> Result<(), EvalError> {
    const SENTINEL: &str = "    # Export function set\n";
    for func in names.split_whitespace() {
        let called = format!("{class_name}_{func}");
        let base = d.get_var_raw(func)?;
        if let Some(base) = &base
            && base.is_truthy()
            && !base.to_string().contains(SENTINEL)
        {
            continue;
        }
        if base.as_ref().is_some_and(Value::is_truthy) {
            d.set_var_flag(func, "python", Value::None)?;
            d.set_var_flag(func, "func", Value::None)?;
        }
        for flag in ["func", "python"] {
            if let Some(value) = d.get_var_flag(&called, flag, false)?
                && value.is_truthy()
            {
                d.set_var_flag(func, flag, value)?;
            }
        }
        for flag in ["dirs", "cleandirs", "fakeroot"] {
            if let Some(value) = d.get_var_flag(func, flag, false)?
                && value.is_truthy()
            {
                d.set_var_flag(&called, flag, value)?;
            }
        }
        d.set_var_flag(func, "filename", "autogenerated")?;
        d.set_var_flag(func, "lineno", 1)?;
        let python = d
            .get_var_flag(&called, "python", false)?
            .is_some_and(|v| v.is_truthy());
        let body = if python {
            format!("{SENTINEL}    bb.build.exec_func('{called}', d)\n")
        } else {
            if class_name.contains('-') {
                return Err(EvalError::Data(DataError::Fatal(format!(
                    "The classname {class_name} contains a dash character and is calling an sh function {called} using EXPORT_FUNCTIONS. Since a dash is illegal in sh function names, this cannot work, please rename the class or don't use EXPORT_FUNCTIONS."
                ))));
            }
            format!("{SENTINEL}    {called}\n")
        };
        d.set_var_parsing(func, body, None, "set")?;
    }
    Ok(())
}

/// `bb.build.add_tasks`: the per-task table (`_task_deps`) of dependency flags and parents.
pub(crate) fn add_task_deps(d: &DataStore, tasks: &[String]) -> Result<(), DataError> {
    use indexmap::IndexMap;

    const FLAGS: [&str; 11] = [
        "mcdepends",
        "depends",
        "rdepends",
        "deptask",
        "rdeptask",
        "recrdeptask",
        "recideptask",
        "nostamp",
        "fakeroot",
        "noexec",
        "umask",
    ];
    let mut table = match d.get_var_raw("_task_deps")? {
        Some(Value::Map(map)) => map,
        _ => IndexMap::new(),
    };
    table
        .entry("tasks".into())
        .or_insert_with(|| Value::List(Vec::new()));
    table
        .entry("parents".into())
        .or_insert_with(|| Value::Map(IndexMap::new()));
    for task in tasks {
        let task = d.expand(task)?;
        d.set_var_flag(&task, "task", 1)?;
        if let Some(Value::List(list)) = table.get_mut("tasks")
            && !list.iter().any(|t| t.as_str() == Some(task.as_str()))
        {
            list.push(Value::Str(task.clone()));
        }
        let flags = d.get_var_flags(&task);
        for name in FLAGS {
            let entry = table
                .entry(name.into())
                .or_insert_with(|| Value::Map(IndexMap::new()));
            if let Some(value) = flags.get(name) {
                let expanded = d.expand_named(&value.to_string(), &format!("{task}[{name}]"))?;
                if matches!(name, "noexec" | "fakeroot" | "nostamp") && expanded != "1" {
                    d.log(
                        LogLevel::Warning,
                        format!("In a future version of BitBake, setting the '{name}' flag to something other than '1' will result in the flag not being set. See YP bug #13808."),
                    );
                }
                if let Value::Map(map) = entry {
                    map.insert(task.clone(), Value::Str(expanded));
                }
            }
        }
        let mut parents = Vec::new();
        if let Some(Value::List(deps)) = flags.get("deps") {
            for dep in deps {
                parents.push(Value::Str(d.expand(&dep.to_string())?));
            }
        }
        if let Some(Value::Map(map)) = table.get_mut("parents") {
            map.insert(task.clone(), Value::List(parents));
        }
    }
    d.set_var("_task_deps", Value::Map(table))
}

impl Assignment {
    fn of(a: &ast::Assignment) -> Assignment {
        Assignment {
            key: a.name().map(|n| n.text()).unwrap_or_default(),
            value: a.value().map(|v| v.text()).unwrap_or_default(),
            flag: a.flag().map(|f| f.name()),
            op: a.op().unwrap_or(ast::AssignOp::Set),
            exported: a.is_exported(),
        }
    }
}

impl Function {
    fn of(f: &ast::Function) -> Function {
        Function {
            name: f.name(),
            body: f.body_text(),
            python: f.is_python(),
            fakeroot: f.is_fakeroot(),
        }
    }
}

impl PythonDef {
    fn of(def: &ast::PythonDef) -> PythonDef {
        PythonDef {
            name: def.name().unwrap_or_default(),
            text: def.text(),
        }
    }
}

fn lower(parse: &Parse, index: &LineIndex) -> Statements {
    parse
        .tree()
        .statements()
        .map(|statement| {
            let line = statement.bitbake_line(index);
            let lowered = match &statement {
                Statement::Assignment(a) => Lowered::Assignment(Assignment::of(a)),
                Statement::Function(f) => Lowered::Function(Function::of(f)),
                Statement::PythonDef(def) => Lowered::PythonDef(PythonDef::of(def)),
                _ => Lowered::Other(statement),
            };
            (line, lowered)
        })
        .collect()
}
