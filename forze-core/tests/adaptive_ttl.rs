//! Adaptive lifetimes through the coordinator on the in-memory cache (mock clock): `age_ttl`
//! sets each entry's lifetime from the document's age and resets on a write; `sliding_ttl`
//! keeps a read entry alive past its idle window, never past the cap (`ttl` or the age-based
//! lifetime), and lets an idle one expire after the window.

mod coord;

use std::time::Duration;

use coord::{Replicas, create, get, spec, update};
use forze_core::memory::MemoryCacheState;
use forze_core::testing::{Product, watchdog};
use forze_core::{AgeBasedTtl, CacheSpec, DocumentSpec};
use serde_json::Value;
use uuid::Uuid;

const SEC: Duration = Duration::from_secs(1);
const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(86_400);

fn age() -> AgeBasedTtl {
    AgeBasedTtl::new(0.1, 30 * SEC, HOUR).expect("valid age_ttl")
}

fn build(cache: forze_core::Result<CacheSpec>) -> DocumentSpec<Product> {
    spec(cache.expect("valid cache spec"))
}

fn lifetime(r: &Replicas, id: Uuid) -> Option<Duration> {
    r.cache.expires_in(&id.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn age_ttl_lifetimes_follow_the_documents_age_and_reset_on_write() {
    watchdog(async {
        let spec = build(
            CacheSpec::builder("products")
                .ttl(2 * HOUR)
                .age_ttl(age())
                .build(),
        );
        let r = Replicas::new(spec.clone());
        let ctx = r.runtime().context();
        let p = create(&ctx, &spec, 10).await;

        r.clock.advance(MINUTE);
        get(&ctx, &spec, p.id).await.unwrap();
        assert_eq!(
            lifetime(&r, p.id),
            Some(30 * SEC),
            "minute-old: min_ttl (0.1 × 60 s = 6 s)"
        );

        r.clock.advance(20 * MINUTE - MINUTE);
        get(&ctx, &spec, p.id).await.unwrap();
        let l = lifetime(&r, p.id).expect("cached");
        assert!(
            l.abs_diff(120 * SEC) < Duration::from_millis(1),
            "20 minutes old: 0.1 × age, got {l:?}"
        );

        r.clock.advance(DAY - 20 * MINUTE);
        let reads = r.gate.reads();
        get(&ctx, &spec, p.id).await.unwrap();
        assert_eq!(r.gate.reads(), reads + 1, "the 2-minute entry had expired");
        assert_eq!(lifetime(&r, p.id), Some(HOUR), "day-old: capped at max_ttl");

        // A write makes the document young again: cautious lifetimes.
        let v2 = update(&ctx, &spec, &p, 12).await;
        assert_eq!(get(&ctx, &spec, p.id).await.unwrap(), v2);
        assert_eq!(
            lifetime(&r, p.id),
            Some(30 * SEC),
            "reset to min_ttl on write"
        );

        // The entry really ends then (the store is read again).
        r.clock.advance(30 * SEC);
        let reads = r.gate.reads();
        get(&ctx, &spec, p.id).await.unwrap();
        assert_eq!(r.gate.reads(), reads + 1);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xfetch_elects_against_the_age_based_lifetime() {
    watchdog(async {
        let spec = build(
            CacheSpec::builder("products")
                .ttl(2 * HOUR)
                .age_ttl(age())
                .early_refresh_beta(1.0)
                .build(),
        );
        let r = Replicas::new(spec.clone());
        let ctx = r.runtime().context();
        let p = create(&ctx, &spec, 10).await;
        r.clock.advance(DAY);
        get(&ctx, &spec, p.id).await.unwrap();
        let Some(MemoryCacheState::Value { payload, .. }) = r.cache.state(&p.id.to_string()) else {
            panic!("filled");
        };
        let envelope: Value = serde_json::from_slice(&payload).unwrap();
        assert_eq!(envelope["_xf"]["ttl"], Value::from(3_600_000), "{envelope}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sliding_keeps_a_read_entry_alive_until_the_cap() {
    watchdog(async {
        let spec = build(
            CacheSpec::builder("products")
                .ttl(HOUR)
                .sliding_ttl(MINUTE)
                .build(),
        );
        let r = Replicas::new(spec.clone());
        let ctx = r.runtime().context();
        let p = create(&ctx, &spec, 10).await;
        get(&ctx, &spec, p.id).await.unwrap(); // fill: idle deadline in 60 s, cap in 1 h
        assert_eq!(r.cache.idle_expires_in(&p.id.to_string()), Some(MINUTE));
        let reads = r.gate.reads();

        // Read every second for five minutes: alive far past the idle window.
        for _ in 0..300 {
            r.clock.advance(SEC);
            assert_eq!(get(&ctx, &spec, p.id).await.unwrap(), p);
        }
        assert_eq!(r.gate.reads(), reads, "every read a hit");
        assert_eq!(r.cache.idle_expires_in(&p.id.to_string()), Some(MINUTE));

        // Read every 50 s up to the cap: still hits; never past it.
        let mut elapsed = 300 * SEC;
        while elapsed + 50 * SEC < HOUR {
            r.clock.advance(50 * SEC);
            elapsed += 50 * SEC;
            get(&ctx, &spec, p.id).await.unwrap();
        }
        assert_eq!(r.gate.reads(), reads, "hits until the cap");
        r.clock.advance(HOUR - elapsed);
        get(&ctx, &spec, p.id).await.unwrap();
        assert_eq!(
            r.gate.reads(),
            reads + 1,
            "the cap ended the entry: revalidated"
        );
        assert_eq!(lifetime(&r, p.id), Some(HOUR), "a new entry, a new cap");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_entry_expires_after_the_window() {
    watchdog(async {
        let spec = build(
            CacheSpec::builder("products")
                .ttl(HOUR)
                .sliding_ttl(MINUTE)
                .build(),
        );
        let r = Replicas::new(spec.clone());
        let ctx = r.runtime().context();
        let p = create(&ctx, &spec, 10).await;
        get(&ctx, &spec, p.id).await.unwrap();
        r.clock.advance(MINUTE - SEC);
        let reads = r.gate.reads();
        get(&ctx, &spec, p.id).await.unwrap();
        assert_eq!(r.gate.reads(), reads, "within the window: a hit");
        r.clock.advance(MINUTE);
        get(&ctx, &spec, p.id).await.unwrap();
        assert_eq!(r.gate.reads(), reads + 1, "idle for a window: gone");
        assert_eq!(r.cached_rev(p.id), Some(1), "refilled at the same rev");
        assert_eq!(r.cache.idle_expires_in(&p.id.to_string()), Some(MINUTE));

        // get_many slides too.
        for _ in 0..5 {
            r.clock.advance(50 * SEC);
            let query = ctx.document().query(&spec).unwrap();
            assert_eq!(query.get_many(&[p.id]).await.unwrap(), vec![p.clone()]);
        }
        assert_eq!(r.gate.reads(), reads + 1, "get_many kept it alive");
    })
    .await;
}

/// The two compose: the age-based lifetime is the cap, sliding keeps the entry alive within it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sliding_never_outlives_the_age_based_lifetime() {
    watchdog(async {
        let spec = build(
            CacheSpec::builder("products")
                .ttl(2 * HOUR)
                .age_ttl(age())
                .sliding_ttl(MINUTE)
                .build(),
        );
        let r = Replicas::new(spec.clone());
        let ctx = r.runtime().context();
        let young = create(&ctx, &spec, 1).await;
        get(&ctx, &spec, young.id).await.unwrap(); // age 0: cap 30 s, idle min(60 s, 30 s)
        assert_eq!(lifetime(&r, young.id), Some(30 * SEC));
        assert_eq!(
            r.cache.idle_expires_in(&young.id.to_string()),
            Some(30 * SEC)
        );
        let reads = r.gate.reads();
        for _ in 0..29 {
            r.clock.advance(SEC);
            get(&ctx, &spec, young.id).await.unwrap();
        }
        assert_eq!(r.gate.reads(), reads);
        r.clock.advance(SEC);
        get(&ctx, &spec, young.id).await.unwrap();
        assert_eq!(
            r.gate.reads(),
            reads + 1,
            "read every second, gone at its 30 s cap"
        );

        // An old document: cap 1 h, kept alive by reads within it.
        r.clock.advance(DAY);
        let reads = r.gate.reads();
        get(&ctx, &spec, young.id).await.unwrap();
        assert_eq!(lifetime(&r, young.id), Some(HOUR));
        for _ in 0..100 {
            r.clock.advance(30 * SEC);
            get(&ctx, &spec, young.id).await.unwrap();
        }
        assert_eq!(
            r.gate.reads(),
            reads + 1,
            "50 minutes of reads within the window: hits"
        );
    })
    .await;
}
