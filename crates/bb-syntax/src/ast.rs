//! Typed views of the syntax tree.
//!
//! Every accessor returns text as BitBake sees it: continuations removed, and for
//! function bodies and `def` blocks each line right-stripped, lines joined with `\n`.
//! Accessors never panic on trees with errors; missing parts are `None`.

use std::ops::Range;

use crate::SyntaxKind::{self, *};
use crate::lines::rstrip_len;
use crate::statement::split_greedy;
use crate::{SyntaxNode, SyntaxToken, TextRange};

/// A typed node: a [`SyntaxNode`] of one particular kind.
pub trait AstNode: Sized {
    /// Wraps `node` if it has this type's kind.
    fn cast(node: SyntaxNode) -> Option<Self>;
    /// The underlying node.
    fn syntax(&self) -> &SyntaxNode;
    /// The node's range in the file.
    fn text_range(&self) -> TextRange {
        self.syntax().text_range()
    }
}

macro_rules! ast_nodes {
    ($($(#[$doc:meta])* $name:ident = $kind:ident;)*) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub struct $name(SyntaxNode);

        impl AstNode for $name {
            fn cast(node: SyntaxNode) -> Option<Self> {
                (node.kind() == $kind).then(|| $name(node))
            }
            fn syntax(&self) -> &SyntaxNode {
                &self.0
            }
        }
    )*};
}

ast_nodes! {
    /// The whole file.
    SourceFile = SOURCE_FILE;
    /// `[export] NAME[flag] OP "value"`.
    Assignment = ASSIGNMENT;
    /// `export NAME`.
    Export = EXPORT_STMT;
    /// `unset NAME` or `unset NAME[flag]`.
    Unset = UNSET_STMT;
    /// `include`, `require` or `include_all` with its (unexpanded) argument.
    Include = INCLUDE_STMT;
    /// `inherit` or `inherit_defer` with its (unexpanded) argument.
    Inherit = INHERIT_STMT;
    /// `addtask TASK... [after ...] [before ...]`.
    AddTask = ADDTASK_STMT;
    /// `deltask TASK...`.
    DelTask = DELTASK_STMT;
    /// `addhandler FUNCTION...`.
    AddHandler = ADDHANDLER_STMT;
    /// `EXPORT_FUNCTIONS FUNCTION...`.
    ExportFunctions = EXPORT_FUNCTIONS_STMT;
    /// `addpylib DIR NAMESPACE`.
    AddPylib = ADDPYLIB_STMT;
    /// `addfragments PREFIX VAR METAVARS BUILTINS`.
    AddFragments = ADDFRAGMENTS_STMT;
    /// A shell, python or fakeroot function, or anonymous python.
    Function = FUNCTION;
    /// A top-level python `def`.
    PythonDef = PYTHON_DEF;
    /// Text BitBake would reject.
    ErrorNode = ERROR;
    /// A variable name.
    VarName = VAR_NAME;
    /// `[flag]`.
    Flag = FLAG;
    /// A function's name.
    FuncName = FUNC_NAME;
    /// A quoted value.
    Value = VALUE;
    /// The arguments of a keyword statement.
    Args = ARGS;
    /// A function or `def` body.
    Body = BODY;
    /// `${NAME}`.
    VarRef = VAR_REF;
    /// `${@python}`.
    PyExpr = PY_EXPR;
}

/// Any statement.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum Statement {
    Assignment(Assignment),
    Export(Export),
    Unset(Unset),
    Include(Include),
    Inherit(Inherit),
    AddTask(AddTask),
    DelTask(DelTask),
    AddHandler(AddHandler),
    ExportFunctions(ExportFunctions),
    AddPylib(AddPylib),
    AddFragments(AddFragments),
    Function(Function),
    PythonDef(PythonDef),
    Error(ErrorNode),
}

