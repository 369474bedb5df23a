//! The typed part of a lane: the store of one spec, and for cached specs the L1, the
//! single-flight map, and the read-through, early-refresh and invalidation logic.

mod batch;
mod echo;
mod invalidate;
mod read;
mod refresh;
mod unique;

pub(crate) use unique::UniqueIds;

use invalidate::Deferred;

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use uuid::Uuid;

use crate::cache::Cache;
use crate::clock::SharedClock;
use crate::coordinator::l1::L1;
use crate::coordinator::push::PushState;
use crate::coordinator::xfetch::ElectionRng;
use crate::coordinator::{CacheLane, CacheStats, CoordinatorConfig};
use crate::error::Result;
use crate::l1::{L1Config, build_store};
use crate::model::Document;
use crate::singleflight::SingleFlight;
use crate::spec::CacheSpec;
use crate::spec::Tenancy;
use crate::store::DocumentStore;
use crate::tx::TxScope;

type FlightKey = (Option<Uuid>, Uuid);

/// One spec in one runtime: its store, and its cache lane if the spec is cached.
pub(crate) struct DocumentLane<D: Document> {
    pub(crate) name: Cow<'static, str>,
    pub(crate) store: Arc<dyn DocumentStore>,
    pub(crate) cached: Option<Arc<ReadThrough<D>>>,
    /// Which document holds a unique value, for lookups by a unique field of a cached spec.
    pub(crate) unique_ids: Option<UniqueIds>,
    /// The spec's tenancy: every port checks its context's tenant against it.
    pub(crate) tenancy: Tenancy,
}

impl<D: Document> fmt::Debug for DocumentLane<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DocumentLane")
            .field("document", &self.name)
            .field("store", &self.store)
            .field("cached", &self.cached.as_ref().map(|c| &c.lane))
            .finish()
    }
}

impl<D: Document> DocumentLane<D> {
    pub(crate) fn new(
        name: Cow<'static, str>,
        tenancy: Tenancy,
        store: Arc<dyn DocumentStore>,
        cache: Option<(CacheSpec, Arc<dyn Cache>)>,
        config: &CoordinatorConfig,
        clock: &SharedClock,
    ) -> Self {
        let cached = cache.map(|(spec, cache)| {
            Arc::new(ReadThrough::new(
                name.clone(),
                spec,
                cache,
                Arc::clone(&store),
                config,
                clock,
            ))
        });
        let unique_ids = cached.as_ref().map(|_| UniqueIds::new(&name, clock));
        DocumentLane {
            name,
            store,
            cached,
            unique_ids,
            tenancy,
        }
    }

    /// Refuse a context whose tenant does not fit the spec ([`Tenancy::check`]): the one check
    /// every port makes when it is taken, so both backends (and the cache) agree.
    pub(crate) fn check_tenant(&self, tenant: Option<Uuid>) -> Result<()> {
        self.tenancy.check(&self.name, tenant)
    }

    pub(crate) fn cache_spec(&self) -> Option<&CacheSpec> {
        self.cached.as_ref().map(|c| &c.lane.spec)
    }

    /// Invalidate `written` (id, committed rev) after a write: now, or after the commit of the
    /// transaction the write ran in.
    pub(crate) async fn after_write(
        &self,
        tenant: Option<Uuid>,
        tx: Option<&TxScope>,
        written: Vec<(Uuid, i64)>,
    ) {
        let Some(cached) = &self.cached else {
            return;
        };
        if written.is_empty() {
            return;
        }
        match tx {
            Some(tx) => {
                let work = Box::new(Deferred {
                    cached: Arc::clone(cached),
                    tenant,
                    written,
                });
                // The transaction already finished: invalidate now.
                if let Some(late) = tx.defer(work) {
                    late.run().await;
                }
            }
            None => cached.invalidate_now(tenant, &written).await,
        }
    }
}

/// The read-through state of one cached spec in one runtime.
pub(crate) struct ReadThrough<D: Document> {
    pub(crate) lane: CacheLane,
    flights: SingleFlight<FlightKey, Arc<D::Read>>,
    store: Arc<dyn DocumentStore>,
    name: Cow<'static, str>,
    l1: Option<L1<D::Read>>,
    /// Values read from the store while the cache was unavailable, served for
    /// `CoordinatorConfig::outage_hold` to later reads that cannot use the cache either (built
    /// on the first outage).
    held: std::sync::OnceLock<L1<D::Read>>,
    /// Push invalidation of the L1 (used only with an L1).
    push: PushState,
    draws: ElectionRng,
    /// Background early refreshes in flight.
    refreshing: AtomicUsize,
}

impl<D: Document> ReadThrough<D> {
    fn new(
        name: Cow<'static, str>,
        spec: CacheSpec,
        cache: Arc<dyn Cache>,
        store: Arc<dyn DocumentStore>,
        config: &CoordinatorConfig,
        clock: &SharedClock,
    ) -> Self {
        let l1 = spec.l1.map(|l1| {
            let config = L1Config::new(l1.capacity, l1.ttl, Arc::clone(clock));
            L1::new(build_store(l1.store, &config), Arc::clone(clock))
        });
        ReadThrough {
            lane: CacheLane::new(name.clone(), spec, cache, config.clone(), Arc::clone(clock)),
            flights: SingleFlight::new(),
            store,
            name,
            l1,
            held: std::sync::OnceLock::new(),
            push: PushState::default(),
            draws: ElectionRng::new(
                config
                    .early_refresh_seed
                    .unwrap_or_else(ElectionRng::entropy),
            ),
            refreshing: AtomicUsize::new(0),
        }
    }
}

/// What a `CacheHandle` needs from a lane, without its document type.
pub(crate) trait CacheSource: Send + Sync + fmt::Debug {
    fn lane(&self) -> &CacheLane;
    fn stats(&self) -> CacheStats;
    /// Drop the document under cache key `key` from the L1; `false` if `key` is not one.
    fn l1_remove(&self, key: &str) -> bool;
    /// Drop everything from the L1.
    fn l1_clear(&self);
}

impl<D: Document> fmt::Debug for ReadThrough<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.lane.fmt(f)
    }
}

impl<D: Document> CacheSource for ReadThrough<D> {
    fn lane(&self) -> &CacheLane {
        &self.lane
    }

    fn stats(&self) -> CacheStats {
        self.lane.stats(
            self.flights.started(),
            self.flights.joined(),
            self.flights.in_flight(),
            self.l1.as_ref().map(L1::stats),
            self.push.stats(self.lane.clock().now()),
        )
    }

    fn l1_remove(&self, key: &str) -> bool {
        self.l1_remove_key(key)
    }

    fn l1_clear(&self) {
        ReadThrough::l1_clear(self);
    }
}
