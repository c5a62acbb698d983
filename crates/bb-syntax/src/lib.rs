//! A lossless, error-tolerant parser for BitBake metadata.
//!
//! `bb-syntax` reads `.bb`, `.bbappend`, `.bbclass`, `.inc` and `.conf` files into a
//! [rowan] concrete syntax tree whose text equals the input byte for byte, and reports what
//! BitBake 2.19 would reject as errors with their ranges. It decides which lines form a
//! statement, and what that statement is, exactly as BitBake's `BBHandler` and
//! `ConfHandler` do: line continuations, function bodies ending at a line that is exactly
//! `}`, `def` blocks, the quoting rules of assignments. Inside values, `${VAR}` references
//! and `${@python}` expressions are nodes of their own.
//!
//! Parsing never fails: [`parse`] always returns a tree, plus a list of [`SyntaxError`]s.
//! The typed layer in [`ast`] gives names, operators, values and function bodies as
//! BitBake sees them (continuations joined, trailing whitespace stripped).
//!
//! ```
//! use bb_syntax::{FileKind, ast::Statement};
//!
//! let text = "export CFLAGS:append = \" -DDEMO ${EXTRA}\"\ndo_compile() {\n\t${CC} hello.c\n}\n";
//! let parse = bb_syntax::parse(text, FileKind::Recipe);
//! assert!(parse.errors().is_empty());
//! assert_eq!(parse.syntax().to_string(), text); // lossless
//!
//! let mut statements = parse.tree().statements();
//! let Some(Statement::Assignment(assignment)) = statements.next() else { panic!() };
//! assert!(assignment.is_exported());
//! assert_eq!(assignment.name().unwrap().text(), "CFLAGS:append");
//! assert_eq!(assignment.op().unwrap().as_str(), "=");
//! let value = assignment.value().unwrap();
//! assert_eq!(value.text(), " -DDEMO ${EXTRA}");
//! assert_eq!(value.var_refs().next().unwrap().name(), "EXTRA");
//!
//! let Some(Statement::Function(function)) = statements.next() else { panic!() };
//! assert_eq!(function.name().as_deref(), Some("do_compile"));
//! assert_eq!(function.body_text(), "\t${CC} hello.c\n");
//! ```

pub mod ast;
mod files;
mod lines;
mod logical;
mod parser;
mod statement;
mod syntax_kind;
mod template;

use std::fmt;
use std::path::Path;

pub use files::collect_metadata_files;
pub use rowan::{TextRange, TextSize};
pub use syntax_kind::{BitBakeLanguage, SyntaxElement, SyntaxKind, SyntaxNode, SyntaxToken};

use rowan::GreenNode;

/// The kind of metadata file; it selects BitBake's handler and so the rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileKind {
    /// A `.bb` recipe.
    Recipe,
    /// A `.bbappend`, parsed with the recipe rules.
    Append,
    /// A `.bbclass`.
    Class,
    /// A `.inc` include file (always recipe rules, whoever includes it).
    Include,
    /// A `.conf` configuration file (ConfHandler: no functions, tasks or inherit).
    Conf,
}

impl FileKind {
    /// The kind for a path's extension, or `None` if it is not a metadata file.
    pub fn from_path(path: &Path) -> Option<FileKind> {
        match path.extension()?.to_str()? {
            "bb" => Some(FileKind::Recipe),
            "bbappend" => Some(FileKind::Append),
            "bbclass" => Some(FileKind::Class),
            "inc" => Some(FileKind::Include),
            "conf" => Some(FileKind::Conf),
            _ => None,
        }
    }

    /// Whether the file follows ConfHandler's rules rather than BBHandler's.
    pub fn is_conf(self) -> bool {
        self == FileKind::Conf
    }
}

/// How serious a [`SyntaxError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    /// BitBake would refuse the file.
    Error,
    /// BitBake accepts the file but warns.
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// A problem found while parsing, with the range of text it concerns.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SyntaxError {
    message: String,
    range: TextRange,
    severity: Severity,
}

impl SyntaxError {
    /// What is wrong, in words close to BitBake's own message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The byte range of the text concerned.
    pub fn range(&self) -> TextRange {
        self.range
    }

    /// Whether BitBake would refuse the file or only warn.
    pub fn severity(&self) -> Severity {
        self.severity
    }
}

/// The result of parsing: a syntax tree and the problems found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parse {
    green: GreenNode,
    errors: Vec<SyntaxError>,
    file_kind: FileKind,
}

impl Parse {
    /// The root of the syntax tree; its text is the parsed text.
    pub fn syntax(&self) -> SyntaxNode {
        SyntaxNode::new_root(self.green.clone())
    }

    /// The typed root of the tree.
    pub fn tree(&self) -> ast::SourceFile {
        ast::SourceFile::from_root(self.syntax())
    }

    /// Errors and warnings, in the order of the text.
    pub fn errors(&self) -> &[SyntaxError] {
        &self.errors
    }

    /// Whether any problem is an error (not only warnings).
    pub fn has_errors(&self) -> bool {
        self.errors.iter().any(|e| e.severity == Severity::Error)
    }

    /// The kind of file this was parsed as.
    pub fn file_kind(&self) -> FileKind {
        self.file_kind
    }

    /// The tree as indented text, one element per line, followed by the problems:
    /// for debugging and test expectations.
    pub fn debug_dump(&self) -> String {
        let mut out = tree_dump(&self.syntax());
        if !self.errors.is_empty() {
            let index = LineIndex::new(&self.syntax().to_string());
            for error in &self.errors {
                let at = index.line_col(error.range.start());
                out.push_str(&format!(
                    "{}:{}: {}: {}\n",
                    at.line, at.col, error.severity, error.message
                ));
            }
        }
        out
    }
}

