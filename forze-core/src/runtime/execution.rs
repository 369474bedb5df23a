//! `ExecutionRuntime` and `ExecutionContext`.

use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures_util::FutureExt;
use uuid::Uuid;

use crate::clock::{SharedClock, system_clock};
use crate::coordinator::{CacheSource, Coordinator, CoordinatorConfig, DocumentLane};
use crate::error::{Error, ErrorKind, Result};
use crate::model::Document;
use crate::ports::{CacheHandle, DocumentCommand, DocumentQuery, PortScope};
use crate::query::CursorKey;
use crate::runtime::LifecycleStep;
use crate::runtime::deps::RegistrationKind;
use crate::runtime::lifecycle::{FrozenLifecycle, start_step, stop_steps};
use crate::runtime::registry::FrozenDeps;
use crate::spec::DocumentSpec;
use crate::store::DocumentBinding;
use crate::tx::TxScope;

#[derive(Default)]
struct LifecycleState {
    running: bool,
    started: Vec<LifecycleStep>,
}

struct RuntimeInner {
    deps: FrozenDeps,
    lifecycle: FrozenLifecycle,
    /// The read-through coordinator: one lane per spec, and the push subscriptions.
    coordinator: Coordinator,
    state: tokio::sync::Mutex<LifecycleState>,
    /// Signs cursor tokens.
    cursor_key: CursorKey,
}

/// The application: frozen backends, a lifecycle plan, a clock, and one read-through lane per
/// document spec. Cheap to clone (a handle).
///
/// Each document spec is bound to its backend ([`DocumentBackend::bind`](crate::store::DocumentBackend::bind)) once, on first use,
/// and keeps one lane (single-flight, circuit breaker, pending invalidations) for the life of
/// the runtime; `bind` must not call back into the runtime.
///
/// The lanes of specs with `l1(...)` take push invalidations from their cache
/// ([`Cache::subscribe_invalidations`](crate::cache::Cache::subscribe_invalidations)): one subscription per cache name, made when the first
/// such lane is built, held until [`shutdown`](Self::shutdown) or drop. Their counters are in
/// [`CacheStats::push`](crate::CacheStats::push).
///
/// # Runtime requirements
///
/// The ports run on tokio: they spawn detached fetches and writes and bound cache calls with
/// timeouts, so they must be polled inside a tokio runtime with the time driver enabled
/// (`#[tokio::main]` does that; a hand-built runtime needs `enable_time()`).
///
/// # Examples
///
/// ```
/// use forze_core::memory::MemoryDepsModule;
/// use forze_core::prelude::*;
/// use forze_core::{DepsRegistry, ExecutionRuntime, LifecyclePlan};
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let deps = DepsRegistry::from_modules([MemoryDepsModule::new().document("products").boxed()]);
/// let runtime = ExecutionRuntime::new(deps.freeze()?, LifecyclePlan::new().freeze()?);
/// let answer = runtime.scope(|ctx| async move {
///     assert!(ctx.tenant().is_none());
///     Ok(42)
/// }).await?;
/// assert_eq!(answer, 42);
/// # Ok::<(), forze_core::Error>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct ExecutionRuntime {
    inner: Arc<RuntimeInner>,
}

impl fmt::Debug for ExecutionRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExecutionRuntime")
            .field("deps", &self.inner.deps)
            .field("lifecycle", &self.inner.lifecycle)
            .field("config", self.inner.coordinator.config())
            .finish()
    }
}

impl ExecutionRuntime {
    /// A runtime over `deps` and `lifecycle`, with the system clock and the default
    /// [`CoordinatorConfig`].
    pub fn new(deps: FrozenDeps, lifecycle: FrozenLifecycle) -> Self {
        Self::build(
            deps,
            lifecycle,
            system_clock(),
            CoordinatorConfig::default(),
            CursorKey::default(),
        )
    }

    fn build(
        deps: FrozenDeps,
        lifecycle: FrozenLifecycle,
        clock: SharedClock,
        config: CoordinatorConfig,
        cursor_key: CursorKey,
    ) -> Self {
        ExecutionRuntime {
            inner: Arc::new(RuntimeInner {
                deps,
                lifecycle,
                coordinator: Coordinator::new(config, clock),
                state: tokio::sync::Mutex::new(LifecycleState::default()),
                cursor_key,
            }),
        }
    }

