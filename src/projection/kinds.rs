//! The kinds as the driver sees them ([`Kind`]): each is opened for one run,
//! takes the window's rows, and commits its result with the checkpoint —
//! in the sink's transaction for `table` and `latest`, in the store after
//! the program's zero exit for `exec`. A dry run is a kind that only counts.

use std::sync::Arc;

use super::config::{ExecDef, LatestDef, TableDef};
use super::driver::{Kind, StoreOpener, Written};
use super::exec::{self, ExecEnv, ExecSink};
use super::expr::RowExpr;
use super::latest::LatestWriter;
use super::sink::{self, ProjectionState, SqlSink};
use super::source::{Input, Prepare, Row};
use super::table::{Prepared, TableFold, TableRows};
use super::types::TypeIndex;
use super::{store_checkpoint_name, Mode};
use crate::archive::parquet::Columns;
use crate::event::{format_millis, Event, Millis};
use crate::store::OpenMode;

/// What every kind's run needs to know.
pub struct RunCtx<'a> {
    pub name: &'a str,
    pub mode: Mode,
    /// The checkpoint the run starts from (`None` for a rebuild).
    pub since: Option<Millis>,
    /// The stable time: the end of the window and the new checkpoint.
    pub until: Millis,
    pub types: &'a Arc<TypeIndex>,
}

/// The archive columns the expressions `exprs` read.
fn columns_of<'e>(exprs: impl IntoIterator<Item = &'e RowExpr>) -> Columns {
    fn mark(e: &RowExpr, c: &mut Columns) {
        match e {
            RowExpr::Id | RowExpr::Type | RowExpr::ReceivedAt => {}
            RowExpr::Service => c.service = true,
            RowExpr::CreatedAt => c.created_at = true,
            RowExpr::AggregateId => c.aggregate_id = true,
            RowExpr::CorrelationId => c.correlation_id = true,
            RowExpr::Payload(_) => c.payload = true,
            RowExpr::Part(_, inner)
            | RowExpr::Amount(inner)
            | RowExpr::Currency(inner)
            | RowExpr::Number(inner) => mark(inner, c),
        }
    }
    let mut columns = Columns::KEYS;
    for e in exprs {
        mark(e, &mut columns);
    }
    columns
}

/// Runs `work` inside a sink transaction: committed when it succeeds,
/// rolled back otherwise (and by the database itself if the process dies).
fn in_transaction<T>(
    sink: &mut dyn SqlSink,
    work: impl FnOnce(&mut dyn SqlSink) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    sink.begin()?;
    match work(sink) {
        Ok(value) => {
            sink.commit()?;
            Ok(value)
        }
        Err(e) => {
            let _ = sink.rollback();
            Err(e)
        }
    }
}

/// A suffix that keeps index and constraint names of a new table unique
/// in the schema (runs are serialised by the lock, and take far longer than
/// a millisecond). The wall clock, not `--now`, which tests fix.
fn generation() -> i64 {
    crate::event::now_millis()
}

/// Fails unless the sink's checkpoint is still the one this run started
/// from: a second writer (e.g. after a lock takeover) must not be merged
/// over.
fn check_unchanged(
    sink: &mut dyn SqlSink,
    name: &str,
    since: Option<Millis>,
    table: &str,
) -> anyhow::Result<()> {
    if since.is_some() && !sink.table_exists(table)? {
        anyhow::bail!(
            "table {table} of projection {name} is missing although its checkpoint is recorded; run `chronicle rebuild {name}`"
        );
    }
    let now = sink::read_state(sink, name)?.map(|s| s.checkpoint);
    if now != since {
        anyhow::bail!(
            "the checkpoint of projection {name} moved during this run (from {:?} to {:?}); nothing was written, run again",
            since.map(format_millis),
            now.map(format_millis)
        );
    }
    Ok(())
}

/// `kind = "table"`: folded in memory, written in one transaction.
pub struct TableKind<'a> {
    ctx: &'a RunCtx<'a>,
    def: Arc<TableDef>,
    fold: TableFold,
    rows: Arc<TableRows>,
    /// `None` in a fork, which only folds.
    sink: Option<Box<dyn SqlSink>>,
}

