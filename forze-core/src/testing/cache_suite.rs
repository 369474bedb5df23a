//! The `Cache` conformance suite: the versioned CAS / tombstone table, TTLs, batches.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use crate::cache::{Cache, CacheEntry, CacheFill, Invalidation, Lookup, TOMBSTONE_DELETED};

const LONG: Duration = Duration::from_secs(600);

fn key() -> String {
    Uuid::now_v7().to_string()
}

fn fill(key: &str, rev: i64) -> CacheFill {
    CacheFill::new(key, rev, payload(rev), LONG)
}

fn payload(rev: i64) -> Vec<u8> {
    format!("{{\"rev\":{rev}}}").into_bytes()
}

async fn rev_of(cache: &dyn Cache, key: &str) -> Option<i64> {
    cache.get(key).await.expect("get").map(|e| e.rev)
}

/// The [`Cache`] contract (see [`crate::cache`]) on caches made by `make_cache` (called once per
/// case; each call should return an empty cache, e.g. a fresh key namespace).
///
/// `advance(d)` must let at least `d` pass for the cache's TTLs: `tokio::time::sleep` for a
/// networked cache, [`MockClock::advance`](crate::clock::MockClock::advance) for one on a mock
/// clock. The TTL case fills with 300 ms lifetimes, advances 1 s, and checks that values and
/// tombstones with 10 min lifetimes survive.
///
/// Checked: every cell of the table (fill / invalidate / evict / get on nothing, a value, a
/// tombstone); a delete tombstone ([`TOMBSTONE_DELETED`]) refuses every fill; payloads come back
/// byte for byte; `get_many` answers in order with misses in place; `fill_many` answers one flag
/// per fill in order and applies the CAS to each; TTL expiry of values and tombstones;
/// [`Cache::lookup`] and [`Cache::lookup_many`] report a value, a tombstone with its rev (from an
/// invalidation, a delete, an eviction, and a sliding value idle past its window, which the
/// sliding lookup turns into one) or nothing, in order, plain and sliding. The sliding case fills
/// with a 300 ms window and advances 1 s.
///
/// # Panics
///
/// On the first broken rule. Run it under a watchdog.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use forze_core::clock::MockClock;
/// use forze_core::memory::MemoryCache;
/// use forze_core::testing::{cache_conformance, watchdog};
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let clock = MockClock::new();
/// let c = clock.clone();
/// watchdog(cache_conformance(
///     move || Arc::new(MemoryCache::with_clock(Arc::new(clock.clone()))),
///     move |d| { c.advance(d); async {} },
/// ))
/// .await;
/// # });
/// ```
pub async fn cache_conformance<M, A, Fut>(make_cache: M, advance: A)
where
    M: Fn() -> Arc<dyn Cache>,
    A: Fn(Duration) -> Fut,
    Fut: Future<Output = ()>,
{
    fill_cells(&*make_cache()).await;
    invalidate_cells(&*make_cache()).await;
    evict_cells(&*make_cache()).await;
    batches(&*make_cache()).await;
    lookups(&*make_cache()).await;
    sliding_lookups(&*make_cache(), &advance).await;
    ttls(&*make_cache(), advance).await;
}

async fn lookup(cache: &dyn Cache, key: &str, sliding: Option<Duration>) -> Lookup {
    cache.lookup(key, sliding).await.expect("lookup")
}

