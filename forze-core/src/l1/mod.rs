//! The in-process L1: a synchronous, bounded, TTL'd map of decoded read models.
//!
//! Values are immutable [`Arc`]s, so a caller cannot poison the L1 by mutating what it got.

use std::any::Any;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use crate::clock::SharedClock;

mod expiry;
pub(crate) mod hash;
mod lru;
mod sketch;
mod slab;
mod tiny_lfu;

pub use lru::LruStore;
pub use tiny_lfu::TinyLfuStore;

/// An L1 key: the document id and the tenant it was read for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct L1Key {
    /// The tenant bound to the reading context, if any.
    pub tenant: Option<Uuid>,
    /// The document id.
    pub id: Uuid,
}

impl L1Key {
    /// Build a key.
    pub const fn new(tenant: Option<Uuid>, id: Uuid) -> Self {
        L1Key { tenant, id }
    }
}

/// An L1 value: the coordinator stores its own decoded entry type behind it.
pub type L1Value = Arc<dyn Any + Send + Sync>;

/// Counters and sizes of one L1.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct L1Stats {
    /// Entries held now (may include expired entries nobody touched yet).
    pub size: usize,
    /// The exact bound on `size`.
    pub capacity: usize,
    /// Reads that found a live entry.
    pub hits: u64,
    /// Reads that found nothing or an expired entry.
    pub misses: u64,
    /// Entries evicted to make room.
    pub evictions: u64,
    /// Candidates refused by admission (W-TinyLFU).
    pub rejections: u64,
    /// Entries removed by `remove` or `clear`.
    pub invalidations: u64,
    /// Entries found expired.
    pub expirations: u64,
}

/// What an L1 store is built from.
#[non_exhaustive]
#[derive(Debug, Clone)]
pub struct L1Config {
    /// The exact maximum number of entries.
    pub capacity: usize,
    /// Every entry's lifetime.
    pub ttl: Duration,
    /// The clock TTLs are measured with.
    pub clock: SharedClock,
}

impl L1Config {
    /// Build a config.
    pub fn new(capacity: usize, ttl: Duration, clock: SharedClock) -> Self {
        L1Config {
            capacity,
            ttl,
            clock,
        }
    }
}

/// A bounded in-process store. Synchronous: no I/O ever happens on an L1 hit.
///
/// Implementations must be safe to call from many threads, never exceed `capacity`, and treat an
/// entry as absent once `ttl` has passed since its insertion.
pub trait L1Store: Send + Sync + fmt::Debug {
    /// The live value under `key`.
    fn get(&self, key: &L1Key) -> Option<L1Value>;
    /// Insert or replace (subject to admission), with a fresh lifetime.
    fn insert(&self, key: L1Key, value: L1Value);
    /// Insert or replace (subject to admission), with a lifetime counted from `since` (an
    /// instant of the store's clock, no later than now): the entry is gone at `since + ttl`,
    /// and not inserted if that has passed. The coordinator inserts what it read with the
    /// instant its read began, so the L1 TTL bounds how old a served value can be, however
    /// long the read took.
    ///
    /// The default ignores `since` (a lifetime from now): custom stores should override it.
    fn insert_since(&self, key: L1Key, value: L1Value, since: std::time::Instant) {
        let _ = since;
        self.insert(key, value);
    }
    /// Remove `key`; `true` if it was present.
    fn remove(&self, key: &L1Key) -> bool;
    /// Remove everything.
    fn clear(&self);
    /// Counters and sizes.
    fn stats(&self) -> L1Stats;
}

impl fmt::Display for L1Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "size {}/{} hits {} misses {} evictions {} rejections {}",
            self.size, self.capacity, self.hits, self.misses, self.evictions, self.rejections
        )
    }
}

/// A user-supplied L1 store constructor, named by `l1(store = path::to::factory)`.
pub type L1StoreFactory = fn(&L1Config) -> Box<dyn L1Store>;

/// Which eviction policy the in-process L1 uses.
#[non_exhaustive]
#[derive(Clone, Copy)]
pub enum L1StoreKind {
    /// Least recently used with a uniform TTL (the default).
    Lru,
    /// W-TinyLFU: frequency-based admission, resistant to one-pass scans. Capacity >= 2.
    TinyLfu,
    /// A store built by a user factory.
    Custom(L1StoreFactory),
}

impl L1StoreKind {
    /// The name used in `#[document_spec]`: `"lru"`, `"tiny_lfu"` or `"custom"`.
    pub const fn as_str(&self) -> &'static str {
        match self {
            L1StoreKind::Lru => "lru",
            L1StoreKind::TinyLfu => "tiny_lfu",
            L1StoreKind::Custom(_) => "custom",
        }
    }
}

impl fmt::Debug for L1StoreKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq for L1StoreKind {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (L1StoreKind::Lru, L1StoreKind::Lru) | (L1StoreKind::TinyLfu, L1StoreKind::TinyLfu) => {
                true
            }
            (L1StoreKind::Custom(a), L1StoreKind::Custom(b)) => std::ptr::fn_addr_eq(*a, *b),
            _ => false,
        }
    }
}

/// Build the store an [`L1StoreKind`] names: [`LruStore`], [`TinyLfuStore`], or whatever a
/// [`Custom`](L1StoreKind::Custom) factory returns.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use forze_core::L1StoreKind;
/// use forze_core::clock::system_clock;
/// use forze_core::l1::{L1Config, L1Key, build_store};
/// use uuid::Uuid;
///
/// let config = L1Config::new(1024, Duration::from_secs(2), system_clock());
/// let store = build_store(L1StoreKind::TinyLfu, &config);
/// let key = L1Key::new(None, Uuid::from_u128(7));
/// store.insert(key, Arc::new("doc"));
/// assert!(store.get(&key).is_some());
/// assert_eq!(store.stats().capacity, 1024);
/// ```
pub fn build_store(kind: L1StoreKind, config: &L1Config) -> Box<dyn L1Store> {
    match kind {
        L1StoreKind::Lru => Box::new(LruStore::new(config)),
        L1StoreKind::TinyLfu => Box::new(TinyLfuStore::new(config)),
        L1StoreKind::Custom(factory) => factory(config),
    }
}
