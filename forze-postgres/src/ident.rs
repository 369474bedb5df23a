//! Identifiers: quoting a name for SQL, and checking that Postgres can hold it.
//!
//! Identifiers are always quoted (`"` doubled inside); values are always bound parameters.

use forze_core::{Error, Result};

/// Postgres silently truncates longer identifiers (NAMEDATALEN - 1).
const MAX_IDENT_BYTES: usize = 63;

/// `name` as a quoted identifier: `"name"`, with any `"` doubled.
pub(crate) fn quote_ident(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    out.push('"');
    for c in name.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Check that Postgres can hold `name` as an identifier without truncating or rejecting it.
pub(crate) fn validate_ident(document: &str, what: &str, name: &str) -> Result<()> {
    let problem = if name.is_empty() {
        Some("is empty")
    } else if name.len() > MAX_IDENT_BYTES {
        Some("is longer than 63 bytes (postgres would truncate it)")
    } else if name.chars().any(char::is_control) {
        Some("contains NUL or control characters")
    } else {
        None
    };
    match problem {
        None => Ok(()),
        Some(problem) => Err(Error::config(format!(
            "document `{document}`: postgres {what} name {problem}; expected 1 to 63 bytes of \
             printable characters"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_doubles_quotes_and_keeps_everything_else() {
        assert_eq!(quote_ident("products"), "\"products\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(
            quote_ident("x\"; DROP TABLE t; --"),
            "\"x\"\"; DROP TABLE t; --\""
        );
    }

    #[test]
    fn identifiers_postgres_cannot_hold_are_rejected() {
        assert!(validate_ident("d", "table", "ok name; \"quoted\"").is_ok());
        for bad in ["", "a\0b", "tab\there", &"x".repeat(64)] {
            let err = validate_ident("d", "table", bad).expect_err(bad);
            assert_eq!(err.kind(), forze_core::ErrorKind::Config);
        }
        assert!(validate_ident("d", "table", &"x".repeat(63)).is_ok());
    }
}
