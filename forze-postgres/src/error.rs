//! Private mapping of sqlx errors to forze errors.
//!
//! Database errors are described by their SQLSTATE, constraint, table and column names only:
//! their DETAIL (which can hold row values) is never copied, and the sqlx error is not kept as
//! the source because its `Debug` prints that DETAIL. Transport errors (I/O, TLS, pool) carry no
//! values and are kept as the source.

use std::time::Duration;

use forze_core::{Error, ErrorKind};
use sqlx::error::DatabaseError;
use sqlx::postgres::PgDatabaseError;

/// SQLSTATE of a unique violation.
pub(crate) const UNIQUE_VIOLATION: &str = "23505";

/// The SQLSTATE of a database error, if `err` is one.
pub(crate) fn sqlstate(err: &sqlx::Error) -> Option<String> {
    match err {
        sqlx::Error::Database(db) => db.code().map(|c| c.into_owned()),
        _ => None,
    }
}

/// The constraint a database error names, if any.
pub(crate) fn constraint(err: &sqlx::Error) -> Option<String> {
    match err {
        sqlx::Error::Database(db) => db.constraint().map(str::to_owned),
        _ => None,
    }
}

/// The error for a statement the client gave up on.
pub(crate) fn timed_out(what: &str, after: Duration) -> Error {
    Error::new(
        ErrorKind::Unavailable,
        format!("{what}: postgres did not answer within {after:?}"),
    )
}

/// Map a sqlx error of a statement that was (or may have been) sent. `what` says what failed (`document \`products\``, `postgres at host:5432`),
/// `table` is the quoted table name, if the statement used one.
///
/// An `Unavailable` error keeps an unknown outcome (the statement may have applied) unless
/// the server itself reported the failure (see [`from_database`]). Errors that happened
/// before anything was sent (acquiring a connection) are marked
/// [`not_applied`](Error::not_applied) where they are caught, in `probe::wait_for_pool`,
/// since only the caller knows *where* the failure happened.
pub(crate) fn from_sqlx(err: sqlx::Error, what: &str, table: Option<&str>) -> Error {
    match err {
        sqlx::Error::Database(db) => from_database(db.as_ref(), what, table),
        sqlx::Error::Io(io) => Error::new(
            ErrorKind::Unavailable,
            format!("{what}: postgres connection failed"),
        )
        .with_source(io),
        sqlx::Error::PoolTimedOut => Error::new(
            ErrorKind::Unavailable,
            format!(
                "{what}: no postgres connection within the acquire timeout (server unreachable \
                 or pool exhausted)"
            ),
        ),
        sqlx::Error::PoolClosed => Error::new(
            ErrorKind::Unavailable,
            format!("{what}: the postgres client is closed"),
        ),
        sqlx::Error::WorkerCrashed => Error::new(
            ErrorKind::Unavailable,
            format!("{what}: the postgres connection worker crashed"),
        ),
        e @ sqlx::Error::Tls(_) => Error::new(
            ErrorKind::Unavailable,
            format!("{what}: postgres TLS handshake failed"),
        )
        .with_source(e),
        // May contain the connection string: no source.
        sqlx::Error::Configuration(_) => {
            Error::config(format!("{what}: invalid postgres connection settings"))
        }
        e @ (sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_)) => Error::new(
            ErrorKind::Serialization,
            format!("{what}: cannot decode a postgres value"),
        )
        .with_source(e),
        e @ sqlx::Error::Protocol(_) => Error::new(
            ErrorKind::Unavailable,
            format!("{what}: unexpected data from postgres (connection broken?)"),
        )
        .with_source(e),
        // Encoding and other client-side errors: no values in their messages, kept as source.
        e => Error::new(
            ErrorKind::Internal,
            format!("{what}: postgres client error"),
        )
        .with_source(e),
    }
}

