//! The L1 in the coordinator: one per (spec, runtime), shared by the query and command ports;
//! read-your-writes on the writing replica, other replicas within `l1(ttl)`; late reads never
//! put an old rev back; immutable values; counters through the context.

mod coord;

use std::time::Duration;

use coord::{Replicas, create, get, spawn_get, spec, until, update};
use forze_core::memory::MemoryCacheState;
use forze_core::testing::{CacheMode, Product, ProductCreate, watchdog};
use forze_core::{CacheSpec, DocumentSpec, ErrorKind, L1Spec, L1StoreKind, Tenancy};
use uuid::Uuid;

const L1_TTL: Duration = Duration::from_secs(2);

fn l1_spec(store: L1StoreKind) -> DocumentSpec<Product> {
    spec(
        CacheSpec::builder("products")
            .l1(L1Spec::with(L1_TTL, 64, store).expect("valid l1"))
            .build()
            .expect("valid cache spec"),
    )
}

fn lru() -> DocumentSpec<Product> {
    l1_spec(L1StoreKind::Lru)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_l1_hit_does_no_io_and_read_your_writes_holds_across_the_ports() {
    for store in [L1StoreKind::Lru, L1StoreKind::TinyLfu] {
        watchdog(async {
            let spec = l1_spec(store);
            let r = Replicas::new(spec.clone());
            let ctx = r.runtime().context();
            let docs = ctx.document().command(&spec).unwrap();
            let query = ctx.document().query(&spec).unwrap();
            let p = create(&ctx, &spec, 10).await;

            assert_eq!(query.get(p.id).await.unwrap(), p, "miss: from the store");
            let (reads, calls) = (r.gate.reads(), r.faulty.calls());
            for _ in 0..5 {
                assert_eq!(query.get(p.id).await.unwrap(), p);
            }
            assert_eq!(r.gate.reads(), reads, "L1 hits read no store");
            assert_eq!(r.faulty.calls(), calls, "L1 hits make no cache call");
            let l1 = ctx
                .cache(&spec)
                .unwrap()
                .stats()
                .l1
                .expect("the spec has an L1");
            assert!(l1.hits >= 5, "{l1:?}");

            // The command port of the same context writes; the query port reads it at once.
            let v2 = docs.update(p.id, p.rev, coord::price(12)).await.unwrap();
            assert_eq!(query.get(p.id).await.unwrap(), v2, "read-your-writes");
            // Another context of the same runtime shares the lane and its L1.
            let ctx2 = ctx.runtime().context();
            assert_eq!(get(&ctx2, &spec, p.id).await.unwrap(), v2);
            let touched = docs.touch(p.id).await.unwrap();
            assert_eq!(get(&ctx2, &spec, p.id).await.unwrap(), touched);
            docs.delete(p.id).await.unwrap();
            assert_eq!(
                query.get(p.id).await.unwrap_err().kind(),
                ErrorKind::NotFound,
                "a delete is read at once"
            );
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_replica_sees_a_write_after_the_l1_ttl_and_not_before() {
    watchdog(async {
        let spec = lru();
        let r = Replicas::new(spec.clone());
        let (a, b) = (r.runtime().context(), r.runtime().context());
        let p = create(&a, &spec, 10).await;
        assert_eq!(get(&a, &spec, p.id).await.unwrap(), p);
        assert_eq!(get(&b, &spec, p.id).await.unwrap(), p, "B's L1 holds rev 1");

        let v2 = update(&a, &spec, &p, 12).await;
        assert_eq!(
            get(&a, &spec, p.id).await.unwrap(),
            v2,
            "A reads its own write"
        );
        r.clock.advance(L1_TTL - Duration::from_millis(1));
        assert_eq!(
            get(&b, &spec, p.id).await.unwrap(),
            p,
            "B may serve its L1 entry within the staleness budget"
        );
        r.clock.advance(Duration::from_millis(1));
        assert_eq!(
            get(&b, &spec, p.id).await.unwrap(),
            v2,
            "after l1(ttl) B reads the write"
        );
        let stats = b.cache(&spec).unwrap().stats().l1.unwrap();
        assert_eq!(stats.expirations, 1, "{stats:?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutating_a_returned_read_does_not_change_the_next_read() {
    watchdog(async {
        let spec = lru();
        let r = Replicas::new(spec.clone());
        let ctx = r.runtime().context();
        let p = create(&ctx, &spec, 10).await;
        let mut first = get(&ctx, &spec, p.id).await.unwrap();
        first.name.push_str(" (mine)");
        first.note = Some("scribbled".into());
        first.price = -1;
        let mut hit = get(&ctx, &spec, p.id).await.unwrap();
        assert_eq!(hit, p, "the L1 value is not the caller's copy");
        hit.name.clear();
        assert_eq!(get(&ctx, &spec, p.id).await.unwrap(), p);
        assert!(ctx.cache(&spec).unwrap().stats().l1.unwrap().hits >= 2);
    })
    .await;
}

/// The core suite's stale-set race, with an L1: a reader that fetched rev 1 from the store
/// before the write and finishes after it never installs rev 1, in the L2 or the L1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_set_race_from_the_store_with_an_l1() {
    for delete in [false, true] {
        watchdog(async {
            let spec = lru();
            let r = Replicas::new(spec.clone());
            let ctx = r.runtime().context();
            let docs = ctx.document().command(&spec).unwrap();
            let p = create(&ctx, &spec, 10).await;
            r.gate.hold_next(1);
            let reader = spawn_get(&ctx, &spec, p.id);
            r.gate.wait_held(1).await; // the reader has fetched rev 1
            let written = if delete {
                docs.delete(p.id).await.unwrap();
                None
            } else {
                Some(docs.update(p.id, 1, coord::price(12)).await.unwrap())
            };
            r.gate.release_all(); // the reader fills late
            assert_eq!(reader.await.unwrap().unwrap().rev, 1);
            assert_ne!(r.cached_rev(p.id), Some(1), "no rev 1 in the L2");
            assert_eq!(ctx.cache(&spec).unwrap().stats().fills_rejected, 1);
            for _ in 0..3 {
                match &written {
                    Some(v2) => assert_eq!(&get(&ctx, &spec, p.id).await.unwrap(), v2),
                    None => assert_eq!(
                        get(&ctx, &spec, p.id).await.unwrap_err().kind(),
                        ErrorKind::NotFound
                    ),
                }
            }
        })
        .await;
    }
}

/// A reader that got rev 1 from the shared cache before a write on this replica, and puts it in
/// the L1 after the write dropped the id: refused, so the next read sees the write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_set_race_from_the_shared_cache_never_reaches_the_l1() {
    watchdog(async {
        let spec = lru();
        let r = Replicas::new(spec.clone());
        let (writer, reader_rt) = (r.runtime(), r.runtime());
        let ctx = writer.context();
        let p = create(&ctx, &spec, 10).await;
        // Another replica fills the shared cache with rev 1; this one has an empty L1.
        assert_eq!(get(&reader_rt.context(), &spec, p.id).await.unwrap(), p);
        assert_eq!(r.cached_rev(p.id), Some(1));

        r.gated.hold_next(1);
        let reader = spawn_get(&ctx, &spec, p.id);
        r.gated.wait_held(1).await; // the reader has rev 1 from the shared cache
        let v2 = update(&ctx, &spec, &p, 12).await;
        r.gated.release_all(); // ... and offers it to the L1 late
        assert_eq!(reader.await.unwrap().unwrap(), p);
        for _ in 0..3 {
            assert_eq!(get(&ctx, &spec, p.id).await.unwrap(), v2, "never rev 1");
        }
        let l1 = ctx.cache(&spec).unwrap().stats().l1.unwrap();
        assert_eq!(l1.size, 1, "only rev 2 is cached: {l1:?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_order_fills_never_put_an_older_rev_in_the_l1() {
    watchdog(async {
        let spec = lru();
        let r = Replicas::new(spec.clone());
        let ctx = r.runtime().context();
        let p = create(&ctx, &spec, 10).await;
        r.gate.hold_next(1);
        let slow = spawn_get(&ctx, &spec, p.id);
        r.gate.wait_held(1).await;
        let v2 = update(&ctx, &spec, &p, 11).await;
        // A reader after the write does not join the old fetch: it reads rev 2 into the L1.
        assert_eq!(get(&ctx, &spec, p.id).await.unwrap(), v2);
        r.gate.release_all();
        assert_eq!(slow.await.unwrap().unwrap().rev, 1);
        assert_eq!(r.cached_rev(p.id), Some(2));
        let reads = r.gate.reads();
        assert_eq!(
            get(&ctx, &spec, p.id).await.unwrap(),
            v2,
            "rev 2 from the L1"
        );
        assert_eq!(r.gate.reads(), reads);
    })
    .await;
}

/// The core suite's single-flight case, with an L1: 100 concurrent cold reads make one store
/// read; later reads are L1 hits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cold_key_stampede_makes_one_store_read_with_an_l1() {
    watchdog(async {
        let spec = lru();
        let r = Replicas::new(spec.clone());
        let ctx = r.runtime().context();
        let p = create(&ctx, &spec, 10).await;
        r.gate.hold_next(1);
        let readers: Vec<_> = (0..100).map(|_| spawn_get(&ctx, &spec, p.id)).collect();
        r.gate.wait_held(1).await;
        until(|| ctx.cache(&spec).unwrap().stats().coalesced == 99).await;
        r.gate.release_all();
        for reader in readers {
            assert_eq!(reader.await.unwrap().unwrap(), p);
        }
        assert_eq!(r.gate.reads(), 1, "one store read for 100 readers");
        let hits = ctx.cache(&spec).unwrap().stats().l1.unwrap().hits;
        for _ in 0..10 {
            assert_eq!(get(&ctx, &spec, p.id).await.unwrap(), p);
        }
        assert_eq!(r.gate.reads(), 1);
        assert_eq!(
            ctx.cache(&spec).unwrap().stats().l1.unwrap().hits,
            hits + 10
        );

        // Shared errors too: a failing store fails every waiter once.
        let q = create(&ctx, &spec, 20).await;
        r.gate.fail_reads(Some(forze_core::Error::new(
            ErrorKind::Unavailable,
            "store down",
        )));
        r.gate.hold_next(1);
        let readers: Vec<_> = (0..20).map(|_| spawn_get(&ctx, &spec, q.id)).collect();
        r.gate.wait_held(1).await;
        until(|| ctx.cache(&spec).unwrap().stats().coalesced >= 99 + 19).await;
        r.gate.release_all();
        for reader in readers {
            assert_eq!(
                reader.await.unwrap().unwrap_err().kind(),
                ErrorKind::Unavailable
            );
        }
        r.gate.fail_reads(None);
        assert_eq!(
            get(&ctx, &spec, q.id).await.unwrap(),
            q,
            "errors are not cached"
        );
    })
    .await;
}

/// A cache outage (breaker open, invalidations pending) must not let this replica serve an L1
/// entry of an id it wrote meanwhile; the L1 keeps serving (and shielding the store) otherwise.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_during_a_cache_outage_drops_the_l1_entry() {
    watchdog(async {
        let spec = lru();
        let r = Replicas::new(spec.clone());
        let ctx = r.runtime().context();
        let p = create(&ctx, &spec, 10).await;
        let q = create(&ctx, &spec, 20).await;
        assert_eq!(get(&ctx, &spec, p.id).await.unwrap(), p);
        assert_eq!(get(&ctx, &spec, q.id).await.unwrap(), q);

        r.faulty.set_mode(CacheMode::Fail);
        let v2 = update(&ctx, &spec, &p, 12).await;
        let stats = ctx.cache(&spec).unwrap().stats();
        assert_eq!(stats.pending_invalidations, 1, "{stats:?}");
        assert_eq!(
            get(&ctx, &spec, p.id).await.unwrap(),
            v2,
            "not the L1's rev 1"
        );
        let reads = r.gate.reads();
        assert_eq!(get(&ctx, &spec, p.id).await.unwrap(), v2);
        assert_eq!(get(&ctx, &spec, q.id).await.unwrap(), q);
        assert_eq!(r.gate.reads(), reads, "the L1 serves during the outage");

        // Recovery: the pending tombstone is written before cached reads resume.
        r.faulty.set_mode(CacheMode::Healthy);
        r.clock.advance(L1_TTL);
        assert_eq!(get(&ctx, &spec, p.id).await.unwrap(), v2);
        assert_eq!(ctx.cache(&spec).unwrap().stats().pending_invalidations, 0);
        assert_eq!(
            r.cache.state(&p.id.to_string()).map(|s| match s {
                MemoryCacheState::Value { rev, .. } | MemoryCacheState::Tombstone { rev } => rev,
                _ => 0,
            }),
            Some(2)
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_many_uses_the_l1_and_reads_its_own_writes() {
    watchdog(async {
        let spec = lru();
        let r = Replicas::new(spec.clone());
        let ctx = r.runtime().context();
        let query = ctx.document().query(&spec).unwrap();
        let a = create(&ctx, &spec, 1).await;
        let b = create(&ctx, &spec, 2).await;
        let c = create(&ctx, &spec, 3).await;
        assert_eq!(query.get(a.id).await.unwrap(), a); // a in the L1
        let got = query.get_many(&[a.id, b.id, c.id, a.id]).await.unwrap();
        assert_eq!(got, vec![a.clone(), b.clone(), c.clone(), a.clone()]);
        let (reads, calls) = (r.gate.reads(), r.faulty.calls());
        let got = query.get_many(&[c.id, b.id, a.id]).await.unwrap();
        assert_eq!(got, vec![c.clone(), b.clone(), a.clone()]);
        assert_eq!(r.gate.reads(), reads, "all from the L1");
        assert_eq!(r.faulty.calls(), calls, "no cache call");

        let b2 = update(&ctx, &spec, &b, 22).await;
        let got = query.get_many(&[a.id, b.id, c.id]).await.unwrap();
        assert_eq!(
            got,
            vec![a.clone(), b2.clone(), c.clone()],
            "read-your-writes"
        );
        assert_eq!(query.get(b.id).await.unwrap(), b2);
        let missing = Uuid::now_v7();
        assert_eq!(
            query.get_many(&[a.id, missing]).await.unwrap_err().kind(),
            ErrorKind::NotFound
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_have_separate_l1_entries() {
    watchdog(async {
        let spec = lru().with_tenancy(Tenancy::Column);
        let r = Replicas::new(spec.clone());
        let ctx = r.runtime().context();
        let (t1, t2) = (Uuid::now_v7(), Uuid::now_v7());
        let (c1, c2) = (ctx.with_tenant(t1), ctx.with_tenant(t2));
        let id = Uuid::now_v7();
        let mut docs = Vec::new();
        for (c, name) in [(&c1, "tenant 1"), (&c2, "tenant 2")] {
            docs.push(
                c.document()
                    .command(&spec)
                    .unwrap()
                    .ensure(id, ProductCreate::new(name, 1))
                    .await
                    .unwrap(),
            );
        }
        for _ in 0..2 {
            assert_eq!(get(&c1, &spec, id).await.unwrap().name, "tenant 1");
            assert_eq!(get(&c2, &spec, id).await.unwrap().name, "tenant 2");
        }
        let l1 = c1.cache(&spec).unwrap().stats().l1.unwrap();
        assert_eq!((l1.size, l1.hits, l1.misses), (2, 2, 2), "{l1:?}");
        let v2 = update(&c1, &spec, &docs[0], 12).await;
        assert_eq!(get(&c1, &spec, id).await.unwrap(), v2);
        assert_eq!(
            get(&c2, &spec, id).await.unwrap(),
            docs[1],
            "tenant 2 untouched"
        );
        assert_eq!(
            c1.cache(&spec).unwrap().stats().l1.unwrap().invalidations,
            1
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn l1_counters_and_manual_drops_through_the_context() {
    watchdog(async {
        let spec = lru();
        let r = Replicas::new(spec.clone());
        let ctx = r.runtime().context();
        let plain = spec_without_l1();
        let r2 = Replicas::new(plain.clone());
        assert_eq!(
            r2.runtime().context().cache(&plain).unwrap().stats().l1,
            None
        );

        let p = create(&ctx, &spec, 10).await;
        let q = create(&ctx, &spec, 20).await;
        let empty = ctx.cache(&spec).unwrap().stats().l1.unwrap();
        assert_eq!(
            (empty.size, empty.capacity, empty.hits, empty.misses),
            (0, 64, 0, 0)
        );
        get(&ctx, &spec, p.id).await.unwrap(); // miss
        get(&ctx, &spec, p.id).await.unwrap(); // hit
        get(&ctx, &spec, q.id).await.unwrap(); // miss
        get(&ctx, &spec, q.id).await.unwrap(); // hit
        get(&ctx, &spec, q.id).await.unwrap(); // hit
        let stats = ctx.cache(&spec).unwrap().stats().l1.unwrap();
        assert_eq!(
            (stats.size, stats.hits, stats.misses),
            (2, 3, 2),
            "{stats:?}"
        );

        let handle = ctx.cache(&spec).unwrap();
        assert!(handle.l1_remove(&p.id.to_string()));
        assert!(!handle.l1_remove("not-an-id"));
        assert_eq!(handle.stats().l1.unwrap().size, 1);
        assert_eq!(handle.stats().l1.unwrap().invalidations, 1);
        handle.l1_clear();
        assert_eq!(handle.stats().l1.unwrap().size, 0);
        let calls = r.faulty.calls();
        get(&ctx, &spec, p.id).await.unwrap();
        assert_eq!(
            r.faulty.calls(),
            calls + 1,
            "after a drop the read goes to the L2"
        );
        assert_eq!(ctx.cache(&spec).unwrap().stats().hits, 1);
    })
    .await;
}

fn spec_without_l1() -> DocumentSpec<Product> {
    spec(CacheSpec::new("products").unwrap())
}

/// W-TinyLFU as the coordinator's L1: admission may refuse a newcomer, reads stay correct.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tiny_lfu_l1_keeps_reads_correct_under_a_scan() {
    watchdog(async {
        let spec = l1_spec(L1StoreKind::TinyLfu);
        let r = Replicas::new(spec.clone());
        let ctx = r.runtime().context();
        let mut docs = Vec::new();
        for i in 0..200 {
            docs.push(create(&ctx, &spec, i).await);
        }
        for doc in &docs {
            assert_eq!(&get(&ctx, &spec, doc.id).await.unwrap(), doc);
        }
        let stats = ctx.cache(&spec).unwrap().stats().l1.unwrap();
        assert!(stats.size <= 64, "{stats:?}");
        for doc in docs.iter().rev() {
            assert_eq!(&get(&ctx, &spec, doc.id).await.unwrap(), doc);
        }
    })
    .await;
}

/// A slow read on replica A read rev 1 before B's update returned, and its fill failed (the
/// cache went away): its value may go into A's L1, but it lives `l1(ttl)` from when the read
/// began, never from when it ended, so the L1 TTL still bounds how late A sees B's write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_read_never_stretches_the_l1_budget() {
    for store in [L1StoreKind::Lru, L1StoreKind::TinyLfu] {
        watchdog(async {
            let spec = l1_spec(store);
            let r = Replicas::with_config(
                spec.clone(),
                forze_core::CoordinatorConfig::default()
                    .cache_timeout(Duration::from_secs(10))
                    .outage_hold(Duration::ZERO),
            );
            let (a, b) = (r.runtime().context(), r.runtime().context());
            let p = create(&b, &spec, 10).await;
            r.gate.hold_next(1);
            let slow = spawn_get(&a, &spec, p.id);
            r.gate.wait_held(1).await; // A read rev 1 and is held after the read
            let v2 = update(&b, &spec, &p, 20).await;
            // The read takes longer than the L1 TTL, and the cache fails its fill.
            r.clock.advance(L1_TTL + Duration::from_millis(1));
            r.faulty.set_mode(CacheMode::Fail);
            r.gate.release_all();
            assert_eq!(slow.await.unwrap().unwrap(), p, "the slow read began first");
            r.faulty.set_mode(CacheMode::Healthy);
            assert_eq!(
                get(&a, &spec, p.id).await.unwrap(),
                v2,
                "{store:?}: a value read more than l1(ttl) ago is never served from the L1"
            );
        })
        .await;
    }
}
