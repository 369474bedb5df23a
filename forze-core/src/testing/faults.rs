//! Deterministic fault injection: a cache that fails or hangs on demand, a store that holds reads
//! until released, a store that counts calls, and a module registering any backends.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use tokio::sync::oneshot;
use uuid::Uuid;

use crate::cache::{
    Cache, CacheEntry, CacheFill, Invalidation, Lookup, PushSubscription, SharedSink,
};
use crate::error::{Error, ErrorKind, Result};
use crate::model::Row;
use crate::query::{Predicate, Select};
use crate::runtime::{DepsModule, Registrations};
use crate::store::{
    BoxFuture, DocumentBackend, DocumentBinding, DocumentStore, Patch, StoreCx, TransactionManager,
    Updated, Upsert, Upserted,
};

/// How a [`FailingCache`] behaves.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheMode {
    /// Pass every call to the inner cache.
    Healthy,
    /// Fail every call with `Unavailable`, without touching the inner cache.
    Fail,
    /// Never answer (the coordinator's per-call timeout must fire).
    Hang,
}

/// A [`Cache`] wrapper that fails or hangs on demand and counts the calls it receives.
///
/// Cheap to clone; clones share the mode and the counter, so keep one to flip the mode while
/// the runtime holds another.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use forze_core::cache::Cache;
/// use forze_core::memory::MemoryCache;
/// use forze_core::testing::{CacheMode, FailingCache};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let cache = FailingCache::new(Arc::new(MemoryCache::new()));
/// cache.set_mode(CacheMode::Fail);
/// assert!(cache.get("k").await.is_err());
/// cache.set_mode(CacheMode::Healthy);
/// assert!(cache.get("k").await.unwrap().is_none());
/// assert_eq!(cache.calls(), 2);
/// # });
/// ```
#[derive(Clone)]
pub struct FailingCache {
    inner: Arc<dyn Cache>,
    mode: Arc<Mutex<CacheMode>>,
    calls: Arc<AtomicU64>,
}

impl fmt::Debug for FailingCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FailingCache")
            .field("mode", &self.mode())
            .field("calls", &self.calls())
            .finish()
    }
}

impl FailingCache {
    /// A healthy wrapper of `inner`.
    pub fn new(inner: Arc<dyn Cache>) -> Self {
        FailingCache {
            inner,
            mode: Arc::new(Mutex::new(CacheMode::Healthy)),
            calls: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Switch the behaviour of every later call.
    pub fn set_mode(&self, mode: CacheMode) {
        *self.mode.lock() = mode;
    }

    /// The current behaviour.
    pub fn mode(&self) -> CacheMode {
        *self.mode.lock()
    }

    /// How many calls reached this cache (whatever the mode).
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }

    fn gate<'a, T: Send + 'a>(
        &self,
        call: impl FnOnce() -> BoxFuture<'a, Result<T>>,
    ) -> BoxFuture<'a, Result<T>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        match self.mode() {
            CacheMode::Healthy => call(),
            CacheMode::Fail => Box::pin(std::future::ready(Err(Error::new(
                ErrorKind::Unavailable,
                "injected cache failure",
            )))),
            CacheMode::Hang => Box::pin(std::future::pending()),
        }
    }
}

impl Cache for FailingCache {
    fn generation(&self) -> u64 {
        self.inner.generation()
    }

    fn lookup<'a>(
        &'a self,
        key: &'a str,
        sliding: Option<Duration>,
    ) -> BoxFuture<'a, Result<Lookup>> {
        self.gate(|| self.inner.lookup(key, sliding))
    }

    fn lookup_many<'a>(
        &'a self,
        keys: &'a [String],
        sliding: Option<Duration>,
    ) -> BoxFuture<'a, Result<Vec<Lookup>>> {
        self.gate(|| self.inner.lookup_many(keys, sliding))
    }

    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<CacheEntry>>> {
        self.gate(|| self.inner.get(key))
    }

    fn get_many<'a>(
        &'a self,
        keys: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<Option<CacheEntry>>>> {
        self.gate(|| self.inner.get_many(keys))
    }

    fn get_sliding<'a>(
        &'a self,
        key: &'a str,
        window: Duration,
    ) -> BoxFuture<'a, Result<Option<CacheEntry>>> {
        self.gate(|| self.inner.get_sliding(key, window))
    }

    fn get_many_sliding<'a>(
        &'a self,
        keys: &'a [String],
        window: Duration,
    ) -> BoxFuture<'a, Result<Vec<Option<CacheEntry>>>> {
        self.gate(|| self.inner.get_many_sliding(keys, window))
    }

    fn fill(&self, fill: CacheFill) -> BoxFuture<'_, Result<bool>> {
        self.gate(|| self.inner.fill(fill))
    }

    fn fill_many(&self, fills: Vec<CacheFill>) -> BoxFuture<'_, Result<Vec<bool>>> {
        self.gate(|| self.inner.fill_many(fills))
    }

    fn invalidate_many<'a>(
        &'a self,
        invalidations: &'a [Invalidation],
    ) -> BoxFuture<'a, Result<()>> {
        self.gate(|| self.inner.invalidate_many(invalidations))
    }

    fn evict<'a>(&'a self, key: &'a str, rev: i64, ttl: Duration) -> BoxFuture<'a, Result<()>> {
        self.gate(|| self.inner.evict(key, rev, ttl))
    }

    fn subscribe_invalidations(&self, sink: SharedSink) -> Result<PushSubscription> {
        self.inner.subscribe_invalidations(sink)
    }
}

