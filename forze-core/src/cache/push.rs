//! Push invalidation: a cache backend tells the process when entries changed on the server.

use std::fmt;
use std::sync::Arc;

/// Receives push invalidations for the keys of one cache.
///
/// The coordinator registers one sink per cache and drops the named entries from the L1s of
/// every spec using that cache, in every context of the process.
pub trait InvalidationSink: Send + Sync + fmt::Debug {
    /// The entry under `key` (the key as passed to [`Cache::get`](super::Cache::get)) changed on
    /// the server, written by some replica.
    fn invalidated(&self, key: &str);

    /// Events may have been missed (a disconnect, a flush, a tracking error): drop every entry.
    fn reset(&self);

    /// Whether invalidations are pushed changed after the subscription answered: the server
    /// refused push invalidation once the connection was made (`Unsupported`), or accepted it
    /// again after a reconnect (`Active`). A [`reset`](Self::reset) comes with it. The default
    /// ignores it.
    fn support_changed(&self, support: PushSupport) {
        let _ = support;
    }
}

/// What a cache answered to [`Cache::subscribe_invalidations`](super::Cache::subscribe_invalidations).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushSupport {
    /// Invalidations will be pushed to the sink (until the subscription is dropped).
    Active,
    /// This cache does not push (not configured, or the server refused); staleness is bounded by
    /// the L1 TTL only.
    Unsupported,
}

/// Keeps a push subscription alive; dropping it unsubscribes.
pub struct PushSubscription {
    support: PushSupport,
    _guard: Option<Box<dyn Send + Sync>>,
}

impl PushSubscription {
    /// A live subscription held open by `guard`.
    pub fn active(guard: impl Send + Sync + 'static) -> Self {
        PushSubscription {
            support: PushSupport::Active,
            _guard: Some(Box::new(guard)),
        }
    }

    /// No subscription: the cache does not push.
    pub fn unsupported() -> Self {
        PushSubscription {
            support: PushSupport::Unsupported,
            _guard: None,
        }
    }

    /// Whether invalidations will be pushed.
    pub fn support(&self) -> PushSupport {
        self.support
    }
}

impl fmt::Debug for PushSubscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PushSubscription")
            .field("support", &self.support)
            .finish()
    }
}

/// A shared sink.
pub type SharedSink = Arc<dyn InvalidationSink>;
