//! The read-through coordinator on the in-memory backends, with deterministic fault injection:
//! the stale-set race, single-flight and cancellation, cache outages and the breaker, pending
//! invalidations, garbage payloads, tenants, and cache bypasses.

mod common;

use std::time::Duration;

use common::{COOL_DOWN, Fixture, THRESHOLD, create, get, price, spawn_get, until};
use forze_core::cache::{Cache, CacheFill};
use forze_core::memory::MemoryCacheState;
use forze_core::testing::{
    CacheMode, PLAIN_PRODUCT_SPEC, PRODUCT_SPEC, ProductCreate, ProductRead, watchdog,
};
use forze_core::{BreakerState, CoordinatorConfig, Error, ErrorKind, ExecutionContext, Tenancy};
use uuid::Uuid;

/// What the cache holds for `id` (values and tombstones), bypassing everything.
fn raw(f: &Fixture, id: Uuid) -> Option<MemoryCacheState> {
    f.cache.state(&id.to_string())
}

fn raw_rev(f: &Fixture, id: Uuid) -> Option<i64> {
    match raw(f, id) {
        Some(MemoryCacheState::Value { rev, .. }) => Some(rev),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_set_race_update_never_installs_the_old_rev() {
    watchdog(async {
        let f = Fixture::new();
        let ctx = f.ctx();
        let p = create(&ctx, 10).await;
        f.gate.hold_next(1);
        let reader = spawn_get(&ctx, p.id);
        f.gate.wait_held(1).await; // the reader has fetched rev 1
        let v2 = ctx
            .document()
            .command(&PRODUCT_SPEC)
            .unwrap()
            .update(p.id, 1, price(12))
            .await
            .unwrap();
        assert_eq!(
            raw(&f, p.id),
            Some(MemoryCacheState::Tombstone { rev: 2 }),
            "the write left a tombstone at the committed rev"
        );
        f.gate.release_all(); // the reader fills late
        assert_eq!(reader.await.unwrap().unwrap().rev, 1);
        assert_eq!(
            raw_rev(&f, p.id),
            None,
            "the late fill of rev 1 was rejected"
        );
        assert_eq!(ctx.cache(&PRODUCT_SPEC).unwrap().stats().fills_rejected, 1);
        for _ in 0..3 {
            assert_eq!(get(&ctx, p.id).await.unwrap(), v2);
            assert_ne!(raw_rev(&f, p.id), Some(1));
        }
        assert_eq!(raw_rev(&f, p.id), Some(2));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_set_race_delete_does_not_resurrect() {
    watchdog(async {
        let f = Fixture::new();
        let ctx = f.ctx();
        let p = create(&ctx, 10).await;
        f.gate.hold_next(1);
        let reader = spawn_get(&ctx, p.id);
        f.gate.wait_held(1).await;
        ctx.document()
            .command(&PRODUCT_SPEC)
            .unwrap()
            .delete(p.id)
            .await
            .unwrap();
        f.gate.release_all();
        assert_eq!(reader.await.unwrap().unwrap().rev, 1);
        assert_eq!(
            raw(&f, p.id),
            Some(MemoryCacheState::Tombstone { rev: i64::MAX }),
            "the delete tombstone outranks the late fill"
        );
        for _ in 0..3 {
            assert_eq!(
                get(&ctx, p.id).await.unwrap_err().kind(),
                ErrorKind::NotFound
            );
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_order_fills_never_lower_the_rev() {
    watchdog(async {
        let f = Fixture::new();
        let ctx = f.ctx();
        let p = create(&ctx, 10).await;
        f.gate.hold_next(1);
        let slow = spawn_get(&ctx, p.id);
        f.gate.wait_held(1).await;
        let docs = ctx.document().command(&PRODUCT_SPEC).unwrap();
        docs.update(p.id, 1, price(11)).await.unwrap();
        // A reader after the write does not join the old fetch: it reads rev 2 and fills it.
        assert_eq!(get(&ctx, p.id).await.unwrap().rev, 2);
        assert_eq!(raw_rev(&f, p.id), Some(2));
        f.gate.release_all();
        slow.await.unwrap().unwrap();
        assert_eq!(
            raw_rev(&f, p.id),
            Some(2),
            "the rev 1 fill arrived last and was rejected"
        );
        // Directly: a later fill of a lower rev never replaces a higher one.
        let key = p.id.to_string();
        let ttl = Duration::from_secs(60);
        assert!(
            f.cache
                .fill(CacheFill::new(&key, 3, b"{}".to_vec(), ttl))
                .await
                .unwrap()
        );
        assert!(
            !f.cache
                .fill(CacheFill::new(&key, 2, b"{}".to_vec(), ttl))
                .await
                .unwrap()
        );
        assert_eq!(raw_rev(&f, p.id), Some(3));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_concurrent_cold_reads_make_one_store_read() {
    watchdog(async {
        let f = Fixture::new();
        let ctx = f.ctx();
        let p = create(&ctx, 10).await;
        f.gate.hold_next(1);
        let readers: Vec<_> = (0..100).map(|_| spawn_get(&ctx, p.id)).collect();
        f.gate.wait_held(1).await;
        until(|| ctx.cache(&PRODUCT_SPEC).unwrap().stats().coalesced == 99).await;
        f.gate.release_all();
        for r in readers {
            assert_eq!(r.await.unwrap().unwrap(), p);
        }
        assert_eq!(f.gate.reads(), 1, "one store read for 100 callers");
        let stats = ctx.cache(&PRODUCT_SPEC).unwrap().stats();
        assert_eq!((stats.fetches, stats.fills), (1, 1));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_concurrent_cold_reads_share_one_store_error() {
    watchdog(async {
        let f = Fixture::new();
        let ctx = f.ctx();
        let p = create(&ctx, 10).await;
        f.gate
            .fail_reads(Some(Error::new(ErrorKind::Unavailable, "store down")));
        f.gate.hold_next(1);
        let readers: Vec<_> = (0..100).map(|_| spawn_get(&ctx, p.id)).collect();
        f.gate.wait_held(1).await;
        until(|| ctx.cache(&PRODUCT_SPEC).unwrap().stats().coalesced == 99).await;
        f.gate.release_all();
        for r in readers {
            let err = r.await.unwrap().unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Unavailable);
            assert_eq!(err.to_string(), "store down");
        }
        assert_eq!(f.gate.reads(), 1);
        assert_eq!(raw_rev(&f, p.id), None, "nothing was filled");
        // The error is not cached: once the store heals, reads work.
        f.gate.fail_reads(None);
        assert_eq!(get(&ctx, p.id).await.unwrap(), p);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_the_leader_leaves_the_followers_completing() {
    watchdog(async {
        let f = Fixture::new();
        let ctx = f.ctx();
        let p = create(&ctx, 10).await;
        f.gate.hold_next(1);
        let leader = spawn_get(&ctx, p.id);
        f.gate.wait_held(1).await;
        let followers: Vec<_> = (0..5).map(|_| spawn_get(&ctx, p.id)).collect();
        until(|| ctx.cache(&PRODUCT_SPEC).unwrap().stats().coalesced == 5).await;
        leader.abort();
        assert!(leader.await.unwrap_err().is_cancelled());
        f.gate.release_all();
        for r in followers {
            assert_eq!(r.await.unwrap().unwrap(), p);
        }
        assert_eq!(f.gate.reads(), 1, "the fetch was not restarted");
        assert_eq!(
            raw_rev(&f, p.id),
            Some(1),
            "the detached fetch still filled"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_follower_by_timeout_or_drop_leaves_the_others_completing() {
    watchdog(async {
        let f = Fixture::new();
        let ctx = f.ctx();
        let p = create(&ctx, 10).await;
        f.gate.hold_next(1);
        let leader = spawn_get(&ctx, p.id);
        f.gate.wait_held(1).await;
        let others: Vec<_> = (0..3).map(|_| spawn_get(&ctx, p.id)).collect();
        // One follower times out, one is dropped mid-wait.
        let query = ctx.document().query(&PRODUCT_SPEC).unwrap();
        assert!(
            tokio::time::timeout(Duration::from_millis(5), query.get(p.id))
                .await
                .is_err()
        );
        let dropped = spawn_get(&ctx, p.id);
        until(|| ctx.cache(&PRODUCT_SPEC).unwrap().stats().coalesced == 5).await;
        dropped.abort();
        f.gate.release_all();
        assert_eq!(leader.await.unwrap().unwrap(), p);
        for r in others {
            assert_eq!(r.await.unwrap().unwrap(), p);
        }
        assert_eq!(f.gate.reads(), 1);
    })
    .await;
}

#[tokio::test]
async fn a_hit_reads_neither_the_store_nor_the_single_flight_map() {
    watchdog(async {
        let f = Fixture::new();
        let ctx = f.ctx();
        let p = create(&ctx, 10).await;
        get(&ctx, p.id).await.unwrap();
        let (reads, fetches) = (
            f.gate.reads(),
            ctx.cache(&PRODUCT_SPEC).unwrap().stats().fetches,
        );
        for _ in 0..10 {
            assert_eq!(get(&ctx, p.id).await.unwrap(), p);
        }
        let stats = ctx.cache(&PRODUCT_SPEC).unwrap().stats();
        assert_eq!(f.gate.reads(), reads);
        assert_eq!(stats.fetches, fetches, "hits skip single-flight");
        assert_eq!(stats.hits, 10);
    })
    .await;
}

#[tokio::test]
async fn read_your_writes_through_the_command_then_the_query_port() {
    watchdog(async {
        let f = Fixture::new();
        let ctx = f.ctx();
        let docs = ctx.document().command(&PRODUCT_SPEC).unwrap();
        let query = ctx.document().query(&PRODUCT_SPEC).unwrap();
        let p = docs.create(ProductCreate::new("Widget", 10)).await.unwrap();
        assert_eq!(query.get(p.id).await.unwrap(), p);
        let mut rev = p.rev;
        for price_now in 11..16 {
            let written = docs.update(p.id, rev, price(price_now)).await.unwrap();
            rev = written.rev;
            assert_eq!(query.get(p.id).await.unwrap(), written);
            assert_eq!(
                query.get_many(&[p.id]).await.unwrap(),
                std::slice::from_ref(&written),
                "get_many reads the write too"
            );
        }
        // Another context of the same runtime shares the lane.
        let other = f.runtime.context();
        assert_eq!(get(&other, p.id).await.unwrap().price, 15);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_tenant_reads_are_not_coalesced() {
    watchdog(async {
        let f = Fixture::new();
        // a tenant-scoped spec: the same document type, its data kept per tenant
        let spec = PRODUCT_SPEC.clone().with_tenancy(Tenancy::Column);
        let query = |ctx: &ExecutionContext| ctx.document().query(&spec).unwrap();
        let get = |ctx: &ExecutionContext, id: Uuid| {
            let q = query(ctx);
            async move { q.get(id).await }
        };
        let spawn_get = |ctx: &ExecutionContext, id: Uuid| tokio::spawn(get(ctx, id));
        let (ta, tb) = (Uuid::now_v7(), Uuid::now_v7());
        let (a, b) = (f.ctx().with_tenant(ta), f.ctx().with_tenant(tb));
        let id = Uuid::now_v7();
        for (ctx, name) in [(&a, "tenant a"), (&b, "tenant b")] {
            ctx.document()
                .command(&spec)
                .unwrap()
                .ensure(id, ProductCreate::new(name, 1))
                .await
                .unwrap();
        }
        f.gate.hold_next(2);
        let ra = spawn_get(&a, id);
        let rb = spawn_get(&b, id);
        f.gate.wait_held(2).await; // two fetches: not coalesced
        f.gate.release_all();
        assert_eq!(ra.await.unwrap().unwrap().name, "tenant a");
        assert_eq!(rb.await.unwrap().unwrap().name, "tenant b");
        assert_eq!(f.gate.reads(), 2);
        // Separate cache keys, and no tenant sees the other's entry.
        assert!(f.cache.state(&format!("{ta}:{id}")).is_some());
        assert!(f.cache.state(&format!("{tb}:{id}")).is_some());
        assert!(f.cache.state(&id.to_string()).is_none());
        assert_eq!(get(&b, id).await.unwrap().name, "tenant b");
        let handle = a.cache(&spec).unwrap();
        assert!(
            handle.get(&id.to_string()).await.unwrap().is_some(),
            "the handle adds the tenant"
        );
        // A write in one tenant invalidates only that tenant's key.
        let bdoc = get(&b, id).await.unwrap();
        b.document()
            .command(&spec)
            .unwrap()
            .update(id, bdoc.rev, price(5))
            .await
            .unwrap();
        assert_eq!(get(&a, id).await.unwrap().price, 1);
        assert_eq!(get(&b, id).await.unwrap().price, 5);
    })
    .await;
}

#[tokio::test]
async fn garbage_in_the_cache_is_a_counted_miss_and_is_replaced() {
    watchdog(async {
        let f = Fixture::new();
        let ctx = f.ctx();
        let p = create(&ctx, 10).await;
        let key = p.id.to_string();
        let ttl = Duration::from_secs(60);
        assert!(
            f.cache
                .fill(CacheFill::new(&key, 1, b"\xff garbage".to_vec(), ttl))
                .await
                .unwrap()
        );
        assert_eq!(get(&ctx, p.id).await.unwrap(), p, "never a decode error");
        let stats = ctx.cache(&PRODUCT_SPEC).unwrap().stats();
        assert_eq!(stats.decode_errors, 1);
        assert_eq!(stats.fills, 1);
        match raw(&f, p.id) {
            Some(MemoryCacheState::Value { rev: 1, payload }) => {
                assert_eq!(serde_json::from_slice::<ProductRead>(&payload).unwrap(), p);
            }
            other => panic!("the entry should be replaced, got {other:?}"),
        }
        // A schema change (valid JSON, wrong shape) too, in a batch read.
        let q = create(&ctx, 20).await;
        let qkey = q.id.to_string();
        assert!(
            f.cache
                .fill(CacheFill::new(
                    &qkey,
                    1,
                    br#"{"price":"twenty"}"#.to_vec(),
                    ttl
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
        assert_eq!(many, [p, q.clone()]);
        assert_eq!(ctx.cache(&PRODUCT_SPEC).unwrap().stats().decode_errors, 2);
        assert_eq!(raw_rev(&f, q.id), Some(1));
    })
    .await;
}

#[tokio::test]
async fn a_failing_cache_fails_open_opens_the_breaker_and_never_serves_stale_after_recovery() {
    watchdog(async {
        let f = Fixture::new();
        let ctx = f.ctx();
        let docs = ctx.document().command(&PRODUCT_SPEC).unwrap();
        let p = create(&ctx, 10).await;
        assert_eq!(get(&ctx, p.id).await.unwrap(), p);
        assert_eq!(raw_rev(&f, p.id), Some(1), "cached before the outage");

        f.faulty.set_mode(CacheMode::Fail);
        let calls = f.faulty.calls();
        for _ in 0..10 {
            assert_eq!(get(&ctx, p.id).await.unwrap(), p, "reads stay correct");
        }
        let stats = ctx.cache(&PRODUCT_SPEC).unwrap().stats();
        assert_eq!(stats.breaker, BreakerState::Open);
        assert_eq!(
            f.faulty.calls() - calls,
            u64::from(THRESHOLD),
            "after {THRESHOLD} failures the cache is not called any more"
        );
        assert!(stats.breaker_rejections >= 7);

        // Writes succeed; their ids are remembered.
        let v2 = docs.update(p.id, 1, price(12)).await.unwrap();
        let other = docs.create(ProductCreate::new("Gadget", 5)).await.unwrap();
        let stats = ctx.cache(&PRODUCT_SPEC).unwrap().stats();
        assert_eq!(stats.pending_invalidations, 2);
        assert_eq!(stats.invalidation_failures, 2);
        assert_eq!(
            raw_rev(&f, p.id),
            Some(1),
            "the cache still holds rev 1 (the outage)"
        );
        assert_eq!(
            get(&ctx, p.id).await.unwrap(),
            v2,
            "the store answers during the outage"
        );

        // Recovery: the cache heals, the cool-down passes. The first read flushes the pending
        // invalidations before using the cache: rev 1 is never served.
        f.faulty.set_mode(CacheMode::Healthy);
        f.clock.advance(COOL_DOWN);
        assert_eq!(get(&ctx, p.id).await.unwrap(), v2);
        let stats = ctx.cache(&PRODUCT_SPEC).unwrap().stats();
        assert_eq!(stats.breaker, BreakerState::Closed);
        assert_eq!(stats.pending_invalidations, 0);
        assert_eq!(stats.flushes, 1);
        assert_eq!(raw_rev(&f, p.id), Some(2), "refilled at the new rev");
        assert_eq!(get(&ctx, other.id).await.unwrap(), other);
        let hits = ctx.cache(&PRODUCT_SPEC).unwrap().stats().hits;
        assert_eq!(get(&ctx, p.id).await.unwrap(), v2);
        assert_eq!(
            ctx.cache(&PRODUCT_SPEC).unwrap().stats().hits,
            hits + 1,
            "cached reads resumed"
        );
    })
    .await;
}

#[tokio::test]
async fn a_hanging_cache_costs_one_timeout_per_call_until_the_breaker_opens() {
    watchdog(async {
        let f = Fixture::new();
        let ctx = f.ctx();
        let p = create(&ctx, 10).await;
        f.faulty.set_mode(CacheMode::Hang);
        let calls = f.faulty.calls();
        for _ in 0..6 {
            assert_eq!(get(&ctx, p.id).await.unwrap(), p);
        }
        let stats = ctx.cache(&PRODUCT_SPEC).unwrap().stats();
        assert_eq!(stats.breaker, BreakerState::Open);
        assert_eq!(f.faulty.calls() - calls, u64::from(THRESHOLD));
        assert_eq!(
            stats.cache_errors,
            u64::from(THRESHOLD),
            "each hang became a timeout"
        );
        // Writes succeed with a hanging cache too.
        let v2 = ctx
            .document()
            .command(&PRODUCT_SPEC)
            .unwrap()
            .update(p.id, 1, price(3))
            .await
            .unwrap();
        assert_eq!(get(&ctx, p.id).await.unwrap(), v2);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fallback_reads_are_single_flighted_while_the_cache_is_down() {
    watchdog(async {
        // Without the outage hold, which would answer these reads without a fetch.
        let f = Fixture::with_config(
            CoordinatorConfig::default()
                .cache_timeout(Duration::from_millis(20))
                .breaker(THRESHOLD, COOL_DOWN)
                .outage_hold(Duration::ZERO),
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
        let reads = f.gate.reads();
        let joined = ctx.cache(&PRODUCT_SPEC).unwrap().stats().coalesced;
        f.gate.hold_next(1);
        let readers: Vec<_> = (0..50).map(|_| spawn_get(&ctx, p.id)).collect();
        f.gate.wait_held(1).await;
        until(|| ctx.cache(&PRODUCT_SPEC).unwrap().stats().coalesced == joined + 49).await;
        f.gate.release_all();
        for r in readers {
            assert_eq!(r.await.unwrap().unwrap(), p);
        }
        assert_eq!(f.gate.reads(), reads + 1);
    })
    .await;
}

#[tokio::test]
async fn too_many_pending_invalidations_bypass_the_cache_until_every_old_entry_expired() {
    watchdog(async {
        let f = Fixture::with_config(
            CoordinatorConfig::default()
                .breaker(THRESHOLD, COOL_DOWN)
                .max_pending_invalidations(2),
        );
        let ctx = f.ctx();
        let docs = ctx.document().command(&PRODUCT_SPEC).unwrap();
        let ps = [
            create(&ctx, 1).await,
            create(&ctx, 2).await,
            create(&ctx, 3).await,
        ];
        for p in &ps {
            get(&ctx, p.id).await.unwrap();
        }
        f.faulty.set_mode(CacheMode::Fail);
        let mut fresh = Vec::new();
        for p in &ps {
            fresh.push(docs.update(p.id, 1, price(100)).await.unwrap());
        }
        let stats = ctx.cache(&PRODUCT_SPEC).unwrap().stats();
        assert!(stats.bypassing, "the pending set overflowed");
        assert_eq!(stats.pending_invalidations, 0, "the ids were dropped");

        // The cache heals, but the stale rev-1 entries are still in it: the lane bypasses it.
        f.faulty.set_mode(CacheMode::Healthy);
        f.clock.advance(COOL_DOWN);
        let calls = f.faulty.calls();
        for (p, v2) in ps.iter().zip(&fresh) {
            assert_eq!(get(&ctx, p.id).await.unwrap(), *v2, "never the stale rev 1");
        }
        assert_eq!(f.faulty.calls(), calls, "the cache is bypassed entirely");

        // Once the cache ttl has passed, every entry written before the outage has expired.
        f.clock.advance(PRODUCT_SPEC.cache.as_ref().unwrap().ttl);
        for v2 in &fresh {
            assert_eq!(get(&ctx, v2.id).await.unwrap(), *v2);
        }
        let stats = ctx.cache(&PRODUCT_SPEC).unwrap().stats();
        assert!(!stats.bypassing);
        assert_eq!(raw_rev(&f, fresh[0].id), Some(2), "cached again");
    })
    .await;
}

#[tokio::test]
async fn locking_reads_bypass_the_cache() {
    watchdog(async {
        let f = Fixture::new();
        let ctx = f.ctx();
        let p = create(&ctx, 10).await;
        get(&ctx, p.id).await.unwrap();
        let before = ctx.cache(&PRODUCT_SPEC).unwrap().stats();
        let reads = f.gate.reads();
        let calls = f.faulty.calls();
        let locked = ctx
            .document()
            .query(&PRODUCT_SPEC)
            .unwrap()
            .get_for_update(p.id)
            .await
            .unwrap();
        assert_eq!(locked, p);
        assert_eq!(f.gate.reads(), reads + 1, "from the store");
        assert_eq!(f.faulty.calls(), calls, "the cache was not touched");
        assert_eq!(ctx.cache(&PRODUCT_SPEC).unwrap().stats(), before);
    })
    .await;
}

#[tokio::test]
async fn an_uncached_spec_never_touches_a_cache() {
    watchdog(async {
        let f = Fixture::new();
        let ctx = f.ctx();
        let docs = ctx.document().command(&PLAIN_PRODUCT_SPEC).unwrap();
        let query = ctx.document().query(&PLAIN_PRODUCT_SPEC).unwrap();
        let p = docs.create(ProductCreate::new("Plain", 1)).await.unwrap();
        assert_eq!(query.get(p.id).await.unwrap(), p);
        assert_eq!(query.get(p.id).await.unwrap(), p);
        docs.update(p.id, 1, price(2)).await.unwrap();
        assert_eq!(query.get(p.id).await.unwrap().price, 2);
        assert_eq!(f.faulty.calls(), 0);
        assert_eq!(f.gate.reads(), 3);
        let err = ctx.cache(&PLAIN_PRODUCT_SPEC).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(
            err.to_string()
                .contains("`plain_products` has no `cache(...)`"),
            "{err}"
        );
    })
    .await;
}

#[tokio::test]
async fn writes_invalidate_the_written_ids_with_their_committed_revs() {
    watchdog(async {
        let f = Fixture::new();
        let ctx = f.ctx();
        let docs = ctx.document().command(&PRODUCT_SPEC).unwrap();
        let query = ctx.document().query(&PRODUCT_SPEC).unwrap();
        let created = docs
            .create_many(vec![
                ProductCreate::new("a", 1),
                ProductCreate::new("b", 2),
                ProductCreate::new("c", 3),
            ])
            .await
            .unwrap();
        let ids: Vec<Uuid> = created.iter().map(|p| p.id).collect();
        for id in &ids {
            assert_eq!(raw(&f, *id), Some(MemoryCacheState::Tombstone { rev: 1 }));
        }
        query.get_many(&ids).await.unwrap();
        let updated = docs
            .update_many(vec![(ids[0], 1, price(10)), (ids[1], 1, price(2))])
            .await
            .unwrap();
        assert_eq!(
            raw(&f, ids[0]),
            Some(MemoryCacheState::Tombstone { rev: 2 })
        );
        assert_eq!(
            raw_rev(&f, ids[1]),
            Some(1),
            "a no-op row is not invalidated"
        );
        assert_eq!(
            raw_rev(&f, ids[2]),
            Some(1),
            "an untouched id keeps its entry"
        );
        assert_eq!(updated[1].rev, 1);
        docs.touch(ids[2]).await.unwrap();
        assert_eq!(
            raw(&f, ids[2]),
            Some(MemoryCacheState::Tombstone { rev: 2 })
        );
        docs.delete_many(&ids[1..]).await.unwrap();
        for id in &ids[1..] {
            assert_eq!(
                raw(&f, *id),
                Some(MemoryCacheState::Tombstone { rev: i64::MAX })
            );
        }
        let ensured = docs
            .ensure(ids[0], ProductCreate::new("x", 0))
            .await
            .unwrap();
        assert_eq!(
            ensured.price, 10,
            "ensure on an existing id changes nothing"
        );
        assert_eq!(
            raw(&f, ids[0]),
            Some(MemoryCacheState::Tombstone { rev: 2 })
        );
        assert_eq!(
            ctx.cache(&PRODUCT_SPEC).unwrap().stats().invalidations,
            3 + 1 + 1 + 2
        );
    })
    .await;
}

#[tokio::test]
async fn two_replicas_sharing_a_cache_read_each_others_writes() {
    watchdog(async {
        let f = Fixture::new();
        let (one, two) = (f.ctx(), f.replica().context());
        let p = create(&one, 1).await;
        assert_eq!(get(&two, p.id).await.unwrap(), p);
        let v2 = one
            .document()
            .command(&PRODUCT_SPEC)
            .unwrap()
            .update(p.id, 1, price(2))
            .await
            .unwrap();
        assert_eq!(get(&two, p.id).await.unwrap(), v2);
        two.document()
            .command(&PRODUCT_SPEC)
            .unwrap()
            .delete(p.id)
            .await
            .unwrap();
        assert_eq!(
            get(&one, p.id).await.unwrap_err().kind(),
            ErrorKind::NotFound
        );
    })
    .await;
}

#[tokio::test]
async fn cache_entries_live_for_the_spec_ttl() {
    watchdog(async {
        let f = Fixture::new();
        let ctx = f.ctx();
        let p = create(&ctx, 1).await;
        get(&ctx, p.id).await.unwrap();
        assert_eq!(raw_rev(&f, p.id), Some(1));
        f.clock.advance(PRODUCT_SPEC.cache.as_ref().unwrap().ttl);
        assert_eq!(raw(&f, p.id), None, "expired on the cache ttl");
        let reads = f.gate.reads();
        get(&ctx, p.id).await.unwrap();
        assert_eq!(f.gate.reads(), reads + 1);
    })
    .await;
}
