//! Pool settings and per-document table settings.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use forze_core::{Error, Result};

use crate::ident::{quote_ident, validate_ident};

/// Connection-pool settings for [`PostgresClient`](crate::PostgresClient).
///
/// The defaults suit a small service: at most 10 connections, 5 s to connect, 5 s to get a
/// connection from the pool, 30 s per statement. The timeouts are what make an outage fail fast
/// with [`ErrorKind::Unavailable`](forze_core::ErrorKind::Unavailable) instead of hanging.
///
/// # How long an operation waits when the server is down
///
/// - **The server refuses connections** (stopped, restarting, nothing listening on the port):
///   an operation that has no pooled connection after 50 ms probes the server's address (one
///   TCP or Unix socket connect, closed at once; one probe per client serves every operation
///   for 100 ms) and, if the connect is refused, fails at once: within about 50–100 ms
///   (measured on loopback: p50 52 ms, max 68 ms over 20 reads), not after the
///   [`acquire_timeout`](Self::acquire_timeout). The error is `Unavailable`, marked
///   [`not_applied`](forze_core::Error::not_applied), and its
///   [`source`](std::error::Error::source) is the `std::io::Error` of kind `ConnectionRefused`.
///   (sqlx's pool on its own retries refused connects until the acquire timeout and then
///   reports only that it timed out.)
/// - **The server is unreachable** (packets dropped, host down without a reset): the connect
///   neither succeeds nor is refused, so the operation waits the
///   [`acquire_timeout`](Self::acquire_timeout) (default 5 s), then fails with `Unavailable`,
///   marked not applied.
/// - **The server goes away during a statement**: the statement fails as soon as the
///   connection breaks (at once when the server closes it), or after
///   [`statement_timeout`](Self::statement_timeout) + 2 s if it stops answering. The error is
///   `Unavailable` with an unknown outcome (the statement may have applied), so a failed write
///   invalidates its ids in the cache; a write that failed before anything was sent (marked not
///   applied) leaves the cache alone, and documents cached before the outage stay readable.
/// - **At startup**, [`PostgresClient::initialize`](crate::PostgresClient::initialize) keeps
///   retrying a refused connect until [`connect_timeout`](Self::connect_timeout), so a service
///   may start while its database is still coming up.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use forze_postgres::PostgresConfig;
///
/// let config = PostgresConfig::new()
///     .max_connections(20)
///     .acquire_timeout(Duration::from_secs(2))
///     .statement_timeout(Some(Duration::from_secs(10)));
/// assert_eq!(config.max_connections, 20);
/// ```
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PostgresConfig {
    /// Most connections the pool opens (default 10).
    pub max_connections: u32,
    /// Connections kept open when idle (default 0).
    pub min_connections: u32,
    /// How long [`initialize`](crate::PostgresClient::initialize) waits for the first
    /// connection (default 5 s).
    pub connect_timeout: Duration,
    /// How long an operation waits for a pooled connection, including opening one (default 5 s).
    /// A server that refuses connections is reported well before this (about 50 ms, see
    /// [above](Self#how-long-an-operation-waits-when-the-server-is-down)); a server that does
    /// not answer at all takes this long.
    pub acquire_timeout: Duration,
    /// Server-side `statement_timeout` for every connection (default 30 s; `None` = the server's
    /// setting). The client also gives up on a statement 2 s after it, in case the server stopped
    /// answering altogether.
    pub statement_timeout: Option<Duration>,
    /// Idle connections are closed after this long (default 10 min).
    pub idle_timeout: Option<Duration>,
    /// Connections are replaced after this long (default 30 min).
    pub max_lifetime: Option<Duration>,
    /// `application_name` shown in `pg_stat_activity` (default `forze`).
    pub application_name: Cow<'static, str>,
}

impl Default for PostgresConfig {
    fn default() -> Self {
        PostgresConfig {
            max_connections: 10,
            min_connections: 0,
            connect_timeout: Duration::from_secs(5),
            acquire_timeout: Duration::from_secs(5),
            statement_timeout: Some(Duration::from_secs(30)),
            idle_timeout: Some(Duration::from_secs(600)),
            max_lifetime: Some(Duration::from_secs(1800)),
            application_name: Cow::Borrowed("forze"),
        }
    }
}

