//! Push invalidation in the coordinator: the sink a runtime registers per cache, the echoes a
//! lane expects of its own writes, and the counters.
//!
//! # Wiring
//!
//! When a runtime builds the lane of a spec with an L1, it registers the lane with the
//! [`PushFanOut`] of the spec's cache (one per runtime and cache name) and, for the first such
//! lane, subscribes that fan-out with [`Cache::subscribe_invalidations`](crate::cache::Cache::subscribe_invalidations). The runtime keeps
//! the subscription for its life (it is dropped on shutdown or drop, and renewed on the next
//! startup). The fan-out parses each pushed cache key back into `(tenant, id)` (keys of another
//! form are ignored) and hands it to every registered lane; lanes without an L1 are not
//! registered (they cache nothing in process memory).
//!
//! A lane that gets a push for `(tenant, id)`:
//!
//! 1. detaches the single-flight fetch in flight for it, so a read that starts after the push
//!    never joins a fetch that may have read the old value (the cross-replica twin of what a
//!    local write does);
//! 2. unless the push is an echo of its own (below): drops the key from the L1 and bumps the
//!    key's stripe epoch, so a read that started before cannot insert what it read afterwards.
//!
//! A reset (the stream was armed, lost, or the server flushed) drops every single-flight entry,
//! every expected echo and the whole L1 (every epoch).
//!
//! # Echoes of this process's own changes
//!
//! The tracking connection is not the one that writes, so Redis pushes this process's own
//! changes back, usually right after the data connection got its reply. Dropping on an echo
//! would undo the lane's own work: the writer refills its L1 with the rev it just wrote, and the
//! echo of the tombstone (or of that very fill) would drop it again. So before each change of a
//! data key the lane records an **expected echo** of that key ([`Echoes`]), and a push for a key
//! with one pending consumes it instead of dropping the entry. What counts:
//!
//! * **Writes**: the tombstone after a committed write, and the evict of an undecodable payload.
//!   Both are followed, once the cache call returned, by a local L1 removal (epoch bumped).
//! * **Fills**: read-through fills, batch fills and early-refresh fills, at the rev filled.
//!
//! Changes whose outcome is only known from the reply are settled after it: a fill the cache
//! rejected (it knew a newer rev) changed nothing, and a failed or timed-out call may or may not
//! have changed the key; either way the expectation is retracted at once. If the change did
//! happen, its echo then drops the entry like a foreign write would: over-evicting costs one
//! cache read, under-evicting would serve a stale value, so every doubt resolves to evicting.
//! Expectations are forgotten after [`ECHO_WINDOW`] (an echo takes about a round trip) and on
//! every reset. Not expected: the idle-expiry tombstone a sliding read may write (the reply does
//! not tell it from a plain miss; its echo costs at most one extra L1 miss) and the writes of
//! pending invalidations after a cache outage (no local removal follows them).
//!
//! ## Why suppressing is safe: ordering, and what Redis coalesces
//!
//! Redis sends the pushes of one tracking connection in modification order, but in `BCAST` mode
//! it collects the modified keys of one event-loop iteration and sends each key **once** per
//! iteration. So a push does not say whose change it reports, nor how many: one push may stand
//! for an own change *and* a foreign change of the same key made in the same iteration, or for
//! two own changes. The lane therefore never trusts a count blindly where it matters:
//!
//! * A push consumes **every** pending write expectation of its key. No write expectation can
//!   be left over to swallow a later foreign push: a write's echo (or an earlier push) always
//!   reaches the lane after the expectation was recorded (it is recorded before the call), and
//!   takes it. Suppressing a push that consumed a write expectation is safe whatever else it
//!   reported: every change it can report was made no later than the event-loop iteration of
//!   the own tombstone (later ones come in later pushes), and the local removal that follows
//!   the tombstone call (whatever its outcome) happens after that iteration's reply: it drops
//!   the key and refuses every insert of a read that started before it, and reads that start
//!   after it read the cache after that iteration, so after the foreign change too. Until the
//!   removal, at most the duration of the own cache call, the entry may still be served.
//! * A push with no write expectation consumes **one** fill expectation, and does not drop the
//!   entry at once; the lane **checks** instead: it reads the key from the cache (one batched
//!   read per burst of echoes, issued after the push arrived, so it sees every change the push
//!   reported) and keeps the L1 entry only if the cache holds a value at the rev filled;
//!   otherwise (a tombstone, another rev, nothing, an error, an open breaker) it drops the key
//!   like a foreign push. A foreign change coalesced with an own fill is thus applied about one
//!   round trip later, and a leftover fill expectation (two own fills coalesced) costs at most
//!   such a check on a later push.
//!
//! So an own change never evicts the fresher entry it led to, and a foreign change is never
//! swallowed: it drops the entry on arrival, or one cache round trip later when it arrived
//! together with (or as lookalike of) an own fill's echo.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};

