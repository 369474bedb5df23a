//! The shared Postgres connection pool.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use forze_core::{Error, ErrorKind, FieldSchema, Result, Tenancy};
use parking_lot::{Mutex, RwLock};
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{AssertSqlSafe, PgPool, Postgres};

use crate::config::{PostgresConfig, PostgresDocumentConfig};
use crate::error::{from_sqlx, timed_out};
use crate::probe::{PoolWait, Probe, wait_for_pool};

/// How long after the server-side statement timeout the client itself gives up.
pub(crate) const CLIENT_GRACE: Duration = Duration::from_secs(2);

static NEXT_CLIENT_ID: AtomicU64 = AtomicU64::new(1);

/// A handle to one Postgres connection pool, shared by every store, transaction manager and
/// lifecycle step built from it. Cheap to clone; clones share the pool.
///
/// Create it with [`new`](Self::new) and let
/// [`PostgresLifecycleModule`](crate::PostgresLifecycleModule) connect it at startup (or call
/// [`initialize`](Self::initialize) yourself), or connect at once with
/// [`connect`](Self::connect). Operations before that fail with a `Config` error.
///
/// The connection string's password never appears in errors or `Debug` output.
///
/// # Foreign types
///
/// [`pool`](Self::pool) returns a [`sqlx::PgPool`] (sqlx 0.9) for your own queries.
///
/// # Examples
///
/// ```no_run
/// use forze_postgres::{PostgresClient, PostgresConfig};
///
/// # #[allow(dead_code)]
/// # async fn demo() -> forze_core::Result<()> {
/// let pg = PostgresClient::connect("postgres://app:secret@127.0.0.1/app", PostgresConfig::new()).await?;
/// pg.execute("CREATE SCHEMA IF NOT EXISTS shop").await?;
/// pg.close().await;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct PostgresClient {
    inner: Arc<Inner>,
}

struct Inner {
    id: u64,
    state: RwLock<Option<Connected>>,
    documents: Mutex<Vec<RegisteredDocument>>,
    check_schema: AtomicBool,
}

#[derive(Clone)]
pub(crate) struct Connected {
    pub(crate) pool: PgPool,
    config: PostgresConfig,
    /// `host:port/database` for messages; no credentials.
    pub(crate) target: Arc<str>,
    /// Detects a server that refuses connections, so that operations fail fast.
    probe: Arc<Probe>,
}

/// A document table registered on this client, for the startup schema check.
#[derive(Clone, Debug)]
pub(crate) struct RegisteredDocument {
    pub(crate) name: String,
    pub(crate) config: PostgresDocumentConfig,
    pub(crate) fields: Option<&'static [FieldSchema]>,
    pub(crate) tenancy: Tenancy,
}

impl Default for PostgresClient {
    fn default() -> Self {
        PostgresClient::new()
    }
}

impl PostgresClient {
    /// A client that is not connected yet.
    pub fn new() -> Self {
        PostgresClient {
            inner: Arc::new(Inner {
                id: NEXT_CLIENT_ID.fetch_add(1, Ordering::Relaxed),
                state: RwLock::new(None),
                documents: Mutex::new(Vec::new()),
                check_schema: AtomicBool::new(false),
            }),
        }
    }

    /// A new client, connected.
    ///
    /// # Errors
    ///
    /// As [`initialize`](Self::initialize).
    pub async fn connect(dsn: &str, config: PostgresConfig) -> Result<Self> {
        let client = PostgresClient::new();
        client.initialize(dsn, config).await?;
        Ok(client)
    }

