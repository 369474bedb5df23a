//! The typed part of a lane: the store of one spec, and for cached specs the L1, the
//! single-flight map, and the read-through, early-refresh and invalidation logic.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use uuid::Uuid;

use crate::cache::PushSupport;
use crate::cache::{Cache, CacheEntry, CacheFill, Invalidation, Lookup, TOMBSTONE_DELETED};
use crate::clock::SharedClock;
use crate::codec::{many_not_found, not_found, row_to_read};
use crate::coordinator::l1::{L1, Stamp};
use crate::coordinator::push::{Change, Echo, PushState, PushTarget};
use crate::coordinator::xfetch::{self, Draws};
use crate::coordinator::{CacheLane, CacheStats, CoordinatorConfig};
use crate::error::{Error, ErrorKind, Result};
use crate::l1::{L1Config, L1Key, L1Stats, build_store};
use crate::model::Document;
use crate::singleflight::SingleFlight;
use crate::spec::CacheSpec;
use crate::store::{BoxFuture, DocumentStore, StoreCx};
use crate::tx::{AfterCommit, TxScope};

use super::lane::{KeyBuf, cache_key, parse_cache_key};

type FlightKey = (Option<Uuid>, Uuid);

/// One spec in one runtime: its store, and its cache lane if the spec is cached.
pub(crate) struct DocumentLane<D: Document> {
    pub(crate) name: Cow<'static, str>,
    pub(crate) store: Arc<dyn DocumentStore>,
    pub(crate) cached: Option<Arc<Cached<D>>>,
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
        store: Arc<dyn DocumentStore>,
        cache: Option<(CacheSpec, Arc<dyn Cache>)>,
        config: &CoordinatorConfig,
        clock: &SharedClock,
    ) -> Self {
        let cached = cache.map(|(spec, cache)| {
            Arc::new(Cached::new(
                name.clone(),
                spec,
                cache,
                Arc::clone(&store),
                config,
                clock,
            ))
        });
        DocumentLane {
            name,
            store,
            cached,
        }
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

/// How a single-flight fetch treats the shared cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FillMode {
    /// The cache failed or is bypassed: read the store only (the L1 still takes the value).
    Skip,
    /// Fill with a compare-and-set at the rev read.
    Fill,
    /// An early refresh: fill even over a value at the same rev (renewing its lifetime).
    Refresh,
}

/// The read-through state of one cached spec in one runtime.
pub(crate) struct Cached<D: Document> {
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
    draws: Draws,
    /// Background early refreshes in flight.
    refreshing: AtomicUsize,
}