/// Call counts of a [`CountingStore`] or [`GatedStore`].
#[derive(Debug, Default)]
struct Counts {
    gets: AtomicU64,
    get_manys: AtomicU64,
    writes: AtomicU64,
    lists: AtomicU64,
}

#[derive(Default)]
struct Gate {
    /// How many upcoming reads to hold (`usize::MAX` = all).
    hold_next: AtomicUsize,
    /// The held reads, released by sending.
    held: Mutex<Vec<oneshot::Sender<()>>>,
    /// The error the next reads fail with (after reading), if any.
    fail_with: Mutex<Option<Error>>,
    counts: Counts,
}

impl Gate {
    fn take_hold(&self) -> bool {
        self.hold_next
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| match n {
                0 => None,
                usize::MAX => Some(usize::MAX),
                n => Some(n - 1),
            })
            .is_ok()
    }

    /// After a read: wait at the gate if it must be held, then apply the injected failure.
    async fn after_read<T>(&self, result: Result<T>) -> Result<T> {
        if self.take_hold() {
            let (tx, rx) = oneshot::channel();
            self.held.lock().push(tx);
            // A dropped sender (the gate was dropped) also releases.
            let _ = rx.await;
        }
        if let Some(err) = self.fail_with.lock().clone() {
            return Err(err);
        }
        result
    }
}

/// A backend wrapper whose store can hold reads (`get`, `get_many`) **after** they have read, until
/// released: the way to stage a reader that fetched an old rev and fills late. Also injects read
/// failures and counts calls. Writes pass through.
///
/// Cheap to clone; clones share the gate.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use forze_core::memory::MemoryDocumentStore;
/// use forze_core::store::{DocumentBackend, DocumentBinding, StoreCx};
/// use forze_core::testing::GatedStore;
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let gated = GatedStore::new(Arc::new(MemoryDocumentStore::new()));
/// let store = gated.bind(&DocumentBinding::new("products", &[])).unwrap();
/// gated.hold_next(1);
/// let read = tokio::spawn(async move { store.get(&StoreCx::none(), uuid::Uuid::nil(), false).await });
/// gated.wait_held(1).await;
/// gated.release_all();
/// assert!(read.await.unwrap().unwrap().is_none());
/// assert_eq!(gated.reads(), 1);
/// # });
/// ```
#[derive(Clone)]
pub struct GatedStore {
    inner: Arc<dyn DocumentBackend>,
    gate: Arc<Gate>,
}

impl fmt::Debug for GatedStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GatedStore")
            .field("inner", &self.inner)
            .field("held", &self.held())
            .field("reads", &self.reads())
            .finish()
    }
}

impl GatedStore {
    /// A pass-through wrapper of `inner` (nothing held, nothing failing).
    pub fn new(inner: Arc<dyn DocumentBackend>) -> Self {
        GatedStore {
            inner,
            gate: Arc::new(Gate::default()),
        }
    }

    /// Hold the next `n` reads (after they read) until released.
    pub fn hold_next(&self, n: usize) {
        self.gate.hold_next.store(n, Ordering::SeqCst);
    }

    /// Hold every later read until released.
    pub fn hold_all(&self) {
        self.hold_next(usize::MAX);
    }

    /// Stop holding new reads (the reads already held stay held).
    pub fn stop_holding(&self) {
        self.hold_next(0);
    }

    /// Release every held read.
    pub fn release_all(&self) {
        for tx in self.gate.held.lock().drain(..) {
            let _ = tx.send(());
        }
    }

    /// Stop holding and release everything.
    pub fn open(&self) {
        self.stop_holding();
        self.release_all();
    }

    /// Make later reads fail with `err` (after reading and after the gate); `None` heals.
    pub fn fail_reads(&self, err: Option<Error>) {
        *self.gate.fail_with.lock() = err;
    }

    /// How many reads are held now.
    pub fn held(&self) -> usize {
        self.gate.held.lock().len()
    }

