//! The line-level state machines of BitBake's two handlers: `BBHandler` (recipes,
//! appends, classes, includes) and `ConfHandler` (.conf). They decide which physical
//! lines form one statement; `statement` decides what the statement is.

use rowan::{GreenNode, GreenNodeBuilder};

use crate::SyntaxKind::*;
use crate::lines::{Line, split_lines};
use crate::logical::{Emitter, Events, Logical};
use crate::statement::{Block, Classified, classify_conf, classify_recipe};
use crate::template::tokenize;
use crate::{Severity, SyntaxError, TextRange};

pub(crate) fn parse_text(text: &str, conf: bool) -> (GreenNode, Vec<SyntaxError>) {
    let mut parser = Parser {
        emitter: Emitter {
            source: text,
            builder: GreenNodeBuilder::new(),
        },
        lines: split_lines(text),
        errors: Vec::new(),
    };
    parser.emitter.builder.start_node(SOURCE_FILE.into());
    if conf {
        parser.conf_file();
    } else {
        parser.recipe_file();
    }
    parser.emitter.builder.finish_node();
    let Parser {
        emitter, errors, ..
    } = parser;
    (emitter.builder.finish(), errors)
}

struct Parser<'a> {
    emitter: Emitter<'a>,
    lines: Vec<Line>,
    errors: Vec<SyntaxError>,
}

