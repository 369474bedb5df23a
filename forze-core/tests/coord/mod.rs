//! Fixtures of the L1, early-refresh and adaptive-lifetime tests: replicas (runtimes) over one
//! in-memory store and one in-memory cache on a mock clock, with fault injection on both sides.
#![allow(dead_code)]

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use forze_core::cache::{Cache, CacheEntry, CacheFill, Invalidation};
use forze_core::clock::MockClock;
use forze_core::memory::{MemoryCache, MemoryDocumentStore};
use forze_core::prelude::*;
use forze_core::store::BoxFuture;
use forze_core::testing::{
    FailingCache, GatedStore, Product, ProductCreate, ProductRead, ProductUpdate, TestDepsModule,
};
use forze_core::{
    CacheSpec, CoordinatorConfig, DepsRegistry, DocumentSpec, ExecutionContext, ExecutionRuntime,
    LifecyclePlan, Result,
};
use parking_lot::Mutex;
use tokio::sync::oneshot;
use uuid::Uuid;

/// The `products` spec with `cache`.
pub fn spec(cache: CacheSpec) -> DocumentSpec<Product> {
    DocumentSpec::<Product>::new("products")
        .expect("valid name")
        .with_cache(cache)
}

/// A cache that can hold `get`s (plain or sliding) after they read, until released: the way to
/// stage a reader that got the old rev from the shared cache and uses it late.
#[derive(Clone)]
pub struct GatedCache {
    inner: Arc<dyn Cache>,
    hold_next: Arc<AtomicUsize>,
    held: Arc<Mutex<Vec<oneshot::Sender<()>>>>,
}

impl fmt::Debug for GatedCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GatedCache").finish_non_exhaustive()
    }
}

impl GatedCache {
    pub fn new(inner: Arc<dyn Cache>) -> Self {
        GatedCache {
            inner,
            hold_next: Arc::new(AtomicUsize::new(0)),
            held: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// Hold the next `n` single-key reads after they read.
    pub fn hold_next(&self, n: usize) {
        self.hold_next.store(n, Ordering::SeqCst);
    }

    pub fn held(&self) -> usize {
        self.held.lock().len()
    }

    pub async fn wait_held(&self, n: usize) {
        while self.held() < n {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    pub fn release_all(&self) {
        for tx in self.held.lock().drain(..) {
            let _ = tx.send(());
        }
    }

    fn take_hold(&self) -> bool {
        self.hold_next
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }

    fn gated<'a>(
        &'a self,
        read: BoxFuture<'a, Result<Option<CacheEntry>>>,
    ) -> BoxFuture<'a, Result<Option<CacheEntry>>> {
        Box::pin(async move {
            let result = read.await;
            if self.take_hold() {
                let (tx, rx) = oneshot::channel();
                self.held.lock().push(tx);
                let _ = rx.await;
            }
            result
        })
    }
}

impl Cache for GatedCache {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<CacheEntry>>> {
        self.gated(self.inner.get(key))
    }
    fn get_sliding<'a>(
        &'a self,
        key: &'a str,
        window: Duration,
    ) -> BoxFuture<'a, Result<Option<CacheEntry>>> {
        self.gated(self.inner.get_sliding(key, window))
    }
    fn get_many<'a>(
        &'a self,
        keys: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<Option<CacheEntry>>>> {
        self.inner.get_many(keys)
    }
    fn get_many_sliding<'a>(
        &'a self,
        keys: &'a [String],
        window: Duration,
    ) -> BoxFuture<'a, Result<Vec<Option<CacheEntry>>>> {
        self.inner.get_many_sliding(keys, window)
    }
    fn fill(&self, fill: CacheFill) -> BoxFuture<'_, Result<bool>> {
        self.inner.fill(fill)
    }
    fn fill_many(&self, fills: Vec<CacheFill>) -> BoxFuture<'_, Result<Vec<bool>>> {
        self.inner.fill_many(fills)
    }
    fn invalidate_many<'a>(
        &'a self,
        invalidations: &'a [Invalidation],
    ) -> BoxFuture<'a, Result<()>> {
        self.inner.invalidate_many(invalidations)
    }
    fn evict<'a>(&'a self, key: &'a str, rev: i64, ttl: Duration) -> BoxFuture<'a, Result<()>> {
        self.inner.evict(key, rev, ttl)
    }
}

