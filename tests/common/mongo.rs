//! Access to the MongoDB-compatible test server named by `MONGODB_URI`: one
//! fresh database per test, dropped afterwards, and the skip/fail rule for a
//! missing server (fail when `CI` is set, otherwise print that it skipped).

use std::sync::atomic::{AtomicU32, Ordering};

use mongodb::bson::doc;
use mongodb::sync::Client;

/// A database that exists for one test and is dropped when this goes away.
pub struct TestDb {
    pub name: String,
    /// `MONGODB_URI` with the path replaced by this database.
    pub uri: String,
    client: Client,
}

impl TestDb {
    /// A store URI for this database with extra query options appended.
    pub fn uri_with(&self, options: &str) -> String {
        if self.uri.contains('?') {
            format!("{}&{options}", self.uri)
        } else {
            format!("{}?{options}", self.uri)
        }
    }

    /// The driver, for setting up server state (fail points) and for
    /// checking stored documents independently of chronicle.
    pub fn client(&self) -> &Client {
        &self.client
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let _ = self.client.database(&self.name).drop().run();
    }
}

/// Replaces the database path of `uri` with `db`, keeping its options.
pub fn with_database(uri: &str, db: &str) -> String {
    let (base, query) = match uri.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (uri, None),
    };
    let (scheme, rest) = base.split_once("://").expect("MONGODB_URI has a scheme");
    let authority = rest.split('/').next().unwrap_or(rest);
    match query {
        Some(q) => format!("{scheme}://{authority}/{db}?{q}"),
        None => format!("{scheme}://{authority}/{db}"),
    }
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A fresh database named after the test, or `None` when skipping.
pub fn test_db(test: &str) -> Option<TestDb> {
    let base = super::mongodb_uri()?;
    let name = format!(
        "chronicle_t_{}_{}_{}",
        test.chars().take(30).collect::<String>(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let client = Client::with_uri_str(&base).expect("MONGODB_URI is a valid URI");
    client
        .database("admin")
        .run_command(doc! {"ping": 1})
        .run()
        .unwrap_or_else(|e| panic!("MONGODB_URI={base} does not answer: {e}"));
    Some(TestDb {
        uri: with_database(&base, &name),
        name,
        client,
    })
}
