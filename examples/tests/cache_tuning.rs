//! What the guide says about early refresh, the L1 and adaptive lifetimes
//! (`docs/recipes/cache-reads.md`), checked on the embedded in-memory backends with the specs it
//! shows (`forze_examples::cache_tuning`). Time-dependent behaviour runs on a mock clock: no test
//! here measures or sleeps.

use std::sync::Arc;
use std::time::Duration;

use forze_core::clock::MockClock;
use forze_core::memory::{MemoryCache, MemoryDepsModule, MemoryDocumentStore};
use forze_core::prelude::*;
use forze_core::{DepsRegistry, ExecutionRuntime, L1StoreKind, LifecyclePlan};
use forze_examples::cache_reads::build_memory_runtime;
use forze_examples::cache_tuning::{
    adaptive, age_based, background_refresh, early_refresh, hot, scan_resistant, sliding,
};
use forze_examples::product;

const WATCHDOG: Duration = Duration::from_secs(30);
const MINUTE: Duration = Duration::from_secs(60);

/// One replica: its own runtime (so its own lanes and L1s) over a shared store and shared cache,
/// on a shared mock clock.
fn replica(
    store: &MemoryDocumentStore,
    cache: &MemoryCache,
    clock: &MockClock,
) -> ExecutionRuntime {
    let module = MemoryDepsModule::new()
        .with_store(store.clone())
        .document("products")
        .tx("products")
        .cache_with("products", cache.clone());
    let deps = DepsRegistry::from_modules([module.boxed()]);
    ExecutionRuntime::new(
        deps.freeze().expect("deps"),
        LifecyclePlan::new().freeze().expect("lifecycle"),
    )
    .with_clock(Arc::new(clock.clone()))
}

/// A store, a cache and a clock for replicas to share.
fn shared() -> (MemoryDocumentStore, MemoryCache, MockClock) {
    let clock = MockClock::new();
    let cache = MemoryCache::with_clock(Arc::new(clock.clone()));
    (MemoryDocumentStore::new(), cache, clock)
}

#[test]
fn the_specs_are_the_ones_the_guide_describes() {
    let cache = early_refresh::PRODUCT_SPEC.cache.expect("cached");
    assert_eq!(
        (cache.early_refresh_beta, cache.early_refresh_background),
        (Some(1.0), false)
    );
    let cache = background_refresh::PRODUCT_SPEC.cache.expect("cached");
    assert_eq!(
        (cache.early_refresh_beta, cache.early_refresh_background),
        (Some(1.0), true)
    );

    let cache = hot::PRODUCT_SPEC.cache.expect("cached");
    let l1 = cache.l1.expect("l1");
    assert_eq!(
        (l1.ttl, l1.capacity, l1.store),
        (Duration::from_secs(2), 1024, L1StoreKind::Lru)
    );
    assert_eq!(cache.ttl, 5 * MINUTE, "the default cache ttl");
    let l1 = scan_resistant::PRODUCT_SPEC
        .cache
        .and_then(|c| c.l1)
        .expect("l1");
    assert_eq!(
        (l1.ttl, l1.capacity, l1.store),
        (Duration::from_secs(2), 1024, L1StoreKind::TinyLfu)
    );

    let cache = sliding::PRODUCT_SPEC.cache.expect("cached");
    assert_eq!((cache.ttl, cache.sliding_ttl), (60 * MINUTE, Some(MINUTE)));
    assert_eq!(cache.age_ttl, None);
    let cache = adaptive::PRODUCT_SPEC.cache.expect("cached");
    let age = cache.age_ttl.expect("age_ttl");
    assert_eq!(
        (
            cache.ttl,
            cache.sliding_ttl,
            age.alpha,
            age.min_ttl,
            age.max_ttl
        ),
        (
            60 * MINUTE,
            Some(MINUTE),
            0.1,
            Duration::from_secs(30),
            60 * MINUTE
        )
    );
    // The plain recipe spec opts into none of it.
    let cache = product::PRODUCT_SPEC.cache.expect("cached");
    assert_eq!(
        (
            cache.early_refresh_beta,
            cache.sliding_ttl,
            cache.age_ttl,
            cache.l1
        ),
        (None, None, None, None)
    );
}

