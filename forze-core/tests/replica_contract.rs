//! The freshness and outage contract between replicas (separate runtimes: separate lanes,
//! single-flight maps, breakers and holds, sharing only the store and the cache), on the
//! in-memory backends with deterministic faults. The same contract on real Postgres and Redis,
//! with one process per replica, is in `fleet/`.

mod common;

use std::time::Duration;

use common::{COOL_DOWN, Fixture, THRESHOLD, create, get, price, spawn_get, until};
use forze_core::cache::{Cache, CacheFill, Lookup};
use forze_core::testing::{CacheMode, PRODUCT_SPEC, ProductCreate, ProductRead, watchdog};
use forze_core::{BreakerState, CoordinatorConfig, ErrorKind};
use uuid::Uuid;

/// A's read misses and holds rev 1 inside its store read; B's update returns (tombstone rev 2);
/// a new read on A misses on the tombstone. It must not take the old fetch's rev 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_after_a_foreign_update_never_takes_an_older_shared_fetch() {
    watchdog(async {
        let f = Fixture::new();
        let a = f.ctx();
        let b = f.replica().context();
        let p = create(&b, 10).await;
        f.gate.hold_next(1);
        let slow = spawn_get(&a, p.id);
        f.gate.wait_held(1).await;

        let v2 = b
            .document()
            .command(&PRODUCT_SPEC)
            .unwrap()
            .update(p.id, 1, price(20))
            .await
            .unwrap();
        assert_eq!(v2.rev, 2);

        let after = spawn_get(&a, p.id);
        until(|| a.cache(&PRODUCT_SPEC).unwrap().stats().coalesced >= 1).await;
        f.gate.release_all();
        assert_eq!(
            slow.await.unwrap().unwrap().rev,
            1,
            "the slow read began first"
        );
        assert_eq!(
            after.await.unwrap().unwrap(),
            v2,
            "never older than the tombstone"
        );
        let stats = a.cache(&PRODUCT_SPEC).unwrap().stats();
        assert_eq!(stats.stale_joins, 1, "{stats:?}");
    })
    .await;
}

/// The same with a delete: the new read must not return the deleted document.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_after_a_foreign_delete_never_returns_the_deleted_document() {
    watchdog(async {
        let f = Fixture::new();
        let a = f.ctx();
        let b = f.replica().context();
        let p = create(&b, 10).await;
        f.gate.hold_next(1);
        let slow = spawn_get(&a, p.id);
        f.gate.wait_held(1).await;

        b.document()
            .command(&PRODUCT_SPEC)
            .unwrap()
            .delete(p.id)
            .await
            .unwrap();
        let after = spawn_get(&a, p.id);
        until(|| a.cache(&PRODUCT_SPEC).unwrap().stats().coalesced >= 1).await;
        f.gate.release_all();
        assert_eq!(slow.await.unwrap().unwrap(), p);
        let err = after.await.unwrap().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    })
    .await;
}

/// Coalescing is kept where it is safe: a stampede after a write (every reader saw the same
/// tombstone) makes one store read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stampede_after_a_write_still_makes_one_store_read() {
    watchdog(async {
        let f = Fixture::new();
        let a = f.ctx();
        let b = f.replica().context();
        let p = create(&b, 10).await;
        get(&a, p.id).await.unwrap();
        let v2 = b
            .document()
            .command(&PRODUCT_SPEC)
            .unwrap()
            .update(p.id, 1, price(20))
            .await
            .unwrap();
        let reads = f.gate.reads();
        f.gate.hold_next(1);
        let readers: Vec<_> = (0..32).map(|_| spawn_get(&a, p.id)).collect();
        f.gate.wait_held(1).await;
        until(|| a.cache(&PRODUCT_SPEC).unwrap().stats().coalesced >= 31).await;
        f.gate.release_all();
        for r in readers {
            assert_eq!(r.await.unwrap().unwrap(), v2);
        }
        assert_eq!(f.gate.reads(), reads + 1);
        assert_eq!(a.cache(&PRODUCT_SPEC).unwrap().stats().stale_joins, 0);
    })
    .await;
}

