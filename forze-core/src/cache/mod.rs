//! The shared (L2) cache contract: a versioned compare-and-set store of encoded read models.
//!
//! Every key holds one of: nothing, a **value** `(rev, payload)`, or a **tombstone** `rev`.
//!
//! | operation | on nothing | on value `v` | on tombstone `t` |
//! |---|---|---|---|
//! | `fill(r)` | install `r` | install iff `r > v` (a [refresh](CacheFill::refresh): `r >= v`) | install iff `r >= t` |
//! | `invalidate(t')` | tombstone `t'` | tombstone `max(v, t')` | tombstone `max(t, t')` |
//! | `evict(r)` | nothing | tombstone `v` iff `v == r` | nothing |
//! | `get` | miss | hit `(v, payload)` | miss |
//! | `lookup` | [`Lookup::Absent`] | [`Lookup::Value`] | [`Lookup::Tombstone`]`(t)` |
//!
//! A write commits rev `r`, then invalidates with tombstone `r` (a delete with
//! [`TOMBSTONE_DELETED`]). A reader that fetched an older rev before the write and fills late is
//! rejected, so once a write returned no reader installs the old value (the stale-set race of the
//! original cannot happen). Each operation is atomic and costs one round trip on a networked
//! backend; batch forms cost one round trip for the whole batch.
//!
//! # Lifetimes: absolute and idle
//!
//! Every value lives at most its fill's `ttl` (the absolute cap). A fill with a sliding window
//! ([`CacheFill::with_sliding`]) also gives the value an **idle deadline**, `min(window, ttl)`
//! after the fill:
//!
//! * [`Cache::get_sliding`] (and [`Cache::get_many_sliding`]) on a value whose idle deadline is
//!   still ahead is a hit and moves the deadline to `window` from now, never past the value's
//!   absolute expiry. On a value whose idle deadline has passed (or that has none) it misses and
//!   turns the value into tombstone `v` (keeping the remaining lifetime), so the next fill at
//!   `v` or later installs.
//! * A fill with a window treats a value whose idle deadline has passed (or that has none) like
//!   tombstone `v`.
//! * [`Cache::get`] and [`Cache::get_many`] neither check nor extend idle deadlines (on Redis a
//!   plain hit stays one `GET`): use the sliding reads for entries filled with a window.
//!
//! Extending an idle deadline must not count as a change of the entry for push invalidation
//! ([`Cache::subscribe_invalidations`]): other replicas keep their L1 entries.
//!
//! Backends without idle lifetimes keep the defaults of the sliding reads (a plain read), so
//! their values simply live their full `ttl`.

use std::fmt;
use std::time::Duration;

mod push;

pub use push::{InvalidationSink, PushSubscription, PushSupport, SharedSink};

use crate::BoxFuture;
use crate::error::Result;

/// The tombstone rev a delete writes: it outranks every rev, so nothing refills the key until the
/// tombstone expires.
pub const TOMBSTONE_DELETED: i64 = i64::MAX;

/// What a [`Cache::lookup`] found under a key.
///
/// A tombstone is a miss like an absent key, but it says more: a write committed rev `t` (or
/// deleted the document, [`TOMBSTONE_DELETED`]) and returned before the lookup did. The
/// coordinator uses that to refuse answers older than `t` (a fetch of the store that started
/// before the write).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// A value.
    Value(CacheEntry),
    /// A tombstone at this rev.
    Tombstone(i64),
    /// Nothing: never written, expired, evicted by the server, or bytes forze did not write.
    Absent,
}

impl Lookup {
    /// The value, if this is one.
    pub fn into_value(self) -> Option<CacheEntry> {
        match self {
            Lookup::Value(entry) => Some(entry),
            Lookup::Tombstone(_) | Lookup::Absent => None,
        }
    }

    /// The rev this lookup proves the document has reached (a value's or a tombstone's rev).
    pub fn rev(&self) -> Option<i64> {
        match self {
            Lookup::Value(entry) => Some(entry.rev),
            Lookup::Tombstone(rev) => Some(*rev),
            Lookup::Absent => None,
        }
    }
}

impl From<Option<CacheEntry>> for Lookup {
    fn from(entry: Option<CacheEntry>) -> Self {
        entry.map_or(Lookup::Absent, Lookup::Value)
    }
}

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
    /// How long the value lives at most (the absolute cap).
    pub ttl: Duration,
    /// The idle window: with `Some(w)`, the value also expires once `w` passes without a
    /// sliding read (see [the module docs](self#lifetimes-absolute-and-idle)).
    pub sliding: Option<Duration>,
    /// A refresh of a value that may be cached at the same rev (early refresh): installs over a
    /// value at `rev` too, renewing its payload and lifetime.
    pub refresh: bool,
    /// The backend [`generation`](Cache::generation) taken before the payload was read: a
    /// backend that may have lost its keys since (a restart, a flush) refuses the fill.
    /// `None`: not checked.
    pub generation: Option<u64>,
}

