//! Projections: read models and reports built from events (see
//! docs/projections.md). `rebuild` recomputes one from every event received
//! before the stable time (now minus lag), from the archive and the live
//! store merged; `project` applies the events received in
//! [checkpoint, stable) and moves the checkpoint. This module drives both;
//! the kinds (`table`, `latest`, `exec`) live in their own modules and only
//! see one event at a time, in (received_at, id) order.

pub mod boundary;
pub mod config;
pub mod emit_sql;
pub mod exec;
pub mod expr;
pub mod json;
pub mod latest;
pub mod source;
pub mod table;
pub mod target;

use crate::archive::location::Archive;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use self::boundary::{Boundary, Prefer};
use self::config::{KindDef, ProjectionDef};
use self::source::{LiveEvents, Merge, Origin, Prefetch};
use self::target::{ProjectionState, SqlTarget};
use crate::cancel::{self, Stop};
use crate::event::{format_millis, Event, Millis};
use crate::fault::fault;
use crate::progress::{Progress, Unit};
use crate::redact::redact_uri;
use crate::store::lock::{holder_label, StoreLock};
use crate::store::{self, ScanFilter, Store};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Rebuild,
    Project,
}

impl RunReport {
    pub fn mode_name(&self) -> &'static str {
        self.mode.name()
    }
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Rebuild => "rebuild",
            Mode::Project => "project",
        }
    }
}

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub store: String,
    /// The archive folder; read when it exists.
    pub archive: Option<Archive>,
    /// The clock, fixed by the caller so that a run has one stable time.
    pub now: Millis,
    pub dry_run: bool,
    /// Which version counts for an id both live and archived with
    /// different content; `None` stops the run (see [`boundary`]).
    pub prefer: Option<Prefer>,
}

/// What one run did, for the summary and `--json`.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub projection: String,
    pub kind: String,
    pub mode: Mode,
    pub dry_run: bool,
    pub target: String,
    /// Start of the window read (inclusive); `None` = from the beginning.
    pub since: Option<String>,
    /// The stable time: end of the window (exclusive), the new checkpoint.
    pub until: String,
    /// True when the checkpoint was already at the stable time.
    pub up_to_date: bool,
    pub events: u64,
    pub from_archive: u64,
    pub from_live: u64,
    /// Events found both archived and live, passed on once.
    pub in_both: u64,
    /// Of those, ids whose live and archived versions differ, settled by
    /// `--prefer`.
    pub in_both_differing: u64,
    pub per_type: BTreeMap<String, u64>,
    /// Rows inserted or updated (for `latest`, one upsert per event).
    pub rows_written: u64,
    /// `latest` only: events without `meta.aggregate_id`, which have no row.
    pub without_aggregate: u64,
    /// `latest` only: the rows the table holds after the run, one per
    /// aggregate; `None` for other kinds and dry runs.
    pub table_rows: Option<u64>,
    /// Events that changed the projection (for `latest`, those with an
    /// aggregate id).
    pub events_applied: u64,
    pub elapsed_s: f64,
    pub events_per_s: f64,
}

/// The projection's event types, with their positions for cheap lookups.
pub struct TypeIndex(Vec<String>);

impl TypeIndex {
    pub fn position(&self, event_type: &str) -> Option<usize> {
        self.0.iter().position(|t| t == event_type)
    }
}

/// `event ID (TYPE)`, the prefix of every error about one event.
pub fn event_context(event: &Event) -> String {
    format!("event {} ({})", event.id, event.event_type)
}

/// The merged stream a run reads.
pub type Events = Box<dyn Iterator<Item = anyhow::Result<(Origin, Event)>>>;

