//! The commands a shell function runs, as BitBake's `bb.codeparser.ShellParser` finds them.
//!
//! BitBake parses shell code with pysh (a POSIX shell grammar) and keeps the name of every
//! simple command, including those in `$(…)` and backquotes, minus the functions the code
//! itself defines. Signatures depend on those names that are also variables or functions
//! of the datastore, so the rules here follow pysh's, quirks included (they are marked).

use std::collections::BTreeSet;
use std::fmt;

/// Shell code pysh cannot parse; BitBake stops with "Error during parse shell code".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShellSyntaxError {
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ShellSyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "shell syntax error: {}", self.message)
    }
}

impl std::error::Error for ShellSyntaxError {}

fn syntax_error(message: impl Into<String>) -> ShellSyntaxError {
    ShellSyntaxError {
        message: message.into(),
    }
}

/// The commands `script` executes that it does not define itself (BitBake's
/// `ShellParser.parse_shell`).
///
/// ```
/// let execs = bb_data::shell_execs("helper() { :; }\nfor f in $(ls_files); do helper $f; done\n").unwrap();
/// assert_eq!(execs.into_iter().collect::<Vec<_>>(), [":", "ls_files"]);
/// ```
pub fn shell_execs(script: &str) -> Result<BTreeSet<String>, ShellSyntaxError> {
    let mut analysis = Analysis::default();
    analysis.parse(script)?;
    Ok(analysis
        .allexecs
        .into_iter()
        .filter(|cmd| !analysis.funcdefs.contains(cmd))
        .collect())
}

#[derive(Default)]
struct Analysis {
    funcdefs: BTreeSet<String>,
    allexecs: BTreeSet<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    /// An operator: `&& || ;; << >> <& >& <> <<- >| ; & | ( ) < >`.
    Op(&'static str),
    Newline,
}

/// How pysh's grammar labels a word of a simple command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WordKind {
    /// The command's name (`cmd_name` / `cmd_word`).
    Name,
    /// An argument (`TOKEN`).
    Token,
    /// A reserved word used as an argument (`maybe_for_word`, …), or an assignment's value.
    Other,
}

const OPERATORS: [&str; 17] = [
    "&&", "||", ";;", "<<-", "<<", ">>", "<&", ">&", "<>", ">|", ";", "&", "|", "(", ")", "<", ">",
];

/// Reserved words; `in` is one only after `for NAME` and `case WORD`.
const RESERVED: [&str; 15] = [
    "if", "then", "else", "elif", "fi", "do", "done", "case", "esac", "while", "until", "for", "{",
    "}", "!",
];

/// The reserved words pysh accepts as arguments of a simple command (`cmd_suffix`).
const SUFFIX_RESERVED: [&str; 7] = ["for", "done", "do", "until", "if", "then", "!"];

