//! `chronicle mapping draft`: calls `chronicle::draft`, writes the mapping
//! (to `-o FILE` or stdout) and summarises what the sample showed on stderr.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};

use chronicle::draft::{draft, DraftOptions, SAMPLE_RECORDS};
use chronicle::exit::ExitStatus;

use super::thousands;
use crate::cli::printer::Printer;

#[derive(Debug, Args)]
pub struct MappingArgs {
    #[command(subcommand)]
    pub command: MappingCommand,
}

#[derive(Debug, Subcommand)]
pub enum MappingCommand {
    /// Sniff an input and write a commented mapping that `import` accepts as it is
    ///
    /// Reads at most --sample records. For CSV it finds the encoding, delimiter, quoting and
    /// header; for every format the column types (int, decimal with its scale, bool, timestamp
    /// with its format, json), empty ratios and candidate keys. Choices only a person can make
    /// (service, type, key, time zone) get a working default under a `# TODO` comment.
    #[command(after_help = "Examples:\n  \
        chronicle mapping draft exports/payments.csv -o payments.toml\n  \
        chronicle mapping draft dump.sql --table public.payments -o payments-pg.toml\n  \
        chronicle mapping draft orders.bson --json")]
    Draft(DraftArgs),
}

#[derive(Debug, Args)]
pub struct DraftArgs {
    /// The input: a CSV file (plain or .gz) or a dump
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Input format [default: detected from the file's name and first bytes]
    #[arg(long, value_parser = ["csv", "pgdump", "mysqldump", "bson", "extjson"])]
    pub format: Option<String>,
    /// The dump's table (`public.payments`) or collection, when it holds several
    #[arg(long, value_name = "T")]
    pub table: Option<String>,
    /// Write the mapping to this file instead of stdout
    #[arg(long, short, value_name = "M.toml")]
    pub output: Option<PathBuf>,
    /// Overwrite the --output file if it exists
    #[arg(long)]
    pub force: bool,
    /// Records to sample at most
    #[arg(long, value_name = "N", default_value_t = SAMPLE_RECORDS)]
    pub sample: usize,
}

pub fn run(args: MappingArgs, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let MappingCommand::Draft(args) = args.command;
    if let Some(out) = &args.output {
        if out.exists() && !args.force {
            anyhow::bail!(
                "{} exists; choose another --output or add --force to overwrite it",
                out.display()
            );
        }
    }
    let drafted = draft(
        &args.file,
        &DraftOptions {
            format: args.format.clone(),
            table: args.table.clone(),
            sample: args.sample.max(1),
        },
    )?;
    if let Some(csv) = &drafted.csv {
        printer.note(format!(
            "{}: {}, delimiter {:?}, {}header, {} fields",
            drafted.file,
            csv.encoding,
            csv.delimiter,
            if csv.has_header { "" } else { "no " },
            csv.fields
        ));
    }
    for c in &drafted.columns {
        printer.note(format!(
            "  {:<24} {:<10} {:>5.1}% empty{}",
            c.name,
            c.column_type.name(),
            c.empty_ratio * 100.0,
            if c.unique { "  unique" } else { "" }
        ));
    }
    let check = &drafted.check;
    printer.note(format!(
        "the draft maps {} of {} sampled records ({} rejected, {} skipped)",
        thousands(check.mapped),
        thousands(check.read),
        thousands(check.rejected),
        thousands(check.skipped)
    ));
    if let Some(reason) = &check.first_reject {
        printer.note(format!("  first reject: {reason}"));
    }
    let json = serde_json::to_value(&drafted).expect("draft serialises");
    match &args.output {
        Some(out) => {
            let tmp = out.with_extension("toml.tmp");
            std::fs::File::create(&tmp)
                .and_then(|mut f| f.write_all(drafted.mapping.as_bytes()).and(f.sync_all()))
                .and_then(|_| std::fs::rename(&tmp, out))
                .with_context(|| format!("cannot write {}", out.display()))?;
            printer.result(
                format!(
                    "wrote {}; review its TODOs, then try it with --dry-run",
                    out.display()
                ),
                &json,
            )?;
        }
        None => printer.result(drafted.mapping.trim_end(), &json)?,
    }
    Ok(ExitStatus::Success)
}