/// The events of `filter` from the archive (when `archive` is a folder) and
/// the live store, merged; each side leaves out the ids `boundary` assigns
/// to the other, so that an id is read once.
pub fn merged_events(
    store_uri: &str,
    archive: Option<&Archive>,
    filter: &ScanFilter,
    boundary: &Arc<Boundary>,
) -> anyhow::Result<Events> {
    let live_store = store::open_existing(store_uri)?;
    let live_filter = filter.clone();
    let skip = Arc::clone(boundary);
    let live = Prefetch::spawn(move || {
        Ok(LiveEvents::new(live_store, live_filter)
            .filter(move |e| !matches!(e, Ok(e) if skip.skip_live.contains(&e.id))))
    });
    let archived = match archive {
        Some(dir) if dir.exists()? => Some(archive_events(
            dir.clone(),
            filter.clone(),
            Arc::clone(boundary),
        )),
        _ => None,
    };
    Ok(match archived {
        Some(archived) => Box::new(Merge::new(archived, live)),
        None => Box::new(Merge::new(std::iter::empty(), live)),
    })
}

/// Archived events of `filter`, read on their own thread (partitions are
/// pruned by the reader, from folder names and manifests).
fn archive_events(dir: Archive, filter: ScanFilter, boundary: Arc<Boundary>) -> Prefetch {
    Prefetch::spawn(move || {
        Ok(crate::archive::read::archived_events(&dir, &filter)?
            .filter(move |e| !matches!(e, Ok(e) if boundary.skip_archive.contains(&e.id))))
    })
}

/// Takes `projection:NAME` in the store for the duration of a run.
fn take_lock(store_uri: &str, def: &ProjectionDef, mode: Mode) -> anyhow::Result<StoreLock> {
    StoreLock::acquire(
        store::open_with(store_uri, store::OpenMode::Existing)?,
        &store_checkpoint_name(&def.name),
        &holder_label(&format!("{} {}", mode.name(), def.name)),
        &format!("projection {}", def.name),
    )
}

/// What went by, per source and per type.
#[derive(Debug, Clone, Default)]
struct Stats {
    events: u64,
    from_archive: u64,
    from_live: u64,
    in_both: u64,
    per_type: Vec<u64>,
}

impl Stats {
    fn new(types: usize) -> Stats {
        Stats {
            per_type: vec![0; types],
            ..Stats::default()
        }
    }

    fn add(&mut self, other: &Stats) {
        self.events += other.events;
        self.from_archive += other.from_archive;
        self.from_live += other.from_live;
        self.in_both += other.in_both;
        for (a, b) in self.per_type.iter_mut().zip(&other.per_type) {
            *a += b;
        }
    }
}

/// Progress shared by the threads of one run, and their common stop: the
/// first to fail stops the others.
struct Shared<'a> {
    progress: &'a dyn Progress,
    seen: AtomicU64,
    stop: Stop,
}

/// Events counted between two progress updates and lock renewals.
const TICK: u64 = 8192;

/// Reads a merged stream, counts it into `stats`, and hands each event of
/// the projection's types to `apply`.
fn drive(
    events: Events,
    types: &TypeIndex,
    stats: &mut Stats,
    shared: &Shared<'_>,
    mut lock: Option<&mut StoreLock>,
    mut apply: impl FnMut(&Event, usize) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut unreported = 0u64;
    for item in events {
        shared.stop.check()?;
        let (origin, event) = item?;
        // The sources filter by type already; this guard keeps the promise
        // that other types are never passed on even if one did not.
        let Some(pos) = types.position(&event.event_type) else {
            continue;
        };
        stats.events += 1;
        match origin {
            Origin::Archive => stats.from_archive += 1,
            Origin::Live => stats.from_live += 1,
            Origin::Both => stats.in_both += 1,
        }
        stats.per_type[pos] += 1;
        apply(&event, pos)?;
        unreported += 1;
        if unreported == TICK {
            let seen = shared.seen.fetch_add(unreported, AtomicOrdering::Relaxed) + unreported;
            shared.progress.set_position(seen);
            unreported = 0;
            if let Some(lock) = lock.as_deref_mut() {
                lock.renew()?;
            }
        }
    }
    shared.seen.fetch_add(unreported, AtomicOrdering::Relaxed);
    Ok(())
}

/// Opens the merged stream of a window; called from worker threads.
type Open<'a> = &'a (dyn Fn(&ScanFilter) -> anyhow::Result<Events> + Sync);

