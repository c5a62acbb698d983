//! Loading the build directory for a command, as BitBake's front ends print it: the parse's
//! messages, its progress bar and summary line, notices of provider resolution.

use std::path::PathBuf;

use bb_load::{ParseObserver, ParseOptions, ParsedRecipes, Recipes, Workspace};
use clap::Args;
use taskgraph::{Level, Notice};

/// Where the build directory is (BitBake's working directory).
#[derive(Args, Clone)]
pub(crate) struct BuildDir {
    /// The build directory (default: the current directory; bblayers.conf is searched
    /// from there upwards).
    #[arg(long, global = true, value_name = "DIR")]
    pub(crate) build_dir: Option<PathBuf>,
}

/// The least serious messages a command prints: knotty's console log level, which
/// tinfoil's quiet levels raise (`bitbake-getvar` shows warnings, with `-q` errors).
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum Shown {
    /// Everything.
    #[default]
    Notes,
    /// Warnings and errors.
    Warnings,
    /// Errors.
    Errors,
}

impl Shown {
    /// Whether a message line ([`LogRecord::line`]'s form: `NOTE: …`, `WARNING: …`,
    /// `ERROR: …`, a plain message as is) is printed.
    pub(crate) fn shows(self, line: &str) -> bool {
        match self {
            Shown::Notes => true,
            Shown::Warnings => line.starts_with("WARNING: ") || line.starts_with("ERROR: "),
            Shown::Errors => line.starts_with("ERROR: "),
        }
    }
}

/// What [`load_recipes`] prints on standard error.
#[derive(Clone, Copy)]
pub(crate) struct Reporting {
    /// BitBake's parse summary line.
    pub(crate) summary: bool,
    /// Which of the messages the configuration and the recipes log.
    pub(crate) shown: Shown,
}

impl Reporting {
    /// Everything, as BitBake prints it.
    pub(crate) const ALL: Reporting = Reporting {
        summary: true,
        shown: Shown::Notes,
    };
}

/// Memory settings for this process while it parses, as they were before afterwards (the
/// tasks a build runs later get the machine's settings back). Parsing makes and frees
/// short-lived heaps at a high rate, in forked workers that share the parent's pages:
/// - transparent huge pages off: with them the peak RSS counts whole huge pages (the
///   largest worker's ~9 MiB more, for ~3% less CPU time);
/// - freed memory returned to the system at once, not after mimalloc's 10 ms: the summed
///   peak of a cold parse of openembedded-core stays at ~142 MiB instead of 142–166 MiB
///   from run to run, for ~2% more CPU time (docs/benchmarks.md).
struct ParsingMemory {
    huge_pages_were_disabled: Option<bool>,
    purge_delay: std::ffi::c_long,
}

/// mimalloc 2's `mi_option_purge_delay` (mimalloc.h), which libmimalloc-sys does not name.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

impl ParsingMemory {
    fn while_parsing() -> ParsingMemory {
        // Where the kernel lacks the switch, parsing just runs with its default.
        let huge_pages_were_disabled = rustix::thread::transparent_huge_pages_are_disabled().ok();
        if huge_pages_were_disabled == Some(false) {
            let _ = rustix::thread::disable_transparent_huge_pages(true);
        }
        #[allow(unsafe_code)]
        // SAFETY: reads and sets an option of the allocator this program uses, which no
        // other thread sets.
        let purge_delay = unsafe {
            let delay = libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY);
            libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0);
            delay
        };
        ParsingMemory {
            huge_pages_were_disabled,
            purge_delay,
        }
    }
}

impl Drop for ParsingMemory {
    fn drop(&mut self) {
        if self.huge_pages_were_disabled == Some(false) {
            let _ = rustix::thread::disable_transparent_huge_pages(false);
        }
        #[allow(unsafe_code)]
        // SAFETY: as in `while_parsing`.
        unsafe {
            libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, self.purge_delay);
        }
    }
}

/// knotty during a parse: the messages `shown` shows, a progress bar while recipes are
/// parsed, and the memory settings for parsing.
struct Console {
    shown: Shown,
    progress: Option<indicatif::ProgressBar>,
    memory: Option<ParsingMemory>,
}

impl ParseObserver for Console {
    fn messages(&mut self, lines: &[String]) {
        for line in lines.iter().filter(|line| self.shown.shows(line)) {
            eprintln!("{line}");
        }
    }

    fn problem(&mut self, line: &str) {
        eprintln!("{line}");
    }

    fn parsing(&mut self) {
        self.memory = Some(ParsingMemory::while_parsing());
    }

    fn progress(&mut self, done: usize, total: usize) {
        let bar = self.progress.get_or_insert_with(|| {
            indicatif::ProgressBar::new(total as u64).with_style(
                indicatif::ProgressStyle::with_template(
                    "Parsing recipes: {percent:>3}% |{bar:40}| ETA: {eta_precise}",
                )
                .expect("progress template")
                .progress_chars("## "),
            )
        });
        bar.set_position(done as u64);
        if done == total {
            bar.finish_and_clear();
        }
    }
}

impl BuildDir {
    /// The build directory and environment the commands work in.
    pub(crate) fn workspace(&self) -> Result<Workspace, String> {
        Workspace::new(self.build_dir.as_deref()).map_err(|e| e.to_string())
    }
}

/// Parses (or takes from the parse cache) every recipe, printing what `shown` shows of the
/// configuration's messages as they come.
pub(crate) fn parse_recipes(
    workspace: &Workspace,
    options: &ParseOptions,
    shown: Shown,
) -> Result<ParsedRecipes, String> {
    let mut console = Console {
        shown,
        progress: None,
        memory: None,
    };
    workspace
        .parse_recipes(options, &mut console)
        .map_err(|e| e.to_string())
}

/// Prints each recipe's messages that `shown` shows (standard error), then returns
/// BitBake's summary line and the number of recipes that failed.
pub(crate) fn report(parsed: &ParsedRecipes, shown: Shown) -> (String, usize) {
    for outcome in &parsed.outcomes {
        for message in outcome.messages.iter().filter(|m| shown.shows(m)) {
            eprintln!("{message}");
        }
    }
    let summary = parsed.summary();
    (summary.to_string(), summary.errors)
}

/// [`index_recipes`], with every recipe's tasks and dependencies decoded (for task graphs
/// and listings).
pub(crate) fn load_recipes(build: &BuildDir, reporting: Reporting) -> Result<Recipes, String> {
    let mut recipes = index_recipes(build, reporting)?;
    recipes.decode_all().map_err(|e| e.to_string())?;
    Ok(recipes)
}

/// Parses (or takes from the parse cache) every recipe and indexes them for providers; a
/// recipe that fails to parse is reported and fails the whole.
pub(crate) fn index_recipes(build: &BuildDir, reporting: Reporting) -> Result<Recipes, String> {
    let parsed = parse_recipes(
        &build.workspace()?,
        &ParseOptions::with_infos(),
        reporting.shown,
    )?;
    let (summary, failed) = report(&parsed, reporting.shown);
    if reporting.summary {
        eprintln!("{summary}");
    }
    if failed > 0 {
        return Err(format!("{failed} recipes could not be parsed"));
    }
    let recipes = Recipes::new(parsed);
    print_notices(&recipes.notices);
    Ok(recipes)
}

/// Prints notices as BitBake logs them; says whether one was an error.
pub(crate) fn print_notices(notices: &[Notice]) -> bool {
    let mut errors = false;
    for notice in notices {
        errors |= notice.level == Level::Error;
        eprintln!("{}: {}", notice.level.name(), notice.message);
    }
    errors
}