    /// The same wiring with another clock (document timestamps, TTLs, the breaker cool-down).
    ///
    /// A configuration step: the returned runtime is new (no lanes, not started) and shares
    /// nothing with `self` but the backends.
    #[must_use]
    pub fn with_clock(self, clock: SharedClock) -> Self {
        let i = &self.inner;
        Self::build(
            i.deps.clone(),
            i.lifecycle.clone(),
            clock,
            i.coordinator.config().clone(),
            i.cursor_key.clone(),
        )
    }

    /// The same wiring with another coordinator configuration (cache timeout, breaker, pending
    /// invalidations). Like [`with_clock`](Self::with_clock), returns a new runtime.
    #[must_use]
    pub fn with_coordinator(self, config: CoordinatorConfig) -> Self {
        let i = &self.inner;
        Self::build(
            i.deps.clone(),
            i.lifecycle.clone(),
            i.coordinator.clock().clone(),
            config,
            i.cursor_key.clone(),
        )
    }

    /// The same wiring, signing cursor tokens ([`Find::cursor`](crate::Find::cursor)) with
    /// `secret`. Give every replica of a service the same secret, so a cursor from one replica
    /// continues on another. Like [`with_clock`](Self::with_clock), returns a new runtime.
    #[must_use]
    pub fn with_cursor_secret(self, secret: impl AsRef<[u8]>) -> Self {
        let i = &self.inner;
        Self::build(
            i.deps.clone(),
            i.lifecycle.clone(),
            i.coordinator.clock().clone(),
            i.coordinator.config().clone(),
            CursorKey::new(secret),
        )
    }

    /// The registered backends.
    pub fn deps(&self) -> &FrozenDeps {
        &self.inner.deps
    }

    /// The runtime clock.
    pub fn clock(&self) -> &SharedClock {
        self.inner.coordinator.clock()
    }

    /// The coordinator configuration.
    pub fn coordinator(&self) -> &CoordinatorConfig {
        self.inner.coordinator.config()
    }

    /// A context for handlers (no tenant, no transaction). For long-lived services: call
    /// [`startup`](Self::startup) first and [`shutdown`](Self::shutdown) at the end; or use
    /// [`scope`](Self::scope), which does both.
    pub fn context(&self) -> ExecutionContext {
        ExecutionContext {
            runtime: self.clone(),
            tenant: None,
            tx: None,
        }
    }

    /// Start every lifecycle step in order, each under its timeout. If one fails, the steps
    /// already started are shut down in reverse order and the error is returned. Once they are
    /// started, the L1s whose push subscription a [`shutdown`](Self::shutdown) dropped are
    /// subscribed again (lanes subscribe when they are built, too).
    ///
    /// # Errors
    ///
    /// The failing step's error (its kind kept, the step named), `Unavailable` if a step timed
    /// out, `Config` if the runtime is already started.
    pub async fn startup(&self) -> Result<()> {
        let mut state = self.inner.state.lock().await;
        if state.running {
            return Err(Error::config(
                "the runtime is already started; call `shutdown` before starting it again",
            ));
        }
        state.running = true;
        for step in self.inner.lifecycle.steps() {
            if let Err(err) = start_step(step).await {
                tracing::warn!(step = %step.name(), error = %err, "startup failed; shutting down the steps already started");
                let started = std::mem::take(&mut state.started);
                stop_steps(&started).await;
                state.running = false;
                return Err(err);
            }
            state.started.push(step.clone());
        }
        self.inner.coordinator.start();
        Ok(())
    }

    /// Shut every started step down in reverse order, each under its timeout. Failures and
    /// timeouts are logged, never returned. Does nothing if the runtime is not started, except
    /// what it also does when it is: drop the push-invalidation subscriptions of the L1s (they
    /// are TTL-only until the next [`startup`](Self::startup) subscribes them again).
    pub async fn shutdown(&self) {
        let mut state = self.inner.state.lock().await;
        self.inner.coordinator.stop();
        let started = std::mem::take(&mut state.started);
        stop_steps(&started).await;
        state.running = false;
    }

