//! Invalidation after a committed write: tombstones, then the L1 and the outage hold.

use std::sync::Arc;

use uuid::Uuid;

use crate::BoxFuture;
use crate::cache::Invalidation;
use crate::coordinator::push::Change;
use crate::l1::L1Key;
use crate::model::Document;
use crate::tx::AfterCommit;

use crate::coordinator::key::cache_key;

use super::ReadThrough;

impl<D: Document> ReadThrough<D> {
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
}

/// Invalidations queued by a write inside a transaction, run after the commit.
pub(super) struct Deferred<D: Document> {
    pub(super) cached: Arc<ReadThrough<D>>,
    pub(super) tenant: Option<Uuid>,
    pub(super) written: Vec<(Uuid, i64)>,
}

impl<D: Document> AfterCommit for Deferred<D> {
    fn run(self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(async move { self.cached.invalidate_now(self.tenant, &self.written).await })
    }
}