async fn lookups(cache: &dyn Cache) {
    let window = Some(LONG);
    for sliding in [None, window] {
        let absent = key();
        assert_eq!(
            lookup(cache, &absent, sliding).await,
            Lookup::Absent,
            "lookup on nothing ({sliding:?})"
        );
    }

    let v = key();
    cache
        .fill(fill(&v, 2).with_sliding(LONG))
        .await
        .expect("fill");
    for sliding in [None, window] {
        assert_eq!(
            lookup(cache, &v, sliding).await,
            Lookup::Value(CacheEntry::new(2, payload(2))),
            "lookup on a value ({sliding:?})"
        );
    }

    // Tombstones from invalidations: the rev written, or the value's if higher.
    let t = key();
    cache
        .invalidate_many(&[Invalidation::new(&t, 5, LONG)])
        .await
        .expect("invalidate");
    let above = key();
    cache.fill(fill(&above, 7)).await.expect("fill");
    cache
        .invalidate_many(&[Invalidation::new(&above, 3, LONG)])
        .await
        .expect("invalidate");
    let deleted = key();
    cache.fill(fill(&deleted, 1)).await.expect("fill");
    cache
        .invalidate_many(&[Invalidation::new(&deleted, TOMBSTONE_DELETED, LONG)])
        .await
        .expect("invalidate");
    // A tombstone from an eviction.
    let evicted = key();
    cache.fill(fill(&evicted, 3)).await.expect("fill");
    cache.evict(&evicted, 3, LONG).await.expect("evict");
    for sliding in [None, window] {
        assert_eq!(
            lookup(cache, &t, sliding).await,
            Lookup::Tombstone(5),
            "lookup on an invalidated key ({sliding:?})"
        );
        assert_eq!(
            lookup(cache, &above, sliding).await,
            Lookup::Tombstone(7),
            "an invalidation below the value keeps the value's rev ({sliding:?})"
        );
        assert_eq!(
            lookup(cache, &deleted, sliding).await,
            Lookup::Tombstone(TOMBSTONE_DELETED),
            "lookup on a deleted key ({sliding:?})"
        );
        assert_eq!(
            lookup(cache, &evicted, sliding).await,
            Lookup::Tombstone(3),
            "lookup on an evicted key ({sliding:?})"
        );
    }
    assert_eq!(
        rev_of(cache, &t).await,
        None,
        "get still misses a tombstone"
    );

    // Batches, in order, duplicates included.
    let keys = [v.clone(), t.clone(), key(), evicted.clone(), v.clone()];
    for sliding in [None, window] {
        let found = cache
            .lookup_many(&keys, sliding)
            .await
            .expect("lookup_many");
        assert_eq!(
            found,
            [
                Lookup::Value(CacheEntry::new(2, payload(2))),
                Lookup::Tombstone(5),
                Lookup::Absent,
                Lookup::Tombstone(3),
                Lookup::Value(CacheEntry::new(2, payload(2))),
            ],
            "lookup_many answers in order ({sliding:?})"
        );
        assert!(
            cache
                .lookup_many(&[], sliding)
                .await
                .expect("lookup_many")
                .is_empty()
        );
    }
}

async fn sliding_lookups<A, Fut>(cache: &dyn Cache, advance: &A)
where
    A: Fn(Duration) -> Fut,
    Fut: Future<Output = ()>,
{
    let window = Duration::from_millis(300);
    let (one, many) = (key(), key());
    for k in [&one, &many] {
        cache
            .fill(fill(k, 4).with_sliding(window))
            .await
            .expect("fill");
    }
    assert_eq!(
        lookup(cache, &one, Some(window)).await,
        Lookup::Value(CacheEntry::new(4, payload(4))),
        "a sliding lookup within the window hits"
    );
    advance(Duration::from_secs(1)).await;
    assert_eq!(
        lookup(cache, &one, Some(window)).await,
        Lookup::Tombstone(4),
        "a value idle past its window is reported as a tombstone at its rev"
    );
    assert_eq!(
        cache
            .lookup_many(&[many.clone(), key()], Some(window))
            .await
            .expect("lookup_many"),
        [Lookup::Tombstone(4), Lookup::Absent],
        "the same in a batch"
    );
    for k in [&one, &many] {
        assert_eq!(
            lookup(cache, k, None).await,
            Lookup::Tombstone(4),
            "the idle value became a tombstone"
        );
    }
    assert!(
        !cache.fill(fill(&one, 3)).await.expect("fill"),
        "the tombstone keeps the value's rev"
    );
    assert!(
        cache
            .fill(fill(&one, 4).with_sliding(window))
            .await
            .expect("fill"),
        "a fill at the value's rev repairs it"
    );
}

