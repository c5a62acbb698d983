//! The expression grammar (Bazel's `query/language.md`):
//!
//! ```text
//! expr := term (op term)*          op: + - ^ union except intersect, left-associative
//! term := WORD | $NAME | ( expr ) | let NAME = expr in expr | set( WORD* )
//!       | deps(expr[, N]) | rdeps(expr, expr[, N]) | allpaths(expr, expr)
//!       | somepath(expr, expr) | kind(WORD, expr) | filter(WORD, expr)
//!       | attr(WORD, WORD, expr)
//! ```
//!
//! WORDs may be quoted with `"` or `'` (regular expressions usually are).

use std::fmt;

/// A query expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    /// A label (`zlib`, `zlib:do_compile`).
    Target(String),
    /// `$name`.
    Variable(String),
    /// `let name = value in body`.
    Let(String, Box<Expr>, Box<Expr>),
    /// `set(a b c)`.
    Set(Vec<String>),
    /// A set operation.
    Binary(SetOp, Box<Expr>, Box<Expr>),
    /// `deps(x[, depth])`.
    Deps(Box<Expr>, Option<usize>),
    /// `rdeps(universe, x[, depth])`.
    Rdeps(Box<Expr>, Box<Expr>, Option<usize>),
    /// `allpaths(from, to)`.
    AllPaths(Box<Expr>, Box<Expr>),
    /// `somepath(from, to)`.
    SomePath(Box<Expr>, Box<Expr>),
    /// `kind(pattern, x)`.
    Kind(String, Box<Expr>),
    /// `filter(pattern, x)`.
    Filter(String, Box<Expr>),
    /// `attr(name, pattern, x)`.
    Attr(String, String, Box<Expr>),
}

/// A set operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetOp {
    /// `+`, `union`.
    Union,
    /// `-`, `except`.
    Except,
    /// `^`, `intersect`.
    Intersect,
}

/// A malformed expression, or one that cannot be evaluated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError {
    /// 1-based column of the offending token (0 when not tied to one).
    pub column: usize,
    /// What went wrong.
    pub message: String,
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.column > 0 {
            write!(f, "column {}: {}", self.column, self.message)
        } else {
            f.write_str(&self.message)
        }
    }
}

impl std::error::Error for QueryError {}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    Quoted(String),
    Variable(String),
    Punct(char),
    End,
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Token::Word(w) => write!(f, "'{w}'"),
            Token::Quoted(w) => write!(f, "\"{w}\""),
            Token::Variable(v) => write!(f, "'${v}'"),
            Token::Punct(c) => write!(f, "'{c}'"),
            Token::End => f.write_str("the end of the expression"),
        }
    }
}

/// Characters of a word. `+` and `-` inside a word (`gtk+3`, `zlib-native`) belong to it;
/// at the start of a token they are operators.
fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || "-_.+/:@%*~".contains(c)
}

fn tokenize(text: &str) -> Result<Vec<(Token, usize)>, QueryError> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let column = |i: usize| {
        text[..chars.get(i).map_or(text.len(), |c| c.0)]
            .chars()
            .count()
            + 1
    };
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i].1;
        let start = i;
        if c.is_whitespace() {
            i += 1;
        } else if c == '"' || c == '\'' {
            let end = (i + 1..chars.len())
                .find(|&j| chars[j].1 == c)
                .ok_or(QueryError {
                    column: column(start),
                    message: format!("unclosed quote {c}"),
                })?;
            let word: String = chars[i + 1..end].iter().map(|c| c.1).collect();
            tokens.push((Token::Quoted(word), column(start)));
            i = end + 1;
        } else if c == '$' {
            i += 1;
            while i < chars.len() && (chars[i].1.is_alphanumeric() || chars[i].1 == '_') {
                i += 1;
            }
            if i == start + 1 {
                return Err(QueryError {
                    column: column(start),
                    message: "expected a variable name after '$'".into(),
                });
            }
            let name: String = chars[start + 1..i].iter().map(|c| c.1).collect();
            tokens.push((Token::Variable(name), column(start)));
        } else if "()=,^+-".contains(c) {
            tokens.push((Token::Punct(c), column(start)));
            i += 1;
        } else if is_word_char(c) {
            while i < chars.len() && is_word_char(chars[i].1) {
                i += 1;
            }
            let word: String = chars[start..i].iter().map(|c| c.1).collect();
            tokens.push((Token::Word(word), column(start)));
        } else {
            return Err(QueryError {
                column: column(start),
                message: format!("unexpected character '{c}'"),
            });
        }
    }
    tokens.push((Token::End, column(chars.len())));
    Ok(tokens)
}

