//! The typed part of a lane: the store of one spec, and for cached specs the single-flight map
//! and the read-through and invalidation logic.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use uuid::Uuid;

use crate::cache::{Cache, CacheFill, Invalidation};
use crate::clock::SharedClock;
use crate::codec::{many_not_found, not_found, row_to_read};
use crate::coordinator::{CacheLane, CacheStats, CoordinatorConfig};
use crate::error::Result;
use crate::model::Document;
use crate::runtime::AfterCommit;
use crate::singleflight::SingleFlight;
use crate::spec::CacheSpec;
use crate::store::{BoxFuture, DocumentStore, StoreCx};

use super::lane::{KeyBuf, cache_key};

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
            Arc::new(Cached {
                lane: CacheLane::new(name.clone(), spec, cache, config.clone(), Arc::clone(clock)),
                flights: SingleFlight::new(),
                store: Arc::clone(&store),
                name: name.clone(),
            })
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
        tx: Option<&crate::runtime::TxScope>,
        written: Vec<(Uuid, i64)>,
    ) {
        let Some(cached) = &self.cached else {
            return;
        };
        if written.is_empty() {
            return;
        }
        match tx {
            Some(tx) => tx.defer(Box::new(Deferred {
                cached: Arc::clone(cached),
                tenant,
                written,
            })),
            None => cached.invalidate_now(tenant, &written).await,
        }
    }
}

/// The read-through state of one cached spec in one runtime.
pub(crate) struct Cached<D: Document> {
    pub(crate) lane: CacheLane,
    flights: SingleFlight<FlightKey, Arc<D::Read>>,
    store: Arc<dyn DocumentStore>,
    name: Cow<'static, str>,
}

impl<D: Document> Cached<D> {
    /// A read-through `get`.
    pub(crate) async fn get(self: &Arc<Self>, tenant: Option<Uuid>, id: Uuid) -> Result<D::Read> {
        let key = KeyBuf::new(tenant, id);
        let key = key.as_str();
        // L1 (issue 6): look up `L1Key::new(tenant, id)` here; a hit returns a clone of the
        // decoded `Arc<D::Read>` with no I/O and no single-flight.
        let mut fill = false;
        if self.lane.reads_enabled().await {
            match self.lane.call(|| self.lane.cache.get(key)).await {
                Ok(Some(entry)) => match serde_json::from_slice::<D::Read>(&entry.payload) {
                    Ok(read) => {
                        self.lane.counters.hits.inc();
                        // L1 (issue 6): insert the decoded value here.
                        return Ok(read);
                    }
                    Err(err) => {
                        self.lane.undecodable(key, entry.rev, &err).await;
                        fill = true;
                    }
                },
                Ok(None) => {
                    self.lane.counters.misses.inc();
                    fill = true;
                }
                // Recorded by `call` (breaker, counters): fail open to the store, don't fill.
                Err(_) => {}
            }
        }
        let key = key.to_owned();
        let this = Arc::clone(self);
        let read = self
            .flights
            .run((tenant, id), move || async move {
                this.fetch(tenant, id, key, fill).await
            })
            .await?;
        Ok(D::Read::clone(&read))
    }

    /// The single-flight fetch: read the store, fill the cache at the rev read.
    async fn fetch(
        &self,
        tenant: Option<Uuid>,
        id: Uuid,
        key: String,
        fill: bool,
    ) -> Result<Arc<D::Read>> {
        self.lane.counters.store_reads.inc();
        let cx = StoreCx::none().with_tenant(tenant);
        let row = self
            .store
            .get(&cx, id, false)
            .await?
            .ok_or_else(|| not_found(&self.name, id))?;
        let read = row_to_read::<D>(&self.name, row)?;
        if fill && let Some(fill) = self.encode(key, &read) {
            match self.lane.call(move || self.lane.cache.fill(fill)).await {
                Ok(true) => self.lane.counters.fills.inc(),
                Ok(false) => self.lane.counters.fills_rejected.inc(),
                Err(_) => {}
            }
        }
        // L1 (issue 6): insert the decoded value here (only if the fill was not rejected).
        Ok(Arc::new(read))
    }

