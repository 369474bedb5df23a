//! [`TinyLfuStore`]: W-TinyLFU eviction (Einziger, Eytan, Friedman and Manes, "Adaptive
//! Software Cache Management", 2018; the design Caffeine and moka use) with a uniform TTL.

use std::fmt;

use parking_lot::Mutex;

use super::expiry::{Counters, Lifetimes, is_expired};
use super::hash::KeyHasher;
use super::sketch::FrequencySketch;
use super::slab::{List, Slab};
use super::{L1Config, L1Key, L1Stats, L1Store, L1Value};

const WINDOW: u8 = 0;
const PROBATION: u8 = 1;
const PROTECTED: u8 = 2;

/// A W-TinyLFU store with a uniform TTL: scan-resistant, frequency-aware eviction.
///
/// Layout (of `capacity` entries, exactly bounded):
/// * a **window** LRU of 1 % of the capacity (at least 1 entry) takes every new key;
/// * the **main** space (the rest) is a segmented LRU: **protected** (80 % of main) holds
///   entries read again while in main, **probation** holds the remainder;
/// * a **frequency sketch** (count-min, 4 rows of 4-bit counters, a doorkeeper Bloom filter
///   for first sightings, all halved after every `10 × capacity` recorded reads) estimates how
///   often each key was read recently.
///
/// Every `get`, hit or miss, records a read in the sketch; `insert` does not, because a
/// read-through caller inserts right after the miss that was already counted.
///
/// When a new key pushes the window's least recently used entry out, that **candidate** enters
/// probation if main has room. Otherwise it duels main's **victim** (the probation LRU, or the
/// protected LRU if probation is empty): the candidate is admitted, evicting the victim, only if
/// its estimated frequency is strictly higher (an [`eviction`](L1Stats::evictions)); on a tie
/// or below the candidate is dropped and counted in [`L1Stats::rejections`] (not in
/// `evictions`). An expired victim always loses and an expired candidate is simply
/// dropped (both counted as expirations). A read of a probation entry promotes it to protected;
/// protected overflow moves its LRU entries back to the front of probation. So a one-pass scan
/// flows through the window and is refused at the door, while keys read often stay.
///
/// TTL, counters and locking are as in [`LruStore`](super::LruStore): lazy expiry on the
/// injected clock, O(1) operations under one short lock, values dropped outside the lock.
/// `clear` and `remove` keep the frequency history, so a hot key invalidated by a write is
/// re-admitted at once. A capacity below 2 (which [`L1Spec`](crate::L1Spec) refuses) still
/// works: 1 keeps a single window slot, 0 stores nothing.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use forze_core::clock::system_clock;
/// use forze_core::l1::{L1Config, L1Key, L1Store, TinyLfuStore};
/// use uuid::Uuid;
///
/// let store = TinyLfuStore::new(&L1Config::new(10, Duration::from_secs(60), system_clock()));
/// let key = |n: u128| L1Key::new(None, Uuid::from_u128(n));
///
/// let read_through = |n: u128| {
///     if store.get(&key(n)).is_none() {
///         store.insert(key(n), Arc::new(n));
///     }
/// };
/// // Eight hot keys, read again and again (the first reads miss and insert).
/// for _ in 0..5 {
///     (0..8).for_each(read_through);
/// }
/// // A one-pass scan of 1,000 keys read once each cannot push the hot set out.
/// (1_000..2_000).for_each(read_through);
/// let survivors = (0..8).filter(|&n| store.get(&key(n)).is_some()).count();
/// assert!(survivors >= 7);
/// assert!(store.stats().rejections > 0);
/// assert!(store.stats().size <= 10);
/// ```
///
/// # Panics
///
/// None.
pub struct TinyLfuStore {
    inner: Mutex<Inner>,
    hasher: KeyHasher,
    lifetimes: Lifetimes,
    capacity: usize,
    window_cap: usize,
    main_cap: usize,
    protected_cap: usize,
}

#[derive(Debug)]
struct Inner {
    slab: Slab,
    /// Indexed by segment: window, probation, protected.
    lists: [List; 3],
    sketch: FrequencySketch,
    counters: Counters,
}

impl fmt::Debug for TinyLfuStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TinyLfuStore")
            .field("capacity", &self.capacity)
            .field("window", &self.window_cap)
            .field("protected", &self.protected_cap)
            .field("ttl", &self.lifetimes.ttl())
            .finish_non_exhaustive()
    }
}