#[test]
fn stable_documents_earn_longer_lifetimes() {
    let age = age_based::PRODUCT_SPEC
        .cache
        .and_then(|c| c.age_ttl)
        .expect("age_ttl");
    assert_eq!(
        age.lifetime(24 * 60 * MINUTE),
        60 * MINUTE,
        "a day old: the hour"
    );
    assert_eq!(
        age.lifetime(MINUTE),
        Duration::from_secs(30),
        "a minute old: min_ttl"
    );
    assert_eq!(
        age.lifetime(10 * MINUTE),
        MINUTE,
        "ten minutes old: 10% of that"
    );
}

#[tokio::test]
async fn the_writing_replica_reads_its_own_writes() {
    let runtime = build_memory_runtime().expect("runtime");
    let (l1, shared) = tokio::time::timeout(
        WATCHDOG,
        runtime.scope(|ctx| async move {
            let l1 = hot::l1_scenario(&ctx).await?;
            Ok((l1, ctx.cache(&hot::PRODUCT_SPEC)?.stats()))
        }),
    )
    .await
    .expect("watchdog")
    .expect("scenario");
    // The second read was an L1 hit; the first and the one after the update missed it.
    assert_eq!((l1.hits, l1.misses), (1, 2), "{l1:?}");
    assert_eq!(l1.invalidations, 1, "the update dropped the entry: {l1:?}");
    assert_eq!((l1.size, l1.capacity), (1, 1024), "{l1:?}");
    // The L1 hit never reached the shared cache: both shared reads missed and read the store.
    assert_eq!(
        (shared.hits, shared.misses, shared.store_reads),
        (0, 2, 2),
        "{shared:?}"
    );
    assert_eq!(
        shared.l1,
        Some(l1),
        "the lane's stats carry the L1's counters"
    );
}

/// The L1 TTL is a staleness budget for the other replicas: a write on replica A drops the entry
/// from A's L1 only, and replica B serves its L1 entry until `l1(ttl)` has passed.
#[tokio::test]
async fn other_replicas_serve_their_l1_entry_for_up_to_its_ttl() {
    use hot::{PRODUCT_SPEC, ProductCreate, ProductUpdate};
    let (store, cache, clock) = shared();
    let (a, b) = (
        replica(&store, &cache, &clock).context(),
        replica(&store, &cache, &clock).context(),
    );
    tokio::time::timeout(WATCHDOG, async {
        let created = a
            .document()
            .command(&PRODUCT_SPEC)?
            .create(ProductCreate {
                name: "Widget".into(),
                price: 10,
            })
            .await?;
        let (qa, qb) = (
            a.document().query(&PRODUCT_SPEC)?,
            b.document().query(&PRODUCT_SPEC)?,
        );
        assert_eq!(qb.get(created.id).await?.price, 10); // B's L1 holds rev 1 now

        clock.advance(Duration::from_millis(500));
        let update = ProductUpdate {
            price: Some(12),
            ..Default::default()
        };
        a.document()
            .command(&PRODUCT_SPEC)?
            .update(created.id, created.rev, update)
            .await?;
        assert_eq!(qa.get(created.id).await?.price, 12, "A reads its own write");
        assert_eq!(
            qb.get(created.id).await?.price,
            10,
            "B serves its L1 entry within the budget"
        );

        // Two seconds after B filled its L1, the entry is gone and B reads the shared cache.
        clock.advance(Duration::from_millis(1_500));
        assert_eq!(qb.get(created.id).await?.price, 12, "B after the budget");
        let l1 = b.cache(&PRODUCT_SPEC)?.stats().l1.expect("l1");
        assert_eq!((l1.hits, l1.expirations), (1, 1), "{l1:?}");
        Ok::<_, forze_core::Error>(())
    })
    .await
    .expect("watchdog")
    .expect("scenario");
}