async fn fill_cells(cache: &dyn Cache) {
    let k = key();
    assert_eq!(rev_of(cache, &k).await, None, "get on nothing misses");
    assert!(
        cache.fill(fill(&k, 2)).await.expect("fill"),
        "fill on nothing installs"
    );
    let entry = cache.get(&k).await.expect("get").expect("hit after fill");
    assert_eq!(
        entry,
        CacheEntry::new(2, payload(2)),
        "get returns rev and payload exactly"
    );
    assert!(
        !cache.fill(fill(&k, 1)).await.expect("fill"),
        "fill below the value is rejected"
    );
    assert!(
        !cache.fill(fill(&k, 2)).await.expect("fill"),
        "fill at the value's rev is rejected"
    );
    assert_eq!(rev_of(cache, &k).await, Some(2));
    assert!(
        cache.fill(fill(&k, 3)).await.expect("fill"),
        "fill above the value installs"
    );
    assert_eq!(rev_of(cache, &k).await, Some(3));

    // Arbitrary bytes survive.
    let raw = key();
    let bytes: Vec<u8> = (0..=255u8).collect();
    assert!(
        cache
            .fill(CacheFill::new(&raw, 1, bytes.clone(), LONG))
            .await
            .expect("fill")
    );
    assert_eq!(
        cache.get(&raw).await.expect("get").map(|e| e.payload),
        Some(bytes)
    );

    // On a tombstone: install iff r >= t.
    let t = key();
    cache
        .invalidate_many(&[Invalidation::new(&t, 5, LONG)])
        .await
        .expect("invalidate");
    assert_eq!(rev_of(cache, &t).await, None, "a tombstone is a miss");
    assert!(
        !cache.fill(fill(&t, 4)).await.expect("fill"),
        "fill below the tombstone is rejected"
    );
    assert_eq!(rev_of(cache, &t).await, None);
    assert!(
        cache.fill(fill(&t, 5)).await.expect("fill"),
        "fill at the tombstone's rev installs"
    );
    assert_eq!(rev_of(cache, &t).await, Some(5));

    // A delete tombstone refuses everything.
    let d = key();
    cache.fill(fill(&d, 3)).await.expect("fill");
    cache
        .invalidate_many(&[Invalidation::new(&d, TOMBSTONE_DELETED, LONG)])
        .await
        .expect("invalidate");
    assert!(
        !cache.fill(fill(&d, 1_000_000)).await.expect("fill"),
        "nothing refills a deleted id"
    );
    assert_eq!(rev_of(cache, &d).await, None);
}

async fn invalidate_cells(cache: &dyn Cache) {
    // On a value: tombstone max(v, t').
    let k = key();
    cache.fill(fill(&k, 4)).await.expect("fill");
    cache
        .invalidate_many(&[Invalidation::new(&k, 2, LONG)])
        .await
        .expect("invalidate");
    assert_eq!(rev_of(cache, &k).await, None, "invalidate drops the value");
    assert!(
        !cache.fill(fill(&k, 3)).await.expect("fill"),
        "the tombstone keeps the value's rev 4"
    );
    assert!(cache.fill(fill(&k, 4)).await.expect("fill"));

    // On a tombstone: max(t, t').
    let t = key();
    cache
        .invalidate_many(&[Invalidation::new(&t, 7, LONG)])
        .await
        .expect("invalidate");
    cache
        .invalidate_many(&[Invalidation::new(&t, 3, LONG)])
        .await
        .expect("invalidate");
    assert!(
        !cache.fill(fill(&t, 6)).await.expect("fill"),
        "a lower tombstone does not lower it"
    );
    assert!(cache.fill(fill(&t, 7)).await.expect("fill"));

    // Several keys in one call.
    let (a, b) = (key(), key());
    cache.fill(fill(&a, 1)).await.expect("fill");
    cache.fill(fill(&b, 1)).await.expect("fill");
    cache
        .invalidate_many(&[
            Invalidation::new(&a, 2, LONG),
            Invalidation::new(&b, 2, LONG),
        ])
        .await
        .expect("invalidate");
    assert_eq!(rev_of(cache, &a).await, None);
    assert_eq!(rev_of(cache, &b).await, None);
    cache
        .invalidate_many(&[])
        .await
        .expect("empty invalidate is fine");
}

