//! Where things live in an archive folder: Hive-style partition folders
//! (`year=YYYY/month=MM[/day=DD]`), part file names, and the file-system
//! primitives (fsync of files and folders, atomic replace) that the crash
//! safety of the archive procedure rests on in a local folder. Listing goes
//! through the archive's [`super::location::Backend`], so it works the
//! same on object storage.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::{Datelike, NaiveDate, TimeZone, Utc};

use super::location::{Archive, Dir, Loc};
use crate::event::Millis;

/// The manifest file of one partition folder. The leading underscore makes
/// DuckDB, pyarrow and Spark skip it when they read the folder as a dataset.
pub const MANIFEST: &str = "_manifest.json";

/// How events are grouped into partitions, by `received_at` (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Granularity {
    Month,
    Day,
}

impl std::str::FromStr for Granularity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "month" => Ok(Granularity::Month),
            "day" => Ok(Granularity::Day),
            _ => Err(format!(
                "`{s}` is not a partition size (expected month or day)"
            )),
        }
    }
}

/// One calendar month or day of `received_at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Partition {
    pub year: i32,
    pub month: u32,
    /// `Some` for daily partitions.
    pub day: Option<u32>,
}

impl Partition {
    /// The partition holding an event received at `ms`.
    pub fn of(ms: Millis, granularity: Granularity) -> Partition {
        let t = Utc
            .timestamp_millis_opt(ms)
            .single()
            .unwrap_or_else(|| Utc.timestamp_millis_opt(0).single().expect("epoch"));
        Partition {
            year: t.year(),
            month: t.month(),
            day: (granularity == Granularity::Day).then_some(t.day()),
        }
    }

    pub fn granularity(&self) -> Granularity {
        if self.day.is_some() {
            Granularity::Day
        } else {
            Granularity::Month
        }
    }

    fn first_day(&self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, self.month, self.day.unwrap_or(1)).expect("valid date")
    }

    /// First millisecond of the partition.
    pub fn start(&self) -> Millis {
        midnight(self.first_day())
    }

    /// First millisecond after the partition.
    pub fn end(&self) -> Millis {
        let d = self.first_day();
        let next = match self.day {
            Some(_) => d.succ_opt().expect("date in range"),
            None if self.month == 12 => NaiveDate::from_ymd_opt(self.year + 1, 1, 1).expect("date"),
            None => NaiveDate::from_ymd_opt(self.year, self.month + 1, 1).expect("date"),
        };
        midnight(next)
    }

    /// The partition after this one.
    pub fn next(&self) -> Partition {
        Partition::of(self.end(), self.granularity())
    }

    /// `2016-01` or `2016-01-05`: the name used in messages and JSON.
    pub fn name(&self) -> String {
        match self.day {
            Some(d) => format!("{:04}-{:02}-{:02}", self.year, self.month, d),
            None => format!("{:04}-{:02}", self.year, self.month),
        }
    }

    /// `year=2016/month=01[/day=05]`, relative to the archive folder.
    pub fn rel_dir(&self) -> PathBuf {
        let mut p = PathBuf::from(format!("year={:04}", self.year));
        p.push(format!("month={:02}", self.month));
        if let Some(d) = self.day {
            p.push(format!("day={d:02}"));
        }
        p
    }

    /// The partition's folder in `archive`.
    pub fn dir(&self, archive: &Archive) -> Dir {
        let key = self.key("");
        archive.dir(key.trim_end_matches('/').to_string())
    }

    /// The `/`-separated key of a file in the partition folder, relative to
    /// the archive root (`year=2016/month=01/_manifest.json`), as
    /// [`super::location::ControlFiles`] addresses it.
    pub fn key(&self, file: &str) -> String {
        let mut key = format!("year={:04}/month={:02}/", self.year, self.month);
        if let Some(d) = self.day {
            key.push_str(&format!("day={d:02}/"));
        }
        key.push_str(file);
        key
    }

    /// True when the partition overlaps the half-open range `[since, until)`.
    pub fn overlaps(&self, since: Option<Millis>, until: Option<Millis>) -> bool {
        since.is_none_or(|s| self.end() > s) && until.is_none_or(|u| self.start() < u)
    }
}

fn midnight(d: NaiveDate) -> Millis {
    d.and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc()
        .timestamp_millis()
}