/// Another document's payload under a document's key is evicted, counted, and read from the
/// store; the key heals with the next fill.
#[tokio::test]
async fn another_documents_payload_is_never_served() {
    watchdog(async {
        let f = Fixture::new();
        let ctx = f.ctx();
        let p = create(&ctx, 10).await;
        let q = create(&ctx, 99).await;
        get(&ctx, q.id).await.unwrap();
        // Copy q's cached entry under p's key (rev 1 both).
        let Lookup::Value(entry) = f.cache.lookup(&q.id.to_string(), None).await.unwrap() else {
            panic!("q is cached");
        };
        assert!(
            f.cache
                .fill(CacheFill::new(
                    p.id.to_string(),
                    entry.rev,
                    entry.payload.clone(),
                    Duration::from_secs(60)
                ))
                .await
                .unwrap()
        );
        assert_eq!(get(&ctx, p.id).await.unwrap(), p, "p, not q");
        let stats = ctx.cache(&PRODUCT_SPEC).unwrap().stats();
        assert_eq!(stats.foreign_payloads, 1, "{stats:?}");
        assert_eq!(get(&ctx, p.id).await.unwrap(), p);
        // get_many checks too.
        assert!(
            f.cache
                .fill(CacheFill::new(
                    p.id.to_string(),
                    5,
                    entry.payload,
                    Duration::from_secs(60)
                ))
                .await
                .unwrap()
        );
        let many = ctx
            .document()
            .query(&PRODUCT_SPEC)
            .unwrap()
            .get_many(&[p.id, q.id])
            .await
            .unwrap();
        assert_eq!(many, vec![p, q]);
        assert_eq!(
            ctx.cache(&PRODUCT_SPEC).unwrap().stats().foreign_payloads,
            2
        );
    })
    .await;
}

/// While the cache is down, each document is read from the store about once per hold, and the
/// writing replica still reads its own writes at once.
#[tokio::test]
async fn an_outage_reads_each_document_once_per_hold_and_keeps_read_your_writes() {
    watchdog(async {
        let f = Fixture::new();
        let ctx = f.ctx();
        let docs: Vec<ProductRead> = {
            let mut v = Vec::new();
            for i in 0..10 {
                v.push(create(&ctx, i).await);
            }
            v
        };
        f.faulty.set_mode(CacheMode::Fail);
        let reads = f.gate.reads();
        for _ in 0..20 {
            for d in &docs {
                assert_eq!(get(&ctx, d.id).await.unwrap(), *d);
            }
        }
        assert_eq!(f.gate.reads(), reads + 10, "one store read per document");
        // get_many is served from the hold too.
        let ids: Vec<Uuid> = docs.iter().map(|d| d.id).collect();
        let many = ctx
            .document()
            .query(&PRODUCT_SPEC)
            .unwrap()
            .get_many(&ids)
            .await
            .unwrap();
        assert_eq!(many, docs);
        assert_eq!(f.gate.reads(), reads + 10);

        // Read-your-writes on this replica, during the outage.
        let v2 = ctx
            .document()
            .command(&PRODUCT_SPEC)
            .unwrap()
            .update(docs[0].id, 1, price(500))
            .await
            .unwrap();
        assert_eq!(get(&ctx, docs[0].id).await.unwrap(), v2);

        // After the hold, the store again.
        f.clock.advance(Duration::from_millis(1_001));
        assert_eq!(get(&ctx, docs[1].id).await.unwrap(), docs[1]);
        assert_eq!(f.gate.reads(), reads + 12);
        assert!(ctx.cache(&PRODUCT_SPEC).unwrap().stats().held >= 190);
    })
    .await;
}