use crate::cache::{InvalidationSink, PushSupport};
use crate::coordinator::key::parse_cache_key;
use crate::counter::Counter;
use crate::l1::L1Key;

/// How long an expected echo is waited for. An echo takes about one round trip; a stream that
/// lags this much is as good as down (and is reset when it is noticed).
pub(crate) const ECHO_WINDOW: Duration = Duration::from_secs(2);

/// Sweep expired expectations once the map holds this many keys (and at most once a window).
const SWEEP_AT: usize = 256;

/// A change of a data key this process makes, and expects to be pushed back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    /// A tombstone: after a committed write, or the evict of an undecodable payload. A local L1
    /// removal follows the call.
    Write,
    /// A fill at this rev.
    Fill(i64),
}

/// What a push consumed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Echo {
    /// Nothing expected: another replica's change (or an own change not expected).
    Foreign,
    /// Write expectations: the local removal after the write covers whatever the push reported.
    Write,
    /// A fill expectation at this rev: check the cache before keeping the L1 entry.
    Fill(i64),
}

#[derive(Debug)]
struct Expected {
    writes: u32,
    fills: u32,
    /// The highest rev of the pending fills.
    fill_rev: i64,
    deadline: Instant,
}

#[derive(Debug, Default)]
struct EchoMap {
    by_key: HashMap<L1Key, Expected>,
    next_sweep: Option<Instant>,
}

/// The echoes one lane expects, per key, each for [`ECHO_WINDOW`].
#[derive(Debug, Default)]
pub(crate) struct Echoes {
    map: Mutex<EchoMap>,
}

impl Echoes {
    /// Expect the echo of `change` of `key`, made from `now` on.
    pub(crate) fn expect(&self, key: L1Key, change: Change, now: Instant) {
        let deadline = now + ECHO_WINDOW;
        let mut map = self.map.lock();
        if map.by_key.len() >= SWEEP_AT && map.next_sweep.is_none_or(|at| now >= at) {
            map.by_key.retain(|_, e| e.deadline > now);
            map.next_sweep = Some(deadline);
        }
        let entry = map.by_key.entry(key).or_insert(Expected {
            writes: 0,
            fills: 0,
            fill_rev: i64::MIN,
            deadline,
        });
        if entry.deadline <= now {
            // Expired: what it expected will not be waited for any more.
            *entry = Expected {
                writes: 0,
                fills: 0,
                fill_rev: i64::MIN,
                deadline,
            };
        }
        entry.deadline = deadline;
        match change {
            Change::Write => entry.writes = entry.writes.saturating_add(1),
            Change::Fill(rev) => {
                entry.fills = entry.fills.saturating_add(1);
                entry.fill_rev = entry.fill_rev.max(rev);
            }
        }
    }

    /// The change expected for `key` did not happen, or may not have (a rejected fill, a failed
    /// call): stop expecting it. If its echo was consumed already, nothing is left to retract
    /// (a consumed fill was checked against the cache; a consumed write is covered by the
    /// removal after it).
    pub(crate) fn retract(&self, key: &L1Key, change: Change) {
        let mut map = self.map.lock();
        let Some(entry) = map.by_key.get_mut(key) else {
            return;
        };
        match change {
            Change::Write => entry.writes = entry.writes.saturating_sub(1),
            Change::Fill(_) => entry.fills = entry.fills.saturating_sub(1),
        }
        if entry.writes == 0 && entry.fills == 0 {
            map.by_key.remove(key);
        }
    }

    /// A push for `key` arrived at `now`: consume what it may be the echo of (see the module
    /// docs for why every write expectation but only one fill expectation).
    pub(crate) fn consume(&self, key: &L1Key, now: Instant) -> Echo {
        let mut map = self.map.lock();
        let Some(entry) = map.by_key.get_mut(key) else {
            return Echo::Foreign;
        };
        let echo = if entry.deadline <= now {
            entry.writes = 0;
            entry.fills = 0;
            Echo::Foreign
        } else if entry.writes > 0 {
            entry.writes = 0;
            Echo::Write
        } else if entry.fills > 0 {
            entry.fills -= 1;
            Echo::Fill(entry.fill_rev)
        } else {
            Echo::Foreign
        };
        if entry.writes == 0 && entry.fills == 0 {
            map.by_key.remove(key);
        }
        echo
    }

    /// Forget every expectation (a reset: the echoes may never come).
    pub(crate) fn clear(&self) {
        let mut map = self.map.lock();
        map.by_key.clear();
        map.next_sweep = None;
    }