impl PostgresConfig {
    /// The defaults.
    pub fn new() -> Self {
        PostgresConfig::default()
    }

    /// Most connections the pool opens.
    #[must_use]
    pub fn max_connections(mut self, n: u32) -> Self {
        self.max_connections = n;
        self
    }

    /// Connections kept open when idle.
    #[must_use]
    pub fn min_connections(mut self, n: u32) -> Self {
        self.min_connections = n;
        self
    }

    /// How long the first connection may take.
    #[must_use]
    pub fn connect_timeout(mut self, t: Duration) -> Self {
        self.connect_timeout = t;
        self
    }

    /// How long an operation waits for a pooled connection.
    #[must_use]
    pub fn acquire_timeout(mut self, t: Duration) -> Self {
        self.acquire_timeout = t;
        self
    }

    /// Server-side `statement_timeout` (`None` = the server's setting).
    #[must_use]
    pub fn statement_timeout(mut self, t: Option<Duration>) -> Self {
        self.statement_timeout = t;
        self
    }

    /// Close idle connections after this long.
    #[must_use]
    pub fn idle_timeout(mut self, t: Option<Duration>) -> Self {
        self.idle_timeout = t;
        self
    }

    /// Replace connections after this long.
    #[must_use]
    pub fn max_lifetime(mut self, t: Option<Duration>) -> Self {
        self.max_lifetime = t;
        self
    }

    /// `application_name` for `pg_stat_activity`.
    #[must_use]
    pub fn application_name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.application_name = name.into();
        self
    }

    /// Check the values: at least one connection, `min <= max`, timeouts above zero.
    pub(crate) fn validate(&self) -> Result<()> {
        if self.max_connections == 0 {
            return Err(Error::config("postgres max_connections must be at least 1"));
        }
        if self.min_connections > self.max_connections {
            return Err(Error::config(format!(
                "postgres min_connections ({}) must not exceed max_connections ({})",
                self.min_connections, self.max_connections
            )));
        }
        for (name, t) in [
            ("connect_timeout", Some(self.connect_timeout)),
            ("acquire_timeout", Some(self.acquire_timeout)),
            ("statement_timeout", self.statement_timeout),
        ] {
            if t == Some(Duration::ZERO) {
                return Err(Error::config(format!(
                    "postgres {name} must be greater than zero"
                )));
            }
        }
        if self.application_name.len() > 63 || self.application_name.contains('\0') {
            return Err(Error::config(
                "postgres application_name must be at most 63 bytes without NUL characters",
            ));
        }
        Ok(())
    }
}

impl fmt::Debug for PostgresConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresConfig")
            .field("max_connections", &self.max_connections)
            .field("min_connections", &self.min_connections)
            .field("connect_timeout", &self.connect_timeout)
            .field("acquire_timeout", &self.acquire_timeout)
            .field("statement_timeout", &self.statement_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .field("max_lifetime", &self.max_lifetime)
            .field("application_name", &self.application_name)
            .finish()
    }
}

/// The longest tenant schema prefix: `<prefix>_<32 hex digits>` fits 63 bytes.
const MAX_TENANT_PREFIX: usize = 30;

/// Where one document type lives: a schema and a table, used for reads and writes.
///
/// Names are taken literally (case kept) and always quoted in SQL, so a name containing a quote
/// or a semicolon is just an odd name, never SQL. A name that Postgres cannot hold (empty, longer
/// than 63 bytes, or containing NUL or control characters) is a `Config` error when the document
/// is bound.
///
/// The table needs the columns `id uuid primary key, rev bigint, created_at timestamptz,
/// last_update_at timestamptz` plus one column per document field; see
/// [`create_table_sql`](crate::create_table_sql). A row-level tenant-scoped spec also needs
/// `tenant_id uuid` (in the primary key), a schema-per-tenant spec a table per tenant: see
/// [`schema_sql`](crate::schema_sql) and [`tenant_schema_sql`](crate::tenant_schema_sql).
///
/// # Examples
///
/// ```
/// use forze_postgres::PostgresDocumentConfig;
///
/// let config = PostgresDocumentConfig::table("public", "products");
/// assert_eq!(config.qualified_name(), r#""public"."products""#);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct PostgresDocumentConfig {
    /// The schema.
    pub schema: Cow<'static, str>,
    /// The table.
    pub table: Cow<'static, str>,
    /// For a schema-per-tenant spec (`tenant = "schema"`): the prefix of each tenant's schema,
    /// `<prefix>_<tenant uuid, lowercase hex without hyphens>` (`None`: [`schema`](Self::schema)
    /// is the prefix). Ignored for other specs.
    pub tenant_schema_prefix: Option<Cow<'static, str>>,
}