/// Where a table fold can be cut in two windows read in parallel: the end
/// of the last archived partition inside the window, so that one thread
/// reads (mostly) the archive and the other (mostly) the live store. Both
/// windows are still merged from both sources, so the cut is only about
/// speed, never about which events are read.
fn split_point(archive: Option<&Archive>, filter: &ScanFilter) -> Option<Millis> {
    let dir = archive.filter(|d| d.exists().unwrap_or(false))?;
    let partitions = crate::archive::read::partitions_for(dir, filter).ok()?;
    let cut = partitions.last()?.end();
    let inside = filter.since.is_none_or(|s| cut > s) && filter.until.is_none_or(|u| cut < u);
    inside.then_some(cut)
}

/// The checkpoint of a projection, wherever its kind keeps it.
pub fn read_state(def: &ProjectionDef, store_uri: &str) -> anyhow::Result<Option<ProjectionState>> {
    match &def.kind {
        KindDef::Table(t) => target::read_state(target::open(&t.target)?.as_mut(), &def.name),
        KindDef::Latest(l) => target::read_state(target::open(&l.target)?.as_mut(), &def.name),
        KindDef::Exec(_) => read_store_state(store::open_existing(store_uri)?.as_mut(), &def.name),
    }
}

fn store_checkpoint_name(name: &str) -> String {
    format!("projection:{name}")
}

fn read_store_state(store: &mut dyn Store, name: &str) -> anyhow::Result<Option<ProjectionState>> {
    match store.checkpoint(&store_checkpoint_name(name))? {
        Some(text) => Ok(Some(serde_json::from_str(&text).map_err(|e| {
            anyhow::anyhow!("checkpoint of projection {name} in the store is damaged ({e})")
        })?)),
        None => Ok(None),
    }
}

