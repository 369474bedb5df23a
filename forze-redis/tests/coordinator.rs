//! The read-through coordinator on a real Redis: the core read-through suite, the L1 across two
//! replicas (read-your-writes here, the write seen elsewhere after `l1(ttl)`), `age_ttl`
//! lifetimes and `sliding_ttl` idle keys through the coordinator.
//!
//! Needs `FORZE_TEST_REDIS_URL`; every test works under its own namespace. Document timestamps
//! and L1 lifetimes follow a mock clock; Redis lifetimes are real.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{connect, data_key, raw, redis_url, unique_namespace};
use forze_core::clock::MockClock;
use forze_core::memory::MemoryDocumentStore;
use forze_core::prelude::*;
use forze_core::testing::{
    CountingStore, Product, ProductCreate, ProductRead, ProductUpdate, TestDepsModule, Wiring,
    read_through_suite, watchdog,
};
use forze_core::{
    AgeBasedTtl, CacheSpec, DepsRegistry, DocumentSpec, ExecutionContext, ExecutionRuntime, L1Spec,
    LifecyclePlan,
};
use forze_redis::{RedisCache, RedisCacheConfig};
use redis::Commands;

const HOUR: Duration = Duration::from_secs(3600);

fn spec(cache: forze_core::Result<CacheSpec>) -> DocumentSpec<Product> {
    DocumentSpec::<Product>::new("products")
        .expect("valid name")
        .with_cache(cache.expect("valid cache spec"))
}

/// Replicas: runtimes over one in-memory store and one Redis namespace (each replica with its
/// own Redis client), on one mock clock.
struct Replicas {
    clock: MockClock,
    store: CountingStore,
    namespace: String,
}

impl Replicas {
    fn new(test: &str) -> Self {
        Replicas {
            clock: MockClock::new(),
            store: CountingStore::new(Arc::new(MemoryDocumentStore::new())),
            namespace: unique_namespace(test),
        }
    }

    async fn replica(&self) -> ExecutionContext {
        let client = connect(&redis_url()).await;
        let cache = RedisCache::new(
            client,
            RedisCacheConfig::namespace(self.namespace.clone()).expect("valid namespace"),
        );
        let module = TestDepsModule::new("redis-replica")
            .document("products", Arc::new(self.store.clone()))
            .cache("products", Arc::new(cache));
        let deps = DepsRegistry::from_modules([module.boxed()])
            .freeze()
            .expect("valid registrations");
        ExecutionRuntime::new(deps, LifecyclePlan::new().freeze().expect("empty plan"))
            .with_clock(Arc::new(self.clock.clone()))
            .context()
    }

    fn pttl(&self, id: impl std::fmt::Display) -> i64 {
        raw(&redis_url())
            .pttl(data_key(&self.namespace, &id.to_string()))
            .expect("PTTL")
    }

    fn idle_pttl(&self, id: impl std::fmt::Display) -> i64 {
        let key = format!(
            "fz:{}:{};idle:{{{id}}}",
            self.namespace.len(),
            self.namespace
        );
        raw(&redis_url()).pttl(key).expect("PTTL")
    }
}

async fn create(ctx: &ExecutionContext, spec: &DocumentSpec<Product>) -> ProductRead {
    ctx.document()
        .command(spec)
        .unwrap()
        .create(ProductCreate::new("Widget", 10))
        .await
        .unwrap()
}

async fn get(ctx: &ExecutionContext, spec: &DocumentSpec<Product>, p: &ProductRead) -> ProductRead {
    ctx.document().query(spec).unwrap().get(p.id).await.unwrap()
}