fn is_name(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// End of the quoted or expansion sequence starting at `at` (one of `\ ' " ` $`), as
/// pysh's `WordLexer` delimits it. `subs` receives the ranges of the bodies of `$(…)` and
/// backquoted commands found at this level and directly inside a double-quoted string of
/// this level, which is where BitBake looks for nested commands.
fn scan_quoted(
    text: &str,
    at: usize,
    mut subs: Option<&mut Vec<(usize, usize)>>,
) -> Result<usize, ShellSyntaxError> {
    let bytes = text.as_bytes();
    let unterminated = || syntax_error(format!("unterminated quoting at offset {at}"));
    match bytes[at] {
        b'\\' => Ok((at + 2).min(bytes.len())),
        b'\'' => text[at + 1..]
            .find('\'')
            .map(|i| at + 1 + i + 1)
            .ok_or_else(unterminated),
        b'"' => {
            let mut i = at + 1;
            loop {
                match bytes.get(i) {
                    None => return Err(unterminated()),
                    Some(b'"') => return Ok(i + 1),
                    Some(b'\\') => i += 2,
                    Some(b'$' | b'`') => i = scan_quoted(text, i, subs.as_deref_mut())?,
                    Some(_) => i += 1,
                }
            }
        }
        b'`' => {
            let end = scan_command(text, at + 1, b'`')?;
            if let Some(subs) = subs {
                subs.push((at + 1, end - 1));
            }
            Ok(end)
        }
        _ => match bytes.get(at + 1) {
            Some(b'(') if bytes.get(at + 2) == Some(&b'(') => Err(syntax_error(
                "arithmetic expansion $((…)) is not supported by BitBake's shell parser",
            )),
            Some(b'(') => {
                let end = scan_command(text, at + 2, b')')?;
                if let Some(subs) = subs {
                    subs.push((at + 2, end - 1));
                }
                Ok(end)
            }
            Some(b'{') => {
                let mut i = at + 2;
                loop {
                    match bytes.get(i) {
                        None => return Err(unterminated()),
                        Some(b'}') => return Ok(i + 1),
                        Some(b'\\' | b'\'' | b'"' | b'`' | b'$') => i = scan_quoted(text, i, None)?,
                        Some(_) => i += 1,
                    }
                }
            }
            Some(c) if b"@*#?-$!0".contains(c) => Ok(at + 2),
            _ => Ok(at
                + 1
                + bytes[at + 1..]
                    .iter()
                    .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
                    .count()),
        },
    }
}

/// End (past `close`) of a `$(…)` or backquoted command body starting at `from`. Like pysh,
/// the first unquoted `close` ends it: parentheses are not balanced.
fn scan_command(text: &str, from: usize, close: u8) -> Result<usize, ShellSyntaxError> {
    let bytes = text.as_bytes();
    let mut i = from;
    loop {
        match bytes.get(i) {
            None => {
                return Err(syntax_error(format!(
                    "unterminated command substitution at offset {from}"
                )));
            }
            Some(&b) if b == close => return Ok(i + 1),
            Some(b'\\') => i += 2,
            Some(b'$' | b'\'' | b'"' | b'`') => i = scan_quoted(text, i, None)?,
            Some(_) => i += 1,
        }
    }
}

/// The bodies of the commands substituted in `word` where BitBake looks for them.
fn substituted_commands(word: &str) -> Result<Vec<&str>, ShellSyntaxError> {
    let mut subs = Vec::new();
    let bytes = word.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if b"\\'\"`$".contains(&bytes[i]) {
            i = scan_quoted(word, i, Some(&mut subs))?;
        } else {
            i += 1;
        }
    }
    Ok(subs.into_iter().map(|(s, e)| &word[s..e]).collect())
}

struct PendingHeredoc {
    delimiter: Option<String>,
    strip_tabs: bool,
}

/// Splits shell code into words, operators and newlines; here-document bodies and
/// comments are dropped.
fn tokenize(script: &str) -> Result<Vec<Token>, ShellSyntaxError> {
    let bytes = script.as_bytes();
    let mut tokens = Vec::new();
    let mut heredocs: Vec<PendingHeredoc> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'\n' {
            tokens.push(Token::Newline);
            i += 1;
            if !heredocs.is_empty() {
                i = skip_heredocs(script, i, std::mem::take(&mut heredocs))?;
            }
        } else if b == b' ' || b == b'\t' {
            i += 1;
        } else if b == b'\\' && bytes.get(i + 1) == Some(&b'\n') {
            i += 2;
        } else if b == b'#' {
            i += script[i..].find('\n').unwrap_or(script.len() - i);
        } else if let Some(op) = OPERATORS.iter().find(|op| script[i..].starts_with(**op)) {
            if op.starts_with("<<") {
                heredocs.push(PendingHeredoc {
                    delimiter: None,
                    strip_tabs: *op == "<<-",
                });
            }
            tokens.push(Token::Op(op));
            i += op.len();
        } else {
            let start = i;
            while i < bytes.len() {
                match bytes[i] {
                    b' ' | b'\t' | b'\n' | b';' | b'&' | b'|' | b'(' | b')' | b'<' | b'>' => break,
                    b'\\' | b'\'' | b'"' | b'`' | b'$' => i = scan_quoted(script, i, None)?,
                    _ => i += 1,
                }
            }
            let word = script[start..i].replace("\\\n", "");
            if let Some(pending) = heredocs.iter_mut().find(|h| h.delimiter.is_none())
                && matches!(tokens.last(), Some(Token::Op("<<" | "<<-")))
            {
                pending.delimiter = Some(unquote(&word));
            }
            tokens.push(Token::Word(word));
        }
    }
    if !heredocs.is_empty() {
        i = skip_heredocs(script, i, heredocs)?;
    }
    debug_assert!(i >= bytes.len());
    Ok(tokens)
}

fn unquote(word: &str) -> String {
    let mut out = String::new();
    let mut chars = word.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' => {}
            '\\' => out.extend(chars.next()),
            c => out.push(c),
        }
    }
    out
}