fn hive_value(name: &str, key: &str) -> Option<u32> {
    name.strip_prefix(key)?.strip_prefix('=')?.parse().ok()
}

/// Every partition folder of `archive` that holds a manifest or a part
/// file, in time order. A missing root is an empty archive.
pub fn list_partitions(archive: &Archive) -> anyhow::Result<Vec<Partition>> {
    partitions_holding(archive, holds_partition_files)
}

/// [`list_partitions`], plus the folders that hold only temporary files
/// (a run killed before the first manifest of a partition was written):
/// the folders `archive` and `verify` look for leftovers in.
pub fn list_partitions_with_leftovers(archive: &Archive) -> anyhow::Result<Vec<Partition>> {
    partitions_holding(archive, |files| {
        holds_partition_files(files) || files.iter().any(|f| temp_run(f).is_some())
    })
}

fn partitions_holding(
    archive: &Archive,
    holds: impl Fn(&[String]) -> bool,
) -> anyhow::Result<Vec<Partition>> {
    let mut out = Vec::new();
    let top = archive.top();
    for year_name in top.list()?.dirs {
        let Some(year) = hive_value(&year_name, "year") else {
            continue;
        };
        let year_dir = archive.dir(top.key(&year_name));
        for month_name in year_dir.list()?.dirs {
            let Some(month) = hive_value(&month_name, "month").filter(|m| (1..=12).contains(m))
            else {
                continue;
            };
            let month_dir = archive.dir(year_dir.key(&month_name));
            let listing = month_dir.list()?;
            if holds(&listing.files) {
                out.push(Partition {
                    year: year as i32,
                    month,
                    day: None,
                });
            }
            for day_name in listing.dirs {
                let Some(day) = hive_value(&day_name, "day") else {
                    continue;
                };
                if NaiveDate::from_ymd_opt(year as i32, month, day).is_some()
                    && holds(&archive.dir(month_dir.key(&day_name)).list()?.files)
                {
                    out.push(Partition {
                        year: year as i32,
                        month,
                        day: Some(day),
                    });
                }
            }
        }
    }
    out.sort();
    Ok(out)
}

fn holds_partition_files(files: &[String]) -> bool {
    files.iter().any(|f| f == MANIFEST || part_seq(f).is_some())
}

/// `part-00001.parquet` for sequence number 1.
pub fn part_name(seq: u32) -> String {
    format!("part-{seq:05}.parquet")
}

/// The sequence number of a part file name, if it is one.
pub fn part_seq(name: &str) -> Option<u32> {
    name.strip_prefix("part-")?
        .strip_suffix(".parquet")?
        .parse()
        .ok()
}

/// Names of the part files present in a partition folder, sorted.
pub fn part_files_on_disk(dir: &Dir) -> anyhow::Result<Vec<String>> {
    Ok(dir
        .list()?
        .files
        .into_iter()
        .filter(|name| part_seq(name).is_some())
        .collect())
}

/// Leftover temporary files (`.part-*.tmp`, `._manifest.json.*.tmp`) of an
/// interrupted run. They are never the only copy of anything.
pub fn temp_files(dir: &Dir) -> anyhow::Result<Vec<Loc>> {
    Ok(dir
        .archive()
        .temp_files(dir.prefix())?
        .iter()
        .map(|name| dir.join(name))
        .collect())
}

/// `.NAME.RUN.tmp`: the temporary name of `name` written by run `run`.
pub fn temp_name(name: &str, run: &str) -> String {
    format!(".{name}.{run}.tmp")
}

/// `.NAME.upload.RUN.tmp`: the marker that names the pending multipart
/// upload of `name`'s temporary object on object storage
/// (src/archive/multipart.rs). A temporary file itself, so that every
/// place that finds leftovers finds it.
pub fn upload_marker_name(name: &str, run: &str) -> String {
    temp_name(&format!("{name}.upload"), run)
}

/// True for a name made by [`upload_marker_name`].
pub fn is_upload_marker(file: &str) -> bool {
    temp_run(file).is_some_and(|(name, _)| name.ends_with(".upload"))
}

/// `(NAME, RUN)` of a temporary name `.NAME.RUN.tmp`.
pub fn temp_run(file: &str) -> Option<(&str, &str)> {
    file.strip_prefix('.')?
        .strip_suffix(".tmp")?
        .rsplit_once('.')
}

