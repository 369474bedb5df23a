//! [`LruStore`]: least recently used eviction with a uniform TTL.

use std::fmt;

use parking_lot::Mutex;

use super::expiry::{Counters, Lifetimes, is_expired};
use super::hash::KeyHasher;
use super::slab::{List, Slab};
use super::{L1Config, L1Key, L1Stats, L1Store, L1Value};

/// An LRU map with a uniform TTL: the default L1 store.
///
/// * `get` returns a live entry and makes it the most recently used. An expired entry is removed
///   and counted as a miss and an expiration (expiry is lazy: there is no sweeper, so
///   [`L1Stats::size`] may include expired entries nobody touched yet).
/// * `insert` stores the value with a fresh lifetime of `ttl` and makes it the most recently
///   used. A new key in a full store evicts the least recently used entry (counted as an
///   eviction, or as an expiration if that entry had expired).
/// * `remove` and `clear` count the live entries they drop as invalidations.
/// * The number of entries never exceeds `capacity` (a capacity of 0 stores nothing).
///
/// Every operation is O(1) under one short [`parking_lot::Mutex`]; a hit allocates nothing.
/// Values are dropped after the lock is released.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use forze_core::clock::MockClock;
/// use forze_core::l1::{L1Config, L1Key, L1Store, LruStore};
/// use uuid::Uuid;
///
/// let clock = MockClock::new();
/// let store = LruStore::new(&L1Config::new(2, Duration::from_secs(2), Arc::new(clock.clone())));
/// let (a, b, c) = (Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(3));
/// store.insert(L1Key::new(None, a), Arc::new("a"));
/// store.insert(L1Key::new(None, b), Arc::new("b"));
/// assert!(store.get(&L1Key::new(None, a)).is_some()); // `a` is now the most recent
/// store.insert(L1Key::new(None, c), Arc::new("c")); // evicts `b`
/// assert!(store.get(&L1Key::new(None, b)).is_none());
///
/// let hit = store.get(&L1Key::new(None, c)).expect("c is cached");
/// assert_eq!(hit.downcast_ref::<&str>(), Some(&"c"));
///
/// clock.advance(Duration::from_secs(2)); // lifetimes end
/// assert!(store.get(&L1Key::new(None, c)).is_none());
/// let stats = store.stats();
/// assert_eq!((stats.hits, stats.misses, stats.evictions, stats.expirations), (2, 2, 1, 1));
/// ```
///
/// # Panics
///
/// None.
pub struct LruStore {
    inner: Mutex<Inner>,
    hasher: KeyHasher,
    lifetimes: Lifetimes,
    capacity: usize,
}

#[derive(Debug)]
struct Inner {
    slab: Slab,
    order: List,
    counters: Counters,
}

impl fmt::Debug for LruStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LruStore")
            .field("capacity", &self.capacity)
            .field("ttl", &self.lifetimes.ttl())
            .finish_non_exhaustive()
    }
}

impl LruStore {
    /// An empty store bounded by `config.capacity`, whose entries live for `config.ttl` on
    /// `config.clock`.
    pub fn new(config: &L1Config) -> Self {
        LruStore {
            inner: Mutex::new(Inner {
                slab: Slab::with_capacity(config.capacity),
                order: List::default(),
                counters: Counters::default(),
            }),
            hasher: KeyHasher::random(),
            lifetimes: Lifetimes::new(config.clock.clone(), config.ttl),
            capacity: config.capacity,
        }
    }
}

impl L1Store for LruStore {
    fn get(&self, key: &L1Key) -> Option<L1Value> {
        let hash = self.hasher.hash(key);
        let now = self.lifetimes.now();
        let expired_value;
        {
            let mut guard = self.inner.lock();
            let inner = &mut *guard;
            let Some(idx) = inner.slab.find(hash, key) else {
                inner.counters.misses.inc_mut();
                return None;
            };
            if !is_expired(inner.slab.node(idx).expires, now) {
                inner.order.move_to_front(&mut inner.slab, idx);
                inner.counters.hits.inc_mut();
                return inner.slab.node(idx).value.clone();
            }
            inner.order.unlink(&mut inner.slab, idx);
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
            live = !is_expired(inner.slab.node(idx).expires, now);
            inner.order.unlink(&mut inner.slab, idx);
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
            let live = inner
                .order
                .iter(&inner.slab)
                .filter(|&idx| !is_expired(inner.slab.node(idx).expires, now))
                .count();
            let total = inner.slab.len();
            inner.counters.invalidations.add_mut(live);
            inner.counters.expirations.add_mut(total - live);
            inner.order.reset();
            inner.slab.take_all()
        };
        drop(old);
    }

    fn stats(&self) -> L1Stats {
        let inner = self.inner.lock();
        inner.counters.stats(inner.slab.len(), self.capacity)
    }
}

/// Drop the least recently used entry to make room; returns its value.
fn evict_lru(inner: &mut Inner, now: u64) -> Option<L1Value> {
    let idx = inner.order.back()?;
    if is_expired(inner.slab.node(idx).expires, now) {
        inner.counters.expirations.inc_mut();
    } else {
        inner.counters.evictions.inc_mut();
    }
    inner.order.unlink(&mut inner.slab, idx);
    inner.slab.release(idx)
}
impl LruStore {
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
                dropped = node.value.replace(value);
                inner.order.move_to_front(&mut inner.slab, idx);
            } else {
                dropped = if inner.slab.len() >= self.capacity {
                    evict_lru(inner, now)
                } else {
                    None
                };
                let idx = inner.slab.alloc(key, hash, value, expires, 0);
                inner.order.push_front(&mut inner.slab, idx);
            }
        }
        drop(dropped);
    }
}