impl TinyLfuStore {
    /// An empty store bounded by `config.capacity`, whose entries live for `config.ttl` on
    /// `config.clock`. Keys are hashed with a per-store random key.
    pub fn new(config: &L1Config) -> Self {
        Self::build(config, KeyHasher::random())
    }

    /// Like [`new`](Self::new), with a fixed hash seed: the same operations then give the same
    /// admissions every run. Meant for simulations and reproducible tests; production stores
    /// use `new`, whose random seed keeps chosen keys from colliding in the sketch on purpose.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use forze_core::clock::system_clock;
    /// use forze_core::l1::{L1Config, L1Store, TinyLfuStore};
    ///
    /// let store = TinyLfuStore::with_seed(&L1Config::new(512, Duration::from_secs(5), system_clock()), 42);
    /// assert_eq!(store.stats().capacity, 512);
    /// ```
    pub fn with_seed(config: &L1Config, seed: u64) -> Self {
        Self::build(config, KeyHasher::with_seed(seed))
    }

    fn build(config: &L1Config, hasher: KeyHasher) -> Self {
        let capacity = config.capacity;
        let window_cap = (capacity / 100).max(1).min(capacity);
        let main_cap = capacity - window_cap;
        let protected_cap = main_cap * 4 / 5;
        TinyLfuStore {
            inner: Mutex::new(Inner {
                slab: Slab::with_capacity(capacity),
                lists: [List::default(); 3],
                sketch: FrequencySketch::for_capacity(capacity),
                counters: Counters::default(),
            }),
            hasher,
            lifetimes: Lifetimes::new(config.clock.clone(), config.ttl),
            capacity,
            window_cap,
            main_cap,
            protected_cap,
        }
    }

    /// Admit the window's overflow into main, or drop a candidate or victim; returns what was
    /// dropped.
    fn evict_from_window(&self, inner: &mut Inner, now: u64) -> Option<L1Value> {
        if inner.lists[WINDOW as usize].len() <= self.window_cap {
            return None;
        }
        let candidate = inner.lists[WINDOW as usize].back()?;
        inner.lists[WINDOW as usize].unlink(&mut inner.slab, candidate);
        let main_len =
            inner.lists[PROBATION as usize].len() + inner.lists[PROTECTED as usize].len();
        if main_len < self.main_cap {
            admit(inner, candidate);
            return None;
        }
        let victim = inner.lists[PROBATION as usize]
            .back()
            .or_else(|| inner.lists[PROTECTED as usize].back());
        let Some(victim) = victim else {
            // No main space at all (capacity 1): the window's overflow leaves.
            count_removal(inner, candidate, now);
            return inner.slab.release(candidate);
        };
        if is_expired(inner.slab.node(candidate).expires, now) {
            inner.counters.expirations.inc_mut();
            return inner.slab.release(candidate);
        }
        let victim_expired = is_expired(inner.slab.node(victim).expires, now);
        let admitted = victim_expired || {
            let candidate_freq = inner.sketch.frequency(inner.slab.node(candidate).hash);
            let victim_freq = inner.sketch.frequency(inner.slab.node(victim).hash);
            candidate_freq > victim_freq
        };
        if !admitted {
            inner.counters.rejections.inc_mut();
            return inner.slab.release(candidate);
        }
        let victim_segment = inner.slab.node(victim).segment;
        inner.lists[victim_segment as usize].unlink(&mut inner.slab, victim);
        count_removal(inner, victim, now);
        let dropped = inner.slab.release(victim);
        admit(inner, candidate);
        dropped
    }

    /// Promote a probation entry that was read; demote protected overflow to probation.
    fn promote(&self, inner: &mut Inner, idx: usize) {
        inner.lists[PROBATION as usize].unlink(&mut inner.slab, idx);
        inner.slab.node_mut(idx).segment = PROTECTED;
        inner.lists[PROTECTED as usize].push_front(&mut inner.slab, idx);
        while inner.lists[PROTECTED as usize].len() > self.protected_cap {
            let Some(demoted) = inner.lists[PROTECTED as usize].back() else {
                break;
            };
            inner.lists[PROTECTED as usize].unlink(&mut inner.slab, demoted);
            inner.slab.node_mut(demoted).segment = PROBATION;
            inner.lists[PROBATION as usize].push_front(&mut inner.slab, demoted);
        }
    }
}

