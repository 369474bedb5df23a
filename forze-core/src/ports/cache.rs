//! `CacheHandle`: raw access to a cached spec's shared cache.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use crate::cache::CacheEntry;
use crate::coordinator::{CacheSource, CacheStats};
use crate::error::Result;
use crate::spec::CacheSpec;

/// The shared cache of one cached spec, from
/// [`ExecutionContext::cache`](crate::ExecutionContext::cache): raw entries, and the lane's
/// counters. Cheap to clone.
///
/// Keys are document ids as text (`id.to_string()`); in a context with a tenant the handle
/// prefixes them with the tenant like the read path does.
#[derive(Clone)]
pub struct CacheHandle {
    source: Arc<dyn CacheSource>,
    tenant: Option<uuid::Uuid>,
}

impl fmt::Debug for CacheHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheHandle")
            .field("lane", &self.source)
            .field("tenant", &self.tenant)
            .finish()
    }
}

impl CacheHandle {
    pub(crate) fn new(source: Arc<dyn CacheSource>, tenant: Option<uuid::Uuid>) -> Self {
        CacheHandle { source, tenant }
    }

    /// The cache key the read path uses for `key` (the tenant prefix added).
    pub fn key(&self, key: &str) -> String {
        crate::coordinator::tenant_key(self.tenant, key)
    }

    /// The raw cached entry under `key` (a document id as text): the rev and the encoded read
    /// model, or `None` (nothing, or a tombstone). Goes straight to the cache: no breaker, no
    /// timeout, errors are returned.
    ///
    /// # Errors
    ///
    /// The cache backend's error.
    pub fn get(&self, key: &str) -> impl Future<Output = Result<Option<CacheEntry>>> + Send + '_ {
        let key = self.key(key);
        async move { self.source.lane().cache.get(&key).await }
    }

    /// The cache backend, raw: for tests and benchmarks that stage cache states.
    ///
    /// **Bypasses the freshness machinery**: a fill written through it skips the lane's gate on
    /// pending invalidations (after a failed invalidation, the lane refuses fills until the
    /// tombstones are written), the breaker and the per-call timeout, so it can put an old
    /// value back. Only with the `testing` feature, for conformance suites and benches.
    #[cfg(feature = "testing")]
    pub fn cache(&self) -> &Arc<dyn crate::cache::Cache> {
        &self.source.lane().cache
    }

    /// The spec's cache configuration.
    pub fn spec(&self) -> &CacheSpec {
        &self.source.lane().spec
    }

    /// Every counter and state of the spec's lane now, in one snapshot: the shared cache's
    /// counters, the [breaker](CacheStats::breaker), the [L1](CacheStats::l1) and
    /// [push invalidation](CacheStats::push). The one way to read a cached spec's stats.
    pub fn stats(&self) -> CacheStats {
        self.source.stats()
    }

    /// Drop the document `key` (an id as text) from this runtime's L1, so the next read of it on
    /// this replica goes to the shared cache: for a change made outside forze. Other replicas
    /// are not told. Returns `false` if `key` is not a document id.
    pub fn l1_remove(&self, key: &str) -> bool {
        self.source.l1_remove(&self.key(key))
    }

    /// Drop every document of the spec from this runtime's L1.
    pub fn l1_clear(&self) {
        self.source.l1_clear();
    }
}
