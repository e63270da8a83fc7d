//! `chronicle export`: filters from flags, output to stdout or `-o FILE`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use chronicle::event::parse_time_bound;
use chronicle::exit::ExitStatus;
use chronicle::export::export;
use chronicle::settings::Settings;
use chronicle::store::ScanFilter;

use super::{open_store, thousands};
use crate::cli::printer::Printer;

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Only events of this type (repeatable)
    #[arg(long = "type", value_name = "TYPE")]
    pub types: Vec<String>,
    /// Only events received at or after this time (RFC 3339 or YYYY-MM-DD, UTC)
    #[arg(long, value_name = "TIME", value_parser = parse_time_bound)]
    pub since: Option<i64>,
    /// Only events received before this time (exclusive)
    #[arg(long, value_name = "TIME", value_parser = parse_time_bound)]
    pub until: Option<i64>,
    /// Write to FILE instead of stdout
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

pub fn run(args: ExportArgs, settings: &Settings, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let filter = ScanFilter {
        types: args.types,
        since: args.since,
        until: args.until,
    };
    let mut store = open_store(settings)?;
    let count = match &args.output {
        Some(path) => {
            let file =
                File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
            let mut out = BufWriter::with_capacity(1 << 20, file);
            let n = export(store.as_mut(), &filter, &mut out)?;
            out.flush()?;
            n
        }
        None => {
            let stdout = std::io::stdout();
            let mut out = BufWriter::with_capacity(1 << 20, stdout.lock());
            export(store.as_mut(), &filter, &mut out)?
        }
    };
    printer.note(format!(
        "exported {} events from {}",
        thousands(count),
        store.describe()
    ));
    Ok(ExitStatus::Success)
}
