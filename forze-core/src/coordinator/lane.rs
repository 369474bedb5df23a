//! The untyped part of a cache lane: the cache, its breaker, the pending invalidations and the
//! counters. One per (spec, runtime).

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::breaker::Breaker;
use crate::cache::{Cache, Invalidation, Lookup};
use crate::clock::SharedClock;
use crate::coordinator::xfetch::Draws;
use crate::coordinator::{CacheStats, CoordinatorConfig, L1PushStats};
use crate::error::{Error, ErrorKind, Result};
use crate::l1::L1Stats;
use crate::model::DocumentMeta;
use crate::spec::CacheSpec;
use crate::store::BoxFuture;

/// A monotonically increasing counter.
#[derive(Debug, Default)]
pub(crate) struct Counter(AtomicU64);

impl Counter {
    pub(crate) fn inc(&self) {
        self.add(1);
    }
    pub(crate) fn add(&self, n: usize) {
        self.0.fetch_add(n as u64, Ordering::Relaxed);
    }
    pub(crate) fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) hits: Counter,
    pub(crate) misses: Counter,
    pub(crate) decode_errors: Counter,
    pub(crate) fills: Counter,
    pub(crate) fills_rejected: Counter,
    pub(crate) fills_skipped: Counter,
    pub(crate) store_reads: Counter,
    pub(crate) cache_errors: Counter,
    pub(crate) breaker_rejections: Counter,
    pub(crate) invalidations: Counter,
    pub(crate) invalidation_failures: Counter,
    pub(crate) flushes: Counter,
    pub(crate) early_refreshes: Counter,
    pub(crate) refresh_failures: Counter,
    pub(crate) refreshes_skipped: Counter,
    pub(crate) foreign_payloads: Counter,
    pub(crate) held: Counter,
    pub(crate) stale_joins: Counter,
    pub(crate) oversize: Counter,
}

#[derive(Debug, Default)]
struct PendingState {
    /// Cache key → the highest rev whose tombstone could not be written.
    revs: HashMap<String, i64>,
    /// Set when `revs` overflowed and ids were dropped: until then, bypass the cache entirely
    /// (every entry written before has expired by then).
    bypass_until: Option<Instant>,
}

impl PendingState {
    fn active(&self) -> bool {
        !self.revs.is_empty() || self.bypass_until.is_some()
    }
}

/// The invalidations that failed, to be written before cached reads resume.
///
/// They are written by the first cached read of the lane (which bypasses the cache until
/// then), and by a flusher task the lane starts when the set first becomes non-empty: other
/// replicas read the shared cache without knowing of this replica's pending ids, so they can
/// serve the old value from it until the tombstone is written. The flusher bounds that window
/// to the cache being reachable again (plus a backoff of at most [`FLUSH_BACKOFF_MAX`]) even
/// on a replica that never reads; the entry's ttl bounds it in any case.
#[derive(Debug, Default)]
struct Pending {
    /// `true` while `state` holds anything: the one check on the hit path.
    active: AtomicBool,
    state: Mutex<PendingState>,
    /// `true` while a flusher task runs (at most one per lane).
    flusher: AtomicBool,
}

/// The key the prober looks up to find out whether the cache answers (never written).
pub(crate) const PROBE_KEY: &str = "forze:probe";

/// The first pause of the flusher; it doubles after each failed attempt, up to
/// [`FLUSH_BACKOFF_MAX`], with jitter (each pause is drawn in [half, full]).
pub(crate) const FLUSH_BACKOFF_FIRST: Duration = Duration::from_millis(10);
/// The longest pause of the flusher between two attempts: pending invalidations are written
/// within about this (plus one call) of the cache answering again, whatever the breaker says.
pub(crate) const FLUSH_BACKOFF_MAX: Duration = Duration::from_millis(50);

pub(crate) struct CacheLane {
    pub(crate) document: Cow<'static, str>,
    pub(crate) spec: CacheSpec,
    pub(crate) cache: Arc<dyn Cache>,
    pub(crate) counters: Counters,
    config: CoordinatorConfig,
    clock: SharedClock,
    breaker: Arc<Breaker>,
    /// `true` while a prober task runs (at most one per lane).
    probing: Arc<AtomicBool>,
    probes: Arc<AtomicU64>,
    pending: Pending,
    flush_lock: tokio::sync::Mutex<()>,
}

impl fmt::Debug for CacheLane {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheLane")
            .field("document", &self.document)
            .field("cache", &self.spec.name)
            .field("breaker", &self.breaker.state())
            .finish()
    }
}

