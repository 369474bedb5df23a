//! Every key forze reads or writes ends up with a bounded lifetime (defect 5: keys that never
//! heal). Keys are planted without an expiry with raw `SET`s (as someone's manual `SET`, or an
//! older version, would leave them), then touched through the cache: each ends up with an
//! expiry no longer than the operation's `ttl` (or window).
//!
//! Needs `FORZE_TEST_REDIS_URL`; every test works under its own namespace.

mod common;

use std::time::{Duration, Instant};

use common::{WATCHDOG, data_key, raw, redis_url, shared_cache};
use forze_core::cache::{Cache, CacheEntry, CacheFill, Invalidation, Lookup};
use forze_redis::RedisCache;
use redis::Commands;

/// The lifetime the operations under test give.
const SHORT: Duration = Duration::from_millis(5_000);
const SHORT_MS: i64 = 5_000;

/// The 16 hex digits of a rev in the stored encoding (sign bit flipped).
fn rev_hex(rev: i64) -> String {
    format!("{:016x}", (rev as u64) ^ (1 << 63))
}

fn tombstone_bytes(rev: i64) -> Vec<u8> {
    format!("t{}", rev_hex(rev)).into_bytes()
}

fn value_bytes(rev: i64, payload: &[u8]) -> Vec<u8> {
    let mut out = payload.to_vec();
    out.extend_from_slice(format!("v{}", rev_hex(rev)).as_bytes());
    out
}

fn idle_key(namespace: &str, key: &str) -> String {
    format!("fz:{}:{};idle:{{{}}}", namespace.len(), namespace, key)
}

/// `SET` without an expiry; checks that the key has none.
fn plant(conn: &mut redis::Connection, key: &str, bytes: &[u8]) {
    let _: () = conn.set(key, bytes).expect("SET");
    assert_eq!(pttl(conn, key), -1, "planted without an expiry");
}

fn pttl(conn: &mut redis::Connection, key: &str) -> i64 {
    conn.pttl(key).expect("PTTL")
}

/// The key has an expiry, at most `max_ms` away.
fn assert_bounded(conn: &mut redis::Connection, key: &str, max_ms: i64, why: &str) {
    let left = pttl(conn, key);
    assert!(
        left > 0 && left <= max_ms,
        "{why}: PTTL {left} (expected 0 < PTTL <= {max_ms})"
    );
}

async fn cache(test: &str) -> (RedisCache, String, redis::Connection) {
    let (cache, namespace) = shared_cache(test).await;
    (cache, namespace, raw(&redis_url()))
}

fn fill_of(key: &str, rev: i64, ttl: Duration) -> CacheFill {
    CacheFill::new(key, rev, b"{}".to_vec(), ttl)
}

async fn watchdog<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(WATCHDOG, f).await.expect("watchdog")
}

