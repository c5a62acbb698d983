//! Physical lines as Python's universal-newline `readline` sees them, and Python's notion
//! of whitespace (BitBake strips lines with `str.rstrip()` and matches `\s`).

/// One physical line of the input.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Line {
    /// Offset of the first byte.
    pub(crate) start: usize,
    /// End of the content after Python's `rstrip()`.
    pub(crate) content_end: usize,
    /// End of the text before the line terminator.
    pub(crate) text_end: usize,
    /// End including the terminator (`\n`, `\r\n` or `\r`).
    pub(crate) end: usize,
}

/// Splits `text` into lines the way Python's text-mode `readline` does.
pub(crate) fn split_lines(text: &str) -> Vec<Line> {
    let bytes = text.as_bytes();
    let mut lines = Vec::with_capacity(bytes.len() / 32 + 1);
    let mut start = 0;
    while start < bytes.len() {
        let (text_end, end) = match memchr_newline(&bytes[start..]) {
            Some(i) => {
                let at = start + i;
                if bytes[at] == b'\r' && bytes.get(at + 1) == Some(&b'\n') {
                    (at, at + 2)
                } else {
                    (at, at + 1)
                }
            }
            None => (bytes.len(), bytes.len()),
        };
        let content_end = start + rstrip_len(&text[start..text_end]);
        lines.push(Line {
            start,
            content_end,
            text_end,
            end,
        });
        start = end;
    }
    lines
}

fn memchr_newline(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|&b| b == b'\n' || b == b'\r')
}

/// Python's `str.isspace()` for one character: Unicode whitespace plus the ASCII
/// separators U+001C..U+001F.
pub(crate) fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Length of `s` after Python's `rstrip()`.
pub(crate) fn rstrip_len(s: &str) -> usize {
    s.trim_end_matches(is_py_space).len()
}

/// Length of the leading run of Python whitespace in `s`.
pub(crate) fn space_prefix_len(s: &str) -> usize {
    s.len() - s.trim_start_matches(is_py_space).len()
}

/// Python's `\w` for one character.
pub(crate) fn is_py_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn universal_newlines() {
        let text = "a\r\nb\rc\n\nd  \t";
        let lines = split_lines(text);
        let parts: Vec<_> = lines
            .iter()
            .map(|l| (&text[l.start..l.content_end], &text[l.text_end..l.end]))
            .collect();
        assert_eq!(
            parts,
            [
                ("a", "\r\n"),
                ("b", "\r"),
                ("c", "\n"),
                ("", "\n"),
                ("d", "")
            ]
        );
    }

    #[test]
    fn python_whitespace() {
        assert!(is_py_space('\u{1f}'));
        assert!(is_py_space('\u{a0}'));
        assert!(!is_py_space('x'));
        assert_eq!(rstrip_len("ab \u{b}\u{c}"), 2);
    }
}