    /// Start up, run `body` with a context, shut down; return the body's result, or the startup
    /// error (the body does not run then).
    ///
    /// Shutdown always runs: after an `Err` and after a panic of the body (the panic is resumed
    /// after shutdown). If the scope future itself is dropped mid-way, shutdown is spawned on
    /// the current tokio runtime.
    ///
    /// # Errors
    ///
    /// The startup error, or the body's error.
    pub async fn scope<T, F, Fut>(&self, body: F) -> Result<T>
    where
        F: FnOnce(ExecutionContext) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let mut guard = ShutdownOnDrop(Some(self.clone()));
        if let Err(err) = self.startup().await {
            // A failed startup already shut down the steps it had started.
            guard.0 = None;
            return Err(err);
        }
        let ctx = self.context();
        let outcome = match std::panic::catch_unwind(AssertUnwindSafe(|| body(ctx))) {
            Ok(fut) => AssertUnwindSafe(fut).catch_unwind().await,
            Err(panic) => Err(panic),
        };
        self.shutdown().await;
        guard.0 = None;
        match outcome {
            Ok(result) => result,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }

    /// The lane of `spec`: bound on first use (its backend and cache looked up by name), then
    /// shared by every port and context.
    pub(crate) fn lane<D: Document>(&self, spec: &DocumentSpec<D>) -> Result<Arc<DocumentLane<D>>> {
        self.inner.coordinator.lane(spec, || {
            let deps = &self.inner.deps;
            let backend = deps.document(&spec.name).ok_or_else(|| {
                Error::config(format!(
                    "no document backend is registered for document `{}`; registered documents: {}",
                    spec.name,
                    deps.missing(RegistrationKind::Document)
                ))
            })?;
            let cache = match &spec.cache {
                None => None,
                Some(cache_spec) => Some(Arc::clone(deps.cache(&cache_spec.name).ok_or_else(
                    || {
                        Error::config(format!(
                            "document `{}` has `cache(name = \"{}\")` but no cache is registered under `{}`; registered caches: {}",
                            spec.name,
                            cache_spec.name,
                            cache_spec.name,
                            deps.missing(RegistrationKind::Cache)
                        ))
                    },
                )?)),
            };
            let store = backend.bind(
                &DocumentBinding::new(spec.name.clone(), D::FIELDS)
                    .with_indexes(spec.indexes)
                    .with_tenancy(spec.tenancy),
            )?;
            Ok((store, cache))
        })
    }
}

struct ShutdownOnDrop(Option<ExecutionRuntime>);

impl Drop for ShutdownOnDrop {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take()
            && let Ok(handle) = tokio::runtime::Handle::try_current()
        {
            handle.spawn(async move { runtime.shutdown().await });
        }
    }
}

/// What handlers get: typed ports, caches, transactions, the tenant and the clock. Cheap to
/// clone.
///
/// Ports of one spec share one lane per runtime (single-flight, breaker, pending
/// invalidations), whichever context or port they come from; so a write through the command
/// port is read back fresh through the query port.
///
/// # Examples
///
/// ```
/// use forze_core::memory::MemoryDepsModule;
/// use forze_core::prelude::*;
/// use forze_core::{DepsRegistry, ExecutionRuntime, LifecyclePlan};
///
/// #[derive(forze_core::Document)]
/// #[document_spec(name = "products", cache(name = "products"))]
/// pub struct Product {
///     pub name: String,
///     pub price: i32,
/// }
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let module = MemoryDepsModule::new().document("products").cache("products").tx("products");
/// let runtime = ExecutionRuntime::new(
///     DepsRegistry::from_modules([module.boxed()]).freeze()?,
///     LifecyclePlan::new().freeze()?,
/// );
/// let ctx = runtime.context();
/// let docs = ctx.document().command(&PRODUCT_SPEC)?;
/// let query = ctx.document().query(&PRODUCT_SPEC)?;
/// let created = docs.create(ProductCreate { name: "Widget".into(), price: 10 }).await?;
/// assert_eq!(query.get(created.id).await?.price, 10); // miss: fills the cache
/// assert!(ctx.cache(&PRODUCT_SPEC)?.get(&created.id.to_string()).await?.is_some());
/// # Ok::<(), forze_core::Error>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct ExecutionContext {
    runtime: ExecutionRuntime,
    tenant: Option<Uuid>,
    tx: Option<Arc<TxScope>>,
}

