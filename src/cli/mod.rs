//! The command line's shared parts: the global flags (the `///` comments on
//! these fields are the `--help` text), the help examples, and how results
//! reach the terminal (printer, progress bar, summaries, signals). The
//! subcommands and their arguments live in `crate::commands`, which uses
//! this module and is never used by it.

pub mod examples;
pub mod printer;
pub mod progress_bar;
pub mod signals;
pub mod summary;

use std::path::PathBuf;

use clap::Args;

/// Flags accepted before or after any subcommand.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Store URI: sqlite:PATH or mongodb://HOST:PORT/DB [default: sqlite:chronicle.db]
    #[arg(long, global = true, env = "CHRONICLE_STORE", value_name = "URI")]
    pub store: Option<String>,
    /// Config file [default: ./chronicle.toml when it exists]
    #[arg(long, global = true, env = "CHRONICLE_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Archive location: a folder, file:///abs/path or s3://bucket/prefix [default: CHRONICLE_ARCHIVE, else `archive` in chronicle.toml, else ./archive]
    #[arg(long, global = true, value_name = "DIR")]
    pub archive: Option<String>,
    /// Print the result as one JSON object on stdout
    #[arg(long, global = true)]
    pub json: bool,
    /// Print nothing but errors
    #[arg(long, short, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Print more detail (every reject and conflict)
    #[arg(long, short, global = true)]
    pub verbose: bool,
    /// Also write the run's figures to FILE in the Prometheus text format, atomically (for
    /// node_exporter's textfile collector; see docs/json.md)
    #[arg(long, global = true, value_name = "FILE")]
    pub metrics_file: Option<PathBuf>,
}

/// `1234567` as `1,234,567`, for summaries people read at 3 a.m.
/// (indicatif's formatter, so that progress bars and summaries agree).
pub fn thousands(n: u64) -> String {
    indicatif::HumanCount(n).to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn thousands_are_grouped_by_commas() {
        for (n, shown) in [
            (0, "0"),
            (999, "999"),
            (1_000, "1,000"),
            (1_234_567, "1,234,567"),
            (u64::MAX, "18,446,744,073,709,551,615"),
        ] {
            assert_eq!(super::thousands(n), shown);
        }
    }
}
