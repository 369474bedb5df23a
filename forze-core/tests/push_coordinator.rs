//! Push invalidation in the coordinator, against a scripted pushing cache: replicas (runtimes)
//! over one in-memory store and one in-memory cache that records every change of a key and
//! pushes it to the subscribed sinks when the test says so — one by one, coalesced (as Redis
//! does per event-loop iteration), or at once from inside the changing call (the echo before
//! the reply). Real Redis is exercised in `forze-redis/tests/push_replicas.rs`.

mod coord;

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use coord::{create, get, spawn_get, until, update};
use forze_core::cache::{
    Cache, CacheEntry, CacheFill, Invalidation, PushSubscription, PushSupport, SharedSink,
};
use forze_core::clock::MockClock;
use forze_core::memory::{MemoryCache, MemoryCacheState, MemoryDocumentStore};
use forze_core::prelude::*;
use forze_core::store::BoxFuture;
use forze_core::testing::{GatedStore, Product, ProductRead, TestDepsModule, watchdog};
use forze_core::{
    CacheSpec, CoordinatorConfig, DepsRegistry, DocumentSpec, Error, ErrorKind, ExecutionContext,
    ExecutionRuntime, L1PushStats, L1Spec, L1StoreKind, LifecyclePlan, Result, Tenancy,
};
use tokio::sync::oneshot;
use uuid::Uuid;

const L1_TTL: Duration = Duration::from_secs(60);

fn cache_spec(name: &str, l1: bool) -> CacheSpec {
    let mut builder = CacheSpec::builder(name.to_owned());
    if l1 {
        builder = builder.l1(L1Spec::with(L1_TTL, 256, L1StoreKind::Lru).expect("valid l1"));
    }
    builder.build().expect("valid cache spec")
}

fn spec_named(document: &str, cache: &str, l1: bool) -> DocumentSpec<Product> {
    DocumentSpec::<Product>::new(document.to_owned())
        .expect("valid name")
        .with_cache(cache_spec(cache, l1))
}

fn products() -> DocumentSpec<Product> {
    spec_named("products", "products", true)
}

/// The scripted server: one cache, the subscribed sinks, the changes not pushed yet.
#[derive(Default)]
struct ServerState {
    sinks: Vec<(u64, SharedSink)>,
    next_id: u64,
    queue: Vec<String>,
}

#[derive(Clone)]
struct Server {
    cache: MemoryCache,
    state: Arc<Mutex<ServerState>>,
    /// Push each change from inside the call that makes it, before its reply.
    immediate: Arc<AtomicBool>,
    /// Subscriptions are refused (`unsupported`).
    refuse: Arc<AtomicBool>,
    /// Fills fail (after changing nothing), as a call that timed out before reaching the server.
    fail_fills: Arc<AtomicBool>,
    /// Batch reads (the echo checks) fail.
    fail_get_many: Arc<AtomicBool>,
    /// Hold the next single-key reads after they read, until released.
    hold_gets: Arc<AtomicUsize>,
    held: Arc<Mutex<Vec<oneshot::Sender<()>>>>,
}

impl Server {
    fn new(clock: &MockClock) -> Self {
        Server {
            cache: MemoryCache::with_clock(Arc::new(clock.clone())),
            state: Arc::default(),
            immediate: Arc::default(),
            refuse: Arc::default(),
            fail_fills: Arc::default(),
            fail_get_many: Arc::default(),
            hold_gets: Arc::default(),
            held: Arc::default(),
        }
    }

    fn sinks(&self) -> Vec<SharedSink> {
        let state = self.state.lock().expect("state");
        state.sinks.iter().map(|(_, s)| Arc::clone(s)).collect()
    }

    fn subscriptions(&self) -> usize {
        self.state.lock().expect("state").sinks.len()
    }

    fn changed(&self, key: &str) {
        if self.immediate.load(Ordering::SeqCst) {
            for sink in self.sinks() {
                sink.invalidated(key);
            }
        } else {
            self.state.lock().expect("state").queue.push(key.to_owned());
        }
    }

    /// Push every queued change, one push per change, in order.
    fn deliver(&self) {
        let queue = std::mem::take(&mut self.state.lock().expect("state").queue);
        let sinks = self.sinks();
        for key in &queue {
            for sink in &sinks {
                sink.invalidated(key);
            }
        }
    }

