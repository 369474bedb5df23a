//! The read-through coordinator: the caching logic between the typed ports and the backends,
//! written against the [`Cache`](crate::cache::Cache) and
//! [`DocumentStore`](crate::store::DocumentStore) traits only.
//!
//! There is exactly one *lane* per (spec, runtime), shared by the query and command ports and by
//! every context of the runtime: one single-flight map, one circuit breaker, one set of pending
//! invalidations (and, with issue 6, one L1). That is what makes a replica read its own writes.
//!
//! Read path (`get` of a cached spec, outside a transaction):
//!
//! 1. L1 (with `l1(...)`): a hit returns a clone of the decoded, immutable read model, with no
//!    I/O, no boxing and no lock besides the store's.
//! 2. If invalidations are pending from a cache outage, write them first; until that works,
//!    bypass the cache (never serve stale).
//! 3. One cache read under the breaker and a per-call timeout (`get`, or `get_sliding` with
//!    `sliding_ttl`, which extends the entry's idle lifetime). A hit is decoded (a plain read
//!    model or an XFetch envelope, see [`xfetch`]), put in the L1 and returned, without touching
//!    the single-flight map. A payload that does not decode is counted, evicted at its rev, and
//!    treated as a miss. With `early_refresh_beta`, an envelope hit may elect to recompute
//!    early: inline (the reader refreshes through the single-flight lane, and returns the
//!    cached value if that fails) or in the background (bounded per lane).
//! 4. Miss (or cache failure): a single-flight fetch keyed by (tenant, id), run detached, reads
//!    the store and — unless the cache failed — fills with a compare-and-set at the rev read,
//!    for the `age_ttl` lifetime (or `ttl`) and with the `sliding_ttl` idle window. The value
//!    goes into the L1 unless the fill was rejected (the cache knows a newer rev) — also when
//!    the cache is failing, so the L1 keeps shielding the store during an outage (what this
//!    replica wrote meanwhile is still never served old, see [`l1`]).
//!
//! Write path: after the store write commits (after the transaction commits, for writes in one),
//! the single-flight entries of the written ids are forgotten, tombstones carrying the new
//! rev ([`TOMBSTONE_DELETED`](crate::cache::TOMBSTONE_DELETED) for deletes) are written (a
//! tombstone that cannot be written is remembered, step 2), and the ids are dropped from the
//! L1, so the next read on this replica reads its own write. Reads that started before the write
//! cannot put the old value back into the L1 (see [`l1`]); other replicas see the write once
//! their L1 entry expires (`l1(ttl)`), or as soon as a push invalidation reaches them.
//!
//! Push invalidation (see [`push`] for the details and the reasoning): a runtime subscribes the
//! lanes with an L1 to their cache's pushes, one subscription per (runtime, cache name), kept
//! for the runtime's life (dropped on shutdown, renewed on startup). A push for a document drops
//! it from the L1 of every spec using the cache, refuses the inserts of reads that started
//! before, and detaches its single-flight fetch; a reset drops the whole L1. Echoes of this
//! process's own writes and fills do not drop the entry they led to. A cache that does not push
//! leaves the L1 TTL-only (logged once per runtime and cache). Tenant-bound contexts work
//! (cache keys are `<tenant>:<id>`); tenant-routed clients and per-tenant dynamic namespaces
//! (not provided by any backend yet) would stay TTL-only by design: one tracking stream cannot
//! cover several servers or an open set of prefixes.

mod document;
mod key;
mod l1;
mod lane;
mod push;
mod registry;
mod xfetch;

use std::time::Duration;

pub(crate) use document::{CacheSource, DocumentLane};
pub(crate) use key::tenant_key;
pub(crate) use lane::CacheLane;
pub use push::L1PushStats;
pub(crate) use push::{PushFanOut, PushTarget};
pub(crate) use registry::Coordinator;

use crate::breaker::BreakerState;
use crate::l1::L1Stats;