impl Statement {
    /// Wraps a statement node; `None` for other nodes.
    pub fn cast(node: SyntaxNode) -> Option<Statement> {
        Some(match node.kind() {
            ASSIGNMENT => Statement::Assignment(Assignment(node)),
            EXPORT_STMT => Statement::Export(Export(node)),
            UNSET_STMT => Statement::Unset(Unset(node)),
            INCLUDE_STMT => Statement::Include(Include(node)),
            INHERIT_STMT => Statement::Inherit(Inherit(node)),
            ADDTASK_STMT => Statement::AddTask(AddTask(node)),
            DELTASK_STMT => Statement::DelTask(DelTask(node)),
            ADDHANDLER_STMT => Statement::AddHandler(AddHandler(node)),
            EXPORT_FUNCTIONS_STMT => Statement::ExportFunctions(ExportFunctions(node)),
            ADDPYLIB_STMT => Statement::AddPylib(AddPylib(node)),
            ADDFRAGMENTS_STMT => Statement::AddFragments(AddFragments(node)),
            FUNCTION => Statement::Function(Function(node)),
            PYTHON_DEF => Statement::PythonDef(PythonDef(node)),
            ERROR => Statement::Error(ErrorNode(node)),
            _ => return None,
        })
    }

    /// BitBake's line number for this statement (what it records in variable history
    /// and `[lineno]`): the first line plus one per line continuation; for a function the
    /// line of its `}`; for a `def` the line after its body. At the end of a `.conf` file
    /// BitBake counts a line per dropped backslash, and so does this.
    pub fn bitbake_line(&self, index: &crate::LineIndex) -> u32 {
        let node = self.syntax();
        match self {
            Statement::Function(_) => index.line_col(node.text_range().end()).line,
            Statement::PythonDef(_) => index.line_col(node.text_range().end()).line + 1,
            _ => {
                let backslashes: usize = node
                    .descendants_with_tokens()
                    .filter_map(|e| e.into_token())
                    .filter(|t| t.kind() == CONTINUATION)
                    .map(|t| t.text().matches('\\').count())
                    .sum();
                index.line_col(node.text_range().start()).line + backslashes as u32
            }
        }
    }

    /// The underlying node.
    pub fn syntax(&self) -> &SyntaxNode {
        match self {
            Statement::Assignment(n) => n.syntax(),
            Statement::Export(n) => n.syntax(),
            Statement::Unset(n) => n.syntax(),
            Statement::Include(n) => n.syntax(),
            Statement::Inherit(n) => n.syntax(),
            Statement::AddTask(n) => n.syntax(),
            Statement::DelTask(n) => n.syntax(),
            Statement::AddHandler(n) => n.syntax(),
            Statement::ExportFunctions(n) => n.syntax(),
            Statement::AddPylib(n) => n.syntax(),
            Statement::AddFragments(n) => n.syntax(),
            Statement::Function(n) => n.syntax(),
            Statement::PythonDef(n) => n.syntax(),
            Statement::Error(n) => n.syntax(),
        }
    }
}

fn child<N: AstNode>(node: &SyntaxNode) -> Option<N> {
    node.children().find_map(N::cast)
}

fn has_token(node: &SyntaxNode, kind: SyntaxKind) -> bool {
    node.children_with_tokens().any(|e| e.kind() == kind)
}

fn first_token(node: &SyntaxNode, kind: SyntaxKind) -> Option<SyntaxToken> {
    node.children_with_tokens()
        .filter_map(|e| e.into_token())
        .find(|t| t.kind() == kind)
}

/// The node's text without continuations and without tokens of the `skip` kinds.
fn logical_text(node: &SyntaxNode, skip: &[SyntaxKind]) -> String {
    let mut text = String::new();
    for token in node
        .descendants_with_tokens()
        .filter_map(|e| e.into_token())
    {
        let kind = token.kind();
        if kind != CONTINUATION && !skip.contains(&kind) {
            text.push_str(token.text());
        }
    }
    text
}