    /// Push the queued changes as Redis does within one event-loop iteration: each key once.
    fn deliver_coalesced(&self) {
        let queue = std::mem::take(&mut self.state.lock().expect("state").queue);
        let mut seen = std::collections::HashSet::new();
        let sinks = self.sinks();
        for key in queue.iter().filter(|k| seen.insert(k.as_str())) {
            for sink in &sinks {
                sink.invalidated(key);
            }
        }
    }

    /// Drop the queued changes (pushes lost with a broken stream).
    fn lose_queue(&self) {
        self.state.lock().expect("state").queue.clear();
    }

    fn queued(&self) -> Vec<String> {
        self.state.lock().expect("state").queue.clone()
    }

    fn reset_all(&self) {
        for sink in self.sinks() {
            sink.reset();
        }
    }

    fn release_gets(&self) {
        for tx in self.held.lock().expect("held").drain(..) {
            let _ = tx.send(());
        }
    }

    async fn wait_held(&self, n: usize) {
        while self.held.lock().expect("held").len() < n {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    fn value_rev(&self, key: &str) -> Option<i64> {
        match self.cache.state(key) {
            Some(MemoryCacheState::Value { rev, .. }) => Some(rev),
            _ => None,
        }
    }
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server").finish_non_exhaustive()
    }
}

struct Unsubscribe {
    state: Arc<Mutex<ServerState>>,
    id: u64,
}

impl Drop for Unsubscribe {
    fn drop(&mut self) {
        self.state
            .lock()
            .expect("state")
            .sinks
            .retain(|(id, _)| *id != self.id);
    }
}

impl Cache for Server {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<CacheEntry>>> {
        Box::pin(async move {
            let result = self.cache.get(key).await;
            let hold = self
                .hold_gets
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
            if hold {
                let (tx, rx) = oneshot::channel();
                self.held.lock().expect("held").push(tx);
                let _ = rx.await;
            }
            result
        })
    }

    fn get_many<'a>(
        &'a self,
        keys: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<Option<CacheEntry>>>> {
        Box::pin(async move {
            if self.fail_get_many.load(Ordering::SeqCst) {
                return Err(Error::new(
                    ErrorKind::Unavailable,
                    "injected get_many failure",
                ));
            }
            self.cache.get_many(keys).await
        })
    }

    fn fill(&self, fill: CacheFill) -> BoxFuture<'_, Result<bool>> {
        Box::pin(async move {
            if self.fail_fills.load(Ordering::SeqCst) {
                return Err(Error::new(ErrorKind::Unavailable, "injected fill failure"));
            }
            let key = fill.key.clone();
            let installed = self.cache.fill(fill).await?;
            if installed {
                self.changed(&key);
            }
            Ok(installed)
        })
    }

    fn fill_many(&self, fills: Vec<CacheFill>) -> BoxFuture<'_, Result<Vec<bool>>> {
        Box::pin(async move {
            if self.fail_fills.load(Ordering::SeqCst) {
                return Err(Error::new(ErrorKind::Unavailable, "injected fill failure"));
            }
            let keys: Vec<String> = fills.iter().map(|f| f.key.clone()).collect();
            let installed = self.cache.fill_many(fills).await?;
            for (key, ok) in keys.iter().zip(&installed) {
                if *ok {
                    self.changed(key);
                }
            }
            Ok(installed)
        })
    }

    fn invalidate_many<'a>(
        &'a self,
        invalidations: &'a [Invalidation],
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            self.cache.invalidate_many(invalidations).await?;
            for inv in invalidations {
                self.changed(&inv.key);
            }
            Ok(())
        })
    }

    fn evict<'a>(&'a self, key: &'a str, rev: i64, ttl: Duration) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let at_rev = self.value_rev(key) == Some(rev);
            self.cache.evict(key, rev, ttl).await?;
            if at_rev {
                self.changed(key);
            }
            Ok(())
        })
    }

    fn subscribe_invalidations(&self, sink: SharedSink) -> Result<PushSubscription> {
        if self.refuse.load(Ordering::SeqCst) {
            return Ok(PushSubscription::unsupported());
        }
        let mut state = self.state.lock().expect("state");
        let id = state.next_id;
        state.next_id += 1;
        state.sinks.push((id, sink));
        Ok(PushSubscription::active(Unsubscribe {
            state: Arc::clone(&self.state),
            id,
        }))
    }
}