impl<D: Document> Cached<D> {
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
            L1::new(build_store(l1.store, &config))
        });
        Cached {
            lane: CacheLane::new(name.clone(), spec, cache, config.clone(), Arc::clone(clock)),
            flights: SingleFlight::new(),
            store,
            name,
            l1,
            held: std::sync::OnceLock::new(),
            push: PushState::default(),
            draws: Draws::new(config.early_refresh_seed.unwrap_or_else(Draws::entropy)),
            refreshing: AtomicUsize::new(0),
        }
    }

    /// A read-through `get`. An L1 hit completes on the first poll, without I/O.
    #[inline]
    pub(crate) async fn get(self: &Arc<Self>, tenant: Option<Uuid>, id: Uuid) -> Result<D::Read> {
        let stamp = match &self.l1 {
            Some(l1) => {
                let key = L1Key::new(tenant, id);
                if let Some(read) = l1.get(&key) {
                    return Ok(read);
                }
                Some(l1.stamp(&key))
            }
            None => None,
        };
        self.get_shared(tenant, id, stamp).await
    }

    /// `get` past the L1: the shared cache, then a single-flight fetch.
    async fn get_shared(
        self: &Arc<Self>,
        tenant: Option<Uuid>,
        id: Uuid,
        stamp: Option<Stamp>,
    ) -> Result<D::Read> {
        let key = KeyBuf::new(tenant, id);
        let key = key.as_str();
        let mut mode = FillMode::Skip;
        let mut floor = None;
        let mut cache_down = true;
        if self.lane.reads_enabled().await {
            match self.lane.call(|| self.lane.lookup(key)).await {
                Ok(Lookup::Value(entry)) => {
                    cache_down = false;
                    match self.decode(id, &entry) {
                        Ok((read, xf)) => {
                            self.lane.counters.hits.inc();
                            if let Some(xf) = xf
                                && self.elects(&xf)
                            {
                                return Ok(self.refresh_early(tenant, id, key, read, stamp).await);
                            }
                            return Ok(self.keep(tenant, id, stamp, read));
                        }
                        Err(bad) => {
                            // A payload that does not decode still proves its rev was
                            // committed; one of another document proves nothing about this one.
                            if bad.proves_rev() {
                                floor = Some(Floor::new(entry.rev, self.flights.epoch()));
                            }
                            self.discard(tenant, id, key, entry.rev, &bad).await;
                            mode = FillMode::Fill;
                        }
                    }
                }
                Ok(Lookup::Tombstone(rev)) => {
                    cache_down = false;
                    self.lane.counters.misses.inc();
                    // Read after the lookup returned: flights that start from now on started
                    // after the write that left the tombstone committed.
                    floor = Some(Floor::new(rev, self.flights.epoch()));
                    mode = FillMode::Fill;
                }
                Ok(Lookup::Absent) => {
                    cache_down = false;
                    self.lane.counters.misses.inc();
                    mode = FillMode::Fill;
                }
                // Recorded by `call` (breaker, counters): fail open to the store, don't fill.
                Err(_) => {}
            }
        }
        if cache_down && let Some(read) = self.held_get(tenant, id) {
            return Ok(read);
        }
        let read = self
            .fetch_shared(tenant, id, key.to_owned(), mode, floor)
            .await?;
        Ok(D::Read::clone(&read))
    }

    /// Decode a cached payload, checking it is the document asked for.
    fn decode(
        &self,
        id: Uuid,
        entry: &CacheEntry,
    ) -> std::result::Result<(D::Read, Option<xfetch::XfMeta>), Undecodable> {
        let (read, xf) = xfetch::decode::<D::Read>(&entry.payload).map_err(Undecodable::Json)?;
        let meta = D::meta(&read);
        if meta.id != id {
            return Err(Undecodable::OtherDocument(meta.id));
        }
        if meta.rev != entry.rev {
            return Err(Undecodable::OtherRev(meta.rev));
        }
        Ok((read, xf))
    }

    /// A cached payload that cannot be served: count it, evict it, read the store instead.
    async fn discard(
        &self,
        tenant: Option<Uuid>,
        id: Uuid,
        key: &str,
        rev: i64,
        bad: &Undecodable,
    ) {
        match bad {
            Undecodable::Json(err) => self.undecodable(tenant, id, key, rev, err).await,
            other => {
                self.lane.counters.foreign_payloads.inc();
                tracing::warn!(
                    document = %self.name,
                    %id,
                    key,
                    rev,
                    problem = %other,
                    "cached payload is not the document asked for; evicting it and reading the store"
                );
                let l1_key = L1Key::new(tenant, id);
                let expected = self.expect(l1_key, Change::Write);
                // A short tombstone: its rev is not this document's, so it must not hold
                // fills of the real revs back for long.
                let ttl = FOREIGN_TOMBSTONE_TTL.min(self.lane.spec.ttl);
                let evicted = self
                    .lane
                    .call(|| self.lane.cache.evict(key, rev, ttl))
                    .await
                    .is_ok();
                if !evicted {
                    self.retract(l1_key, expected);
                }
                if expected.is_some()
                    && let Some(l1) = &self.l1
                {
                    l1.remove(&l1_key);
                }
            }
        }
    }

    /// The value held from a store read during a cache outage, if one is fresh enough.
    fn held_get(&self, tenant: Option<Uuid>, id: Uuid) -> Option<D::Read> {
        let read = self.held.get()?.get(&L1Key::new(tenant, id))?;
        self.lane.counters.held.inc();
        Some(read)
    }

    /// The hold of values read during a cache outage (built on first use), if enabled.
    fn hold(&self) -> Option<&L1<D::Read>> {
        let config = self.lane.config();
        if config.outage_hold.is_zero() || config.outage_hold_capacity == 0 {
            return None;
        }
        Some(self.held.get_or_init(|| {
            let l1 = L1Config::new(
                config.outage_hold_capacity,
                config.outage_hold,
                Arc::clone(self.lane.clock()),
            );
            L1::new(build_store(crate::spec::L1StoreKind::Lru, &l1))
        }))
    }

    /// Put a value read from the shared cache into the L1 (if the stamp still holds) and hand
    /// it out.
    fn keep(&self, tenant: Option<Uuid>, id: Uuid, stamp: Option<Stamp>, read: D::Read) -> D::Read {
        match (&self.l1, stamp) {
            (Some(l1), Some(stamp)) => {
                let rev = D::meta(&read).rev;
                let shared = Arc::new(read);
                l1.insert(L1Key::new(tenant, id), stamp, rev, Arc::clone(&shared));
                Arc::unwrap_or_clone(shared)
            }
            _ => read,
        }
    }

    /// Whether a hit of an envelope elects to recompute now (XFetch).
    fn elects(&self, xf: &xfetch::XfMeta) -> bool {
        let Some(beta) = self.lane.spec.early_refresh_beta else {
            return false;
        };
        let now = self.lane.clock().utc_now().timestamp_millis();
        let elected = xf.elects(now, beta, self.draws.unit());
        if elected {
            self.lane.counters.early_refreshes.inc();
        }
        elected
    }

    /// An elected hit: refresh inline (returning the cached value if that fails) or in the
    /// background (returning the cached value at once).
    async fn refresh_early(
        self: &Arc<Self>,
        tenant: Option<Uuid>,
        id: Uuid,
        key: &str,
        cached: D::Read,
        stamp: Option<Stamp>,
    ) -> D::Read {
        if self.lane.spec.early_refresh_background {
            self.refresh_in_background(tenant, id, key);
            return self.keep(tenant, id, stamp, cached);
        }
        let floor = Floor::new(D::meta(&cached).rev, self.flights.epoch());
        match self
            .fetch_shared(tenant, id, key.to_owned(), FillMode::Refresh, Some(floor))
            .await
        {
            // A store read that raced with a write may be older than the hit: serve the hit.
            Ok(fresh) if D::meta(&fresh).rev < floor.rev => self.keep(tenant, id, stamp, cached),
            Ok(fresh) => D::Read::clone(&fresh),
            Err(err) => {
                self.lane.counters.refresh_failures.inc();
                tracing::warn!(
                    document = %self.name,
                    %id,
                    error = %err,
                    "early refresh failed; serving the cached value, which is still valid"
                );
                self.keep(tenant, id, stamp, cached)
            }
        }
    }

    /// Start a detached early refresh of `id`, unless one (or any fetch) is in flight for it or
    /// the lane's bound is reached.
    fn refresh_in_background(self: &Arc<Self>, tenant: Option<Uuid>, id: Uuid, key: &str) {
        let limit = self.lane.config().max_background_refreshes;
        if self
            .refreshing
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < limit).then_some(n + 1)
            })
            .is_err()
        {
            self.lane.counters.refreshes_skipped.inc();
            tracing::debug!(document = %self.name, %id, limit, "background early refresh skipped: too many in flight");
            return;
        }
        let slot = RefreshSlot(Arc::clone(self));
        let this = Arc::clone(self);
        let key = key.to_owned();
        let started = self
            .flights
            .start_if_idle((tenant, id), move || async move {
                let _slot = slot;
                let result = this.fetch(tenant, id, key, FillMode::Refresh).await;
                if let Err(err) = &result {
                    this.lane.counters.refresh_failures.inc();
                    tracing::warn!(
                        document = %this.name,
                        %id,
                        error = %err,
                        "background early refresh failed; the cached value stays until it expires"
                    );
                }
                result
            });
        if !started {
            self.lane.counters.refreshes_skipped.inc();
        }
    }

    /// Join or start the single-flight fetch of `id`. With a `floor` (what this read's cache
    /// lookup proved committed), the answer of a fetch that started before the lookup returned
    /// is taken only if it is at least the floor's rev (or `NotFound`); otherwise the read
    /// starts (or joins) a fetch that started after it, and callers arriving from then on join
    /// that one.
    async fn fetch_shared(
        self: &Arc<Self>,
        tenant: Option<Uuid>,
        id: Uuid,
        key: String,
        mode: FillMode,
        floor: Option<Floor>,
    ) -> Result<Arc<D::Read>> {
        let deadline = self.lane.clock().now() + self.lane.config().fetch_deadline;
        let make = {
            let this = Arc::clone(self);
            let key = key.clone();
            move || async move { this.fetch(tenant, id, key, mode).await }
        };
        let (shared, flight) = self.flights.run_with_id((tenant, id), make);
        let result = self.wait_fetch(id, deadline, shared).await;
        let Some(floor) = floor else {
            return result;
        };
        if flight >= floor.epoch || floor.accepts::<D>(&result) {
            return result;
        }
        self.lane.counters.stale_joins.inc();
        tracing::debug!(
            document = %self.name,
            %id,
            floor = floor.rev,
            "a shared fetch that started before this read's cache lookup answered an older rev; fetching again"
        );
        let this = Arc::clone(self);
        let shared = self
            .flights
            .run_since((tenant, id), floor.epoch, move || async move {
                this.fetch(tenant, id, key, mode).await
            });
        self.wait_fetch(id, deadline, shared).await
    }

    /// Wait for a shared fetch until `deadline`.
    async fn wait_fetch(
        &self,
        id: Uuid,
        deadline: std::time::Instant,
        shared: impl std::future::Future<Output = Result<Arc<D::Read>>>,
    ) -> Result<Arc<D::Read>> {
        let left = deadline.saturating_duration_since(self.lane.clock().now());
        match tokio::time::timeout(left, shared).await {
            Ok(result) => result,
            Err(_) => Err(Error::new(
                ErrorKind::Unavailable,
                format!(
                    "the store read of document `{}` id {id} did not finish within the fetch deadline ({:?}); it carries on in the background",
                    self.name,
                    self.lane.config().fetch_deadline
                ),
            )),
        }
    }

    /// The single-flight fetch: read the store, fill the cache at the rev read, keep the value
    /// in the L1 unless the cache knew a newer rev.
    async fn fetch(
        &self,
        tenant: Option<Uuid>,
        id: Uuid,
        key: String,
        mode: FillMode,
    ) -> Result<Arc<D::Read>> {
        let l1_key = L1Key::new(tenant, id);
        // Before the store read: a write that commits after this refuses the L1 insert.
        let stamp = self.l1.as_ref().map(|l1| l1.stamp(&l1_key));
        // The cache is unavailable: hold what the store answers for later reads in the outage.
        let hold = match mode {
            FillMode::Skip => self.hold().map(|hold| (hold, hold.stamp(&l1_key))),
            FillMode::Fill | FillMode::Refresh => None,
        };
        let generation = self.lane.cache.generation();
        self.lane.counters.store_reads.inc();
        let cx = StoreCx::none().with_tenant(tenant);
        let started = self.lane.clock().now();
        let row = self
            .store
            .get(&cx, id, false)
            .await?
            .ok_or_else(|| not_found(&self.name, id))?;
        let recompute = self.lane.clock().now().saturating_duration_since(started);
        let read = row_to_read::<D>(&self.name, row)?;
        let keep = match mode {
            _ if self.lane.outlived_tombstones(recompute) => false,
            FillMode::Skip => true,
            FillMode::Fill | FillMode::Refresh => {
                match self.encode(key, &read, recompute, mode == FillMode::Refresh, generation) {
                    None => true,
                    Some(fill) => {
                        // Expected before the call: the echo may arrive before the reply.
                        let expected = self.expect(l1_key, Change::Fill(fill.rev));
                        match self.lane.call(move || self.lane.cache.fill(fill)).await {
                            Ok(true) => {
                                self.lane.counters.fills.inc();
                                true
                            }
                            Ok(false) => {
                                // Rejected: nothing changed, so no echo is coming.
                                self.retract(l1_key, expected);
                                self.lane.counters.fills_rejected.inc();
                                false
                            }
                            Err(_) => {
                                // Maybe changed, maybe not: a late echo drops the entry.
                                self.retract(l1_key, expected);
                                true
                            }
                        }
                    }
                }
            }
        };
        let read = Arc::new(read);
        if keep && let (Some(l1), Some(stamp)) = (&self.l1, stamp) {
            l1.insert(l1_key, stamp, D::meta(&read).rev, Arc::clone(&read));
        }
        if let Some((hold, stamp)) = hold {
            hold.insert(l1_key, stamp, D::meta(&read).rev, Arc::clone(&read));
        }
        Ok(read)
    }

    /// The fill of `read` under `key`, if fills are allowed now: for the `age_ttl` lifetime (or
    /// `ttl`), with the sliding window, as an XFetch envelope when `early_refresh_beta` is set.
    fn encode(
        &self,
        key: String,
        read: &D::Read,
        recompute: Duration,
        refresh: bool,
        generation: u64,
    ) -> Option<CacheFill> {
        if !self.lane.fills_enabled() {
            return None;
        }
        let spec = &self.lane.spec;
        let meta = D::meta(read);
        let ttl = self.lane.ttl_for(&meta);
        let xf = spec.early_refresh_beta.map(|_| xfetch::XfMeta {
            at: self.lane.clock().utc_now().timestamp_millis(),
            d: u64::try_from(recompute.as_nanos().div_ceil(1_000)).unwrap_or(u64::MAX),
            ttl: u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX),
        });
        match xfetch::encode(read, xf) {
            Ok(payload) if payload.len() > self.lane.config().max_value_size => {
                self.lane.counters.oversize.inc();
                tracing::debug!(
                    document = %self.name,
                    id = %meta.id,
                    bytes = payload.len(),
                    limit = self.lane.config().max_value_size,
                    "read model larger than max_value_size; served, not cached"
                );
                None
            }
            Ok(payload) => {
                let mut fill =
                    CacheFill::new(key, meta.rev, payload, ttl).at_generation(generation);
                if let Some(window) = spec.sliding_ttl {
                    fill = fill.with_sliding(window);
                }
                if refresh {
                    fill = fill.refresh();
                }
                Some(fill)
            }
            Err(err) => {
                tracing::warn!(document = %self.name, error = %err, "read model does not encode; not cached");
                None
            }
        }
    }

    /// A read-through `get_many`: the L1, then one cache round trip, one store query for the
    /// misses, one fill round trip. Input order, duplicates repeated; missing ids are
    /// `NotFound`.
    pub(crate) async fn get_many(
        &self,
        tenant: Option<Uuid>,
        ids: &[Uuid],
    ) -> Result<Vec<D::Read>> {
        let mut unique = Vec::with_capacity(ids.len());
        {
            let mut seen = std::collections::HashSet::with_capacity(ids.len());
            unique.extend(ids.iter().copied().filter(|id| seen.insert(*id)));
        }
        let mut found: HashMap<Uuid, D::Read> = HashMap::with_capacity(unique.len());
        // The ids the L1 does not have, with the stamps to insert them with.
        let mut wanted: Vec<(Uuid, Option<Stamp>)> = Vec::with_capacity(unique.len());
        for id in unique {
            match &self.l1 {
                Some(l1) => {
                    let key = L1Key::new(tenant, id);
                    match l1.get(&key) {
                        Some(read) => {
                            found.insert(id, read);
                        }
                        None => wanted.push((id, Some(l1.stamp(&key)))),
                    }
                }
                None => wanted.push((id, None)),
            }
        }
        if !wanted.is_empty() {
            self.get_many_shared(tenant, &wanted, &mut found).await?;
        }
        let missing: Vec<Uuid> = wanted
            .iter()
            .map(|(id, _)| *id)
            .filter(|id| !found.contains_key(id))
            .collect();
        if !missing.is_empty() {
            return Err(many_not_found(&self.name, &missing));
        }
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            match found.get(id) {
                Some(read) => out.push(read.clone()),
                None => return Err(not_found(&self.name, *id)),
            }
        }
        Ok(out)
    }

    /// `get_many` past the L1, for `wanted`: found documents go into `found` (and the L1).
    async fn get_many_shared(
        &self,
        tenant: Option<Uuid>,
        wanted: &[(Uuid, Option<Stamp>)],
        found: &mut HashMap<Uuid, D::Read>,
    ) -> Result<()> {
        let keys: Vec<String> = wanted
            .iter()
            .map(|(id, _)| cache_key(tenant, *id))
            .collect();
        let mut misses: Vec<(Uuid, &str, Option<Stamp>)> = Vec::new();
        let mut fill = false;
        let entries = if self.lane.reads_enabled().await {
            match self.lane.call(|| self.lane.lookup_many(&keys)).await {
                Ok(entries) if entries.len() == keys.len() => Some(entries),
                Ok(entries) => {
                    self.lane.counters.cache_errors.inc();
                    tracing::warn!(document = %self.name, asked = keys.len(), got = entries.len(), "cache get_many answered the wrong number of entries; ignoring it");
                    None
                }
                Err(_) => None,
            }
        } else {
            None
        };
        match entries {
            Some(entries) => {
                fill = true;
                // Evicted together (concurrently) once the batch is sorted: after a schema
                // change every entry may be undecodable.
                let mut undecodable = Vec::new();
                // The store read below starts after these lookups returned, so a tombstone
                // needs no floor here: the read sees the write that left it.
                for (((id, stamp), key), entry) in wanted.iter().zip(&keys).zip(entries) {
                    match entry {
                        Lookup::Value(entry) => match self.decode(*id, &entry) {
                            Ok((read, _)) => {
                                self.lane.counters.hits.inc();
                                found.insert(*id, self.keep(tenant, *id, *stamp, read));
                            }
                            Err(bad) => {
                                undecodable.push((*id, key.as_str(), entry.rev, bad));
                                misses.push((*id, key, *stamp));
                            }
                        },
                        Lookup::Tombstone(_) | Lookup::Absent => {
                            self.lane.counters.misses.inc();
                            misses.push((*id, key, *stamp));
                        }
                    }
                }
                futures_util::future::join_all(
                    undecodable
                        .iter()
                        .map(|(id, key, rev, bad)| self.discard(tenant, *id, key, *rev, bad)),
                )
                .await;
            }
            None => {
                // The cache is unavailable: serve what the outage hold has.
                for ((id, stamp), key) in wanted.iter().zip(&keys) {
                    match self.held_get(tenant, *id) {
                        Some(read) => {
                            found.insert(*id, read);
                        }
                        None => misses.push((*id, key.as_str(), *stamp)),
                    }
                }
            }
        }
        if misses.is_empty() {
            return Ok(());
        }
        let hold = if fill { None } else { self.hold() };
        let held_stamps: Vec<Stamp> = match hold {
            Some(hold) => misses
                .iter()
                .map(|(id, _, _)| hold.stamp(&L1Key::new(tenant, *id)))
                .collect(),
            None => Vec::new(),
        };
        let generation = self.lane.cache.generation();
        self.lane.counters.store_reads.inc();
        let miss_ids: Vec<Uuid> = misses.iter().map(|(id, _, _)| *id).collect();
        let cx = StoreCx::none().with_tenant(tenant);
        let started = self.lane.clock().now();
        let rows = self.store.get_many(&cx, &miss_ids).await?;
        let elapsed = self.lane.clock().now().saturating_duration_since(started);
        let recompute = elapsed / u32::try_from(rows.len().max(1)).unwrap_or(u32::MAX);
        // Too old to cache anywhere: return the rows, fill nothing, keep nothing in the L1.
        let outlived = self.lane.outlived_tombstones(elapsed);
        let fill = fill && !outlived;
        let by_id: HashMap<Uuid, (&str, Option<Stamp>)> = misses
            .iter()
            .map(|(id, key, stamp)| (*id, (*key, *stamp)))
            .collect();
        let mut reads = Vec::with_capacity(rows.len());
        let mut fills = Vec::new();
        let mut filled = Vec::new();
        for row in rows {
            let id = row.meta.id;
            let Some((key, stamp)) = by_id.get(&id) else {
                continue;
            };
            let read = row_to_read::<D>(&self.name, row)?;
            if fill
                && let Some(f) = self.encode((*key).to_owned(), &read, recompute, false, generation)
            {
                fills.push(f);
                filled.push(id);
            }
            reads.push((id, *stamp, read));
        }
        let mut rejected = std::collections::HashSet::new();
        if !fills.is_empty() {
            let expected: Vec<Option<Change>> = fills
                .iter()
                .zip(&filled)
                .map(|(fill, id)| self.expect(L1Key::new(tenant, *id), Change::Fill(fill.rev)))
                .collect();
            match self
                .lane
                .call(move || self.lane.cache.fill_many(fills))
                .await
            {
                Ok(installed) => {
                    let mut installed = installed.into_iter();
                    for (id, expected) in filled.into_iter().zip(expected) {
                        // A missing flag (a short answer) counts as "maybe": retract.
                        match installed.next() {
                            Some(true) => self.lane.counters.fills.inc(),
                            Some(false) => {
                                self.retract(L1Key::new(tenant, id), expected);
                                self.lane.counters.fills_rejected.inc();
                                rejected.insert(id);
                            }
                            None => self.retract(L1Key::new(tenant, id), expected),
                        }
                    }
                }
                Err(_) => {
                    for (id, expected) in filled.into_iter().zip(expected) {
                        self.retract(L1Key::new(tenant, id), expected);
                    }
                }
            }
        }
        if let Some(hold) = hold {
            let stamps: HashMap<Uuid, Stamp> = misses
                .iter()
                .zip(held_stamps)
                .map(|((id, _, _), stamp)| (*id, stamp))
                .collect();
            for (id, _, read) in &reads {
                if let Some(stamp) = stamps.get(id) {
                    let rev = D::meta(read).rev;
                    hold.insert(L1Key::new(tenant, *id), *stamp, rev, Arc::new(read.clone()));
                }
            }
        }
        for (id, stamp, read) in reads {
            let read = if outlived || rejected.contains(&id) {
                read
            } else {
                self.keep(tenant, id, stamp, read)
            };
            found.insert(id, read);
        }
        Ok(())
    }

    /// After a committed write: stop sharing in-flight fetches of the written ids with new
    /// readers, write tombstones at the committed revs, then drop the ids from the L1 (refusing
    /// inserts of reads that started before).
    pub(crate) async fn invalidate_now(
        self: &Arc<Self>,
        tenant: Option<Uuid>,
        written: &[(Uuid, i64)],
    ) {
        for (id, _) in written {
            self.flights.forget(&(tenant, *id));
        }
        let ttl = self.lane.spec.ttl;
        let invalidations = written
            .iter()
            .map(|(id, rev)| Invalidation::new(cache_key(tenant, *id), *rev, ttl))
            .collect();
        // Echoes of the tombstones are expected (before the call: they may arrive before the
        // reply); the removal below, whatever the outcome, is what makes suppressing them safe.
        let expected: Vec<Option<Change>> = written
            .iter()
            .map(|(id, _)| self.expect(L1Key::new(tenant, *id), Change::Write))
            .collect();
        // Whether the tombstones were written or remembered as pending, reads that start after
        // this on this replica find no old value in the shared cache (pending ones bypass it).
        // Other replicas can until the flusher writes them.
        if !self.lane.invalidate(invalidations).await {
            for ((id, _), expected) in written.iter().zip(expected) {
                self.retract(L1Key::new(tenant, *id), expected);
            }
            self.lane.start_flusher(self, |cached: &Self| &cached.lane);
        }
        if let Some(l1) = &self.l1 {
            for (id, _) in written {
                l1.remove(&L1Key::new(tenant, *id));
            }
        }
        if let Some(hold) = self.held.get() {
            for (id, _) in written {
                hold.remove(&L1Key::new(tenant, *id));
            }
        }
    }

    /// Whether this lane has an L1 (and so takes push invalidations).
    pub(crate) fn has_l1(&self) -> bool {
        self.l1.is_some()
    }

    /// Expect the echo of `change` of `key`, if pushes reach this lane; what to retract if the
    /// change turns out not to have happened (or may not have).
    #[inline]
    fn expect(&self, key: L1Key, change: Change) -> Option<Change> {
        if self.l1.is_none() || !self.push.active() {
            return None;
        }
        self.push
            .echoes
            .expect(key, change, self.lane.clock().now());
        Some(change)
    }

    fn retract(&self, key: L1Key, expected: Option<Change>) {
        if let Some(change) = expected {
            self.push.echoes.retract(&key, change);
        }
    }

    /// A cached payload did not decode: evict it (see [`CacheLane::undecodable`]). With pushes,
    /// its echo is expected like a write's, and the same local removal follows.
    async fn undecodable(
        &self,
        tenant: Option<Uuid>,
        id: Uuid,
        key: &str,
        rev: i64,
        err: &serde_json::Error,
    ) {
        let l1_key = L1Key::new(tenant, id);
        let expected = self.expect(l1_key, Change::Write);
        if !self.lane.undecodable(key, rev, err).await {
            self.retract(l1_key, expected);
        }
        if expected.is_some()
            && let Some(l1) = &self.l1
        {
            l1.remove(&l1_key);
        }
    }

    /// Check the echoes of own fills against the cache (see [`push`](super::push)): queue
    /// `key`, and start the task that drains the queue unless it runs.
    fn check_echo(self: &Arc<Self>, key: L1Key, rev: i64) {
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
    fn push_drop(&self, key: &L1Key) {
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

/// A slot of the lane's background-refresh bound, released when the refresh ends (or never
/// starts).
struct RefreshSlot<D: Document>(Arc<Cached<D>>);

impl<D: Document> Drop for RefreshSlot<D> {
    fn drop(&mut self) {
        self.0.refreshing.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The task that checks echoes of own fills: reads the queued keys from the cache in one batch
/// (repeatedly, while more arrive) and drops each key whose cached rev is not the one filled.
///
/// If it ends abnormally (a panic, the tokio runtime going away), dropping it drops every queued
/// key from the L1 and lets the next echo start a new task: an echo is never left unchecked.
struct CheckGuard<D: Document> {
    cached: Arc<Cached<D>>,
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

impl<D: Document> PushTarget for Cached<D> {
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

/// What a `CacheHandle` needs from a lane, without its document type.
pub(crate) trait CacheSource: Send + Sync + fmt::Debug {
    fn lane(&self) -> &CacheLane;
    fn stats(&self) -> CacheStats;
    fn l1_stats(&self) -> Option<L1Stats>;
    /// Drop the document under cache key `key` from the L1; `false` if `key` is not one.
    fn l1_remove(&self, key: &str) -> bool;
    /// Drop everything from the L1.
    fn l1_clear(&self);
}

impl<D: Document> fmt::Debug for Cached<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.lane.fmt(f)
    }
}

impl<D: Document> CacheSource for Cached<D> {
    fn lane(&self) -> &CacheLane {
        &self.lane
    }

    fn stats(&self) -> CacheStats {
        self.lane.stats(
            self.flights.started(),
            self.flights.joined(),
            self.flights.in_flight(),
            self.l1_stats(),
            self.push.stats(self.lane.clock().now()),
        )
    }

    fn l1_stats(&self) -> Option<L1Stats> {
        self.l1.as_ref().map(L1::stats)
    }

    fn l1_remove(&self, key: &str) -> bool {
        self.l1_remove_key(key)
    }

    fn l1_clear(&self) {
        Cached::l1_clear(self);
    }
}

/// Invalidations queued by a write inside a transaction, run after the commit.
struct Deferred<D: Document> {
    cached: Arc<Cached<D>>,
    tenant: Option<Uuid>,
    written: Vec<(Uuid, i64)>,
}

impl<D: Document> AfterCommit for Deferred<D> {
    fn run(self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(async move { self.cached.invalidate_now(self.tenant, &self.written).await })
    }
}

/// How long the tombstone left by evicting another document's payload lives: its rev says
/// nothing about this document, so it only guards the eviction itself.
const FOREIGN_TOMBSTONE_TTL: Duration = Duration::from_secs(1);

/// Why a cached payload cannot be served.
#[derive(Debug)]
enum Undecodable {
    /// It is not a read model of this document type (or not JSON).
    Json(serde_json::Error),
    /// It is the read model of another document (a key written by something else).
    OtherDocument(Uuid),
    /// Its rev is not the rev the cache entry carries.
    OtherRev(i64),
}

impl Undecodable {
    /// Whether the cache entry's rev still says something about this document.
    fn proves_rev(&self) -> bool {
        matches!(self, Undecodable::Json(_))
    }
}

impl fmt::Display for Undecodable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Undecodable::Json(err) => write!(f, "does not decode: {err}"),
            Undecodable::OtherDocument(id) => write!(f, "holds document {id}"),
            Undecodable::OtherRev(rev) => write!(f, "holds rev {rev}, not the entry's"),
        }
    }
}

/// What a read's cache lookup proved committed: a value or tombstone at `rev`
/// ([`TOMBSTONE_DELETED`] for a delete), seen before single-flight epoch `epoch`.
#[derive(Debug, Clone, Copy)]
struct Floor {
    rev: i64,
    epoch: u64,
}

impl Floor {
    fn new(rev: i64, epoch: u64) -> Self {
        Floor { rev, epoch }
    }

    /// Whether `result`, from a fetch that may have started before the lookup, is not older
    /// than the floor: a rev at least the floor's (never, for a delete), `NotFound`, or an
    /// error.
    fn accepts<D: Document>(&self, result: &Result<Arc<D::Read>>) -> bool {
        match result {
            Ok(read) => self.rev != TOMBSTONE_DELETED && D::meta(read).rev >= self.rev,
            Err(_) => true,
        }
    }
}