impl<'a> TableKind<'a> {
    /// Connects first: an unreachable sink should fail before a long scan.
    pub fn open(ctx: &'a RunCtx<'a>, def: &TableDef) -> anyhow::Result<TableKind<'a>> {
        let sink = sink::open(&def.target)?;
        let def = Arc::new(def.clone());
        Ok(TableKind {
            ctx,
            fold: TableFold::new(Arc::clone(&def)),
            rows: Arc::new(TableRows::new(Arc::clone(&def), ctx.types)),
            def,
            sink: Some(sink),
        })
    }
}

impl Kind for TableKind<'_> {
    type Data = Prepared;

    fn columns(&self) -> Columns {
        let group = self.def.group.iter().map(|g| &g.expr);
        let args = self.def.columns.iter().filter_map(|c| match c {
            super::config::Column::Aggregate { arg, .. } => arg.as_ref(),
            super::config::Column::Derived { .. } => None,
        });
        columns_of(group.chain(args))
    }

    fn prepare(&self) -> Arc<Prepare<Prepared>> {
        let rows = Arc::clone(&self.rows);
        Arc::new(move |event: Input<'_>, type_pos| rows.prepare(event.view(), type_pos))
    }

    fn apply(&mut self, row: Row<Prepared>) -> anyhow::Result<()> {
        let (id, types) = (row.id, self.ctx.types);
        self.fold.apply(row.data, || {
            format!("event {id} ({})", types.names()[row.type_pos])
        })
    }

    fn fork(&self) -> Option<Self> {
        Some(TableKind {
            ctx: self.ctx,
            def: Arc::clone(&self.def),
            fold: TableFold::new(Arc::clone(&self.def)),
            rows: Arc::clone(&self.rows),
            sink: None,
        })
    }

    fn absorb(&mut self, later: Self) -> anyhow::Result<()> {
        self.fold.absorb(later.fold)
    }

    fn commit(self, state: ProjectionState) -> anyhow::Result<Written> {
        let (ctx, def, fold) = (self.ctx, &self.def, self.fold);
        let mut sink = self.sink.expect("only a fork has no sink");
        let rows = in_transaction(sink.as_mut(), |sink| {
            sink::ensure_meta(sink)?;
            let rows = match ctx.mode {
                Mode::Rebuild => fold.write_fresh(sink, generation())?,
                Mode::Project => {
                    check_unchanged(sink, ctx.name, ctx.since, &def.table)?;
                    fold.merge_into(sink, generation())?
                }
            };
            sink::write_state(sink, ctx.name, &state)?;
            Ok(rows)
        })?;
        Ok(Written::rows(rows))
    }
}

/// `kind = "latest"`: upserts in one transaction, from the shadow's
/// creation to the swap, so that a failed or killed rebuild leaves the old
/// table and no half-built one.
pub struct LatestKind<'a> {
    ctx: &'a RunCtx<'a>,
    def: &'a LatestDef,
    sink: Box<dyn SqlSink>,
    writer: LatestWriter<'a>,
}

impl<'a> LatestKind<'a> {
    pub fn open(ctx: &'a RunCtx<'a>, def: &'a LatestDef) -> anyhow::Result<LatestKind<'a>> {
        let mut sink = sink::open(&def.target)?;
        sink.begin()?;
        let shadow = format!("{}__shadow", def.table);
        let start = |sink: &mut dyn SqlSink| -> anyhow::Result<LatestWriter<'a>> {
            sink::ensure_meta(sink)?;
            let writer_table = match ctx.mode {
                Mode::Rebuild => shadow.clone(),
                Mode::Project => {
                    check_unchanged(sink, ctx.name, ctx.since, &def.table)?;
                    def.table.clone()
                }
            };
            let writer = LatestWriter::new(def, writer_table);
            if ctx.mode == Mode::Rebuild || !sink.table_exists(&def.table)? {
                writer.create(sink, generation())?;
            }
            Ok(writer)
        };
        match start(sink.as_mut()) {
            Ok(writer) => Ok(LatestKind {
                ctx,
                def,
                sink,
                writer,
            }),
            Err(e) => {
                let _ = sink.rollback();
                Err(e)
            }
        }
    }