async fn evict_cells(cache: &dyn Cache) {
    let k = key();
    cache.fill(fill(&k, 3)).await.expect("fill");
    cache.evict(&k, 2, LONG).await.expect("evict");
    assert_eq!(
        rev_of(cache, &k).await,
        Some(3),
        "evict at another rev does nothing"
    );
    cache.evict(&k, 3, LONG).await.expect("evict");
    assert_eq!(
        rev_of(cache, &k).await,
        None,
        "evict at the value's rev drops it"
    );
    assert!(
        !cache.fill(fill(&k, 2)).await.expect("fill"),
        "evict leaves tombstone 3"
    );
    assert!(
        cache.fill(fill(&k, 3)).await.expect("fill"),
        "a fill at the evicted rev repairs it"
    );

    let n = key();
    cache.evict(&n, 1, LONG).await.expect("evict on nothing");
    assert!(
        cache.fill(fill(&n, 1)).await.expect("fill"),
        "evict on nothing leaves nothing"
    );

    let t = key();
    cache
        .invalidate_many(&[Invalidation::new(&t, 5, LONG)])
        .await
        .expect("invalidate");
    cache
        .evict(&t, 9, LONG)
        .await
        .expect("evict on a tombstone");
    assert!(
        cache.fill(fill(&t, 5)).await.expect("fill"),
        "evict on a tombstone does nothing"
    );
}

async fn batches(cache: &dyn Cache) {
    let (a, b, c) = (key(), key(), key());
    cache.fill(fill(&b, 9)).await.expect("fill");
    let flags = cache
        .fill_many(vec![fill(&a, 1), fill(&b, 3), fill(&c, 2)])
        .await
        .expect("fill_many");
    assert_eq!(
        flags,
        [true, false, true],
        "one CAS flag per fill, in order"
    );
    let got = cache
        .get_many(&[c.clone(), key(), a.clone(), b.clone(), a.clone()])
        .await
        .expect("get_many");
    let revs: Vec<Option<i64>> = got.iter().map(|e| e.as_ref().map(|e| e.rev)).collect();
    assert_eq!(
        revs,
        [Some(2), None, Some(1), Some(9), Some(1)],
        "get_many answers in order"
    );
    assert_eq!(got[0].as_ref().map(|e| &e.payload), Some(&payload(2)));
    assert!(cache.get_many(&[]).await.expect("get_many").is_empty());
    assert!(
        cache
            .fill_many(Vec::new())
            .await
            .expect("fill_many")
            .is_empty()
    );
}

async fn ttls<A, Fut>(cache: &dyn Cache, advance: A)
where
    A: Fn(Duration) -> Fut,
    Fut: Future<Output = ()>,
{
    let short = Duration::from_millis(300);
    let (value, tomb, kept, kept_tomb, renewed) = (key(), key(), key(), key(), key());
    cache
        .fill(CacheFill::new(&value, 1, payload(1), short))
        .await
        .expect("fill");
    cache
        .invalidate_many(&[
            Invalidation::new(&tomb, 5, short),
            Invalidation::new(&kept_tomb, 5, LONG),
        ])
        .await
        .expect("invalidate");
    cache.fill(fill(&kept, 1)).await.expect("fill");
    // A second invalidation with a shorter ttl does not shorten a tombstone's life.
    for ttl in [LONG, short] {
        cache
            .invalidate_many(&[Invalidation::new(&renewed, 5, ttl)])
            .await
            .expect("invalidate");
    }
    advance(Duration::from_secs(1)).await;
    assert_eq!(
        rev_of(cache, &value).await,
        None,
        "a value expires after its ttl"
    );
    assert!(
        cache.fill(fill(&tomb, 1)).await.expect("fill"),
        "an expired tombstone no longer rejects fills"
    );
    assert!(
        !cache.fill(fill(&kept_tomb, 1)).await.expect("fill"),
        "a live tombstone still rejects fills"
    );
    assert_eq!(
        rev_of(cache, &kept).await,
        Some(1),
        "a value within its ttl stays"
    );
    assert!(
        !cache.fill(fill(&renewed, 1)).await.expect("fill"),
        "invalidating a live tombstone keeps the longer of its remaining life and the new ttl"
    );
}
