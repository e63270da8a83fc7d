//! Reads of part objects on S3 are range requests, proven rather than
//! assumed: a counting HTTP proxy (tests/support/counting_proxy.py) sits
//! between chronicle and the S3 test server while `rebuild` computes a
//! projection that needs few columns from an archive whose part has several
//! row groups. Every GET of a part object must carry a `Range`, and the
//! bytes fetched must be well below the part's size: the footer and the
//! needed column chunks, not the payload column that dominates the file.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use common::archive_target::{fresh_prefix, open, s3_bucket};

const BIN: &str = env!("CARGO_BIN_EXE_chronicle");
const PROXY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/support/counting_proxy.py"
);
/// Three row groups of 128 Ki rows (src/archive/parquet/mod.rs), one part.
const ROWS: usize = 280_000;

/// `n` events in January 2015, each with a payload of about 300 bytes of
/// text that compresses poorly (hex digits of a hash), so that the payload
/// column is most of the part.
fn events(path: &Path, n: usize) {
    use sha2::Digest;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let start = 1_420_070_400_000i64; // 2015-01-01
    let step = 30 * 86_400_000i64 / n as i64;
    for i in 0..n {
        let t = chrono::DateTime::from_timestamp_millis(start + i as i64 * step)
            .unwrap()
            .format("%Y-%m-%dT%H:%M:%S%.3fZ");
        let noise: String = (0..4)
            .map(|k| hex::encode(sha2::Sha256::digest(format!("{i}:{k}").as_bytes())))
            .collect::<Vec<_>>()
            .join(" ");
        writeln!(
            out,
            r#"{{"id":"{}","meta":{{"service":"bulk","type":"t{}","created_at":"{t}","received_at":"{t}","aggregate_id":"a/{}"}},"payload":{{"i":{i},"text":"{noise}"}}}}"#,
            uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, format!("ranges:{i}").as_bytes()),
            i % 3,
            i % 1000
        )
        .unwrap();
    }
}

/// One request the proxy saw.
#[derive(serde::Deserialize, Debug)]
struct Seen {
    method: String,
    path: String,
    range: Option<String>,
    bytes: u64,
}