/// Replicas of one application: every [`runtime`](Self::runtime) is a new process-like runtime
/// over the same store and cache, on the same mock clock.
pub struct Replicas {
    pub clock: MockClock,
    pub store: MemoryDocumentStore,
    pub gate: GatedStore,
    pub cache: MemoryCache,
    pub gated: GatedCache,
    pub faulty: FailingCache,
    pub spec: DocumentSpec<Product>,
    pub config: CoordinatorConfig,
}

impl Replicas {
    pub fn new(spec: DocumentSpec<Product>) -> Self {
        Self::with_config(
            spec,
            CoordinatorConfig::default()
                .cache_timeout(Duration::from_secs(10))
                .early_refresh_seed(7),
        )
    }

    pub fn with_config(spec: DocumentSpec<Product>, config: CoordinatorConfig) -> Self {
        let clock = MockClock::new();
        let store = MemoryDocumentStore::new();
        let gate = GatedStore::new(Arc::new(store.clone()));
        let cache = MemoryCache::with_clock(Arc::new(clock.clone()));
        let gated = GatedCache::new(Arc::new(cache.clone()));
        let faulty = FailingCache::new(Arc::new(gated.clone()));
        Replicas {
            clock,
            store,
            gate,
            cache,
            gated,
            faulty,
            spec,
            config,
        }
    }

    /// A new replica.
    pub fn runtime(&self) -> ExecutionRuntime {
        let module = TestDepsModule::new("replicas")
            .document("products", Arc::new(self.gate.clone()))
            .cache("products", Arc::new(self.faulty.clone()))
            .tx("products", Arc::new(self.store.clone()));
        let deps = DepsRegistry::from_modules([module.boxed()])
            .freeze()
            .expect("valid registrations");
        ExecutionRuntime::new(deps, LifecyclePlan::new().freeze().expect("empty plan"))
            .with_clock(Arc::new(self.clock.clone()))
            .with_coordinator(self.config.clone())
    }

    /// What the shared cache holds for `id`: the rev of a value.
    pub fn cached_rev(&self, id: Uuid) -> Option<i64> {
        match self.cache.state(&id.to_string()) {
            Some(forze_core::memory::MemoryCacheState::Value { rev, .. }) => Some(rev),
            _ => None,
        }
    }
}

pub async fn create(
    ctx: &ExecutionContext,
    spec: &DocumentSpec<Product>,
    price: i32,
) -> ProductRead {
    ctx.document()
        .command(spec)
        .expect("command port")
        .create(ProductCreate::new("Widget", price))
        .await
        .expect("create")
}

pub async fn get(
    ctx: &ExecutionContext,
    spec: &DocumentSpec<Product>,
    id: Uuid,
) -> Result<ProductRead> {
    ctx.document().query(spec)?.get(id).await
}

pub fn spawn_get(
    ctx: &ExecutionContext,
    spec: &DocumentSpec<Product>,
    id: Uuid,
) -> tokio::task::JoinHandle<Result<ProductRead>> {
    let (ctx, spec) = (ctx.clone(), spec.clone());
    tokio::spawn(async move { get(&ctx, &spec, id).await })
}

pub fn price(p: i32) -> ProductUpdate {
    ProductUpdate {
        price: Some(p),
        ..ProductUpdate::default()
    }
}

pub async fn update(
    ctx: &ExecutionContext,
    spec: &DocumentSpec<Product>,
    doc: &ProductRead,
    p: i32,
) -> ProductRead {
    ctx.document()
        .command(spec)
        .expect("command port")
        .update(doc.id, doc.rev, price(p))
        .await
        .expect("update")
}

/// Poll `cond` until it holds (the test runs under a watchdog).
pub async fn until(mut cond: impl FnMut() -> bool) {
    while !cond() {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}
