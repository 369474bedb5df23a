//! Counters: monotonically increasing, relaxed, cheap on the hot path.

use std::sync::atomic::{AtomicU64, Ordering};

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