#[test]
fn rebuild_reads_only_footers_and_needed_column_chunks_of_s3_parts() {
    let Some(bucket) = s3_bucket() else { return };
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let url = fresh_prefix(&bucket, "ranges");
    // The endpoint comes from the environment (the table would win over
    // it), so that only the rebuild goes through the proxy.
    std::fs::write(
        dir.join("chronicle.toml"),
        format!(
            r#"store = "sqlite:live.db"

[archive]
location = "{url}"
allow_http = true

# Needs created_at alone besides the keys (id, type, received_at).
[projections.per_month]
kind = "table"
types = ["t0", "t1", "t2"]
target = "sqlite:reports.db"
group = [{{ name = "month", value = "month(meta.created_at)" }}]
columns = [{{ name = "events", value = "count()" }}]
"#
        ),
    )
    .unwrap();
    let input = dir.join("events.jsonl");
    events(&input, ROWS);
    let chronicle = |args: &[&str], endpoint: &str| {
        let out = Command::new(BIN)
            .args(args)
            .current_dir(dir)
            .env_remove("CHRONICLE_STORE")
            .env_remove("CHRONICLE_CONFIG")
            .env_remove("CHRONICLE_ARCHIVE")
            .env("AWS_ENDPOINT_URL", endpoint)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "chronicle {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    chronicle(
        &["-q", "import", "events", input.to_str().unwrap()],
        &endpoint,
    );
    chronicle(
        &["-q", "archive", "--before", "2015-02-01", "--lag", "0"],
        &endpoint,
    );

    let archive = open(&url);
    let folder = "year=2015/month=01";
    let parts: Vec<String> = archive
        .list(folder)
        .unwrap()
        .files
        .into_iter()
        .filter(|f| f.ends_with(".parquet"))
        .collect();
    assert_eq!(parts, ["part-00001.parquet"]);
    let key = format!("{folder}/{}", parts[0]);
    let size = archive.stat(&key).unwrap().unwrap().len;
    // Where the footer and the column chunks the projection needs are.
    let (groups, needed) = {
        let file = archive.top().join(&key).open().unwrap();
        let reader = parquet::file::serialized_reader::SerializedFileReader::new(file).unwrap();
        let meta = parquet::file::reader::FileReader::metadata(&reader);
        let mut needed: Vec<(u64, u64)> = Vec::new();
        for rg in meta.row_groups() {
            for chunk in rg.columns() {
                if ["id", "type", "received_at", "created_at"]
                    .contains(&chunk.column_path().string().as_str())
                {
                    let (start, len) = chunk.byte_range();
                    needed.push((start, start + len));
                }
            }
        }
        // The footer: everything after the last column chunk.
        let footer = meta
            .row_groups()
            .iter()
            .flat_map(|rg| rg.columns())
            .map(|c| c.byte_range().0 + c.byte_range().1)
            .max()
            .unwrap();
        needed.push((footer, size));
        (meta.num_row_groups(), needed)
    };
    assert_eq!(groups, 3, "the part should hold several row groups");

    // The rebuild, through the proxy.
    let log = dir.join("requests.jsonl");
    let mut proxy = Command::new("python3")
        .args([PROXY, endpoint.as_str(), log.to_str().unwrap()])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut port = String::new();
    BufReader::new(proxy.stdout.take().unwrap())
        .read_line(&mut port)
        .unwrap();
    let via_proxy = format!("http://127.0.0.1:{}", port.trim());
    let rebuilt = std::panic::catch_unwind(|| {
        chronicle(
            &[
                "-q",
                "rebuild",
                "per_month",
                "--now",
                "2030-01-01T00:00:00Z",
            ],
            &via_proxy,
        )
    });
    proxy.kill().unwrap();
    proxy.wait().unwrap();
    rebuilt.unwrap();

    let conn = rusqlite::Connection::open(dir.join("reports.db")).unwrap();
    let counted: i64 = conn
        .query_row("SELECT sum(events) FROM per_month", [], |r| r.get(0))
        .unwrap();
    assert_eq!(counted, ROWS as i64, "the rebuild counted every event");

    let seen: Vec<Seen> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let part_gets: Vec<&Seen> = seen
        .iter()
        .filter(|s| s.method == "GET" && s.path.ends_with(&key))
        .collect();
    let fetched: u64 = part_gets.iter().map(|s| s.bytes).sum();
    eprintln!(
        "rebuild over S3: {} requests, {} GETs of the part ({} bytes, {} row groups), {} bytes fetched ({:.1}%)",
        seen.len(),
        part_gets.len(),
        size,
        groups,
        fetched,
        100.0 * fetched as f64 / size as f64
    );
    for s in &part_gets {
        eprintln!("  GET {:?}: {} bytes", s.range, s.bytes);
    }
    assert!(!part_gets.is_empty(), "the part was not read: {seen:?}");
    let whole: Vec<&&Seen> = part_gets.iter().filter(|s| s.range.is_none()).collect();
    assert!(whole.is_empty(), "whole-object GETs of the part: {whole:?}");
    // Each range lies inside the footer or a needed column chunk: nothing
    // of the payload column (or any other) is fetched.
    for s in &part_gets {
        let range = s.range.as_deref().unwrap().strip_prefix("bytes=").unwrap();
        let (a, b) = range.split_once('-').unwrap();
        let (a, b): (u64, u64) = (a.parse().unwrap(), b.parse().unwrap());
        assert!(
            needed.iter().any(|&(start, end)| start <= a && b < end),
            "bytes {a}-{b} lie outside the footer and the needed column chunks {needed:?}"
        );
    }
    assert!(
        fetched * 4 < size,
        "{fetched} of {size} bytes fetched: more than the footer and the needed column chunks ({part_gets:?})"
    );
}