    /// Open the pool and check that a connection can be made within
    /// [`PostgresConfig::connect_timeout`]. Does nothing if the client is already connected.
    ///
    /// `dsn` is a URL, `postgres://user[:password]@host[:port]/database[?options]`.
    ///
    /// # Errors
    ///
    /// `Config` for an invalid `dsn` or `config`, rejected credentials or a missing database;
    /// `Unavailable` if the server cannot be reached in time. The messages name the host, port
    /// and database, never the password.
    pub async fn initialize(&self, dsn: &str, config: PostgresConfig) -> Result<()> {
        if self.is_initialized() {
            return Ok(());
        }
        config.validate()?;
        // sqlx's parse error can echo the URL: no source.
        let options = PgConnectOptions::from_str(dsn).map_err(|_| {
            Error::config(
                "invalid postgres dsn; expected postgres://user[:password]@host[:port]/database",
            )
        })?;
        let target: Arc<str> = format!(
            "{}:{}/{}",
            options.get_host(),
            options.get_port(),
            options.get_database().unwrap_or(options.get_username())
        )
        .into();
        let probe = Arc::new(Probe::new(&options));
        let mut options = options.application_name(&config.application_name);
        if let Some(t) = config.statement_timeout {
            options = options.options([("statement_timeout", format!("{}ms", t.as_millis()))]);
        }
        let pool = PgPoolOptions::new()
            .max_connections(config.max_connections)
            .min_connections(config.min_connections)
            .acquire_timeout(config.acquire_timeout)
            .idle_timeout(config.idle_timeout)
            .max_lifetime(config.max_lifetime)
            .test_before_acquire(true)
            .connect_lazy_with(options);
        let what = format!("postgres at {target}");
        match tokio::time::timeout(config.connect_timeout, pool.acquire()).await {
            Ok(Ok(conn)) => drop(conn),
            Ok(Err(e)) => {
                pool.close().await;
                return Err(from_sqlx(e, &what, None));
            }
            Err(_) => {
                pool.close().await;
                return Err(Error::new(
                    ErrorKind::Unavailable,
                    format!(
                        "{what}: could not connect within {:?}",
                        config.connect_timeout
                    ),
                ));
            }
        }
        let mut state = self.inner.state.write();
        if state.is_none() {
            *state = Some(Connected {
                pool,
                config,
                target,
                probe,
            });
        }
        // else: initialized concurrently; ours is dropped (it holds one idle connection that
        // closes with it).
        Ok(())
    }

    /// Close the pool: wait for checked-out connections to come back, then close them all.
    /// The client can be initialized again afterwards.
    pub async fn close(&self) {
        let connected = self.inner.state.write().take();
        if let Some(c) = connected {
            c.pool.close().await;
        }
    }

    /// Whether [`initialize`](Self::initialize) succeeded and [`close`](Self::close) was not
    /// called since.
    pub fn is_initialized(&self) -> bool {
        self.inner.state.read().is_some()
    }

    /// The pool, for your own queries ([`sqlx::PgPool`], sqlx 0.9; cheap to clone).
    ///
    /// # Errors
    ///
    /// `Config` if the client is not initialized.
    pub fn pool(&self) -> Result<PgPool> {
        self.connected().map(|c| c.pool)
    }

    /// The settings the pool was opened with.
    pub fn config(&self) -> Option<PostgresConfig> {
        self.inner.state.read().as_ref().map(|c| c.config.clone())
    }

    /// Run one or more SQL statements (simple protocol, no parameters), for schema setup in
    /// demos and tests: `pg.execute(&create_table_sql(..))`.
    ///
    /// # Errors
    ///
    /// `Config` if not initialized; otherwise the mapped database error (the SQL text is not
    /// repeated in the message).
    pub async fn execute(&self, sql: &str) -> Result<()> {
        let c = self.connected()?;
        let what = format!("postgres script on {}", c.target);
        let (mut conn, limit) = c.acquire(&what, None).await?;
        let run = sqlx::raw_sql(AssertSqlSafe(sql.to_owned())).execute(&mut *conn);
        match limit {
            Some(limit) => match tokio::time::timeout(limit, run).await {
                Ok(res) => res.map(drop).map_err(|e| from_sqlx(e, &what, None)),
                Err(_) => Err(timed_out(&what, limit)),
            },
            None => run.await.map(drop).map_err(|e| from_sqlx(e, &what, None)),
        }
    }

