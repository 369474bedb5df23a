//! The in-box L1 stores: LRU against a reference model, W-TinyLFU admission and aging, TTL on a
//! mock clock, exact counters, and the capacity bound. No timing assertions.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use forze_core::L1StoreKind;
use forze_core::clock::{Clock, MockClock};
use forze_core::l1::{
    L1Config, L1Key, L1Stats, L1Store, L1Value, LruStore, TinyLfuStore, build_store,
};
use uuid::Uuid;

/// SplitMix64: a small seeded generator so every sequence is reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn key(n: u128) -> L1Key {
    L1Key::new(None, Uuid::from_u128(n))
}

fn tenant_key(tenant: u128, n: u128) -> L1Key {
    L1Key::new(Some(Uuid::from_u128(tenant)), Uuid::from_u128(n))
}

fn value_of(value: &L1Value) -> u64 {
    *value.downcast_ref::<u64>().expect("tests store u64 values")
}

fn config(capacity: usize, ttl: Duration, clock: &MockClock) -> L1Config {
    L1Config::new(capacity, ttl, Arc::new(clock.clone()))
}

/// hits, misses, evictions, rejections, invalidations, expirations
fn counters(s: L1Stats) -> [u64; 6] {
    [
        s.hits,
        s.misses,
        s.evictions,
        s.rejections,
        s.invalidations,
        s.expirations,
    ]
}

/// Read-through: a miss inserts.
fn read_through(store: &dyn L1Store, k: L1Key) -> bool {
    if store.get(&k).is_some() {
        return true;
    }
    store.insert(k, Arc::new(0u64));
    false
}

// ---------------------------------------------------------------------------------------------
// LRU against a reference model

/// The obvious LRU: a deque ordered most recently used first, scanned linearly.
struct ModelLru {
    capacity: usize,
    ttl: Duration,
    entries: VecDeque<(L1Key, u64, Instant)>,
    stats: L1Stats,
}

impl ModelLru {
    fn new(capacity: usize, ttl: Duration) -> Self {
        ModelLru {
            capacity,
            ttl,
            entries: VecDeque::new(),
            stats: L1Stats::default(),
        }
    }

    fn position(&self, k: &L1Key) -> Option<usize> {
        self.entries.iter().position(|(key, _, _)| key == k)
    }

    fn get(&mut self, k: &L1Key, now: Instant) -> Option<u64> {
        let Some(i) = self.position(k) else {
            self.stats.misses += 1;
            return None;
        };
        let entry = self.entries.remove(i).expect("position is in range");
        if now >= entry.2 {
            self.stats.expirations += 1;
            self.stats.misses += 1;
            return None;
        }
        self.stats.hits += 1;
        self.entries.push_front(entry);
        Some(entry.1)
    }

    fn insert(&mut self, k: L1Key, v: u64, now: Instant) {
        if self.capacity == 0 {
            return;
        }
        if let Some(i) = self.position(&k) {
            self.entries.remove(i);
        } else if self.entries.len() >= self.capacity {
            let (_, _, expires) = self.entries.pop_back().expect("a full store is not empty");
            if now >= expires {
                self.stats.expirations += 1;
            } else {
                self.stats.evictions += 1;
            }
        }
        self.entries.push_front((k, v, now + self.ttl));
    }

    fn remove(&mut self, k: &L1Key, now: Instant) -> bool {
        let Some(i) = self.position(k) else {
            return false;
        };
        let (_, _, expires) = self.entries.remove(i).expect("position is in range");
        let live = now < expires;
        if live {
            self.stats.invalidations += 1;
        } else {
            self.stats.expirations += 1;
        }
        live
    }

    fn clear(&mut self, now: Instant) {
        for (_, _, expires) in self.entries.drain(..) {
            if now < expires {
                self.stats.invalidations += 1;
            } else {
                self.stats.expirations += 1;
            }
        }
    }

    fn stats(&self) -> L1Stats {
        let mut stats = self.stats;
        stats.size = self.entries.len();
        stats.capacity = self.capacity;
        stats
    }
}