/// Reads `hot` four times each, then `scan` once each, then `hot` again: how many of the last
/// reads were L1 hits.
async fn hot_hits_after_a_scan<D>(
    spec: &forze_core::DocumentSpec<D>,
    create: fn(usize) -> D::Create,
) -> u64
where
    D: Document,
{
    let runtime = build_memory_runtime().expect("runtime");
    let ctx = runtime.context();
    let docs = ctx.document().command(spec).expect("command");
    let query = ctx.document().query(spec).expect("query");
    let mut ids = Vec::new();
    for i in 0..2_100 {
        let meta = D::meta(&docs.create(create(i)).await.expect("create"));
        ids.push(meta.id);
    }
    let (hot, scan) = ids.split_at(100);
    for _ in 0..4 {
        for id in hot {
            query.get(*id).await.expect("hot read");
        }
    }
    for id in scan {
        query.get(*id).await.expect("scan read");
    }
    let before = ctx
        .cache(spec)
        .expect("a cached spec")
        .stats()
        .l1
        .expect("l1")
        .hits;
    for id in hot {
        query.get(*id).await.expect("hot read");
    }
    ctx.cache(spec)
        .expect("a cached spec")
        .stats()
        .l1
        .expect("l1")
        .hits
        - before
}

/// The guide's advice for scans: a one-pass sweep of 2 000 documents through an L1 of 1 024
/// evicts the whole hot set from the LRU, and none of it from the W-TinyLFU store.
#[tokio::test]
async fn tiny_lfu_keeps_the_hot_set_through_a_scan() {
    let (lru, tiny_lfu) = tokio::time::timeout(WATCHDOG, async {
        let lru = hot_hits_after_a_scan(&hot::PRODUCT_SPEC, |i| hot::ProductCreate {
            name: format!("Widget {i}"),
            price: 10,
        })
        .await;
        let tiny_lfu = hot_hits_after_a_scan(&scan_resistant::PRODUCT_SPEC, |i| {
            scan_resistant::ProductCreate {
                name: format!("Widget {i}"),
                price: 10,
            }
        })
        .await;
        (lru, tiny_lfu)
    })
    .await
    .expect("watchdog");
    assert_eq!(lru, 0, "the scan evicted every hot document from the LRU");
    assert_eq!(tiny_lfu, 100, "W-TinyLFU refused the scan");
}

/// With `early_refresh_beta`, the shared cache holds the XFetch envelope; without it, the plain
/// read model.
#[tokio::test]
async fn early_refresh_entries_carry_the_envelope() {
    let enveloped = tokio::time::timeout(WATCHDOG, async {
        let ctx = build_memory_runtime().expect("runtime").context();
        let created = ctx
            .document()
            .command(&early_refresh::PRODUCT_SPEC)?
            .create(early_refresh::ProductCreate {
                name: "Widget".into(),
                price: 10,
            })
            .await?;
        ctx.document()
            .query(&early_refresh::PRODUCT_SPEC)?
            .get(created.id)
            .await?;
        let entry = ctx
            .cache(&early_refresh::PRODUCT_SPEC)?
            .get(&created.id.to_string())
            .await?;
        Ok::<_, forze_core::Error>(entry.expect("filled").payload)
    })
    .await
    .expect("watchdog")
    .expect("scenario");
    let value: serde_json::Value = serde_json::from_slice(&enveloped).expect("json");
    let xf = &value["_xf"];
    assert!(xf["at"].is_i64() && xf["d"].is_u64(), "{value}");
    assert_eq!(xf["ttl"], 300_000, "the entry's lifetime in ms: {value}");
    assert_eq!(value["doc"]["price"], 10, "{value}");

    let plain = tokio::time::timeout(WATCHDOG, async {
        let ctx = build_memory_runtime().expect("runtime").context();
        let created = ctx
            .document()
            .command(&product::PRODUCT_SPEC)?
            .create(product::ProductCreate {
                name: "Widget".into(),
                price: 10,
            })
            .await?;
        ctx.document()
            .query(&product::PRODUCT_SPEC)?
            .get(created.id)
            .await?;
        let entry = ctx
            .cache(&product::PRODUCT_SPEC)?
            .get(&created.id.to_string())
            .await?;
        Ok::<_, forze_core::Error>(entry.expect("filled").payload)
    })
    .await
    .expect("watchdog")
    .expect("scenario");
    let value: serde_json::Value = serde_json::from_slice(&plain).expect("json");
    assert!(value.get("_xf").is_none(), "{value}");
    assert_eq!(value["price"], 10, "{value}");
}

