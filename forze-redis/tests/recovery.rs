//! Recovery after a Redis restart (empty, same address): how long until cache calls succeed
//! again and until pushes reach the sinks again. Each test runs on a private server.
//!
//! The bounds asserted are loose (2 s, so a noisy machine does not flake them); the measured
//! figures are printed (`cargo test -p forze-redis --test recovery -- --nocapture`). The target
//! is well under 1 s for both.

mod common;

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{PrivateRedis, WATCHDOG, connect_with, data_key};
use forze_core::cache::{Cache, CacheFill, InvalidationSink, Lookup, PushSupport};
use forze_redis::{RedisCache, RedisCacheConfig, RedisClient, RedisConfig};
use tokio::sync::Notify;

const TTL: Duration = Duration::from_secs(60);
/// The loose bound on each recovery figure.
const BOUND: Duration = Duration::from_secs(2);
/// How often the tests poll while waiting for recovery.
const POLL: Duration = Duration::from_millis(10);

/// A sink recording keys and resets.
#[derive(Default)]
struct Recorder {
    keys: Mutex<Vec<String>>,
    resets: AtomicU64,
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
        self.resets.fetch_add(1, Ordering::SeqCst);
        self.changed.notify_waiters();
    }
}

impl Recorder {
    fn has_key(&self, key: &str) -> bool {
        self.keys.lock().expect("keys").iter().any(|k| k == key)
    }

    fn resets(&self) -> u64 {
        self.resets.load(Ordering::SeqCst)
    }
}

fn config() -> RedisConfig {
    RedisConfig::default()
        .with_response_timeout(Duration::from_millis(100))
        .with_connect_timeout(Duration::from_millis(500))
}

async fn push_cache(server: &PrivateRedis, namespace: &str) -> (RedisClient, RedisCache) {
    let client = connect_with(&server.url(), config()).await;
    let cache = RedisCache::new(
        client.clone(),
        RedisCacheConfig::namespace(namespace)
            .expect("namespace")
            .invalidation_push(true),
    );
    (client, cache)
}

/// Restart `server` (kill, start empty on the same port, wait for `PING`) off the runtime's
/// threads; returns it and the instant it answered again.
async fn restart(mut server: PrivateRedis) -> (PrivateRedis, Instant) {
    tokio::task::spawn_blocking(move || {
        server.restart();
        (server, Instant::now())
    })
    .await
    .expect("restart task")
}