/// Replicas over one store and one scripted server, on one mock clock.
struct Replicas {
    clock: MockClock,
    store: MemoryDocumentStore,
    gate: GatedStore,
    server: Server,
}

impl Replicas {
    fn new() -> Self {
        let clock = MockClock::new();
        let store = MemoryDocumentStore::new();
        Replicas {
            gate: GatedStore::new(Arc::new(store.clone())),
            server: Server::new(&clock),
            clock,
            store,
        }
    }

    fn runtime(&self) -> ExecutionRuntime {
        let module = TestDepsModule::new("push-replicas")
            .document("products", Arc::new(self.gate.clone()))
            .document("orders", Arc::new(self.gate.clone()))
            .document("plain", Arc::new(self.gate.clone()))
            .cache("products", Arc::new(self.server.clone()))
            .tx("products", Arc::new(self.store.clone()));
        let deps = DepsRegistry::from_modules([module.boxed()])
            .freeze()
            .expect("valid registrations");
        ExecutionRuntime::new(deps, LifecyclePlan::new().freeze().expect("empty plan"))
            .with_clock(Arc::new(self.clock.clone()))
            .with_coordinator(CoordinatorConfig::default().cache_timeout(Duration::from_secs(10)))
    }

    /// A replica whose `products` lane exists (and so is subscribed).
    fn replica(&self) -> ExecutionContext {
        let ctx = self.runtime().context();
        ctx.cache(&products()).expect("lane");
        ctx
    }
}

/// Create a document and push the create's tombstone, as a stream that keeps up would before
/// the next step of a test.
async fn create_pushed(
    r: &Replicas,
    ctx: &ExecutionContext,
    spec: &DocumentSpec<Product>,
    price: i32,
) -> ProductRead {
    let created = create(ctx, spec, price).await;
    r.server.deliver();
    created
}

fn push_stats(ctx: &ExecutionContext, spec: &DocumentSpec<Product>) -> L1PushStats {
    ctx.cache(spec)
        .expect("a cached spec")
        .stats()
        .push
        .expect("the spec has an L1")
}

fn l1_hits(ctx: &ExecutionContext) -> u64 {
    ctx.cache(&products()).unwrap().stats().l1.unwrap().hits
}

fn l1_size(ctx: &ExecutionContext) -> usize {
    ctx.cache(&products()).unwrap().stats().l1.unwrap().size
}

/// Wait until the echo checks of `ctx` reached `n`.
async fn checks(ctx: &ExecutionContext, n: u64) {
    until(|| push_stats(ctx, &products()).echo_checks >= n).await;
}

