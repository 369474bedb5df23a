//! The stores under test behind one small interface.

use std::sync::Arc;
use std::time::Duration;

use forze_core::clock::SharedClock;
use forze_core::l1::{L1Config, L1Key, L1Store, L1Value, LruStore, TinyLfuStore};

/// The hash seed of the W-TinyLFU store in the simulations, so hit ratios repeat exactly.
pub(crate) const TINY_LFU_SEED: u64 = 0x5EED;

/// Which store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    Lru,
    TinyLfu,
    Moka,
}

impl Kind {
    pub(crate) const ALL: [Kind; 3] = [Kind::Lru, Kind::TinyLfu, Kind::Moka];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Lru => "lru",
            Kind::TinyLfu => "tiny_lfu",
            Kind::Moka => "moka",
        }
    }
}

/// A store as the simulator and the cost loops use it.
pub(crate) enum Store {
    Forze(Box<dyn L1Store>),
    Moka(moka::sync::Cache<L1Key, L1Value>),
}

impl Store {
    /// A store of `kind` with `capacity` entries and a lifetime of `ttl` on `clock` (moka uses
    /// its own clock). `seed` fixes the W-TinyLFU hash.
    pub(crate) fn build(
        kind: Kind,
        capacity: usize,
        ttl: Duration,
        clock: SharedClock,
        seed: u64,
    ) -> Self {
        let config = L1Config::new(capacity, ttl, clock);
        match kind {
            Kind::Lru => Store::Forze(Box::new(LruStore::new(&config))),
            Kind::TinyLfu => Store::Forze(Box::new(TinyLfuStore::with_seed(&config, seed))),
            Kind::Moka => Store::Moka(
                moka::sync::Cache::builder()
                    .max_capacity(capacity as u64)
                    .time_to_live(ttl)
                    .build(),
            ),
        }
    }

    #[inline]
    pub(crate) fn get(&self, key: &L1Key) -> Option<L1Value> {
        match self {
            Store::Forze(store) => store.get(key),
            Store::Moka(cache) => cache.get(key),
        }
    }

    #[inline]
    pub(crate) fn insert(&self, key: L1Key, value: L1Value) {
        match self {
            Store::Forze(store) => store.insert(key, value),
            Store::Moka(cache) => cache.insert(key, value),
        }
    }

    /// Entries held now.
    pub(crate) fn size(&self) -> u64 {
        match self {
            Store::Forze(store) => store.stats().size as u64,
            Store::Moka(cache) => {
                cache.run_pending_tasks();
                cache.entry_count()
            }
        }
    }
}

/// Read-through over `trace`: a miss inserts. Returns hits / reads.
///
/// This is a policy simulation: moka runs its pending maintenance after every insert.
pub(crate) fn hit_ratio(store: &Store, trace: &[L1Key]) -> f64 {
    let value: L1Value = Arc::new(());
    let mut hits = 0usize;
    for key in trace {
        if store.get(key).is_some() {
            hits += 1;
        } else {
            store.insert(*key, Arc::clone(&value));
            if let Store::Moka(cache) = store {
                // Apply moka's buffered eviction now, so it holds to its capacity like the
                // other stores; left to itself it briefly overshoots, which inflates its hit
                // ratio at small capacities.
                cache.run_pending_tasks();
            }
        }
    }
    hits as f64 / trace.len() as f64
}
