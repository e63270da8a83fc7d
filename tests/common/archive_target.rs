//! The archive locations every archive contract test runs on: a local
//! folder, and a fresh prefix of the S3 test bucket when `CHRONICLE_TEST_S3`
//! is set (scripts/ci/30-s3.sh starts moto and sets it; in CI a missing
//! server is a failure). Files are looked at through chronicle's archive
//! backend; the independent check of what is stored is pyarrow's
//! `S3FileSystem` (tests/support/read_archive.py).

use std::path::{Path, PathBuf};

use chronicle::archive::location::Archive;
use chronicle::archive::root::ArchiveLocation;

/// One archive location under test.
#[derive(Debug, Clone)]
pub enum Target {
    Local(PathBuf),
    S3(String),
}

impl Target {
    /// What `--archive` / `--to` / `--from` get.
    pub fn arg(&self) -> String {
        match self {
            Target::Local(path) => path.display().to_string(),
            Target::S3(url) => url.clone(),
        }
    }

    pub fn is_s3(&self) -> bool {
        matches!(self, Target::S3(_))
    }

    fn archive(&self) -> Archive {
        Archive::open(&ArchiveLocation::parse(&self.arg()).unwrap()).unwrap()
    }

    /// True when the file `key` (`year=2016/month=01/part-00001.parquet`)
    /// exists.
    pub fn exists(&self, key: &str) -> bool {
        self.archive().stat(key).unwrap().is_some()
    }

    /// True when anything is stored under the folder `prefix`.
    pub fn has_folder(&self, prefix: &str) -> bool {
        let listing = self.archive().list(prefix).unwrap();
        !listing.files.is_empty() || !listing.dirs.is_empty()
    }

    /// True when nothing at all is stored.
    pub fn is_empty(&self) -> bool {
        !self.archive().exists().unwrap()
    }

    /// True when the control file `key` exists (a released lock on object
    /// storage is an empty object, which reads as absent).
    pub fn control_exists(&self, key: &str) -> bool {
        self.archive().files().read(key).unwrap().is_some()
    }

    /// The text of a control file (a manifest, the lock).
    pub fn read_string(&self, key: &str) -> String {
        let (bytes, _) = self
            .archive()
            .files()
            .read(key)
            .unwrap()
            .unwrap_or_else(|| panic!("{key} is missing in {}", self.arg()));
        String::from_utf8(bytes).unwrap()
    }

    /// Replaces a control file unconditionally, as a hand edit would.
    pub fn write_string(&self, key: &str, text: &str) {
        let archive = self.archive();
        let files = archive.files();
        match files.read(key).unwrap() {
            Some((_, version)) => {
                files
                    .replace(key, &version, text.as_bytes())
                    .unwrap()
                    .unwrap();
            }
            None => {
                files.create(key, text.as_bytes()).unwrap().unwrap();
            }
        }
    }

    /// The file names in the folder `prefix`.
    pub fn files(&self, prefix: &str) -> Vec<String> {
        self.archive().list(prefix).unwrap().files
    }
}

/// A local folder `dir/name`, plus `s3://BUCKET/<name>-<uuid>` when the S3
/// test server is up.
pub fn archive_targets(dir: &Path, name: &str) -> Vec<Target> {
    let mut out = vec![Target::Local(dir.join(name))];
    if let Some(bucket) = s3_bucket() {
        out.push(Target::S3(fresh_prefix(&bucket, name)));
    }
    out
}

/// `BUCKET/<name>-<uuid>`: a prefix no other test (or run) writes under.
pub fn fresh_prefix(bucket: &str, name: &str) -> String {
    format!(
        "{}/{name}-{}",
        bucket.trim_end_matches('/'),
        uuid::Uuid::new_v4().simple()
    )
}

/// The archive at `url`, through chronicle's backend.
pub fn open(url: &str) -> Archive {
    Archive::open(&ArchiveLocation::parse(url).unwrap()).unwrap()
}

/// `CHRONICLE_TEST_S3`, or `None` outside CI when it is unset (the S3
/// variants then do not run, and say so).
pub fn s3_bucket() -> Option<String> {
    if !cfg!(feature = "s3") {
        eprintln!("skipped: built without the `s3` feature, S3 variants of this test did not run");
        return None;
    }
    match std::env::var("CHRONICLE_TEST_S3") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => {
            panic!("CI is set but CHRONICLE_TEST_S3 is not: the S3 archive tests cannot run")
        }
        _ => {
            eprintln!("skipped: CHRONICLE_TEST_S3 not set, S3 variants of this test did not run");
            None
        }
    }
}
