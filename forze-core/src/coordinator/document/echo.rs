//! The lane as a push target: expected echoes of own changes, echo checks, drops and resets.

use std::sync::Arc;

use crate::cache::PushSupport;
use crate::coordinator::push::{Change, Echo, PushTarget};
use crate::l1::L1Key;
use crate::model::Document;

use crate::coordinator::key::{cache_key, parse_cache_key};

use super::ReadThrough;

impl<D: Document> ReadThrough<D> {
    /// Whether this lane has an L1 (and so takes push invalidations).
    pub(crate) fn has_l1(&self) -> bool {
        self.l1.is_some()
    }

    /// Expect the echo of `change` of `key`, if pushes reach this lane; what to retract if the
    /// change turns out not to have happened (or may not have).
    #[inline]
    pub(super) fn expect(&self, key: L1Key, change: Change) -> Option<Change> {
        if self.l1.is_none() || !self.push.active() {
            return None;
        }
        self.push
            .echoes
            .expect(key, change, self.lane.clock().now());
        Some(change)
    }

    pub(super) fn retract(&self, key: L1Key, expected: Option<Change>) {
        if let Some(change) = expected {
            self.push.echoes.retract(&key, change);
        }
    }

    /// Check the echoes of own fills against the cache (see [`push`](super::push)): queue
    /// `key`, and start the task that drains the queue unless it runs.
    pub(super) fn check_echo(self: &Arc<Self>, key: L1Key, rev: i64) {
        let start = {
            let mut queue = self.push.checks.lock();
            queue.pending.push((key, rev));
            !std::mem::replace(&mut queue.running, true)
        };
        if !start {
            return;
        }
        let guard = CheckGuard {
            cached: Arc::clone(self),
            done: false,
        };
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn(guard.drain());
            }
            // No runtime to check on: dropping the guard drops the queued keys (an echo that
            // cannot be checked counts as a foreign change).
            Err(_) => drop(guard),
        }
    }

    /// Drop `key` from the L1 because of a push (on arrival, or after a failed echo check).
    pub(super) fn push_drop(&self, key: &L1Key) {
        if let Some(hold) = self.held.get() {
            hold.remove(key);
        }
        if let Some(l1) = &self.l1
            && l1.remove(key)
        {
            self.push.counters.dropped.inc();
        }
    }

    /// Drop the document under cache key `key` from this process's L1 (the hook for push
    /// invalidation); `false` if `key` is not a key of this lane's form.
    pub(crate) fn l1_remove_key(&self, key: &str) -> bool {
        let Some((tenant, id)) = parse_cache_key(key) else {
            return false;
        };
        if let Some(l1) = &self.l1 {
            l1.remove(&L1Key::new(tenant, id));
        }
        true
    }

    /// Drop everything from this process's L1 (the hook for push invalidation resets).
    pub(crate) fn l1_clear(&self) {
        if let Some(l1) = &self.l1 {
            l1.clear();
        }
    }
}

/// The task that checks echoes of own fills: reads the queued keys from the cache in one batch
/// (repeatedly, while more arrive) and drops each key whose cached rev is not the one filled.
///
/// If it ends abnormally (a panic, the tokio runtime going away), dropping it drops every queued
/// key from the L1 and lets the next echo start a new task: an echo is never left unchecked.
pub(super) struct CheckGuard<D: Document> {
    cached: Arc<ReadThrough<D>>,
    done: bool,
}

impl<D: Document> CheckGuard<D> {
    async fn drain(mut self) {
        let cached = Arc::clone(&self.cached);
        loop {
            let batch = {
                let mut queue = cached.push.checks.lock();
                if queue.pending.is_empty() {
                    queue.running = false;
                    self.done = true;
                    return;
                }
                std::mem::take(&mut queue.pending)
            };
            let keys: Vec<String> = batch
                .iter()
                .map(|(key, _)| cache_key(key.tenant, key.id))
                .collect();
            // Issued after the pushes arrived: the cache has every change they reported. With
            // invalidations pending (a cache outage) the cache may be behind: don't trust it.
            let found = if cached.lane.fills_enabled() {
                match cached.lane.call(|| cached.lane.cache.get_many(&keys)).await {
                    Ok(entries) if entries.len() == keys.len() => Some(entries),
                    _ => None,
                }
            } else {
                None
            };
            cached.push.counters.checks.add(batch.len());
            for (i, (key, filled)) in batch.iter().enumerate() {
                let rev = found
                    .as_ref()
                    .and_then(|entries| entries[i].as_ref())
                    .map(|entry| entry.rev);
                if rev != Some(*filled) {
                    cached.push_drop(key);
                }
            }
        }
    }
}

impl<D: Document> Drop for CheckGuard<D> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let batch = {
            let mut queue = self.cached.push.checks.lock();
            queue.running = false;
            std::mem::take(&mut queue.pending)
        };
        for (key, _) in &batch {
            self.cached.push_drop(key);
        }
    }
}

impl<D: Document> PushTarget for ReadThrough<D> {
    fn push_invalidated(self: Arc<Self>, key: L1Key) {
        let counters = &self.push.counters;
        counters.received.inc();
        // Also for an echo: a fetch in flight may have read before a foreign change that the
        // echo stands for too (Redis reports a key once per event-loop iteration).
        self.flights.forget(&(key.tenant, key.id));
        if self.l1.is_none() {
            return;
        }
        match self.push.echoes.consume(&key, self.lane.clock().now()) {
            Echo::Foreign => self.push_drop(&key),
            Echo::Write => counters.suppressed.inc(),
            Echo::Fill(rev) => {
                counters.suppressed.inc();
                self.check_echo(key, rev);
            }
        }
    }

    fn push_reset(&self) {
        self.push.counters.resets.inc();
        self.push.echoes.clear();
        self.flights.forget_all();
        if let Some(hold) = self.held.get() {
            hold.clear();
        }
        if let Some(l1) = &self.l1 {
            l1.clear();
        }
    }

    fn set_push_support(&self, support: PushSupport) {
        self.push.set_support(support);
    }
}
