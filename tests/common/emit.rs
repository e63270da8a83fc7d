//! The scene shared by the `--emit-sql` tests (tests/emit_sql.rs runs the
//! emitted DuckDB SQL, tests/spark.rs the Spark SQL): a store whose oldest
//! events are archived, some of them still live too (`--keep-live`), the
//! projections of fixtures/projections plus one that exercises every
//! aggregate and decimal scale, chronicle's own rebuild of each, and the live
//! part exported as a user would.

use std::path::{Path, PathBuf};

use rusqlite::types::ValueRef;

/// "Now" for every run: far after the fixture's events.
pub const NOW: &str = "2030-01-01T00:00:00Z";

/// The projections compared, with their tables in reports.db.
pub const PROJECTIONS: [(&str, &str); 5] = [
    ("revenue", "monthly_revenue"),
    ("by_country", "by_country"),
    ("payment_state", "payment_state"),
    ("exact", "exact"),
    ("exact_total", "exact_total"),
];

/// Every aggregate, decimal ties of different scales (`3.0` and `3.00`),
/// numeric payload fields, derived arithmetic with a literal, payload
/// timestamps with offsets, and no group columns in `exact_total`.
const EXTRA_CONFIG: &str = r#"
[projections.exact]
kind = "table"
types = ["payment-completed", "payment-refunded", "payment-failed"]
target = "sqlite:reports.db"
group = [
  { name = "year", value = "year(meta.received_at)" },
  { name = "service", value = "meta.service" },
  { name = "booked_day", value = "day(payload.booked)" },
]
columns = [
  { name = "events", value = "count()" },
  { name = "with_country", value = "count(payload.country)" },
  { name = "q_total", value = "sum(number(payload.q))" },
  { name = "amount_total", value = "sum(amount(payload.amount))" },
  { name = "smallest", value = "min(amount(payload.amount))" },
  { name = "largest", value = "max(amount(payload.amount))" },
  { name = "amounts", value = "count_distinct(amount(payload.amount))" },
  { name = "currencies", value = "count_distinct(currency(payload.amount))" },
  { name = "last_received", value = "max(meta.received_at)" },
  { name = "first_country", value = "min(payload.country)" },
  { name = "net", value = "amount_total - q_total + 1.500" },
  { name = "negated", value = "-(largest) + events" },
]

[projections.exact_total]
kind = "table"
types = ["payment-completed"]
target = "sqlite:reports.db"
columns = [
  { name = "events", value = "count()" },
  { name = "total", value = "sum(amount(payload.amount))", types = ["payment-completed"] },
]
"#;

/// Events added to payments.jsonl: equal amounts of different scales in one
/// group (the earliest must win `min`/`max`), numbers as JSON numbers and as
/// strings, payload timestamps with offsets, a money string with spaces.
const EXTRA_EVENTS: &[&str] = &[
    r#"{"id":"00000000-0000-4000-8000-000000000001","meta":{"service":"extra","type":"payment-completed","created_at":"2016-01-20T10:00:00.000Z","received_at":"2016-01-20T10:00:00.000Z","aggregate_id":"payment/X-1"},"payload":{"amount":"3.0/EUR","q":2.5,"booked":"2016-01-20T23:30:00-02:00"}}"#,
    r#"{"id":"00000000-0000-4000-8000-000000000002","meta":{"service":"extra","type":"payment-completed","created_at":"2016-01-20T10:00:00.000Z","received_at":"2016-01-20T10:00:00.000Z","aggregate_id":"payment/X-1"},"payload":{"amount":"3.00/EUR","q":"7.125","booked":"2016-01-20T23:30:00-02:00"}}"#,
    r#"{"id":"00000000-0000-4000-8000-000000000003","meta":{"service":"extra","type":"payment-refunded","created_at":"2016-02-20T10:00:00.000Z","received_at":"2016-02-21T10:00:00.000Z","aggregate_id":"payment/X-1"},"payload":{"amount":" 0.100 / EUR","q":-4,"booked":"2016-02-20T01:30:00+02:00","country":"NL"}}"#,
    r#"{"id":"00000000-0000-4000-8000-000000000004","meta":{"service":"extra","type":"payment-completed","created_at":"2016-05-20T10:00:00.000Z","received_at":"2016-05-20T10:00:00.000Z","aggregate_id":"payment/X-2"},"payload":{"amount":"1000.000/USD","q":0,"booked":"2016-05-20T10:00:00Z"}}"#,
    r#"{"id":"00000000-0000-4000-8000-000000000005","meta":{"service":"extra","type":"payment-completed","created_at":"2016-05-21T10:00:00.000Z","received_at":"2016-05-21T10:00:00.000Z","aggregate_id":"payment/X-2"},"payload":{"amount":"1000/USD","booked":"2016-05-21T10:00:00Z"}}"#,
];