impl CacheLane {
    pub(crate) fn new(
        document: Cow<'static, str>,
        spec: CacheSpec,
        cache: Arc<dyn Cache>,
        config: CoordinatorConfig,
        clock: SharedClock,
    ) -> Self {
        CacheLane {
            breaker: Arc::new(Breaker::new(
                config.breaker_threshold,
                config.breaker_cool_down,
                Arc::clone(&clock),
            )),
            probing: Arc::new(AtomicBool::new(false)),
            probes: Arc::new(AtomicU64::new(0)),
            document,
            spec,
            cache,
            counters: Counters::default(),
            config,
            clock,
            pending: Pending::default(),
            flush_lock: tokio::sync::Mutex::new(()),
        }
    }

    /// The runtime clock.
    pub(crate) fn clock(&self) -> &SharedClock {
        &self.clock
    }

    /// The coordinator configuration.
    pub(crate) fn config(&self) -> &CoordinatorConfig {
        &self.config
    }

    /// The lookup of one key: sliding (extends the idle lifetime) when the spec slides.
    pub(crate) fn lookup<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Lookup>> {
        self.cache.lookup(key, self.spec.sliding_ttl)
    }

    /// The lookup of several keys in one round trip, sliding when the spec slides.
    pub(crate) fn lookup_many<'a>(
        &'a self,
        keys: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<Lookup>>> {
        self.cache.lookup_many(keys, self.spec.sliding_ttl)
    }

