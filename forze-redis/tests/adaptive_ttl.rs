//! Idle (sliding) lifetimes and refresh fills of the cache contract on a real Redis: the
//! companion idle key outside the tracked data-key prefix, one `EVALSHA` per sliding read, no
//! write of the data key on a hit (so no push invalidation), idle expiry as a tombstone at the
//! value's rev, and the cap.
//!
//! Needs `FORZE_TEST_REDIS_URL`; every test works under its own namespace (command counting on a
//! private server).

mod common;

use std::collections::BTreeSet;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{
    PrivateRedis, WATCHDOG, calls, command_calls, connect, data_key, raw, redis_url, reset_stats,
    shared_cache, unique_namespace,
};
use forze_core::cache::{
    Cache, CacheFill, Invalidation, InvalidationSink, PushSubscription, PushSupport,
};
use forze_redis::{RedisCache, RedisCacheConfig};
use redis::Commands;
use tokio::sync::Notify;

const HOUR: Duration = Duration::from_secs(3600);
const WINDOW: Duration = Duration::from_secs(60);

/// The documented idle key of `key`: `fz:<len>:<namespace>;idle:{<key>}`.
fn idle_key(namespace: &str, key: &str) -> String {
    format!("fz:{}:{};idle:{{{}}}", namespace.len(), namespace, key)
}

