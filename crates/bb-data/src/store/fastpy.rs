//! The commonest `${@…}` expressions of real metadata, evaluated without python.
//!
//! openembedded-core's parse evaluates ~185,000 inline expressions; most are small
//! expressions over a few variables: `d.getVar('X')` with `.replace('a', 'b')` or
//! `or 'default'`, `bb.utils.contains('VAR', 'items', 'yes', 'no', d)`, and picks such as
//! `['', '-gnu'][(d.getVar('ABIEXTENSION') or '') != '']`. This module evaluates a small
//! subset of python's expressions with python's exact semantics: string, integer, bool,
//! None and list literals, `and`/`or`/`not`, `x if c else y`, comparisons, `+`, indexing,
//! `.replace()`/`.strip()`/`.split()`, `bool()`, `int()`, `os.path.dirname()`, `d.getVar()`
//! and a few `bb` functions. Anything else, and any operation python would raise on, goes
//! to the python host as before (so python reports it).

use rustc_hash::FxHashMap as HashMap;
use std::cell::RefCell;
use std::rc::Rc;

use crate::{DataError, DataStore, Value};

/// A parsed expression of the supported subset.
enum Expr {
    Str(String),
    Int(i64),
    Bool(bool),
    None,
    List(Vec<Expr>),
    /// `d.getVar('X'[, False])`.
    GetVar {
        var: String,
        expand: bool,
    },
    /// `bb.parse.vars_from_file(d.getVar('FILE', False), d)`: PN, PV and PR from the
    /// recipe's file name.
    VarsFromFile,
    /// `bb.utils.contains` (every item) or `contains_any` (some item), with the items as
    /// one string.
    Contains {
        var: String,
        items: String,
        yes: Box<Expr>,
        no: Box<Expr>,
        any: bool,
    },
    /// `bb.utils.filter('VAR', 'items', d)`.
    Filter {
        var: String,
        items: String,
    },
    Call(Builtin, Box<Expr>),
    Replace(Box<Expr>, String, String),
    Strip(Box<Expr>),
    Split(Box<Expr>),
    Index(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Compare(Box<Expr>, Compare, Box<Expr>),
    Add(Box<Expr>, Box<Expr>),
    IfElse {
        then: Box<Expr>,
        condition: Box<Expr>,
        otherwise: Box<Expr>,
    },
}

#[derive(Clone, Copy)]
enum Builtin {
    Bool,
    Int,
    Dirname,
}

#[derive(Clone, Copy, PartialEq)]
enum Compare {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
    NotIn,
}

/// A python value of the subset.
#[derive(Clone)]
enum Py {
    Str(String),
    Int(i64),
    Bool(bool),
    None,
    List(Vec<Py>),
}

impl Py {
    fn truthy(&self) -> bool {
        match self {
            Py::Str(s) => !s.is_empty(),
            Py::Int(i) => *i != 0,
            Py::Bool(b) => *b,
            Py::None => false,
            Py::List(items) => !items.is_empty(),
        }
    }

    /// The value as a number, for bools and ints (python's bool is an int).
    fn number(&self) -> Option<i64> {
        match self {
            Py::Int(i) => Some(*i),
            Py::Bool(b) => Some(i64::from(*b)),
            _ => None,
        }
    }

    /// `==`: values of different types are unequal, except bools and ints.
    fn equals(&self, other: &Py) -> bool {
        match (self, other) {
            (Py::Str(a), Py::Str(b)) => a == b,
            (Py::None, Py::None) => true,
            (Py::List(a), Py::List(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.equals(y))
            }
            (a, b) => match (a.number(), b.number()) {
                (Some(x), Some(y)) => x == y,
                _ => false,
            },
        }
    }