    fn finish(&mut self, state: &ProjectionState) -> anyhow::Result<Written> {
        let sink = self.sink.as_mut();
        self.writer.flush(sink)?;
        if self.ctx.mode == Mode::Rebuild {
            sink::swap(
                sink,
                &format!("{}__shadow", self.def.table),
                &self.def.table,
            )?;
        }
        sink::write_state(sink, self.ctx.name, state)?;
        let table_rows = sink::count_rows(sink, &self.def.table)?;
        Ok(Written {
            rows: self.writer.rows_written,
            without_aggregate: self.writer.without_aggregate,
            table_rows: Some(table_rows),
        })
    }
}

impl Kind for LatestKind<'_> {
    type Data = Event;

    fn columns(&self) -> Columns {
        // The row keeps aggregate_id, type and (created_at, received_at,
        // id) besides the fields.
        let mut columns = columns_of(self.def.fields.iter().map(|(_, e)| e));
        columns.aggregate_id = true;
        columns.created_at = true;
        columns
    }

    fn prepare(&self) -> Arc<Prepare<Event>> {
        // Owned live events are kept as they are, not copied.
        Arc::new(|event, _| event.into_event())
    }

    fn apply(&mut self, row: Row<Event>) -> anyhow::Result<()> {
        self.writer.add(self.sink.as_mut(), &row.data)
    }

    fn commit(mut self, state: ProjectionState) -> anyhow::Result<Written> {
        match self.finish(&state) {
            Ok(written) => {
                self.sink.commit()?;
                Ok(written)
            }
            Err(e) => {
                let _ = self.sink.rollback();
                Err(e)
            }
        }
    }

    fn abort(mut self) {
        let _ = self.sink.rollback();
    }
}

/// `kind = "exec"`: the events are piped to a program as JSON lines
/// (rendered on the reader threads); the checkpoint is written to the
/// store once the program exits 0.
pub struct ExecKind<'a> {
    ctx: &'a RunCtx<'a>,
    stores: StoreOpener<'a>,
    sink: ExecSink,
}

impl<'a> ExecKind<'a> {
    pub fn open(
        ctx: &'a RunCtx<'a>,
        def: &ExecDef,
        stores: StoreOpener<'a>,
    ) -> anyhow::Result<ExecKind<'a>> {
        let env = ExecEnv {
            projection: ctx.name,
            mode: ctx.mode.name(),
            since: ctx.since,
            until: ctx.until,
        };
        if ctx.mode == Mode::Rebuild {
            if let Some(reset) = &def.reset {
                exec::run_reset(reset, &env)?;
            }
        }
        let sink = ExecSink::start(&def.command, &env)?;
        Ok(ExecKind { ctx, stores, sink })
    }
}

impl Kind for ExecKind<'_> {
    type Data = String;

    fn columns(&self) -> Columns {
        Columns::ALL
    }

    fn prepare(&self) -> Arc<Prepare<String>> {
        Arc::new(|event: Input<'_>, _| {
            let event = event.view();
            let mut line = String::with_capacity(event.payload.len() + 256);
            event.write_json_line(&mut line);
            line.push('\n');
            line
        })
    }

    fn apply(&mut self, row: Row<String>) -> anyhow::Result<()> {
        self.sink.write_line(&row.data)
    }

    fn commit(self, mut state: ProjectionState) -> anyhow::Result<Written> {
        let written = self.sink.finish()?;
        state.last_run_events = written;
        let mut store = (self.stores)(OpenMode::Existing)?;
        store.set_checkpoint(
            &store_checkpoint_name(self.ctx.name),
            &serde_json::to_string(&state)?,
        )?;
        Ok(Written::rows(written))
    }

    fn abort(self) {
        self.sink.abort();
    }
}

/// `--dry-run`: counts what would be read, per source and per type, and
/// decodes only the columns that order and filter the events.
pub struct DryRun;

impl Kind for DryRun {
    type Data = ();

    fn columns(&self) -> Columns {
        Columns::KEYS
    }

    fn prepare(&self) -> Arc<Prepare<()>> {
        Arc::new(|_, _| ())
    }

    fn apply(&mut self, _row: Row<()>) -> anyhow::Result<()> {
        Ok(())
    }

    // Counting combines: the driver's `Stats` hold the counts.
    fn fork(&self) -> Option<Self> {
        Some(DryRun)
    }

    fn absorb(&mut self, _later: Self) -> anyhow::Result<()> {
        Ok(())
    }

    fn commit(self, _state: ProjectionState) -> anyhow::Result<Written> {
        Ok(Written::default())
    }
}
