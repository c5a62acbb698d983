//! Classifies one logical line the way BitBake's `BBHandler.feeder` and
//! `ConfHandler.feeder` do, producing the events of its subtree.
//!
//! The regular expressions of those handlers are matched by hand, in the same order and
//! with the same backtracking results, because the assignment pattern needs a backreference
//! and lookaheads.

use std::ops::Range;

use crate::Severity;
use crate::SyntaxKind::{self, *};
use crate::lines::{is_py_space, is_py_word, space_prefix_len};
use crate::logical::Events;
use crate::template::tokenize;

/// What a logical line turned out to be.
pub(crate) struct Classified {
    pub(crate) kind: SyntaxKind,
    pub(crate) events: Events,
    pub(crate) diagnostics: Vec<(Range<usize>, Severity, String)>,
    pub(crate) block: Option<Block>,
}

/// A statement that continues on the following lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Block {
    /// `NAME () {` up to a line that is exactly `}`. `python_body` selects the tab warning.
    Function { python_body: bool },
    /// `def NAME(...):` followed by indented, blank or `#` lines.
    Def,
}

impl Classified {
    fn new(kind: SyntaxKind) -> Self {
        Classified {
            kind,
            events: Events::default(),
            diagnostics: Vec::new(),
            block: None,
        }
    }

    fn error(&mut self, range: Range<usize>, message: String) {
        self.diagnostics.push((range, Severity::Error, message));
    }
}

/// Classifies a statement of a `.bb`, `.bbappend`, `.bbclass` or `.inc` file.
pub(crate) fn classify_recipe(s: &str) -> Classified {
    if let Some(c) = function_header(s) {
        return c;
    }
    if let Some(c) = def_header(s) {
        return c;
    }
    if let Some(arg) = keyword_args(s, "EXPORT_FUNCTIONS") {
        return keyword_statement(s, EXPORT_FUNCTIONS_STMT, EXPORT_FUNCTIONS_KW, arg);
    }
    if let Some(args) = task_args(s, "addtask") {
        let mut c = task_statement(s, ADDTASK_STMT, ADDTASK_KW, args);
        check_task_keywords(s, &mut c);
        return c;
    }
    if let Some(args) = task_args(s, "deltask") {
        return task_statement(s, DELTASK_STMT, DELTASK_KW, args);
    }
    if let Some(arg) = keyword_args(s, "addhandler") {
        return keyword_statement(s, ADDHANDLER_STMT, ADDHANDLER_KW, arg);
    }
    if let Some(arg) = keyword_args(s, "inherit") {
        return keyword_statement(s, INHERIT_STMT, INHERIT_KW, arg);
    }
    if let Some(arg) = keyword_args(s, "inherit_defer") {
        return keyword_statement(s, INHERIT_STMT, INHERIT_DEFER_KW, arg);
    }
    classify_conf(s, false)
}

/// Classifies a statement with `ConfHandler.feeder`'s rules; `conf_file` is false when
/// BBHandler falls back to it for a recipe-like file.
pub(crate) fn classify_conf(s: &str, conf_file: bool) -> Classified {
    if let Some(m) = match_assignment(s) {
        return assignment(s, &m);
    }
    for (keyword, kw_kind) in [
        ("include", INCLUDE_KW),
        ("require", REQUIRE_KW),
        ("include_all", INCLUDE_ALL_KW),
    ] {
        if let Some(arg) = keyword_args(s, keyword) {
            return keyword_statement(s, INCLUDE_STMT, kw_kind, arg);
        }
    }
    if let Some(c) = export_or_unset(s) {
        return c;
    }
    if conf_file && let Some(arg) = keyword_groups(s, "addpylib", 2) {
        return keyword_statement(s, ADDPYLIB_STMT, ADDPYLIB_KW, arg);
    }
    if let Some(arg) = keyword_groups(s, "addfragments", 4) {
        return keyword_statement(s, ADDFRAGMENTS_STMT, ADDFRAGMENTS_KW, arg);
    }
    unparsed(s, conf_file)
}

fn unparsed(s: &str, conf_file: bool) -> Classified {
    let mut c = Classified::new(ERROR);
    c.events.tok(TEXT, s.len());
    let hint = unparsed_hint(s, conf_file);
    let message = match hint {
        Some(hint) => format!("unparsed line: '{s}' ({hint})"),
        None => format!("unparsed line: '{s}'"),
    };
    c.error(0..s.len(), message);
    c
}