/// Text made of whole lines as BitBake stores them: each right-stripped, every line
/// terminator a `\n`.
fn stripped_lines(node: &SyntaxNode) -> String {
    let mut text = String::new();
    let mut line_start = 0;
    for token in node
        .descendants_with_tokens()
        .filter_map(|e| e.into_token())
    {
        match token.kind() {
            CONTINUATION => {}
            NEWLINE => {
                text.truncate(line_start + rstrip_len(&text[line_start..]));
                text.push('\n');
                line_start = text.len();
            }
            _ => text.push_str(token.text()),
        }
    }
    text.truncate(line_start + rstrip_len(&text[line_start..]));
    text
}

fn var_refs(node: &SyntaxNode) -> impl Iterator<Item = VarRef> + use<> {
    node.descendants().filter_map(VarRef::cast)
}

fn py_exprs(node: &SyntaxNode) -> impl Iterator<Item = PyExpr> + use<> {
    node.descendants().filter_map(PyExpr::cast)
}

impl SourceFile {
    pub(crate) fn from_root(node: SyntaxNode) -> SourceFile {
        SourceFile(node)
    }

    /// The statements, in order.
    pub fn statements(&self) -> impl Iterator<Item = Statement> + use<> {
        self.0.children().filter_map(Statement::cast)
    }

    /// Every `${NAME}` reference in the file, nested ones included.
    pub fn var_refs(&self) -> impl Iterator<Item = VarRef> + use<> {
        var_refs(&self.0)
    }

    /// Every `${@…}` expression in the file.
    pub fn py_exprs(&self) -> impl Iterator<Item = PyExpr> + use<> {
        py_exprs(&self.0)
    }
}

/// An assignment operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AssignOp {
    /// `=`
    Set,
    /// `?=`: set if unset.
    Default,
    /// `??=`: weak default.
    WeakDefault,
    /// `:=`: expand now.
    Immediate,
    /// `+=`: append with a space.
    Append,
    /// `=+`: prepend with a space.
    Prepend,
    /// `.=`: append without a space.
    AppendNoSpace,
    /// `=.`: prepend without a space.
    PrependNoSpace,
}

impl AssignOp {
    /// The operator for its text.
    pub fn from_text(text: &str) -> Option<AssignOp> {
        Some(match text {
            "=" => AssignOp::Set,
            "?=" => AssignOp::Default,
            "??=" => AssignOp::WeakDefault,
            ":=" => AssignOp::Immediate,
            "+=" => AssignOp::Append,
            "=+" => AssignOp::Prepend,
            ".=" => AssignOp::AppendNoSpace,
            "=." => AssignOp::PrependNoSpace,
            _ => return None,
        })
    }

    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            AssignOp::Set => "=",
            AssignOp::Default => "?=",
            AssignOp::WeakDefault => "??=",
            AssignOp::Immediate => ":=",
            AssignOp::Append => "+=",
            AssignOp::Prepend => "=+",
            AssignOp::AppendNoSpace => ".=",
            AssignOp::PrependNoSpace => "=.",
        }
    }
}

impl Assignment {
    /// Whether the assignment starts with `export`.
    pub fn is_exported(&self) -> bool {
        has_token(&self.0, EXPORT_KW)
    }

    /// The variable name; `None` for BitBake's "Empty variable name" error.
    pub fn name(&self) -> Option<VarName> {
        child(&self.0)
    }

    /// The flag in `NAME[flag] = …`.
    pub fn flag(&self) -> Option<Flag> {
        child(&self.0)
    }

    /// The operator.
    pub fn op(&self) -> Option<AssignOp> {
        first_token(&self.0, OPERATOR).and_then(|t| AssignOp::from_text(t.text()))
    }

    /// The quoted value.
    pub fn value(&self) -> Option<Value> {
        child(&self.0)
    }
}

impl VarName {
    /// The name as BitBake reads it, e.g. `RDEPENDS:${PN}`.
    pub fn text(&self) -> String {
        logical_text(&self.0, &[])
    }

    /// References inside the name.
    pub fn var_refs(&self) -> impl Iterator<Item = VarRef> + use<> {
        var_refs(&self.0)
    }
}