/// Skips the bodies of the here-documents opened on the line that just ended.
fn skip_heredocs(
    script: &str,
    mut at: usize,
    heredocs: Vec<PendingHeredoc>,
) -> Result<usize, ShellSyntaxError> {
    for heredoc in heredocs {
        let delimiter = heredoc
            .delimiter
            .ok_or_else(|| syntax_error("expecting here-document name"))?;
        loop {
            if at >= script.len() {
                // At the end of the input pysh accepts a missing last delimiter line.
                break;
            }
            let line_end = script[at..].find('\n').map_or(script.len(), |n| at + n);
            let line = &script[at..line_end];
            at = (line_end + 1).min(script.len());
            let line = if heredoc.strip_tabs {
                line.trim_start_matches('\t')
            } else {
                line
            };
            if line == delimiter {
                break;
            }
        }
    }
    Ok(at)
}

struct Parser<'a> {
    tokens: &'a [Token],
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn peek_word(&self) -> Option<&str> {
        match self.peek() {
            Some(Token::Word(w)) => Some(w),
            _ => None,
        }
    }

    fn at_op(&self, op: &str) -> bool {
        matches!(self.peek(), Some(Token::Op(o)) if *o == op)
    }

    fn skip_newlines(&mut self) {
        while self.peek() == Some(&Token::Newline) {
            self.pos += 1;
        }
    }

    fn expect_word(&mut self, word: &str) -> Result<(), ShellSyntaxError> {
        if self.peek_word() == Some(word) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.expected(&format!("'{word}'")))
        }
    }

    /// Steps over a word, which must be there.
    fn skip_word(&mut self, what: &str) -> Result<(), ShellSyntaxError> {
        if self.peek_word().is_none() {
            return Err(self.expected(what));
        }
        self.pos += 1;
        Ok(())
    }

    fn expected(&self, what: &str) -> ShellSyntaxError {
        syntax_error(format!("expected {what}, found {}", self.describe()))
    }

    fn describe(&self) -> String {
        match self.peek() {
            None => "the end of the code".into(),
            Some(Token::Newline) => "a newline".into(),
            Some(Token::Op(op)) => format!("'{op}'"),
            Some(Token::Word(w)) => format!("'{w}'"),
        }
    }
}

impl Analysis {
    fn parse(&mut self, script: &str) -> Result<(), ShellSyntaxError> {
        let tokens = tokenize(script)?;
        let mut parser = Parser {
            tokens: &tokens,
            pos: 0,
        };
        self.list(&mut parser, &[])?;
        match parser.peek() {
            None => Ok(()),
            Some(_) => Err(syntax_error(format!("unexpected {}", parser.describe()))),
        }
    }

    /// Commands up to one of the reserved words `until` (at a command's start), `;;` or a
    /// `)` that is not ours, or the end.
    fn list(&mut self, p: &mut Parser<'_>, until: &[&str]) -> Result<(), ShellSyntaxError> {
        loop {
            match p.peek() {
                None => return Ok(()),
                Some(Token::Newline) => p.pos += 1,
                Some(Token::Op(";" | "&" | "&&" | "||" | "|")) => p.pos += 1,
                Some(Token::Op(";;" | ")")) => return Ok(()),
                Some(Token::Word(w)) if until.contains(&w.as_str()) => return Ok(()),
                // pysh's grammar lets a command follow another without a separator.
                Some(_) => self.command(p)?,
            }
        }
    }

