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

use super::{figures, open_existing_store, scan_filter, thousands};
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
    let filter = scan_filter(args.types, args.since, args.until)?;
    let mut store = open_existing_store(settings)?;
    let count = match &args.output {
        Some(path) => {
            let file =
                File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
            let mut out = BufWriter::with_capacity(1 << 20, file);
            let n = export(store.as_mut(), &filter, &mut out).with_context(|| {
                format!(
                    "export from store {} to {} failed",
                    store.describe(),
                    path.display()
                )
            })?;
            out.flush()
                .with_context(|| format!("cannot write {}", path.display()))?;
            n
        }
        None => {
            let described = store.describe();
            let mut out = BufWriter::with_capacity(1 << 20, printer.stdout());
            export(store.as_mut(), &filter, &mut out)
                .with_context(|| format!("export from store {described} failed"))?
        }
    };
    let human = format!(
        "exported {} events from {}",
        thousands(count),
        store.describe()
    );
    let output = args.output.as_ref().map(|p| p.display().to_string());
    let report = serde_json::json!({
        "exported": count,
        "output": output.as_deref().unwrap_or("-"),
    });
    printer.summary_beside_data(
        human,
        &report,
        figures(settings, count),
        args.output.is_none(),
    )?;
    Ok(ExitStatus::Success)
}