/// Runs `rebuild` or `project` for one projection.
pub fn run(
    def: &ProjectionDef,
    mode: Mode,
    options: &RunOptions,
    progress: &dyn Progress,
) -> anyhow::Result<RunReport> {
    let started = Instant::now();
    let stable = options.now - def.lag_ms;
    let target_name = match &def.kind {
        KindDef::Table(t) => format!("{} table {}", redact_uri(&t.target), t.table),
        KindDef::Latest(l) => format!("{} table {}", redact_uri(&l.target), l.table),
        KindDef::Exec(e) => crate::redact::redact_text(&e.command.join(" ")),
    };
    let mut lock = if options.dry_run {
        None
    } else {
        Some(take_lock(&options.store, def, mode)?)
    };
    fault("after-lock");
    let previous = match mode {
        Mode::Rebuild => None,
        Mode::Project => read_state(def, &options.store)?,
    };
    let since = previous.as_ref().map(|s| s.checkpoint);
    let mut report = RunReport {
        projection: def.name.clone(),
        kind: def.kind.name().to_string(),
        mode,
        dry_run: options.dry_run,
        target: target_name,
        since: since.map(format_millis),
        until: format_millis(stable),
        up_to_date: false,
        events: 0,
        from_archive: 0,
        from_live: 0,
        in_both: 0,
        in_both_differing: 0,
        per_type: BTreeMap::new(),
        rows_written: 0,
        without_aggregate: 0,
        table_rows: None,
        events_applied: 0,
        elapsed_s: 0.0,
        events_per_s: 0.0,
    };
    if since.is_some_and(|s| s >= stable) {
        report.up_to_date = true;
        return Ok(report);
    }
    let filter = ScanFilter {
        types: def.types.clone(),
        since,
        until: Some(stable),
    };
    let types = TypeIndex(def.types.clone());
    let boundary = Arc::new(Boundary::resolve(
        options.archive.as_ref(),
        store::open_existing(&options.store)?.as_mut(),
        &filter,
        options.prefer,
    )?);
    let open =
        |f: &ScanFilter| merged_events(&options.store, options.archive.as_ref(), f, &boundary);
    let state = ProjectionState {
        checkpoint: stable,
        last_run_at: options.now,
        last_run: mode.name().to_string(),
        last_run_events: 0,
    };
    let shared = Shared {
        progress,
        seen: AtomicU64::new(0),
        stop: Stop::new(),
    };
    progress.start(&format!("{} {}", mode.name(), def.name), None, Unit::Events);
    let mut stats = Stats::new(def.types.len());
    let ctx = RunCtx {
        def,
        mode,
        since,
        types: &types,
        shared: &shared,
    };
    let outcome = if options.dry_run {
        drive(open(&filter)?, &types, &mut stats, &shared, None, |_, _| {
            Ok(())
        })
        .map(|()| Written::default())
    } else {
        let lock = lock.as_mut();
        match &def.kind {
            KindDef::Table(t) => run_table(
                &ctx,
                t,
                &open,
                &filter,
                options.archive.as_ref(),
                &mut stats,
                lock,
                state,
            ),
            KindDef::Latest(l) => run_latest(&ctx, l, open(&filter)?, &mut stats, lock, state),
            KindDef::Exec(e) => run_exec(
                &ctx,
                e,
                stable,
                open(&filter)?,
                &mut stats,
                lock,
                state,
                &options.store,
            ),
        }
    };
    progress.set_position(stats.events);
    progress.finish();
    let written = outcome.map_err(|e| match cancel::interruption(&e) {
        Some(_) => e.context(format!(
            "{} {} stopped after {} events: nothing was committed and the checkpoint did not move (a run is one transaction); run it again",
            mode.name(),
            def.name,
            stats.events
        )),
        None => e,
    })?;
    report.rows_written = written.rows;
    report.without_aggregate = written.without_aggregate;
    report.table_rows = written.table_rows;
    report.events = stats.events;
    report.events_applied = stats.events - written.without_aggregate;
    report.from_archive = stats.from_archive;
    report.from_live = stats.from_live;
    report.in_both = stats.in_both + boundary.identical + boundary.differing;
    report.in_both_differing = boundary.differing;
    let elapsed = started.elapsed().as_secs_f64();
    for (t, n) in def.types.iter().zip(&stats.per_type) {
        report.per_type.insert(t.clone(), *n);
    }
    report.elapsed_s = (elapsed * 1000.0).round() / 1000.0;
    report.events_per_s = if elapsed > 0.0 {
        report.events as f64 / elapsed
    } else {
        0.0
    };
    Ok(report)
}