impl fmt::Debug for ExecutionContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExecutionContext")
            .field("tenant", &self.tenant)
            .field("transaction", &self.tx.as_ref().map(|t| &t.route))
            .finish()
    }
}

impl ExecutionContext {
    /// The document ports: `ctx.document().query(&SPEC)`, `ctx.document().command(&SPEC)`.
    pub fn document(&self) -> DocumentAccess<'_> {
        DocumentAccess { ctx: self }
    }

    /// The shared cache of a cached spec: raw entries, and every counter of its lane
    /// ([`CacheHandle::stats`]: the shared cache, the breaker, the L1 and push invalidation).
    ///
    /// # Errors
    ///
    /// `Config` if the spec has no `cache(...)`, no document backend, or no cache registered
    /// under its cache name; `Config` if the context's tenant does not fit the spec's
    /// [`Tenancy`](crate::Tenancy).
    pub fn cache<D: Document>(&self, spec: &DocumentSpec<D>) -> Result<CacheHandle> {
        let lane = self.runtime.lane(spec)?;
        lane.check_tenant(self.tenant)?;
        let Some(cached) = &lane.cached else {
            return Err(Error::config(format!(
                "document `{}` has no `cache(...)` in its spec, so it has no cache; add `cache(name = \"...\")` to its `#[document_spec]`",
                spec.name
            )));
        };
        Ok(CacheHandle::new(
            Arc::clone(cached) as Arc<dyn CacheSource>,
            self.tenant,
        ))
    }

    /// The same context for `tenant`: its cache keys and single-flight keys are the tenant's,
    /// and stores receive it in [`StoreCx::tenant`](crate::store::StoreCx::tenant).
    #[must_use]
    pub fn with_tenant(&self, tenant: Uuid) -> Self {
        ExecutionContext {
            tenant: Some(tenant),
            ..self.clone()
        }
    }

    /// The tenant bound to this context.
    pub fn tenant(&self) -> Option<Uuid> {
        self.tenant
    }

    /// The runtime clock.
    pub fn clock(&self) -> &SharedClock {
        self.runtime.clock()
    }

    /// The runtime this context belongs to.
    pub fn runtime(&self) -> &ExecutionRuntime {
        &self.runtime
    }

    /// Whether this context runs inside a transaction.
    pub fn in_transaction(&self) -> bool {
        self.tx.is_some()
    }

    /// Run `body` in a transaction of route `route`: begin; run the body with a context whose
    /// ports write and read inside the transaction (reads bypass the cache); commit on `Ok`,
    /// then run the cache invalidations of the writes; roll back on `Err` or panic (then the
    /// panic is resumed), dropping the invalidations.
    ///
    /// Commit and rollback first wait for the writes still in flight in the transaction (a
    /// write the body abandoned after polling it keeps running, see
    /// [`DocumentCommand`](crate::DocumentCommand)). A commit that fails still runs the
    /// invalidations: its outcome may be unknown (it may have applied), and an extra tombstone
    /// only costs a miss.
    ///
    /// Inside a transaction of the same route, `body` simply joins it.
    ///
    /// # Errors
    ///
    /// `Config` if no transaction manager is registered under `route` or another route's
    /// transaction is open; the error of `begin` or `commit`; the body's error. For a body with
    /// its own error type, see [`transaction_with_error`](Self::transaction_with_error).
    ///
    /// # Examples
    ///
    /// ```
    /// use forze_core::memory::MemoryDepsModule;
    /// use forze_core::prelude::*;
    /// use forze_core::{DepsRegistry, Error, ErrorKind, ExecutionRuntime, LifecyclePlan};
    ///
    /// # #[derive(forze_core::Document)]
    /// # #[document_spec(name = "products", cache(name = "products"))]
    /// # pub struct Product { pub name: String, pub price: i32 }
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// let module = MemoryDepsModule::new().document("products").cache("products").tx("products");
    /// let runtime = ExecutionRuntime::new(
    ///     DepsRegistry::from_modules([module.boxed()]).freeze()?,
    ///     LifecyclePlan::new().freeze()?,
    /// );
    /// let ctx = runtime.context();
    /// let failed: Result<(), Error> = ctx
    ///     .transaction("products", |tx| async move {
    ///         let docs = tx.document().command(&PRODUCT_SPEC)?;
    ///         docs.create(ProductCreate { name: "Widget".into(), price: 10 }).await?;
    ///         Err(Error::new(ErrorKind::Validation, "changed my mind"))
    ///     })
    ///     .await;
    /// assert!(failed.is_err());
    /// assert_eq!(ctx.document().query(&PRODUCT_SPEC)?.count().await?, 0); // rolled back
    /// # Ok::<(), forze_core::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn transaction<T, F, Fut>(&self, route: &str, body: F) -> Result<T>
    where
        F: FnOnce(ExecutionContext) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        self.transaction_with_error(route, body).await
    }

    /// [`transaction`](Self::transaction) for a body that returns the caller's own error type
    /// `E` (any `E: From<forze_core::Error>`, so `?` works on forze calls inside): the body's
    /// `Err` rolls back and is returned as it is; forze's own failures (no manager under
    /// `route`, begin, commit) come back converted with `E::from`.
    ///
    /// `transaction` fixes `E` to [`Error`] so a body ending in `Ok(value)` infers; here the
    /// body names its error type, usually by its return type or `Ok::<_, AppError>(value)`.
    ///
    /// # Errors
    ///
    /// As [`transaction`](Self::transaction), converted to `E`; the body's error.
    ///
    /// # Examples
    ///
    /// ```
    /// use forze_core::memory::MemoryDepsModule;
    /// use forze_core::prelude::*;
    /// use forze_core::{DepsRegistry, ErrorKind, ExecutionRuntime, LifecyclePlan};
    ///
    /// # #[derive(forze_core::Document)]
    /// # #[document_spec(name = "products")]
    /// # pub struct Product { pub name: String, pub price: i32 }
    /// #[derive(Debug)]
    /// enum AppError {
    ///     Store(forze_core::Error),
    ///     TooExpensive { price: i32 },
    /// }
    ///
    /// impl From<forze_core::Error> for AppError {
    ///     fn from(err: forze_core::Error) -> Self {
    ///         AppError::Store(err)
    ///     }
    /// }
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// let module = MemoryDepsModule::new().document("products").tx("products");
    /// let runtime = ExecutionRuntime::new(
    ///     DepsRegistry::from_modules([module.boxed()]).freeze()?,
    ///     LifecyclePlan::new().freeze()?,
    /// );
    /// let ctx = runtime.context();
    /// let failed = ctx
    ///     .transaction_with_error("products", |tx| async move {
    ///         let docs = tx.document().command(&PRODUCT_SPEC)?; // forze errors convert
    ///         let created = docs.create(ProductCreate { name: "Lamp".into(), price: 900 }).await?;
    ///         if created.price > 500 {
    ///             return Err(AppError::TooExpensive { price: created.price });
    ///         }
    ///         Ok(created)
    ///     })
    ///     .await;
    /// assert!(matches!(failed, Err(AppError::TooExpensive { price: 900 })));
    /// assert_eq!(ctx.document().query(&PRODUCT_SPEC)?.count().await?, 0); // rolled back
    ///
    /// let unknown = ctx.transaction_with_error("orders", |_| async { Ok::<_, AppError>(()) }).await;
    /// assert!(matches!(unknown, Err(AppError::Store(e)) if e.kind() == ErrorKind::Config));
    /// # Ok::<(), forze_core::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn transaction_with_error<T, E, F, Fut>(&self, route: &str, body: F) -> Result<T, E>
    where
        E: From<Error>,
        F: FnOnce(ExecutionContext) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        if let Some(open) = &self.tx {
            if open.route == route {
                return body(self.clone()).await;
            }
            return Err(Error::config(format!(
                "a transaction on route `{}` is open; a nested transaction on route `{route}` is not supported",
                open.route
            ))
            .into());
        }
        let deps = self.runtime.deps();
        let manager = deps.transaction(route).ok_or_else(|| {
            Error::config(format!(
                "no transaction manager is registered under route `{route}`; registered transaction routes: {}",
                deps.missing(RegistrationKind::Transaction)
            ))
        })?;
        let tx = manager.begin().await?;
        let scope = Arc::new(TxScope::new(route.to_owned(), Arc::clone(&tx)));
        let ctx = ExecutionContext {
            tx: Some(Arc::clone(&scope)),
            ..self.clone()
        };
        let outcome = match std::panic::catch_unwind(AssertUnwindSafe(|| body(ctx))) {
            Ok(fut) => AssertUnwindSafe(fut).catch_unwind().await,
            Err(panic) => Err(panic),
        };
        match outcome {
            Ok(Ok(value)) => {
                // Commit and the after-commit invalidations run detached: a caller that goes
                // away after the commit must not skip the invalidations.
                let committed = tokio::spawn(async move {
                    // Writes the body started and abandoned still run: their invalidations are
                    // queued before the queue is taken.
                    scope.writes_done().await;
                    let result = tx.commit().await;
                    let deferred = scope.take_deferred();
                    if let Err(err) = &result {
                        // A failed commit may still have applied (its reply was lost, or a
                        // client-side timeout fired after the server committed): invalidate
                        // anyway. If it did not apply, the tombstones only cost misses.
                        tracing::warn!(
                            route = %scope.route,
                            error = %err,
                            "commit failed; its outcome is uncertain, so the written ids are invalidated anyway"
                        );
                    }
                    for work in deferred {
                        work.run().await;
                    }
                    result
                });
                match committed.await {
                    Ok(result) => result.map(|()| value).map_err(E::from),
                    Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
                    Err(_) => Err(Error::new(
                        ErrorKind::Internal,
                        format!(
                            "the commit of the transaction on route `{route}` was cancelled (runtime shutdown)"
                        ),
                    )
                    .into()),
                }
            }
            Ok(Err(err)) => {
                scope.writes_done().await;
                scope.take_deferred();
                if let Err(rollback) = tx.rollback().await {
                    tracing::warn!(route, error = %rollback, "rollback failed");
                }
                Err(err)
            }
            Err(panic) => {
                scope.writes_done().await;
                scope.take_deferred();
                if let Err(rollback) = tx.rollback().await {
                    tracing::warn!(route, error = %rollback, "rollback after a panic failed");
                }
                std::panic::resume_unwind(panic)
            }
        }
    }

    pub(crate) fn port_scope(&self) -> PortScope {
        PortScope {
            tenant: self.tenant,
            tx: self.tx.clone(),
            clock: Arc::clone(self.runtime.clock()),
            cursor_key: self.runtime.inner.cursor_key.clone(),
        }
    }
}