pub struct Scene {
    pub dir: tempfile::TempDir,
}

impl Scene {
    /// The store, the archive (January archived and deleted, February
    /// archived and kept live) and chronicle's rebuild of every projection.
    pub fn new() -> Scene {
        let dir = tempfile::tempdir().unwrap();
        let fixtures = super::fixture("projections");
        let config = std::fs::read_to_string(fixtures.join("chronicle.toml")).unwrap();
        std::fs::write(dir.path().join("chronicle.toml"), config + EXTRA_CONFIG).unwrap();
        let events = std::fs::read_to_string(fixtures.join("payments.jsonl")).unwrap()
            + &EXTRA_EVENTS.join("\n")
            + "\n";
        std::fs::write(dir.path().join("events.jsonl"), events).unwrap();
        let scene = Scene { dir };
        scene.ok(&["-q", "import", "events", "events.jsonl"]);
        scene.ok(&["-q", "archive", "--before", "2016-02-01"]);
        scene.ok(&["-q", "archive", "--before", "2016-03-01", "--keep-live"]);
        for (name, _) in PROJECTIONS {
            scene.ok(&["-q", "rebuild", name, "--now", NOW]);
        }
        scene
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn ok(&self, args: &[&str]) -> String {
        let out = super::command(self.dir.path(), args).output().unwrap();
        assert!(
            out.status.success(),
            "chronicle {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// The SQL emitted for `name`, written to NAME.ENGINE.sql, and the live
    /// part exported the way its header says.
    pub fn emit(&self, name: &str, engine: &str) -> PathBuf {
        let live = self.path(&format!("{name}.live.jsonl"));
        let live = live.to_str().unwrap();
        let sql = self.ok(&[
            "rebuild",
            name,
            "--emit-sql",
            engine,
            "--live-part",
            live,
            "--now",
            NOW,
        ]);
        // The header names the export command that makes the live part.
        let export = sql
            .lines()
            .find_map(|l| l.strip_prefix("--   chronicle "))
            .expect("the header shows the export command")
            .to_string();
        let args: Vec<&str> = export.split(' ').collect();
        let mut all = vec!["-q"];
        all.extend(args);
        self.ok(&all);
        assert!(Path::new(live).exists());
        let file = self.path(&format!("{name}.{engine}.sql"));
        std::fs::write(&file, sql).unwrap();
        file
    }

    /// chronicle's table, every cell as text (NULL as `None`), sorted.
    pub fn table(&self, table: &str) -> Vec<Vec<Option<String>>> {
        let conn = rusqlite::Connection::open(self.path("reports.db")).unwrap();
        let mut stmt = conn.prepare(&format!("SELECT * FROM \"{table}\"")).unwrap();
        let n = stmt.column_count();
        let mut rows = stmt.query([]).unwrap();
        let mut out = Vec::new();
        while let Some(row) = rows.next().unwrap() {
            out.push(
                (0..n)
                    .map(|i| match row.get_ref(i).unwrap() {
                        ValueRef::Null => None,
                        ValueRef::Integer(v) => Some(v.to_string()),
                        ValueRef::Text(t) => Some(String::from_utf8_lossy(t).into_owned()),
                        other => panic!("unexpected {other:?}"),
                    })
                    .collect(),
            );
        }
        out.sort();
        out
    }

    /// The column names of chronicle's table, in order.
    pub fn columns(&self, table: &str) -> Vec<String> {
        let conn = rusqlite::Connection::open(self.path("reports.db")).unwrap();
        let stmt = conn.prepare(&format!("SELECT * FROM \"{table}\"")).unwrap();
        stmt.column_names().iter().map(|s| s.to_string()).collect()
    }
}

/// Rows printed by a reader script as JSON arrays, cells as text, sorted.
pub fn rows_from_json(rows: &serde_json::Value) -> Vec<Vec<Option<String>>> {
    let mut out: Vec<Vec<Option<String>>> = rows
        .as_array()
        .expect("rows")
        .iter()
        .map(|row| {
            row.as_array()
                .expect("row")
                .iter()
                .map(|cell| match cell {
                    serde_json::Value::Null => None,
                    serde_json::Value::String(s) => Some(s.clone()),
                    other => Some(other.to_string()),
                })
                .collect()
        })
        .collect();
    out.sort();
    out
}