struct Parser {
    tokens: Vec<(Token, usize)>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> &Token {
        &self.tokens[self.at].0
    }

    fn column(&self) -> usize {
        self.tokens[self.at].1
    }

    fn next(&mut self) -> Token {
        let token = self.tokens[self.at].0.clone();
        if self.at + 1 < self.tokens.len() {
            self.at += 1;
        }
        token
    }

    fn error(&self, expected: &str) -> QueryError {
        QueryError {
            column: self.column(),
            message: format!("expected {expected}, found {}", self.peek()),
        }
    }

    fn expect(&mut self, c: char) -> Result<(), QueryError> {
        if *self.peek() == Token::Punct(c) {
            self.next();
            Ok(())
        } else {
            Err(self.error(&format!("'{c}'")))
        }
    }

    fn word(&mut self, what: &str) -> Result<String, QueryError> {
        match self.peek().clone() {
            Token::Word(w) | Token::Quoted(w) => {
                self.next();
                Ok(w)
            }
            _ => Err(self.error(what)),
        }
    }

    fn number(&mut self) -> Result<Option<usize>, QueryError> {
        if *self.peek() != Token::Punct(',') {
            return Ok(None);
        }
        self.next();
        let column = self.column();
        let word = self.word("a depth (a number)")?;
        word.parse().map(Some).map_err(|_| QueryError {
            column,
            message: format!("expected a depth (a number), found '{word}'"),
        })
    }

    fn operator(&self) -> Option<SetOp> {
        match self.peek() {
            Token::Punct('+') => Some(SetOp::Union),
            Token::Punct('-') => Some(SetOp::Except),
            Token::Punct('^') => Some(SetOp::Intersect),
            Token::Word(w) if w == "union" => Some(SetOp::Union),
            Token::Word(w) if w == "except" => Some(SetOp::Except),
            Token::Word(w) if w == "intersect" => Some(SetOp::Intersect),
            _ => None,
        }
    }

