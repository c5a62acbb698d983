//! `${NAME}` references and `${@python}` expressions inside text.
//!
//! BitBake expands `\${[a-zA-Z0-9\-_+./~:]+}` and `\${@(?:{.*?}|.)+?}` (data_smart.py). A
//! reference whose name holds another reference (`${A_${B}}`) is one node with the inner
//! reference nested, since BitBake resolves it from the inside out.

use crate::SyntaxKind::{self, *};
use crate::logical::Events;

/// Deeper nesting is left as text: it keeps recursion bounded on hostile input.
const MAX_NESTING: usize = 32;

/// Characters BitBake allows in an expandable variable name.
pub(crate) fn is_ref_name_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'+' | b'.' | b'/' | b'~' | b':')
}

/// Emits `s[events.cursor()..end]` as `text_kind` tokens with `VAR_REF` and `PY_EXPR` nodes.
pub(crate) fn tokenize(events: &mut Events, s: &str, end: usize, text_kind: SyntaxKind) {
    tokenize_nested(events, s, end, text_kind, 0);
}

fn tokenize_nested(events: &mut Events, s: &str, end: usize, text_kind: SyntaxKind, depth: usize) {
    let bytes = &s.as_bytes()[..end];
    let mut pos = events.cursor();
    while let Some(found) = find_dollar_curly(bytes, pos) {
        pos = found;
        match reference_end(bytes, found, depth) {
            Some(ref_end) => {
                events.tok(text_kind, found);
                emit_reference(events, s, found, ref_end, depth);
                pos = ref_end;
            }
            None => pos += 1,
        }
    }
    events.tok(text_kind, end);
}

fn find_dollar_curly(bytes: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while i + 1 < bytes.len() {
        if bytes[i] == b'$' && bytes[i + 1] == b'{' {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// End (exclusive) of the reference or python expression starting at `start` (`${`).
fn reference_end(bytes: &[u8], start: usize, depth: usize) -> Option<usize> {
    if depth >= MAX_NESTING {
        return None;
    }
    if bytes.get(start + 2) == Some(&b'@') {
        python_end(bytes, start)
    } else {
        var_ref_end(bytes, start, depth)
    }
}

fn var_ref_end(bytes: &[u8], start: usize, depth: usize) -> Option<usize> {
    let mut q = start + 2;
    let mut has_name = false;
    loop {
        match *bytes.get(q)? {
            b'}' if has_name => return Some(q + 1),
            b if is_ref_name_char(b) => q += 1,
            b'$' if bytes.get(q + 1) == Some(&b'{') => q = reference_end(bytes, q, depth + 1)?,
            _ => return None,
        }
        has_name = true;
    }
}

/// The leftmost-first match of `\${@(?:{.*?}|.)+?}` at `start`: the first `}` after at
/// least one unit closes it, where a `{` unit jumps to the next `}` as long as some `}`
/// remains after that one.
pub(crate) fn python_end(bytes: &[u8], start: usize) -> Option<usize> {
    let line_end = bytes[start..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(bytes.len(), |i| start + i);
    let last_close = bytes[start..line_end].iter().rposition(|&b| b == b'}')? + start;
    let mut q = start + 3;
    let mut units = 0;
    while q < line_end {
        if units > 0 && bytes[q] == b'}' {
            return Some(q + 1);
        }
        if bytes[q] == b'{'
            && let Some(close) = bytes[q + 1..line_end].iter().position(|&b| b == b'}')
            && q + 1 + close < last_close
        {
            q += close + 2;
            units += 1;
            continue;
        }
        q += 1;
        units += 1;
    }
    None
}

fn emit_reference(events: &mut Events, s: &str, start: usize, end: usize, depth: usize) {
    let bytes = s.as_bytes();
    if bytes[start + 2] == b'@' {
        events.start(PY_EXPR);
        events.tok(DOLLAR_L_CURLY_AT, start + 3);
        tokenize_nested(events, s, end - 1, TEXT, depth + 1);
    } else {
        events.start(VAR_REF);
        events.tok(DOLLAR_L_CURLY, start + 2);
        tokenize_nested(events, s, end - 1, NAME, depth + 1);
    }
    events.tok(R_CURLY, end);
    events.finish();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn py(s: &str) -> Option<&str> {
        python_end(s.as_bytes(), 0).map(|end| &s[..end])
    }

    #[test]
    fn python_expression_extent_follows_bitbake_regex() {
        assert_eq!(py("${@1+1} x}"), Some("${@1+1}"));
        assert_eq!(py("${@'${X}'}"), Some("${@'${X}'}"));
        assert_eq!(py("${@{'a': 1}['a']}"), Some("${@{'a': 1}['a']}"));
        // The brace unit stops at the first `}`: nested dicts are cut, as in BitBake.
        assert_eq!(py("${@{'a': {1: 2}} }"), Some("${@{'a': {1: 2}}"));
        // A `{` with no `}` left after its own is an ordinary character.
        assert_eq!(py("${@ a {b}"), Some("${@ a {b}"));
        assert_eq!(py("${@}}"), Some("${@}}"));
        assert_eq!(py("${@ no close"), None);
        assert_eq!(py("${@}"), None);
    }

    #[test]
    fn var_ref_extent() {
        fn end(s: &str) -> Option<&str> {
            var_ref_end(s.as_bytes(), 0, 0).map(|e| &s[..e])
        }
        assert_eq!(end("${PN}-x"), Some("${PN}"));
        assert_eq!(end("${A_${B}}"), Some("${A_${B}}"));
        assert_eq!(end("${a b}"), None);
        assert_eq!(end("${}"), None);
        assert_eq!(end("${var:-default}"), Some("${var:-default}"));
    }
}
