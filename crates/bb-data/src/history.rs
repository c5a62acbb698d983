//! Variable history: every operation with its file, line and op name (`bitbake -e`).

use rustc_hash::FxHashMap as HashMap;

/// Where an operation comes from, for the variable history.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    /// The metadata file.
    pub file: String,
    /// BitBake's line number of the statement.
    pub line: u32,
    /// The python function making the operation, when python code made it (BitBake then
    /// shows the file's base name and `[function]`).
    pub func: Option<String>,
}

/// One recorded operation on a variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The variable.
    pub variable: String,
    /// BitBake's op name: `set`, `set?`, `immediate`, `append`, `:append`, `exported`, …
    pub op: String,
    /// The file, empty when the operation came from code rather than a file.
    pub file: String,
    /// The line in `file`.
    pub line: u32,
    /// The value written.
    pub detail: String,
    /// The flag, for flag operations.
    pub flag: Option<String>,
    /// The python function that made the operation, if python code made it.
    pub func: Option<String>,
}

impl Event {
    pub(crate) fn new(
        variable: &str,
        op: &str,
        origin: Option<&Origin>,
        detail: String,
        flag: Option<String>,
    ) -> Event {
        Event {
            variable: variable.to_owned(),
            op: op.to_owned(),
            file: origin.map(|o| o.file.clone()).unwrap_or_default(),
            line: origin.map_or(0, |o| o.line),
            detail,
            flag,
            func: origin.and_then(|o| o.func.clone()),
        }
    }
}

/// The events of every variable, and the include history.
#[derive(Debug, Clone, Default)]
pub(crate) struct VariableHistory {
    events: HashMap<String, Vec<Event>>,
    /// Every file handled, depth first as BitBake's `IncludeHistory` tree: (depth from 1,
    /// the file name as it was given).
    includes: Vec<(usize, String)>,
    include_depth: usize,
}

impl VariableHistory {
    pub(crate) fn include_enter(&mut self, file: &str) {
        self.include_depth += 1;
        self.includes.push((self.include_depth, file.to_owned()));
    }

    pub(crate) fn include_exit(&mut self) {
        self.include_depth = self.include_depth.saturating_sub(1);
    }

    pub(crate) fn includes(&self) -> &[(usize, String)] {
        &self.includes
    }

    pub(crate) fn record(&mut self, event: Event) {
        self.events
            .entry(event.variable.clone())
            .or_default()
            .push(event);
    }

    /// BitBake's `rename_variable_hist`: `to` gets copies of `from`'s events.
    pub(crate) fn copy_events(&mut self, from: &str, to: &str) {
        let copies = self.events.get(from).cloned().unwrap_or_default();
        self.events.entry(to.to_owned()).or_default().extend(copies);
    }

    pub(crate) fn events(&self, var: &str) -> Vec<Event> {
        self.events.get(var).cloned().unwrap_or_default()
    }
}
