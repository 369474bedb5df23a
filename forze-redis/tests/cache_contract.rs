//! The versioned compare-and-set contract of `forze_core::cache` on a real Redis, cell by cell.
//!
//! Needs `FORZE_TEST_REDIS_URL`; every test works under its own namespace.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{WATCHDOG, data_key, raw, redis_url, shared_cache, unique_namespace};
use forze_core::cache::{Cache, CacheEntry, CacheFill, Invalidation, TOMBSTONE_DELETED};
use forze_redis::{RedisCache, RedisCacheConfig};
use redis::Commands;

const TTL: Duration = Duration::from_secs(60);

fn payload(rev: i64) -> Vec<u8> {
    format!(r#"{{"rev":{rev},"name":"widget"}}"#).into_bytes()
}

async fn fill(cache: &RedisCache, key: &str, rev: i64) -> bool {
    cache
        .fill(CacheFill::new(key, rev, payload(rev), TTL))
        .await
        .expect("fill")
}

async fn invalidate(cache: &RedisCache, key: &str, rev: i64) {
    cache
        .invalidate_many(&[Invalidation::new(key, rev, TTL)])
        .await
        .expect("invalidate");
}

async fn get(cache: &RedisCache, key: &str) -> Option<CacheEntry> {
    cache.get(key).await.expect("get")
}

async fn rev_of(cache: &RedisCache, key: &str) -> Option<i64> {
    get(cache, key).await.map(|e| e.rev)
}

/// The key holds a tombstone at exactly `t` (probing with fills, which repairs nothing below
/// `t` and installs at `t`): checked on a throwaway copy of the state is impossible, so this
/// leaves the key at value `t`.
async fn assert_tombstone_exactly(cache: &RedisCache, key: &str, t: i64) {
    assert_eq!(
        rev_of(cache, key).await,
        None,
        "a tombstone reads as a miss"
    );
    assert!(
        !fill(cache, key, t - 1).await,
        "fill below tombstone {t} must be rejected"
    );
    assert!(
        fill(cache, key, t).await,
        "fill at tombstone {t} must install"
    );
    assert_eq!(rev_of(cache, key).await, Some(t));
}

// ---- get ------------------------------------------------------------------------------------

#[tokio::test]
async fn get_on_nothing_is_a_miss() {
    let (cache, _) = shared_cache("get_nothing").await;
    assert_eq!(get(&cache, "absent").await, None);
}

#[tokio::test]
async fn get_on_value_returns_rev_and_exact_payload() {
    let (cache, _) = shared_cache("get_value").await;
    // Binary, and ending in bytes that look like a trailer: the payload is returned verbatim.
    let mut tricky = vec![0u8, 159, 146, 150, b'\n'];
    tricky.extend_from_slice(b"v8000000000000009");
    for (key, bytes) in [
        ("json", payload(3)),
        ("tricky", tricky),
        ("empty", Vec::new()),
    ] {
        assert!(
            cache
                .fill(CacheFill::new(key, 3, bytes.clone(), TTL))
                .await
                .expect("fill")
        );
        let entry = get(&cache, key).await.expect("hit");
        assert_eq!(entry.rev, 3);
        assert_eq!(entry.payload, bytes, "{key}");
    }
}

#[tokio::test]
async fn get_on_tombstone_is_a_miss() {
    let (cache, _) = shared_cache("get_tombstone").await;
    assert!(fill(&cache, "k", 1).await);
    invalidate(&cache, "k", 2).await;
    assert_eq!(get(&cache, "k").await, None);
}

// ---- fill -----------------------------------------------------------------------------------

#[tokio::test]
async fn fill_on_nothing_installs() {
    let (cache, _) = shared_cache("fill_nothing").await;
    assert!(fill(&cache, "k", 5).await);
    assert_eq!(rev_of(&cache, "k").await, Some(5));
    // Any rev installs on nothing, including the smallest.
    assert!(fill(&cache, "low", i64::MIN).await);
    assert_eq!(rev_of(&cache, "low").await, Some(i64::MIN));
}

#[tokio::test]
async fn fill_on_value_installs_only_a_higher_rev() {
    let (cache, _) = shared_cache("fill_value").await;
    assert!(fill(&cache, "k", 5).await);
    assert!(!fill(&cache, "k", 4).await, "lower rev rejected");
    assert!(!fill(&cache, "k", 5).await, "equal rev rejected");
    assert_eq!(get(&cache, "k").await, Some(CacheEntry::new(5, payload(5))));
    assert!(fill(&cache, "k", 6).await, "higher rev installed");
    assert_eq!(get(&cache, "k").await, Some(CacheEntry::new(6, payload(6))));
    // Revs beyond 2^53 compare exactly (Lua numbers are doubles).
    let big = (1i64 << 53) + 1;
    assert!(fill(&cache, "big", big).await);
    assert!(!fill(&cache, "big", big - 1).await);
    assert!(fill(&cache, "big", big + 1).await);
    assert_eq!(rev_of(&cache, "big").await, Some(big + 1));
}

#[tokio::test]
async fn fill_on_tombstone_installs_an_equal_or_higher_rev() {
    let (cache, _) = shared_cache("fill_tombstone").await;
    invalidate(&cache, "k", 5).await;
    assert!(!fill(&cache, "k", 4).await, "lower rev rejected");
    assert_eq!(get(&cache, "k").await, None);
    assert!(fill(&cache, "k", 5).await, "equal rev installed");
    assert_eq!(rev_of(&cache, "k").await, Some(5));

    invalidate(&cache, "k2", 5).await;
    assert!(fill(&cache, "k2", 9).await, "higher rev installed");
    assert_eq!(rev_of(&cache, "k2").await, Some(9));
}

// ---- invalidate -----------------------------------------------------------------------------

#[tokio::test]
async fn invalidate_on_nothing_writes_the_tombstone() {
    let (cache, _) = shared_cache("inv_nothing").await;
    invalidate(&cache, "k", 7).await;
    assert_tombstone_exactly(&cache, "k", 7).await;
}

#[tokio::test]
async fn invalidate_on_value_writes_the_max_of_both_revs() {
    let (cache, _) = shared_cache("inv_value").await;
    // t' > v: tombstone t'.
    assert!(fill(&cache, "a", 3).await);
    invalidate(&cache, "a", 7).await;
    assert_tombstone_exactly(&cache, "a", 7).await;
    // t' < v: tombstone v (a tombstone at t' = 2 would accept the fill at 4).
    assert!(fill(&cache, "b", 5).await);
    invalidate(&cache, "b", 2).await;
    assert_tombstone_exactly(&cache, "b", 5).await;
    // t' == v.
    assert!(fill(&cache, "c", 5).await);
    invalidate(&cache, "c", 5).await;
    assert_tombstone_exactly(&cache, "c", 5).await;
}

#[tokio::test]
async fn invalidate_on_tombstone_keeps_the_max() {
    let (cache, _) = shared_cache("inv_tombstone").await;
    invalidate(&cache, "a", 5).await;
    invalidate(&cache, "a", 3).await;
    assert_tombstone_exactly(&cache, "a", 5).await;

    invalidate(&cache, "b", 3).await;
    invalidate(&cache, "b", 5).await;
    assert_tombstone_exactly(&cache, "b", 5).await;
}

#[tokio::test]
async fn invalidate_many_is_one_batch_of_independent_keys() {
    let (cache, _) = shared_cache("inv_many").await;
    assert!(fill(&cache, "a", 1).await);
    assert!(fill(&cache, "b", 9).await);
    let batch = [
        Invalidation::new("a", 2, TTL),
        Invalidation::new("b", 4, TTL),
        Invalidation::new("c", 6, TTL),
    ];
    cache.invalidate_many(&batch).await.expect("invalidate");
    assert_tombstone_exactly(&cache, "a", 2).await;
    assert_tombstone_exactly(&cache, "b", 9).await;
    assert_tombstone_exactly(&cache, "c", 6).await;
    cache.invalidate_many(&[]).await.expect("empty batch");
}

// ---- evict ----------------------------------------------------------------------------------

#[tokio::test]
async fn evict_on_nothing_does_nothing() {
    let (cache, _) = shared_cache("evict_nothing").await;
    cache.evict("k", 5, TTL).await.expect("evict");
    assert_eq!(get(&cache, "k").await, None);
    assert!(fill(&cache, "k", 1).await, "no tombstone was written");
}

#[tokio::test]
async fn evict_on_value_at_that_rev_leaves_its_tombstone() {
    let (cache, _) = shared_cache("evict_value").await;
    assert!(fill(&cache, "k", 5).await);
    cache.evict("k", 5, TTL).await.expect("evict");
    assert_tombstone_exactly(&cache, "k", 5).await;
}

#[tokio::test]
async fn evict_on_value_at_another_rev_does_nothing() {
    let (cache, _) = shared_cache("evict_other").await;
    assert!(fill(&cache, "k", 5).await);
    cache.evict("k", 4, TTL).await.expect("evict lower");
    cache.evict("k", 6, TTL).await.expect("evict higher");
    assert_eq!(get(&cache, "k").await, Some(CacheEntry::new(5, payload(5))));
}

#[tokio::test]
async fn evict_on_tombstone_does_nothing() {
    let (cache, _) = shared_cache("evict_tombstone").await;
    invalidate(&cache, "k", 5).await;
    cache.evict("k", 5, TTL).await.expect("evict");
    cache.evict("k", 9, TTL).await.expect("evict higher");
    assert_tombstone_exactly(&cache, "k", 5).await;
}

// ---- batches --------------------------------------------------------------------------------

#[tokio::test]
async fn get_many_returns_entries_in_request_order() {
    let (cache, _) = shared_cache("get_many").await;
    assert!(fill(&cache, "a", 1).await);
    assert!(fill(&cache, "b", 2).await);
    assert!(fill(&cache, "t", 3).await);
    invalidate(&cache, "t", 4).await;
    let keys: Vec<String> = ["b", "missing", "a", "t", "b"].map(String::from).to_vec();
    let got = cache.get_many(&keys).await.expect("get_many");
    assert_eq!(
        got,
        vec![
            Some(CacheEntry::new(2, payload(2))),
            None,
            Some(CacheEntry::new(1, payload(1))),
            None,
            Some(CacheEntry::new(2, payload(2))),
        ]
    );
    assert_eq!(cache.get_many(&[]).await.expect("empty"), Vec::new());
}

#[tokio::test]
async fn fill_many_flags_each_fill_in_order() {
    let (cache, _) = shared_cache("fill_many").await;
    assert!(fill(&cache, "held", 5).await);
    invalidate(&cache, "dead", TOMBSTONE_DELETED).await;
    let fills = vec![
        CacheFill::new("new", 1, payload(1), TTL),
        CacheFill::new("held", 4, payload(4), TTL),
        CacheFill::new("dead", 100, payload(100), TTL),
        CacheFill::new("held", 6, payload(6), TTL),
        // Same key twice in one batch: applied in order.
        CacheFill::new("dup", 2, payload(2), TTL),
        CacheFill::new("dup", 1, payload(1), TTL),
    ];
    let flags = cache.fill_many(fills).await.expect("fill_many");
    assert_eq!(flags, vec![true, false, false, true, true, false]);
    assert_eq!(rev_of(&cache, "new").await, Some(1));
    assert_eq!(rev_of(&cache, "held").await, Some(6));
    assert_eq!(rev_of(&cache, "dead").await, None);
    assert_eq!(rev_of(&cache, "dup").await, Some(2));
    assert_eq!(
        cache.fill_many(Vec::new()).await.expect("empty"),
        Vec::<bool>::new()
    );
}

// ---- the stale-set race and friends ---------------------------------------------------------

#[tokio::test]
async fn late_fill_of_an_old_rev_after_invalidation_is_rejected() {
    let (cache, _) = shared_cache("stale_set").await;
    // The reader fetched rev 1 from the store and stalls; the writer commits rev 2 and
    // invalidates; the reader's late fill must not install rev 1.
    invalidate(&cache, "doc", 2).await;
    assert!(!fill(&cache, "doc", 1).await, "stale fill installed");
    assert_eq!(get(&cache, "doc").await, None, "miss, never rev 1");
    // The next reader fetches rev 2 and fills it.
    assert!(fill(&cache, "doc", 2).await);
    assert_eq!(rev_of(&cache, "doc").await, Some(2));

    // Same race with a value already cached at rev 1 before the write.
    assert!(fill(&cache, "doc2", 1).await);
    invalidate(&cache, "doc2", 2).await;
    assert!(!fill(&cache, "doc2", 1).await);
    assert_eq!(get(&cache, "doc2").await, None);
}

#[tokio::test]
async fn out_of_order_fills_never_lower_the_rev() {
    let (cache, _) = shared_cache("out_of_order").await;
    assert!(fill(&cache, "k", 3).await);
    assert!(!fill(&cache, "k", 2).await);
    assert!(!fill(&cache, "k", 1).await);
    assert_eq!(rev_of(&cache, "k").await, Some(3));

    // Concurrent fills of revs 1..=40 in a scrambled order, many per rev: the result is the max.
    let cache = Arc::new(cache);
    let mut revs: Vec<i64> = (1..=40).flat_map(|r| [r, r, r]).collect();
    revs.reverse();
    revs.rotate_left(17);
    let tasks: Vec<_> = revs
        .into_iter()
        .map(|rev| {
            let cache = Arc::clone(&cache);
            tokio::spawn(async move { fill(&cache, "race", rev).await })
        })
        .collect();
    let installed = tokio::time::timeout(WATCHDOG, async {
        let mut installed = 0;
        for task in tasks {
            installed += usize::from(task.await.expect("task"));
        }
        installed
    })
    .await
    .expect("concurrent fills hung");
    assert!(installed >= 1);
    assert_eq!(rev_of(&cache, "race").await, Some(40));
}

#[tokio::test]
async fn delete_tombstone_blocks_resurrection() {
    let (cache, _) = shared_cache("delete").await;
    assert!(fill(&cache, "doc", 4).await);
    invalidate(&cache, "doc", TOMBSTONE_DELETED).await;
    for rev in [1, 4, 5, 1 << 40, TOMBSTONE_DELETED - 1] {
        assert!(
            !fill(&cache, "doc", rev).await,
            "rev {rev} resurrected a deleted document"
        );
    }
    // A later ordinary invalidation does not lower it either.
    invalidate(&cache, "doc", 9).await;
    assert!(!fill(&cache, "doc", 10).await);
    assert_eq!(get(&cache, "doc").await, None);
}

// ---- TTLs -----------------------------------------------------------------------------------

async fn poll_until<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    tokio::time::timeout(WATCHDOG, async {
        while !f().await {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("watchdog: {what}"));
}

#[tokio::test]
async fn values_expire_after_their_ttl() {
    let (cache, _) = shared_cache("ttl_value").await;
    let fill = CacheFill::new("k", 1, payload(1), Duration::from_millis(60));
    assert!(cache.fill(fill).await.expect("fill"));
    poll_until("value did not expire", || async {
        get(&cache, "k").await.is_none()
    })
    .await;
    // Expired means nothing: any rev installs again.
    assert!(
        cache
            .fill(CacheFill::new("k", 1, payload(1), TTL))
            .await
            .expect("fill")
    );
}

#[tokio::test]
async fn tombstones_expire_after_their_ttl() {
    let (cache, _) = shared_cache("ttl_tombstone").await;
    cache
        .invalidate_many(&[Invalidation::new("k", 9, Duration::from_millis(60))])
        .await
        .expect("invalidate");
    assert!(!fill(&cache, "k", 1).await);
    poll_until("tombstone did not expire", || async {
        cache
            .fill(CacheFill::new("k", 1, payload(1), TTL))
            .await
            .expect("fill")
    })
    .await;
    assert_eq!(rev_of(&cache, "k").await, Some(1));
}

#[tokio::test]
async fn ttls_are_milliseconds_not_rounded_to_seconds() {
    let (cache, namespace) = shared_cache("ttl_ms").await;
    let mut conn = raw(&redis_url());
    for (key, ttl_ms) in [("a", 250u64), ("b", 1500)] {
        let fill = CacheFill::new(key, 1, payload(1), Duration::from_millis(ttl_ms));
        assert!(cache.fill(fill).await.expect("fill"));
        let pttl: i64 = conn.pttl(data_key(&namespace, key)).expect("PTTL");
        // Whole-second rounding would give 1000 / 2000.
        assert!(pttl <= ttl_ms as i64, "{key}: PTTL {pttl} > {ttl_ms}");
        assert!(pttl > 0 || pttl == -2, "{key}: PTTL {pttl} (no expiry?)");
    }
    cache
        .invalidate_many(&[Invalidation::new("t", 3, Duration::from_millis(700))])
        .await
        .expect("invalidate");
    let pttl: i64 = conn.pttl(data_key(&namespace, "t")).expect("PTTL");
    assert!(
        pttl <= 700 && (pttl > 0 || pttl == -2),
        "tombstone PTTL {pttl}"
    );
}

#[tokio::test]
async fn a_tombstone_lifetime_never_shrinks() {
    let (cache, namespace) = shared_cache("ttl_grow").await;
    let mut conn = raw(&redis_url());
    cache
        .invalidate_many(&[Invalidation::new("k", 5, Duration::from_secs(600))])
        .await
        .expect("invalidate");
    cache
        .invalidate_many(&[Invalidation::new("k", 6, Duration::from_millis(50))])
        .await
        .expect("invalidate");
    let pttl: i64 = conn.pttl(data_key(&namespace, "k")).expect("PTTL");
    assert!(
        pttl > 60_000,
        "the short invalidation shortened the tombstone: {pttl}"
    );
    assert_tombstone_exactly(&cache, "k", 6).await;
}

// ---- layout ---------------------------------------------------------------------------------

/// CRC16/XMODEM of the hash tag, mod 16384 (the Redis Cluster key slot).
fn hash_slot(key: &[u8]) -> u16 {
    let tagged = match key.iter().position(|&b| b == b'{') {
        Some(open) => match key[open + 1..].iter().position(|&b| b == b'}') {
            Some(0) | None => key,
            Some(close) => &key[open + 1..open + 1 + close],
        },
        None => key,
    };
    let mut crc: u16 = 0;
    for &byte in tagged {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc % 16384
}

#[tokio::test]
async fn keys_follow_the_documented_layout_and_share_the_document_slot() {
    assert_eq!(hash_slot(b"123456789"), 12739, "CRC16 reference value");
    let (cache, namespace) = shared_cache("layout").await;
    let id = "0190f5a4-7e1c-7cc2-8a4e-6b1f0c2d3e4f";
    assert!(fill(&cache, id, 3).await);
    let key = data_key(&namespace, id);
    assert!(key.starts_with(cache.key_prefix()));
    let mut conn = raw(&redis_url());
    let stored: Vec<u8> = conn.get(&key).expect("raw GET");
    let mut expected = payload(3);
    expected.extend_from_slice(b"v8000000000000003");
    assert_eq!(stored, expected, "value layout `<payload>v<rev hex>`");
    // Every key of the document hashes by the id alone: one slot, whatever the namespace.
    assert_eq!(hash_slot(key.as_bytes()), hash_slot(id.as_bytes()));
    let other = unique_namespace("layout-other");
    assert_eq!(
        hash_slot(data_key(&other, id).as_bytes()),
        hash_slot(id.as_bytes())
    );

    invalidate(&cache, id, TOMBSTONE_DELETED).await;
    let stored: Vec<u8> = conn.get(&key).expect("raw GET");
    assert_eq!(
        stored, b"tffffffffffffffff",
        "tombstone layout `t<rev hex>`"
    );
}

#[tokio::test]
async fn namespaces_do_not_alias() {
    let client = common::connect(&redis_url()).await;
    let base = unique_namespace("alias");
    let ns_ab = format!("{base}:a:b");
    let ns_a = format!("{base}:a");
    let ab = RedisCache::new(
        client.clone(),
        RedisCacheConfig::namespace(ns_ab.clone()).expect("ns"),
    );
    let a = RedisCache::new(
        client,
        RedisCacheConfig::namespace(ns_a.clone()).expect("ns"),
    );
    // `a:b` + `c` versus `a` + `b:c`.
    assert!(fill(&ab, "c", 1).await);
    assert_eq!(get(&a, "b:c").await, None, "namespace `a` read `a:b`'s key");
    assert!(fill(&a, "b:c", 2).await);
    assert_eq!(rev_of(&ab, "c").await, Some(1));
    assert_eq!(rev_of(&a, "b:c").await, Some(2));
    assert_ne!(data_key(&ns_ab, "c"), data_key(&ns_a, "b:c"));
    // Neither prefix covers the other's keys (push invalidation tracks by prefix).
    assert!(!data_key(&ns_ab, "c").starts_with(a.key_prefix()));
    assert!(!data_key(&ns_a, "b:c").starts_with(ab.key_prefix()));
}

// ---- bytes forze did not write --------------------------------------------------------------

#[tokio::test]
async fn garbage_under_a_key_reads_as_a_miss_and_the_next_fill_repairs_it() {
    let (cache, namespace) = shared_cache("garbage").await;
    let mut conn = raw(&redis_url());
    let garbage: [&[u8]; 4] = [
        b"\xff\xfe not ours",
        b"",
        b"{\"json\":\"without a trailer\"}",
        b"xt8000000000000005",
    ];
    for (i, bytes) in garbage.into_iter().enumerate() {
        let key = format!("g{i}");
        let _: () = conn
            .set_ex(data_key(&namespace, &key), bytes, 60)
            .expect("raw SET");
        assert_eq!(get(&cache, &key).await, None, "garbage {i} is a miss");
        let many = cache
            .get_many(std::slice::from_ref(&key))
            .await
            .expect("get_many");
        assert_eq!(many, vec![None]);
        assert!(
            fill(&cache, &key, 1).await,
            "garbage {i} is repaired by any fill"
        );
        assert_eq!(rev_of(&cache, &key).await, Some(1));
    }

    // Another Redis type under the key: a miss for get and get_many, repaired by a fill.
    let key = data_key(&namespace, "hash");
    let _: () = conn.hset(&key, "f", "v").expect("raw HSET");
    assert_eq!(get(&cache, "hash").await, None);
    assert_eq!(
        cache
            .get_many(&["hash".to_owned()])
            .await
            .expect("get_many"),
        vec![None]
    );
    assert!(fill(&cache, "hash", 2).await);
    assert_eq!(rev_of(&cache, "hash").await, Some(2));
    let _: () = conn
        .hset(data_key(&namespace, "hash2"), "f", "v")
        .expect("raw HSET");
    invalidate(&cache, "hash2", 3).await;
    assert_tombstone_exactly(&cache, "hash2", 3).await;
}

#[tokio::test]
async fn an_undecodable_payload_is_evicted_by_the_coordinator_and_refilled() {
    let (cache, namespace) = shared_cache("undecodable").await;
    // A well-formed envelope whose payload the coordinator cannot decode (schema drift).
    let mut conn = raw(&redis_url());
    let mut stored = b"{\"old_schema\":true}".to_vec();
    stored.extend_from_slice(b"v8000000000000003");
    let _: () = conn
        .set_ex(data_key(&namespace, "doc"), stored, 60)
        .expect("raw SET");
    let entry = get(&cache, "doc")
        .await
        .expect("a hit the coordinator will fail to decode");
    assert_eq!(entry.rev, 3);
    cache.evict("doc", entry.rev, TTL).await.expect("evict");
    assert_eq!(get(&cache, "doc").await, None);
    assert!(!fill(&cache, "doc", 2).await);
    assert!(
        fill(&cache, "doc", 3).await,
        "a fill at the evicted rev repairs the key"
    );
    assert_eq!(
        get(&cache, "doc").await,
        Some(CacheEntry::new(3, payload(3)))
    );
}

#[tokio::test]
async fn works_as_a_shared_trait_object() {
    let (cache, _) = shared_cache("dyn").await;
    let cache: Arc<dyn Cache> = Arc::new(cache);
    assert!(
        cache
            .fill(CacheFill::new("k", 1, payload(1), TTL))
            .await
            .expect("fill")
    );
    assert_eq!(cache.get("k").await.expect("get").map(|e| e.rev), Some(1));
    let shown = format!("{cache:?}");
    assert!(shown.contains("RedisCache"), "{shown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_calls_leave_the_connection_in_sync() {
    let (cache, _) = shared_cache("cancel").await;
    let cache = Arc::new(cache);
    for i in 0..20 {
        assert!(fill(&cache, &format!("k{i}"), i + 1).await);
    }
    // Start many calls and drop most of them at once, mid-flight.
    tokio::time::timeout(WATCHDOG, async {
        for round in 0..20i64 {
            let mut calls = Vec::new();
            for i in 0..20i64 {
                let cache = Arc::clone(&cache);
                calls.push(tokio::spawn(async move {
                    let key = format!("k{i}");
                    if (i + round) % 3 == 0 {
                        let _ = cache
                            .fill(CacheFill::new(&key, 100 + round, payload(100 + round), TTL))
                            .await;
                    } else {
                        let _ = cache.get(&key).await;
                    }
                }));
            }
            tokio::task::yield_now().await;
            for (i, call) in calls.into_iter().enumerate() {
                if i % 4 != 0 {
                    call.abort();
                }
                let _ = call.await;
            }
        }
    })
    .await
    .expect("cancelled calls hung");
    // Every reply still reaches its own caller: each key reads its own payload.
    for i in 0..20i64 {
        let entry = get(&cache, &format!("k{i}")).await.expect("a value");
        assert_eq!(
            entry.payload,
            payload(entry.rev),
            "k{i} got another key's reply"
        );
        assert!(
            entry.rev == i + 1 || entry.rev >= 100,
            "k{i}: rev {}",
            entry.rev
        );
    }
}