/// The tree as indented text: `KIND@start..end` per node, plus the full text of each token.
pub fn tree_dump(node: &SyntaxNode) -> String {
    let mut out = String::new();
    let mut depth = 0;
    for event in node.preorder_with_tokens() {
        match event {
            rowan::WalkEvent::Enter(element) => {
                out.push_str(&"  ".repeat(depth));
                match element {
                    rowan::NodeOrToken::Node(node) => {
                        out.push_str(&format!("{:?}@{:?}\n", node.kind(), node.text_range()));
                    }
                    rowan::NodeOrToken::Token(token) => {
                        out.push_str(&format!(
                            "{:?}@{:?} {:?}\n",
                            token.kind(),
                            token.text_range(),
                            token.text()
                        ));
                    }
                }
                depth += 1;
            }
            rowan::WalkEvent::Leave(_) => depth -= 1,
        }
    }
    out
}

/// The end (exclusive) of the `${@…}` expression starting at byte `start` of `text`, by
/// BitBake's rule (`\${@(?:{.*?}|.)+?}`, leftmost-first), or `None` if there is none.
///
/// ```
/// assert_eq!(bb_syntax::inline_python_end("${@'a'} b}", 0), Some(7));
/// assert_eq!(bb_syntax::inline_python_end("${@ open", 0), None);
/// ```
pub fn inline_python_end(text: &str, start: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    if !bytes.get(start..)?.starts_with(b"${@") {
        return None;
    }
    template::python_end(bytes, start)
}

/// Parses `text` as a file of the given kind. Never fails.
pub fn parse(text: &str, file_kind: FileKind) -> Parse {
    let (green, mut errors) = parser::parse_text(text, file_kind.is_conf());
    errors.sort_by_key(|e| (e.range.start(), e.range.end()));
    Parse {
        green,
        errors,
        file_kind,
    }
}

/// Parses bytes that may not be UTF-8. Invalid sequences become U+FFFD in the tree and
/// each is reported as an error at its position; valid UTF-8 parses as with [`parse`].
pub fn parse_bytes(bytes: &[u8], file_kind: FileKind) -> Parse {
    if let Ok(text) = std::str::from_utf8(bytes) {
        return parse(text, file_kind);
    }
    let mut text = String::with_capacity(bytes.len());
    let mut invalid = Vec::new();
    for chunk in bytes.utf8_chunks() {
        text.push_str(chunk.valid());
        if !chunk.invalid().is_empty() {
            let at = TextSize::of(text.as_str());
            text.push(char::REPLACEMENT_CHARACTER);
            invalid.push((at, chunk.invalid().len()));
        }
    }
    let mut parse = parse(&text, file_kind);
    for (at, len) in invalid {
        parse.errors.push(SyntaxError {
            message: format!("invalid UTF-8 ({len} byte(s) that do not form a character)"),
            range: TextRange::at(at, TextSize::of(char::REPLACEMENT_CHARACTER)),
            severity: Severity::Error,
        });
    }
    parse
        .errors
        .sort_by_key(|e| (e.range.start(), e.range.end()));
    parse
}

/// A 1-based line and column (in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LineCol {
    /// Line number, counting from 1, with BitBake's line terminators (`\n`, `\r\n`, `\r`).
    pub line: u32,
    /// Column, counting characters from 1.
    pub col: u32,
}

/// Converts byte offsets into lines and columns.
#[derive(Debug, Clone)]
pub struct LineIndex {
    text: String,
    line_starts: Vec<usize>,
}

impl LineIndex {
    /// Indexes `text`.
    pub fn new(text: &str) -> LineIndex {
        let mut line_starts: Vec<usize> =
            lines::split_lines(text).iter().map(|l| l.start).collect();
        if line_starts.is_empty() || text.ends_with(['\n', '\r']) {
            line_starts.push(text.len());
        }
        LineIndex {
            text: text.to_owned(),
            line_starts,
        }
    }

    /// The line and column of `offset`.
    pub fn line_col(&self, offset: TextSize) -> LineCol {
        let offset = usize::from(offset).min(self.text.len());
        let line = self
            .line_starts
            .partition_point(|&start| start <= offset)
            .max(1)
            - 1;
        let start = self.line_starts[line];
        let col = self.text[start..]
            .char_indices()
            .take_while(|&(i, _)| start + i < offset)
            .count();
        LineCol {
            line: line as u32 + 1,
            col: col as u32 + 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_index_counts_characters() {
        let index = LineIndex::new("a\nbä c\r\nd");
        assert_eq!(index.line_col(0.into()), LineCol { line: 1, col: 1 });
        assert_eq!(index.line_col(6.into()), LineCol { line: 2, col: 4 });
        assert_eq!(index.line_col(9.into()), LineCol { line: 3, col: 1 });
    }

    #[test]
    fn invalid_utf8_is_an_error_with_position() {
        let parse = parse_bytes(b"A = \"x\"\nB = \"\xff\"\n", FileKind::Conf);
        let errors: Vec<_> = parse
            .errors()
            .iter()
            .map(|e| e.message().to_string())
            .collect();
        assert_eq!(
            errors,
            ["invalid UTF-8 (1 byte(s) that do not form a character)"]
        );
        let at =
            LineIndex::new(&parse.syntax().to_string()).line_col(parse.errors()[0].range().start());
        assert_eq!(at, LineCol { line: 2, col: 6 });
    }
}