/// Runs `work` inside a target transaction: committed when it succeeds,
/// rolled back otherwise (and by the database itself if the process dies).
fn in_transaction<T>(
    target: &mut dyn SqlTarget,
    work: impl FnOnce(&mut dyn SqlTarget) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    target.begin()?;
    match work(target) {
        Ok(value) => {
            target.commit()?;
            Ok(value)
        }
        Err(e) => {
            let _ = target.rollback();
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

/// Fails unless the target's checkpoint is still the one this run started
/// from: a second writer (e.g. after a lock takeover) must not be merged
/// over.
fn check_unchanged(
    target: &mut dyn SqlTarget,
    name: &str,
    since: Option<Millis>,
    table: &str,
) -> anyhow::Result<()> {
    if since.is_some() && !target.table_exists(table)? {
        anyhow::bail!(
            "table {table} of projection {name} is missing although its checkpoint is recorded; run `chronicle rebuild {name}`"
        );
    }
    let now = target::read_state(target, name)?.map(|s| s.checkpoint);
    if now != since {
        anyhow::bail!(
            "the checkpoint of projection {name} moved during this run (from {:?} to {:?}); nothing was written, run again",
            since.map(format_millis),
            now.map(format_millis)
        );
    }
    Ok(())
}

/// What every kind's run needs to know.
struct RunCtx<'a> {
    def: &'a ProjectionDef,
    mode: Mode,
    since: Option<Millis>,
    types: &'a TypeIndex,
    shared: &'a Shared<'a>,
}

/// What a kind wrote.
#[derive(Debug, Clone, Copy, Default)]
struct Written {
    rows: u64,
    /// `latest` only: events without `meta.aggregate_id`.
    without_aggregate: u64,
    /// `latest` only: the rows the table holds after the run (one per
    /// aggregate), which is not the number of upserts.
    table_rows: Option<u64>,
}

impl Written {
    fn rows(rows: u64) -> Written {
        Written {
            rows,
            ..Written::default()
        }
    }
}

/// Folds one window of events into a table fold.
fn fold_window<'d>(
    ctx: &RunCtx<'_>,
    t: &'d config::TableDef,
    events: Events,
    lock: Option<&mut StoreLock>,
) -> anyhow::Result<(table::TableFold<'d>, Stats)> {
    let mut fold = table::TableFold::new(t, ctx.types);
    let mut stats = Stats::new(ctx.types.0.len());
    drive(
        events,
        ctx.types,
        &mut stats,
        ctx.shared,
        lock,
        |event, pos| fold.add(event, pos),
    )?;
    Ok((fold, stats))
}

#[allow(clippy::too_many_arguments)]
fn run_table(
    ctx: &RunCtx<'_>,
    t: &config::TableDef,
    open: Open<'_>,
    filter: &ScanFilter,
    archive: Option<&Archive>,
    stats: &mut Stats,
    lock: Option<&mut StoreLock>,
    mut state: ProjectionState,
) -> anyhow::Result<Written> {
    // Connect first: an unreachable target should fail before a long scan.
    let mut target = target::open(&t.target)?;
    let fold = match split_point(archive, filter) {
        None => {
            let (fold, s) = fold_window(ctx, t, open(filter)?, lock)?;
            stats.add(&s);
            fold
        }
        Some(cut) => {
            // Two windows folded on two threads; the later one is absorbed
            // into the earlier one, which gives exactly the sequential fold.
            let early = ScanFilter {
                until: Some(cut),
                ..filter.clone()
            };
            let late = ScanFilter {
                since: Some(cut),
                ..filter.clone()
            };
            let stop = &ctx.shared.stop;
            let (a, b) = std::thread::scope(|scope| {
                let later = scope.spawn(|| stop.guard(|| fold_window(ctx, t, open(&late)?, None)));
                let earlier = stop
                    .guard(|| open(&early).and_then(|events| fold_window(ctx, t, events, lock)));
                let later = later
                    .join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("the fold thread panicked")));
                (earlier, later)
            });
            let ((mut fold, sa), (later, sb)) = cancel::both(a, b)?;
            fold.absorb(later)?;
            stats.add(&sa);
            stats.add(&sb);
            fold
        }
    };
    state.last_run_events = stats.events;
    let def = ctx.def;
    let rows = in_transaction(target.as_mut(), |target| {
        target::ensure_meta(target)?;
        let rows = match ctx.mode {
            Mode::Rebuild => fold.write_fresh(target, generation())?,
            Mode::Project => {
                check_unchanged(target, &def.name, ctx.since, &t.table)?;
                fold.merge_into(target, generation())?
            }
        };
        target::write_state(target, &def.name, &state)?;
        Ok(rows)
    })?;
    Ok(Written::rows(rows))
}

fn run_latest(
    ctx: &RunCtx<'_>,
    l: &config::LatestDef,
    events: Events,
    stats: &mut Stats,
    lock: Option<&mut StoreLock>,
    mut state: ProjectionState,
) -> anyhow::Result<Written> {
    let mut target = target::open(&l.target)?;
    let shadow = format!("{}__shadow", l.table);
    let def = ctx.def;
    // One transaction from the shadow's creation to the swap: a failed or
    // killed rebuild leaves the old table and no half-built one.
    in_transaction(target.as_mut(), |target| {
        target::ensure_meta(target)?;
        let writer_table = match ctx.mode {
            Mode::Rebuild => shadow.clone(),
            Mode::Project => {
                check_unchanged(target, &def.name, ctx.since, &l.table)?;
                l.table.clone()
            }
        };
        let mut writer = latest::LatestWriter::new(l, writer_table);
        if ctx.mode == Mode::Rebuild || !target.table_exists(&l.table)? {
            writer.create(target, generation())?;
        }
        drive(events, ctx.types, stats, ctx.shared, lock, |event, _| {
            writer.add(target, event)
        })?;
        writer.flush(target)?;
        if ctx.mode == Mode::Rebuild {
            target::swap(target, &shadow, &l.table)?;
        }
        state.last_run_events = stats.events;
        target::write_state(target, &def.name, &state)?;
        let table_rows = target::count_rows(target, &l.table)?;
        Ok(Written {
            rows: writer.rows_written,
            without_aggregate: writer.without_aggregate,
            table_rows: Some(table_rows),
        })
    })
}

