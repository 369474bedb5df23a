//! Pending invalidations: tombstones that could not be written, the bypass they impose on
//! this replica's reads, and the flusher that writes them once the cache answers.

use crate::backoff::Backoff;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::cache::Invalidation;

use super::CacheLane;

#[derive(Debug, Default)]
pub(super) struct PendingState {
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
pub(super) struct Pending {
    /// `true` while `state` holds anything: the one check on the hit path.
    active: AtomicBool,
    state: Mutex<PendingState>,
    /// `true` while a flusher task runs (at most one per lane).
    flusher: AtomicBool,
}

/// The first pause of the flusher; it doubles after each failed attempt, up to
/// [`FLUSH_BACKOFF_MAX`], with jitter (each pause is drawn in [half, full]).
pub(crate) const FLUSH_BACKOFF_FIRST: Duration = Duration::from_millis(10);

/// The longest pause of the flusher between two attempts: pending invalidations are written
/// within about this (plus one call) of the cache answering again, whatever the breaker says.
pub(crate) const FLUSH_BACKOFF_MAX: Duration = Duration::from_millis(50);

impl CacheLane {
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

    pub(super) async fn flush(&self) -> bool {
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
    pub(super) async fn write_pending(&self, guarded: bool) -> bool {
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
        self.forget_invalidated(&batch)
    }

    /// One attempt of the flusher: `true` once no id is pending (a bypass window after an
    /// overflow is left to the reads: there is nothing to write for it).
    pub(super) async fn flush_ids(&self) -> bool {
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
            let backoff = Backoff::new(FLUSH_BACKOFF_FIRST, FLUSH_BACKOFF_MAX);
            let mut attempt = 1;
            loop {
                tokio::time::sleep(backoff.delay(attempt)).await;
                let Some(owner) = owner.upgrade() else {
                    return;
                };
                let lane = lane(&owner);
                if !lane.flush_ids().await {
                    attempt = attempt.saturating_add(1);
                    continue;
                }
                // Done. An id remembered after the check above either saw the flag still set
                // (then this task must carry on) or started a new flusher (then this one ends).
                lane.pending.flusher.store(false, Ordering::SeqCst);
                let more = !lane.pending.state.lock().revs.is_empty();
                if !more || lane.pending.flusher.swap(true, Ordering::SeqCst) {
                    return;
                }
                attempt = 1;
            }
        });
    }

    /// Forget the pending invalidations that `written` covers; `true` if none is left.
    pub(super) fn forget_invalidated(&self, written: &[Invalidation]) -> bool {
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
                    self.forget_invalidated(&invalidations);
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

    pub(super) fn remember(&self, invalidations: Vec<Invalidation>) {
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

    /// How many ids are pending, and whether the lane bypasses the cache after an overflow.
    pub(super) fn pending_counts(&self) -> (usize, bool) {
        let state = self.pending.state.lock();
        (state.revs.len(), state.bypass_until.is_some())
    }
}