/// Read `id` on `ctx` and assert it was an L1 hit with `expected`.
async fn assert_l1_hit(ctx: &ExecutionContext, id: Uuid, expected: &ProductRead, what: &str) {
    let hits = l1_hits(ctx);
    assert_eq!(
        &get(ctx, &products(), id).await.unwrap(),
        expected,
        "{what}"
    );
    assert_eq!(l1_hits(ctx), hits + 1, "{what}: an L1 hit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_drops_the_entry_on_the_other_replica() {
    watchdog(async {
        let r = Replicas::new();
        let (a, b) = (r.replica(), r.replica());
        assert_eq!(r.server.subscriptions(), 2, "one subscription per runtime");
        let spec = products();
        let p = create_pushed(&r, &a, &spec, 10).await;
        assert_eq!(get(&b, &spec, p.id).await.unwrap(), p); // B fills rev 1
        r.server.deliver();
        checks(&b, 1).await;
        assert_l1_hit(&b, p.id, &p, "B holds rev 1").await;

        let v2 = update(&a, &spec, &p, 12).await;
        assert_eq!(r.server.queued(), [p.id.to_string()], "the tombstone");
        assert_eq!(
            get(&b, &spec, p.id).await.unwrap(),
            p,
            "until the push arrives B serves its L1 entry"
        );
        r.server.deliver();
        let stats = push_stats(&b, &spec);
        // the create's tombstone, B's own fill, A's update
        assert_eq!((stats.received, stats.dropped), (3, 1), "{stats:?}");
        assert_eq!(stats.support, PushSupport::Active);
        assert_eq!(
            get(&b, &spec, p.id).await.unwrap(),
            v2,
            "fresh after the push"
        );
        assert_eq!(l1_size(&b), 1);
    })
    .await;
}

/// A read that got the old value from the shared cache before the push must not put it into
/// the L1 after the push (the push bumps the key's epoch like a local write).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_that_started_before_the_push_does_not_insert_after_it() {
    watchdog(async {
        let r = Replicas::new();
        let (a, b) = (r.replica(), r.replica());
        let spec = products();
        let p = create_pushed(&r, &a, &spec, 10).await;
        get(&a, &spec, p.id).await.unwrap(); // fills the shared cache with rev 1
        r.server.deliver();

        r.server.hold_gets.store(1, Ordering::SeqCst);
        let reader = spawn_get(&b, &spec, p.id);
        r.server.wait_held(1).await; // B's reader has rev 1 from the shared cache
        let v2 = update(&a, &spec, &p, 12).await;
        r.server.deliver();
        r.server.release_gets();
        assert_eq!(
            reader.await.unwrap().unwrap(),
            p,
            "it started before the write"
        );
        assert_eq!(l1_size(&b), 0, "but its value is not kept");
        assert_eq!(get(&b, &spec, p.id).await.unwrap(), v2);
    })
    .await;
}