async fn update(
    ctx: &ExecutionContext,
    spec: &DocumentSpec<Product>,
    p: &ProductRead,
) -> ProductRead {
    let change = ProductUpdate {
        price: Some(p.price + 1),
        ..ProductUpdate::default()
    };
    ctx.document()
        .command(spec)
        .unwrap()
        .update(p.id, p.rev, change)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_read_through_suite_passes_on_redis() {
    let url = redis_url();
    let mut caches = Vec::new();
    for _ in 0..12 {
        let client = connect(&url).await;
        caches.push(RedisCache::new(
            client,
            RedisCacheConfig::namespace(unique_namespace("suite")).expect("ns"),
        ));
    }
    let caches = std::sync::Mutex::new(caches);
    watchdog(read_through_suite(|| {
        let store = MemoryDocumentStore::new();
        let cache = caches.lock().unwrap().pop().expect("enough namespaces");
        Wiring::new(Arc::new(store.clone()), Arc::new(cache)).with_transactions(Arc::new(store))
    }))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_replica_sees_a_write_after_the_l1_ttl_and_not_before() {
    watchdog(async {
        let l1_ttl = Duration::from_secs(2);
        let spec = spec(
            CacheSpec::builder("products")
                .l1(L1Spec::new(l1_ttl).unwrap())
                .build(),
        );
        let r = Replicas::new("l1_replicas");
        let (a, b) = (r.replica().await, r.replica().await);
        let p = create(&a, &spec).await;
        assert_eq!(get(&a, &spec, &p).await, p);
        assert_eq!(get(&b, &spec, &p).await, p);
        let reads = r.store.reads();
        for _ in 0..5 {
            assert_eq!(get(&b, &spec, &p).await, p);
        }
        assert_eq!(r.store.reads(), reads);
        assert!(b.cache(&spec).unwrap().stats().l1.unwrap().hits >= 5);

        let v2 = update(&a, &spec, &p).await;
        assert_eq!(get(&a, &spec, &p).await, v2, "A reads its own write");
        r.clock.advance(l1_ttl - Duration::from_millis(1));
        assert_eq!(get(&b, &spec, &p).await, p, "B within its L1 budget");
        r.clock.advance(Duration::from_millis(1));
        assert_eq!(get(&b, &spec, &p).await, v2, "B after l1(ttl)");
        assert_eq!(get(&a, &spec, &p).await, v2);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn age_ttl_lifetimes_on_redis() {
    watchdog(async {
        let age = AgeBasedTtl::new(0.1, Duration::from_secs(30), HOUR).unwrap();
        let spec = spec(
            CacheSpec::builder("products")
                .ttl(2 * HOUR)
                .age_ttl(age)
                .build(),
        );
        let r = Replicas::new("age_ttl");
        let ctx = r.replica().await;
        let p = create(&ctx, &spec).await;
        r.clock.advance(Duration::from_secs(60));
        get(&ctx, &spec, &p).await;
        let minute_old = r.pttl(p.id);
        assert!(
            minute_old > 25_000 && minute_old <= 30_000,
            "minute-old: {minute_old}"
        );

        let q = create(&ctx, &spec).await;
        r.clock.advance(Duration::from_secs(86_400));
        get(&ctx, &spec, &q).await;
        let day_old = r.pttl(q.id);
        assert!(
            day_old > 3_590_000 && day_old <= 3_600_000,
            "day-old: {day_old}"
        );

        let q2 = update(&ctx, &spec, &q).await;
        assert_eq!(get(&ctx, &spec, &q).await, q2);
        let written = r.pttl(q.id);
        assert!(
            written > 25_000 && written <= 30_000,
            "reset on write: {written}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sliding_through_the_coordinator_on_redis() {
    watchdog(async {
        let window = Duration::from_secs(60);
        let spec = spec(
            CacheSpec::builder("products")
                .ttl(HOUR)
                .sliding_ttl(window)
                .build(),
        );
        let r = Replicas::new("sliding");
        let ctx = r.replica().await;
        let p = create(&ctx, &spec).await;
        get(&ctx, &spec, &p).await;
        let idle = r.idle_pttl(p.id);
        assert!(idle > 55_000 && idle <= 60_000, "idle {idle}");
        let cap = r.pttl(p.id);
        assert!(cap > 3_590_000, "cap {cap}");

        let idle_key = format!("fz:{}:{};idle:{{{}}}", r.namespace.len(), r.namespace, p.id);
        let _: () = raw(&redis_url()).pexpire(&idle_key, 500).unwrap();
        let reads = r.store.reads();
        assert_eq!(get(&ctx, &spec, &p).await, p);
        assert_eq!(r.store.reads(), reads, "a hit");
        assert!(r.idle_pttl(p.id) > 55_000, "the hit slid the idle deadline");
        assert!(r.pttl(p.id) <= cap, "and left the cap alone");

        let _: () = raw(&redis_url()).del(&idle_key).unwrap(); // idle past its window
        assert_eq!(get(&ctx, &spec, &p).await, p);
        assert_eq!(
            r.store.reads(),
            reads + 1,
            "an idle entry is gone: revalidated"
        );
        assert!(r.idle_pttl(p.id) > 55_000, "refilled with a new idle key");
        assert_eq!(get(&ctx, &spec, &p).await, p);
        assert_eq!(r.store.reads(), reads + 1);
    })
    .await;
}