/// Poll `lookup` until it succeeds; the time it took from `since`.
async fn until_lookup_succeeds(cache: &RedisCache, since: Instant) -> Duration {
    loop {
        if let Ok(found) = cache.lookup("k", None).await {
            assert_eq!(found, Lookup::Absent, "the restarted server is empty");
            return since.elapsed();
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Write data keys of `namespace` with a raw client (a fresh one, so its own reconnect does not
/// count) until one reaches `sink`; the time it took from `since`.
async fn until_push_arrives(
    url: &str,
    namespace: &str,
    sink: &Recorder,
    since: Instant,
) -> Duration {
    let client = redis::Client::open(url).expect("url");
    let mut conn = None;
    for i in 0u64.. {
        if conn.is_none() {
            conn = client.get_multiplexed_async_connection().await.ok();
        }
        let key = format!("pushed-{i}");
        if let Some(c) = conn.as_mut() {
            let set: redis::RedisResult<()> = redis::cmd("SET")
                .arg(data_key(namespace, &key))
                .arg("x")
                .arg("PX")
                .arg(60_000)
                .query_async(c)
                .await;
            if set.is_err() {
                conn = None;
            }
        }
        // Give this write's push a moment before the next write.
        let arrived = tokio::time::timeout(POLL, async {
            loop {
                let notified = sink.changed.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                if sink.has_key(&key) {
                    return;
                }
                notified.await;
            }
        })
        .await;
        if arrived.is_ok() {
            return since.elapsed();
        }
    }
    unreachable!("the loop only ends by returning")
}

/// After a restart, a cache call succeeds again and a write by another client is pushed again,
/// both promptly; the sink was reset (events may have been missed while the server was away).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_server_serves_and_pushes_again_promptly() {
    let server = PrivateRedis::start();
    let url = server.url();
    let namespace = "recovery";
    let (client, cache) = push_cache(&server, namespace).await;
    let sink = Arc::new(Recorder::default());
    let sub = cache
        .subscribe_invalidations(sink.clone())
        .expect("subscribe");
    assert_eq!(sub.support(), PushSupport::Active);

    tokio::time::timeout(WATCHDOG, async {
        // Armed, and working before the restart.
        while sink.resets() == 0 {
            tokio::time::sleep(POLL).await;
        }
        assert!(
            cache
                .fill(CacheFill::new("k", 1, b"{}".to_vec(), TTL))
                .await
                .expect("fill")
        );
        let before = until_push_arrives(&url, namespace, &sink, Instant::now()).await;
        let resets_before = sink.resets();

        let (server, up) = restart(server).await;
        let call = until_lookup_succeeds(&cache, up).await;
        let push = until_push_arrives(&url, namespace, &sink, up).await;
        println!(
            "recovery after a restart: cache call {call:?}, push {push:?} (push before the \
             restart: {before:?})"
        );
        assert!(
            sink.resets() > resets_before,
            "the sink is reset after the stream was lost"
        );
        assert!(call < BOUND, "cache calls resumed after {call:?}");
        assert!(push < BOUND, "pushes resumed after {push:?}");
        drop(server);
    })
    .await
    .expect("watchdog");
    drop(sub);
    client.close();
}

/// The server stays down for a while (calls fail, and reconnect attempts back off or give up
/// meanwhile), then comes back: the first call made after it is back succeeds, with no warm-up
/// call, and pushes resume promptly (the tracking supervisor's backoff is capped low).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_long_outage_the_first_call_succeeds_and_pushes_resume_promptly() {
    let mut server = PrivateRedis::start();
    let url = server.url();
    let namespace = "recovery-long";
    let (client, cache) = push_cache(&server, namespace).await;
    let sink = Arc::new(Recorder::default());
    let sub = cache
        .subscribe_invalidations(sink.clone())
        .expect("subscribe");
    tokio::time::timeout(WATCHDOG, async {
        while sink.resets() == 0 {
            tokio::time::sleep(POLL).await;
        }
        cache.lookup("k", None).await.expect("up");
        server.kill();
        // Calls during the outage fail within the response timeout.
        let down = Instant::now();
        while down.elapsed() < Duration::from_secs(3) {
            let call = Instant::now();
            assert!(cache.lookup("k", None).await.is_err(), "the server is down");
            assert!(
                call.elapsed() < Duration::from_secs(1),
                "{:?}",
                call.elapsed()
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let resets_before = sink.resets();
        let (server, up) = restart(server).await;
        let first = cache.lookup("k", None).await;
        let call = up.elapsed();
        assert_eq!(
            first.expect("the first call after the outage succeeds"),
            Lookup::Absent
        );
        let push = until_push_arrives(&url, namespace, &sink, up).await;
        println!(
            "recovery after a 3 s outage: first cache call answered {call:?} after the server \
             was back, push {push:?}"
        );
        assert!(sink.resets() >= resets_before, "reset on re-arm");
        assert!(push < BOUND, "pushes resumed after {push:?}");
        drop(server);
    })
    .await
    .expect("watchdog");
    drop(sub);
    client.close();
}

/// Without any cache call to cut the supervisor's backoff short, pushes still resume within
/// about its cap (400 ms while connections are refused) after a 3 s outage.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_long_outage_pushes_resume_promptly_without_cache_calls() {
    let mut server = PrivateRedis::start();
    let url = server.url();
    let namespace = "recovery-quiet";
    let (client, cache) = push_cache(&server, namespace).await;
    let sink = Arc::new(Recorder::default());
    let sub = cache
        .subscribe_invalidations(sink.clone())
        .expect("subscribe");
    tokio::time::timeout(WATCHDOG, async {
        while sink.resets() == 0 {
            tokio::time::sleep(POLL).await;
        }
        server.kill();
        while client.push_stats().stream_up {
            tokio::time::sleep(POLL).await;
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
        let (server, up) = restart(server).await;
        let push = until_push_arrives(&url, namespace, &sink, up).await;
        println!("recovery after a 3 s outage, no cache calls: push {push:?}");
        assert!(push < BOUND, "pushes resumed after {push:?}");
        drop(server);
    })
    .await
    .expect("watchdog");
    drop(sub);
    client.close();
}

/// A fill of a value read before a restart (which lost every tombstone) is refused, even on a
/// connection that reconnected on its own; fills of values read after it install.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fills_of_values_read_before_a_restart_are_refused() {
    tokio::time::timeout(WATCHDOG, async {
        let server = PrivateRedis::start();
        let client = connect_with(&server.url(), config()).await;
        let cache = RedisCache::new(
            client.clone(),
            RedisCacheConfig::namespace("epoch").expect("namespace"),
        );
        let before = cache.generation();
        assert_ne!(before, 0, "the epoch is read at connect");
        let fill = |rev, generation| {
            CacheFill::new("k", rev, br#"{"v":1}"#.to_vec(), TTL).at_generation(generation)
        };
        assert!(cache.fill(fill(1, before)).await.expect("fill"));
        // A write's tombstone, then the restart loses it.
        cache
            .invalidate_many(&[forze_core::cache::Invalidation::new("k", 2, TTL)])
            .await
            .expect("invalidate");
        let (server, _) = restart(server).await;
        // The stale fill (read at rev 1 before the write): refused, however often it is tried.
        let mut refused = false;
        for _ in 0..50 {
            match cache.fill(fill(1, before)).await {
                Ok(installed) => {
                    assert!(!installed, "a value read before the restart was installed");
                    refused = true;
                    break;
                }
                Err(_) => tokio::time::sleep(POLL).await,
            }
        }
        assert!(refused, "the restarted server never answered");
        assert_eq!(
            cache.lookup("k", None).await.expect("lookup"),
            Lookup::Absent
        );
        let after = cache.generation();
        assert_ne!(after, before, "the new epoch was adopted");
        assert!(cache.fill(fill(2, after)).await.expect("fill"));
        // A second client adopts the same epoch.
        let other = connect_with(&server.url(), config()).await;
        let other = RedisCache::new(other, RedisCacheConfig::namespace("epoch").expect("ns"));
        assert_eq!(other.generation(), after);
        // Unchecked fills (no generation) are not affected.
        assert!(
            cache
                .fill(CacheFill::new("u", 1, br#"{"v":1}"#.to_vec(), TTL))
                .await
                .expect("fill")
        );
        drop(server);
    })
    .await
    .expect("watchdog");
}