/// Why a line BitBake rejects was probably meant otherwise, for the error message.
fn unparsed_hint(s: &str, conf_file: bool) -> Option<&'static str> {
    if s.starts_with(is_py_space) {
        return Some("statements and comments must start in the first column");
    }
    let word = s
        .split(|c: char| is_py_space(c) || c == '[')
        .next()
        .unwrap_or("");
    if word == "unset" && s.contains(':') {
        return Some("unset takes a plain variable name, without ':' overrides");
    }
    if conf_file {
        if [
            "inherit",
            "inherit_defer",
            "addtask",
            "deltask",
            "addhandler",
            "EXPORT_FUNCTIONS",
        ]
        .contains(&word)
        {
            return Some("this statement is not allowed in a .conf file");
        }
        if function_header(s).is_some() || def_header(s).is_some() {
            return Some("functions are not allowed in a .conf file");
        }
    } else if word == "addpylib" {
        return Some("addpylib is only allowed in configuration files");
    }
    if s.contains("]:") && s.contains('[') {
        return Some("override and :append syntax cannot be applied to a flag");
    }
    if let Some(quote_at) = s.find(['"', '\'']) {
        let quote = s.as_bytes()[quote_at];
        let count = s[quote_at..].bytes().filter(|&b| b == quote).count();
        if count == 3 && s.ends_with(quote as char) {
            return Some("a value may not contain exactly one quote of the kind that encloses it");
        }
        if !s.ends_with(quote as char) && count >= 2 {
            return Some("the closing quote must end the line; no comment may follow a value");
        }
        if count == 1 {
            return Some("the value has no closing quote");
        }
    }
    None
}

/// Matches `KEYWORD\s+(.+)` at the start of `s`; returns where the argument starts.
fn keyword_args(s: &str, keyword: &str) -> Option<usize> {
    let rest = s.strip_prefix(keyword)?;
    let ws = space_prefix_len(rest);
    if ws == 0 {
        return None;
    }
    if ws < rest.len() {
        return Some(keyword.len() + ws);
    }
    // Only whitespace follows: `\s+` gives its last character back to `(.+)`.
    let last = rest.chars().next_back()?.len_utf8();
    (ws > last).then(|| s.len() - last)
}

/// Matches `KEYWORD\s+(.+)\s+(.+)…` with `groups` groups; returns where the groups start.
/// The leading `\s+` is greedy, so it gives back whitespace only when the groups need it.
fn keyword_groups(s: &str, keyword: &str, groups: usize) -> Option<usize> {
    let rest = s.strip_prefix(keyword)?;
    let ws = space_prefix_len(rest);
    // Ends of the `\s+`, longest first; it must keep at least one character.
    let ends: Vec<usize> = rest[..ws]
        .char_indices()
        .skip(1)
        .map(|(i, _)| i)
        .chain([ws])
        .collect();
    ends.into_iter()
        .rev()
        .find(|&start| split_greedy(&rest[start..], groups).is_some())
        .map(|start| keyword.len() + start)
}

fn keyword_statement(s: &str, kind: SyntaxKind, kw: SyntaxKind, arg: usize) -> Classified {
    let mut c = Classified::new(kind);
    let kw_len = s.find(is_py_space).unwrap_or(s.len());
    c.events.tok(kw, kw_len);
    c.events.tok(WHITESPACE, arg);
    c.events.start(ARGS);
    tokenize(&mut c.events, s, s.len(), TEXT);
    c.events.finish();
    c
}

/// `addtask\s+([^#\n]+)(#.*|.*?)`: the arguments run up to the first `#`.
fn task_args(s: &str, keyword: &str) -> Option<Range<usize>> {
    let rest = s.strip_prefix(keyword)?;
    let ws = space_prefix_len(rest);
    if ws == 0 {
        return None;
    }
    let mut start = keyword.len() + ws;
    if start == s.len() || s.as_bytes()[start] == b'#' {
        let last = rest[..ws].chars().next_back()?.len_utf8();
        if ws == last {
            return None;
        }
        start -= last;
    }
    let end = s[start..].find('#').map_or(s.len(), |i| start + i);
    Some(start..end)
}