    pub(crate) fn connected(&self) -> Result<Connected> {
        self.inner.state.read().clone().ok_or_else(|| {
            Error::config(
                "postgres client is not initialized: call PostgresClient::initialize, or register \
                 PostgresLifecycleModule and run inside the runtime",
            )
        })
    }

    pub(crate) fn id(&self) -> u64 {
        self.inner.id
    }

    pub(crate) fn register_document(&self, name: &str, config: &PostgresDocumentConfig) {
        let mut docs = self.inner.documents.lock();
        if !docs.iter().any(|d| d.name == name) {
            docs.push(RegisteredDocument {
                name: name.to_owned(),
                config: config.clone(),
                fields: None,
                tenancy: Tenancy::None,
            });
        }
    }

    pub(crate) fn record_fields(
        &self,
        name: &str,
        config: &PostgresDocumentConfig,
        fields: &'static [FieldSchema],
        tenancy: Tenancy,
    ) {
        let mut docs = self.inner.documents.lock();
        match docs.iter_mut().find(|d| d.name == name) {
            Some(d) => {
                d.fields = Some(fields);
                d.tenancy = tenancy;
            }
            None => docs.push(RegisteredDocument {
                name: name.to_owned(),
                config: config.clone(),
                fields: Some(fields),
                tenancy,
            }),
        }
    }

    pub(crate) fn enable_schema_check(&self) {
        self.inner.check_schema.store(true, Ordering::Relaxed);
    }

    pub(crate) fn schema_check_enabled(&self) -> bool {
        self.inner.check_schema.load(Ordering::Relaxed)
    }

    /// The document tables registered on this client, for the schema check.
    pub(crate) fn registered_documents(&self) -> Vec<RegisteredDocument> {
        self.inner.documents.lock().clone()
    }
}

impl Connected {
    /// How long to wait for one statement (`None` = no client-side limit).
    pub(crate) fn client_timeout(&self) -> Option<Duration> {
        self.config.statement_timeout.map(|t| t + CLIENT_GRACE)
    }

    /// Wait for `fut` (an acquire, or a `BEGIN` on a fresh connection) under the client-side
    /// limit, failing fast when the server refuses connections. Nothing of the caller's
    /// operation has been sent yet: every error is marked
    /// [`not_applied`](forze_core::Error::not_applied).
    pub(crate) async fn wait_for_pool<T>(
        &self,
        what: &str,
        table: Option<&str>,
        fut: impl std::future::Future<Output = std::result::Result<T, sqlx::Error>>,
    ) -> Result<T> {
        let wait = PoolWait {
            probe: &self.probe,
            target: &self.target,
            acquire_timeout: self.config.acquire_timeout,
        };
        let fut = wait_for_pool(wait, what, table, fut);
        match self.client_timeout() {
            Some(limit) => tokio::time::timeout(limit, fut)
                .await
                .map_err(|_| timed_out(what, limit).not_applied())?,
            None => fut.await,
        }
    }

    /// A pooled connection for one operation (see [`wait_for_pool`](Self::wait_for_pool)),
    /// plus the client-side limit for its statements.
    pub(crate) async fn acquire(
        &self,
        what: &str,
        table: Option<&str>,
    ) -> Result<(PoolConnection<Postgres>, Option<Duration>)> {
        let conn = self.wait_for_pool(what, table, self.pool.acquire()).await?;
        Ok((conn, self.client_timeout()))
    }
}

impl fmt::Debug for PostgresClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.inner.state.read();
        let mut d = f.debug_struct("PostgresClient");
        d.field("id", &self.inner.id);
        match state.as_ref() {
            Some(c) => {
                d.field("target", &c.target)
                    .field("pool_size", &c.pool.size())
                    .field("idle", &c.pool.num_idle())
                    .field("config", &c.config);
            }
            None => {
                d.field("target", &"<not initialized>");
            }
        }
        d.finish()
    }
}
