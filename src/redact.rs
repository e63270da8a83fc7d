//! The one redaction rule for URIs: every store, archive or projection
//! target URI that chronicle prints, logs, stores in a run record or puts in
//! JSON goes through [`redact_uri`] first (docs/architecture.md, "Secrets").
//!
//! A password in the userinfo (`scheme://user:PASSWORD@host`) and the value
//! of every query parameter whose name contains `pass`, `pwd`, `secret` or
//! `token` (any case: `password=`, `sslpassword=`, `authToken=`) become
//! `***`. The rule does not depend on the scheme, so a mistyped one
//! (`mongdb://user:s3cret@...`) is redacted as well as a supported one.

/// Query parameter names (lowercase substrings) whose values are secrets.
const SECRET_PARAMS: [&str; 4] = ["pass", "pwd", "secret", "token"];

/// What replaces a secret.
pub const MASK: &str = "***";

/// `uri` with its secrets replaced by `***`; anything that is not a URI
/// comes back unchanged.
pub fn redact_uri(uri: &str) -> String {
    // The query starts at the first `?`; a `#` fragment ends it.
    let (before_query, query) = match uri.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (uri, None),
    };
    let mut out = redact_userinfo(before_query);
    if let Some(query) = query {
        let (query, fragment) = match query.split_once('#') {
            Some((q, f)) => (q, Some(f)),
            None => (query, None),
        };
        out.push('?');
        out.push_str(&redact_query(query));
        if let Some(fragment) = fragment {
            out.push('#');
            out.push_str(fragment);
        }
    }
    out
}

/// `scheme://user:secret@rest` → `scheme://user:***@rest`. The userinfo
/// ends at the last `@` before the query, so a password holding an
/// unescaped `@` or `/` is still hidden whole.
fn redact_userinfo(text: &str) -> String {
    let Some(start) = text.find("://").map(|i| i + 3) else {
        return text.to_string();
    };
    let Some(at) = text[start..].rfind('@').map(|i| start + i) else {
        return text.to_string();
    };
    match text[start..at].split_once(':') {
        Some((user, _)) => format!("{}{user}:{MASK}{}", &text[..start], &text[at..]),
        None => text.to_string(),
    }
}

fn redact_query(query: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) if is_secret_param(key) => format!("{key}={MASK}"),
            _ => pair.to_string(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn is_secret_param(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    SECRET_PARAMS.iter().any(|s| key.contains(s))
}

/// Redacts every URI-looking word of a free text, such as an error message
/// from a driver or a command line: words are split on whitespace and
/// quotes/backticks, so the rest of the text stays as it was.
pub fn redact_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    for c in text.chars() {
        if c.is_whitespace() || matches!(c, '`' | '"' | '\'' | '(' | ')' | '<' | '>') {
            out.push_str(&redact_word(&word));
            word.clear();
            out.push(c);
        } else {
            word.push(c);
        }
    }
    out.push_str(&redact_word(&word));
    out
}

fn redact_word(word: &str) -> String {
    if word.contains("://") || word.contains('?') {
        redact_uri(word)
    } else {
        word.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_passwords_are_masked_users_kept() {
        assert_eq!(
            redact_uri("mongodb://user:s3cret@h1:27017,h2/db?collection=ev"),
            "mongodb://user:***@h1:27017,h2/db?collection=ev"
        );
        assert_eq!(
            redact_uri("postgres://postgres:s3cret@127.0.0.1:5432/postgres"),
            "postgres://postgres:***@127.0.0.1:5432/postgres"
        );
        // An unescaped `@` or `/` in the password does not leak its tail.
        assert_eq!(
            redact_uri("postgres://u:a@b/c@host/db"),
            "postgres://u:***@host/db"
        );
        // A user without password, and no userinfo at all, stay as they are.
        assert_eq!(redact_uri("postgres://u@host/db"), "postgres://u@host/db");
        assert_eq!(redact_uri("sqlite:chronicle.db"), "sqlite:chronicle.db");
        assert_eq!(redact_uri("archive/x"), "archive/x");
    }

    #[test]
    fn secret_query_parameters_are_masked_in_any_case() {
        assert_eq!(
            redact_uri("postgres://h/db?sslmode=disable&password=s3cret&PassWord=x&authToken=t&client_secret=c#frag"),
            "postgres://h/db?sslmode=disable&password=***&PassWord=***&authToken=***&client_secret=***#frag"
        );
        assert_eq!(redact_uri("x?pwd=1&a=2"), "x?pwd=***&a=2");
    }

    #[test]
    fn mistyped_schemes_are_redacted_too() {
        assert_eq!(
            redact_uri("mongdb://user:s3cret@127.0.0.1/db"),
            "mongdb://user:***@127.0.0.1/db"
        );
    }

    #[test]
    fn free_text_keeps_its_words() {
        assert_eq!(
            redact_text("cannot use `mongodb://u:s3cret@h/db`: refused (postgres://p:q@h?token=z)"),
            "cannot use `mongodb://u:***@h/db`: refused (postgres://p:***@h?token=***)"
        );
        assert_eq!(redact_text("no uri here, 1 ? 2"), "no uri here, 1 ? 2");
    }
}
