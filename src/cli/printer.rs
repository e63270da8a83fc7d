//! The one place that decides what reaches the terminal: quiet, normal,
//! verbose or JSON. Results go to stdout, diagnostics to stderr, so that
//! `export` output and `--json` objects can be piped safely.
//!
//! Two rules hold in every mode. Problems (rejects, conflicts, verification
//! failures) and errors always reach stderr, one line each, so that cron
//! mail of a `--quiet` job still says what went wrong. And a stdout whose
//! reader went away (`| head`) ends the command quietly with success: every
//! stdout write goes through [`Stdout`], which turns the broken pipe into
//! [`StdoutClosed`] for `main` to recognise.

use std::cell::RefCell;
use std::fmt::Display;
use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;

use chronicle::exit::StdoutClosed;
use chronicle::redact::redact_text;

use super::summary::{Figures, RunContext};
use super::GlobalArgs;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Quiet,
    Normal,
    Verbose,
    Json,
}

pub struct Printer {
    mode: Mode,
    run: RunContext,
    metrics_file: Option<PathBuf>,
    /// The summary printed (or, with --quiet, not printed), for the
    /// metrics file.
    summary: RefCell<Option<serde_json::Value>>,
}

impl Printer {
    pub fn new(global: &GlobalArgs, command: &'static str) -> Printer {
        let mode = if global.json {
            Mode::Json
        } else if global.quiet {
            Mode::Quiet
        } else if global.verbose {
            Mode::Verbose
        } else {
            Mode::Normal
        };
        Printer {
            mode,
            run: RunContext::start(command),
            metrics_file: global.metrics_file.clone(),
            summary: RefCell::new(None),
        }
    }

    pub fn is_verbose(&self) -> bool {
        self.mode == Mode::Verbose
    }

    /// Progress bars only for a person watching a terminal.
    pub fn wants_progress(&self) -> bool {
        matches!(self.mode, Mode::Normal | Mode::Verbose) && io::stderr().is_terminal()
    }

    /// How many samples of each kind of problem to print: all of them for
    /// `--verbose`, a few otherwise (the rejects and conflicts files and the
    /// counts hold the rest).
    pub fn samples(&self) -> usize {
        if self.is_verbose() {
            usize::MAX
        } else {
            5
        }
    }

    /// The command's summary: `report` with the envelope of docs/json.md
    /// on stdout in JSON mode, `human` otherwise.
    pub fn summary(
        &self,
        human: impl Display,
        report: &serde_json::Value,
        figures: Figures<'_>,
    ) -> anyhow::Result<()> {
        let json = self.run.envelope(report, &figures);
        self.result(human, &json)?;
        *self.summary.borrow_mut() = Some(json);
        Ok(())
    }

    /// A result that is not a job's summary (`mapping draft`'s draft):
    /// `json` as it is in JSON mode, `human` otherwise, on stdout.
    pub fn result(&self, human: impl Display, json: &serde_json::Value) -> anyhow::Result<()> {
        let text = match self.mode {
            Mode::Json => json.to_string(),
            Mode::Quiet => return Ok(()),
            Mode::Normal | Mode::Verbose => human.to_string(),
        };
        let mut out = self.stdout();
        writeln!(out, "{text}")?;
        out.flush()?;
        Ok(())
    }

    /// The summary of a command that writes data (`export`): the human
    /// line is a note on stderr, and the JSON object goes to stderr too when
    /// the data went to stdout, so that the data stays clean.
    pub fn summary_beside_data(
        &self,
        human: impl Display,
        report: &serde_json::Value,
        figures: Figures<'_>,
        data_on_stdout: bool,
    ) -> anyhow::Result<()> {
        let json = self.run.envelope(report, &figures);
        match self.mode {
            Mode::Json if data_on_stdout => to_stderr(&json),
            Mode::Json => {
                let mut out = self.stdout();
                writeln!(out, "{json}")?;
                out.flush()?;
            }
            _ => self.note(human),
        }
        *self.summary.borrow_mut() = Some(json);
        Ok(())
    }

    /// Writes the metrics file, when one was asked for, once the exit code
    /// is known. A failure to write it is reported but does not change the
    /// exit code: the job itself is done.
    pub fn finish(&self, exit_code: i32) {
        let Some(path) = &self.metrics_file else {
            return;
        };
        let summary = self.summary.borrow();
        if let Err(error) = self.run.write_metrics(path, summary.as_ref(), exit_code) {
            self.error(&error);
        }
    }

    /// Where a command writes its data (e.g. `export`); a closed pipe
    /// surfaces as [`StdoutClosed`].
    pub fn stdout(&self) -> Stdout {
        Stdout(io::stdout().lock())
    }

    /// A diagnostic line on stderr (hidden by --quiet and --json).
    pub fn note(&self, message: impl Display) {
        if matches!(self.mode, Mode::Normal | Mode::Verbose) {
            to_stderr(message);
        }
    }

    /// A warning on stderr; shown in every mode but --quiet.
    pub fn warn(&self, message: impl Display) {
        if self.mode != Mode::Quiet {
            to_stderr(format_args!("warning: {message}"));
        }
    }

    /// A problem (a reject, a conflict, a verification failure): always on
    /// stderr, whatever the mode. `line` is one line naming the file or id;
    /// `detail` (e.g. both versions of a conflict) is added for a person
    /// reading a terminal, never for --quiet or --json.
    pub fn problem(&self, line: impl Display, detail: Option<&str>) {
        match (self.mode, detail) {
            (Mode::Normal | Mode::Verbose, Some(detail)) => {
                to_stderr(format_args!("{line}\n{detail}"))
            }
            _ => to_stderr(line),
        }
    }

    /// A fatal error with its chain of causes; always shown.
    pub fn error(&self, error: &anyhow::Error) {
        let mut text = format!("error: {error}");
        for cause in error.chain().skip(1) {
            text.push_str(&format!("\n  caused by: {cause}"));
        }
        to_stderr(text);
    }
}

/// One line on stderr, its URIs redacted (drivers' messages may quote
/// one; none leaves with its secret). A closed stderr cannot be reported
/// anywhere, so the error is dropped rather than panicking as `eprintln!`
/// would.
fn to_stderr(message: impl Display) {
    let _ = writeln!(io::stderr().lock(), "{}", redact_text(&message.to_string()));
}

/// Locked stdout that reports a closed pipe as [`StdoutClosed`].
pub struct Stdout(io::StdoutLock<'static>);

fn closed_pipe(error: io::Error) -> io::Error {
    if error.kind() == io::ErrorKind::BrokenPipe {
        io::Error::new(io::ErrorKind::BrokenPipe, StdoutClosed)
    } else {
        error
    }
}

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf).map_err(closed_pipe)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.0.write_all(buf).map_err(closed_pipe)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush().map_err(closed_pipe)
    }
}
