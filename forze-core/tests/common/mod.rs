//! Shared fixtures of the forze-core integration tests.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use forze_core::clock::MockClock;
use forze_core::memory::{MemoryCache, MemoryDocumentStore};
use forze_core::prelude::*;
use forze_core::testing::{
    FailingCache, GatedStore, PRODUCT_SPEC, ProductCreate, ProductRead, ProductUpdate,
    TestDepsModule,
};
use forze_core::{
    CoordinatorConfig, DepsRegistry, ExecutionContext, ExecutionRuntime, LifecyclePlan,
};
use uuid::Uuid;

/// The breaker opens after this many consecutive cache failures in the fixtures.
pub const THRESHOLD: u32 = 3;
/// The breaker's cool-down on the mock clock.
pub const COOL_DOWN: Duration = Duration::from_secs(10);

/// A probe interval no test outlives: the prober never calls the cache.
pub const PROBE_OFF: Duration = Duration::from_secs(3600);

/// In-memory backends on a mock clock, with fault injection on both sides.
pub struct Fixture {
    pub clock: MockClock,
    pub store: MemoryDocumentStore,
    pub gate: GatedStore,
    pub cache: MemoryCache,
    pub faulty: FailingCache,
    pub runtime: ExecutionRuntime,
    pub config: CoordinatorConfig,
}

impl Fixture {
    pub fn new() -> Self {
        Self::with_config(
            CoordinatorConfig::default()
                .cache_timeout(Duration::from_millis(20))
                .breaker(THRESHOLD, COOL_DOWN)
                // The prober runs on real time; these fixtures count cache calls exactly and
                // drive the breaker by the mock clock. Tests of the prober set their own.
                .probe_interval(PROBE_OFF),
        )
    }

    pub fn with_config(config: CoordinatorConfig) -> Self {
        let clock = MockClock::new();
        let store = MemoryDocumentStore::new();
        let gate = GatedStore::new(Arc::new(store.clone()));
        let cache = MemoryCache::with_clock(Arc::new(clock.clone()));
        let faulty = FailingCache::new(Arc::new(cache.clone()));
        let mut fixture = Fixture {
            runtime: ExecutionRuntime::new(
                forze_core::FrozenDeps::default(),
                LifecyclePlan::new().freeze().expect("empty plan"),
            ),
            clock,
            store,
            gate,
            cache,
            faulty,
            config,
        };
        fixture.runtime = fixture.replica();
        fixture
    }

    /// Another runtime (a replica) over the same store and cache.
    pub fn replica(&self) -> ExecutionRuntime {
        let module = TestDepsModule::new("fixture")
            .document("products", Arc::new(self.gate.clone()))
            .document("plain_products", Arc::new(self.gate.clone()))
            .cache("products", Arc::new(self.faulty.clone()))
            .tx("products", Arc::new(self.store.clone()));
        let deps = DepsRegistry::from_modules([module.boxed()])
            .freeze()
            .expect("valid registrations");
        ExecutionRuntime::new(deps, LifecyclePlan::new().freeze().expect("empty plan"))
            .with_clock(Arc::new(self.clock.clone()))
            .with_coordinator(self.config.clone())
    }

    pub fn ctx(&self) -> ExecutionContext {
        self.runtime.context()
    }
}

/// Poll `cond` until it holds (put the test under a watchdog).
pub async fn until(mut cond: impl FnMut() -> bool) {
    while !cond() {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// A patch of the test product's price.
pub fn price(p: i32) -> ProductUpdate {
    ProductUpdate {
        price: Some(p),
        ..ProductUpdate::default()
    }
}

/// Create a test product through the command port of [`PRODUCT_SPEC`].
pub async fn create(ctx: &ExecutionContext, price: i32) -> ProductRead {
    ctx.document()
        .command(&PRODUCT_SPEC)
        .unwrap()
        .create(ProductCreate::new("Widget", price))
        .await
        .unwrap()
}

/// Read through the query port of [`PRODUCT_SPEC`].
pub async fn get(ctx: &ExecutionContext, id: Uuid) -> forze_core::Result<ProductRead> {
    ctx.document().query(&PRODUCT_SPEC)?.get(id).await
}

/// [`get`] on a task of its own.
pub fn spawn_get(
    ctx: &ExecutionContext,
    id: Uuid,
) -> tokio::task::JoinHandle<forze_core::Result<ProductRead>> {
    let ctx = ctx.clone();
    tokio::spawn(async move { get(&ctx, id).await })
}