/// Put an unlinked candidate at the front of probation.
fn admit(inner: &mut Inner, idx: usize) {
    inner.slab.node_mut(idx).segment = PROBATION;
    inner.lists[PROBATION as usize].push_front(&mut inner.slab, idx);
}

/// Count the removal of an entry to make room: an eviction, or an expiration if it had expired.
fn count_removal(inner: &mut Inner, idx: usize, now: u64) {
    if is_expired(inner.slab.node(idx).expires, now) {
        inner.counters.expirations.inc_mut();
    } else {
        inner.counters.evictions.inc_mut();
    }
}

impl L1Store for TinyLfuStore {
    fn get(&self, key: &L1Key) -> Option<L1Value> {
        let hash = self.hasher.hash(key);
        let now = self.lifetimes.now();
        let expired_value;
        {
            let mut guard = self.inner.lock();
            let inner = &mut *guard;
            inner.sketch.record(hash);
            let Some(idx) = inner.slab.find(hash, key) else {
                inner.counters.misses.inc_mut();
                return None;
            };
            let node = inner.slab.node(idx);
            let segment = node.segment;
            if !is_expired(node.expires, now) {
                match segment {
                    PROBATION => self.promote(inner, idx),
                    _ => inner.lists[segment as usize].move_to_front(&mut inner.slab, idx),
                }
                inner.counters.hits.inc_mut();
                return inner.slab.node(idx).value.clone();
            }
            inner.lists[segment as usize].unlink(&mut inner.slab, idx);
            expired_value = inner.slab.release(idx);
            inner.counters.expirations.inc_mut();
            inner.counters.misses.inc_mut();
        }
        drop(expired_value);
        None
    }

    fn insert(&self, key: L1Key, value: L1Value) {
        let now = self.lifetimes.now();
        self.put(key, value, now, self.lifetimes.expiry(now));
    }

    fn insert_since(&self, key: L1Key, value: L1Value, since: std::time::Instant) {
        let now = self.lifetimes.now();
        if let Some(expires) = self.lifetimes.expiry_since(since, now) {
            self.put(key, value, now, expires);
        }
    }

    fn remove(&self, key: &L1Key) -> bool {
        let hash = self.hasher.hash(key);
        let now = self.lifetimes.now();
        let (removed, live);
        {
            let mut guard = self.inner.lock();
            let inner = &mut *guard;
            let Some(idx) = inner.slab.find(hash, key) else {
                return false;
            };
            let node = inner.slab.node(idx);
            live = !is_expired(node.expires, now);
            let segment = node.segment;
            inner.lists[segment as usize].unlink(&mut inner.slab, idx);
            removed = inner.slab.release(idx);
            if live {
                inner.counters.invalidations.inc_mut();
            } else {
                inner.counters.expirations.inc_mut();
            }
        }
        drop(removed);
        live
    }

    fn clear(&self) {
        let now = self.lifetimes.now();
        let old = {
            let mut guard = self.inner.lock();
            let inner = &mut *guard;
            let mut live = 0usize;
            for list in &inner.lists {
                live += list
                    .iter(&inner.slab)
                    .filter(|&idx| !is_expired(inner.slab.node(idx).expires, now))
                    .count();
            }
            let total = inner.slab.len();
            inner.counters.invalidations.add_mut(live);
            inner.counters.expirations.add_mut(total - live);
            for list in &mut inner.lists {
                list.reset();
            }
            inner.slab.take_all()
        };
        drop(old);
    }

    fn stats(&self) -> L1Stats {
        let inner = self.inner.lock();
        inner.counters.stats(inner.slab.len(), self.capacity)
    }
}

