//! `hitzeleiter syntax`: parse files and directories, report errors compiler-style.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use bb_syntax::{FileKind, LineIndex, Parse, Severity};
use clap::{Args, ValueEnum};
use serde::Serialize;

#[derive(Args)]
pub(crate) struct SyntaxArgs {
    /// Check that the tree's text equals the input byte for byte.
    #[arg(long)]
    roundtrip: bool,
    /// Print each file's syntax tree.
    #[arg(long)]
    tree: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Files, or directories searched recursively for metadata files.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Json,
}

#[derive(Serialize)]
struct Diagnostic {
    line: u32,
    col: u32,
    end_line: u32,
    end_col: u32,
    severity: &'static str,
    message: String,
}

#[derive(Serialize)]
struct FileReport {
    path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    diagnostics: Vec<Diagnostic>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tree: Option<String>,
}

#[derive(Serialize)]
struct Report {
    files: Vec<FileReport>,
    file_count: usize,
    errors: usize,
    warnings: usize,
}

pub(crate) fn run(args: &SyntaxArgs) -> ExitCode {
    let mut files = Vec::new();
    let mut reports = Vec::new();
    for path in &args.paths {
        if path.is_dir() {
            match bb_syntax::collect_metadata_files(path) {
                Ok(found) => files.extend(found),
                Err(err) => reports.push(failure(path, format!("cannot read directory: {err}"))),
            }
        } else {
            files.push(path.clone());
        }
    }
    for path in &files {
        reports.push(check_file(path, args));
    }
    let count = |severity: &str| {
        reports
            .iter()
            .flat_map(|r| &r.diagnostics)
            .filter(|d| d.severity == severity)
            .count()
    };
    let report = Report {
        file_count: files.len(),
        errors: count("error"),
        warnings: count("warning"),
        files: reports,
    };
    let written = match args.format {
        Format::Text => write_text(&report),
        Format::Json => write_json(&report),
    };
    if let Err(err) = written
        && err.kind() != io::ErrorKind::BrokenPipe
    {
        eprintln!("error: cannot write output: {err}");
        return ExitCode::FAILURE;
    }
    if report.errors > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn failure(path: &Path, message: String) -> FileReport {
    FileReport {
        path: path.display().to_string(),
        kind: None,
        diagnostics: vec![Diagnostic {
            line: 1,
            col: 1,
            end_line: 1,
            end_col: 1,
            severity: "error",
            message,
        }],
        tree: None,
    }
}

fn kind_name(kind: FileKind) -> &'static str {
    match kind {
        FileKind::Recipe => "recipe",
        FileKind::Append => "append",
        FileKind::Class => "class",
        FileKind::Include => "include",
        FileKind::Conf => "conf",
    }
}

fn check_file(path: &Path, args: &SyntaxArgs) -> FileReport {
    let Some(kind) = FileKind::from_path(path) else {
        return failure(
            path,
            "not a BitBake metadata file (expected .bb, .bbappend, .bbclass, .inc or .conf)".into(),
        );
    };
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(err) => return failure(path, format!("cannot read: {err}")),
    };
    let parse = bb_syntax::parse_bytes(&bytes, kind);
    let text = parse.syntax().to_string();
    let index = LineIndex::new(&text);
    let mut diagnostics: Vec<Diagnostic> = parse
        .errors()
        .iter()
        .map(|error| {
            let start = index.line_col(error.range().start());
            let end = index.line_col(error.range().end());
            Diagnostic {
                line: start.line,
                col: start.col,
                end_line: end.line,
                end_col: end.col,
                severity: match error.severity() {
                    Severity::Error => "error",
                    Severity::Warning => "warning",
                },
                message: error.message().to_owned(),
            }
        })
        .collect();
    if args.roundtrip && text.as_bytes() != bytes.as_slice() {
        diagnostics.push(roundtrip_mismatch(&text, &bytes, &index));
    }
    FileReport {
        path: path.display().to_string(),
        kind: Some(kind_name(kind)),
        diagnostics,
        tree: args.tree.then(|| tree_text(&parse)),
    }
}

fn tree_text(parse: &Parse) -> String {
    bb_syntax::tree_dump(&parse.syntax())
}

fn roundtrip_mismatch(text: &str, bytes: &[u8], index: &LineIndex) -> Diagnostic {
    let at = text
        .bytes()
        .zip(bytes)
        .position(|(a, &b)| a != b)
        .unwrap_or(text.len().min(bytes.len()));
    let mut offset = at.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let position = index.line_col((offset as u32).into());
    Diagnostic {
        line: position.line,
        col: position.col,
        end_line: position.line,
        end_col: position.col,
        severity: "error",
        message: format!(
            "round trip failed: the tree's text differs from the input from byte {at} (tree {} bytes, input {} bytes)",
            text.len(),
            bytes.len()
        ),
    }
}

fn write_text(report: &Report) -> io::Result<()> {
    let mut out = io::BufWriter::new(io::stdout().lock());
    for file in &report.files {
        if let Some(tree) = &file.tree {
            if report.files.len() > 1 {
                writeln!(out, "# {}", file.path)?;
            }
            write!(out, "{tree}")?;
        }
        for d in &file.diagnostics {
            writeln!(
                out,
                "{}:{}:{}: {}: {}",
                file.path, d.line, d.col, d.severity, d.message
            )?;
        }
    }
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    write!(
        out,
        "{}, {}",
        plural(report.file_count, "file"),
        plural(report.errors, "error")
    )?;
    if report.warnings > 0 {
        write!(out, ", {}", plural(report.warnings, "warning"))?;
    }
    writeln!(out)?;
    out.flush()
}

fn write_json(report: &Report) -> io::Result<()> {
    let mut out = io::BufWriter::new(io::stdout().lock());
    serde_json::to_writer_pretty(&mut out, report)?;
    writeln!(out)?;
    out.flush()
}