/// The temporary name a file is written under before its rename:
/// `.part-00001.parquet.<run>.tmp`. It carries the run id, so that two
/// writers never write into the same temporary file.
pub fn temp_path(final_path: &Path, run: &str) -> PathBuf {
    let name = final_path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    final_path.with_file_name(temp_name(&name, run))
}

/// Makes a rename or a new file in `dir` durable.
pub fn fsync_dir(dir: &Path) -> anyhow::Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("cannot fsync folder {}", dir.display()))
}

/// Replaces `path` with `bytes` so that a reader (or a crash) sees either
/// the old or the new content, never a mix: temp file (named after `run`),
/// fsync, rename, fsync folder.
pub fn write_atomic(path: &Path, bytes: &[u8], run: &str) -> anyhow::Result<()> {
    let tmp = temp_path(path, run);
    {
        let mut f =
            File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
        f.write_all(bytes)?;
        f.sync_all()
            .with_context(|| format!("cannot fsync {}", tmp.display()))?;
    }
    fs::rename(&tmp, path).with_context(|| format!("cannot rename to {}", path.display()))?;
    fsync_dir(path.parent().unwrap_or(Path::new(".")))
}

/// Moves a finished temporary file to its final name only if no file has
/// that name yet, then fsyncs the folder. Returns `false` (and leaves `tmp`
/// in place) when the name is taken: part files are never replaced, so a
/// writer that lost a race can never overwrite another's listed part.
/// A hard link is the no-replace rename that every local file system
/// offers; where links are not supported, the existence check runs under
/// the archive folder's lock instead.
pub fn publish_new(tmp: &Path, path: &Path) -> anyhow::Result<bool> {
    match fs::hard_link(tmp, path) {
        Ok(()) => {
            fs::remove_file(tmp).with_context(|| format!("cannot remove {}", tmp.display()))?
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(false),
        Err(_) => {
            if fs::symlink_metadata(path).is_ok() {
                return Ok(false);
            }
            fs::rename(tmp, path)
                .with_context(|| format!("cannot rename {} into place", tmp.display()))?;
        }
    }
    fsync_dir(path.parent().unwrap_or(Path::new(".")))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::parse_time_bound;

    #[test]
    fn partition_bounds_and_names() {
        let ms = parse_time_bound("2016-12-31T23:59:59.999Z").unwrap();
        let p = Partition::of(ms, Granularity::Month);
        assert_eq!(p.name(), "2016-12");
        assert_eq!(p.rel_dir(), PathBuf::from("year=2016/month=12"));
        assert_eq!(p.key("x"), "year=2016/month=12/x");
        assert_eq!(p.end(), parse_time_bound("2017-01-01").unwrap());
        assert_eq!(p.next().name(), "2017-01");
        let d = Partition::of(ms, Granularity::Day);
        assert_eq!(d.rel_dir(), PathBuf::from("year=2016/month=12/day=31"));
        assert_eq!(d.start(), parse_time_bound("2016-12-31").unwrap());
        assert!(d.overlaps(Some(ms), None));
        assert!(!d.overlaps(Some(d.end()), None));
        assert!(!d.overlaps(None, Some(d.start())));
        assert_eq!(part_seq(&part_name(7)), Some(7));
    }

    #[test]
    fn upload_markers_are_temporary_names_carrying_their_run() {
        let marker = upload_marker_name("part-00001.parquet", "0123abcd4567");
        assert_eq!(marker, ".part-00001.parquet.upload.0123abcd4567.tmp");
        assert!(is_upload_marker(&marker));
        assert_eq!(temp_run(&marker).unwrap().1, "0123abcd4567");
        let tmp = temp_name("part-00001.parquet", "0123abcd4567");
        assert!(!is_upload_marker(&tmp));
        assert_eq!(temp_run(&tmp), Some(("part-00001.parquet", "0123abcd4567")));
        assert!(!is_upload_marker("part-00001.parquet"));
    }

    #[test]
    fn publishing_never_replaces_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(part_name(1));
        let (a, b) = (temp_path(&path, "a"), temp_path(&path, "b"));
        assert_ne!(a, b);
        std::fs::write(&a, "first").unwrap();
        std::fs::write(&b, "second").unwrap();
        assert!(publish_new(&a, &path).unwrap());
        assert!(!a.exists());
        assert!(!publish_new(&b, &path).unwrap());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "first");
    }
}