fn from_database(db: &dyn DatabaseError, what: &str, table: Option<&str>) -> Error {
    let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
    let pg = db.try_downcast_ref::<PgDatabaseError>();
    let constraint = db.constraint().unwrap_or("?");
    let column = pg.and_then(PgDatabaseError::column).unwrap_or("?");
    let table = table.unwrap_or("the table");
    let (kind, message) = match code.as_str() {
        UNIQUE_VIOLATION => (
            ErrorKind::Conflict,
            format!("{what}: unique constraint `{constraint}` violated"),
        ),
        "23P01" => (
            ErrorKind::Conflict,
            format!("{what}: exclusion constraint `{constraint}` violated"),
        ),
        "23503" => (
            ErrorKind::Validation,
            format!("{what}: foreign key constraint `{constraint}` violated"),
        ),
        "23502" => (
            ErrorKind::Validation,
            format!("{what}: column `{column}` of {table} does not accept null"),
        ),
        "23514" => (
            ErrorKind::Validation,
            format!("{what}: check constraint `{constraint}` violated"),
        ),
        c if c.starts_with("22") => (
            ErrorKind::Validation,
            format!("{what}: postgres rejected a value (sqlstate {c})"),
        ),
        "42P01" => (
            ErrorKind::Config,
            format!("{what}: table {table} does not exist (create it, see create_table_sql)"),
        ),
        "3F000" => (
            ErrorKind::Config,
            format!("{what}: the schema of table {table} does not exist"),
        ),
        // These messages name only identifiers and types, never values.
        "42703" | "42804" => (
            ErrorKind::Config,
            format!(
                "{what}: table {table} does not match the document fields: {}",
                db.message()
            ),
        ),
        "42P10" => (
            ErrorKind::Config,
            format!("{what}: table {table} needs a primary key or unique index on \"id\""),
        ),
        "42501" => (
            ErrorKind::Config,
            format!("{what}: permission denied on {table}"),
        ),
        "3D000" => (
            ErrorKind::Config,
            format!("{what}: the postgres database does not exist"),
        ),
        c if c.starts_with("28") => (
            ErrorKind::Config,
            format!("{what}: postgres rejected the credentials (sqlstate {c})"),
        ),
        "40001" => (
            ErrorKind::Unavailable,
            format!("{what}: serialization failure, retry the transaction"),
        ),
        "40P01" => (
            ErrorKind::Unavailable,
            format!("{what}: deadlock detected, retry the transaction"),
        ),
        "55P03" => (
            ErrorKind::Unavailable,
            format!("{what}: could not lock the row"),
        ),
        "57014" => (
            ErrorKind::Unavailable,
            format!("{what}: statement canceled (statement_timeout)"),
        ),
        c if c.starts_with("57P") => (
            ErrorKind::Unavailable,
            format!("{what}: postgres is shutting down or restarting (sqlstate {c})"),
        ),
        c if c.starts_with("08") || c.starts_with("53") => (
            ErrorKind::Unavailable,
            format!("{what}: postgres is unavailable (sqlstate {c})"),
        ),
        "25P02" => (
            ErrorKind::Internal,
            format!("{what}: the transaction was aborted by an earlier error; roll it back"),
        ),
        c => (
            ErrorKind::Internal,
            format!("{what}: postgres error (sqlstate {c})"),
        ),
    };
    let err = Error::new(kind, message);
    // The server answered that the statement failed and its transaction was rolled back
    // (an explicit transaction is aborted and can only roll back): nothing was applied.
    // Other `Unavailable` database errors (shutdown, connection failures: 57P*, 08*) may end
    // the connection mid-commit, so their outcome stays unknown.
    if matches!(code.as_str(), "40001" | "40P01" | "55P03") {
        err.not_applied()
    } else {
        err
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An error after the statement may have been sent keeps an unknown outcome: the coordinator
    /// invalidates conservatively.
    #[test]
    fn errors_of_sent_statements_have_an_unknown_outcome() {
        let io = sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        let err = from_sqlx(io, "document `t`", None);
        assert_eq!(err.kind(), ErrorKind::Unavailable);
        assert!(err.outcome_unknown(), "{err:?}");
        let err = timed_out("document `t`", Duration::from_secs(1));
        assert!(err.outcome_unknown(), "{err:?}");
        let err = from_sqlx(sqlx::Error::Protocol("eof".into()), "document `t`", None);
        assert!(err.outcome_unknown(), "{err:?}");
    }
}