    /// `str(value)`; lists (whose repr quotes strings) are left to python.
    fn into_str(self) -> Option<String> {
        match self {
            Py::Str(s) => Some(s),
            Py::Int(i) => Some(i.to_string()),
            Py::Bool(b) => Some(if b { "True" } else { "False" }.to_owned()),
            Py::None => Some("None".to_owned()),
            Py::List(_) => None,
        }
    }
}

/// Python's `str.isspace` characters: Rust's whitespace and the four separators
/// U+001C..U+001F.
fn is_python_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

#[derive(Clone, PartialEq, Debug)]
enum Token {
    Str(String),
    Int(i64),
    Name(String),
    Punct(&'static str),
}

const PUNCTS: [&str; 13] = [
    "==", "!=", "<=", ">=", "<", ">", "(", ")", "[", "]", ",", ".", "+",
];

/// The tokens of `code`; `None` for anything outside the subset (escapes, prefixes,
/// floats, other operators).
fn tokens(code: &str) -> Option<Vec<Token>> {
    let mut out = Vec::new();
    let mut rest = code;
    loop {
        rest = rest.trim_start_matches([' ', '\t']);
        let Some(c) = rest.chars().next() else {
            return Some(out);
        };
        if c == '\'' || c == '"' {
            let body = &rest[1..];
            let end = body.find(c)?;
            let text = &body[..end];
            if text.contains(['\\', '\n']) {
                return None;
            }
            out.push(Token::Str(text.to_owned()));
            rest = &body[end + 1..];
        } else if c.is_ascii_digit() {
            let len = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            let digits = &rest[..len];
            let next = rest[len..].chars().next();
            // Leading zeros, floats, `1_000`, `1j`, `0x…`: python's business.
            if (digits.len() > 1 && digits.starts_with('0'))
                || next.is_some_and(|n| n.is_alphanumeric() || n == '_' || n == '.')
            {
                return None;
            }
            out.push(Token::Int(digits.parse().ok()?));
            rest = &rest[len..];
        } else if c.is_ascii_alphabetic() || c == '_' {
            let len = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            if rest[len..].chars().next().is_some_and(|n| !n.is_ascii()) {
                return None;
            }
            out.push(Token::Name(rest[..len].to_owned()));
            rest = &rest[len..];
        } else {
            let punct = PUNCTS.iter().find(|p| rest.starts_with(**p))?;
            // `<<`, `>>`, `==` after `=`…: not in the subset.
            if matches!(*punct, "<" | ">") && rest[1..].starts_with(['<', '>', '=']) {
                return None;
            }
            out.push(Token::Punct(punct));
            rest = &rest[punct.len()..];
        }
    }
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        token
    }

    fn eat_punct(&mut self, punct: &str) -> bool {
        let found = matches!(self.peek(), Some(Token::Punct(p)) if *p == punct);
        if found {
            self.at += 1;
        }
        found
    }

    fn eat_name(&mut self, name: &str) -> bool {
        let found = matches!(self.peek(), Some(Token::Name(n)) if n == name);
        if found {
            self.at += 1;
        }
        found
    }

    fn expect_punct(&mut self, punct: &str) -> Option<()> {
        self.eat_punct(punct).then_some(())
    }

    fn expect_name(&mut self, name: &str) -> Option<()> {
        self.eat_name(name).then_some(())
    }

    fn string(&mut self) -> Option<String> {
        match self.next()? {
            Token::Str(s) => Some(s),
            _ => None,
        }
    }

    /// `X if C else Y`, or a disjunction.
    fn expression(&mut self) -> Option<Expr> {
        let then = self.disjunction()?;
        if !self.eat_name("if") {
            return Some(then);
        }
        let condition = self.disjunction()?;
        self.expect_name("else")?;
        let otherwise = self.expression()?;
        Some(Expr::IfElse {
            then: Box::new(then),
            condition: Box::new(condition),
            otherwise: Box::new(otherwise),
        })
    }

    fn disjunction(&mut self) -> Option<Expr> {
        let mut left = self.conjunction()?;
        while self.eat_name("or") {
            left = Expr::Or(Box::new(left), Box::new(self.conjunction()?));
        }
        Some(left)
    }

    fn conjunction(&mut self) -> Option<Expr> {
        let mut left = self.negation()?;
        while self.eat_name("and") {
            left = Expr::And(Box::new(left), Box::new(self.negation()?));
        }
        Some(left)
    }

    fn negation(&mut self) -> Option<Expr> {
        if self.eat_name("not") {
            return Some(Expr::Not(Box::new(self.negation()?)));
        }
        self.comparison()
    }

