//! Cache calls: the breaker and the per-call timeout around each one, calls made outside the
//! breaker (the flusher's), and the prober that closes an open breaker once the cache answers.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::BoxFuture;
use crate::error::{Error, ErrorKind, Result};

use super::CacheLane;

/// The key the prober looks up to find out whether the cache answers (never written).
pub(crate) const PROBE_KEY: &str = "forze:probe";

impl CacheLane {
    /// Make one cache call under the breaker and the per-call timeout. `op` is only invoked
    /// when the breaker lets the call through.
    pub(crate) async fn call<'a, T>(
        &'a self,
        op: impl FnOnce() -> BoxFuture<'a, Result<T>>,
    ) -> Result<T> {
        let Some(permit) = self.breaker.try_acquire() else {
            self.counters.breaker_rejections.inc();
            return Err(Error::new(
                ErrorKind::Unavailable,
                format!(
                    "cache `{}` of document `{}` is skipped: its circuit breaker is open",
                    self.spec.name, self.document
                ),
            ));
        };
        match tokio::time::timeout(self.config.cache_timeout, op()).await {
            Ok(Ok(value)) => {
                permit.success();
                Ok(value)
            }
            Ok(Err(err)) => {
                if permit.failure() {
                    self.start_prober();
                }
                self.counters.cache_errors.inc();
                tracing::debug!(document = %self.document, cache = %self.spec.name, error = %err, "cache call failed");
                Err(err)
            }
            Err(_) => {
                if permit.failure() {
                    self.start_prober();
                }
                self.counters.cache_errors.inc();
                tracing::debug!(document = %self.document, cache = %self.spec.name, timeout = ?self.config.cache_timeout, "cache call timed out");
                Err(Error::new(
                    ErrorKind::Unavailable,
                    format!(
                        "cache `{}` of document `{}` did not answer within {:?}",
                        self.spec.name, self.document, self.config.cache_timeout
                    ),
                ))
            }
        }
    }

    /// Make one cache call outside the breaker, under the per-call timeout (the flusher's
    /// writes of pending invalidations). An answer closes the breaker: the cache is back.
    pub(super) async fn call_unguarded<'a, T>(
        &'a self,
        op: impl FnOnce() -> BoxFuture<'a, Result<T>>,
    ) -> Result<T> {
        match tokio::time::timeout(self.config.cache_timeout, op()).await {
            Ok(Ok(value)) => {
                if self.breaker.is_open() {
                    self.breaker.close();
                }
                Ok(value)
            }
            Ok(Err(err)) => {
                self.counters.cache_errors.inc();
                Err(err)
            }
            Err(_) => {
                self.counters.cache_errors.inc();
                Err(Error::new(
                    ErrorKind::Unavailable,
                    format!(
                        "cache `{}` of document `{}` did not answer within {:?}",
                        self.spec.name, self.document, self.config.cache_timeout
                    ),
                ))
            }
        }
    }

    /// Start the lane's prober, unless one runs: while the breaker is open, a task makes one
    /// cheap call (a lookup of [`PROBE_KEY`]) outside the breaker every `probe_interval`
    /// (jittered), and closes the breaker on the first answer. So reads use the cache again
    /// about one interval after it is back, instead of after the breaker's cool-down. The task
    /// holds the breaker weakly and ends with the lane.
    pub(super) fn start_prober(&self) {
        if self.probing.swap(true, Ordering::SeqCst) {
            return;
        }
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            // No runtime: the breaker's own cool-down and half-open probe still recover.
            self.probing.store(false, Ordering::SeqCst);
            return;
        };
        let breaker = Arc::downgrade(&self.breaker);
        let probing = Arc::clone(&self.probing);
        let cache = Arc::clone(&self.cache);
        let interval = self.config.probe_interval;
        let timeout = self.config.cache_timeout;
        let document = self.document.clone();
        let probes = Arc::clone(&self.probes);
        handle.spawn(async move {
            loop {
                tokio::time::sleep(interval.mul_f64(0.5 + 0.5 * rand::random::<f64>())).await;
                let Some(breaker) = breaker.upgrade() else {
                    return;
                };
                if !breaker.is_open() {
                    break;
                }
                probes.inc();
                if let Ok(Ok(_)) =
                    tokio::time::timeout(timeout, cache.lookup(PROBE_KEY, None)).await
                {
                    tracing::debug!(document = %document, "cache probe answered");
                    breaker.close();
                    break;
                }
            }
            probing.store(false, Ordering::SeqCst);
        });
    }
}
