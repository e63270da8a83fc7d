//! Where the archive lives (its root), resolved once in [`crate::settings::Settings`]
//! from `--archive`, `CHRONICLE_ARCHIVE` or chronicle.toml's `archive`.
//!
//! A plain path or a `file:///abs` URI is a local folder; `s3://bucket/prefix`
//! is S3 or an S3-compatible server (`gs://` and `az://` go through the same
//! crate, untested). Any other `scheme://` is refused before any job
//! starts, so that it can never become a local folder named `x:` while the
//! live events are deleted. Credentials never appear here: they come from
//! the standard environment chain when the archive is opened.

use std::fmt;
use std::path::PathBuf;

use crate::redact::redact_uri;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArchiveLocation {
    /// A folder on this machine.
    Local(PathBuf),
    /// A bucket and prefix on object storage.
    Remote(RemoteLocation),
}

/// Which object store a [`RemoteLocation`] is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cloud {
    S3,
    Gcs,
    Azure,
}

/// `s3://bucket/prefix` and the endpoint settings of `[archive]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteLocation {
    pub cloud: Cloud,
    pub bucket: String,
    /// Without leading or trailing `/`; empty for the bucket's root.
    pub prefix: String,
    /// `[archive] endpoint` (else `AWS_ENDPOINT_URL`).
    pub endpoint: Option<String>,
    /// `[archive] region` (else `AWS_REGION`).
    pub region: Option<String>,
    /// `[archive] allow_http`: plain HTTP to the endpoint (test servers).
    pub allow_http: Option<bool>,
}

impl RemoteLocation {
    /// `s3://bucket/prefix`, for messages.
    pub fn url(&self) -> String {
        let scheme = match self.cloud {
            Cloud::S3 => "s3",
            Cloud::Gcs => "gs",
            Cloud::Azure => "az",
        };
        if self.prefix.is_empty() {
            format!("{scheme}://{}", self.bucket)
        } else {
            format!("{scheme}://{}/{}", self.bucket, self.prefix)
        }
    }
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
        let cloud = match scheme.to_ascii_lowercase().as_str() {
            "file" => {
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
            "s3" | "s3a" => Cloud::S3,
            "gs" => Cloud::Gcs,
            "az" | "abfs" => Cloud::Azure,
            _ => anyhow::bail!(
                "archive location `{}`: {scheme}:// archives are not supported (use a local folder, file:///abs/path or s3://bucket/prefix); nothing was written",
                redact_uri(text)
            ),
        };
        if !cfg!(feature = "s3") {
            // Exit 69 like every backend the build lacks (src/exit.rs).
            return Err(crate::exit::MissingBackendError::new("S3", "s3", text).into());
        }
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.contains('@') || bucket.contains(':') {
            anyhow::bail!(
                "archive location `{}`: credentials do not belong in the URL; use AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or a profile)",
                redact_uri(text)
            );
        }
        if bucket.is_empty() {
            anyhow::bail!(
                "archive location `{}`: no bucket (expected {scheme}://bucket/prefix)",
                redact_uri(text)
            );
        }
        let prefix = prefix.trim_matches('/');
        if prefix.split('/').any(|c| c == "." || c == "..") || prefix.contains("//") {
            anyhow::bail!(
                "archive location `{}`: the prefix may not hold `.`, `..` or empty components",
                redact_uri(text)
            );
        }
        Ok(ArchiveLocation::Remote(RemoteLocation {
            cloud,
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
            endpoint: None,
            region: None,
            allow_http: None,
        }))
    }

    /// True for a folder on this machine.
    pub fn is_local(&self) -> bool {
        matches!(self, ArchiveLocation::Local(_))
    }
}

impl fmt::Display for ArchiveLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArchiveLocation::Local(path) => write!(f, "{}", path.display()),
            ArchiveLocation::Remote(remote) => f.write_str(&remote.url()),
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
    #[cfg(feature = "s3")]
    fn object_storage_urls() {
        let ArchiveLocation::Remote(r) = ArchiveLocation::parse("s3://bucket/a/b/").unwrap() else {
            panic!("not remote")
        };
        assert_eq!(
            (r.cloud, r.bucket.as_str(), r.prefix.as_str()),
            (Cloud::S3, "bucket", "a/b")
        );
        assert_eq!(r.url(), "s3://bucket/a/b");
        let ArchiveLocation::Remote(r) = ArchiveLocation::parse("gs://b").unwrap() else {
            panic!("not remote")
        };
        assert_eq!((r.cloud, r.prefix.as_str()), (Cloud::Gcs, ""));
        assert!(ArchiveLocation::parse("s3://b/../x").is_err());
        assert!(ArchiveLocation::parse("s3:///x").is_err());
    }

    #[test]
    fn other_schemes_are_refused_with_secrets_hidden() {
        let err = ArchiveLocation::parse("s3://key:s3cret@bucket/x").unwrap_err();
        if cfg!(feature = "s3") {
            assert!(
                err.to_string().contains("credentials do not belong"),
                "{err}"
            );
        } else {
            assert!(err.is::<crate::exit::MissingBackendError>(), "{err}");
        }
        assert!(!err.to_string().contains("s3cret"), "{err}");
        let err = ArchiveLocation::parse("ftp://u:s3cret@h/x")
            .unwrap_err()
            .to_string();
        assert!(err.contains("ftp:// archives are not supported"), "{err}");
        assert!(!err.contains("s3cret"), "{err}");
        assert!(ArchiveLocation::parse("file://relative/x").is_err());
        assert!(ArchiveLocation::parse("").is_err());
    }
}