impl Flag {
    /// The flag's name, without brackets.
    pub fn name(&self) -> String {
        logical_text(&self.0, &[L_BRACK, R_BRACK])
    }
}

impl Value {
    /// The text between the quotes, continuations joined.
    pub fn text(&self) -> String {
        logical_text(&self.0, &[QUOTE])
    }

    /// The quote character: `"` or `'`.
    pub fn quote(&self) -> Option<char> {
        first_token(&self.0, QUOTE).and_then(|t| t.text().chars().next())
    }

    /// `${NAME}` references in the value, nested ones included.
    pub fn var_refs(&self) -> impl Iterator<Item = VarRef> + use<> {
        var_refs(&self.0)
    }

    /// `${@…}` expressions in the value.
    pub fn py_exprs(&self) -> impl Iterator<Item = PyExpr> + use<> {
        py_exprs(&self.0)
    }
}

impl VarRef {
    /// The referenced name, e.g. `PN` for `${PN}` or `A_${B}` for `${A_${B}}`.
    pub fn name(&self) -> String {
        let text = logical_text(&self.0, &[]);
        text.get(2..text.len().saturating_sub(1))
            .unwrap_or_default()
            .to_owned()
    }
}

impl PyExpr {
    /// The python code between `${@` and `}`.
    pub fn code(&self) -> String {
        let text = logical_text(&self.0, &[]);
        text.get(3..text.len().saturating_sub(1))
            .unwrap_or_default()
            .to_owned()
    }

    /// Where the code starts in the file, for mapping python line numbers back.
    pub fn code_range(&self) -> TextRange {
        let range = self.0.text_range();
        let start = range.start() + rowan::TextSize::from(3);
        let end = range.end() - rowan::TextSize::from(1);
        TextRange::new(start.min(end), end)
    }
}

impl Export {
    /// The exported variable.
    pub fn name(&self) -> Option<VarName> {
        child(&self.0)
    }
}

impl Unset {
    /// The variable.
    pub fn name(&self) -> Option<VarName> {
        child(&self.0)
    }

    /// The flag, for `unset NAME[flag]`.
    pub fn flag(&self) -> Option<Flag> {
        child(&self.0)
    }
}

impl Args {
    /// The arguments' text as written (unexpanded), continuations joined.
    pub fn text(&self) -> String {
        logical_text(&self.0, &[])
    }

    /// References in the arguments.
    pub fn var_refs(&self) -> impl Iterator<Item = VarRef> + use<> {
        var_refs(&self.0)
    }
}

fn args_text(node: &SyntaxNode) -> String {
    child::<Args>(node).map(|a| a.text()).unwrap_or_default()
}

/// Which of the three include statements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IncludeKind {
    /// `include`: a missing file is silently skipped.
    Include,
    /// `require`: a missing file is an error.
    Require,
    /// `include_all`: the file from every BBPATH entry.
    IncludeAll,
}

impl Include {
    /// Which statement this is.
    pub fn kind(&self) -> IncludeKind {
        if has_token(&self.0, REQUIRE_KW) {
            IncludeKind::Require
        } else if has_token(&self.0, INCLUDE_ALL_KW) {
            IncludeKind::IncludeAll
        } else {
            IncludeKind::Include
        }
    }

    /// The argument, unexpanded; BitBake expands it and splits it on whitespace.
    pub fn args(&self) -> Option<Args> {
        child(&self.0)
    }
}

impl Inherit {
    /// `inherit_defer` rather than `inherit`.
    pub fn is_deferred(&self) -> bool {
        has_token(&self.0, INHERIT_DEFER_KW)
    }

    /// The class list, unexpanded.
    pub fn args(&self) -> Option<Args> {
        child(&self.0)
    }
}

impl AddTask {
    /// The argument text before the `#` comment, as BitBake's regex captures it.
    pub fn args(&self) -> Option<Args> {
        child(&self.0)
    }

    /// The tasks being added (unexpanded, BitBake's split on ` before `/` after `).
    pub fn tasks(&self) -> String {
        let args = args_text(&self.0);
        let before_split = args.split(" before ").next().unwrap_or_default();
        before_split
            .split(" after ")
            .next()
            .unwrap_or_default()
            .to_owned()
    }

