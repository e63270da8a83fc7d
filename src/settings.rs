//! Settings resolved once, in one place, from flags, `CHRONICLE_*`
//! environment variables and `chronicle.toml`, in that order of precedence.
//! Commands receive a [`Settings`] and never look at the environment or the
//! config file themselves.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;

use crate::archive::root::ArchiveLocation;

pub const DEFAULT_STORE: &str = "sqlite:chronicle.db";
pub const DEFAULT_CONFIG: &str = "chronicle.toml";
pub const DEFAULT_ARCHIVE: &str = "archive";
/// Read here rather than by clap, so that `--archive` and its old
/// per-command names can be told apart from the environment.
pub const ARCHIVE_ENV: &str = "CHRONICLE_ARCHIVE";

/// The contents of `chronicle.toml`. Unknown top-level keys are errors so
/// that a misspelt `stor = ...` does not silently fall back to the default.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Store URI, e.g. `sqlite:chronicle.db` or `mongodb://host/db`.
    pub store: Option<String>,
    /// Archive location: a folder, `file:///abs/path` or `s3://bucket/prefix`
    /// (`archive = "..."`), or an `[archive]` table that may also set the
    /// object-storage endpoint.
    pub archive: Option<ArchiveConfig>,
    /// Projection definitions, `[projections.NAME]`.
    #[serde(default)]
    pub projections: BTreeMap<String, toml::Value>,
}

/// `archive = "s3://bucket/x"`, or the `[archive]` table.
#[derive(Debug, Clone)]
pub enum ArchiveConfig {
    Location(String),
    Table(ArchiveTable),
}

impl<'de> Deserialize<'de> for ArchiveConfig {
    /// A string or a table, with the table's own error (an unknown key
    /// named) rather than serde's "did not match any variant".
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        match toml::Value::deserialize(d)? {
            toml::Value::String(text) => Ok(ArchiveConfig::Location(text)),
            toml::Value::Table(table) => ArchiveTable::deserialize(toml::Value::Table(table))
                .map(ArchiveConfig::Table)
                .map_err(|e| D::Error::custom(format!("[archive]: {}", e.message()))),
            other => Err(D::Error::custom(format!(
                "archive must be a string (a folder or URL) or an [archive] table, not {}",
                other.type_str()
            ))),
        }
    }
}

/// `[archive]`: where the archive lives and how to reach object storage.
/// Credentials are never read from here: they come from the environment
/// (`AWS_ACCESS_KEY_ID`, ...), so that this file can be committed.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchiveTable {
    /// The location, as `archive = "..."` would give it.
    pub location: Option<String>,
    /// An S3-compatible endpoint (overrides `AWS_ENDPOINT_URL`).
    pub endpoint: Option<String>,
    /// The bucket's region (overrides `AWS_REGION`).
    pub region: Option<String>,
    /// Allow plain `http://` endpoints (test servers).
    pub allow_http: Option<bool>,
}

impl ArchiveConfig {
    fn location(&self) -> Option<&str> {
        match self {
            ArchiveConfig::Location(text) => Some(text),
            ArchiveConfig::Table(t) => t.location.as_deref(),
        }
    }
}

/// What the global flags and the environment said; `None` = not given.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub store: Option<String>,
    pub config: Option<PathBuf>,
    /// `--archive` (or its old per-command names).
    pub archive: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub store: String,
    pub archive: ArchiveLocation,
    pub config_path: Option<PathBuf>,
    pub config: ConfigFile,
}

impl Settings {
    /// Resolves settings. A config file named explicitly must exist; the
    /// default `./chronicle.toml` is optional.
    pub fn resolve(overrides: &Overrides) -> anyhow::Result<Settings> {
        let (config_path, config) = match &overrides.config {
            Some(path) => (Some(path.clone()), load_config(path)?),
            None if Path::new(DEFAULT_CONFIG).exists() => {
                let path = PathBuf::from(DEFAULT_CONFIG);
                (Some(path.clone()), load_config(&path)?)
            }
            None => (None, ConfigFile::default()),
        };
        let store = overrides
            .store
            .clone()
            .filter(|s| !s.is_empty())
            .or_else(|| config.store.clone())
            .unwrap_or_else(|| DEFAULT_STORE.to_string());
        // Resolved (and an unsupported scheme refused) before any command
        // runs, so nothing is written to a location that was misread.
        let env_archive = std::env::var(ARCHIVE_ENV).ok().filter(|a| !a.is_empty());
        let mut archive = ArchiveLocation::parse(
            overrides
                .archive
                .as_deref()
                .filter(|a| !a.is_empty())
                .or(env_archive.as_deref())
                .or(config.archive.as_ref().and_then(ArchiveConfig::location))
                .unwrap_or(DEFAULT_ARCHIVE),
        )?;
        // The endpoint settings apply to whichever location was chosen.
        if let (ArchiveLocation::Remote(remote), Some(ArchiveConfig::Table(table))) =
            (&mut archive, &config.archive)
        {
            remote.endpoint = table.endpoint.clone();
            remote.region = table.region.clone();
            remote.allow_http = table.allow_http;
        }
        Ok(Settings {
            store,
            archive,
            config_path,
            config,
        })
    }
}

fn load_config(path: &Path) -> anyhow::Result<ConfigFile> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    toml::from_str(&text).map_err(|e| {
        anyhow::anyhow!(
            "config file {}: {}",
            path.display(),
            e.to_string().trim_end()
        )
    })
}

#[cfg(test)]
mod archive_config_tests {
    use super::*;

    #[test]
    fn archive_is_a_string_or_a_table() {
        let c: ConfigFile = toml::from_str("archive = \"s3://b/x\"\n").unwrap();
        assert_eq!(c.archive.unwrap().location(), Some("s3://b/x"));
        let c: ConfigFile = toml::from_str(
            "[archive]\nlocation = \"s3://b/x\"\nendpoint = \"http://h:9000\"\nallow_http = true\n",
        )
        .unwrap();
        let Some(ArchiveConfig::Table(t)) = c.archive else {
            panic!("not a table")
        };
        assert_eq!(t.endpoint.as_deref(), Some("http://h:9000"));
        assert_eq!(t.allow_http, Some(true));
        let err = toml::from_str::<ConfigFile>("[archive]\nendpont = \"x\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `endpont`"), "{err}");
        assert!(toml::from_str::<ConfigFile>("archive = 3\n").is_err());
    }
}