/// The document ports of a context, from [`ExecutionContext::document`].
#[derive(Debug, Clone, Copy)]
pub struct DocumentAccess<'a> {
    ctx: &'a ExecutionContext,
}

impl DocumentAccess<'_> {
    /// The command (write) port of `spec`.
    ///
    /// # Errors
    ///
    /// `Config` naming the spec, the missing name and what is registered, if no document backend
    /// is registered for the spec, or the spec is cached and no cache is registered under its
    /// cache name (reads are never silently uncached); `Config` naming the spec if it is
    /// tenant-scoped ([`Tenancy`](crate::Tenancy)) and this context has no tenant, or it is not
    /// and this context has one.
    pub fn command<D: Document>(&self, spec: &DocumentSpec<D>) -> Result<DocumentCommand<D>> {
        let lane = self.ctx.runtime.lane(spec)?;
        lane.check_tenant(self.ctx.tenant)?;
        Ok(DocumentCommand::new(lane, self.ctx.port_scope()))
    }

    /// The query (read) port of `spec`.
    ///
    /// # Errors
    ///
    /// As [`command`](Self::command).
    pub fn query<D: Document>(&self, spec: &DocumentSpec<D>) -> Result<DocumentQuery<D>> {
        let lane = self.ctx.runtime.lane(spec)?;
        lane.check_tenant(self.ctx.tenant)?;
        Ok(DocumentQuery::new(lane, self.ctx.port_scope()))
    }
}
