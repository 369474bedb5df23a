//! Wiring: the deps module (documents, transaction routes) and the lifecycle module (the pool).

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use forze_core::BoxFuture;
use forze_core::Result;
use forze_core::runtime::{
    DEFAULT_STEP_TIMEOUT, DepsModule, LifecycleHook, LifecycleModule, LifecycleStep, Registrations,
};

use crate::client::PostgresClient;
use crate::config::{PostgresConfig, PostgresDocumentConfig};
use crate::schema;
use crate::store::PostgresDocumentBackend;
use crate::tx::PostgresTransactionManager;

/// Registers Postgres document backends and transaction routes on one [`PostgresClient`].
///
/// # Examples
///
/// ```
/// use forze_core::runtime::DepsModule;
/// use forze_postgres::{PostgresClient, PostgresDepsModule, PostgresDocumentConfig};
///
/// let pg = PostgresClient::new();
/// let module = PostgresDepsModule::new(pg)
///     .rw_document("products", PostgresDocumentConfig::table("public", "products"))
///     .tx("products");
/// assert_eq!(module.name(), "postgres");
/// let boxed: Box<dyn DepsModule> = module.boxed();
/// # drop(boxed);
/// ```
#[derive(Debug, Clone)]
pub struct PostgresDepsModule {
    client: PostgresClient,
    documents: Vec<(Cow<'static, str>, PostgresDocumentConfig)>,
    tx_routes: Vec<Cow<'static, str>>,
}

impl PostgresDepsModule {
    /// A module with nothing registered yet.
    pub fn new(client: PostgresClient) -> Self {
        PostgresDepsModule {
            client,
            documents: Vec::new(),
            tx_routes: Vec::new(),
        }
    }

    /// Store the documents of the spec named `name` in `config`'s table (reads and writes).
    #[must_use]
    pub fn rw_document(
        mut self,
        name: impl Into<Cow<'static, str>>,
        config: PostgresDocumentConfig,
    ) -> Self {
        self.documents.push((name.into(), config));
        self
    }

    /// Register a transaction manager under the route `name`.
    #[must_use]
    pub fn tx(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.tx_routes.push(name.into());
        self
    }
}

impl DepsModule for PostgresDepsModule {
    fn name(&self) -> &str {
        "postgres"
    }

    fn register(&self, deps: &mut Registrations) {
        for (name, config) in &self.documents {
            self.client.register_document(name, config);
            deps.document(
                name.clone(),
                Arc::new(PostgresDocumentBackend::new(
                    self.client.clone(),
                    config.clone(),
                )),
            );
        }
        for name in &self.tx_routes {
            deps.transaction(
                name.clone(),
                Arc::new(PostgresTransactionManager::new(self.client.clone())),
            );
        }
    }
}

/// Connects the [`PostgresClient`]'s pool at startup and closes it at shutdown.
///
/// With [`check_schema(true)`](Self::check_schema), startup also checks every table registered
/// through [`PostgresDepsModule`] on the same client (the table, the metadata columns, and each
/// field column once the document is bound), and fails with a `Config` error naming the missing
/// table or column.
///
/// The DSN is kept for startup only and never printed.
///
/// # Examples
///
/// ```
/// use forze_core::runtime::LifecycleModule;
/// use forze_postgres::{PostgresClient, PostgresConfig, PostgresLifecycleModule};
///
/// let module = PostgresLifecycleModule::new(PostgresClient::new(), "postgres://app:secret@db/app")
///     .config(PostgresConfig::new().max_connections(5))
///     .check_schema(true);
/// assert!(!format!("{module:?}").contains("secret"));
/// assert_eq!(module.steps()[0].name(), "postgres");
/// ```
#[derive(Clone)]
pub struct PostgresLifecycleModule {
    client: PostgresClient,
    dsn: Arc<str>,
    config: PostgresConfig,
    check_schema: bool,
}

impl PostgresLifecycleModule {
    /// Connect `client` to `dsn` at startup with the default [`PostgresConfig`].
    pub fn new(client: PostgresClient, dsn: impl Into<String>) -> Self {
        PostgresLifecycleModule {
            client,
            dsn: dsn.into().into(),
            config: PostgresConfig::default(),
            check_schema: false,
        }
    }

    /// The pool settings.
    #[must_use]
    pub fn config(mut self, config: PostgresConfig) -> Self {
        self.config = config;
        self
    }

    /// Check the registered tables at startup (off by default).
    #[must_use]
    pub fn check_schema(mut self, check: bool) -> Self {
        self.check_schema = check;
        self
    }

    /// What the lifecycle step runs at startup: connect the pool, then (if enabled) check the
    /// schema. Callable directly when not using the runtime.
    ///
    /// # Errors
    ///
    /// As [`PostgresClient::initialize`]; with the schema check, `Config` naming the missing
    /// table or column (the pool is closed again).
    pub async fn startup(&self) -> Result<()> {
        self.client
            .initialize(&self.dsn, self.config.clone())
            .await?;
        if self.check_schema {
            self.client.enable_schema_check();
            if let Err(e) = schema::check_registered(&self.client).await {
                // Shutdown runs only after a successful startup: release the pool now.
                self.client.close().await;
                return Err(e);
            }
        }
        Ok(())
    }

    /// What the lifecycle step runs at shutdown: close the pool.
    pub async fn shutdown(&self) {
        self.client.close().await;
    }
}

impl fmt::Debug for PostgresLifecycleModule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresLifecycleModule")
            .field("client", &self.client)
            .field("dsn", &"<redacted>")
            .field("config", &self.config)
            .field("check_schema", &self.check_schema)
            .finish()
    }
}

impl LifecycleModule for PostgresLifecycleModule {
    fn steps(&self) -> Vec<LifecycleStep> {
        let timeout = DEFAULT_STEP_TIMEOUT.max(self.config.connect_timeout + DEFAULT_STEP_TIMEOUT);
        vec![LifecycleStep::new("postgres", PoolHook(self.clone())).timeout(timeout)]
    }
}

#[derive(Debug)]
struct PoolHook(PostgresLifecycleModule);

impl LifecycleHook for PoolHook {
    fn startup(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(self.0.startup())
    }

    fn shutdown(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            self.0.shutdown().await;
            Ok(())
        })
    }
}
