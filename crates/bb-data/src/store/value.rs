//! Values stored in the datastore.

use std::sync::Arc;

use indexmap::IndexMap;

use super::Frozen;
use std::fmt;

/// A value held by a variable or a flag.
///
/// BitBake stores python objects; metadata files only ever store strings, but the parser
/// and python code store numbers (`[export] = 1`), booleans, lists and dicts too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// Python's `None`.
    None,
    /// A string: every value written in a metadata file.
    Str(String),
    /// An integer, such as the `1` of `[export]` set by `export VAR`.
    Int(i64),
    /// A boolean.
    Bool(bool),
    /// A list (python lists, tuples and sets).
    List(Vec<Value>),
    /// A dict with string keys, in insertion order.
    Map(IndexMap<String, Value>),
    /// A datastore (BitBake keeps the original environment, `BB_ORIGENV`, as one).
    Datastore(Arc<Frozen>),
}

impl Value {
    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Python's `str()`, taking the string itself when this is one (no copy).
    pub fn into_string(self) -> String {
        match self {
            Value::Str(s) => s,
            other => other.to_string(),
        }
    }

    /// The name of the python type this value is.
    pub fn python_type(&self) -> &'static str {
        match self {
            Value::None => "NoneType",
            Value::Str(_) => "str",
            Value::Int(_) => "int",
            Value::Bool(_) => "bool",
            Value::List(_) => "list",
            Value::Map(_) => "dict",
            Value::Datastore(_) => "DataSmart",
        }
    }

    /// Python's truth value.
    pub fn is_truthy(&self) -> bool {
        match self {
            Value::None => false,
            Value::Str(s) => !s.is_empty(),
            Value::Int(i) => *i != 0,
            Value::Bool(b) => *b,
            Value::List(l) => !l.is_empty(),
            Value::Map(m) => !m.is_empty(),
            Value::Datastore(_) => true,
        }
    }
}

impl fmt::Display for Value {
    /// Python's `str()`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::None => f.write_str("None"),
            Value::Str(s) => f.write_str(s),
            Value::Int(i) => write!(f, "{i}"),
            Value::Bool(true) => f.write_str("True"),
            Value::Bool(false) => f.write_str("False"),
            Value::List(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    item.fmt_repr(f)?;
                }
                f.write_str("]")
            }
            Value::Map(map) => {
                f.write_str("{")?;
                for (i, (key, value)) in map.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write_str_repr(f, key)?;
                    f.write_str(": ")?;
                    value.fmt_repr(f)?;
                }
                f.write_str("}")
            }
            Value::Datastore(store) => write!(
                f,
                "<bb.data_smart.DataSmart object at {:#x}>",
                Arc::as_ptr(store) as usize
            ),
        }
    }
}

impl Value {
    /// Python's `repr()`.
    fn fmt_repr(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Str(s) => write_str_repr(f, s),
            other => fmt::Display::fmt(other, f),
        }
    }
}

/// Python's `repr()` of a string: single quotes unless it holds only double ones.
fn write_str_repr(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    write!(f, "{quote}")?;
    for c in s.chars() {
        match c {
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            c if c == quote => write!(f, "\\{c}")?,
            c if (c as u32) < 0x20 || c as u32 == 0x7f => write!(f, "\\x{:02x}", c as u32)?,
            c => write!(f, "{c}")?,
        }
    }
    write!(f, "{quote}")
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Str(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Str(s)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

/// The items of a list value (empty for anything else).
pub(crate) fn list(value: Option<Value>) -> Vec<Value> {
    match value {
        Some(Value::List(items)) => items,
        _ => Vec::new(),
    }
}

/// `bb.utils.to_boolean`.
pub fn to_boolean(value: &Value) -> bool {
    match value {
        Value::Str(s) => matches!(s.to_lowercase().as_str(), "y" | "yes" | "1" | "true"),
        other => other.is_truthy(),
    }
}