    fn command(&mut self, p: &mut Parser<'_>) -> Result<(), ShellSyntaxError> {
        if p.at_op("(") {
            p.pos += 1;
            self.list(p, &[])?;
            if !p.at_op(")") {
                return Err(p.expected("')'"));
            }
            p.pos += 1;
            return self.redirects(p);
        }
        let word = p.peek_word().map(str::to_owned);
        match word.as_deref() {
            Some("if") => {
                p.pos += 1;
                self.list(p, &["then"])?;
                p.expect_word("then")?;
                self.list(p, &["elif", "else", "fi"])?;
                loop {
                    match p.peek_word() {
                        Some("elif") => {
                            p.pos += 1;
                            self.list(p, &["then"])?;
                            p.expect_word("then")?;
                            self.list(p, &["elif", "else", "fi"])?;
                        }
                        Some("else") => {
                            p.pos += 1;
                            self.list(p, &["fi"])?;
                        }
                        _ => break,
                    }
                }
                p.expect_word("fi")?;
            }
            Some("while" | "until") => {
                p.pos += 1;
                self.list(p, &["do"])?;
                self.do_group(p)?;
            }
            Some("for") => {
                p.pos += 1;
                p.skip_word("a name after 'for'")?;
                p.skip_newlines();
                if p.peek_word() == Some("in") {
                    p.pos += 1;
                    let mut items = Vec::new();
                    while let Some(w) = p.peek_word() {
                        items.push((WordKind::Token, w.to_owned()));
                        p.pos += 1;
                    }
                    self.words(items)?;
                    if !matches!(p.peek(), Some(Token::Newline | Token::Op(";"))) {
                        return Err(p.expected("';' or a newline"));
                    }
                    p.pos += 1;
                } else {
                    // pysh: '"in" omission is not implemented'.
                    return Err(syntax_error("'for' without 'in' is not supported"));
                }
                p.skip_newlines();
                self.do_group(p)?;
            }
            Some("case") => {
                p.pos += 1;
                // The subject word is not searched for commands (pysh's case_clause).
                p.skip_word("a word after 'case'")?;
                p.skip_newlines();
                p.expect_word("in")?;
                self.case_items(p)?;
            }
            Some("{") => {
                p.pos += 1;
                self.list(p, &["}"])?;
                p.expect_word("}")?;
            }
            Some("!") => {
                p.pos += 1;
                return self.command(p);
            }
            Some(name)
                if matches!(p.tokens.get(p.pos + 1), Some(Token::Op("(")))
                    && matches!(p.tokens.get(p.pos + 2), Some(Token::Op(")"))) =>
            {
                self.funcdefs.insert(name.to_owned());
                p.pos += 3;
                p.skip_newlines();
                return self.command(p);
            }
            Some(w) if RESERVED.contains(&w) => {
                return Err(syntax_error(format!("unexpected '{w}'")));
            }
            _ => return self.simple_command(p),
        }
        self.redirects(p)
    }

    fn do_group(&mut self, p: &mut Parser<'_>) -> Result<(), ShellSyntaxError> {
        p.expect_word("do")?;
        self.list(p, &["done"])?;
        p.expect_word("done")
    }

    fn case_items(&mut self, p: &mut Parser<'_>) -> Result<(), ShellSyntaxError> {
        loop {
            p.skip_newlines();
            if p.peek_word() == Some("esac") {
                p.pos += 1;
                return Ok(());
            }
            if p.at_op("(") {
                p.pos += 1;
            }
            let mut patterns = Vec::new();
            loop {
                match p.peek() {
                    Some(Token::Word(w)) => patterns.push((WordKind::Token, w.clone())),
                    Some(Token::Op("|")) => {}
                    Some(Token::Op(")")) => break,
                    _ => {
                        return Err(p.expected("a case pattern"));
                    }
                }
                p.pos += 1;
            }
            p.pos += 1;
            self.words(patterns)?;
            self.list(p, &["esac"])?;
            if p.at_op(";;") {
                p.pos += 1;
            } else if p.peek_word() != Some("esac") {
                return Err(p.expected("';;' or 'esac'"));
            }
        }
    }

    /// Redirections after a command; their targets are not searched for commands.
    fn redirects(&mut self, p: &mut Parser<'_>) -> Result<(), ShellSyntaxError> {
        loop {
            let io_number = matches!(p.peek_word(), Some(w) if w.bytes().all(|b| b.is_ascii_digit()))
                && matches!(p.tokens.get(p.pos + 1), Some(Token::Op(op)) if op.starts_with(['<', '>']));
            if io_number {
                p.pos += 1;
            }
            let Some(&Token::Op(op)) = p.peek() else {
                break;
            };
            if !op.starts_with(['<', '>']) {
                break;
            }
            p.pos += 1;
            p.skip_word(&format!("a file after '{op}'"))?;
        }
        Ok(())
    }