impl<'a> Parser<'a> {
    fn source(&self) -> &'a str {
        self.emitter.source
    }

    fn content(&self, index: usize) -> &'a str {
        let line = self.lines[index];
        &self.source()[line.start..line.content_end]
    }

    fn diagnostic(&mut self, start: usize, end: usize, severity: Severity, message: String) {
        self.errors.push(SyntaxError {
            message,
            range: TextRange::new((start as u32).into(), (end as u32).into()),
            severity,
        });
    }

    fn error_at_line(&mut self, index: usize, message: String) {
        self.error_at_lines(index, index, message);
    }

    /// An error spanning lines `first..=last`; it is reported at the start of `first`.
    fn error_at_lines(&mut self, first: usize, last: usize, message: String) {
        let (start, end) = (self.lines[first].start, self.lines[last].content_end);
        self.diagnostic(start, end, Severity::Error, message);
    }

    /// The whitespace BitBake strips from a line's end, and its terminator.
    fn line_tail(&mut self, index: usize) {
        let line = self.lines[index];
        self.emitter
            .token(WHITESPACE, line.content_end..line.text_end);
        self.emitter.token(NEWLINE, line.text_end..line.end);
    }

    /// The lines `first..=last` joined as BBHandler joins its `__residue__`: each line
    /// but the last loses its trailing backslash.
    fn joined(&self, first: usize, last: usize) -> Logical<'a> {
        let ranges = (first..=last)
            .map(|i| {
                let line = self.lines[i];
                let end = if i < last {
                    line.content_end - 1
                } else {
                    line.content_end
                };
                line.start..end
            })
            .collect();
        let span = self.lines[first].start..self.lines[last].content_end;
        Logical::new(self.source(), ranges, span)
    }

    /// Lines that cannot form a statement, kept in the tree as an `ERROR` node. When the
    /// last line ends in a continuation, its terminator belongs to the node; otherwise it
    /// is trivia after it.
    fn flush_residue(&mut self, first: usize, last: usize) {
        let continued = self.content(last).ends_with('\\');
        let ranges = (first..=last)
            .map(|i| {
                let line = self.lines[i];
                let drop_backslash = i < last || continued;
                line.start..line.content_end - usize::from(drop_backslash)
            })
            .collect();
        let last_line = self.lines[last];
        let end = if continued {
            last_line.end
        } else {
            last_line.content_end
        };
        let logical = Logical::new(self.source(), ranges, self.lines[first].start..end);
        let mut events = Events::default();
        events.tok(TEXT, logical.text.len());
        self.emitter.emit(&logical, Some(ERROR), &events);
        if !continued {
            self.line_tail(last);
        }
    }

    fn recipe_file(&mut self) {
        let mut residue: Option<usize> = None;
        // Set when a comment interrupted a continued statement: BitBake stops there; the
        // statement is kept whole as an error so that no further errors cascade from it.
        let mut poisoned = false;
        let mut index = 0;
        while index < self.lines.len() {
            let s = self.content(index);
            if let Some(first) = residue {
                // `__residue__[0][0]`: the first line without its trailing backslash.
                let first_line = self.content(first);
                let first_char = first_line[..first_line.len() - 1].chars().next();
                match first_char {
                    None => {
                        self.error_at_line(
                            index,
                            format!(
                                "line {} is only a line continuation, which BitBake cannot parse",
                                first + 1
                            ),
                        );
                        poisoned = true;
                    }
                    Some('#') if !s.starts_with('#') => {
                        self.error_at_lines(
                            first,
                            index,
                            format!(
                                "There is a confusing multiline partially commented expression on line {}: a comment is continued into a line that is not a comment",
                                first + 1
                            ),
                        );
                        self.flush_residue(first, index - 1);
                        residue = None;
                    }
                    Some(c) if c != '#' && s.starts_with('#') && !poisoned => {
                        self.error_at_line(
                            index,
                            format!("There is a comment on line {} which is in the middle of a multiline expression", index + 1),
                        );
                        poisoned = true;
                    }
                    _ => {}
                }
            }
            if s.ends_with('\\') {
                residue.get_or_insert(index);
                index += 1;
                continue;
            }
            let first = residue.take().unwrap_or(index);
            if std::mem::take(&mut poisoned) {
                self.flush_residue(first, index);
                index += 1;
                continue;
            }
            let logical = self.joined(first, index);
            index = self.recipe_statement(&logical, index);
        }
        if let Some(first) = residue {
            let last = self.lines.len() - 1;
            if !poisoned {
                self.error_at_lines(
                    first,
                    last,
                    "the file ends inside a line continuation (the last line ends with '\\')"
                        .into(),
                );
            }
            self.flush_residue(first, last);
        }
    }

    /// Emits the statement ending on line `last` (and any block that follows it);
    /// returns the index of the next unconsumed line.
    fn recipe_statement(&mut self, logical: &Logical<'a>, last: usize) -> usize {
        if logical.text.is_empty() || logical.text.starts_with('#') {
            let mut events = Events::default();
            events.tok(COMMENT, logical.text.len());
            self.emitter.emit(logical, None, &events);
            self.line_tail(last);
            return last + 1;
        }
        let classified = classify_recipe(&logical.text);
        self.report(logical, &classified);
        match classified.block {
            None => {
                self.emitter
                    .emit(logical, Some(classified.kind), &classified.events);
                self.line_tail(last);
                last + 1
            }
            Some(Block::Function { python_body }) => {
                self.function(logical, &classified, last, python_body)
            }
            Some(Block::Def) => self.def(logical, &classified, last),
        }
    }

    fn report(&mut self, logical: &Logical<'_>, classified: &Classified) {
        for (range, severity, message) in &classified.diagnostics {
            let physical = logical.physical_range(range.clone());
            self.diagnostic(physical.start, physical.end, *severity, message.clone());
        }
    }

    fn warn_tabs(&mut self, index: usize) {
        let s = self.content(index);
        if s.trim_start_matches(' ').starts_with('\t') {
            let line = self.lines[index];
            self.diagnostic(
                line.start,
                line.start + s.len() - s.trim_start_matches([' ', '\t']).len(),
                Severity::Warning,
                "python should use 4 spaces indentation, but found tabs".into(),
            );
        }
    }

    /// One body line: its content with references, then its tail.
    fn body_line(&mut self, index: usize, with_tail: bool) {
        let line = self.lines[index];
        let mut events = Events::default();
        let content = &self.source()[line.start..line.content_end];
        tokenize(&mut events, content, content.len(), TEXT);
        let logical = Logical::new(
            self.source(),
            std::iter::once(line.start..line.content_end).collect(),
            line.start..line.content_end,
        );
        self.emitter.emit(&logical, None, &events);
        if with_tail {
            self.line_tail(index);
        }
    }

    fn function(
        &mut self,
        header: &Logical<'a>,
        classified: &Classified,
        last: usize,
        python_body: bool,
    ) -> usize {
        self.emitter.builder.start_node(FUNCTION.into());
        self.emitter.emit(header, None, &classified.events);
        self.line_tail(last);
        self.emitter.builder.start_node(BODY.into());
        let mut index = last + 1;
        while index < self.lines.len() && self.content(index) != "}" {
            if python_body {
                self.warn_tabs(index);
            }
            self.body_line(index, true);
            index += 1;
        }
        self.emitter.builder.finish_node();
        if index == self.lines.len() {
            let indented_close = (last + 1..index).find(|&i| self.content(i).trim_start() == "}");
            let hint = match indented_close {
                Some(i) => format!("; line {} has an indented '}}'", i + 1),
                None => String::new(),
            };
            // BitBake notices at the end of the file.
            let end = self.source().len();
            self.diagnostic(
                header.span.start,
                end,
                Severity::Error,
                format!("function is never closed: its body must end with a line that is exactly '}}'{hint}"),
            );
            self.emitter.builder.finish_node();
            return index;
        }
        let close = self.lines[index];
        self.emitter.token(R_CURLY, close.start..close.content_end);
        self.emitter.builder.finish_node();
        self.line_tail(index);
        index + 1
    }

    /// `def` bodies: every following line that is indented, empty or starts with `#`.
    fn def(&mut self, header: &Logical<'a>, classified: &Classified, last: usize) -> usize {
        let mut end = last + 1;
        while end < self.lines.len() {
            let s = self.content(end);
            if !(s.is_empty() || s.starts_with('#') || s.starts_with(crate::lines::is_py_space)) {
                break;
            }
            end += 1;
        }
        self.emitter.builder.start_node(PYTHON_DEF.into());
        self.emitter.emit(header, None, &classified.events);
        if end > last + 1 {
            self.line_tail(last);
            self.emitter.builder.start_node(BODY.into());
            for index in last + 1..end {
                self.warn_tabs(index);
                self.body_line(index, index + 1 < end);
            }
            self.emitter.builder.finish_node();
        }
        self.emitter.builder.finish_node();
        self.line_tail(end - 1);
        end
    }

    fn conf_file(&mut self) {
        let mut index = 0;
        while index < self.lines.len() {
            let first = index;
            let line = self.lines[index];
            if line.content_end == line.start {
                self.line_tail(index);
                index += 1;
                continue;
            }
            let mut ranges = Vec::with_capacity(2);
            ranges.push(line.start..line.content_end);
            let mut confusing = false;
            // ConfHandler joins while the joined text ends in a backslash; at the end of
            // the file it keeps dropping backslashes.
            loop {
                let bytes = self.source().as_bytes();
                let Some(last_range) = ranges.iter_mut().rev().find(|r| r.start < r.end) else {
                    break;
                };
                if bytes[last_range.end - 1] != b'\\' {
                    break;
                }
                last_range.end -= 1;
                let hash_first = ranges
                    .iter()
                    .find(|r| r.start < r.end)
                    .map_or(bytes[line.start] == b'#', |r| bytes[r.start] == b'#');
                if index + 1 < self.lines.len() {
                    index += 1;
                    confusing |= hash_first && !self.content(index).starts_with('#');
                    let next = self.lines[index];
                    ranges.push(next.start..next.content_end);
                } else {
                    confusing |= hash_first;
                }
            }
            let span = self.lines[first].start..self.lines[index].content_end;
            let logical = Logical::new(self.source(), ranges, span);
            if confusing {
                self.error_at_line(
                    first,
                    "There is a confusing multiline, partially commented expression: a comment is continued into a line that is not a comment".into(),
                );
            }
            if logical.text.is_empty() {
                self.error_at_line(
                    first,
                    "a line continuation leaves an empty line, which BitBake cannot parse".into(),
                );
            }
            if logical.text.is_empty() || logical.text.starts_with('#') {
                let mut events = Events::default();
                events.tok(COMMENT, logical.text.len());
                let kind = confusing.then_some(ERROR);
                self.emitter.emit(&logical, kind, &events);
            } else {
                let classified = classify_conf(&logical.text, true);
                self.report(&logical, &classified);
                self.emitter
                    .emit(&logical, Some(classified.kind), &classified.events);
            }
            self.line_tail(index);
            index += 1;
        }
    }
}