fn task_statement(s: &str, kind: SyntaxKind, kw: SyntaxKind, args: Range<usize>) -> Classified {
    let keyword_len = if kw == ADDTASK_KW {
        "addtask".len()
    } else {
        "deltask".len()
    };
    let mut c = Classified::new(kind);
    c.events.tok(kw, keyword_len);
    c.events.tok(WHITESPACE, args.start);
    c.events.start(ARGS);
    let mut pos = args.start;
    while let Some((at, word_len)) = next_task_keyword(&s[pos..args.end]) {
        let at = pos + at;
        tokenize(&mut c.events, s, at, NAME);
        c.events.tok(WHITESPACE, at + 1);
        let word_kind = if word_len == "after".len() {
            AFTER_KW
        } else {
            BEFORE_KW
        };
        c.events.tok(word_kind, at + 1 + word_len);
        c.events.tok(WHITESPACE, at + 2 + word_len);
        pos = at + 2 + word_len;
    }
    tokenize(&mut c.events, s, args.end, NAME);
    c.events.finish();
    c.events.tok(COMMENT, s.len());
    c
}

/// The first ` after ` or ` before ` in `s`: its offset and the keyword's length.
fn next_task_keyword(s: &str) -> Option<(usize, usize)> {
    let after = s.find(" after ").map(|i| (i, "after".len()));
    let before = s.find(" before ").map(|i| (i, "before".len()));
    match (after, before) {
        (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

/// BitBake refuses task names containing `:append_`, `:prepend_` or `:remove_`.
fn check_task_keywords(s: &str, c: &mut Classified) {
    for word in s.split(is_py_space).filter(|w| !w.is_empty()) {
        if [":append_", ":prepend_", ":remove_"]
            .iter()
            .any(|k| word.contains(k))
        {
            let start = word.as_ptr() as usize - s.as_ptr() as usize;
            c.error(
                start..start + word.len(),
                format!("Task name '{word}' contains a keyword which is not recommended/supported (:append, :prepend, :remove)"),
            );
        }
    }
}

/// `[python] [fakeroot] NAME () {` (BBHandler's `__func_start_regexp__`).
fn function_header(s: &str) -> Option<Classified> {
    let mut c = Classified::new(FUNCTION);
    let mut pos = 0;
    let mut python = false;
    loop {
        let rest = &s[pos..];
        let (word, kind) = if rest.starts_with("python")
            && rest["python".len()..].starts_with(|c: char| is_py_space(c) || c == '(')
        {
            python = true;
            ("python", PYTHON_KW)
        } else if rest.starts_with("fakeroot") && rest["fakeroot".len()..].starts_with(is_py_space)
        {
            ("fakeroot", FAKEROOT_KW)
        } else {
            break;
        };
        pos += word.len();
        c.events.tok(kind, pos);
        pos += space_prefix_len(&s[pos..]);
        c.events.tok(WHITESPACE, pos);
    }
    let name_len = s[pos..].len()
        - s[pos..]
            .trim_start_matches(|c: char| is_py_word(c) || ".-+{}$:".contains(c))
            .len();
    let name = pos..pos + name_len;
    pos += name_len;
    let open_paren = pos + space_prefix_len(&s[pos..]);
    let rest = s[open_paren..].strip_prefix('(')?;
    let close_paren = open_paren + 1 + space_prefix_len(rest);
    let rest = s[close_paren..].strip_prefix(')')?;
    let open_curly = close_paren + 1 + space_prefix_len(rest);
    if &s[open_curly..] != "{" {
        return None;
    }
    if !name.is_empty() {
        c.events.start(FUNC_NAME);
        tokenize(&mut c.events, s, name.end, NAME);
        c.events.finish();
    }
    c.events.tok(WHITESPACE, open_paren);
    c.events.tok(L_PAREN, open_paren + 1);
    c.events.tok(WHITESPACE, close_paren);
    c.events.tok(R_PAREN, close_paren + 1);
    c.events.tok(WHITESPACE, open_curly);
    c.events.tok(L_CURLY, s.len());
    let anonymous = name.is_empty() || &s[name] == "__anonymous";
    c.block = Some(Block::Function {
        python_body: python || anonymous,
    });
    Some(c)
}

/// `def\s+(\w+).*:` (BBHandler's `__def_regexp__`).
fn def_header(s: &str) -> Option<Classified> {
    let rest = s.strip_prefix("def")?;
    let ws = space_prefix_len(rest);
    if ws == 0 {
        return None;
    }
    let name_start = 3 + ws;
    let name_len = s[name_start..].len() - s[name_start..].trim_start_matches(is_py_word).len();
    if name_len == 0 || !s[name_start + name_len..].contains(':') {
        return None;
    }
    let mut c = Classified::new(PYTHON_DEF);
    c.events.tok(DEF_KW, 3);
    c.events.tok(WHITESPACE, name_start);
    c.events.tok(NAME, name_start + name_len);
    c.events.tok(TEXT, s.len());
    c.block = Some(Block::Def);
    Some(c)
}

fn is_var_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"-_+.${}/~:".contains(&c)
}

fn is_flag_start(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"-_+.".contains(&c)
}

fn is_flag_char(c: u8) -> bool {
    is_flag_start(c) || c == b'@' || c == b'/'
}

/// `export NAME`, `unset NAME` and `unset NAME[flag]`.
fn export_or_unset(s: &str) -> Option<Classified> {
    let (kw, kw_kind, kind) = if s.starts_with("export") {
        ("export", EXPORT_KW, EXPORT_STMT)
    } else if s.starts_with("unset") {
        ("unset", UNSET_KW, UNSET_STMT)
    } else {
        return None;
    };
    let ws = space_prefix_len(&s[kw.len()..]);
    if ws == 0 {
        return None;
    }
    let name_start = kw.len() + ws;
    let bytes = s.as_bytes();
    let name_end = name_start
        + bytes[name_start..]
            .iter()
            .take_while(|&&b| is_var_char(b) && b != b':')
            .count();
    if name_end == name_start {
        return None;
    }
    let mut c = Classified::new(kind);
    c.events.tok(kw_kind, kw.len());
    c.events.tok(WHITESPACE, name_start);
    c.events.start(VAR_NAME);
    tokenize(&mut c.events, s, name_end, NAME);
    c.events.finish();
    if name_end == s.len() {
        return Some(c);
    }
    // `unset NAME[flag]`: a flag of at least two characters, without `/`.
    if kind != UNSET_STMT || bytes[name_end] != b'[' || !s.ends_with(']') {
        return None;
    }
    let flag = &bytes[name_end + 1..s.len() - 1];
    let valid = flag.len() >= 2
        && is_flag_start(flag[0])
        && flag[1..].iter().all(|&b| is_flag_start(b) || b == b'@');
    if !valid {
        return None;
    }
    flag_events(&mut c.events, s.len() - 1);
    Some(c)
}

fn flag_events(events: &mut Events, flag_end: usize) {
    events.start(FLAG);
    events.tok(L_BRACK, events.cursor() + 1);
    events.tok(NAME, flag_end);
    events.tok(R_BRACK, flag_end + 1);
    events.finish();
}

/// The assignment operators, in the order BitBake's alternation tries them.
const OPERATORS: [&str; 8] = [":=", "??=", "?=", "+=", "=+", "=.", ".=", "="];

/// The parts of a line matching `__config_regexp__`.
#[derive(Debug)]
struct AssignmentMatch {
    export_end: usize,
    var: Range<usize>,
    flag: Option<Range<usize>>,
    op: Range<usize>,
    value: Range<usize>,
}

/// Matches ConfHandler's assignment pattern with its backtracking order: optional
/// `export\s+`, the shortest variable name, an optional `[flag]`, the first operator that
/// fits, and a value between matching quotes that end the line.
fn match_assignment(s: &str) -> Option<AssignmentMatch> {
    let bytes = s.as_bytes();
    let mut export_options = Vec::with_capacity(2);
    if let Some(rest) = s.strip_prefix("export") {
        let ws = space_prefix_len(rest);
        if ws > 0 {
            export_options.push(6 + ws);
        }
    }
    export_options.push(0);
    for var_start in export_options {
        let mut var_end = var_start;
        loop {
            if let Some(m) = match_after_var(s, var_start, var_end) {
                return Some(m);
            }
            if var_end < bytes.len() && is_var_char(bytes[var_end]) {
                var_end += 1;
            } else {
                break;
            }
        }
    }
    None
}

fn match_after_var(s: &str, var_start: usize, var_end: usize) -> Option<AssignmentMatch> {
    let bytes = s.as_bytes();
    let mut flag = None;
    let mut pos = var_end;
    if bytes.get(pos) == Some(&b'[') && bytes.get(pos + 1).is_some_and(|&b| is_flag_start(b)) {
        let flag_end = pos
            + 2
            + bytes[pos + 2..]
                .iter()
                .take_while(|&&b| is_flag_char(b))
                .count();
        if bytes.get(flag_end) == Some(&b']') {
            flag = Some(pos + 1..flag_end);
            pos = flag_end + 1;
        }
    }
    let op_start = pos + space_prefix_len(&s[pos..]);
    let op = OPERATORS
        .iter()
        .find(|op| s[op_start..].starts_with(**op))?;
    let op_end = op_start + op.len();
    let quote_at = op_end + space_prefix_len(&s[op_end..]);
    let quote = *bytes.get(quote_at)?;
    if quote != b'"' && quote != b'\'' {
        return None;
    }
    // The lookaheads reject a value with exactly one inner quote of its own kind.
    if bytes[quote_at..].iter().filter(|&&b| b == quote).count() == 3 && s.ends_with(quote as char)
    {
        return None;
    }
    if s.len() < quote_at + 2 || bytes[s.len() - 1] != quote {
        return None;
    }
    Some(AssignmentMatch {
        export_end: var_start,
        var: var_start..var_end,
        flag,
        op: op_start..op_end,
        value: quote_at + 1..s.len() - 1,
    })
}

fn assignment(s: &str, m: &AssignmentMatch) -> Classified {
    let mut c = Classified::new(ASSIGNMENT);
    if m.export_end > 0 {
        c.events.tok(EXPORT_KW, "export".len());
        c.events.tok(WHITESPACE, m.export_end);
    }
    if m.var.is_empty() {
        c.error(
            0..s.len(),
            format!("Empty variable name in assignment: '{s}'"),
        );
    } else {
        c.events.start(VAR_NAME);
        tokenize(&mut c.events, s, m.var.end, NAME);
        c.events.finish();
    }
    if let Some(flag) = &m.flag {
        flag_events(&mut c.events, flag.end);
    }
    let ws_before = c.events.cursor() < m.op.start;
    c.events.tok(WHITESPACE, m.op.start);
    c.events.tok(OPERATOR, m.op.end);
    let ws_after = m.op.end < m.value.start - 1;
    c.events.tok(WHITESPACE, m.value.start - 1);
    if (!ws_before || !ws_after) && !m.var.is_empty() {
        c.diagnostics.push((
            m.op.clone(),
            Severity::Warning,
            format!("lack of whitespace around the assignment: '{s}'"),
        ));
    }
    c.events.start(VALUE);
    c.events.tok(QUOTE, m.value.start);
    tokenize(&mut c.events, s, m.value.end, TEXT);
    c.events.tok(QUOTE, s.len());
    c.events.finish();
    c
}

/// Splits `s` as `(.+)\s+(.+)…` with `groups` greedy groups would, giving the groups'
/// byte ranges. Linear: a suffix that can hold `m` groups may start at any index up to a
/// threshold, so the thresholds are computed from the right and the greedy choices follow.
pub(crate) fn split_greedy(s: &str, groups: usize) -> Option<Vec<Range<usize>>> {
    let chars: Vec<(usize, char)> = s.char_indices().collect();
    let byte_at = |i: usize| chars.get(i).map_or(s.len(), |&(b, _)| b);
    let last_space_at_or_before = |limit: isize| -> isize {
        (0..=limit)
            .rev()
            .find(|&i| is_py_space(chars[i as usize].1))
            .unwrap_or(-1)
    };
    // latest_start[m]: the latest char index where `m` groups can still match.
    let mut latest_start = vec![-1isize; groups + 1];
    latest_start[1] = chars.len() as isize - 1;
    for m in 2..=groups {
        let space = last_space_at_or_before(latest_start[m - 1] - 1);
        latest_start[m] = if space < 0 { -1 } else { space - 1 };
    }
    if latest_start[groups] < 0 {
        return None;
    }
    let mut found = Vec::with_capacity(groups);
    let mut start = 0usize;
    for remaining in (2..=groups).rev() {
        let next_limit = latest_start[remaining - 1];
        let space = last_space_at_or_before(next_limit - 1) as usize;
        let run = chars[space..]
            .iter()
            .take_while(|&&(_, c)| is_py_space(c))
            .count();
        let next = (space + run).min(next_limit as usize);
        found.push(byte_at(start)..byte_at(space));
        start = next;
    }
    found.push(byte_at(start)..s.len());
    Some(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(s: &str) -> Option<(String, Option<String>, String, String)> {
        match_assignment(s).map(|m| {
            (
                s[m.var].to_string(),
                m.flag.map(|f| s[f].to_string()),
                s[m.op].to_string(),
                s[m.value].to_string(),
            )
        })
    }

    fn p(
        var: &str,
        flag: Option<&str>,
        op: &str,
        value: &str,
    ) -> Option<(String, Option<String>, String, String)> {
        Some((var.into(), flag.map(Into::into), op.into(), value.into()))
    }

    #[test]
    fn assignment_matches_like_bitbake() {
        assert_eq!(parts(r#"A = "x""#), p("A", None, "=", "x"));
        assert_eq!(parts(r#"A+="x""#), p("A", None, "+=", "x"));
        assert_eq!(parts(r#"A.="x""#), p("A", None, ".=", "x"));
        assert_eq!(parts(r#"A..= "x""#), p("A.", None, ".=", "x"));
        assert_eq!(parts(r#"A:="x""#), p("A", None, ":=", "x"));
        assert_eq!(parts(r#"A:append = "x""#), p("A:append", None, "=", "x"));
        assert_eq!(parts(r#"A =+ "x""#), p("A", None, "=+", "x"));
        assert_eq!(parts(r#"A[doc] ??= 'y'"#), p("A", Some("doc"), "??=", "y"));
        assert_eq!(parts(r#"export A = "1""#), p("A", None, "=", "1"));
        assert_eq!(parts(r#"exportC = "2""#), p("exportC", None, "=", "2"));
        assert_eq!(parts(r#"export = "x""#), p("", None, "=", "x"));
        assert_eq!(parts(r#"A = "a"b"c""#), p("A", None, "=", r#"a"b"c"#));
        assert_eq!(parts(r#"A = "x" # "c""#), p("A", None, "=", r#"x" # "c"#));
        assert_eq!(parts(r#"A = """#), p("A", None, "=", ""));
        assert_eq!(parts(r#"A = "a"b""#), None);
        assert_eq!(parts(r#"A = "x" # c"#), None);
        assert_eq!(parts(r#"A[f]:append = "2""#), None);
        assert_eq!(parts(r#"A = ""#), None);
    }

    #[test]
    fn greedy_split_matches_regex_groups() {
        let groups = |s: &str, n| {
            split_greedy(s, n).map(|g| g.into_iter().map(|r| s[r].to_string()).collect::<Vec<_>>())
        };
        assert_eq!(groups("a b", 2), Some(vec!["a".into(), "b".into()]));
        assert_eq!(groups("a b c", 2), Some(vec!["a b".into(), "c".into()]));
        assert_eq!(groups("a  b", 2), Some(vec!["a ".into(), "b".into()]));
        assert_eq!(
            groups("a b  c d", 4),
            Some(vec!["a".into(), "b ".into(), "c".into(), "d".into()])
        );
        assert_eq!(groups("a", 2), None);
    }

    #[test]
    fn keyword_arguments() {
        assert_eq!(keyword_args("include foo", "include"), Some(8));
        assert_eq!(keyword_args("include_all foo", "include"), None);
        assert_eq!(keyword_args("includefoo", "include"), None);
        assert_eq!(keyword_args("include  ", "include"), Some(8));
        assert_eq!(keyword_args("include ", "include"), None);
    }

    #[test]
    fn keyword_groups_give_back_whitespace() {
        assert_eq!(
            keyword_groups("addpylib ${LAYERDIR}/lib oe", "addpylib", 2),
            Some(9)
        );
        // `addpylib\s+(.+)\s+(.+)`: the first group may be a space.
        assert_eq!(keyword_groups("addpylib   b", "addpylib", 2), Some(9));
        assert_eq!(keyword_groups("addpylib b", "addpylib", 2), None);
    }

    #[test]
    fn task_arguments() {
        assert_eq!(task_args("addtask a after b # c", "addtask"), Some(8..18));
        assert_eq!(task_args("addtask #c", "addtask"), None);
        assert_eq!(task_args("addtask  #c", "addtask"), Some(8..9));
    }
}
