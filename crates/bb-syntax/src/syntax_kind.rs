//! The kinds of tokens and nodes in the syntax tree.

/// Every kind of token (leaf) and node in a BitBake syntax tree.
///
/// Tokens come first, nodes after `SOURCE_FILE`; [`SyntaxKind::is_token`] tells them apart.
#[allow(non_camel_case_types, missing_docs)]
#[derive(Debug, Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u16)]
pub enum SyntaxKind {
    // Trivia.
    /// Spaces and tabs between tokens, and the whitespace BitBake strips at line ends.
    WHITESPACE = 0,
    /// A line terminator: `\n`, `\r\n` or `\r`.
    NEWLINE,
    /// A comment line, from `#` to the end of its content.
    COMMENT,
    /// A line continuation: the `\`, the whitespace after it and the line terminator,
    /// none of which is part of the statement's text.
    CONTINUATION,

    // Leaves with content.
    /// Literal text inside a value, an argument list or a function body.
    TEXT,
    /// A name: variable, flag, function, task or class.
    NAME,
    /// An assignment operator (`=`, `?=`, `??=`, `:=`, `+=`, `=+`, `.=`, `=.`).
    OPERATOR,
    QUOTE,
    L_BRACK,
    R_BRACK,
    L_PAREN,
    R_PAREN,
    L_CURLY,
    R_CURLY,
    /// `${` opening a variable reference.
    DOLLAR_L_CURLY,
    /// `${@` opening an inline python expression.
    DOLLAR_L_CURLY_AT,

    // Keywords.
    EXPORT_KW,
    UNSET_KW,
    INCLUDE_KW,
    REQUIRE_KW,
    INCLUDE_ALL_KW,
    INHERIT_KW,
    INHERIT_DEFER_KW,
    ADDTASK_KW,
    DELTASK_KW,
    AFTER_KW,
    BEFORE_KW,
    ADDHANDLER_KW,
    EXPORT_FUNCTIONS_KW,
    ADDPYLIB_KW,
    ADDFRAGMENTS_KW,
    PYTHON_KW,
    FAKEROOT_KW,
    DEF_KW,

    // Nodes.
    /// The root of every tree.
    SOURCE_FILE,
    /// `[export] NAME[flag] OP "value"`.
    ASSIGNMENT,
    /// `export NAME`.
    EXPORT_STMT,
    /// `unset NAME` or `unset NAME[flag]`.
    UNSET_STMT,
    /// `include`, `require` or `include_all`.
    INCLUDE_STMT,
    /// `inherit` or `inherit_defer`.
    INHERIT_STMT,
    ADDTASK_STMT,
    DELTASK_STMT,
    ADDHANDLER_STMT,
    EXPORT_FUNCTIONS_STMT,
    ADDPYLIB_STMT,
    ADDFRAGMENTS_STMT,
    /// A shell, python or fakeroot function, or anonymous python: `[python] [fakeroot] NAME () {`.
    FUNCTION,
    /// A top-level python `def` block.
    PYTHON_DEF,
    /// A variable name (may contain references, as in `RDEPENDS:${PN}`).
    VAR_NAME,
    /// A flag in brackets: `[doc]`.
    FLAG,
    /// A function's name.
    FUNC_NAME,
    /// A quoted value.
    VALUE,
    /// The arguments of a keyword statement (`inherit`, `addtask`, …).
    ARGS,
    /// The body of a function or `def`, verbatim.
    BODY,
    /// `${NAME}`.
    VAR_REF,
    /// `${@python}`.
    PY_EXPR,
    /// A line or lines that do not form a statement BitBake accepts.
    ERROR,
}

use SyntaxKind::*;

impl SyntaxKind {
    /// Whether this kind is a token (a leaf) rather than a node.
    pub fn is_token(self) -> bool {
        (self as u16) < (SOURCE_FILE as u16)
    }

    /// Whether this kind is trivia: whitespace, newlines, comments and continuations.
    pub fn is_trivia(self) -> bool {
        matches!(self, WHITESPACE | NEWLINE | COMMENT | CONTINUATION)
    }

    fn from_raw(raw: u16) -> SyntaxKind {
        assert!(raw <= ERROR as u16, "invalid SyntaxKind {raw}");
        // The table lists every variant in discriminant order (checked by a test).
        ALL_KINDS[raw as usize]
    }
}

const ALL_KINDS: [SyntaxKind; ERROR as usize + 1] = [
    WHITESPACE,
    NEWLINE,
    COMMENT,
    CONTINUATION,
    TEXT,
    NAME,
    OPERATOR,
    QUOTE,
    L_BRACK,
    R_BRACK,
    L_PAREN,
    R_PAREN,
    L_CURLY,
    R_CURLY,
    DOLLAR_L_CURLY,
    DOLLAR_L_CURLY_AT,
    EXPORT_KW,
    UNSET_KW,
    INCLUDE_KW,
    REQUIRE_KW,
    INCLUDE_ALL_KW,
    INHERIT_KW,
    INHERIT_DEFER_KW,
    ADDTASK_KW,
    DELTASK_KW,
    AFTER_KW,
    BEFORE_KW,
    ADDHANDLER_KW,
    EXPORT_FUNCTIONS_KW,
    ADDPYLIB_KW,
    ADDFRAGMENTS_KW,
    PYTHON_KW,
    FAKEROOT_KW,
    DEF_KW,
    SOURCE_FILE,
    ASSIGNMENT,
    EXPORT_STMT,
    UNSET_STMT,
    INCLUDE_STMT,
    INHERIT_STMT,
    ADDTASK_STMT,
    DELTASK_STMT,
    ADDHANDLER_STMT,
    EXPORT_FUNCTIONS_STMT,
    ADDPYLIB_STMT,
    ADDFRAGMENTS_STMT,
    FUNCTION,
    PYTHON_DEF,
    VAR_NAME,
    FLAG,
    FUNC_NAME,
    VALUE,
    ARGS,
    BODY,
    VAR_REF,
    PY_EXPR,
    ERROR,
];

impl From<SyntaxKind> for rowan::SyntaxKind {
    fn from(kind: SyntaxKind) -> Self {
        rowan::SyntaxKind(kind as u16)
    }
}

/// The rowan language of BitBake metadata.
#[derive(Debug, Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BitBakeLanguage {}

impl rowan::Language for BitBakeLanguage {
    type Kind = SyntaxKind;

    fn kind_from_raw(raw: rowan::SyntaxKind) -> SyntaxKind {
        SyntaxKind::from_raw(raw.0)
    }

    fn kind_to_raw(kind: SyntaxKind) -> rowan::SyntaxKind {
        kind.into()
    }
}

/// A node of the syntax tree.
pub type SyntaxNode = rowan::SyntaxNode<BitBakeLanguage>;
/// A token (leaf) of the syntax tree.
pub type SyntaxToken = rowan::SyntaxToken<BitBakeLanguage>;
/// A node or a token.
pub type SyntaxElement = rowan::SyntaxElement<BitBakeLanguage>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_table_matches_discriminants() {
        for (i, kind) in ALL_KINDS.iter().enumerate() {
            assert_eq!(*kind as usize, i, "{kind:?}");
        }
    }
}
