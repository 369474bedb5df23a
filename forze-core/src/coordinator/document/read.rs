//! Reads: the L1, the shared cache, the single-flight fetch of the store and its fill, the
//! outage hold, and the checks on what the cache returns (floors, foreign payloads).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use crate::cache::{CacheEntry, CacheFill, Lookup, TOMBSTONE_DELETED};
use crate::codec::{not_found, row_to_read};
use crate::coordinator::l1::{L1, Stamp};
use crate::coordinator::push::Change;
use crate::coordinator::xfetch::{self};
use crate::error::{Error, ErrorKind, Result};
use crate::l1::{L1Config, L1Key, build_store};
use crate::model::Document;
use crate::store::StoreCx;

use crate::coordinator::key::KeyBuf;

use super::ReadThrough;

impl<D: Document> ReadThrough<D> {
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
    pub(super) async fn get_shared(
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
    pub(super) fn decode(
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
    pub(super) async fn discard(
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

    /// A cached payload did not decode: evict it (see [`CacheLane::undecodable`]). With pushes,
    /// its echo is expected like a write's, and the same local removal follows.
    pub(super) async fn undecodable(
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

    /// The value held from a store read during a cache outage, if one is fresh enough.
    pub(super) fn held_get(&self, tenant: Option<Uuid>, id: Uuid) -> Option<D::Read> {
        let read = self.held.get()?.get(&L1Key::new(tenant, id))?;
        self.lane.counters.held.inc();
        Some(read)
    }

    /// The hold of values read during a cache outage (built on first use), if enabled.
    pub(super) fn hold(&self) -> Option<&L1<D::Read>> {
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
            L1::new(
                build_store(crate::spec::L1StoreKind::Lru, &l1),
                Arc::clone(self.lane.clock()),
            )
        }))
    }

    /// Put a value read from the shared cache into the L1 (if the stamp still holds) and hand
    /// it out.
    pub(super) fn keep(
        &self,
        tenant: Option<Uuid>,
        id: Uuid,
        stamp: Option<Stamp>,
        read: D::Read,
    ) -> D::Read {
        match (&self.l1, stamp) {
            (Some(l1), Some(stamp)) => {
                let shared = Arc::new(read);
                l1.insert(L1Key::new(tenant, id), stamp, Arc::clone(&shared));
                Arc::unwrap_or_clone(shared)
            }
            _ => read,
        }
    }

    /// Join or start the single-flight fetch of `id`. With a `floor` (what this read's cache
    /// lookup proved committed), the answer of a fetch that started before the lookup returned
    /// is taken only if it is at least the floor's rev (or `NotFound`); otherwise the read
    /// starts (or joins) a fetch that started after it, and callers arriving from then on join
    /// that one.
    pub(super) async fn fetch_shared(
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
    pub(super) async fn wait_fetch(
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
    pub(super) async fn fetch(
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
            l1.insert(l1_key, stamp, Arc::clone(&read));
        }
        if let Some((hold, stamp)) = hold {
            hold.insert(l1_key, stamp, Arc::clone(&read));
        }
        Ok(read)
    }

    /// The fill of `read` under `key`, if fills are allowed now: for the `age_ttl` lifetime (or
    /// `ttl`), with the sliding window, as an XFetch envelope when `early_refresh_beta` is set.
    pub(super) fn encode(
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
}

/// How a single-flight fetch treats the shared cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FillMode {
    /// The cache failed or is bypassed: read the store only (the L1 still takes the value).
    Skip,
    /// Fill with a compare-and-set at the rev read.
    Fill,
    /// An early refresh: fill even over a value at the same rev (renewing its lifetime).
    Refresh,
}

/// How long the tombstone left by evicting another document's payload lives: its rev says
/// nothing about this document, so it only guards the eviction itself.
pub(super) const FOREIGN_TOMBSTONE_TTL: Duration = Duration::from_secs(1);

/// Why a cached payload cannot be served.
#[derive(Debug)]
pub(super) enum Undecodable {
    /// It is not a read model of this document type (or not JSON).
    Json(serde_json::Error),
    /// It is the read model of another document (a key written by something else).
    OtherDocument(Uuid),
    /// Its rev is not the rev the cache entry carries.
    OtherRev(i64),
}

impl Undecodable {
    /// Whether the cache entry's rev still says something about this document.
    pub(super) fn proves_rev(&self) -> bool {
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
pub(super) struct Floor {
    pub(super) rev: i64,
    pub(super) epoch: u64,
}

impl Floor {
    pub(super) fn new(rev: i64, epoch: u64) -> Self {
        Floor { rev, epoch }
    }

    /// Whether `result`, from a fetch that may have started before the lookup, is not older
    /// than the floor: a rev at least the floor's (never, for a delete), `NotFound`, or an
    /// error.
    pub(super) fn accepts<D: Document>(&self, result: &Result<Arc<D::Read>>) -> bool {
        match result {
            Ok(read) => self.rev != TOMBSTONE_DELETED && D::meta(read).rev >= self.rev,
            Err(_) => true,
        }
    }
}
