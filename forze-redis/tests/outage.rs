//! A dead, paused or frozen Redis: calls fail with `Unavailable` within the response timeout
//! (never hang), and the client recovers by itself once the server is back.
//!
//! Each test uses a private server it may kill or pause. Bounds are checked with a watchdog far
//! above the response timeout, not with timed assertions.

mod common;

use std::time::Duration;

use common::{PrivateRedis, WATCHDOG, connect_with};
use forze_core::ErrorKind;
use forze_core::cache::{Cache, CacheFill, Invalidation};
use forze_redis::{RedisCache, RedisCacheConfig, RedisConfig};

const TTL: Duration = Duration::from_secs(60);
/// The watchdog for one call against a dead server: 20× the response timeout below.
const CALL_WATCHDOG: Duration = Duration::from_secs(2);

fn config() -> RedisConfig {
    RedisConfig::default()
        .with_response_timeout(Duration::from_millis(100))
        .with_connect_timeout(Duration::from_millis(500))
}

fn fill_of(key: &str, rev: i64) -> CacheFill {
    CacheFill::new(key, rev, b"{}".to_vec(), TTL)
}

async fn cache_on(server: &PrivateRedis) -> RedisCache {
    let client = connect_with(&server.url(), config()).await;
    RedisCache::new(client, RedisCacheConfig::namespace("outage").expect("ns"))
}

/// Every operation fails with `Unavailable`, each within the call watchdog.
async fn assert_every_call_unavailable(cache: &RedisCache, why: &str) {
    let keys = vec!["a".to_owned(), "b".to_owned()];
    let results = [
        tokio::time::timeout(CALL_WATCHDOG, cache.get("a"))
            .await
            .map(|r| r.map(drop)),
        tokio::time::timeout(CALL_WATCHDOG, cache.get_many(&keys))
            .await
            .map(|r| r.map(drop)),
        tokio::time::timeout(CALL_WATCHDOG, cache.fill(fill_of("a", 9)))
            .await
            .map(|r| r.map(drop)),
        tokio::time::timeout(CALL_WATCHDOG, cache.fill_many(vec![fill_of("b", 9)]))
            .await
            .map(|r| r.map(drop)),
        tokio::time::timeout(
            CALL_WATCHDOG,
            cache.invalidate_many(&[Invalidation::new("a", 10, TTL)]),
        )
        .await,
        tokio::time::timeout(CALL_WATCHDOG, cache.evict("a", 9, TTL)).await,
    ];
    for (i, result) in results.into_iter().enumerate() {
        let outcome = result.unwrap_or_else(|_| panic!("{why}: call {i} hung past the watchdog"));
        let err = outcome.expect_err(why);
        assert_eq!(
            err.kind(),
            ErrorKind::Unavailable,
            "{why}: call {i}: {err:?}"
        );
        assert!(err.is_temporary());
        assert!(
            err.message().contains("127.0.0.1:"),
            "{why}: names the server: {err}"
        );
    }
}

/// Poll until a fill succeeds again (a fill that timed out may still land once the server
/// answers, so a later one may find its rev already installed), then read it back.
async fn assert_recovers(cache: &RedisCache, rev: i64) {
    tokio::time::timeout(WATCHDOG, async {
        loop {
            if cache.fill(fill_of("after", rev)).await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the client did not recover after the server came back");
    let entry = cache.get("after").await.expect("get after recovery");
    assert_eq!(entry.map(|e| e.rev), Some(rev));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_fails_fast_and_the_client_reconnects_after_restart() {
    let mut server = PrivateRedis::start();
    let cache = cache_on(&server).await;
    assert!(cache.fill(fill_of("a", 1)).await.expect("fill"));

    server.kill();
    // Repeatedly: the first call meets the dead socket, later ones the failing reconnects.
    for round in 0..3 {
        assert_every_call_unavailable(&cache, &format!("killed, round {round}")).await;
    }

    server.restart();
    // The restarted server has no data and no scripts (NOSCRIPT recovery runs too).
    assert_recovers(&cache, 1).await;
    assert!(cache.get("a").await.expect("get").is_none(), "fresh server");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_server_times_out_and_the_client_resumes() {
    let server = PrivateRedis::start();
    let cache = cache_on(&server).await;
    assert!(cache.fill(fill_of("a", 1)).await.expect("fill"));

    // SIGSTOP: the socket stays open, nothing answers.
    server.pause();
    assert_every_call_unavailable(&cache, "SIGSTOP").await;
    assert_every_call_unavailable(&cache, "SIGSTOP, again").await;
    server.resume();

    assert_recovers(&cache, 2).await;
    // Calls that timed out may still have been delivered when the server woke up (then `a` is
    // tombstone 10); whichever landed, the key is in a state the contract allows.
    let rev = cache.get("a").await.expect("get").map(|e| e.rev);
    assert!(matches!(rev, None | Some(1 | 9)), "{rev:?}");
    assert!(!cache.fill(fill_of("a", 1)).await.expect("fill"));
    cache.fill(fill_of("a", 10)).await.expect("fill");
    assert_eq!(cache.get("a").await.expect("get").map(|e| e.rev), Some(10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_server_times_out_and_the_client_resumes() {
    let server = PrivateRedis::start();
    let cache = cache_on(&server).await;
    assert!(cache.fill(fill_of("a", 1)).await.expect("fill"));

    // CLIENT PAUSE on the private server: every client blocks until the pause ends.
    let mut admin = server.admin();
    let _: () = redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(3000)
        .arg("ALL")
        .query(&mut admin)
        .expect("CLIENT PAUSE");
    let err = tokio::time::timeout(CALL_WATCHDOG, cache.get("a"))
        .await
        .expect("get hung during CLIENT PAUSE")
        .expect_err("paused");
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err:?}");
    let err = tokio::time::timeout(CALL_WATCHDOG, cache.fill(fill_of("a", 2)))
        .await
        .expect("fill hung during CLIENT PAUSE")
        .expect_err("paused");
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err:?}");

    // After the pause the queued commands run: the timed-out fill may have landed, but the
    // contract holds either way and the connection is usable.
    assert_recovers(&cache, 3).await;
    let rev = cache.get("a").await.expect("get").map(|e| e.rev);
    assert!(matches!(rev, Some(1 | 2)), "{rev:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_drops_the_connection_and_later_calls_are_unavailable() {
    let server = PrivateRedis::start();
    let client = connect_with(&server.url(), config()).await;
    let cache = RedisCache::new(
        client.clone(),
        RedisCacheConfig::namespace("close").expect("ns"),
    );
    assert!(cache.fill(fill_of("a", 1)).await.expect("fill"));
    let mut admin = server.admin();
    let clients = |admin: &mut redis::Connection| -> usize {
        let list: String = redis::cmd("CLIENT")
            .arg("LIST")
            .query(admin)
            .expect("CLIENT LIST");
        list.lines().count()
    };
    assert_eq!(
        clients(&mut admin),
        2,
        "the admin connection and the client's one"
    );

    client.close();
    let err = cache.get("a").await.expect_err("closed");
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    tokio::time::timeout(WATCHDOG, async {
        while clients(&mut admin) != 1 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the server still sees the closed client's connection");

    // Connecting again revives the same handles.
    client.connect(&server.url()).await.expect("reconnect");
    assert_eq!(cache.get("a").await.expect("get").map(|e| e.rev), Some(1));
}