    /// Wait until at least `n` reads are held. Put it under a watchdog.
    pub async fn wait_held(&self, n: usize) {
        while self.held() < n {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// `get` plus `get_many` calls so far.
    pub fn reads(&self) -> u64 {
        self.gets() + self.get_manys()
    }

    /// `get` calls so far.
    pub fn gets(&self) -> u64 {
        self.gate.counts.gets.load(Ordering::SeqCst)
    }

    /// `get_many` calls so far.
    pub fn get_manys(&self) -> u64 {
        self.gate.counts.get_manys.load(Ordering::SeqCst)
    }

    /// Write calls (insert, ensure, update, touch, delete) so far.
    pub fn writes(&self) -> u64 {
        self.gate.counts.writes.load(Ordering::SeqCst)
    }
}

impl DocumentBackend for GatedStore {
    fn bind(&self, binding: &DocumentBinding) -> Result<Arc<dyn DocumentStore>> {
        Ok(Arc::new(Wrapped {
            inner: self.inner.bind(binding)?,
            gate: Arc::clone(&self.gate),
        }))
    }
}

/// A backend wrapper counting the calls of its stores. Cheap to clone; clones share counts.
#[derive(Clone)]
pub struct CountingStore {
    inner: GatedStore,
}

impl fmt::Debug for CountingStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CountingStore")
            .field("reads", &self.reads())
            .field("writes", &self.writes())
            .finish()
    }
}

impl CountingStore {
    /// Count the calls to the stores of `inner`.
    pub fn new(inner: Arc<dyn DocumentBackend>) -> Self {
        CountingStore {
            inner: GatedStore::new(inner),
        }
    }
    /// `get` plus `get_many` calls so far.
    pub fn reads(&self) -> u64 {
        self.inner.reads()
    }
    /// `get` calls so far.
    pub fn gets(&self) -> u64 {
        self.inner.gets()
    }
    /// `get_many` calls so far.
    pub fn get_manys(&self) -> u64 {
        self.inner.get_manys()
    }
    /// `list` calls so far.
    pub fn lists(&self) -> u64 {
        self.inner.gate.counts.lists.load(Ordering::SeqCst)
    }
    /// Write calls so far.
    pub fn writes(&self) -> u64 {
        self.inner.writes()
    }
}

impl DocumentBackend for CountingStore {
    fn bind(&self, binding: &DocumentBinding) -> Result<Arc<dyn DocumentStore>> {
        self.inner.bind(binding)
    }
}

struct Wrapped {
    inner: Arc<dyn DocumentStore>,
    gate: Arc<Gate>,
}

impl fmt::Debug for Wrapped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wrapped")
            .field("inner", &self.inner)
            .finish()
    }
}

impl Wrapped {
    fn write<'a, T: Send + 'a>(&self, fut: BoxFuture<'a, Result<T>>) -> BoxFuture<'a, Result<T>> {
        self.gate.counts.writes.fetch_add(1, Ordering::SeqCst);
        fut
    }
}

fn boxed<'a, T>(fut: impl Future<Output = T> + Send + 'a) -> BoxFuture<'a, T> {
    Box::pin(fut)
}