    /// The fill of `read` under `key`, if fills are allowed now.
    fn encode(&self, key: String, read: &D::Read) -> Option<CacheFill> {
        if !self.lane.fills_enabled() {
            return None;
        }
        match serde_json::to_vec(read) {
            Ok(payload) => {
                let meta = D::meta(read);
                Some(CacheFill::new(
                    key,
                    meta.rev,
                    payload,
                    self.lane.ttl_for(&meta),
                ))
            }
            Err(err) => {
                tracing::warn!(document = %self.name, error = %err, "read model does not encode; not cached");
                None
            }
        }
    }

    /// A read-through `get_many`: one cache round trip, one store query for the misses, one
    /// fill round trip. Input order, duplicates repeated; missing ids are `NotFound`.
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
        let keys: Vec<String> = unique.iter().map(|id| cache_key(tenant, *id)).collect();
        let mut found: HashMap<Uuid, D::Read> = HashMap::with_capacity(unique.len());
        let mut misses: Vec<(Uuid, &str)> = Vec::new();
        let mut fill = false;
        let entries = if self.lane.reads_enabled().await {
            match self.lane.call(|| self.lane.cache.get_many(&keys)).await {
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
                for ((id, key), entry) in unique.iter().zip(&keys).zip(entries) {
                    match entry {
                        Some(entry) => match serde_json::from_slice::<D::Read>(&entry.payload) {
                            Ok(read) => {
                                self.lane.counters.hits.inc();
                                found.insert(*id, read);
                            }
                            Err(err) => {
                                self.lane.undecodable(key, entry.rev, &err).await;
                                misses.push((*id, key));
                            }
                        },
                        None => {
                            self.lane.counters.misses.inc();
                            misses.push((*id, key));
                        }
                    }
                }
            }
            None => misses.extend(unique.iter().copied().zip(keys.iter().map(String::as_str))),
        }
        if !misses.is_empty() {
            self.lane.counters.store_reads.inc();
            let miss_ids: Vec<Uuid> = misses.iter().map(|(id, _)| *id).collect();
            let cx = StoreCx::none().with_tenant(tenant);
            let rows = self.store.get_many(&cx, &miss_ids).await?;
            let keys_by_id: HashMap<Uuid, &str> = misses.iter().copied().collect();
            let mut fills = Vec::new();
            for row in rows {
                let id = row.meta.id;
                let Some(key) = keys_by_id.get(&id) else {
                    continue;
                };
                let read = row_to_read::<D>(&self.name, row)?;
                if fill {
                    fills.extend(self.encode((*key).to_owned(), &read));
                }
                found.insert(id, read);
            }
            if !fills.is_empty()
                && let Ok(installed) = self
                    .lane
                    .call(move || self.lane.cache.fill_many(fills))
                    .await
            {
                for ok in installed {
                    if ok {
                        self.lane.counters.fills.inc();
                    } else {
                        self.lane.counters.fills_rejected.inc();
                    }
                }
            }
        }
        let missing: Vec<Uuid> = unique
            .iter()
            .filter(|id| !found.contains_key(id))
            .copied()
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

    /// After a committed write: stop sharing in-flight fetches of the written ids with new
    /// readers, then write tombstones at the committed revs.
    pub(crate) async fn invalidate_now(&self, tenant: Option<Uuid>, written: &[(Uuid, i64)]) {
        for (id, _) in written {
            self.flights.forget(&(tenant, *id));
        }
        // L1 (issue 6): drop the written ids from the L1 here.
        let ttl = self.lane.spec.ttl;
        let invalidations = written
            .iter()
            .map(|(id, rev)| Invalidation::new(cache_key(tenant, *id), *rev, ttl))
            .collect();
        self.lane.invalidate(invalidations).await;
    }
}

/// What a `CacheHandle` needs from a lane, without its document type.
pub(crate) trait CacheSource: Send + Sync + fmt::Debug {
    fn lane(&self) -> &CacheLane;
    fn stats(&self) -> CacheStats;
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
        )
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