    /// The comparison operator at the cursor and how many tokens it takes (`not in`: 2).
    fn comparison_operator(&self) -> Option<(Compare, usize)> {
        let name = |at: usize, word: &str| matches!(self.tokens.get(at), Some(Token::Name(n)) if n == word);
        Some(match self.peek()? {
            Token::Punct("==") => (Compare::Eq, 1),
            Token::Punct("!=") => (Compare::Ne, 1),
            Token::Punct("<") => (Compare::Lt, 1),
            Token::Punct("<=") => (Compare::Le, 1),
            Token::Punct(">") => (Compare::Gt, 1),
            Token::Punct(">=") => (Compare::Ge, 1),
            _ if name(self.at, "in") => (Compare::In, 1),
            _ if name(self.at, "not") && name(self.at + 1, "in") => (Compare::NotIn, 2),
            _ => return None,
        })
    }

    /// One comparison at most: python's chains (`a < b < c`) are left to python.
    fn comparison(&mut self) -> Option<Expr> {
        let left = self.sum()?;
        let Some((op, tokens)) = self.comparison_operator() else {
            return Some(left);
        };
        self.at += tokens;
        let right = self.sum()?;
        if self.comparison_operator().is_some() {
            return None;
        }
        Some(Expr::Compare(Box::new(left), op, Box::new(right)))
    }

    fn sum(&mut self) -> Option<Expr> {
        let mut left = self.postfix()?;
        while self.eat_punct("+") {
            left = Expr::Add(Box::new(left), Box::new(self.postfix()?));
        }
        Some(left)
    }

    fn postfix(&mut self) -> Option<Expr> {
        let mut expr = self.atom()?;
        loop {
            if self.eat_punct("[") {
                let index = self.expression()?;
                self.expect_punct("]")?;
                expr = Expr::Index(Box::new(expr), Box::new(index));
            } else if self.eat_punct(".") {
                let Some(Token::Name(method)) = self.next() else {
                    return None;
                };
                self.expect_punct("(")?;
                expr = match method.as_str() {
                    "replace" => {
                        // python's str.replace("", x) inserts x between every character.
                        let from = self.string().filter(|f| !f.is_empty())?;
                        self.expect_punct(",")?;
                        let to = self.string()?;
                        Expr::Replace(Box::new(expr), from, to)
                    }
                    "strip" => Expr::Strip(Box::new(expr)),
                    "split" => Expr::Split(Box::new(expr)),
                    _ => return None,
                };
                self.expect_punct(")")?;
            } else {
                return Some(expr);
            }
        }
    }

    /// The dotted name at the cursor (`bb.utils.contains`).
    fn dotted_name(&mut self, first: String) -> Option<String> {
        let mut name = first;
        while matches!(self.peek(), Some(Token::Punct("."))) {
            let Some(Token::Name(part)) = self.tokens.get(self.at + 1).cloned() else {
                return None;
            };
            // A method call on a name's value (`d.getVar(…).replace`) ends the name.
            if !matches!(
                name.as_str(),
                "d" | "bb" | "bb.utils" | "bb.parse" | "os" | "os.path"
            ) {
                break;
            }
            self.at += 2;
            name = format!("{name}.{part}");
        }
        Some(name)
    }

    fn atom(&mut self) -> Option<Expr> {
        match self.next()? {
            Token::Str(s) => Some(Expr::Str(s)),
            Token::Int(i) => Some(Expr::Int(i)),
            Token::Punct("(") => {
                let inner = self.expression()?;
                self.expect_punct(")")?;
                Some(inner)
            }
            Token::Punct("[") => {
                let mut items = Vec::new();
                while !self.eat_punct("]") {
                    items.push(self.expression()?);
                    if !self.eat_punct(",") {
                        self.expect_punct("]")?;
                        break;
                    }
                }
                Some(Expr::List(items))
            }
            Token::Name(name) => match self.dotted_name(name)?.as_str() {
                "True" => Some(Expr::Bool(true)),
                "False" => Some(Expr::Bool(false)),
                "None" => Some(Expr::None),
                callee => {
                    let callee = callee.to_owned();
                    self.expect_punct("(")?;
                    let call = self.call(&callee)?;
                    self.expect_punct(")")?;
                    Some(call)
                }
            },
            Token::Punct(_) => None,
        }
    }

