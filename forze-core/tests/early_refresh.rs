//! XFetch early refresh: the envelope only with `early_refresh_beta`, both payload forms decode
//! either way, elections fire before the real expiry with default TTLs (seeded draws), inline
//! refreshes fall back to the cached value, background refreshes serve at once, once per key,
//! within the lane's bound, and survive a failing store.

mod coord;

use std::time::Duration;

use coord::{Replicas, create, get, spawn_get, spec, until, update};
use forze_core::cache::{Cache, CacheFill};
use forze_core::memory::MemoryCacheState;
use forze_core::testing::{Product, ProductRead, watchdog};
use forze_core::{CacheSpec, CoordinatorConfig, DocumentSpec, Error, ErrorKind, ExecutionContext};
use serde_json::{Value, json};
use uuid::Uuid;

const TTL_MS: i64 = 300_000; // the default cache ttl

fn beta(background: bool) -> DocumentSpec<Product> {
    spec(
        CacheSpec::builder("products")
            .early_refresh_beta(1.0)
            .early_refresh_background(background)
            .build()
            .expect("valid cache spec"),
    )
}

fn plain() -> DocumentSpec<Product> {
    spec(CacheSpec::new("products").expect("valid cache spec"))
}

/// The JSON the shared cache holds for `id`, if a value.
fn payload(r: &Replicas, id: Uuid) -> Option<Value> {
    match r.cache.state(&id.to_string()) {
        Some(MemoryCacheState::Value { payload, .. }) => {
            Some(serde_json::from_slice(&payload).expect("payloads are JSON"))
        }
        _ => None,
    }
}

fn now_ms(r: &Replicas) -> i64 {
    use forze_core::clock::Clock;
    r.clock.utc_now().timestamp_millis()
}

/// Put an envelope of `doc` in the shared cache whose real expiry is now: every hit elects.
async fn due_envelope(r: &Replicas, doc: &ProductRead, name: &str) {
    let mut cached = serde_json::to_value(doc).unwrap();
    cached["name"] = json!(name);
    let envelope = json!({
        "_xf": {"at": now_ms(r) - TTL_MS, "d": 20_000, "ttl": TTL_MS},
        "doc": cached,
    });
    let fill = CacheFill::new(
        doc.id.to_string(),
        doc.rev,
        serde_json::to_vec(&envelope).unwrap(),
        Duration::from_secs(600),
    )
    .refresh();
    assert!(r.cache.fill(fill).await.unwrap());
}