impl TinyLfuStore {
    /// Insert or replace `key` to expire at `expires` (`now` for evictions).
    fn put(&self, key: L1Key, value: L1Value, now: u64, expires: u64) {
        if self.capacity == 0 {
            return;
        }
        let hash = self.hasher.hash(&key);
        let dropped;
        {
            let mut guard = self.inner.lock();
            let inner = &mut *guard;
            if let Some(idx) = inner.slab.find(hash, &key) {
                let node = inner.slab.node_mut(idx);
                node.expires = expires;
                let segment = node.segment;
                dropped = node.value.replace(value);
                inner.lists[segment as usize].move_to_front(&mut inner.slab, idx);
            } else {
                let idx = inner.slab.alloc(key, hash, value, expires, WINDOW);
                inner.lists[WINDOW as usize].push_front(&mut inner.slab, idx);
                dropped = self.evict_from_window(inner, now);
            }
        }
        drop(dropped);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use uuid::Uuid;

    use super::*;
    use crate::clock::MockClock;

    fn key(n: u128) -> L1Key {
        L1Key::new(None, Uuid::from_u128(n))
    }

    fn store(capacity: usize) -> TinyLfuStore {
        let clock = Arc::new(MockClock::new());
        TinyLfuStore::with_seed(&L1Config::new(capacity, Duration::from_secs(60), clock), 1)
    }

    fn segment_of(store: &TinyLfuStore, n: u128) -> Option<u8> {
        let inner = store.inner.lock();
        let hash = store.hasher.hash(&key(n));
        inner
            .slab
            .find(hash, &key(n))
            .map(|idx| inner.slab.node(idx).segment)
    }

    fn read_through(store: &TinyLfuStore, n: u128) {
        if store.get(&key(n)).is_none() {
            store.insert(key(n), Arc::new(n));
        }
    }

    #[test]
    fn segment_sizes() {
        let s = store(1000);
        assert_eq!((s.window_cap, s.main_cap, s.protected_cap), (10, 990, 792));
        let s = store(10);
        assert_eq!((s.window_cap, s.main_cap, s.protected_cap), (1, 9, 7));
        let s = store(2);
        assert_eq!((s.window_cap, s.main_cap, s.protected_cap), (1, 1, 0));
    }

    #[test]
    fn window_then_probation_then_protected() {
        let s = store(10);
        read_through(&s, 1);
        assert_eq!(segment_of(&s, 1), Some(WINDOW));
        read_through(&s, 2); // pushes 1 out of the window; main has room
        assert_eq!(segment_of(&s, 1), Some(PROBATION));
        assert_eq!(segment_of(&s, 2), Some(WINDOW));
        assert!(s.get(&key(1)).is_some());
        assert_eq!(segment_of(&s, 1), Some(PROTECTED));
    }

    #[test]
    fn protected_overflow_demotes_its_lru_to_probation() {
        let s = store(10); // protected holds 7
        for n in 0..10 {
            read_through(&s, n);
        }
        for n in 0..9 {
            assert!(s.get(&key(n)).is_some(), "key {n}");
        }
        // 0..=8 were in probation and got promoted in order; only the last 7 stay protected.
        assert_eq!(segment_of(&s, 0), Some(PROBATION));
        assert_eq!(segment_of(&s, 1), Some(PROBATION));
        for n in 2..9 {
            assert_eq!(segment_of(&s, n), Some(PROTECTED), "key {n}");
        }
        assert_eq!(segment_of(&s, 9), Some(WINDOW));
        let inner = s.inner.lock();
        assert_eq!(inner.lists.map(|l| l.len()), [1, 2, 7]);
    }

    #[test]
    fn capacity_two_keeps_two_and_duels_for_the_main_slot() {
        let s = store(2);
        read_through(&s, 1);
        read_through(&s, 2);
        assert_eq!(s.stats().size, 2);
        // 1 is in main (probation: protected holds 0 at this size); a hit keeps it there.
        assert!(s.get(&key(1)).is_some());
        assert_eq!(segment_of(&s, 1), Some(PROBATION));
        // 3 enters the window; 2 (read once) duels 1 (read twice) and loses.
        read_through(&s, 3);
        assert_eq!(s.stats().size, 2);
        assert_eq!(segment_of(&s, 1), Some(PROBATION));
        assert_eq!(segment_of(&s, 3), Some(WINDOW));
        assert_eq!(segment_of(&s, 2), None);
        assert_eq!(s.stats().rejections, 1);
    }

    #[test]
    fn capacity_one_and_zero_do_not_break() {
        let s = store(1);
        read_through(&s, 1);
        read_through(&s, 2);
        assert_eq!(s.stats().size, 1);
        assert!(s.get(&key(2)).is_some());
        assert_eq!(s.stats().evictions, 1);
        let s = store(0);
        read_through(&s, 1);
        assert_eq!(s.stats().size, 0);
        assert!(s.get(&key(1)).is_none());
    }
}