    fn simple_command(&mut self, p: &mut Parser<'_>) -> Result<(), ShellSyntaxError> {
        let start = p.pos;
        let mut words = Vec::new();
        let mut assignments = Vec::new();
        loop {
            match p.peek() {
                // A reserved word that cannot be an argument ends the command.
                Some(Token::Word(w))
                    if words.is_empty()
                        || !RESERVED.contains(&w.as_str())
                        || SUFFIX_RESERVED.contains(&w.as_str()) =>
                {
                    let w = w.clone();
                    p.pos += 1;
                    let is_io_number = w.bytes().all(|b| b.is_ascii_digit())
                        && matches!(p.peek(), Some(Token::Op(op)) if op.starts_with(['<', '>']));
                    if is_io_number {
                        continue;
                    }
                    // pysh only types a word ASSIGNMENT_WORD when it ends the input; any other
                    // `NAME=value` becomes the command's name (handled by `words`).
                    let assignment = words.is_empty()
                        && p.peek().is_none()
                        && !w.starts_with('=')
                        && w.find('=').is_some_and(|eq| is_name(&w[..eq]));
                    if assignment {
                        let eq = w.find('=').unwrap_or_default();
                        assignments.push((WordKind::Other, w[eq + 1..].to_owned()));
                    } else if words.is_empty() {
                        words.push((WordKind::Name, w));
                    } else if SUFFIX_RESERVED.contains(&w.as_str()) {
                        words.push((WordKind::Other, w));
                    } else {
                        words.push((WordKind::Token, w));
                    }
                }
                Some(&Token::Op(op)) if op.starts_with(['<', '>']) => {
                    p.pos += 1;
                    p.skip_word(&format!("a file after '{op}'"))?;
                }
                _ => break,
            }
        }
        if p.pos == start + 1 && p.at_op("(") {
            // `name (` begins a function definition, which needs `)` next.
            return Err(syntax_error(format!(
                "expected ')' after '{}(' in a function definition",
                words[0].1
            )));
        }
        words.extend(assignments);
        self.words(words)
    }

    /// pysh's `process_words`: commands substituted in the words, then the command name.
    fn words(&mut self, mut words: Vec<(WordKind, String)>) -> Result<(), ShellSyntaxError> {
        let mut i = 0;
        while i < words.len() {
            let word = words[i].clone();
            let mut removed = false;
            for body in substituted_commands(&word.1)? {
                self.parse(body)?;
                if word.0 == WordKind::Name && !removed {
                    // pysh removes the word from the list it is iterating over, so the word
                    // after it is not searched (kept here: it decides the same signatures).
                    if let Some(at) = words.iter().position(|w| *w == word) {
                        words.remove(at);
                        removed = true;
                    }
                }
            }
            i += 1;
        }
        let mut use_token = false;
        for (kind, text) in &words {
            if *kind == WordKind::Name || (use_token && *kind == WordKind::Token) {
                if text.contains('=') {
                    use_token = true;
                    continue;
                }
                if text.starts_with('$') {
                    // A command named by a variable cannot be resolved.
                } else if text == "eval" {
                    let command: Vec<&str> = words[1..].iter().map(|(_, w)| w.as_str()).collect();
                    self.parse(&command.join(" "))?;
                } else {
                    self.allexecs.insert(text.clone());
                }
                break;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::shell_execs;

    fn execs(script: &str) -> Vec<String> {
        shell_execs(script)
            .unwrap_or_else(|e| panic!("{script:?}: {e}"))
            .into_iter()
            .collect()
    }

    #[test]
    fn finds_commands_in_every_construct() {
        assert_eq!(
            execs("if a; then b | c && d; elif e; then f; else g; fi\nwhile h; do i; done\n"),
            ["a", "b", "c", "d", "e", "f", "g", "h", "i"]
        );
        assert_eq!(
            execs("case $x in\n a|b) c ;;\n (*) d; e ;;\nesac\n"),
            ["c", "d", "e"]
        );
        // The name holding a substitution is dropped, and pysh does not look at `y` then.
        assert_eq!(
            execs("x=$(a \"$(b)\") y\n`c`\necho \"`d`\"\n"),
            ["a", "b", "c", "d", "echo"]
        );
        assert_eq!(execs("f() {\n g\n}\nf\n( h ) > out\n"), ["g", "h"]);
        assert_eq!(
            execs("cat <<EOF\nnot_a_command\nEOF\nafter\n"),
            ["after", "cat"]
        );
        assert_eq!(execs("eval inner arg\n$VAR x\n"), ["inner"]);
        assert_eq!(execs("for f in a b\ndo\n g\ndone\n"), ["g"]);
    }

    #[test]
    fn unterminated_quotes_are_errors() {
        assert!(shell_execs("echo \"abc\n").is_err());
        assert!(shell_execs("if a; then b\n").is_err());
        assert!(shell_execs("bb.build.exec_func('f', d)\n").is_err());
        assert!(shell_execs("echo $((1 + 2))\n").is_err());
    }
}