    /// Keys with an expectation pending now.
    pub(crate) fn pending(&self, now: Instant) -> usize {
        self.map
            .lock()
            .by_key
            .values()
            .filter(|e| e.deadline > now)
            .count()
    }
}

const SUPPORT_NONE: u8 = 0;
const SUPPORT_ACTIVE: u8 = 1;
const SUPPORT_UNSUPPORTED: u8 = 2;

#[derive(Debug, Default)]
pub(crate) struct PushCounters {
    pub(crate) received: Counter,
    pub(crate) dropped: Counter,
    pub(crate) suppressed: Counter,
    pub(crate) checks: Counter,
    pub(crate) resets: Counter,
}

/// The own fills whose echo is being checked against the cache.
#[derive(Debug, Default)]
pub(crate) struct CheckQueue {
    pub(crate) pending: Vec<(L1Key, i64)>,
    /// A task drains `pending`.
    pub(crate) running: bool,
}

/// The push side of one lane with an L1.
#[derive(Debug, Default)]
pub(crate) struct PushState {
    support: AtomicU8,
    pub(crate) echoes: Echoes,
    pub(crate) counters: PushCounters,
    pub(crate) checks: Mutex<CheckQueue>,
}

impl PushState {
    /// Whether pushes reach this lane, so its own changes must be expected.
    #[inline]
    pub(crate) fn active(&self) -> bool {
        self.support.load(Ordering::Acquire) == SUPPORT_ACTIVE
    }

    pub(crate) fn set_support(&self, support: PushSupport) {
        let value = match support {
            PushSupport::Active => SUPPORT_ACTIVE,
            _ => SUPPORT_UNSUPPORTED,
        };
        self.support.store(value, Ordering::Release);
    }

    pub(crate) fn stats(&self, now: Instant) -> Option<L1PushStats> {
        let support = match self.support.load(Ordering::Acquire) {
            SUPPORT_NONE => return None,
            SUPPORT_ACTIVE => PushSupport::Active,
            _ => PushSupport::Unsupported,
        };
        let c = &self.counters;
        Some(L1PushStats {
            support,
            received: c.received.get(),
            dropped: c.dropped.get(),
            echoes_suppressed: c.suppressed.get(),
            echo_checks: c.checks.get(),
            resets: c.resets.get(),
            pending_echoes: self.echoes.pending(now),
        })
    }
}

/// Push invalidation of one lane's L1: part of [`CacheStats`](crate::CacheStats) for specs with
/// `l1(...)`.
///
/// # Examples
///
/// ```
/// use forze_core::cache::PushSupport;
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
/// let push = runtime.context().cache(&PRODUCT_SPEC)?.stats().push.expect("the spec has an L1");
/// // The in-memory cache is local to the process: it pushes nothing, the L1 is TTL-only.
/// assert_eq!(push.support, PushSupport::Unsupported);
/// assert_eq!(push.received, 0);
/// # Ok::<(), forze_core::Error>(())
/// # }).unwrap();
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct L1PushStats {
    /// Whether the cache pushes invalidations to this L1 now. `Unsupported`: it does not (not
    /// configured, refused, or the runtime is shut down), so a write on another replica may be
    /// served from this L1 for up to `l1(ttl)`.
    pub support: PushSupport,
    /// Invalidations pushed for this spec's keys, own echoes included.
    pub received: u64,
    /// L1 entries dropped by pushes: on arrival, or after an echo check found that the cache
    /// had moved past the rev this process filled.
    pub dropped: u64,
    /// Pushes taken for echoes of this process's own writes and fills (the entry was kept, or
    /// checked first).
    pub echoes_suppressed: u64,
    /// Echoes of own fills checked against the cache (read in batches).
    pub echo_checks: u64,
    /// Times the whole L1 was dropped because pushes may have been missed (tracking armed or
    /// re-armed, the stream lost, a flush, a refusal).
    pub resets: u64,
    /// Keys with an own change whose echo is still expected.
    pub pending_echoes: usize,
}

/// What a lane with an L1 does with pushes (object-safe, so the fan-out holds lanes of any
/// document type).
pub(crate) trait PushTarget: Send + Sync {
    /// A push for `key`.
    fn push_invalidated(self: Arc<Self>, key: L1Key);
    /// Pushes may have been missed: drop everything.
    fn push_reset(&self);
    /// What the cache answered to the subscription (or `Unsupported` once it is dropped).
    fn set_push_support(&self, support: PushSupport);
}

/// The sink of one cache in one runtime: hands each push to every lane using the cache.
pub(crate) struct PushFanOut {
    cache: Cow<'static, str>,
    targets: RwLock<Vec<Weak<dyn PushTarget>>>,
}