    /// Make one cache call under the breaker and the per-call timeout. `op` is only invoked
    /// when the breaker lets the call through.
    pub(crate) async fn call<'a, T>(
        &'a self,
        op: impl FnOnce() -> BoxFuture<'a, Result<T>>,
    ) -> Result<T> {
        let Some(permit) = self.breaker.try_acquire() else {
            self.counters.breaker_rejections.inc();
            return Err(Error::new(
                ErrorKind::Unavailable,
                format!(
                    "cache `{}` of document `{}` is skipped: its circuit breaker is open",
                    self.spec.name, self.document
                ),
            ));
        };
        match tokio::time::timeout(self.config.cache_timeout, op()).await {
            Ok(Ok(value)) => {
                permit.success();
                Ok(value)
            }
            Ok(Err(err)) => {
                if permit.failure() {
                    self.start_prober();
                }
                self.counters.cache_errors.inc();
                tracing::debug!(document = %self.document, cache = %self.spec.name, error = %err, "cache call failed");
                Err(err)
            }
            Err(_) => {
                if permit.failure() {
                    self.start_prober();
                }
                self.counters.cache_errors.inc();
                tracing::debug!(document = %self.document, cache = %self.spec.name, timeout = ?self.config.cache_timeout, "cache call timed out");
                Err(Error::new(
                    ErrorKind::Unavailable,
                    format!(
                        "cache `{}` of document `{}` did not answer within {:?}",
                        self.spec.name, self.document, self.config.cache_timeout
                    ),
                ))
            }
        }
    }

    /// Make one cache call outside the breaker, under the per-call timeout (the flusher's
    /// writes of pending invalidations). An answer closes the breaker: the cache is back.
    async fn call_unguarded<'a, T>(
        &'a self,
        op: impl FnOnce() -> BoxFuture<'a, Result<T>>,
    ) -> Result<T> {
        match tokio::time::timeout(self.config.cache_timeout, op()).await {
            Ok(Ok(value)) => {
                if self.breaker.is_open() {
                    self.breaker.close();
                }
                Ok(value)
            }
            Ok(Err(err)) => {
                self.counters.cache_errors.inc();
                Err(err)
            }
            Err(_) => {
                self.counters.cache_errors.inc();
                Err(Error::new(
                    ErrorKind::Unavailable,
                    format!(
                        "cache `{}` of document `{}` did not answer within {:?}",
                        self.spec.name, self.document, self.config.cache_timeout
                    ),
                ))
            }
        }
    }

    /// Start the lane's prober, unless one runs: while the breaker is open, a task makes one
    /// cheap call (a lookup of [`PROBE_KEY`]) outside the breaker every `probe_interval`
    /// (jittered), and closes the breaker on the first answer. So reads use the cache again
    /// about one interval after it is back, instead of after the breaker's cool-down. The task
    /// holds the breaker weakly and ends with the lane.
    fn start_prober(&self) {
        if self.probing.swap(true, Ordering::SeqCst) {
            return;
        }
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            // No runtime: the breaker's own cool-down and half-open probe still recover.
            self.probing.store(false, Ordering::SeqCst);
            return;
        };
        let breaker = Arc::downgrade(&self.breaker);
        let probing = Arc::clone(&self.probing);
        let cache = Arc::clone(&self.cache);
        let interval = self.config.probe_interval;
        let timeout = self.config.cache_timeout;
        let document = self.document.clone();
        let probes = Arc::clone(&self.probes);
        handle.spawn(async move {
            let draws = Draws::new(Draws::entropy());
            loop {
                tokio::time::sleep(interval.mul_f64(0.5 + 0.5 * draws.unit())).await;
                let Some(breaker) = breaker.upgrade() else {
                    return;
                };
                if !breaker.is_open() {
                    break;
                }
                probes.fetch_add(1, Ordering::Relaxed);
                if let Ok(Ok(_)) =
                    tokio::time::timeout(timeout, cache.lookup(PROBE_KEY, None)).await
                {
                    tracing::debug!(document = %document, "cache probe answered");
                    breaker.close();
                    break;
                }
            }
            probing.store(false, Ordering::SeqCst);
        });
    }

    /// Whether a read may use the cache now. With invalidations pending, first writes them
    /// (one caller at a time; the others bypass the cache meanwhile): `false` until every
    /// pending id is invalidated.
    pub(crate) async fn reads_enabled(&self) -> bool {
        if !self.pending.active.load(Ordering::Acquire) {
            return true;
        }
        self.flush().await
    }

    /// Whether a fill may be written now (not while invalidations are pending).
    pub(crate) fn fills_enabled(&self) -> bool {
        !self.pending.active.load(Ordering::Acquire)
    }

    async fn flush(&self) -> bool {
        let Ok(_flushing) = self.flush_lock.try_lock() else {
            return false;
        };
        {
            let mut state = self.pending.state.lock();
            if let Some(until) = state.bypass_until {
                if self.clock.now() < until {
                    return false;
                }
                state.bypass_until = None;
                tracing::info!(document = %self.document, "cache bypass window over; cached reads resume");
            }
        }
        self.write_pending(true).await
    }

    /// Write the pending tombstones (with `flush_lock` held), through the breaker if `guarded`;
    /// `true` if none is pending after.
    async fn write_pending(&self, guarded: bool) -> bool {
        let batch: Vec<Invalidation> = self
            .pending
            .state
            .lock()
            .revs
            .iter()
            .map(|(key, rev)| Invalidation::new(key.clone(), *rev, self.spec.ttl))
            .collect();
        if !batch.is_empty() {
            let written = if guarded {
                self.call(|| self.cache.invalidate_many(&batch)).await
            } else {
                self.call_unguarded(|| self.cache.invalidate_many(&batch))
                    .await
            };
            if written.is_err() {
                return false;
            }
            self.counters.flushes.inc();
            tracing::info!(document = %self.document, ids = batch.len(), "pending cache invalidations written");
        }
        self.settle(&batch)
    }

    /// One attempt of the flusher: `true` once no id is pending (a bypass window after an
    /// overflow is left to the reads: there is nothing to write for it).
    async fn flush_ids(&self) -> bool {
        let Ok(_flushing) = self.flush_lock.try_lock() else {
            return false;
        };
        // Outside the breaker: its cool-down must not delay what other replicas see.
        self.write_pending(false).await;
        self.pending.state.lock().revs.is_empty()
    }

    /// Start the lane's flusher, unless one runs: a task that writes the pending tombstones
    /// with exponential backoff and jitter ([`FLUSH_BACKOFF_FIRST`] up to
    /// [`FLUSH_BACKOFF_MAX`]), outside the breaker (an answer closes it), until none is pending.
    /// It holds `owner` weakly (`lane` reaches the lane in it), so it never keeps a dropped
    /// runtime's lane alive.
    pub(crate) fn start_flusher<T: Send + Sync + 'static>(
        &self,
        owner: &Arc<T>,
        lane: fn(&T) -> &CacheLane,
    ) {
        // Nothing to write (or only a bypass window after an overflow), or a flusher runs.
        if self.pending.state.lock().revs.is_empty()
            || self.pending.flusher.swap(true, Ordering::SeqCst)
        {
            return;
        }
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            // No runtime to run it on: the reads of this lane still flush.
            self.pending.flusher.store(false, Ordering::SeqCst);
            return;
        };
        let owner: Weak<T> = Arc::downgrade(owner);
        handle.spawn(async move {
            let draws = Draws::new(Draws::entropy());
            let mut backoff = FLUSH_BACKOFF_FIRST;
            loop {
                tokio::time::sleep(backoff.mul_f64(0.5 + 0.5 * draws.unit())).await;
                let Some(owner) = owner.upgrade() else {
                    return;
                };
                let lane = lane(&owner);
                if !lane.flush_ids().await {
                    backoff = (backoff * 2).min(FLUSH_BACKOFF_MAX);
                    continue;
                }
                // Done. An id remembered after the check above either saw the flag still set
                // (then this task must carry on) or started a new flusher (then this one ends).
                lane.pending.flusher.store(false, Ordering::SeqCst);
                let more = !lane.pending.state.lock().revs.is_empty();
                if !more || lane.pending.flusher.swap(true, Ordering::SeqCst) {
                    return;
                }
                backoff = FLUSH_BACKOFF_FIRST;
            }
        });
    }

    /// Forget the pending invalidations that `written` covers; `true` if none is left.
    fn settle(&self, written: &[Invalidation]) -> bool {
        let mut state = self.pending.state.lock();
        for inv in written {
            if state.revs.get(&inv.key).is_some_and(|rev| *rev <= inv.rev) {
                state.revs.remove(&inv.key);
            }
        }
        let active = state.active();
        self.pending.active.store(active, Ordering::Release);
        !active
    }

    /// Write tombstones now. If that fails, remember them: reads of this spec use the cache
    /// again only once they are written. `true` if they were written (`false`: the call failed
    /// or timed out, so they may or may not have been; then the caller starts the flusher,
    /// [`start_flusher`](Self::start_flusher)).
    pub(crate) async fn invalidate(&self, invalidations: Vec<Invalidation>) -> bool {
        if invalidations.is_empty() {
            return true;
        }
        self.counters.invalidations.add(invalidations.len());
        match self
            .call(|| self.cache.invalidate_many(&invalidations))
            .await
        {
            Ok(()) => {
                if self.pending.active.load(Ordering::Acquire) {
                    self.settle(&invalidations);
                }
                true
            }
            Err(err) => {
                self.counters.invalidation_failures.add(invalidations.len());
                tracing::warn!(
                    document = %self.document,
                    cache = %self.spec.name,
                    ids = invalidations.len(),
                    error = %err,
                    "cache invalidation failed; the ids are remembered and invalidated before cached reads resume, and retried in the background (other replicas may serve the old value from the cache until then)"
                );
                self.remember(invalidations);
                false
            }
        }
    }

    fn remember(&self, invalidations: Vec<Invalidation>) {
        let mut state = self.pending.state.lock();
        for inv in invalidations {
            let rev = state.revs.entry(inv.key).or_insert(inv.rev);
            *rev = (*rev).max(inv.rev);
        }
        if state.revs.len() > self.config.max_pending_invalidations {
            let dropped = state.revs.len();
            state.revs.clear();
            state.bypass_until = Some(self.clock.now() + self.spec.ttl);
            tracing::warn!(
                document = %self.document,
                dropped,
                bypass = ?self.spec.ttl,
                "too many pending cache invalidations; bypassing the cache until every entry written before has expired"
            );
        }
        self.pending.active.store(true, Ordering::Release);
    }

    /// A cached payload did not decode: count it, evict it (best effort), carry on to the store.
    /// `true` if the evict call succeeded.
    pub(crate) async fn undecodable(&self, key: &str, rev: i64, err: &serde_json::Error) -> bool {
        self.counters.decode_errors.inc();
        tracing::warn!(
            document = %self.document,
            key,
            rev,
            error = %err,
            "cached payload does not decode; evicting it and reading the store"
        );
        self.call(|| self.cache.evict(key, rev, self.spec.ttl))
            .await
            .is_ok()
    }

    /// Whether a store read that took `elapsed` is too old to fill the cache (or the L1): a
    /// write committed while it ran wrote a tombstone living the cache `ttl`, which may have
    /// expired by the time the fill lands. The margin (a tenth of the ttl, at least the cache
    /// call budget) covers the fill's own trip to the cache.
    pub(crate) fn outlived_tombstones(&self, elapsed: Duration) -> bool {
        let margin = (self.spec.ttl / 10).max(self.config.cache_timeout);
        let stale = elapsed >= self.spec.ttl.saturating_sub(margin);
        if stale {
            self.counters.fills_skipped.inc();
            tracing::warn!(
                document = %self.document,
                elapsed = ?elapsed,
                ttl = ?self.spec.ttl,
                "a store read took about as long as the cache ttl; its value is returned but not cached"
            );
        }
        stale
    }

    /// The lifetime of a fill of a document with `meta`.
    pub(crate) fn ttl_for(&self, meta: &DocumentMeta) -> Duration {
        match self.spec.age_ttl {
            Some(age) => {
                let since = self.clock.utc_now() - meta.last_update_at;
                age.lifetime(since.to_std().unwrap_or(Duration::ZERO))
            }
            None => self.spec.ttl,
        }
    }

    pub(crate) fn stats(
        &self,
        fetches: u64,
        coalesced: u64,
        in_flight: usize,
        l1: Option<L1Stats>,
        push: Option<L1PushStats>,
    ) -> CacheStats {
        let c = &self.counters;
        let (pending, bypassing) = {
            let state = self.pending.state.lock();
            (state.revs.len(), state.bypass_until.is_some())
        };
        CacheStats {
            hits: c.hits.get(),
            misses: c.misses.get(),
            decode_errors: c.decode_errors.get(),
            fills: c.fills.get(),
            fills_rejected: c.fills_rejected.get(),
            fills_skipped: c.fills_skipped.get(),
            store_reads: c.store_reads.get(),
            fetches,
            coalesced,
            in_flight,
            cache_errors: c.cache_errors.get(),
            breaker_rejections: c.breaker_rejections.get(),
            breaker: self.breaker.state(),
            invalidations: c.invalidations.get(),
            invalidation_failures: c.invalidation_failures.get(),
            pending_invalidations: pending,
            bypassing,
            flushes: c.flushes.get(),
            early_refreshes: c.early_refreshes.get(),
            refresh_failures: c.refresh_failures.get(),
            refreshes_skipped: c.refreshes_skipped.get(),
            foreign_payloads: c.foreign_payloads.get(),
            held: c.held.get(),
            stale_joins: c.stale_joins.get(),
            oversize: c.oversize.get(),
            probes: self.probes.load(Ordering::Relaxed),
            l1,
            push,
        }
    }
}