#[tokio::test]
async fn a_rejected_fill_gives_a_tombstone_without_expiry_one_and_it_heals() {
    watchdog(async {
        let (cache, ns, mut conn) = cache("heal-fill").await;
        // A tombstone at a rev the document will never reach, without an expiry.
        let k = data_key(&ns, "k");
        plant(&mut conn, &k, &tombstone_bytes(1_000_000));
        assert_eq!(
            cache.lookup("k", None).await.expect("lookup"),
            Lookup::Tombstone(1_000_000)
        );
        let short = Duration::from_millis(300);
        assert!(
            !cache.fill(fill_of("k", 3, short)).await.expect("fill"),
            "rejected by the tombstone"
        );
        assert_bounded(&mut conn, &k, 300, "a rejected fill re-arms the expiry");
        // And so the key heals: once the tombstone expired, a fill installs.
        let start = Instant::now();
        while !cache.fill(fill_of("k", 3, SHORT)).await.expect("fill") {
            assert!(start.elapsed() < Duration::from_secs(5), "never healed");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(cache.get("k").await.expect("get").map(|e| e.rev), Some(3));

        // The batch form, with a newer value without an expiry in the way too.
        let (t, v) = (data_key(&ns, "t"), data_key(&ns, "v"));
        plant(&mut conn, &t, &tombstone_bytes(50));
        plant(&mut conn, &v, &value_bytes(9, b"{}"));
        let flags = cache
            .fill_many(vec![
                fill_of("t", 4, SHORT),
                fill_of("v", 8, SHORT),
                fill_of("new", 1, SHORT),
            ])
            .await
            .expect("fill_many");
        assert_eq!(flags, [false, false, true]);
        assert_bounded(&mut conn, &t, SHORT_MS, "fill_many, tombstone");
        assert_bounded(&mut conn, &v, SHORT_MS, "fill_many, newer value");
        // A key with an expiry keeps it: a rejected fill does not extend it.
        let kept = pttl(&mut conn, &t);
        assert!(
            !cache
                .fill(fill_of("t", 4, Duration::from_secs(600)))
                .await
                .expect("fill")
        );
        assert!(pttl(&mut conn, &t) <= kept, "an expiry is never extended");
    })
    .await;
}

#[tokio::test]
async fn a_rejected_sliding_fill_gives_the_idle_key_an_expiry() {
    watchdog(async {
        let (cache, ns, mut conn) = cache("heal-fill-idle").await;
        let (k, idle) = (data_key(&ns, "k"), idle_key(&ns, "k"));
        plant(&mut conn, &k, &value_bytes(2, b"{}"));
        plant(&mut conn, &idle, b"1");
        let fill = fill_of("k", 2, SHORT).with_sliding(Duration::from_millis(1_000));
        assert!(
            !cache.fill(fill).await.expect("fill"),
            "a value at the same rev with a live idle key is kept"
        );
        assert_bounded(&mut conn, &k, SHORT_MS, "data key");
        assert_bounded(&mut conn, &idle, 1_000, "idle key");
    })
    .await;
}

#[tokio::test]
async fn invalidate_gives_a_value_without_expiry_one() {
    watchdog(async {
        let (cache, ns, mut conn) = cache("heal-invalidate").await;
        let (v, t) = (data_key(&ns, "v"), data_key(&ns, "t"));
        plant(&mut conn, &v, &value_bytes(2, b"{\"x\":1}"));
        plant(&mut conn, &t, &tombstone_bytes(7));
        assert_eq!(
            cache.get("v").await.expect("get"),
            Some(CacheEntry::new(2, b"{\"x\":1}".to_vec()))
        );
        cache
            .invalidate_many(&[
                Invalidation::new("v", 3, SHORT),
                Invalidation::new("t", 3, SHORT),
            ])
            .await
            .expect("invalidate");
        assert_bounded(&mut conn, &v, SHORT_MS, "invalidate on a value");
        assert_bounded(&mut conn, &t, SHORT_MS, "invalidate on a tombstone");
        assert_eq!(
            cache
                .lookup_many(&["v".to_owned(), "t".to_owned()], None)
                .await
                .expect("lookup_many"),
            [Lookup::Tombstone(3), Lookup::Tombstone(7)]
        );
    })
    .await;
}

#[tokio::test]
async fn evict_gives_a_key_it_leaves_in_place_an_expiry() {
    watchdog(async {
        let (cache, ns, mut conn) = cache("heal-evict").await;
        let (v, t, g) = (data_key(&ns, "v"), data_key(&ns, "t"), data_key(&ns, "g"));
        plant(&mut conn, &v, &value_bytes(5, b"{}"));
        plant(&mut conn, &t, &tombstone_bytes(5));
        plant(&mut conn, &g, b"not forze's");
        for key in ["v", "t", "g"] {
            cache.evict(key, 4, SHORT).await.expect("evict");
        }
        assert_bounded(&mut conn, &v, SHORT_MS, "evict on a value at another rev");
        assert_bounded(&mut conn, &t, SHORT_MS, "evict on a tombstone");
        assert_bounded(&mut conn, &g, SHORT_MS, "evict on foreign bytes");
        assert_eq!(
            cache.lookup("v", None).await.expect("lookup"),
            Lookup::Value(CacheEntry::new(5, b"{}".to_vec())),
            "the value itself stays"
        );
        // Evicting the value at its rev leaves its tombstone, with the evict's ttl.
        cache.evict("v", 5, SHORT).await.expect("evict");
        assert_eq!(
            cache.lookup("v", None).await.expect("lookup"),
            Lookup::Tombstone(5)
        );
        assert_bounded(&mut conn, &v, SHORT_MS, "evict at the value's rev");
    })
    .await;
}

#[tokio::test]
async fn sliding_reads_give_keys_without_expiry_the_window() {
    watchdog(async {
        let (cache, ns, mut conn) = cache("heal-slide").await;
        let window = Duration::from_millis(2_000);
        // A value with a live idle key, both without expiry: a hit, both bounded by the window.
        let (hit, hit_idle) = (data_key(&ns, "hit"), idle_key(&ns, "hit"));
        plant(&mut conn, &hit, &value_bytes(2, b"{}"));
        plant(&mut conn, &hit_idle, b"1");
        // A value whose idle key is gone: becomes a tombstone, bounded.
        let idle_gone = data_key(&ns, "idle-gone");
        plant(&mut conn, &idle_gone, &value_bytes(3, b"{}"));
        // A tombstone without expiry.
        let tomb = data_key(&ns, "tomb");
        plant(&mut conn, &tomb, &tombstone_bytes(4));
        let keys = ["hit", "idle-gone", "tomb", "nothing"].map(str::to_owned);
        let found = cache
            .lookup_many(&keys, Some(window))
            .await
            .expect("lookup_many");
        assert_eq!(
            found,
            [
                Lookup::Value(CacheEntry::new(2, b"{}".to_vec())),
                Lookup::Tombstone(3),
                Lookup::Tombstone(4),
                Lookup::Absent,
            ]
        );
        for (key, why) in [
            (&hit, "the value of a hit"),
            (&hit_idle, "the idle key of a hit"),
            (&idle_gone, "an idle value turned tombstone"),
            (&tomb, "a tombstone"),
        ] {
            assert_bounded(&mut conn, key, 2_000, why);
        }
        // The single-key form.
        let one = data_key(&ns, "one");
        plant(&mut conn, &one, &value_bytes(6, b"{}"));
        assert_eq!(
            cache.lookup("one", Some(window)).await.expect("lookup"),
            Lookup::Tombstone(6)
        );
        assert_bounded(&mut conn, &one, 2_000, "lookup with a window");
    })
    .await;
}
