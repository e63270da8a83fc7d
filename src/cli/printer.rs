//! The one place that decides what reaches the terminal: quiet, normal,
//! verbose or JSON. Results go to stdout, diagnostics to stderr, so that
//! `export` output and `--json` objects can be piped safely.

use std::fmt::Display;
use std::io::IsTerminal;

use chronicle::redact::redact_text;

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
}

impl Printer {
    pub fn new(global: &GlobalArgs) -> Printer {
        let mode = if global.json {
            Mode::Json
        } else if global.quiet {
            Mode::Quiet
        } else if global.verbose {
            Mode::Verbose
        } else {
            Mode::Normal
        };
        Printer { mode }
    }

    pub fn is_verbose(&self) -> bool {
        self.mode == Mode::Verbose
    }

    /// Progress bars only for a person watching a terminal.
    pub fn wants_progress(&self) -> bool {
        matches!(self.mode, Mode::Normal | Mode::Verbose) && std::io::stderr().is_terminal()
    }

    /// The command's result: JSON on stdout in JSON mode, text otherwise.
    pub fn result(&self, human: impl Display, json: &serde_json::Value) {
        match self.mode {
            Mode::Json => println!("{json}"),
            Mode::Quiet => {}
            Mode::Normal | Mode::Verbose => println!("{human}"),
        }
    }

    /// A diagnostic line on stderr (hidden by --quiet and --json).
    pub fn note(&self, message: impl Display) {
        if matches!(self.mode, Mode::Normal | Mode::Verbose) {
            eprintln!("{message}");
        }
    }

    /// A warning on stderr; shown in every mode but --quiet.
    pub fn warn(&self, message: impl Display) {
        if self.mode != Mode::Quiet {
            eprintln!("warning: {}", redact_text(&message.to_string()));
        }
    }

    /// A fatal error with its chain of causes; always shown.
    pub fn error(&self, error: &anyhow::Error) {
        let mut text = format!("error: {error}");
        for cause in error.chain().skip(1) {
            text.push_str(&format!("\n  caused by: {cause}"));
        }
        // Drivers' messages may quote a URI; none leaves with its secret.
        eprintln!("{}", redact_text(&text));
    }
}
