//! Where the archive lives (its root), resolved once in [`crate::settings::Settings`]
//! from `--archive`, `CHRONICLE_ARCHIVE` or chronicle.toml's `archive`.
//!
//! Today only a local folder is supported: a plain path or a `file:///abs`
//! URI. Any other `scheme://` (`s3://bucket/x`) is refused before any job
//! starts, so that it can never become a local folder named `s3:` while
//! the live events are deleted. Object storage will be a new variant here.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::redact::redact_uri;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArchiveLocation {
    /// A folder on this machine.
    Local(PathBuf),
}

impl ArchiveLocation {
    /// Reads `text` as given by a flag, the environment or the config.
    pub fn parse(text: &str) -> anyhow::Result<ArchiveLocation> {
        if text.trim().is_empty() {
            anyhow::bail!("the archive location is empty (give a folder, e.g. --archive archive)");
        }
        let Some((scheme, rest)) = split_scheme(text) else {
            return Ok(ArchiveLocation::Local(PathBuf::from(text)));
        };
        if scheme.eq_ignore_ascii_case("file") {
            // file:///abs/path, or file://localhost/abs/path.
            let path = rest.strip_prefix("localhost").unwrap_or(rest);
            if !path.starts_with('/') {
                anyhow::bail!(
                    "archive location `{}`: a file:// URI needs an absolute path, as in file:///data/archive",
                    redact_uri(text)
                );
            }
            return Ok(ArchiveLocation::Local(PathBuf::from(path)));
        }
        anyhow::bail!(
            "archive location `{}`: {scheme}:// archives are not supported (use a local folder or file:///abs/path); nothing was written",
            redact_uri(text)
        )
    }

    /// The local folder. Every location is local today; callers that need
    /// a folder go through here so that a remote variant must be handled.
    pub fn local_path(&self) -> &Path {
        match self {
            ArchiveLocation::Local(path) => path,
        }
    }
}

impl fmt::Display for ArchiveLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArchiveLocation::Local(path) => write!(f, "{}", path.display()),
        }
    }
}

/// `("s3", "bucket/x")` for `s3://bucket/x`; `None` for a path. A scheme is
/// a letter followed by letters, digits, `+`, `-` or `.`, as in RFC 3986.
fn split_scheme(text: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = text.split_once("://")?;
    let mut chars = scheme.chars();
    let first = chars.next()?;
    (first.is_ascii_alphabetic()
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
    .then_some((scheme, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_file_uris_are_local() {
        let local = |p: &str| ArchiveLocation::Local(PathBuf::from(p));
        assert_eq!(ArchiveLocation::parse("archive").unwrap(), local("archive"));
        assert_eq!(ArchiveLocation::parse("/data/a").unwrap(), local("/data/a"));
        assert_eq!(
            ArchiveLocation::parse("file:///data/a").unwrap(),
            local("/data/a")
        );
        assert_eq!(
            ArchiveLocation::parse("file://localhost/data/a").unwrap(),
            local("/data/a")
        );
        // Not a scheme: a folder whose name holds `://` after a slash.
        assert_eq!(ArchiveLocation::parse("./x://y").unwrap(), local("./x://y"));
    }

    #[test]
    fn other_schemes_are_refused_with_secrets_hidden() {
        let err = ArchiveLocation::parse("s3://key:s3cret@bucket/x")
            .unwrap_err()
            .to_string();
        assert!(err.contains("s3:// archives are not supported"), "{err}");
        assert!(!err.contains("s3cret"), "{err}");
        assert!(ArchiveLocation::parse("file://relative/x").is_err());
        assert!(ArchiveLocation::parse("gs://b").is_err());
        assert!(ArchiveLocation::parse("").is_err());
    }
}
