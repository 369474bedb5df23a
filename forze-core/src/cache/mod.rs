//! The shared (L2) cache contract: a versioned compare-and-set store of encoded read models.
//!
//! Every key holds one of: nothing, a **value** `(rev, payload)`, or a **tombstone** `rev`.
//!
//! | operation | on nothing | on value `v` | on tombstone `t` |
//! |---|---|---|---|
//! | `fill(r)` | install `r` | install iff `r > v` | install iff `r >= t` |
//! | `invalidate(t')` | tombstone `t'` | tombstone `max(v, t')` | tombstone `max(t, t')` |
//! | `evict(r)` | nothing | tombstone `v` iff `v == r` | nothing |
//! | `get` | miss | hit `(v, payload)` | miss |
//!
//! A write commits rev `r`, then invalidates with tombstone `r` (a delete with
//! [`TOMBSTONE_DELETED`]). A reader that fetched an older rev before the write and fills late is
//! rejected, so once a write returned no reader installs the old value (the stale-set race of the
//! original cannot happen). Each operation is atomic and costs one round trip on a networked
//! backend; batch forms cost one round trip for the whole batch.

use std::fmt;
use std::time::Duration;

mod push;

pub use push::{InvalidationSink, PushSubscription, PushSupport, SharedSink};

use crate::error::Result;
use crate::store::BoxFuture;

/// The tombstone rev a delete writes: it outranks every rev, so nothing refills the key until the
/// tombstone expires.
pub const TOMBSTONE_DELETED: i64 = i64::MAX;

/// A cached value: the rev it was read at and the encoded read model.
#[non_exhaustive]
#[derive(Clone, PartialEq, Eq)]
pub struct CacheEntry {
    /// The document rev the payload was read at.
    pub rev: i64,
    /// The encoded read model (JSON), exactly as filled.
    pub payload: Vec<u8>,
}

impl CacheEntry {
    /// Build an entry.
    pub fn new(rev: i64, payload: Vec<u8>) -> Self {
        CacheEntry { rev, payload }
    }
}

impl fmt::Debug for CacheEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheEntry")
            .field("rev", &self.rev)
            .field("payload_len", &self.payload.len())
            .finish()
    }
}

/// A compare-and-set fill: install `payload` at `rev` for `ttl` if no newer rev is known.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheFill {
    /// The cache key (the document id, tenant-prefixed when a tenant is bound).
    pub key: String,
    /// The rev the payload was read at.
    pub rev: i64,
    /// The encoded read model.
    pub payload: Vec<u8>,
    /// How long the value lives.
    pub ttl: Duration,
}

impl CacheFill {
    /// Build a fill.
    pub fn new(key: impl Into<String>, rev: i64, payload: Vec<u8>, ttl: Duration) -> Self {
        CacheFill {
            key: key.into(),
            rev,
            payload,
            ttl,
        }
    }
}

/// A tombstone write: the key's known rev rises to at least `rev`, and any value is dropped.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalidation {
    /// The cache key.
    pub key: String,
    /// The committed rev ([`TOMBSTONE_DELETED`] for a delete).
    pub rev: i64,
    /// How long the tombstone lives (the cache `ttl`: longer than any read that could fill late).
    pub ttl: Duration,
}

impl Invalidation {
    /// Build an invalidation.
    pub fn new(key: impl Into<String>, rev: i64, ttl: Duration) -> Self {
        Invalidation {
            key: key.into(),
            rev,
            ttl,
        }
    }
}

/// A shared cache backend (Redis, or the in-memory one). Object-safe; used as `Arc<dyn Cache>`.
///
/// See the [module docs](self) for the versioned contract every implementation keeps.
///
/// # Cancel safety
///
/// Dropping any returned future leaves the key in one of the states the contract allows.
pub trait Cache: Send + Sync + fmt::Debug {
    /// The value under `key`, if any (a tombstone is a miss).
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<CacheEntry>>>;

    /// The values under `keys`, in order, in one round trip.
    fn get_many<'a>(&'a self, keys: &'a [String])
    -> BoxFuture<'a, Result<Vec<Option<CacheEntry>>>>;

    /// Compare-and-set fill; `true` if installed.
    fn fill(&self, fill: CacheFill) -> BoxFuture<'_, Result<bool>>;

    /// Compare-and-set fills in one round trip; one flag per fill, in order.
    fn fill_many(&self, fills: Vec<CacheFill>) -> BoxFuture<'_, Result<Vec<bool>>>;

    /// Write tombstones in one round trip.
    fn invalidate_many<'a>(
        &'a self,
        invalidations: &'a [Invalidation],
    ) -> BoxFuture<'a, Result<()>>;

    /// Drop the value under `key` if it is at `rev` (it did not decode), leaving tombstone `rev`
    /// so the next fill at `rev` or later repairs it.
    fn evict<'a>(&'a self, key: &'a str, rev: i64, ttl: Duration) -> BoxFuture<'a, Result<()>>;

    /// Push invalidations of this cache's keys to `sink` (Redis client-side caching), if the
    /// backend supports it and is configured to. The default does not push.
    ///
    /// Pushes for writes made through this process may arrive too (echoes); the coordinator
    /// handles them. A backend must call [`InvalidationSink::reset`] whenever events may have been
    /// missed.
    fn subscribe_invalidations(&self, sink: SharedSink) -> Result<PushSubscription> {
        let _ = sink;
        Ok(PushSubscription::unsupported())
    }
}
