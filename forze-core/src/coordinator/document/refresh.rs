//! Early refresh (XFetch): an elected hit recomputes inline or in the background.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use uuid::Uuid;

use crate::coordinator::l1::Stamp;
use crate::coordinator::xfetch::{self};
use crate::model::Document;

use super::ReadThrough;
use super::read::{FillMode, Floor};

impl<D: Document> ReadThrough<D> {
    /// Whether a hit of an envelope elects to recompute now (XFetch).
    pub(super) fn elects(&self, xf: &xfetch::XfMeta) -> bool {
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
    pub(super) async fn refresh_early(
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
    pub(super) fn refresh_in_background(
        self: &Arc<Self>,
        tenant: Option<Uuid>,
        id: Uuid,
        key: &str,
    ) {
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
}

/// A slot of the lane's background-refresh bound, released when the refresh ends (or never
/// starts).
pub(super) struct RefreshSlot<D: Document>(Arc<ReadThrough<D>>);

impl<D: Document> Drop for RefreshSlot<D> {
    fn drop(&mut self) {
        self.0.refreshing.fetch_sub(1, Ordering::AcqRel);
    }
}