fn stats(ctx: &ExecutionContext, spec: &DocumentSpec<Product>) -> forze_core::CacheStats {
    ctx.cache(spec).unwrap().stats()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_envelope_is_written_only_with_beta_and_carries_the_real_lifetime() {
    watchdog(async {
        let spec = plain();
        let r = Replicas::new(spec.clone());
        let ctx = r.runtime().context();
        let p = create(&ctx, &spec, 10).await;
        get(&ctx, &spec, p.id).await.unwrap();
        assert_eq!(
            payload(&r, p.id),
            Some(serde_json::to_value(&p).unwrap()),
            "unchanged format"
        );

        let spec = beta(false);
        let r = Replicas::new(spec.clone());
        let ctx = r.runtime().context();
        let p = create(&ctx, &spec, 10).await;
        r.gate.hold_next(1);
        let reader = spawn_get(&ctx, &spec, p.id);
        r.gate.wait_held(1).await;
        r.clock.advance(Duration::from_millis(1500)); // the store read takes 1.5 s
        r.gate.release_all();
        assert_eq!(reader.await.unwrap().unwrap(), p);
        let stored = payload(&r, p.id).expect("filled");
        assert_eq!(
            stored,
            json!({
                "_xf": {"at": now_ms(&r), "d": 1_500_000, "ttl": TTL_MS},
                "doc": serde_json::to_value(&p).unwrap(),
            })
        );
        assert_eq!(
            get(&ctx, &spec, p.id).await.unwrap(),
            p,
            "an envelope hit decodes"
        );
        assert_eq!(stats(&ctx, &spec).hits, 1);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_payload_forms_decode_whether_beta_is_on_or_off() {
    watchdog(async {
        let r = Replicas::new(plain());
        let (with, without) = (beta(false), plain());
        let (a, b) = (r.runtime().context(), r.runtime().context());
        let p = create(&a, &with, 10).await;
        get(&a, &with, p.id).await.unwrap();
        assert!(payload(&r, p.id).unwrap().get("_xf").is_some());
        assert_eq!(
            get(&b, &without, p.id).await.unwrap(),
            p,
            "envelope, beta off"
        );
        assert_eq!(stats(&b, &without).hits, 1);
        assert_eq!(stats(&b, &without).decode_errors, 0);

        let v2 = update(&b, &without, &p, 12).await;
        get(&b, &without, p.id).await.unwrap();
        assert!(payload(&r, p.id).unwrap().get("_xf").is_none());
        let reads = r.gate.reads();
        assert_eq!(
            get(&a, &with, p.id).await.unwrap(),
            v2,
            "legacy payload, beta on"
        );
        assert_eq!(r.gate.reads(), reads, "a hit, not a store read");
        assert_eq!(stats(&a, &with).decode_errors, 0);
        assert_eq!(
            stats(&a, &with).early_refreshes,
            0,
            "no envelope: no election"
        );
    })
    .await;
}

/// The defect of the original (§5.2 of the behaviour notes): with default TTLs its elections
/// targeted a lifetime the entry never reached. Here they target the entry's real expiry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_election_fires_before_the_real_expiry_with_default_ttls() {
    watchdog(async {
        let spec = beta(false);
        let r = Replicas::new(spec.clone());
        let ctx = r.runtime().context();
        let p = create(&ctx, &spec, 10).await;
        r.gate.hold_next(1);
        let reader = spawn_get(&ctx, &spec, p.id);
        r.gate.wait_held(1).await;
        r.clock.advance(Duration::from_secs(1)); // recompute cost: 1 s
        r.gate.release_all();
        reader.await.unwrap().unwrap();
        let filled_at = now_ms(&r);
        let reads = r.gate.reads();

        // A minute in (four minutes to go): nobody elects.
        r.clock.advance(Duration::from_secs(60));
        for _ in 0..1000 {
            assert_eq!(get(&ctx, &spec, p.id).await.unwrap(), p);
        }
        assert_eq!(stats(&ctx, &spec).early_refreshes, 0);
        assert_eq!(r.gate.reads(), reads);

        // Three seconds before the real expiry (d·beta = 1 s: about 5 % per read), some read
        // elects and refreshes inline: one store read, before the entry expired.
        r.clock
            .advance(Duration::from_millis((TTL_MS - 63_000) as u64));
        assert!(now_ms(&r) < filled_at + TTL_MS);
        let mut tries = 0;
        while stats(&ctx, &spec).early_refreshes == 0 {
            tries += 1;
            assert!(tries <= 1000, "no election in 1000 reads 3 s before expiry");
            assert_eq!(get(&ctx, &spec, p.id).await.unwrap(), p);
        }
        assert_eq!(r.gate.reads(), reads + 1, "the elected reader recomputed");
        assert_eq!(r.cached_rev(p.id), Some(1));
        let refreshed = payload(&r, p.id).unwrap();
        assert_eq!(
            refreshed["_xf"]["at"],
            json!(now_ms(&r)),
            "a fresh lifetime"
        );
        assert_eq!(
            r.cache.expires_in(&p.id.to_string()),
            Some(Duration::from_millis(TTL_MS as u64)),
            "the refresh renewed the entry at the same rev"
        );
        // The refreshed entry is far from expiry again.
        for _ in 0..200 {
            get(&ctx, &spec, p.id).await.unwrap();
        }
        assert_eq!(stats(&ctx, &spec).early_refreshes, 1);
        assert_eq!(r.gate.reads(), reads + 1);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inline_refresh_that_fails_serves_the_cached_value() {
    watchdog(async {
        let spec = beta(false);
        let r = Replicas::new(spec.clone());
        let ctx = r.runtime().context();
        let p = create(&ctx, &spec, 10).await;
        due_envelope(&r, &p, "cached").await;

        r.gate
            .fail_reads(Some(Error::new(ErrorKind::Unavailable, "store down")));
        let read = get(&ctx, &spec, p.id).await.expect("no error surfaced");
        assert_eq!(read.name, "cached", "the still-valid cached value");
        let s = stats(&ctx, &spec);
        assert_eq!((s.early_refreshes, s.refresh_failures), (1, 1), "{s:?}");

        r.gate.fail_reads(None);
        let read = get(&ctx, &spec, p.id).await.unwrap();
        assert_eq!(read, p, "the elected reader returns the recomputed value");
        assert_eq!(stats(&ctx, &spec).early_refreshes, 2);
        assert_eq!(payload(&r, p.id).unwrap()["doc"]["name"], json!("Widget"));
        assert_eq!(get(&ctx, &spec, p.id).await.unwrap(), p);
        assert_eq!(
            stats(&ctx, &spec).early_refreshes,
            2,
            "refreshed: no more elections"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_background_refresh_serves_at_once_and_runs_once_per_key() {
    watchdog(async {
        let spec = beta(true);
        let r = Replicas::new(spec.clone());
        let ctx = r.runtime().context();
        let p = create(&ctx, &spec, 10).await;
        due_envelope(&r, &p, "cached").await;
        let reads = r.gate.reads();

        r.gate.hold_next(1);
        // The elected reader returns the cached value while its refresh is held at the store.
        assert_eq!(get(&ctx, &spec, p.id).await.unwrap().name, "cached");
        r.gate.wait_held(1).await;
        for _ in 0..10 {
            assert_eq!(get(&ctx, &spec, p.id).await.unwrap().name, "cached");
        }
        let s = stats(&ctx, &spec);
        assert_eq!((s.early_refreshes, s.refreshes_skipped), (11, 10), "{s:?}");
        assert_eq!(
            r.gate.reads(),
            reads + 1,
            "one refresh for eleven elections"
        );

        r.gate.release_all();
        until(|| stats(&ctx, &spec).in_flight == 0).await;
        assert_eq!(get(&ctx, &spec, p.id).await.unwrap(), p, "refreshed");
        let s = stats(&ctx, &spec);
        assert_eq!((s.early_refreshes, s.refresh_failures), (11, 0), "{s:?}");
        assert_eq!(r.gate.reads(), reads + 1);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_refreshes_respect_the_lanes_bound() {
    watchdog(async {
        let spec = beta(true);
        let config = CoordinatorConfig::default()
            .cache_timeout(Duration::from_secs(10))
            .max_background_refreshes(2);
        let r = Replicas::with_config(spec.clone(), config);
        let ctx = r.runtime().context();
        let mut docs = Vec::new();
        for i in 0..5 {
            let p = create(&ctx, &spec, i).await;
            due_envelope(&r, &p, "cached").await;
            docs.push(p);
        }
        r.gate.hold_all();
        for p in &docs {
            assert_eq!(get(&ctx, &spec, p.id).await.unwrap().name, "cached");
        }
        r.gate.wait_held(2).await;
        let s = stats(&ctx, &spec);
        assert_eq!(
            (s.early_refreshes, s.refreshes_skipped, s.in_flight),
            (5, 3, 2),
            "{s:?}"
        );
        r.gate.stop_holding();
        r.gate.release_all();
        until(|| stats(&ctx, &spec).in_flight == 0).await;
        // The skipped ones elect again and now get their turn.
        for p in &docs {
            get(&ctx, &spec, p.id).await.unwrap();
            until(|| stats(&ctx, &spec).in_flight == 0).await;
        }
        assert_eq!(stats(&ctx, &spec).early_refreshes, 8);
        for p in &docs {
            assert_eq!(&get(&ctx, &spec, p.id).await.unwrap(), p, "all refreshed");
        }
        assert_eq!(stats(&ctx, &spec).refresh_failures, 0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_background_refresh_survives_a_failing_store() {
    watchdog(async {
        let spec = beta(true);
        let r = Replicas::new(spec.clone());
        let ctx = r.runtime().context();
        let p = create(&ctx, &spec, 10).await;
        due_envelope(&r, &p, "cached").await;
        r.gate
            .fail_reads(Some(Error::new(ErrorKind::Unavailable, "store down")));
        for round in 1..=3 {
            let read = get(&ctx, &spec, p.id)
                .await
                .expect("failures are not surfaced");
            assert_eq!(read.name, "cached");
            until(|| stats(&ctx, &spec).refresh_failures == round).await;
            until(|| stats(&ctx, &spec).in_flight == 0).await;
        }
        assert_eq!(payload(&r, p.id).unwrap()["doc"]["name"], json!("cached"));
        r.gate.fail_reads(None);
        get(&ctx, &spec, p.id).await.unwrap();
        until(|| stats(&ctx, &spec).in_flight == 0).await;
        assert_eq!(get(&ctx, &spec, p.id).await.unwrap(), p);
    })
    .await;
}

/// A refresh that read rev 1 and fills after a write of rev 2 is rejected like any late fill.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_refresh_never_installs_an_old_rev() {
    watchdog(async {
        let spec = beta(true);
        let r = Replicas::new(spec.clone());
        let ctx = r.runtime().context();
        let p = create(&ctx, &spec, 10).await;
        due_envelope(&r, &p, "cached").await;
        r.gate.hold_next(1);
        get(&ctx, &spec, p.id).await.unwrap();
        r.gate.wait_held(1).await; // the refresh has read rev 1
        let v2 = update(&ctx, &spec, &p, 12).await;
        r.gate.release_all();
        // (The write stopped sharing the refresh's flight: wait for its fill instead.)
        until(|| stats(&ctx, &spec).fills_rejected == 1).await;
        assert_ne!(r.cached_rev(p.id), Some(1));
        assert_eq!(get(&ctx, &spec, p.id).await.unwrap(), v2);
    })
    .await;
}
