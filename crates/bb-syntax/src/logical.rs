//! Logical lines: BitBake joins continued physical lines into one string before matching
//! a statement. A [`Logical`] keeps the physical ranges that make up that string, so the
//! tokens found in it can be written back into the tree at their physical positions, with
//! the dropped text (backslash, trailing whitespace, terminator) as `CONTINUATION` tokens.

use std::borrow::Cow;
use std::ops::Range;

use rowan::GreenNodeBuilder;

use crate::SyntaxKind::{self, CONTINUATION, TEXT};

/// The text of one statement and where each part of it comes from.
#[derive(Debug)]
pub(crate) struct Logical<'a> {
    /// The joined text BitBake matches statements against.
    pub(crate) text: Cow<'a, str>,
    /// Non-empty physical ranges whose concatenation is `text`.
    ranges: Vec<Range<usize>>,
    /// Physical start and end of the whole statement (holes included).
    pub(crate) span: Range<usize>,
}

impl<'a> Logical<'a> {
    /// Builds the logical text from physical `ranges`; `span` covers them and the holes.
    pub(crate) fn new(source: &'a str, ranges: Vec<Range<usize>>, span: Range<usize>) -> Self {
        let ranges: Vec<Range<usize>> = ranges.into_iter().filter(|r| !r.is_empty()).collect();
        let text = match ranges.as_slice() {
            [] => Cow::Borrowed(""),
            [only] => Cow::Borrowed(&source[only.clone()]),
            many => Cow::Owned(many.iter().map(|r| &source[r.clone()]).collect()),
        };
        Logical { text, ranges, span }
    }

    /// Physical offset of logical offset `pos`.
    pub(crate) fn to_physical(&self, pos: usize) -> usize {
        let mut logical_start = 0;
        for range in &self.ranges {
            let len = range.len();
            if pos < logical_start + len {
                return range.start + (pos - logical_start);
            }
            logical_start += len;
        }
        self.ranges.last().map_or(self.span.start, |r| r.end)
    }

    /// Physical range of the logical range `range`.
    pub(crate) fn physical_range(&self, range: Range<usize>) -> Range<usize> {
        let start = self.to_physical(range.start);
        let end = if range.end > range.start {
            self.to_physical(range.end - 1) + 1
        } else {
            start
        };
        start..end.max(start)
    }
}

/// One step of building a statement's subtree over its logical text.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Ev {
    Start(SyntaxKind),
    /// A token from the end of the previous token up to this logical offset.
    Tok(SyntaxKind, usize),
    Finish,
}

/// Events for one statement, with helpers that keep tokens contiguous.
#[derive(Debug, Default)]
pub(crate) struct Events {
    pub(crate) evs: Vec<Ev>,
    cursor: usize,
}

impl Events {
    pub(crate) fn cursor(&self) -> usize {
        self.cursor
    }

    pub(crate) fn start(&mut self, kind: SyntaxKind) {
        self.evs.push(Ev::Start(kind));
    }

    pub(crate) fn finish(&mut self) {
        self.evs.push(Ev::Finish);
    }

    /// A token of `kind` from the cursor to `end`; nothing if empty.
    pub(crate) fn tok(&mut self, kind: SyntaxKind, end: usize) {
        if end > self.cursor {
            self.evs.push(Ev::Tok(kind, end));
            self.cursor = end;
        }
    }
}

/// Writes tokens into a rowan builder, at their physical positions.
pub(crate) struct Emitter<'a> {
    pub(crate) source: &'a str,
    pub(crate) builder: GreenNodeBuilder<'static>,
}

impl<'a> Emitter<'a> {
    pub(crate) fn token(&mut self, kind: SyntaxKind, range: Range<usize>) {
        if !range.is_empty() {
            self.builder.token(kind.into(), &self.source[range]);
        }
    }

    /// Emits `events` over `logical` (wrapped in a node of `kind` when given); holes
    /// become `CONTINUATION` tokens right after the token that precedes them.
    pub(crate) fn emit(
        &mut self,
        logical: &Logical<'_>,
        kind: Option<SyntaxKind>,
        events: &Events,
    ) {
        if let Some(kind) = kind {
            self.builder.start_node(kind.into());
        }
        let ranges = &logical.ranges;
        let Some(first) = ranges.first() else {
            self.token(CONTINUATION, logical.span.clone());
            if kind.is_some() {
                self.builder.finish_node();
            }
            return;
        };
        self.token(CONTINUATION, logical.span.start..first.start);
        let mut range_index = 0;
        let mut range_logical_start = 0;
        let mut cursor = 0;
        let mut emit_until = |this: &mut Self, token_kind: SyntaxKind, end: usize| {
            while cursor < end {
                let range = &ranges[range_index];
                let offset = cursor - range_logical_start;
                let take = (range.len() - offset).min(end - cursor);
                let physical = range.start + offset;
                this.token(token_kind, physical..physical + take);
                cursor += take;
                if cursor == range_logical_start + range.len() && range_index + 1 < ranges.len() {
                    this.token(CONTINUATION, range.end..ranges[range_index + 1].start);
                    range_logical_start += range.len();
                    range_index += 1;
                }
            }
        };
        for ev in &events.evs {
            match *ev {
                Ev::Start(kind) => self.builder.start_node(kind.into()),
                Ev::Finish => self.builder.finish_node(),
                Ev::Tok(kind, end) => emit_until(self, kind, end),
            }
        }
        // Classification covers the whole text; this only guards against a gap.
        emit_until(self, TEXT, logical.text.len());
        let last_end = ranges.last().map_or(logical.span.start, |r| r.end);
        self.token(CONTINUATION, last_end..logical.span.end);
        if kind.is_some() {
            self.builder.finish_node();
        }
    }
}