#[test]
fn lru_matches_the_reference_model_on_random_sequences() {
    let mut rng = Rng(0x1157);
    for sequence in 0..300 {
        let clock = MockClock::new();
        let capacity = rng.below(9) as usize; // 0..=8, including the degenerate 0 and 1
        let ttl = Duration::from_secs(1 + rng.below(10));
        let store = LruStore::new(&config(capacity, ttl, &clock));
        let mut model = ModelLru::new(capacity, ttl);
        let universe = 2 + rng.below(20);
        let mut next_value = 0u64;
        for step in 0..400 {
            let k = if rng.below(4) == 0 {
                tenant_key(u128::from(rng.below(2)), u128::from(rng.below(universe)))
            } else {
                key(u128::from(rng.below(universe)))
            };
            let now = clock.now();
            let what = match rng.below(100) {
                0..=44 => {
                    let got = store.get(&k).map(|v| value_of(&v));
                    assert_eq!(got, model.get(&k, now), "get {k:?}");
                    "get"
                }
                45..=79 => {
                    next_value += 1;
                    store.insert(k, Arc::new(next_value));
                    model.insert(k, next_value, now);
                    "insert"
                }
                80..=89 => {
                    assert_eq!(store.remove(&k), model.remove(&k, now), "remove {k:?}");
                    "remove"
                }
                90..=91 => {
                    store.clear();
                    model.clear(now);
                    "clear"
                }
                _ => {
                    clock.advance(Duration::from_millis(rng.below(3_000)));
                    "advance"
                }
            };
            assert_eq!(
                store.stats(),
                model.stats(),
                "sequence {sequence} step {step} after {what}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Properties of both stores

fn both(
    capacity: usize,
    ttl: Duration,
    clock: &MockClock,
) -> [(&'static str, Box<dyn L1Store>); 2] {
    let config = config(capacity, ttl, clock);
    [
        ("lru", Box::new(LruStore::new(&config))),
        ("tiny_lfu", Box::new(TinyLfuStore::new(&config))),
    ]
}

/// Never above capacity; a hit returns the value inserted last, never a removed, cleared or
/// expired one; a key just inserted is readable at once.
#[test]
fn both_stores_respect_capacity_and_never_serve_stale_values() {
    let mut rng = Rng(0xCAFE);
    for sequence in 0..120 {
        let clock = MockClock::new();
        let capacity = 2 + rng.below(40) as usize;
        let ttl = Duration::from_secs(5);
        let universe = capacity as u64 * (1 + rng.below(4));
        for (name, store) in both(capacity, ttl, &clock) {
            // key -> (latest value, expiry) of what the store may still hold
            let mut latest: HashMap<L1Key, (u64, Instant)> = HashMap::new();
            let mut next_value = 0u64;
            for step in 0..1_500 {
                let k = key(u128::from(rng.below(universe)));
                let now = clock.now();
                match rng.below(100) {
                    0..=54 => {
                        if let Some(v) = store.get(&k) {
                            let (expected, expires) = latest
                                .get(&k)
                                .copied()
                                .expect("a hit on a key never inserted");
                            assert_eq!(value_of(&v), expected, "{name}: stale value");
                            assert!(now < expires, "{name}: served after its ttl");
                        }
                    }
                    55..=89 => {
                        next_value += 1;
                        store.insert(k, Arc::new(next_value));
                        latest.insert(k, (next_value, now + ttl));
                        let got = store.get(&k).map(|v| value_of(&v));
                        assert_eq!(got, Some(next_value), "{name}: insert not readable");
                    }
                    90..=94 => {
                        store.remove(&k);
                        latest.remove(&k);
                        assert!(store.get(&k).is_none(), "{name}: removed key served");
                    }
                    95 => {
                        store.clear();
                        latest.clear();
                        assert_eq!(store.stats().size, 0);
                    }
                    _ => clock.advance(Duration::from_millis(rng.below(2_000))),
                }
                let stats = store.stats();
                assert!(
                    stats.size <= capacity,
                    "{name}: size {} over capacity {capacity} (sequence {sequence} step {step})",
                    stats.size
                );
                assert_eq!(stats.capacity, capacity);
            }
        }
    }
}

#[test]
fn both_stores_fill_to_exactly_capacity() {
    let clock = MockClock::new();
    for capacity in [2usize, 3, 10, 100, 512] {
        for (name, store) in both(capacity, Duration::from_secs(60), &clock) {
            for n in 0..(capacity as u128 * 3) {
                read_through(store.as_ref(), key(n));
            }
            assert_eq!(
                store.stats().size,
                capacity,
                "{name} at capacity {capacity}"
            );
        }
    }
}

#[test]
fn entries_expire_exactly_at_the_ttl_on_the_mock_clock() {
    let clock = MockClock::new();
    let ttl = Duration::from_secs(2);
    for (name, store) in both(16, ttl, &clock) {
        store.insert(key(1), Arc::new(1u64));
        clock.advance(ttl - Duration::from_nanos(1));
        assert!(
            store.get(&key(1)).is_some(),
            "{name}: alive just before the ttl"
        );
        clock.advance(Duration::from_nanos(1));
        assert!(store.get(&key(1)).is_none(), "{name}: gone at the ttl");
        let stats = store.stats();
        assert_eq!(
            (stats.hits, stats.misses, stats.expirations, stats.size),
            (1, 1, 1, 0),
            "{name}"
        );
        // A re-insert gets a fresh lifetime.
        store.insert(key(1), Arc::new(2u64));
        clock.advance(ttl - Duration::from_nanos(1));
        assert_eq!(store.get(&key(1)).map(|v| value_of(&v)), Some(2), "{name}");
        // Expired entries removed or cleared count as expirations, not invalidations.
        store.insert(key(2), Arc::new(3u64));
        store.insert(key(3), Arc::new(4u64));
        clock.advance(Duration::from_nanos(1)); // key 1 expired; 2 and 3 live
        assert!(
            !store.remove(&key(1)),
            "{name}: an expired entry is not present"
        );
        store.clear();
        let stats = store.stats();
        assert_eq!((stats.invalidations, stats.expirations), (2, 2), "{name}");
    }
}

#[test]
fn lru_counters_are_exact_on_a_scripted_sequence() {
    let clock = MockClock::new();
    let store = LruStore::new(&config(2, Duration::from_secs(10), &clock));
    assert!(store.get(&key(1)).is_none()); // miss
    store.insert(key(1), Arc::new(1u64));
    store.insert(key(2), Arc::new(2u64));
    assert!(store.get(&key(1)).is_some()); // hit; 2 is now the LRU
    store.insert(key(3), Arc::new(3u64)); // evicts 2
    assert!(store.get(&key(2)).is_none()); // miss
    store.insert(key(3), Arc::new(33u64)); // overwrite: no eviction
    assert!(store.remove(&key(1))); // invalidation
    assert!(!store.remove(&key(1)));
    store.insert(key(4), Arc::new(4u64));
    clock.advance(Duration::from_secs(10));
    assert!(store.get(&key(4)).is_none()); // expired: miss + expiration
    store.insert(key(5), Arc::new(5u64)); // room: 4 went on expiry
    store.insert(key(6), Arc::new(6u64)); // evicts 3, which expired: an expiration
    store.clear(); // 5 and 6 live: 2 invalidations
    let s = store.stats();
    assert_eq!((s.size, s.capacity), (0, 2));
    assert_eq!(counters(s), [1, 3, 1, 0, 3, 2]);
}

#[test]
fn tiny_lfu_counters_are_exact_on_a_scripted_sequence() {
    let clock = MockClock::new();
    // Capacity 2: a window of 1 and a main space of 1 (probation only).
    let store = TinyLfuStore::with_seed(&config(2, Duration::from_secs(10), &clock), 3);
    assert!(store.get(&key(1)).is_none()); // miss; 1 seen once
    store.insert(key(1), Arc::new(1u64)); // window
    assert!(store.get(&key(1)).is_some()); // hit; 1 seen twice
    store.insert(key(2), Arc::new(2u64)); // window; 1 moves to main (room)
    assert!(store.get(&key(3)).is_none()); // miss; 3 seen once
    store.insert(key(3), Arc::new(3u64)); // candidate 2 (never read) vs victim 1 (2x): rejected
    assert!(store.get(&key(2)).is_none()); // miss
    for _ in 0..3 {
        assert!(store.get(&key(4)).is_none()); // 3 misses; 4 seen 3x
    }
    store.insert(key(4), Arc::new(4u64)); // candidate 3 (1x) vs victim 1 (2x): rejected
    store.insert(key(5), Arc::new(5u64)); // candidate 4 (3x) vs victim 1 (2x): 1 evicted
    assert!(store.get(&key(4)).is_some()); // hit in main
    assert!(store.get(&key(1)).is_none()); // miss
    assert!(store.remove(&key(5))); // invalidation
    store.insert(key(6), Arc::new(6u64)); // window has room again
    clock.advance(Duration::from_secs(10));
    assert!(store.get(&key(6)).is_none()); // expired: miss + expiration
    store.clear(); // 4 had expired too
    let s = store.stats();
    assert_eq!((s.size, s.capacity), (0, 2));
    assert_eq!(counters(s), [2, 8, 1, 2, 1, 2]);
}

// ---------------------------------------------------------------------------------------------
// W-TinyLFU admission and aging

/// Every scenario runs with many fixed seeds and with a random one: it must hold for any hash.
fn tiny_lfu_stores(capacity: usize) -> Vec<TinyLfuStore> {
    let clock = MockClock::new();
    let config = config(capacity, Duration::from_secs(3_600), &clock);
    let mut stores: Vec<_> = (0..64)
        .map(|seed| TinyLfuStore::with_seed(&config, seed))
        .collect();
    stores.push(TinyLfuStore::new(&config));
    stores
}

#[test]
fn tiny_lfu_hot_keys_survive_a_one_pass_scan() {
    for store in tiny_lfu_stores(10) {
        for _ in 0..6 {
            for hot in 0..8 {
                read_through(&store, key(hot));
            }
        }
        for scan in 1_000..2_000 {
            read_through(&store, key(scan));
        }
        let survivors = (0..8).filter(|&hot| store.get(&key(hot)).is_some()).count();
        assert!(
            survivors >= 7,
            "{survivors} of 8 hot keys survived: {store:?}"
        );
        let stats = store.stats();
        assert!(stats.rejections > 900, "scan keys are refused: {stats}");
        assert!(stats.size <= 10);
    }
}

#[test]
fn lru_loses_the_hot_set_to_the_same_scan() {
    // The contrast that makes the test above meaningful.
    let clock = MockClock::new();
    let store = LruStore::new(&config(10, Duration::from_secs(3_600), &clock));
    for _ in 0..6 {
        for hot in 0..8 {
            read_through(&store, key(hot));
        }
    }
    for scan in 1_000..2_000 {
        read_through(&store, key(scan));
    }
    assert_eq!(
        (0..8).filter(|&hot| store.get(&key(hot)).is_some()).count(),
        0
    );
}

#[test]
fn tiny_lfu_admits_a_hotter_newcomer_over_a_cold_resident() {
    for store in tiny_lfu_stores(10) {
        for cold in 0..10 {
            read_through(&store, key(cold)); // each cold key read once
        }
        let newcomer = key(500);
        for _ in 0..6 {
            assert!(store.get(&newcomer).is_none());
        }
        store.insert(newcomer, Arc::new(500u64));
        // Pushing the newcomer out of the window makes it duel the coldest main entry.
        store.insert(key(501), Arc::new(501u64));
        let after = store.stats();
        assert_eq!(after.evictions, 1, "one cold resident made room: {after}");
        assert!(
            store.get(&newcomer).is_some(),
            "newcomer admitted: {store:?}"
        );
        let residents = (0..10)
            .filter(|&cold| store.get(&key(cold)).is_some())
            .count();
        assert!(residents <= 8, "{residents} cold residents left");
    }
}

#[test]
fn tiny_lfu_rejects_a_newcomer_no_hotter_than_the_victim() {
    for store in tiny_lfu_stores(10) {
        for n in 0..10 {
            read_through(&store, key(n));
        }
        store.insert(key(500), Arc::new(500u64)); // never read: frequency 0
        store.insert(key(501), Arc::new(501u64)); // pushes 500 out of the window
        assert!(store.get(&key(500)).is_none(), "{store:?}");
        assert!(store.stats().rejections >= 1);
        assert_eq!(store.stats().evictions, 0);
    }
}

#[test]
fn tiny_lfu_aging_lets_a_new_hot_set_take_over() {
    for store in tiny_lfu_stores(10) {
        // Season A: 8 keys read heavily, until their counters saturate.
        for _ in 0..20 {
            for a in 0..8 {
                read_through(&store, key(a));
            }
        }
        assert!((0..8).all(|a| store.get(&key(a)).is_some()));
        // Season B: 8 other keys, read as heavily; A is never read again.
        for _ in 0..40 {
            for b in 100..108 {
                read_through(&store, key(b));
            }
        }
        let b_cached = (100..108).filter(|&b| store.get(&key(b)).is_some()).count();
        assert!(
            b_cached >= 6,
            "{b_cached} of 8 season-B keys cached: {store:?}"
        );
    }
}

#[test]
fn tiny_lfu_keeps_history_across_clear_for_instant_readmission() {
    for store in tiny_lfu_stores(10) {
        for _ in 0..5 {
            read_through(&store, key(1));
        }
        for cold in 10..20 {
            read_through(&store, key(cold));
        }
        store.clear();
        for cold in 10..20 {
            read_through(&store, key(cold));
        }
        // Key 1, read-through after the clear, duels a cold key and wins.
        read_through(&store, key(1));
        store.insert(key(99), Arc::new(99u64));
        assert!(store.get(&key(1)).is_some(), "{store:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Construction and threads

#[test]
fn build_store_honours_the_kind() {
    fn factory(config: &L1Config) -> Box<dyn L1Store> {
        Box::new(LruStore::new(&L1Config::new(
            config.capacity / 2,
            config.ttl,
            config.clock.clone(),
        )))
    }
    let clock = MockClock::new();
    let config = config(64, Duration::from_secs(1), &clock);
    assert!(format!("{:?}", build_store(L1StoreKind::Lru, &config)).starts_with("LruStore"));
    assert!(
        format!("{:?}", build_store(L1StoreKind::TinyLfu, &config)).starts_with("TinyLfuStore")
    );
    let custom = build_store(L1StoreKind::Custom(factory), &config);
    assert_eq!(custom.stats().capacity, 32);
}

#[test]
fn stores_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<LruStore>();
    assert_send_sync::<TinyLfuStore>();
    assert_send_sync::<Box<dyn L1Store>>();
}

#[test]
fn stores_stay_consistent_under_threads() {
    let clock = MockClock::new();
    for (name, store) in both(64, Duration::from_secs(60), &clock) {
        let store: Arc<dyn L1Store> = Arc::from(store);
        let (done_tx, done_rx) = mpsc::channel();
        for t in 0..4u64 {
            let store = Arc::clone(&store);
            let done_tx = done_tx.clone();
            thread::spawn(move || {
                let mut rng = Rng(t);
                let mut gets = 0u64;
                for _ in 0..20_000 {
                    let n = rng.below(256);
                    let k = key(u128::from(n));
                    match rng.below(10) {
                        0..=5 => {
                            gets += 1;
                            if let Some(v) = store.get(&k) {
                                assert_eq!(value_of(&v), n, "a key maps to its own value");
                            } else {
                                store.insert(k, Arc::new(n));
                            }
                        }
                        6..=8 => store.insert(k, Arc::new(n)),
                        _ => {
                            store.remove(&k);
                        }
                    }
                    assert!(store.stats().size <= 64);
                }
                let _ = done_tx.send(gets);
            });
        }
        drop(done_tx);
        // Watchdog: a deadlock or a panicking worker fails the test instead of hanging it.
        let mut gets = 0;
        for _ in 0..4 {
            gets += done_rx
                .recv_timeout(Duration::from_secs(120))
                .unwrap_or_else(|e| panic!("{name}: a worker hung or panicked: {e}"));
        }
        let stats = store.stats();
        assert_eq!(
            stats.hits + stats.misses,
            gets,
            "{name}: every get counted once"
        );
        assert!(stats.size <= 64 && stats.hits > 0, "{name}: {stats}");
    }
}