impl DocumentStore for Wrapped {
    fn insert<'a>(&'a self, cx: &'a StoreCx, rows: Vec<Row>) -> BoxFuture<'a, Result<Vec<Row>>> {
        self.write(self.inner.insert(cx, rows))
    }
    fn ensure<'a>(&'a self, cx: &'a StoreCx, row: Row) -> BoxFuture<'a, Result<(Row, bool)>> {
        self.write(self.inner.ensure(cx, row))
    }
    fn update<'a>(
        &'a self,
        cx: &'a StoreCx,
        patches: Vec<Patch>,
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<Vec<Updated>>> {
        self.write(self.inner.update(cx, patches, now))
    }
    fn touch<'a>(
        &'a self,
        cx: &'a StoreCx,
        id: Uuid,
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<Row>> {
        self.write(self.inner.touch(cx, id, now))
    }
    fn delete<'a>(&'a self, cx: &'a StoreCx, ids: &'a [Uuid]) -> BoxFuture<'a, Result<()>> {
        self.write(self.inner.delete(cx, ids))
    }
    fn upsert<'a>(
        &'a self,
        cx: &'a StoreCx,
        items: Vec<Upsert>,
    ) -> BoxFuture<'a, Result<Vec<Upserted>>> {
        self.write(self.inner.upsert(cx, items))
    }
    fn ensure_many<'a>(
        &'a self,
        cx: &'a StoreCx,
        rows: Vec<Row>,
    ) -> BoxFuture<'a, Result<Vec<(Row, bool)>>> {
        self.write(self.inner.ensure_many(cx, rows))
    }
    fn touch_many<'a>(
        &'a self,
        cx: &'a StoreCx,
        ids: &'a [Uuid],
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<Vec<Row>>> {
        self.write(self.inner.touch_many(cx, ids, now))
    }
    fn delete_at<'a>(
        &'a self,
        cx: &'a StoreCx,
        expected: &'a [(Uuid, i64)],
    ) -> BoxFuture<'a, Result<()>> {
        self.write(self.inner.delete_at(cx, expected))
    }
    fn update_matching<'a>(
        &'a self,
        cx: &'a StoreCx,
        filter: &'a Predicate,
        fields: serde_json::Map<String, serde_json::Value>,
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<Vec<(Uuid, i64)>>> {
        self.write(self.inner.update_matching(cx, filter, fields, now))
    }
    fn get<'a>(
        &'a self,
        cx: &'a StoreCx,
        id: Uuid,
        lock: bool,
    ) -> BoxFuture<'a, Result<Option<Row>>> {
        self.gate.counts.gets.fetch_add(1, Ordering::SeqCst);
        boxed(async move {
            let result = self.inner.get(cx, id, lock).await;
            self.gate.after_read(result).await
        })
    }
    fn get_many<'a>(&'a self, cx: &'a StoreCx, ids: &'a [Uuid]) -> BoxFuture<'a, Result<Vec<Row>>> {
        self.gate.counts.get_manys.fetch_add(1, Ordering::SeqCst);
        boxed(async move {
            let result = self.inner.get_many(cx, ids).await;
            self.gate.after_read(result).await
        })
    }
    fn find<'a>(&'a self, cx: &'a StoreCx, select: &'a Select) -> BoxFuture<'a, Result<Vec<Row>>> {
        self.gate.counts.lists.fetch_add(1, Ordering::SeqCst);
        self.inner.find(cx, select)
    }
    fn count<'a>(
        &'a self,
        cx: &'a StoreCx,
        filter: Option<&'a Predicate>,
    ) -> BoxFuture<'a, Result<u64>> {
        self.inner.count(cx, filter)
    }
}

/// A [`DepsModule`] registering whatever backends it is given, for tests that wire wrappers
/// (`GatedStore`, `FailingCache`) or another crate's backends by hand.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use forze_core::memory::{MemoryCache, MemoryDocumentStore};
/// use forze_core::prelude::*;
/// use forze_core::testing::TestDepsModule;
/// use forze_core::DepsRegistry;
///
/// let module = TestDepsModule::new("test")
///     .document("products", Arc::new(MemoryDocumentStore::new()))
///     .cache("products", Arc::new(MemoryCache::new()));
/// let deps = DepsRegistry::from_modules([module.boxed()]).freeze()?;
/// assert_eq!(deps.cache_names().collect::<Vec<_>>(), ["products"]);
/// # Ok::<(), forze_core::Error>(())
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct TestDepsModule {
    name: String,
    documents: Vec<(Cow<'static, str>, Arc<dyn DocumentBackend>)>,
    caches: Vec<(Cow<'static, str>, Arc<dyn Cache>)>,
    transactions: Vec<(Cow<'static, str>, Arc<dyn TransactionManager>)>,
}

impl TestDepsModule {
    /// An empty module called `name` in messages.
    pub fn new(name: impl Into<String>) -> Self {
        TestDepsModule {
            name: name.into(),
            documents: Vec::new(),
            caches: Vec::new(),
            transactions: Vec::new(),
        }
    }
    /// Register a document backend.
    pub fn document(
        mut self,
        name: impl Into<Cow<'static, str>>,
        backend: Arc<dyn DocumentBackend>,
    ) -> Self {
        self.documents.push((name.into(), backend));
        self
    }
    /// Register a cache.
    pub fn cache(mut self, name: impl Into<Cow<'static, str>>, cache: Arc<dyn Cache>) -> Self {
        self.caches.push((name.into(), cache));
        self
    }
    /// Register a transaction route.
    pub fn tx(
        mut self,
        name: impl Into<Cow<'static, str>>,
        manager: Arc<dyn TransactionManager>,
    ) -> Self {
        self.transactions.push((name.into(), manager));
        self
    }
}

impl DepsModule for TestDepsModule {
    fn name(&self) -> &str {
        &self.name
    }

    fn register(&self, deps: &mut Registrations) {
        for (name, backend) in &self.documents {
            deps.document(name.clone(), Arc::clone(backend));
        }
        for (name, cache) in &self.caches {
            deps.cache(name.clone(), Arc::clone(cache));
        }
        for (name, manager) in &self.transactions {
            deps.transaction(name.clone(), Arc::clone(manager));
        }
    }
}