/// The cache key of a document: its id, prefixed by the tenant when one is bound.
pub(crate) fn cache_key(tenant: Option<uuid::Uuid>, id: uuid::Uuid) -> String {
    KeyBuf::new(tenant, id).as_str().to_owned()
}

/// The (tenant, id) of a cache key made by [`cache_key`], if it is one.
pub(crate) fn parse_cache_key(key: &str) -> Option<(Option<uuid::Uuid>, uuid::Uuid)> {
    const L: usize = uuid::fmt::Hyphenated::LENGTH;
    match key.len() {
        L => Some((None, uuid::Uuid::try_parse(key).ok()?)),
        n if n == 2 * L + 1 && key.as_bytes()[L] == b':' => Some((
            Some(uuid::Uuid::try_parse(&key[..L]).ok()?),
            uuid::Uuid::try_parse(&key[L + 1..]).ok()?,
        )),
        _ => None,
    }
}

/// A cache key on the stack, so the hit path does not allocate one.
pub(crate) struct KeyBuf {
    buf: [u8; 2 * uuid::fmt::Hyphenated::LENGTH + 1],
    len: usize,
}

impl KeyBuf {
    pub(crate) fn new(tenant: Option<uuid::Uuid>, id: uuid::Uuid) -> Self {
        const L: usize = uuid::fmt::Hyphenated::LENGTH;
        let mut buf = [0u8; 2 * L + 1];
        let len = match tenant {
            Some(tenant) => {
                tenant.hyphenated().encode_lower(&mut buf[..L]);
                buf[L] = b':';
                id.hyphenated().encode_lower(&mut buf[L + 1..]);
                2 * L + 1
            }
            None => {
                id.hyphenated().encode_lower(&mut buf[..L]);
                L
            }
        };
        KeyBuf { buf, len }
    }

    pub(crate) fn as_str(&self) -> &str {
        // Hyphenated UUIDs and ':' are ASCII.
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;

    #[test]
    fn keys_are_the_id_or_tenant_colon_id() {
        let (t, id) = (Uuid::now_v7(), Uuid::now_v7());
        assert_eq!(cache_key(None, id), id.to_string());
        assert_eq!(cache_key(Some(t), id), format!("{t}:{id}"));
        assert_eq!(KeyBuf::new(Some(t), id).as_str(), format!("{t}:{id}"));
        assert_eq!(parse_cache_key(&cache_key(None, id)), Some((None, id)));
        assert_eq!(
            parse_cache_key(&cache_key(Some(t), id)),
            Some((Some(t), id))
        );
        assert_eq!(parse_cache_key("nope"), None);
        assert_eq!(parse_cache_key(&format!("{t};{id}")), None);
    }
}