    /// What follows ` after `, concatenated as BitBake does.
    pub fn after(&self) -> String {
        Self::following(&args_text(&self.0), " before ", " after ")
    }

    /// What follows ` before `, concatenated as BitBake does.
    pub fn before(&self) -> String {
        Self::following(&args_text(&self.0), " after ", " before ")
    }

    fn following(args: &str, outer: &str, inner: &str) -> String {
        let mut out = String::new();
        for part in args.split(outer) {
            let pieces: Vec<&str> = part.split(inner).collect();
            if pieces.len() > 1 {
                out.push_str(&pieces[1..].join(" "));
            }
        }
        out
    }

    /// The trailing `# comment`, if any.
    pub fn comment(&self) -> Option<String> {
        first_token(&self.0, COMMENT).map(|t| t.text().to_owned())
    }
}

impl DelTask {
    /// The tasks to delete, unexpanded.
    pub fn tasks(&self) -> String {
        args_text(&self.0)
    }
}

impl AddHandler {
    /// The handler function names, unexpanded.
    pub fn args(&self) -> Option<Args> {
        child(&self.0)
    }
}

impl ExportFunctions {
    /// The exported function names, unexpanded.
    pub fn args(&self) -> Option<Args> {
        child(&self.0)
    }
}

fn greedy_groups<const N: usize>(node: &SyntaxNode) -> Option<[String; N]> {
    let text = args_text(node);
    let groups: Vec<Range<usize>> = split_greedy(&text, N)?;
    Some(std::array::from_fn(|i| text[groups[i].clone()].to_owned()))
}

impl AddPylib {
    /// The directory and the namespace, as BitBake's `(.+)\s+(.+)` captures them.
    pub fn parts(&self) -> Option<[String; 2]> {
        greedy_groups(&self.0)
    }
}

impl AddFragments {
    /// Prefix, variable, metadata variables and builtins, as BitBake's regex captures them.
    pub fn parts(&self) -> Option<[String; 4]> {
        greedy_groups(&self.0)
    }
}

impl Function {
    /// The name as written; `None` for `python () {`.
    pub fn name(&self) -> Option<String> {
        child::<FuncName>(&self.0).map(|n| logical_text(n.syntax(), &[]))
    }

    /// Anonymous python: no name, or `__anonymous`.
    pub fn is_anonymous(&self) -> bool {
        self.name().is_none_or(|n| n == "__anonymous")
    }

    /// `python` function.
    pub fn is_python(&self) -> bool {
        has_token(&self.0, PYTHON_KW)
    }

    /// `fakeroot` function.
    pub fn is_fakeroot(&self) -> bool {
        has_token(&self.0, FAKEROOT_KW)
    }

    /// Whether the closing `}` line was found.
    pub fn is_closed(&self) -> bool {
        has_token(&self.0, R_CURLY)
    }

    /// The body node (its range locates the code in the file).
    pub fn body(&self) -> Option<Body> {
        child(&self.0)
    }

    /// The body as BitBake stores it: lines right-stripped, each followed by `\n`.
    pub fn body_text(&self) -> String {
        self.body()
            .map(|b| stripped_lines(b.syntax()))
            .unwrap_or_default()
    }
}

impl PythonDef {
    /// The function's name.
    pub fn name(&self) -> Option<String> {
        first_token(&self.0, NAME).map(|t| t.text().to_owned())
    }

    /// The whole block as BitBake stores it: header and body lines joined by `\n`.
    pub fn text(&self) -> String {
        stripped_lines(&self.0)
    }
}

impl Body {
    /// `${NAME}` references in the body.
    pub fn var_refs(&self) -> impl Iterator<Item = VarRef> + use<> {
        var_refs(&self.0)
    }
}

impl ErrorNode {
    /// The rejected text.
    pub fn text(&self) -> String {
        logical_text(&self.0, &[])
    }
}