#[allow(clippy::too_many_arguments)]
fn run_exec(
    ctx: &RunCtx<'_>,
    e: &config::ExecDef,
    stable: Millis,
    events: Events,
    stats: &mut Stats,
    lock: Option<&mut StoreLock>,
    mut state: ProjectionState,
    store_uri: &str,
) -> anyhow::Result<Written> {
    let env = exec::ExecEnv {
        projection: &ctx.def.name,
        mode: ctx.mode.name(),
        since: ctx.since,
        until: stable,
    };
    if ctx.mode == Mode::Rebuild {
        if let Some(reset) = &e.reset {
            exec::run_reset(reset, &env)?;
        }
    }
    let mut sink = exec::ExecSink::start(&e.command, &env)?;
    if let Err(err) = drive(events, ctx.types, stats, ctx.shared, lock, |event, _| {
        sink.add(event)
    }) {
        sink.abort();
        return Err(err);
    }
    let written = sink.finish()?;
    state.last_run_events = written;
    let mut store = store::open_with(store_uri, store::OpenMode::Existing)?;
    store.set_checkpoint(
        &store_checkpoint_name(&ctx.def.name),
        &serde_json::to_string(&state)?,
    )?;
    Ok(Written::rows(written))
}

/// One line of `chronicle status` per projection.
#[derive(Debug, Clone, Serialize)]
pub struct ProjectionStatus {
    pub name: String,
    pub kind: String,
    pub lag_ms: i64,
    pub checkpoint: Option<String>,
    /// Milliseconds from the checkpoint to now (the lag included).
    pub behind_ms: Option<i64>,
    pub last_run: Option<String>,
    pub last_run_at: Option<String>,
    pub last_run_events: Option<u64>,
    /// Why the state could not be read (bad definition, target down).
    pub error: Option<String>,
}

/// The state of every configured projection; problems are reported per
/// projection rather than failing the whole status.
pub fn statuses(
    projections: &BTreeMap<String, toml::Value>,
    store_uri: &str,
    now: Millis,
) -> Vec<ProjectionStatus> {
    projections
        .iter()
        .map(|(name, value)| {
            let mut status = ProjectionStatus {
                name: name.clone(),
                kind: value
                    .get("kind")
                    .and_then(|k| k.as_str())
                    .unwrap_or("?")
                    .to_string(),
                lag_ms: 0,
                checkpoint: None,
                behind_ms: None,
                last_run: None,
                last_run_at: None,
                last_run_events: None,
                error: None,
            };
            let state = config::find(projections, name).and_then(|def| {
                status.lag_ms = def.lag_ms;
                // status only reads: a target file that is not there yet
                // means "never run", and is not created by looking.
                match &def.kind {
                    KindDef::Table(config::TableDef { target, .. })
                    | KindDef::Latest(config::LatestDef { target, .. })
                        if target::sqlite_file_missing(target) =>
                    {
                        Ok(None)
                    }
                    _ => read_state(&def, store_uri),
                }
            });
            match state {
                Ok(Some(s)) => {
                    status.checkpoint = Some(format_millis(s.checkpoint));
                    status.behind_ms = Some(now - s.checkpoint);
                    status.last_run = Some(s.last_run);
                    status.last_run_at = Some(format_millis(s.last_run_at));
                    status.last_run_events = Some(s.last_run_events);
                }
                Ok(None) => {}
                Err(e) => status.error = Some(format!("{e:#}")),
            }
            status
        })
        .collect()
}