impl fmt::Debug for PushFanOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PushFanOut")
            .field("cache", &self.cache)
            .field("lanes", &self.targets.read().len())
            .finish()
    }
}

impl PushFanOut {
    pub(crate) fn new(cache: Cow<'static, str>) -> Self {
        PushFanOut {
            cache,
            targets: RwLock::new(Vec::new()),
        }
    }

    pub(crate) fn add(&self, target: Weak<dyn PushTarget>) {
        let mut targets = self.targets.write();
        targets.retain(|t| t.strong_count() > 0);
        targets.push(target);
    }

    pub(crate) fn set_support(&self, support: PushSupport) {
        for target in self.live() {
            target.set_push_support(support);
        }
    }

    fn live(&self) -> Vec<Arc<dyn PushTarget>> {
        self.targets
            .read()
            .iter()
            .filter_map(Weak::upgrade)
            .collect()
    }
}

impl InvalidationSink for PushFanOut {
    fn invalidated(&self, key: &str) {
        let Some((tenant, id)) = parse_cache_key(key) else {
            tracing::trace!(cache = %self.cache, key, "pushed key is not a document key; ignored");
            return;
        };
        let key = L1Key::new(tenant, id);
        for target in self.targets.read().iter() {
            if let Some(target) = target.upgrade() {
                target.push_invalidated(key);
            }
        }
    }

    fn reset(&self) {
        tracing::debug!(cache = %self.cache, "push invalidation reset: dropping the L1s of the cache");
        for target in self.live() {
            target.push_reset();
        }
    }

    fn support_changed(&self, support: PushSupport) {
        tracing::debug!(cache = %self.cache, ?support, "push invalidation support changed");
        self.set_support(support);
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;

    fn key(n: u128) -> L1Key {
        L1Key::new(None, Uuid::from_u128(n))
    }

    #[test]
    fn a_push_consumes_every_write_expectation_then_one_fill_at_a_time() {
        let echoes = Echoes::default();
        let now = Instant::now();
        let k = key(1);
        echoes.expect(k, Change::Write, now);
        echoes.expect(k, Change::Write, now);
        echoes.expect(k, Change::Fill(3), now);
        echoes.expect(k, Change::Fill(5), now);
        assert_eq!(echoes.consume(&k, now), Echo::Write, "both writes at once");
        assert_eq!(echoes.consume(&k, now), Echo::Fill(5));
        assert_eq!(echoes.consume(&k, now), Echo::Fill(5));
        assert_eq!(echoes.consume(&k, now), Echo::Foreign);
        assert_eq!(echoes.pending(now), 0);
        assert_eq!(echoes.consume(&key(2), now), Echo::Foreign);
    }

    #[test]
    fn retracted_and_expired_expectations_suppress_nothing() {
        let echoes = Echoes::default();
        let now = Instant::now();
        let k = key(1);
        echoes.expect(k, Change::Fill(2), now);
        echoes.retract(&k, Change::Fill(2));
        assert_eq!(echoes.consume(&k, now), Echo::Foreign);
        echoes.expect(k, Change::Write, now);
        echoes.retract(&k, Change::Write);
        echoes.retract(&k, Change::Write); // more retractions than expectations: harmless
        assert_eq!(echoes.consume(&k, now), Echo::Foreign);

        echoes.expect(k, Change::Write, now);
        let later = now + ECHO_WINDOW;
        assert_eq!(echoes.pending(later), 0);
        assert_eq!(echoes.consume(&k, later), Echo::Foreign, "expired");
        // an expired entry does not carry its counts into a new expectation
        echoes.expect(k, Change::Fill(1), now);
        echoes.expect(k, Change::Fill(7), later);
        assert_eq!(echoes.consume(&k, later), Echo::Fill(7));
        assert_eq!(echoes.consume(&k, later), Echo::Foreign);
    }

    #[test]
    fn clear_forgets_and_sweeps_bound_the_map() {
        let echoes = Echoes::default();
        let now = Instant::now();
        for n in 0..1000 {
            echoes.expect(key(n), Change::Write, now);
        }
        assert_eq!(echoes.pending(now), 1000);
        echoes.clear();
        assert_eq!(echoes.pending(now), 0);
        assert_eq!(echoes.consume(&key(1), now), Echo::Foreign);

        for n in 0..SWEEP_AT as u128 {
            echoes.expect(key(n), Change::Write, now);
        }
        // past the window, the next expectation sweeps the expired ones
        let later = now + ECHO_WINDOW + Duration::from_millis(1);
        echoes.expect(key(100_000), Change::Write, later);
        assert_eq!(echoes.map.lock().by_key.len(), 1);
    }
}