impl CacheFill {
    /// Build a fill.
    pub fn new(key: impl Into<String>, rev: i64, payload: Vec<u8>, ttl: Duration) -> Self {
        CacheFill {
            key: key.into(),
            rev,
            payload,
            ttl,
            sliding: None,
            refresh: false,
            generation: None,
        }
    }

    /// The same fill, valid only if the backend is still at `generation` (see
    /// [`Cache::generation`]).
    #[must_use]
    pub fn at_generation(mut self, generation: u64) -> Self {
        self.generation = Some(generation);
        self
    }

    /// The same fill with an idle window: the value expires once `window` passes without a
    /// sliding read, and at `ttl` at the latest.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use forze_core::cache::CacheFill;
    ///
    /// let fill = CacheFill::new("k", 1, b"{}".to_vec(), Duration::from_secs(3600))
    ///     .with_sliding(Duration::from_secs(60));
    /// assert_eq!(fill.sliding, Some(Duration::from_secs(60)));
    /// ```
    #[must_use]
    pub fn with_sliding(mut self, window: Duration) -> Self {
        self.sliding = Some(window);
        self
    }

    /// The same fill as a refresh: it also installs over a value at the same rev.
    #[must_use]
    pub fn refresh(mut self) -> Self {
        self.refresh = true;
        self
    }

    /// How long the value lives before its first sliding read: `min(window, ttl)`, or `ttl`.
    pub fn idle_lifetime(&self) -> Option<Duration> {
        self.sliding.map(|window| window.min(self.ttl))
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

    /// The value under `key`, extending its idle deadline to `window` from now (capped at its
    /// absolute expiry); a value past its idle deadline misses and becomes a tombstone at its
    /// rev. One round trip. See [the module docs](self#lifetimes-absolute-and-idle).
    ///
    /// The default is [`get`](Self::get): a backend without idle lifetimes.
    fn get_sliding<'a>(
        &'a self,
        key: &'a str,
        window: Duration,
    ) -> BoxFuture<'a, Result<Option<CacheEntry>>> {
        let _ = window;
        self.get(key)
    }

    /// [`get_sliding`](Self::get_sliding) for `keys`, in order, in one round trip.
    ///
    /// The default is [`get_many`](Self::get_many).
    fn get_many_sliding<'a>(
        &'a self,
        keys: &'a [String],
        window: Duration,
    ) -> BoxFuture<'a, Result<Vec<Option<CacheEntry>>>> {
        let _ = window;
        self.get_many(keys)
    }

    /// What is under `key`: a value, a tombstone (with its rev) or nothing, in one round trip.
    /// With `sliding`, a read like [`get_sliding`](Self::get_sliding) (a value past its idle
    /// deadline becomes a tombstone at its rev and is reported as one).
    ///
    /// The coordinator reads through this. The default maps [`get`](Self::get) (or
    /// [`get_sliding`](Self::get_sliding)) and so reports a tombstone as
    /// [`Lookup::Absent`]: backends that keep tombstones should override it, or readers on
    /// other replicas may join a store fetch that started before a write they already saw.
    fn lookup<'a>(
        &'a self,
        key: &'a str,
        sliding: Option<Duration>,
    ) -> BoxFuture<'a, Result<Lookup>> {
        Box::pin(async move {
            let entry = match sliding {
                Some(window) => self.get_sliding(key, window).await?,
                None => self.get(key).await?,
            };
            Ok(Lookup::from(entry))
        })
    }

    /// [`lookup`](Self::lookup) of `keys`, in order, in one round trip. The default maps
    /// [`get_many`](Self::get_many) (or [`get_many_sliding`](Self::get_many_sliding)).
    fn lookup_many<'a>(
        &'a self,
        keys: &'a [String],
        sliding: Option<Duration>,
    ) -> BoxFuture<'a, Result<Vec<Lookup>>> {
        Box::pin(async move {
            let entries = match sliding {
                Some(window) => self.get_many_sliding(keys, window).await?,
                None => self.get_many(keys).await?,
            };
            Ok(entries.into_iter().map(Lookup::from).collect())
        })
    }

    /// The backend's generation: a number that changes whenever the backend may have lost
    /// keys it held (a server restarted empty, a flush). The coordinator takes it before a
    /// store read and passes it with the fill ([`CacheFill::at_generation`]); a fill whose
    /// generation is not current must not install. Otherwise a fetch that read before a write
    /// could fill after a restart wiped the write's tombstone, and serve the old value for the
    /// entry's `ttl`.
    ///
    /// `0` means "unknown": fills at generation 0 are not checked. The default (`0`, never
    /// changing) suits a backend that cannot lose keys while the process runs, such as the
    /// in-memory one. A wrapper around another cache should forward its generation, or it
    /// gives up the protection (never the fills).
    fn generation(&self) -> u64 {
        0
    }

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