/// A value over `max_value_size` is served, not cached, counted, and is no cache failure.
#[tokio::test]
async fn oversized_values_are_served_but_not_cached() {
    watchdog(async {
        let f = Fixture::with_config(
            CoordinatorConfig::default()
                .breaker(THRESHOLD, COOL_DOWN)
                .max_value_size(256),
        );
        let ctx = f.ctx();
        let docs = ctx.document().command(&PRODUCT_SPEC).unwrap();
        let big = docs
            .create(ProductCreate::new("x".repeat(4096), 1))
            .await
            .unwrap();
        for _ in 0..10 {
            assert_eq!(get(&ctx, big.id).await.unwrap(), big);
        }
        let stats = ctx.cache(&PRODUCT_SPEC).unwrap().stats();
        assert_eq!(stats.oversize, 10, "{stats:?}");
        assert_eq!(stats.cache_errors, 0);
        assert_eq!(stats.breaker, BreakerState::Closed);
        assert_eq!(
            f.cache.lookup(&big.id.to_string(), None).await.unwrap(),
            Lookup::Tombstone(1),
            "only the create's tombstone"
        );
        let small = create(&ctx, 1).await;
        get(&ctx, small.id).await.unwrap();
        assert!(matches!(
            f.cache.lookup(&small.id.to_string(), None).await.unwrap(),
            Lookup::Value(_)
        ));
    })
    .await;
}

/// Pending invalidations are written soon after the cache answers again, even while the read
/// breaker is open with a long cool-down (on the mock clock, it never passes here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_invalidations_are_written_whatever_the_breaker_says() {
    watchdog(async {
        let f = Fixture::new();
        let a = f.ctx();
        let p = create(&a, 10).await;
        get(&a, p.id).await.unwrap();
        f.faulty.set_mode(CacheMode::Fail);
        for _ in 0..THRESHOLD {
            get(&a, p.id).await.unwrap();
        }
        let v2 = a
            .document()
            .command(&PRODUCT_SPEC)
            .unwrap()
            .update(p.id, 1, price(20))
            .await
            .unwrap();
        assert_eq!(
            a.cache(&PRODUCT_SPEC)
                .unwrap()
                .stats()
                .pending_invalidations,
            1
        );
        f.faulty.set_mode(CacheMode::Healthy);
        let back = std::time::Instant::now();
        until(|| {
            f.cache.state(&p.id.to_string()).is_some_and(|s| {
                matches!(
                    s,
                    forze_core::memory::MemoryCacheState::Tombstone { rev: 2 }
                )
            })
        })
        .await;
        let took = back.elapsed();
        // Loose bound against a noisy machine; the flusher retries every <= 50 ms.
        assert!(
            took < Duration::from_secs(1),
            "tombstone written after {took:?}"
        );
        eprintln!("pending invalidation written {took:?} after the cache was back");
        // Another replica reads the new rev.
        let b = f.replica().context();
        assert_eq!(get(&b, p.id).await.unwrap(), v2);
    })
    .await;
}

/// A breaker opened by an outage closes about one probe interval after the cache answers,
/// not after its cool-down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_breaker_closes_soon_after_the_cache_is_back() {
    watchdog(async {
        // The default probe interval (100 ms).
        let f = Fixture::with_config(
            CoordinatorConfig::default()
                .cache_timeout(Duration::from_millis(20))
                .breaker(THRESHOLD, COOL_DOWN),
        );
        let ctx = f.ctx();
        let p = create(&ctx, 10).await;
        f.faulty.set_mode(CacheMode::Fail);
        for _ in 0..THRESHOLD {
            get(&ctx, p.id).await.unwrap();
        }
        assert_eq!(
            ctx.cache(&PRODUCT_SPEC).unwrap().stats().breaker,
            BreakerState::Open
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(
            ctx.cache(&PRODUCT_SPEC).unwrap().stats().breaker,
            BreakerState::Open,
            "still down: probes fail"
        );
        f.faulty.set_mode(CacheMode::Healthy);
        let back = std::time::Instant::now();
        until(|| ctx.cache(&PRODUCT_SPEC).unwrap().stats().breaker == BreakerState::Closed).await;
        let took = back.elapsed();
        assert!(took < Duration::from_secs(1), "closed after {took:?}");
        let stats = ctx.cache(&PRODUCT_SPEC).unwrap().stats();
        assert!(stats.probes >= 2, "{stats:?}");
        let hits = stats.hits;
        get(&ctx, p.id).await.unwrap();
        get(&ctx, p.id).await.unwrap();
        assert!(ctx.cache(&PRODUCT_SPEC).unwrap().stats().hits > hits);
    })
    .await;
}
