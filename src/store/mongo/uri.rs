//! MongoDB store URIs: `mongodb://` and `mongodb+srv://` connection strings,
//! read by the driver's own parser (`ConnectionString::parse`, the parsing
//! half of `ClientOptions::parse`) so that every option, credential, replica
//! set and `authSource` means exactly what it means to every MongoDB tool.
//! chronicle adds one option of its own, `collection=`, which is taken out
//! here before the driver sees the string (the driver refuses options it
//! does not know). Parsing never touches the network: a `mongodb+srv` name
//! is resolved only when the store is opened.

use std::time::Duration;

use anyhow::{anyhow, bail};
use mongodb::options::{ConnectionString, HostInfo, ServerAddress};

use super::retry::short_error;
use crate::redact::redact_uri as redact;

/// Used when the URI names no database.
pub const DEFAULT_DATABASE: &str = "chronicle";
/// Used when the URI has no `collection=` option.
pub const DEFAULT_COLLECTION: &str = "events";
/// MongoDB's drivers wait 30 s by default; an unreachable store should fail
/// a cron job sooner. `serverSelectionTimeoutMS` in the URI overrides it.
pub const DEFAULT_SERVER_SELECTION_TIMEOUT: Duration = Duration::from_secs(10);

/// A parsed `mongodb://` or `mongodb+srv://` store URI.
#[derive(Debug, Clone, PartialEq)]
pub struct MongoUri {
    /// What the driver parsed, chronicle's own options removed; handed to
    /// `ClientOptions::parse` when the store is opened.
    pub connection: ConnectionString,
    /// Host list (for messages), without user and password.
    pub hosts: String,
    pub database: String,
    pub collection: String,
    pub server_selection_timeout: Option<Duration>,
}

impl MongoUri {
    /// Takes out chronicle's `collection=` option and lets the driver parse
    /// the rest; a driver error is reported with the URI redacted.
    pub fn parse(uri: &str) -> anyhow::Result<MongoUri> {
        if !(uri.starts_with("mongodb://") || uri.starts_with("mongodb+srv://")) {
            bail!(
                "`{}` is not a mongodb:// or mongodb+srv:// URI",
                redact(uri)
            );
        }
        let (driver_uri, collection) = split_collection(uri)?;
        let connection = ConnectionString::parse(&driver_uri)
            .map_err(|e| anyhow!("store URI `{}`: {}", redact(uri), short_error(&e)))?;
        let hosts = match &connection.host_info {
            HostInfo::HostIdentifiers(hosts) => {
                hosts.iter().map(host_text).collect::<Vec<_>>().join(",")
            }
            HostInfo::DnsRecord(name) => name.clone(),
            // A future kind of host list: the driver's own words for it.
            other => format!("{other:?}"),
        };
        if hosts.is_empty() {
            bail!("store URI `{}` names no host", redact(uri));
        }
        Ok(MongoUri {
            database: connection
                .default_database
                .clone()
                .unwrap_or_else(|| DEFAULT_DATABASE.to_string()),
            collection: collection.unwrap_or_else(|| DEFAULT_COLLECTION.to_string()),
            server_selection_timeout: connection.server_selection_timeout,
            hosts,
            connection,
        })
    }

    pub fn describe(&self) -> String {
        let mut s = format!("mongodb://{}/{}", self.hosts, self.database);
        if self.collection != DEFAULT_COLLECTION {
            s.push_str(&format!("?collection={}", self.collection));
        }
        s
    }
}

/// `uri` without its `collection=` option (any case), and that option's
/// value. Only this key is touched: the rest of the query goes to the
/// driver byte for byte, in its order.
fn split_collection(uri: &str) -> anyhow::Result<(String, Option<String>)> {
    let Some((base, query)) = uri.split_once('?') else {
        return Ok((uri.to_string(), None));
    };
    let mut collection = None;
    let mut kept = Vec::new();
    for pair in query.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if !key.eq_ignore_ascii_case("collection") {
            kept.push(pair);
            continue;
        }
        if value.is_empty() || value.contains('$') || value.starts_with("system.") {
            bail!("store URI option collection=`{value}` is not a usable collection name");
        }
        collection = Some(value.to_string());
    }
    let mut driver_uri = base.to_string();
    if !kept.is_empty() {
        driver_uri.push('?');
        driver_uri.push_str(&kept.join("&"));
    }
    Ok((driver_uri, collection))
}

