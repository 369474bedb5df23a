//! The L1 of one lane: an [`L1Store`] of immutable decoded entries, guarded against late
//! inserts of values read before a local write.
//!
//! # Why inserts carry a stamp
//!
//! A reader that looked up the shared cache (or the store) *before* a write on this replica
//! committed may insert what it read *after* the write dropped the id from the L1; the next read
//! would then serve the old rev from process memory. So every L1 insert is conditional:
//!
//! * before its I/O, a reader takes a [`Stamp`] of the key's stripe (an epoch);
//! * a write, once its tombstone is written to the shared cache (or remembered as pending),
//!   bumps the epoch and removes the key, under the stripe's lock;
//! * the insert happens under the same lock, and only if the epoch is still the stamp.
//!
//! A reader whose stamp predates the bump therefore never inserts; one whose stamp follows it
//! read the shared cache after the tombstone was written (or bypassed a cache with pending
//! invalidations), so what it read is at least the written rev. Revs in the L1 of one replica
//! therefore never go back past a local write. Writes on other replicas are bounded by the L1
//! `ttl`, or dropped by push invalidation, which uses [`L1::remove`] and [`L1::clear`] too (so
//! a read that started before a push does not insert afterwards either).
//!
//! Lookups take no lock besides the store's own.

use std::any::Any;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;

use crate::clock::SharedClock;
use crate::l1::{L1Key, L1Stats, L1Store};

/// Stripes of epochs: a write bumps only its key's stripe, so unrelated reads keep inserting.
const STRIPES: usize = 64;

/// An L1 value: the decoded read model, immutable. (Its rev is in the model's metadata; echo
/// checks compare the cache's rev with the rev filled, see `coordinator::push`, which needs
/// no L1 lookup.)
pub(crate) struct L1Entry<R> {
    pub(crate) read: Arc<R>,
}

/// The epoch of a key's stripe when a reader started its I/O, and that instant: what the reader
/// inserts lives the L1 TTL from then, so a slow read never stretches the staleness budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    epoch: u64,
    at: Instant,
}

pub(crate) struct L1<R> {
    store: Box<dyn L1Store>,
    clock: SharedClock,
    epochs: Box<[Mutex<u64>]>,
    _read: PhantomData<fn() -> R>,
}

impl<R> fmt::Debug for L1<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("L1").field("store", &self.store).finish()
    }
}

fn stripe(key: &L1Key) -> usize {
    let tenant = key.tenant.map_or(0, |t| t.as_u128());
    let x = key.id.as_u128() ^ tenant.rotate_left(17);
    let folded = (x as u64) ^ ((x >> 64) as u64);
    // Fibonacci hashing: the top bits of the product are well mixed.
    (folded.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 58) as usize % STRIPES
}

impl<R: Clone + Send + Sync + 'static> L1<R> {
    pub(crate) fn new(store: Box<dyn L1Store>, clock: SharedClock) -> Self {
        L1 {
            store,
            clock,
            epochs: (0..STRIPES).map(|_| Mutex::new(0)).collect(),
            _read: PhantomData,
        }
    }

    /// A clone of the live read model under `key`.
    #[inline]
    pub(crate) fn get(&self, key: &L1Key) -> Option<R> {
        let value = self.store.get(key)?;
        let entry: &dyn Any = &*value;
        entry
            .downcast_ref::<L1Entry<R>>()
            .map(|entry| R::clone(&entry.read))
    }

    /// The stamp to insert `key` with after I/O that starts now.
    pub(crate) fn stamp(&self, key: &L1Key) -> Stamp {
        let epoch = *self.epochs[stripe(key)].lock();
        Stamp {
            epoch,
            at: self.clock.now(),
        }
    }

    /// Insert `read` at `rev` unless a write (or push invalidation) touched the key's stripe
    /// since `stamp`; `true` if inserted (the store may still refuse admission).
    pub(crate) fn insert(&self, key: L1Key, stamp: Stamp, read: Arc<R>) -> bool {
        let epoch = self.epochs[stripe(&key)].lock();
        if *epoch != stamp.epoch {
            return false;
        }
        self.store
            .insert_since(key, Arc::new(L1Entry { read }), stamp.at);
        true
    }

    /// Drop `key`, and refuse inserts of reads that started before now; `true` if an entry was
    /// dropped.
    pub(crate) fn remove(&self, key: &L1Key) -> bool {
        let mut epoch = self.epochs[stripe(key)].lock();
        *epoch = epoch.wrapping_add(1);
        self.store.remove(key)
    }

    /// Drop everything, and refuse inserts of reads that started before now.
    pub(crate) fn clear(&self) {
        // Stripes are locked in index order; an insert holds one stripe at a time.
        let mut guards: Vec<_> = self.epochs.iter().map(|e| e.lock()).collect();
        for epoch in &mut guards {
            **epoch = epoch.wrapping_add(1);
        }
        self.store.clear();
    }

    pub(crate) fn stats(&self) -> L1Stats {
        self.store.stats()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use uuid::Uuid;

    use super::*;
    use crate::clock::MockClock;
    use crate::l1::{L1Config, build_store};
    use crate::spec::L1StoreKind;

    fn l1() -> L1<String> {
        let config = L1Config::new(16, Duration::from_secs(2), Arc::new(MockClock::new()));
        L1::new(
            build_store(L1StoreKind::Lru, &config),
            Arc::clone(&config.clock),
        )
    }

    #[test]
    fn an_insert_stamped_before_a_remove_is_refused() {
        let l1 = l1();
        let key = L1Key::new(None, Uuid::now_v7());
        let before = l1.stamp(&key);
        l1.remove(&key);
        assert!(!l1.insert(key, before, Arc::new("old".into())));
        assert_eq!(l1.get(&key), None);
        let after = l1.stamp(&key);
        assert!(l1.insert(key, after, Arc::new("new".into())));
        assert_eq!(l1.get(&key).as_deref(), Some("new"));
    }

    #[test]
    fn clear_refuses_every_earlier_stamp() {
        let l1 = l1();
        let keys: Vec<L1Key> = (0..100).map(|_| L1Key::new(None, Uuid::now_v7())).collect();
        let stamps: Vec<Stamp> = keys.iter().map(|k| l1.stamp(k)).collect();
        l1.clear();
        for (key, stamp) in keys.iter().zip(stamps) {
            assert!(!l1.insert(*key, stamp, Arc::new("x".into())));
        }
    }

    #[test]
    fn a_remove_of_another_stripe_does_not_refuse() {
        let l1 = l1();
        let a = L1Key::new(None, Uuid::from_u128(1));
        let b = (2..10_000u128)
            .map(|n| L1Key::new(None, Uuid::from_u128(n)))
            .find(|b| stripe(b) != stripe(&a))
            .expect("some key falls in another stripe");
        let stamp = l1.stamp(&a);
        l1.remove(&b);
        assert!(l1.insert(a, stamp, Arc::new("a".into())));
    }

    #[test]
    fn stripes_spread_keys() {
        let mut seen = [0usize; STRIPES];
        for _ in 0..6400 {
            seen[stripe(&L1Key::new(None, Uuid::now_v7()))] += 1;
        }
        assert!(seen.iter().all(|n| *n > 0), "{seen:?}");
    }
}