/// Tuning of the read-through coordinator, per runtime
/// ([`ExecutionRuntime::with_coordinator`](crate::ExecutionRuntime::with_coordinator)).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use forze_core::CoordinatorConfig;
///
/// let config = CoordinatorConfig::default()
///     .cache_timeout(Duration::from_millis(20))
///     .breaker(3, Duration::from_secs(2));
/// assert_eq!(config.breaker_threshold, 3);
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoordinatorConfig {
    /// The budget of one cache call; a slower call counts as a failure and the read goes to the
    /// store. Default 50 ms.
    pub cache_timeout: Duration,
    /// Consecutive cache failures that open the breaker. Default 5.
    pub breaker_threshold: u32,
    /// How long an open breaker skips the cache before letting one probe through. Default 5 s.
    pub breaker_cool_down: Duration,
    /// The most ids whose invalidation failed that a lane remembers. Beyond it the lane forgets
    /// them and bypasses the cache for the cache `ttl`, so nothing written before is served.
    /// Default 10 000.
    pub max_pending_invalidations: usize,
    /// The most background early refreshes (`early_refresh_background`) in flight per lane;
    /// elections beyond it are skipped (the entry is still valid; a later election retries).
    /// Default 8.
    pub max_background_refreshes: usize,
    /// The seed of the early-refresh draws (each lane's stream starts from it), for
    /// reproducible tests; `None` (the default) seeds from the OS.
    pub early_refresh_seed: Option<u64>,
    /// How long a read waits for a single-flight fetch of the store before it fails with
    /// `Unavailable` (every waiter, the one that started it included). The fetch itself carries
    /// on in the background; its fill is skipped if it took so long that the tombstones of
    /// writes made meanwhile may have expired (about the cache `ttl`). Default 30 s.
    pub fetch_deadline: Duration,
    /// While the cache is unavailable (failing, its breaker open, or invalidations pending),
    /// a value read from the store is served to later reads of the same document, in this
    /// process, for this long: the store gets about one read per document per hold instead of
    /// one per read. A write through this runtime drops the document from the hold, so a
    /// replica always reads its own writes; writes on other replicas can be seen this late
    /// during an outage. `Duration::ZERO` turns it off. Default 1 s.
    pub outage_hold: Duration,
    /// The most documents the outage hold keeps per lane (least recently used go first).
    /// Default 10 000.
    pub outage_hold_capacity: usize,
    /// Encoded values larger than this many bytes are served but not written to the shared
    /// cache (counted in [`CacheStats::oversize`]): a fill that big would be slow enough to
    /// time out and count against the breaker. Default 1 MiB.
    pub max_value_size: usize,
    /// How often a lane whose cache is unavailable (its breaker open) checks, with one call
    /// outside the breaker, whether it is back; the first answer closes the breaker. Default
    /// 100 ms.
    pub probe_interval: Duration,
}

impl Default for CoordinatorConfig {
    fn default() -> Self {
        CoordinatorConfig {
            cache_timeout: Duration::from_millis(50),
            breaker_threshold: 5,
            breaker_cool_down: Duration::from_secs(5),
            max_pending_invalidations: 10_000,
            max_background_refreshes: 8,
            early_refresh_seed: None,
            fetch_deadline: Duration::from_secs(30),
            outage_hold: Duration::from_secs(1),
            outage_hold_capacity: 10_000,
            max_value_size: 1 << 20,
            probe_interval: Duration::from_millis(100),
        }
    }
}

impl CoordinatorConfig {
    /// Set the budget of one cache call.
    #[must_use]
    pub fn cache_timeout(mut self, timeout: Duration) -> Self {
        self.cache_timeout = timeout;
        self
    }

    /// Open the breaker after `threshold` consecutive failures (at least 1), for `cool_down`.
    #[must_use]
    pub fn breaker(mut self, threshold: u32, cool_down: Duration) -> Self {
        self.breaker_threshold = threshold.max(1);
        self.breaker_cool_down = cool_down;
        self
    }

    /// Set how many failed invalidations a lane remembers.
    #[must_use]
    pub fn max_pending_invalidations(mut self, max: usize) -> Self {
        self.max_pending_invalidations = max;
        self
    }

    /// Set how many background early refreshes a lane runs at once.
    #[must_use]
    pub fn max_background_refreshes(mut self, max: usize) -> Self {
        self.max_background_refreshes = max;
        self
    }

    /// Set how long a read waits for a single-flight fetch of the store.
    #[must_use]
    pub fn fetch_deadline(mut self, deadline: Duration) -> Self {
        self.fetch_deadline = deadline;
        self
    }

    /// Set how long values read from the store during a cache outage are served
    /// ([`outage_hold`](Self::outage_hold); `Duration::ZERO` turns the hold off).
    #[must_use]
    pub fn outage_hold(mut self, hold: Duration) -> Self {
        self.outage_hold = hold;
        self
    }

    /// Set how many documents the outage hold keeps per lane.
    #[must_use]
    pub fn outage_hold_capacity(mut self, capacity: usize) -> Self {
        self.outage_hold_capacity = capacity;
        self
    }

    /// Set the largest encoded value written to the shared cache, in bytes.
    #[must_use]
    pub fn max_value_size(mut self, bytes: usize) -> Self {
        self.max_value_size = bytes;
        self
    }

    /// Set how often a lane with an open breaker checks whether the cache is back.
    #[must_use]
    pub fn probe_interval(mut self, interval: Duration) -> Self {
        self.probe_interval = interval.max(Duration::from_millis(1));
        self
    }