    fn expr(&mut self) -> Result<Expr, QueryError> {
        let mut left = self.term()?;
        while let Some(op) = self.operator() {
            self.next();
            let right = self.term()?;
            left = Expr::Binary(op, Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn term(&mut self) -> Result<Expr, QueryError> {
        match self.peek().clone() {
            Token::Punct('(') => {
                self.next();
                let inner = self.expr()?;
                self.expect(')')?;
                Ok(inner)
            }
            Token::Variable(name) => {
                self.next();
                Ok(Expr::Variable(name))
            }
            Token::Quoted(word) => {
                self.next();
                Ok(Expr::Target(word))
            }
            Token::Word(word) if word == "let" => {
                self.next();
                let column = self.column();
                let name = self.word("a variable name")?;
                if !name.chars().all(|c| c.is_alphanumeric() || c == '_') {
                    return Err(QueryError {
                        column,
                        message: format!("'{name}' is not a variable name"),
                    });
                }
                self.expect('=')?;
                let value = self.expr()?;
                match self.peek() {
                    Token::Word(w) if w == "in" => {
                        self.next();
                    }
                    _ => return Err(self.error("'in'")),
                }
                let body = self.expr()?;
                Ok(Expr::Let(name, Box::new(value), Box::new(body)))
            }
            Token::Word(word) => {
                self.next();
                if *self.peek() != Token::Punct('(') {
                    return Ok(Expr::Target(word));
                }
                self.function(&word)
            }
            _ => Err(self.error("a target, a function, '(' or '$variable'")),
        }
    }

    fn function(&mut self, name: &str) -> Result<Expr, QueryError> {
        let column = self.column();
        self.expect('(')?;
        let expr = match name {
            "deps" => {
                let x = self.expr()?;
                Expr::Deps(Box::new(x), self.number()?)
            }
            "rdeps" => {
                let universe = self.expr()?;
                self.expect(',')?;
                let x = self.expr()?;
                Expr::Rdeps(Box::new(universe), Box::new(x), self.number()?)
            }
            "allpaths" | "somepath" => {
                let from = self.expr()?;
                self.expect(',')?;
                let to = self.expr()?;
                if name == "allpaths" {
                    Expr::AllPaths(Box::new(from), Box::new(to))
                } else {
                    Expr::SomePath(Box::new(from), Box::new(to))
                }
            }
            "kind" | "filter" => {
                let pattern = self.word("a pattern")?;
                self.expect(',')?;
                let x = self.expr()?;
                if name == "kind" {
                    Expr::Kind(pattern, Box::new(x))
                } else {
                    Expr::Filter(pattern, Box::new(x))
                }
            }
            "attr" => {
                let attribute = self.word("a variable name")?;
                self.expect(',')?;
                let pattern = self.word("a pattern")?;
                self.expect(',')?;
                let x = self.expr()?;
                Expr::Attr(attribute, pattern, Box::new(x))
            }
            "set" => {
                let mut words = Vec::new();
                while let Token::Word(w) | Token::Quoted(w) = self.peek().clone() {
                    self.next();
                    words.push(w);
                }
                Expr::Set(words)
            }
            _ => {
                return Err(QueryError {
                    column: column.saturating_sub(name.chars().count()),
                    message: format!(
                        "unknown function '{name}' (known: deps, rdeps, allpaths, somepath, kind, filter, attr, set)"
                    ),
                });
            }
        };
        self.expect(')')?;
        Ok(expr)
    }
}

/// Parses a query expression.
pub fn parse(text: &str) -> Result<Expr, QueryError> {
    let mut parser = Parser {
        tokens: tokenize(text)?,
        at: 0,
    };
    let expr = parser.expr()?;
    if *parser.peek() != Token::End {
        return Err(parser.error("an operator or the end of the expression"));
    }
    Ok(expr)
}

impl Expr {
    /// The target words the expression names (not variables), in order.
    pub fn targets(&self) -> Vec<&str> {
        let mut out = Vec::new();
        self.collect_targets(&mut out);
        out
    }

    fn collect_targets<'a>(&'a self, out: &mut Vec<&'a str>) {
        match self {
            Expr::Target(t) => out.push(t),
            Expr::Set(words) => out.extend(words.iter().map(String::as_str)),
            Expr::Variable(_) => {}
            Expr::Let(_, a, b)
            | Expr::Binary(_, a, b)
            | Expr::Rdeps(a, b, _)
            | Expr::AllPaths(a, b)
            | Expr::SomePath(a, b) => {
                a.collect_targets(out);
                b.collect_targets(out);
            }
            Expr::Deps(a, _) | Expr::Kind(_, a) | Expr::Filter(_, a) | Expr::Attr(_, _, a) => {
                a.collect_targets(out)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operators_are_left_associative_with_equal_precedence() {
        let expr = parse("a + b - c ^ d").unwrap();
        let text = format!("{expr:?}");
        assert!(
            text.starts_with("Binary(Intersect, Binary(Except, Binary(Union"),
            "{text}"
        );
    }

    #[test]
    fn dashes_and_pluses_inside_words_are_part_of_them() {
        assert_eq!(
            parse("zlib-native + gtk+3").unwrap(),
            Expr::Binary(
                SetOp::Union,
                Box::new(Expr::Target("zlib-native".into())),
                Box::new(Expr::Target("gtk+3".into()))
            )
        );
    }

    #[test]
    fn errors_name_the_column_and_what_was_expected() {
        let err = parse("deps(zlib").unwrap_err();
        assert_eq!(err.column, 10);
        assert_eq!(err.message, "expected ')', found the end of the expression");
        let err = parse("kind(, zlib)").unwrap_err();
        assert_eq!(
            (err.column, err.message.as_str()),
            (6, "expected a pattern, found ','")
        );
        let err = parse("depz(zlib)").unwrap_err();
        assert_eq!(err.column, 1);
        let err = parse("let x = zlib y").unwrap_err();
        assert_eq!(
            (err.column, err.message.as_str()),
            (14, "expected 'in', found 'y'")
        );
    }
}