    /// The arguments of a supported function, up to its `)`.
    fn call(&mut self, callee: &str) -> Option<Expr> {
        match callee {
            "d.getVar" => {
                let var = self.string()?;
                let expand = if self.eat_punct(",") {
                    match self.next()? {
                        Token::Name(n) if n == "False" => false,
                        Token::Name(n) if n == "True" => true,
                        _ => return None,
                    }
                } else {
                    true
                };
                Some(Expr::GetVar { var, expand })
            }
            "bb.parse.vars_from_file" => {
                self.expect_name("d")?;
                self.expect_punct(".")?;
                self.expect_name("getVar")?;
                self.expect_punct("(")?;
                (self.string()? == "FILE").then_some(())?;
                self.expect_punct(",")?;
                self.expect_name("False")?;
                self.expect_punct(")")?;
                self.expect_punct(",")?;
                self.expect_name("d")?;
                Some(Expr::VarsFromFile)
            }
            "bb.utils.contains" | "bb.utils.contains_any" => {
                let var = self.string()?;
                self.expect_punct(",")?;
                let items = self.string()?;
                self.expect_punct(",")?;
                let yes = self.expression()?;
                self.expect_punct(",")?;
                let no = self.expression()?;
                self.expect_punct(",")?;
                self.expect_name("d")?;
                Some(Expr::Contains {
                    var,
                    items,
                    yes: Box::new(yes),
                    no: Box::new(no),
                    any: callee.ends_with("_any"),
                })
            }
            "bb.utils.filter" => {
                let var = self.string()?;
                self.expect_punct(",")?;
                let items = self.string()?;
                self.expect_punct(",")?;
                self.expect_name("d")?;
                Some(Expr::Filter { var, items })
            }
            "bool" | "int" | "os.path.dirname" => {
                let builtin = match callee {
                    "bool" => Builtin::Bool,
                    "int" => Builtin::Int,
                    _ => Builtin::Dirname,
                };
                Some(Expr::Call(builtin, Box::new(self.expression()?)))
            }
            _ => None,
        }
    }
}

fn parse(code: &str) -> Option<Expr> {
    let mut parser = Parser {
        tokens: tokens(code)?,
        at: 0,
    };
    let expr = parser.expression()?;
    (parser.at == parser.tokens.len()).then_some(expr)
}

thread_local! {
    /// Parses by code: a parse's few thousand distinct expressions are evaluated ~185,000
    /// times. `None` remembers code that is python's.
    static PARSED: RefCell<HashMap<String, Option<Rc<Expr>>>> = RefCell::default();
}

/// Bounds the parse memo of a long-lived process.
const PARSED_MAX: usize = 100_000;

fn parsed(code: &str) -> Option<Rc<Expr>> {
    PARSED.with(|memo| {
        if let Some(known) = memo.borrow().get(code) {
            return known.clone();
        }
        let expr = parse(code).map(Rc::new);
        let mut memo = memo.borrow_mut();
        if memo.len() >= PARSED_MAX {
            memo.clear();
        }
        memo.insert(code.to_owned(), expr.clone());
        expr
    })
}

/// The value of `code` as python's `str()` of it would give, when `code` is in the
/// supported subset and python would not raise on the values it reads; `None` otherwise.
pub(crate) fn eval(d: &DataStore, code: &str) -> Option<Result<String, DataError>> {
    let expr = parsed(code)?;
    match evaluate(d, &expr) {
        Ok(Some(value)) => value.into_str().map(Ok),
        Ok(None) => None,
        Err(err) => Some(Err(err)),
    }
}

/// The words of python's `str.split()`.
fn python_words(s: &str) -> impl Iterator<Item = &str> {
    s.split(is_python_space).filter(|w| !w.is_empty())
}

/// `f` of the value `bb.utils.contains`/`filter` read of `var` (unset reads as empty),
/// lent from the expansion cache (DISTRO_FEATURES and the like are long, and read for
/// every recipe many times); `None` when it is not a string.
fn with_feature_value<T>(
    d: &DataStore,
    var: &str,
    f: impl FnOnce(&str) -> T,
) -> Result<Option<T>, DataError> {
    d.with_var(var, |value| match value {
        Some(Value::Str(s)) => Some(f(s)),
        None => Some(f("")),
        _ => None,
    })
}

/// `Ok(None)` where python would raise (or do what this module does not): python then
/// evaluates the expression itself. One arm per kind of expression, each python's
/// semantics for it: an interpreter's dispatch, read arm by arm, hence its length.
fn evaluate(d: &DataStore, expr: &Expr) -> Result<Option<Py>, DataError> {
    let value = |e: &Expr| evaluate(d, e);
    Ok(Some(match expr {
        Expr::Str(s) => Py::Str(s.clone()),
        Expr::Int(i) => Py::Int(*i),
        Expr::Bool(b) => Py::Bool(*b),
        Expr::None => Py::None,
        Expr::List(items) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                let Some(v) = value(item)? else {
                    return Ok(None);
                };
                out.push(v);
            }
            Py::List(out)
        }
        Expr::GetVar { var, expand } => {
            let read = if *expand {
                d.get_var(var)?
            } else {
                d.get_var_raw(var)?
            };
            match read {
                Some(Value::Str(s)) => Py::Str(s),
                None => Py::None,
                _ => return Ok(None),
            }
        }
        Expr::VarsFromFile => {
            let Some(Value::Str(file)) = d.get_var_raw("FILE")? else {
                return Ok(None);
            };
            if !file.ends_with(".bb") && !file.ends_with(".bbappend") {
                return Ok(None);
            }
            let base = file.rsplit('/').next().unwrap_or(&file);
            // os.path.splitext: the last dot, unless the name only starts with dots.
            let stem = match base.rfind('.') {
                Some(dot) if base[..dot].chars().any(|c| c != '.') => &base[..dot],
                _ => base,
            };
            let mut parts: Vec<Py> = stem.split('_').map(|p| Py::Str(p.to_owned())).collect();
            if parts.len() > 3 {
                // BitBake raises a ParseError: let python say it.
                return Ok(None);
            }
            parts.resize(3, Py::None);
            Py::List(parts)
        }
        Expr::Contains {
            var,
            items,
            yes,
            no,
            any,
        } => {
            // python evaluates both values before the call.
            let (Some(yes), Some(no)) = (value(yes)?, value(no)?) else {
                return Ok(None);
            };
            let matched = with_feature_value(d, var, |have| {
                let words: Vec<&str> = python_words(have).collect();
                let mut wanted = python_words(items);
                // An empty value is python's falsy `val`: the false value.
                !have.is_empty()
                    && if *any {
                        wanted.any(|i| words.contains(&i))
                    } else {
                        wanted.all(|i| words.contains(&i))
                    }
            })?;
            match matched {
                Some(true) => yes,
                Some(false) => no,
                None => return Ok(None),
            }
        }
        Expr::Filter { var, items } => {
            let kept = with_feature_value(d, var, |have| {
                let words: Vec<&str> = python_words(have).collect();
                let mut kept: Vec<&str> =
                    python_words(items).filter(|i| words.contains(i)).collect();
                kept.sort_unstable();
                kept.dedup();
                kept.join(" ")
            })?;
            match kept {
                Some(kept) => Py::Str(kept),
                None => return Ok(None),
            }
        }
        Expr::Call(builtin, arg) => {
            let Some(arg) = value(arg)? else {
                return Ok(None);
            };
            match (builtin, arg) {
                (Builtin::Bool, arg) => Py::Bool(arg.truthy()),
                (Builtin::Int, Py::Str(s)) => {
                    let digits = s.trim_matches(is_python_space);
                    let unsigned = digits.strip_prefix(['+', '-']).unwrap_or(digits);
                    if unsigned.is_empty() || !unsigned.bytes().all(|b| b.is_ascii_digit()) {
                        return Ok(None);
                    }
                    match digits.parse::<i64>() {
                        Ok(i) => Py::Int(i),
                        Err(_) => return Ok(None),
                    }
                }
                (Builtin::Int, arg) => match arg.number() {
                    Some(i) => Py::Int(i),
                    None => return Ok(None),
                },
                (Builtin::Dirname, Py::Str(p)) => {
                    // posixpath.dirname: up to the last '/', trailing slashes dropped
                    // unless it is all slashes.
                    let head = &p[..p.rfind('/').map_or(0, |i| i + 1)];
                    if head.bytes().all(|b| b == b'/') {
                        Py::Str(head.to_owned())
                    } else {
                        Py::Str(head.trim_end_matches('/').to_owned())
                    }
                }
                (Builtin::Dirname, _) => return Ok(None),
            }
        }
        Expr::Replace(target, from, to) => match value(target)? {
            Some(Py::Str(s)) => Py::Str(s.replace(from.as_str(), to)),
            _ => return Ok(None),
        },
        Expr::Strip(target) => match value(target)? {
            Some(Py::Str(s)) => Py::Str(s.trim_matches(is_python_space).to_owned()),
            _ => return Ok(None),
        },
        Expr::Split(target) => match value(target)? {
            Some(Py::Str(s)) => Py::List(python_words(&s).map(|w| Py::Str(w.to_owned())).collect()),
            _ => return Ok(None),
        },
        Expr::Index(target, index) => {
            let (Some(Py::List(items)), Some(index)) = (value(target)?, value(index)?) else {
                return Ok(None);
            };
            let Some(i) = index.number() else {
                return Ok(None);
            };
            let len = items.len() as i64;
            let at = if i < 0 { i + len } else { i };
            match usize::try_from(at)
                .ok()
                .and_then(|at| items.into_iter().nth(at))
            {
                Some(item) => item,
                None => return Ok(None),
            }
        }
        Expr::Not(inner) => match value(inner)? {
            Some(v) => Py::Bool(!v.truthy()),
            None => return Ok(None),
        },
        Expr::And(left, right) => match value(left)? {
            Some(l) if !l.truthy() => l,
            Some(_) => return value(right),
            None => return Ok(None),
        },
        Expr::Or(left, right) => match value(left)? {
            Some(l) if l.truthy() => l,
            Some(_) => return value(right),
            None => return Ok(None),
        },
        Expr::IfElse {
            then,
            condition,
            otherwise,
        } => match value(condition)? {
            Some(c) => return value(if c.truthy() { then } else { otherwise }),
            None => return Ok(None),
        },
        Expr::Add(left, right) => {
            let (Some(l), Some(r)) = (value(left)?, value(right)?) else {
                return Ok(None);
            };
            match (l, r) {
                (Py::Str(a), Py::Str(b)) => Py::Str(a + &b),
                (Py::List(mut a), Py::List(b)) => {
                    a.extend(b);
                    Py::List(a)
                }
                (a, b) => match (a.number(), b.number()) {
                    (Some(x), Some(y)) => match x.checked_add(y) {
                        Some(sum) => Py::Int(sum),
                        None => return Ok(None),
                    },
                    _ => return Ok(None),
                },
            }
        }
        Expr::Compare(left, op, right) => {
            let (Some(l), Some(r)) = (value(left)?, value(right)?) else {
                return Ok(None);
            };
            let result = match op {
                Compare::Eq => l.equals(&r),
                Compare::Ne => !l.equals(&r),
                Compare::In | Compare::NotIn => {
                    let found = match (&l, &r) {
                        (Py::Str(needle), Py::Str(hay)) => hay.contains(needle.as_str()),
                        (needle, Py::List(items)) => items.iter().any(|i| i.equals(needle)),
                        _ => return Ok(None),
                    };
                    found == (*op == Compare::In)
                }
                ordering => {
                    let order = match (&l, &r) {
                        (Py::Str(a), Py::Str(b)) => a.cmp(b),
                        (a, b) => match (a.number(), b.number()) {
                            (Some(x), Some(y)) => x.cmp(&y),
                            _ => return Ok(None),
                        },
                    };
                    match ordering {
                        Compare::Lt => order.is_lt(),
                        Compare::Le => order.is_le(),
                        Compare::Gt => order.is_gt(),
                        _ => order.is_ge(),
                    }
                }
            };
            Py::Bool(result)
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::eval;
    use crate::DataStore;

    fn run(d: &DataStore, code: &str) -> Option<String> {
        eval(d, code).map(|r| r.expect("no error"))
    }

    #[test]
    fn evaluates_the_supported_shapes_as_python() {
        let d = DataStore::new();
        d.set_var("TARGET_ARCH", "x86_64").unwrap();
        d.set_var("TUNE_FEATURES", "m64 core2").unwrap();
        d.set_var("EMPTY", "").unwrap();
        d.set_var("REF", "${TARGET_ARCH}").unwrap();
        assert_eq!(
            run(&d, "d.getVar('TARGET_ARCH').replace(\"_\", \"-\")").as_deref(),
            Some("x86-64")
        );
        assert_eq!(run(&d, "d.getVar('UNSET') or ''").as_deref(), Some(""));
        assert_eq!(run(&d, "d.getVar('UNSET')").as_deref(), Some("None"));
        assert_eq!(run(&d, "d.getVar('EMPTY') or 'x'").as_deref(), Some("x"));
        assert_eq!(
            run(&d, "d.getVar('REF', False)").as_deref(),
            Some("${TARGET_ARCH}")
        );
        assert_eq!(run(&d, "d.getVar('REF')").as_deref(), Some("x86_64"));
        assert_eq!(
            run(
                &d,
                "bb.utils.contains('TUNE_FEATURES', 'm64', 'x86_64', '', d)"
            )
            .as_deref(),
            Some("x86_64")
        );
        assert_eq!(
            run(
                &d,
                "bb.utils.contains('TUNE_FEATURES', 'm64 mx32', 'y', 'n', d)"
            )
            .as_deref(),
            Some("n")
        );
        assert_eq!(
            run(&d, "bb.utils.contains('TUNE_FEATURES', '', 'y', 'n', d)").as_deref(),
            Some("y")
        );
        assert_eq!(
            run(&d, "bb.utils.contains('EMPTY', '', 'y', 'n', d)").as_deref(),
            Some("n")
        );
        assert_eq!(
            run(&d, "bb.utils.contains('UNSET', 'a', 'y', 'n', d)").as_deref(),
            Some("n")
        );
    }

    #[test]
    fn evaluates_small_python_expressions() {
        let d = DataStore::new();
        d.set_var("ABIEXTENSION", "").unwrap();
        d.set_var("PE", " 2 ").unwrap();
        d.set_var("FILE", "/l/foo_1.0.bb").unwrap();
        for (code, expected) in [
            ("['', '-gnu'][(d.getVar('ABIEXTENSION') or '') != '']", ""),
            ("['', '-gnu'][(d.getVar('UNSET') or 'x') != '']", "-gnu"),
            ("['',''][int(d.getVar('PE') or 0) > 0]", ""),
            ("['','1:'][int(d.getVar('PE') or 0) > 0]", "1:"),
            ("'a' if d.getVar('PE').strip() == '2' else 'b'", "a"),
            ("os.path.dirname(d.getVar('FILE', False))", "/l"),
            (
                "bb.parse.vars_from_file(d.getVar('FILE', False), d)[2]",
                "None",
            ),
            ("not d.getVar('UNSET')", "True"),
            ("1 == True", "True"),
            ("'x' + 'y' in ['xy']", "True"),
        ] {
            assert_eq!(run(&d, code).as_deref(), Some(expected), "{code}");
        }
    }

    #[test]
    fn leaves_everything_else_to_python() {
        let d = DataStore::new();
        for code in [
            // python raises on these
            "d.getVar('UNSET').strip()",
            "int('x')",
            "['a'][1]",
            "'a' + 1",
            "'a' < 1",
            "bb.utils.contains('UNSET', 'x', d.getVar('UNSET').strip(), 'n', d)",
            // outside the subset
            "[1, 2] + [3]",
            "1 < 2 < 3",
            "'a' 'b'",
            "-1",
            "f'x'",
            "lambda: 1",
            "'a' is 'a'",
            "int('1_0')",
            "d.getVar('X', expand=False)",
            "d.getVar('X')[0]",
            "d.getVar('UNSET').replace('a', 'b')",
            "d.getVar('X') + 'y'",
            "d.getVar(\"A\\\"B\")",
            "bb.utils.contains('A', ['x'], 'y', 'n', d)",
            "d.getVar('X').replace('', 'b')",
            "os.getcwd()",
            "bb.parse.vars_from_file(d.getVar('FILE', False),d)[3]",
        ] {
            assert!(eval(&d, code).is_none(), "{code}");
        }
    }
}