    /// Seed the early-refresh draws (reproducible elections in tests).
    #[must_use]
    pub fn early_refresh_seed(mut self, seed: u64) -> Self {
        self.early_refresh_seed = Some(seed);
        self
    }
}

/// Counters and state of one cache lane (one cached spec in one runtime), from
/// [`CacheHandle::stats`](crate::CacheHandle::stats): `ctx.cache(&SPEC)?.stats()`.
///
/// The one place to read a cached spec's counters: the shared cache's (hits, fills,
/// invalidations...), the [breaker](Self::breaker), the spec's [L1](Self::l1) and its
/// [push invalidation](Self::push), taken together.
///
/// # Examples
///
/// ```
/// use forze_core::BreakerState;
/// use forze_core::memory::MemoryDepsModule;
/// use forze_core::prelude::*;
/// use forze_core::{DepsRegistry, ExecutionRuntime, LifecyclePlan};
///
/// #[derive(forze_core::Document)]
/// #[document_spec(name = "products", cache(name = "products", l1(ttl = "2s")))]
/// pub struct Product {
///     pub name: String,
/// }
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let module = MemoryDepsModule::new().document("products").cache("products");
/// let runtime = ExecutionRuntime::new(
///     DepsRegistry::from_modules([module.boxed()]).freeze()?,
///     LifecyclePlan::new().freeze()?,
/// );
/// let ctx = runtime.context();
/// let stats = ctx.cache(&PRODUCT_SPEC)?.stats();
/// assert_eq!(stats.hits, 0);
/// assert_eq!(stats.breaker, BreakerState::Closed);
/// assert_eq!(stats.l1.expect("the spec has an L1").hits, 0);
/// # Ok::<(), forze_core::Error>(())
/// # }).unwrap();
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheStats {
    /// Reads answered by the shared cache.
    pub hits: u64,
    /// Reads the shared cache had no value for.
    pub misses: u64,
    /// Cached payloads that did not decode (evicted, read from the store instead).
    pub decode_errors: u64,
    /// Fills the cache installed.
    pub fills: u64,
    /// Fills the cache rejected because it knew a newer rev (a late, stale fill).
    pub fills_rejected: u64,
    /// Fills skipped because the store read took about as long as the cache ttl (a tombstone
    /// written meanwhile may have expired); the value was returned, not cached.
    pub fills_skipped: u64,
    /// Store reads made by the read-through path (single-flight fetches and batch misses).
    pub store_reads: u64,
    /// Single-flight fetches started.
    pub fetches: u64,
    /// Callers that joined a fetch another caller started.
    pub coalesced: u64,
    /// Single-flight fetches in flight now.
    pub in_flight: usize,
    /// Cache calls that failed or timed out.
    pub cache_errors: u64,
    /// Cache calls skipped because the breaker was open.
    pub breaker_rejections: u64,
    /// The breaker now.
    pub breaker: BreakerState,
    /// Ids invalidated by writes.
    pub invalidations: u64,
    /// Ids whose invalidation failed (then remembered).
    pub invalidation_failures: u64,
    /// Ids whose invalidation is still pending.
    pub pending_invalidations: usize,
    /// Whether the lane bypasses the cache after too many pending invalidations.
    pub bypassing: bool,
    /// Successful writes of pending invalidations.
    pub flushes: u64,
    /// Shared-cache hits that elected to recompute early (XFetch).
    pub early_refreshes: u64,
    /// Early refreshes that failed (logged; the cached value was served).
    pub refresh_failures: u64,
    /// Background early refreshes skipped: one was in flight for the key, or the lane's bound
    /// was reached.
    pub refreshes_skipped: u64,
    /// Cached payloads that were another document's (or at another rev than their entry):
    /// evicted, read from the store instead.
    pub foreign_payloads: u64,
    /// Reads served, while the cache was unavailable, from a store read made less than
    /// [`CoordinatorConfig::outage_hold`] before.
    pub held: u64,
    /// Reads that joined a fetch which started before their cache lookup and answered a rev
    /// older than the lookup proved committed, and so fetched again.
    pub stale_joins: u64,
    /// Fills skipped because the encoded value was larger than
    /// [`CoordinatorConfig::max_value_size`] (served, not cached).
    pub oversize: u64,
    /// Calls made, outside the breaker, to find out whether an unavailable cache is back.
    pub probes: u64,
    /// The L1's counters, if the spec has `l1(...)`.
    pub l1: Option<L1Stats>,
    /// Push invalidation of the L1, if the spec has `l1(...)`.
    pub push: Option<L1PushStats>,
}
