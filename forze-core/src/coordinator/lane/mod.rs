//! The untyped part of a cache lane: the cache, its breaker, the pending invalidations and the
//! counters. One per (spec, runtime).

mod call;
mod pending;

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use pending::Pending;

use crate::BoxFuture;
use crate::breaker::Breaker;
use crate::cache::{Cache, Lookup};
use crate::clock::SharedClock;
use crate::coordinator::{CacheStats, CoordinatorConfig, L1PushStats};
use crate::counter::Counter;
use crate::error::Result;
use crate::l1::L1Stats;
use crate::model::DocumentMeta;
use crate::spec::CacheSpec;

/// The lane's counters, bumped concurrently by every read and write of the spec.
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
    probes: Arc<Counter>,
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
            probes: Arc::default(),
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
        let (pending, bypassing) = self.pending_counts();
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
            probes: self.probes.get(),
            l1,
            push,
        }
    }
}
