//! The coordinator of one runtime: its lanes (one per document spec, bound once) and the push
//! subscriptions of the lanes with an L1 (one per cache name). The runtime hands it the
//! backends and calls [`start`](Coordinator::start) and [`stop`](Coordinator::stop).

use std::any::Any;
use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::cache::{Cache, PushSubscription, PushSupport, SharedSink};
use crate::clock::SharedClock;
use crate::coordinator::{CoordinatorConfig, DocumentLane, PushFanOut, PushTarget};
use crate::error::{Error, Result};
use crate::model::Document;
use crate::spec::DocumentSpec;
use crate::store::DocumentStore;

/// The lanes of one runtime and their push subscriptions.
pub(crate) struct Coordinator {
    config: CoordinatorConfig,
    clock: SharedClock,
    /// Spec name → `Arc<DocumentLane<D>>` (of that spec's document type).
    lanes: Mutex<HashMap<Cow<'static, str>, Arc<dyn Any + Send + Sync>>>,
    /// Cache name → the push subscription of the lanes with an L1 using that cache.
    push: Mutex<HashMap<Cow<'static, str>, PushGroup>>,
}

impl fmt::Debug for Coordinator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Coordinator")
            .field("config", &self.config)
            .field("lanes", &self.lanes.lock().len())
            .finish()
    }
}

impl Coordinator {
    pub(crate) fn new(config: CoordinatorConfig, clock: SharedClock) -> Self {
        Coordinator {
            config,
            clock,
            lanes: Mutex::new(HashMap::new()),
            push: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn config(&self) -> &CoordinatorConfig {
        &self.config
    }

    pub(crate) fn clock(&self) -> &SharedClock {
        &self.clock
    }

    /// The lane of `spec`, built on first use from what `bind` returns (the bound store, and
    /// the cache named by `spec.cache`), then shared.
    ///
    /// # Errors
    ///
    /// `bind`'s error; `Config` if the name is already used with another document type or
    /// another cache spec.
    pub(crate) fn lane<D: Document>(
        &self,
        spec: &DocumentSpec<D>,
        bind: impl FnOnce() -> Result<(Arc<dyn DocumentStore>, Option<Arc<dyn Cache>>)>,
    ) -> Result<Arc<DocumentLane<D>>> {
        let mut lanes = self.lanes.lock();
        if let Some(any) = lanes.get(spec.name.as_ref()) {
            let lane = Arc::clone(any).downcast::<DocumentLane<D>>().map_err(|_| {
                Error::config(format!(
                    "document `{}` is already used in this runtime with another document type; `{}` cannot use the same name",
                    spec.name,
                    std::any::type_name::<D>()
                ))
            })?;
            if lane.cache_spec() != spec.cache.as_ref() {
                return Err(Error::config(format!(
                    "document `{}` is used in this runtime with two different cache specs ({:?} and {:?}); one spec per name",
                    spec.name,
                    lane.cache_spec(),
                    spec.cache
                )));
            }
            if lane.tenancy != spec.tenancy {
                return Err(Error::config(format!(
                    "document `{}` is used in this runtime with two different tenancies (`{}` and `{}`); one spec per name",
                    spec.name, lane.tenancy, spec.tenancy
                )));
            }
            return Ok(lane);
        }
        let (store, cache) = bind()?;
        let cache = match (&spec.cache, cache) {
            (Some(cache_spec), Some(cache)) => Some((cache_spec.clone(), cache)),
            _ => None,
        };
        let lane = Arc::new(DocumentLane::<D>::new(
            spec.name.clone(),
            spec.tenancy,
            store,
            cache,
            &self.config,
            &self.clock,
        ));
        if let (Some(cached), Some(cache_spec)) = (&lane.cached, &spec.cache)
            && cached.has_l1()
        {
            let target: Arc<dyn PushTarget> = Arc::clone(cached) as Arc<dyn PushTarget>;
            let cache = Arc::clone(&cached.lane.cache);
            self.attach_push(spec.name.clone(), cache_spec.name.clone(), &cache, target);
        }
        lanes.insert(
            spec.name.clone(),
            Arc::clone(&lane) as Arc<dyn Any + Send + Sync>,
        );
        Ok(lane)
    }

    /// The runtime started: subscribe again what [`stop`](Self::stop) unsubscribed. The cache
    /// resets the lanes once tracking is armed again, dropping what may have gone stale.
    pub(crate) fn start(&self) {
        let mut groups = self.push.lock();
        for (cache_name, group) in groups.iter_mut() {
            if group.subscription.is_none() {
                group.subscribe(cache_name);
            }
        }
    }

    /// The runtime stops: drop every push subscription; the L1s are TTL-only until
    /// [`start`](Self::start).
    pub(crate) fn stop(&self) {
        let dropped: Vec<PushSubscription> = {
            let mut groups = self.push.lock();
            groups
                .values_mut()
                .filter_map(|group| {
                    group.fanout.set_support(PushSupport::Unsupported);
                    group.subscription.take()
                })
                .collect()
        };
        drop(dropped);
    }

    /// Register a lane with an L1 for the pushes of its cache, subscribing the cache on the
    /// first one.
    fn attach_push(
        &self,
        document: Cow<'static, str>,
        cache_name: Cow<'static, str>,
        cache: &Arc<dyn Cache>,
        target: Arc<dyn PushTarget>,
    ) {
        let mut groups = self.push.lock();
        let group = groups
            .entry(cache_name.clone())
            .or_insert_with(|| PushGroup {
                cache: Arc::clone(cache),
                fanout: Arc::new(PushFanOut::new(cache_name.clone())),
                subscription: None,
                document,
                logged: false,
            });
        group.fanout.add(Arc::downgrade(&target));
        match &group.subscription {
            Some(subscription) => target.set_push_support(subscription.support()),
            None => group.subscribe(&cache_name),
        }
    }
}

/// The lanes of one runtime with an L1 over one cache, and their push subscription.
struct PushGroup {
    cache: Arc<dyn Cache>,
    fanout: Arc<PushFanOut>,
    /// `None` before the first lane subscribed and after a shutdown.
    subscription: Option<PushSubscription>,
    /// The document whose lane subscribed first (for the log line).
    document: Cow<'static, str>,
    /// The TTL-only line was logged for this cache in this runtime.
    logged: bool,
}

impl PushGroup {
    /// Subscribe the fan-out (again): what the cache answers goes to every lane of the group.
    fn subscribe(&mut self, cache_name: &str) {
        let sink: SharedSink = Arc::clone(&self.fanout) as SharedSink;
        let subscription = match self.cache.subscribe_invalidations(sink) {
            Ok(subscription) => subscription,
            Err(err) => {
                tracing::warn!(cache = cache_name, error = %err, "subscribing to push invalidations failed; the L1 stays TTL-only");
                PushSubscription::unsupported()
            }
        };
        let support = subscription.support();
        if support != PushSupport::Active && !std::mem::replace(&mut self.logged, true) {
            tracing::info!(
                cache = cache_name,
                document = %self.document,
                "cache `{cache_name}` does not push invalidations (not configured for it, or the \
                 server refuses client-side caching): the L1 of documents using it is TTL-only, \
                 so a write on another replica may be served from it for up to `l1(ttl)`"
            );
        }
        self.fanout.set_support(support);
        self.subscription = Some(subscription);
    }
}