/// A host as the user wrote it: `host` or `host:port` (the driver's own
/// display adds the default port), IPv6 literals in brackets.
fn host_text(address: &ServerAddress) -> String {
    match address {
        ServerAddress::Tcp { host, port } => {
            let host = if host.contains(':') {
                format!("[{host}]")
            } else {
                host.clone()
            };
            match port {
                Some(p) => format!("{host}:{p}"),
                None => host,
            }
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chronicle_options_are_taken_out_and_the_rest_is_the_drivers() {
        let u = MongoUri::parse(
            "mongodb://u:p@h1:1,h2:2/db1?collection=ev&serverSelectionTimeoutMS=500&w=1",
        )
        .unwrap();
        assert_eq!(u.hosts, "h1:1,h2:2");
        assert_eq!(u.database, "db1");
        assert_eq!(u.collection, "ev");
        assert_eq!(u.server_selection_timeout, Some(Duration::from_millis(500)));
        assert_eq!(
            u.connection,
            ConnectionString::parse("mongodb://u:p@h1:1,h2:2/db1?serverSelectionTimeoutMS=500&w=1")
                .unwrap()
        );
        let credential = u.connection.credential.as_ref().unwrap();
        assert_eq!(credential.username.as_deref(), Some("u"));
        assert_eq!(credential.password.as_deref(), Some("p"));
        assert_eq!(u.describe(), "mongodb://h1:1,h2:2/db1?collection=ev");

        let u = MongoUri::parse("mongodb://localhost").unwrap();
        assert_eq!(
            (u.database.as_str(), u.collection.as_str()),
            ("chronicle", "events")
        );
        assert_eq!(u.describe(), "mongodb://localhost/chronicle");
        assert_eq!(u.server_selection_timeout, None);

        // SRV: parsed offline, resolved only when the store is opened.
        let u = MongoUri::parse("mongodb+srv://cluster.example.com/?retryWrites=true").unwrap();
        assert_eq!(u.database, "chronicle");
        assert_eq!(u.hosts, "cluster.example.com");
        assert_eq!(u.connection.retry_writes, Some(true));
    }

    #[test]
    fn replica_sets_credentials_and_auth_source_reach_the_driver() {
        let u = MongoUri::parse(
            "mongodb://app:s%40cret@db1:27017,db2:27018,[::1]:27019/ledger?replicaSet=rs0&authSource=admin&Collection=ledger_events&readPreference=secondaryPreferred",
        )
        .unwrap();
        assert_eq!(u.hosts, "db1:27017,db2:27018,[::1]:27019");
        assert_eq!(u.database, "ledger");
        assert_eq!(u.collection, "ledger_events");
        assert_eq!(u.connection.replica_set.as_deref(), Some("rs0"));
        let credential = u.connection.credential.as_ref().unwrap();
        assert_eq!(credential.source.as_deref(), Some("admin"));
        assert_eq!(credential.password.as_deref(), Some("s@cret"));
        assert!(u.connection.read_preference.is_some());
        assert!(!u.describe().contains("cret"), "{}", u.describe());
    }

    #[test]
    fn driver_errors_are_reported_with_the_uri_redacted() {
        for (uri, reason) in [
            // Not a driver option (and not chronicle's).
            ("mongodb://u:s3cret@h/db?colection=x", "colection"),
            ("mongodb://u:s3cret@h/db?serverSelectionTimeoutMS=soon", ""),
            ("mongodb://u:s3cret@h/db?authSource=", "authSource"),
            ("mongodb://u:s3cret@h:99999/db", ""),
            ("mongodb+srv://u:s3cret@h:1/db", "port"),
            (
                "mongodb://u:s3cret@h/db?replicaSet=a&replicaSet=b",
                "repeated",
            ),
        ] {
            let error = MongoUri::parse(uri).unwrap_err().to_string();
            assert!(!error.contains("s3cret"), "{uri}: {error}");
            assert!(error.contains("u:***@h"), "{uri} named: {error}");
            assert!(error.contains(reason), "{uri}: {error}");
        }
        assert!(MongoUri::parse("mongodb://h/db?collection=").is_err());
        assert!(MongoUri::parse("mongodb://h/db?collection=system.x").is_err());
        assert!(MongoUri::parse("mongodb:///db").is_err());
        let error = MongoUri::parse("mongdb://u:s3cret@h/db").unwrap_err();
        assert!(!error.to_string().contains("s3cret"), "{error}");
    }
}