/// `sliding_ttl`: each read extends the idle window, never past `ttl`; one quiet window later the
/// entry is gone.
#[tokio::test]
async fn sliding_entries_live_while_they_are_read() {
    use sliding::{PRODUCT_SPEC, ProductCreate};
    let (store, cache, clock) = shared();
    let ctx = replica(&store, &cache, &clock).context();
    tokio::time::timeout(WATCHDOG, async {
        let created = ctx
            .document()
            .command(&PRODUCT_SPEC)?
            .create(ProductCreate {
                name: "Widget".into(),
                price: 10,
            })
            .await?;
        let key = created.id.to_string();
        let query = ctx.document().query(&PRODUCT_SPEC)?;
        query.get(created.id).await?; // miss: filled for 1h, idle window 60 s
        assert_eq!(cache.expires_in(&key), Some(60 * MINUTE));
        assert_eq!(cache.idle_expires_in(&key), Some(MINUTE));

        // Read every 50 s for 10 minutes: always a hit, the idle deadline moves, the cap does not.
        for _ in 0..12 {
            clock.advance(Duration::from_secs(50));
            query.get(created.id).await?;
        }
        let stats = ctx.cache(&PRODUCT_SPEC)?.stats();
        assert_eq!((stats.hits, stats.store_reads), (12, 1), "{stats:?}");
        assert_eq!(cache.idle_expires_in(&key), Some(MINUTE));
        assert_eq!(
            cache.expires_in(&key),
            Some(50 * MINUTE),
            "ttl stays the cap"
        );

        // One quiet window: gone.
        clock.advance(MINUTE);
        query.get(created.id).await?;
        let stats = ctx.cache(&PRODUCT_SPEC)?.stats();
        assert_eq!((stats.hits, stats.store_reads), (12, 2), "{stats:?}");
        Ok::<_, forze_core::Error>(())
    })
    .await
    .expect("watchdog")
    .expect("scenario");
}

/// `age_ttl` and `sliding_ttl` together: the age sets each entry's cap, reads keep it alive
/// within that cap.
#[tokio::test]
async fn age_sets_the_cap_and_reads_keep_the_entry_alive_within_it() {
    use adaptive::{PRODUCT_SPEC, ProductCreate};
    let (store, cache, clock) = shared();
    let ctx = replica(&store, &cache, &clock).context();
    tokio::time::timeout(WATCHDOG, async {
        let docs = ctx.document().command(&PRODUCT_SPEC)?;
        let query = ctx.document().query(&PRODUCT_SPEC)?;
        let stable = docs
            .create(ProductCreate {
                name: "Stable".into(),
                price: 10,
            })
            .await?;
        clock.advance(24 * 60 * MINUTE); // untouched for a day
        let fresh = docs
            .create(ProductCreate {
                name: "Fresh".into(),
                price: 10,
            })
            .await?;

        query.get(stable.id).await?;
        let stable_key = stable.id.to_string();
        assert_eq!(
            cache.expires_in(&stable_key),
            Some(60 * MINUTE),
            "a day old: the hour"
        );
        assert_eq!(cache.idle_expires_in(&stable_key), Some(MINUTE));

        query.get(fresh.id).await?;
        let fresh_key = fresh.id.to_string();
        let cap = Duration::from_secs(30);
        assert_eq!(
            cache.expires_in(&fresh_key),
            Some(cap),
            "just written: min_ttl"
        );
        assert_eq!(
            cache.idle_expires_in(&fresh_key),
            Some(cap),
            "the window, within the cap"
        );

        // Reads every 20 s keep both alive until the fresh one reaches its 30 s cap.
        clock.advance(Duration::from_secs(20));
        query.get(fresh.id).await?;
        query.get(stable.id).await?;
        assert_eq!(
            cache.idle_expires_in(&fresh_key),
            Some(Duration::from_secs(10))
        );
        let before = ctx.cache(&PRODUCT_SPEC)?.stats().store_reads;
        clock.advance(Duration::from_secs(20));
        query.get(fresh.id).await?; // past its cap: read from the store again
        query.get(stable.id).await?; // still alive
        let after = ctx.cache(&PRODUCT_SPEC)?.stats().store_reads;
        assert_eq!(after - before, 1);
        Ok::<_, forze_core::Error>(())
    })
    .await
    .expect("watchdog")
    .expect("scenario");
}