/// The cross-replica twin of the single-flight rule: a read on B that starts after the push
/// does not join a fetch that started on B before A's write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_after_the_push_does_not_join_a_fetch_from_before_the_write() {
    watchdog(async {
        let r = Replicas::new();
        let (a, b) = (r.replica(), r.replica());
        let spec = products();
        let p = create_pushed(&r, &a, &spec, 10).await;

        r.gate.hold_next(1);
        let early = spawn_get(&b, &spec, p.id);
        r.gate.wait_held(1).await; // B's fetch read rev 1 from the store
        let v2 = update(&a, &spec, &p, 12).await;
        r.server.deliver();
        let late = get(&b, &spec, p.id).await.unwrap();
        assert_eq!(
            late, v2,
            "a read that starts after the push reads the write"
        );
        r.gate.release_all();
        assert_eq!(early.await.unwrap().unwrap(), p);
        assert_eq!(get(&b, &spec, p.id).await.unwrap(), v2, "rev 1 never kept");
        assert_eq!(b.cache(&spec).unwrap().stats().coalesced, 0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echoes_of_own_writes_and_fills_keep_the_writers_entry() {
    watchdog(async {
        let r = Replicas::new();
        let a = r.replica();
        let spec = products();
        let p = create_pushed(&r, &a, &spec, 10).await;
        assert_eq!(get(&a, &spec, p.id).await.unwrap(), p); // miss: fills rev 1
        assert_eq!(push_stats(&a, &spec).pending_echoes, 1);
        r.server.deliver();
        checks(&a, 1).await;
        assert_l1_hit(&a, p.id, &p, "the fill's echo kept the entry").await;

        let v2 = update(&a, &spec, &p, 12).await;
        assert_eq!(get(&a, &spec, p.id).await.unwrap(), v2); // refills rev 2
        assert_eq!(r.server.queued().len(), 2, "the tombstone and the fill");
        r.server.deliver();
        checks(&a, 2).await;
        let stats = push_stats(&a, &spec);
        // the create's and the update's tombstones, the two fills
        assert_eq!(stats.echoes_suppressed, 4, "{stats:?}");
        assert_eq!(stats.dropped, 0, "{stats:?}");
        assert_eq!(stats.pending_echoes, 0, "{stats:?}");
        assert_l1_hit(&a, p.id, &v2, "the writer keeps its fresher entry").await;
    })
    .await;
}

/// The echo may arrive before the reply of the call that caused it: expectations are recorded
/// before the call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echoes_that_arrive_before_the_reply_are_recognised() {
    watchdog(async {
        let r = Replicas::new();
        let a = r.replica();
        let spec = products();
        r.server.immediate.store(true, Ordering::SeqCst);
        let p = create_pushed(&r, &a, &spec, 10).await;
        get(&a, &spec, p.id).await.unwrap();
        checks(&a, 1).await;
        let v2 = update(&a, &spec, &p, 12).await;
        get(&a, &spec, p.id).await.unwrap();
        checks(&a, 2).await;
        let stats = push_stats(&a, &spec);
        assert_eq!(
            (stats.echoes_suppressed, stats.dropped),
            (4, 0),
            "{stats:?}"
        );
        assert_l1_hit(&a, p.id, &v2, "still held").await;
    })
    .await;
}

/// Redis reports a key once per event-loop iteration: the own tombstone and fill may come as
/// one push. No expectation is left over to swallow a later foreign push.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coalesced_own_echoes_leave_nothing_that_swallows_a_foreign_push() {
    watchdog(async {
        let r = Replicas::new();
        let (a, b) = (r.replica(), r.replica());
        let spec = products();
        let p = create_pushed(&r, &a, &spec, 10).await;
        let v2 = update(&a, &spec, &p, 12).await;
        assert_eq!(get(&a, &spec, p.id).await.unwrap(), v2);
        r.server.deliver_coalesced(); // one push for the tombstone and the fill
        assert_l1_hit(&a, p.id, &v2, "the coalesced echo kept the entry").await;

        // B writes: A drops at once (or after one check of a left-over fill expectation).
        let v3 = update(&b, &spec, &v2, 13).await;
        r.server.deliver();
        until(|| l1_size(&a) == 0).await;
        assert_eq!(get(&a, &spec, p.id).await.unwrap(), v3);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_write_right_after_an_own_write_is_applied() {
    watchdog(async {
        let r = Replicas::new();
        let (a, b) = (r.replica(), r.replica());
        let spec = products();
        let p = create_pushed(&r, &a, &spec, 10).await;
        let v2 = update(&a, &spec, &p, 12).await;
        assert_eq!(get(&a, &spec, p.id).await.unwrap(), v2); // A holds rev 2
        let v3 = update(&b, &spec, &v2, 13).await; // B writes right after
        let before = push_stats(&a, &spec).echoes_suppressed;
        r.server.deliver(); // A's tombstone, A's fill, B's tombstone, in order
        let stats = push_stats(&a, &spec);
        assert_eq!(stats.echoes_suppressed, before + 2, "{stats:?}");
        until(|| l1_size(&a) == 0).await;
        assert_eq!(get(&a, &spec, p.id).await.unwrap(), v3, "B's write applied");
    })
    .await;
}

/// Redis may report an own fill and a foreign write of the same key made in the same
/// event-loop iteration as one push: the echo check finds the cache moved on and drops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_write_coalesced_with_an_own_fill_is_applied_after_a_check() {
    watchdog(async {
        let r = Replicas::new();
        let (a, b) = (r.replica(), r.replica());
        let spec = products();
        let p = create_pushed(&r, &a, &spec, 10).await;
        assert_eq!(get(&a, &spec, p.id).await.unwrap(), p); // A fills rev 1, holds it
        let v2 = update(&b, &spec, &p, 12).await; // B writes in the same "iteration"
        let before = push_stats(&a, &spec);
        r.server.deliver_coalesced(); // one push: A's fill + B's tombstone
        checks(&a, 1).await;
        let stats = push_stats(&a, &spec);
        assert_eq!(
            (stats.echoes_suppressed, stats.dropped),
            (before.echoes_suppressed + 1, before.dropped + 1),
            "{stats:?}"
        );
        assert_eq!(get(&a, &spec, p.id).await.unwrap(), v2);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_echo_check_drops_the_entry() {
    watchdog(async {
        let r = Replicas::new();
        let a = r.replica();
        let spec = products();
        let p = create_pushed(&r, &a, &spec, 10).await;
        get(&a, &spec, p.id).await.unwrap();
        r.server.fail_get_many.store(true, Ordering::SeqCst);
        r.server.deliver();
        checks(&a, 1).await;
        assert_eq!(
            l1_size(&a),
            0,
            "an echo that cannot be checked counts as foreign"
        );
        assert_eq!(push_stats(&a, &spec).dropped, 1);
    })
    .await;
}

/// A fill the cache rejected changed nothing, and a failed one may not have: neither leaves an
/// expectation that would hold back the next foreign push.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_and_failed_fills_expect_no_echo() {
    watchdog(async {
        let r = Replicas::new();
        let (a, b) = (r.replica(), r.replica());
        let spec = products();
        let p = create_pushed(&r, &a, &spec, 10).await;

        // Rejected: A read rev 1 from the store, B wrote rev 2 before A's fill.
        r.gate.hold_next(1);
        let reader = spawn_get(&a, &spec, p.id);
        r.gate.wait_held(1).await;
        let v2 = update(&b, &spec, &p, 12).await;
        r.gate.release_all();
        assert_eq!(reader.await.unwrap().unwrap(), p);
        assert_eq!(a.cache(&spec).unwrap().stats().fills_rejected, 1);
        assert_eq!(push_stats(&a, &spec).pending_echoes, 0);

        // Failed: the fill errs, the read is served from the store and kept in the L1.
        r.server.deliver();
        r.server.fail_fills.store(true, Ordering::SeqCst);
        assert_eq!(get(&a, &spec, p.id).await.unwrap(), v2);
        r.server.fail_fills.store(false, Ordering::SeqCst);
        assert_eq!(push_stats(&a, &spec).pending_echoes, 0);
        assert_eq!(l1_size(&a), 1);

        // B's next write drops A's entry on arrival, without a check.
        let v3 = update(&b, &spec, &v2, 13).await;
        r.server.deliver();
        let stats = push_stats(&a, &spec);
        assert_eq!((stats.dropped, stats.echo_checks), (1, 0), "{stats:?}");
        assert_eq!(get(&a, &spec, p.id).await.unwrap(), v3);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expectations_expire_after_the_echo_window() {
    watchdog(async {
        let r = Replicas::new();
        let (a, b) = (r.replica(), r.replica());
        let spec = products();
        let p = create_pushed(&r, &a, &spec, 10).await;
        let v2 = update(&a, &spec, &p, 12).await;
        r.server.lose_queue(); // the echo never comes
        assert_eq!(push_stats(&a, &spec).pending_echoes, 1);
        assert_eq!(get(&a, &spec, p.id).await.unwrap(), v2);
        r.server.lose_queue();
        r.clock.advance(Duration::from_secs(2));
        assert_eq!(push_stats(&a, &spec).pending_echoes, 0);
        let v3 = update(&b, &spec, &v2, 13).await;
        r.server.deliver();
        assert_eq!(push_stats(&a, &spec).dropped, 1, "treated as foreign");
        assert_eq!(get(&a, &spec, p.id).await.unwrap(), v3);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_drops_every_entry_expectation_and_flight() {
    watchdog(async {
        let r = Replicas::new();
        let (a, b) = (r.replica(), r.replica());
        let spec = products();
        let mut docs = Vec::new();
        for i in 0..5 {
            let p = create_pushed(&r, &b, &spec, i).await;
            get(&a, &spec, p.id).await.unwrap();
            docs.push(p);
        }
        r.server.deliver();
        checks(&a, 5).await;
        assert_eq!(l1_size(&a), 5);

        // A fetch in flight on A, and an own write whose echo is pending.
        let other = create_pushed(&r, &b, &spec, 7).await;
        let v2 = update(&a, &spec, &docs[0], 99).await;
        r.gate.hold_next(1);
        let early = spawn_get(&a, &spec, other.id);
        r.gate.wait_held(1).await;
        assert!(push_stats(&a, &spec).pending_echoes >= 1);

        let changed = update(&b, &spec, &other, 98).await;
        r.server.lose_queue(); // the stream broke: these pushes are lost
        r.server.reset_all();
        let stats = push_stats(&a, &spec);
        assert_eq!(stats.resets, 1);
        assert_eq!(stats.pending_echoes, 0, "{stats:?}");
        assert_eq!(l1_size(&a), 0);
        assert_eq!(
            get(&a, &spec, other.id).await.unwrap(),
            changed,
            "no joining the fetch from before the reset"
        );
        r.gate.release_all();
        early.await.unwrap().unwrap();
        assert_eq!(get(&a, &spec, docs[0].id).await.unwrap(), v2);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_keys_map_back_to_the_tenants_entry() {
    watchdog(async {
        let r = Replicas::new();
        let tenant = Uuid::now_v7();
        let (a, b) = (
            r.replica().with_tenant(tenant),
            r.replica().with_tenant(tenant),
        );
        // a tenant-scoped spec on the `products` cache (the replicas' `products` lane is plain)
        let spec = spec_named("orders", "products", true).with_tenancy(Tenancy::Column);
        let l1_size = |ctx: &ExecutionContext| ctx.cache(&spec).unwrap().stats().l1.unwrap().size;
        for ctx in [&a, &b] {
            ctx.cache(&spec).expect("lane"); // subscribed before the first push
        }
        let p = create_pushed(&r, &a, &spec, 10).await;
        get(&b, &spec, p.id).await.unwrap();
        r.server.deliver();
        assert_eq!(l1_size(&b), 1);
        let v2 = update(&a, &spec, &p, 12).await;
        assert_eq!(r.server.queued(), [format!("{tenant}:{}", p.id)]);
        r.server.deliver();
        assert_eq!(l1_size(&b), 0);
        assert_eq!(get(&b, &spec, p.id).await.unwrap(), v2);
        // Keys of another form are ignored.
        for sink in r.server.sinks() {
            sink.invalidated("not-a-document-key");
        }
        assert_eq!(push_stats(&b, &spec).received, 3);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_subscription_per_cache_fans_out_to_every_spec_using_it() {
    watchdog(async {
        let r = Replicas::new();
        let (products, orders) = (products(), spec_named("orders", "products", true));
        let plain = spec_named("plain", "products", false);
        let a = r.replica();
        let b = r.runtime().context();
        for spec in [&products, &orders, &plain] {
            b.cache(spec).unwrap();
        }
        assert_eq!(r.server.subscriptions(), 2, "one per runtime and cache");
        assert!(
            b.cache(&plain).unwrap().stats().push.is_none(),
            "no L1: no push"
        );

        let p = create_pushed(&r, &a, &products, 1).await;
        let o = create_pushed(&r, &a, &orders, 2).await;
        get(&b, &products, p.id).await.unwrap();
        get(&b, &orders, o.id).await.unwrap();
        r.server.deliver();
        update(&a, &products, &p, 5).await;
        update(&a, &orders, &o, 6).await;
        r.server.deliver();
        for spec in [&products, &orders] {
            let stats = push_stats(&b, spec);
            // each lane gets every key of the cache (2 creates, 2 fills, 2 updates) and drops
            // only its own
            assert_eq!((stats.received, stats.dropped), (6, 1), "{stats:?}");
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_evict_echo_is_expected_like_a_write() {
    watchdog(async {
        let r = Replicas::new();
        let a = r.replica();
        let spec = products();
        let p = create_pushed(&r, &a, &spec, 10).await;
        // A payload that does not decode at rev 1.
        let garbage = CacheFill::new(p.id.to_string(), 1, b"{not json".to_vec(), L1_TTL);
        assert!(r.server.cache.fill(garbage).await.unwrap());
        assert_eq!(get(&a, &spec, p.id).await.unwrap(), p); // evict, then refill
        assert_eq!(a.cache(&spec).unwrap().stats().decode_errors, 1);
        assert_eq!(r.server.queued().len(), 2, "the evict and the fill");
        r.server.deliver();
        checks(&a, 1).await;
        // the create's tombstone, the evict, the fill
        assert_eq!(push_stats(&a, &spec).echoes_suppressed, 3);
        assert_l1_hit(&a, p.id, &p, "kept").await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_unsubscribes_and_startup_subscribes_again() {
    watchdog(async {
        let r = Replicas::new();
        let runtime = r.runtime();
        let ctx = runtime.context();
        let spec = products();
        runtime.startup().await.unwrap();
        ctx.cache(&spec).unwrap();
        assert_eq!(r.server.subscriptions(), 1);
        runtime.shutdown().await;
        assert_eq!(r.server.subscriptions(), 0);
        assert_eq!(push_stats(&ctx, &spec).support, PushSupport::Unsupported);
        let p = create(&ctx, &spec, 1).await;
        assert_eq!(
            push_stats(&ctx, &spec).pending_echoes,
            0,
            "nothing expected"
        );
        runtime.startup().await.unwrap();
        assert_eq!(r.server.subscriptions(), 1);
        assert_eq!(push_stats(&ctx, &spec).support, PushSupport::Active);
        update(&ctx, &spec, &p, 2).await;
        assert_eq!(push_stats(&ctx, &spec).pending_echoes, 1);
        drop(ctx);
        drop(runtime);
        assert_eq!(r.server.subscriptions(), 0, "dropped with the runtime");
    })
    .await;
}

/// Counts `info`-or-worse events and keeps their text (a minimal `tracing` subscriber).
mod capture {
    use std::sync::{Arc, Mutex};

    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event, Level, Metadata, Subscriber};

    #[derive(Clone, Default)]
    pub struct Lines(pub Arc<Mutex<Vec<String>>>);

    struct Text(String);

    impl Visit for Text {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            self.0.push_str(&format!("{}={value:?} ", field.name()));
        }
    }

    impl Subscriber for Lines {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &Attributes<'_>) -> Id {
            Id::from_u64(1)
        }
        fn record(&self, _: &Id, _: &Record<'_>) {}
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, event: &Event<'_>) {
            if *event.metadata().level() <= Level::INFO {
                let mut text = Text(String::new());
                event.record(&mut text);
                self.0.lock().expect("log").push(text.0);
            }
        }
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }
}

// Current-thread runtime: everything runs on this thread, under the capturing subscriber.
#[tokio::test]
async fn a_cache_that_does_not_push_is_ttl_only_and_logged_once_per_runtime_and_cache() {
    let lines = capture::Lines::default();
    let _guard = tracing::subscriber::set_default(lines.clone());
    watchdog(async {
        let r = Replicas::new();
        r.server.refuse.store(true, Ordering::SeqCst);
        let (products, orders) = (products(), spec_named("orders", "products", true));
        let a = r.runtime().context();
        let b = r.runtime().context();
        for ctx in [&a, &b] {
            ctx.cache(&products).unwrap();
            ctx.cache(&orders).unwrap();
        }
        let logged: Vec<String> = lines
            .0
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains("does not push invalidations"))
            .cloned()
            .collect();
        assert_eq!(
            logged.len(),
            2,
            "one line per runtime and cache: {logged:?}"
        );
        assert!(logged[0].contains("TTL-only"), "{logged:?}");
        assert_eq!(push_stats(&a, &orders).support, PushSupport::Unsupported);

        // TTL-only: B serves its entry until l1(ttl), then reads the write.
        let p = create(&a, &products, 10).await;
        get(&b, &products, p.id).await.unwrap();
        let v2 = update(&a, &products, &p, 12).await;
        assert_eq!(
            push_stats(&a, &products).pending_echoes,
            0,
            "no echo expected"
        );
        assert_eq!(get(&b, &products, p.id).await.unwrap(), p);
        r.clock.advance(L1_TTL);
        assert_eq!(get(&b, &products, p.id).await.unwrap(), v2);
        assert_eq!(get(&a, &products, p.id).await.unwrap(), v2);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_reads_expect_the_echoes_of_their_fills() {
    watchdog(async {
        let r = Replicas::new();
        let (a, b) = (r.replica(), r.replica());
        let spec = products();
        let mut docs = Vec::new();
        for i in 0..4 {
            docs.push(create_pushed(&r, &b, &spec, i).await);
        }
        r.server.deliver();
        let ids: Vec<Uuid> = docs.iter().map(|d| d.id).collect();
        let query = a.document().query(&spec).unwrap();
        assert_eq!(query.get_many(&ids).await.unwrap(), docs);
        assert_eq!(push_stats(&a, &spec).pending_echoes, 4);
        r.server.deliver();
        checks(&a, 4).await;
        let hits = l1_hits(&a);
        assert_eq!(query.get_many(&ids).await.unwrap(), docs);
        assert_eq!(l1_hits(&a), hits + 4, "every entry kept");

        // A foreign write to one of them drops that one only.
        let v2 = update(&b, &spec, &docs[2], 50).await;
        r.server.deliver();
        assert_eq!(l1_size(&a), 3);
        let mut expected = docs.clone();
        expected[2] = v2;
        assert_eq!(query.get_many(&ids).await.unwrap(), expected);
    })
    .await;
}