impl PostgresDocumentConfig {
    /// The table `schema.table` for reads and writes.
    pub fn table(
        schema: impl Into<Cow<'static, str>>,
        table: impl Into<Cow<'static, str>>,
    ) -> Self {
        PostgresDocumentConfig {
            schema: schema.into(),
            table: table.into(),
            tenant_schema_prefix: None,
        }
    }

    /// For a schema-per-tenant spec: name each tenant's schema `<prefix>_<tenant>` (the tenant's
    /// uuid in lowercase hex without hyphens, for example
    /// `tenant_0192f0c1a2b37000800000000000002a`). The prefix must be `[a-z_][a-z0-9_]*` of at
    /// most 30 bytes, checked when the document is bound.
    ///
    /// # Examples
    ///
    /// ```
    /// use forze_postgres::PostgresDocumentConfig;
    /// use uuid::Uuid;
    ///
    /// let config = PostgresDocumentConfig::table("public", "notes").tenant_schema_prefix("t");
    /// assert_eq!(
    ///     config.tenant_schema(Uuid::from_u128(0xab)),
    ///     "t_000000000000000000000000000000ab"
    /// );
    /// ```
    #[must_use]
    pub fn tenant_schema_prefix(mut self, prefix: impl Into<Cow<'static, str>>) -> Self {
        self.tenant_schema_prefix = Some(prefix.into());
        self
    }

    /// The schema that holds `tenant`'s table for a schema-per-tenant spec:
    /// `<prefix>_<tenant uuid without hyphens>` (see
    /// [`tenant_schema_prefix`](Self::tenant_schema_prefix)).
    pub fn tenant_schema(&self, tenant: uuid::Uuid) -> String {
        format!("{}_{}", self.prefix(), tenant.simple())
    }

    /// `<prefix>_<tenant>`, for messages.
    pub(crate) fn tenant_schema_pattern(&self) -> String {
        format!("{}_<tenant>", self.prefix())
    }

    fn prefix(&self) -> &str {
        self.tenant_schema_prefix.as_deref().unwrap_or(&self.schema)
    }

    /// The quoted table name in `schema` instead of the config's schema.
    pub(crate) fn qualified_in(&self, schema: &str) -> String {
        format!("{}.{}", quote_ident(schema), quote_ident(&self.table))
    }

    /// Check the tenant schema prefix: `[a-z_][a-z0-9_]*`, at most 30 bytes, so that every
    /// tenant's schema name is a plain identifier within Postgres' 63 bytes.
    pub(crate) fn validate_tenant_prefix(&self, document: &str) -> Result<()> {
        let prefix = self.prefix();
        let mut bytes = prefix.bytes();
        let first = bytes
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b == b'_');
        let rest = bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if first && rest && prefix.len() <= MAX_TENANT_PREFIX {
            return Ok(());
        }
        Err(Error::config(format!(
            "document `{document}`: the tenant schema prefix `{prefix}` is invalid: expected \
             `[a-z_][a-z0-9_]*` of at most {MAX_TENANT_PREFIX} bytes (the schema of a tenant is \
             `<prefix>_<32 hex digits>`, within postgres' 63); set one with \
             PostgresDocumentConfig::tenant_schema_prefix"
        )))
    }

    /// The quoted, schema-qualified name as it appears in SQL: `"public"."products"`.
    pub fn qualified_name(&self) -> String {
        format!("{}.{}", quote_ident(&self.schema), quote_ident(&self.table))
    }

    pub(crate) fn validate(&self, document: &str) -> Result<()> {
        validate_ident(document, "schema", &self.schema)?;
        validate_ident(document, "table", &self.table)
    }
}