fn payload(rev: i64) -> Vec<u8> {
    format!(r#"{{"rev":{rev}}}"#).into_bytes()
}

fn sliding(key: &str, rev: i64) -> CacheFill {
    CacheFill::new(key, rev, payload(rev), HOUR).with_sliding(WINDOW)
}

fn pttl(conn: &mut redis::Connection, key: &str) -> i64 {
    conn.pttl(key).expect("PTTL")
}

async fn slide(cache: &RedisCache, key: &str) -> Option<i64> {
    cache
        .get_sliding(key, WINDOW)
        .await
        .expect("get_sliding")
        .map(|e| e.rev)
}

#[tokio::test]
async fn a_sliding_fill_sets_an_idle_key_outside_the_tracked_prefix() {
    let (cache, ns) = shared_cache("slide_layout").await;
    let mut conn = raw(&redis_url());
    assert!(cache.fill(sliding("k", 1)).await.expect("fill"));
    let (data, idle) = (data_key(&ns, "k"), idle_key(&ns, "k"));
    assert_eq!(
        cache.idle_key_prefix(),
        format!("fz:{}:{ns};idle:", ns.len())
    );
    assert!(
        !idle.starts_with(cache.key_prefix()),
        "{idle} is under the data prefix"
    );
    let tag = |k: &str| k[k.find('{').unwrap()..].to_owned();
    assert_eq!(
        tag(&data),
        tag(&idle),
        "same hash tag, so the same cluster slot"
    );
    let (d, i) = (pttl(&mut conn, &data), pttl(&mut conn, &idle));
    assert!(d > 3_590_000 && d <= 3_600_000, "data PTTL {d}");
    assert!(i > 50_000 && i <= 60_000, "idle PTTL {i}");
    // A window longer than the ttl is capped at it.
    let short = CacheFill::new("s", 1, payload(1), Duration::from_secs(5)).with_sliding(WINDOW);
    assert!(cache.fill(short).await.expect("fill"));
    assert!(pttl(&mut conn, &idle_key(&ns, "s")) <= 5_000);
    // A fill without a window sets no idle key.
    assert!(
        cache
            .fill(CacheFill::new("p", 1, payload(1), HOUR))
            .await
            .expect("fill")
    );
    assert_eq!(pttl(&mut conn, &idle_key(&ns, "p")), -2);
}

#[tokio::test]
async fn a_sliding_hit_extends_the_idle_key_capped_at_the_data_key() {
    let (cache, ns) = shared_cache("slide_extend").await;
    let mut conn = raw(&redis_url());
    let (data, idle) = (data_key(&ns, "k"), idle_key(&ns, "k"));
    assert!(cache.fill(sliding("k", 4)).await.expect("fill"));
    let _: () = conn.pexpire(&idle, 1_000).expect("PEXPIRE");
    let before = pttl(&mut conn, &data);
    let entry = cache.get_sliding("k", WINDOW).await.expect("get_sliding");
    assert_eq!(entry.map(|e| (e.rev, e.payload)), Some((4, payload(4))));
    let i = pttl(&mut conn, &idle);
    assert!(i > 50_000 && i <= 60_000, "idle PTTL {i} after a hit");
    let after = pttl(&mut conn, &data);
    assert!(
        after <= before,
        "the hit did not touch the data key: {before} -> {after}"
    );

    // Near the cap, the idle deadline is capped at the data key's remaining lifetime.
    let _: () = conn.pexpire(&data, 20_000).expect("PEXPIRE");
    assert_eq!(slide(&cache, "k").await, Some(4));
    let (d, i) = (pttl(&mut conn, &data), pttl(&mut conn, &idle));
    assert!(
        i <= 20_000 && i <= d + 5,
        "idle {i} past the data key's {d}"
    );
}

#[tokio::test]
async fn an_idle_entry_misses_and_becomes_a_tombstone_at_its_rev() {
    let (cache, ns) = shared_cache("slide_idle").await;
    let mut conn = raw(&redis_url());
    let data = data_key(&ns, "k");
    assert!(cache.fill(sliding("k", 7)).await.expect("fill"));
    let _: () = conn.del(idle_key(&ns, "k")).expect("DEL"); // as if the window passed
    // A plain get ignores idle keys (one GET).
    assert_eq!(cache.get("k").await.expect("get").map(|e| e.rev), Some(7));
    assert_eq!(slide(&cache, "k").await, None, "idle: a miss");
    let raw_value: Vec<u8> = conn.get(&data).expect("GET");
    assert_eq!(
        raw_value, b"t8000000000000007",
        "a tombstone at the value's rev"
    );
    let left = pttl(&mut conn, &data);
    assert!(
        left > 3_590_000,
        "the tombstone keeps the remaining lifetime: {left}"
    );
    assert_eq!(cache.get("k").await.expect("get"), None);
    assert!(
        !cache.fill(sliding("k", 6)).await.expect("fill"),
        "older rev refused"
    );
    assert!(
        cache.fill(sliding("k", 7)).await.expect("fill"),
        "refill at the rev"
    );
    assert_eq!(slide(&cache, "k").await, Some(7));

    // Really idle: a short window passes.
    let short = CacheFill::new("w", 1, payload(1), HOUR).with_sliding(Duration::from_millis(50));
    assert!(cache.fill(short).await.expect("fill"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        cache
            .get_sliding("w", Duration::from_millis(50))
            .await
            .expect("get_sliding"),
        None
    );
}

#[tokio::test]
async fn sliding_fills_and_refreshes_follow_the_contract() {
    let (cache, ns) = shared_cache("slide_fill").await;
    let mut conn = raw(&redis_url());
    assert!(cache.fill(sliding("k", 3)).await.expect("fill"));
    assert!(
        !cache.fill(sliding("k", 3)).await.expect("fill"),
        "live: same rev refused"
    );
    let _: () = conn.del(idle_key(&ns, "k")).expect("DEL");
    assert!(!cache.fill(sliding("k", 2)).await.expect("fill"));
    assert!(
        cache.fill(sliding("k", 3)).await.expect("fill"),
        "idle-expired: like tombstone 3"
    );
    assert!(
        pttl(&mut conn, &idle_key(&ns, "k")) > 50_000,
        "the idle key is back"
    );

    // A refresh installs over the same rev, renewing the lifetime; never below it.
    let short = CacheFill::new("r", 2, payload(2), Duration::from_secs(30));
    assert!(cache.fill(short.clone()).await.expect("fill"));
    assert!(!cache.fill(short).await.expect("fill"));
    let refresh = CacheFill::new("r", 2, payload(2), HOUR).refresh();
    assert!(cache.fill(refresh.clone()).await.expect("refresh"));
    assert!(pttl(&mut conn, &data_key(&ns, "r")) > 3_590_000);
    assert!(
        !cache
            .fill(CacheFill::new("r", 1, payload(1), HOUR).refresh())
            .await
            .expect("refresh")
    );
    cache
        .invalidate_many(&[Invalidation::new("r", 3, HOUR)])
        .await
        .expect("invalidate");
    assert!(
        !cache.fill(refresh).await.expect("refresh"),
        "the CAS holds"
    );

    // Batches mix sliding and plain fills; get_many_sliding answers in order.
    let flags = cache
        .fill_many(vec![
            sliding("a", 1),
            CacheFill::new("b", 1, payload(1), HOUR),
        ])
        .await
        .expect("fill_many");
    assert_eq!(flags, vec![true, true]);
    let keys = ["a", "missing", "k", "b"].map(String::from);
    let got = cache
        .get_many_sliding(&keys, WINDOW)
        .await
        .expect("get_many_sliding");
    let revs: Vec<Option<i64>> = got.iter().map(|e| e.as_ref().map(|e| e.rev)).collect();
    assert_eq!(
        revs,
        [Some(1), None, Some(3), None],
        "`b` has no idle key: a sliding read treats it as idle"
    );
    assert!(
        cache
            .get_many_sliding(&[], WINDOW)
            .await
            .expect("empty")
            .is_empty()
    );
}

#[tokio::test]
async fn sliding_reads_keep_an_entry_alive_past_its_window() {
    let (cache, _) = shared_cache("slide_alive").await;
    let window = Duration::from_millis(1500);
    let fill = CacheFill::new("k", 1, payload(1), Duration::from_secs(60)).with_sliding(window);
    assert!(cache.fill(fill).await.expect("fill"));
    // Read every 100 ms for twice the window (only a stall longer than the window could fail).
    let start = Instant::now();
    while start.elapsed() < 2 * window {
        let hit = cache.get_sliding("k", window).await.expect("get_sliding");
        assert!(
            hit.is_some(),
            "expired while read every 100 ms, at {:?}",
            start.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(window + Duration::from_millis(300)).await;
    assert_eq!(
        cache.get_sliding("k", window).await.expect("get_sliding"),
        None,
        "then idle"
    );
}

#[tokio::test]
async fn each_operation_is_one_command_and_a_hit_writes_only_the_idle_key() {
    let server = PrivateRedis::start();
    let client = connect(&server.url()).await;
    let cache = RedisCache::new(client, RedisCacheConfig::namespace("rt:slide").expect("ns"));
    let mut admin = server.admin();

    reset_stats(&mut admin);
    assert!(cache.fill(sliding("a", 1)).await.expect("fill"));
    assert_eq!(
        command_calls(&mut admin),
        calls(&[("evalsha", 1), ("getrange", 1), ("set", 2)]),
        "sliding fill: the value and its idle key"
    );

    reset_stats(&mut admin);
    assert_eq!(slide(&cache, "a").await, Some(1));
    assert_eq!(
        command_calls(&mut admin),
        calls(&[
            ("evalsha", 1),
            ("get", 1),
            ("exists", 1),
            ("pttl", 1),
            ("pexpire", 1)
        ]),
        "sliding hit: one EVALSHA; PEXPIRE of the idle key only, no SET"
    );

    reset_stats(&mut admin);
    assert!(cache.get("a").await.expect("get").is_some());
    assert_eq!(
        command_calls(&mut admin),
        calls(&[("get", 1)]),
        "a plain hit stays one GET"
    );

    reset_stats(&mut admin);
    assert_eq!(slide(&cache, "missing").await, None);
    assert_eq!(
        command_calls(&mut admin),
        calls(&[("evalsha", 1), ("get", 1)]),
        "sliding miss"
    );

    reset_stats(&mut admin);
    let keys = ["a", "missing"].map(String::from);
    cache
        .get_many_sliding(&keys, WINDOW)
        .await
        .expect("get_many_sliding");
    assert_eq!(
        command_calls(&mut admin).get("evalsha"),
        Some(&1),
        "one batch"
    );

    reset_stats(&mut admin);
    assert!(
        cache
            .fill(CacheFill::new("p", 1, payload(1), HOUR))
            .await
            .expect("fill")
    );
    assert_eq!(
        command_calls(&mut admin),
        calls(&[("evalsha", 1), ("getrange", 1), ("set", 1)]),
        "a plain fill is unchanged"
    );
}

/// A sink that records the keys pushed to it.
#[derive(Default)]
struct Recorder {
    keys: Mutex<Vec<String>>,
    resets: Mutex<u64>,
    changed: Notify,
}

impl fmt::Debug for Recorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recorder").finish_non_exhaustive()
    }
}

impl InvalidationSink for Recorder {
    fn invalidated(&self, key: &str) {
        self.keys.lock().expect("keys").push(key.to_owned());
        self.changed.notify_waiters();
    }
    fn reset(&self) {
        *self.resets.lock().expect("resets") += 1;
        self.changed.notify_waiters();
    }
}

impl Recorder {
    fn keys(&self) -> Vec<String> {
        self.keys.lock().expect("keys").clone()
    }

    async fn wait_for(&self, what: &str, cond: impl Fn(&Self) -> bool) {
        let waited = tokio::time::timeout(WATCHDOG, async {
            loop {
                let notified = self.changed.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                if cond(self) {
                    return;
                }
                notified.await;
            }
        })
        .await;
        assert!(
            waited.is_ok(),
            "timed out waiting for {what}; keys {:?}",
            self.keys()
        );
    }
}

async fn subscribe(cache: &RedisCache, sink: &Arc<Recorder>) -> PushSubscription {
    let sub = cache
        .subscribe_invalidations(sink.clone())
        .expect("subscribe");
    assert_eq!(sub.support(), PushSupport::Active);
    sink.wait_for("tracking armed", |r| *r.resets.lock().expect("resets") >= 1)
        .await;
    sub
}

/// The defect of the original (§12.6): sliding touched the tracked key on every hit, so every
/// other replica dropped its L1 entry on every read. Here a hit pushes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sliding_hit_pushes_no_invalidation_to_other_replicas() {
    let url = redis_url();
    let ns = unique_namespace("slide_push");
    let config = || RedisCacheConfig::namespace(ns.clone()).expect("ns");
    let a = RedisCache::new(connect(&url).await, config());
    let b = RedisCache::new(connect(&url).await, config().invalidation_push(true));
    let sink = Arc::new(Recorder::default());
    let _sub = subscribe(&b, &sink).await;

    assert!(a.fill(sliding("k", 1)).await.expect("fill"));
    sink.wait_for("the fill's push", |r| r.keys().contains(&"k".to_owned()))
        .await;
    for _ in 0..20 {
        assert_eq!(slide(&a, "k").await, Some(1));
    }
    // Pushes arrive in order: once the marker's is in, any push of the hits would be too.
    assert!(a.fill(sliding("marker", 1)).await.expect("fill"));
    sink.wait_for("the marker's push", |r| {
        r.keys().contains(&"marker".to_owned())
    })
    .await;
    let keys = sink.keys();
    assert_eq!(
        keys.iter().filter(|k| *k == "k").count(),
        1,
        "only the fill pushed `k`: {keys:?}"
    );
    let distinct: BTreeSet<&String> = keys.iter().collect();
    assert_eq!(distinct.len(), 2, "{keys:?}");

    // Idle expiry is a real change of the entry: it does push.
    let mut conn = raw(&url);
    let _: () = conn.del(idle_key(&ns, "k")).expect("DEL");
    assert_eq!(slide(&a, "k").await, None);
    sink.wait_for("the idle expiry's push", |r| {
        r.keys().iter().filter(|k| *k == "k").count() == 2
    })
    .await;
}
