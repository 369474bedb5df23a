//! The freshness contract at its edges: writes abandoned inside a transaction, failed
//! invalidations seen from another replica, writes and commits with an uncertain outcome, and
//! fetches that outlive their tombstones.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use forze_core::cache::Cache;
use forze_core::clock::MockClock;
use forze_core::memory::{MemoryCache, MemoryCacheState, MemoryDocumentStore};
use forze_core::prelude::*;
use forze_core::store::{
    BoxFuture, DocumentBackend, DocumentBinding, DocumentStore, Patch, StoreCx, Transaction,
    TransactionManager, Updated, Upsert, Upserted,
};
use forze_core::testing::{
    CacheMode, FailingCache, GatedStore, PRODUCT_SPEC, ProductCreate, ProductRead, ProductUpdate,
    TestDepsModule, watchdog,
};
use forze_core::{
    CoordinatorConfig, DepsRegistry, Error, ErrorKind, ExecutionContext, ExecutionRuntime,
    LifecyclePlan, Result, Row,
};
use parking_lot::Mutex;
use tokio::sync::oneshot;
use uuid::Uuid;

/// Faults of writes and commits: hold a write's reply after it was applied, or lose it (the
/// write applied, the caller gets `Unavailable`); lose a commit's reply the same way.
#[derive(Debug, Default)]
struct Faults {
    /// Hold the next write's reply (after the write applied) until released.
    hold_next_write: AtomicBool,
    held: Mutex<Vec<oneshot::Sender<()>>>,
    /// Writes whose reply was released.
    replied: AtomicUsize,
    /// Lose the reply of the next write.
    lose_next_write: AtomicBool,
    /// Lose the reply of the next commit.
    lose_next_commit: AtomicBool,
}

fn lost(what: &str) -> Error {
    Error::new(
        ErrorKind::Unavailable,
        format!("injected: the {what} applied but its reply was lost"),
    )
}

impl Faults {
    async fn after_write<T>(&self, result: Result<T>) -> Result<T> {
        if self.hold_next_write.swap(false, Ordering::SeqCst) {
            let (tx, rx) = oneshot::channel();
            self.held.lock().push(tx);
            let _ = rx.await;
        }
        self.replied.fetch_add(1, Ordering::SeqCst);
        if result.is_ok() && self.lose_next_write.swap(false, Ordering::SeqCst) {
            return Err(lost("write"));
        }
        result
    }

    async fn wait_held(&self) {
        while self.held.lock().is_empty() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    fn release(&self) {
        for tx in self.held.lock().drain(..) {
            let _ = tx.send(());
        }
    }
}

/// A backend and transaction manager over a [`MemoryDocumentStore`] with [`Faults`].
#[derive(Clone)]
struct Faulty {
    store: MemoryDocumentStore,
    faults: Arc<Faults>,
}

impl fmt::Debug for Faulty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Faulty").finish_non_exhaustive()
    }
}

impl DocumentBackend for Faulty {
    fn bind(&self, binding: &DocumentBinding) -> Result<Arc<dyn DocumentStore>> {
        Ok(Arc::new(FaultyStore {
            inner: self.store.bind(binding)?,
            faults: Arc::clone(&self.faults),
        }))
    }
}

impl TransactionManager for Faulty {
    fn begin(&self) -> BoxFuture<'_, Result<Arc<dyn Transaction>>> {
        Box::pin(async move {
            let inner = self.store.begin().await?;
            Ok(Arc::new(FaultyTx {
                inner,
                faults: Arc::clone(&self.faults),
            }) as Arc<dyn Transaction>)
        })
    }
}

struct FaultyTx {
    inner: Arc<dyn Transaction>,
    faults: Arc<Faults>,
}

impl Transaction for FaultyTx {
    fn as_any(&self) -> &dyn std::any::Any {
        // The memory store reaches its own transaction through this.
        self.inner.as_any()
    }
    fn commit(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            self.inner.commit().await?;
            if self.faults.lose_next_commit.swap(false, Ordering::SeqCst) {
                return Err(lost("commit"));
            }
            Ok(())
        })
    }
    fn rollback(&self) -> BoxFuture<'_, Result<()>> {
        self.inner.rollback()
    }
}

#[derive(Debug)]
struct FaultyStore {
    inner: Arc<dyn DocumentStore>,
    faults: Arc<Faults>,
}

impl DocumentStore for FaultyStore {
    fn insert<'a>(&'a self, cx: &'a StoreCx, rows: Vec<Row>) -> BoxFuture<'a, Result<Vec<Row>>> {
        Box::pin(async move {
            self.faults
                .after_write(self.inner.insert(cx, rows).await)
                .await
        })
    }
    fn ensure<'a>(&'a self, cx: &'a StoreCx, row: Row) -> BoxFuture<'a, Result<(Row, bool)>> {
        Box::pin(async move {
            self.faults
                .after_write(self.inner.ensure(cx, row).await)
                .await
        })
    }
    fn update<'a>(
        &'a self,
        cx: &'a StoreCx,
        patches: Vec<Patch>,
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<Vec<Updated>>> {
        Box::pin(async move {
            let result = self.inner.update(cx, patches, now).await;
            self.faults.after_write(result).await
        })
    }
    fn touch<'a>(
        &'a self,
        cx: &'a StoreCx,
        id: Uuid,
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<Row>> {
        Box::pin(async move {
            self.faults
                .after_write(self.inner.touch(cx, id, now).await)
                .await
        })
    }
    fn delete<'a>(&'a self, cx: &'a StoreCx, ids: &'a [Uuid]) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            self.faults
                .after_write(self.inner.delete(cx, ids).await)
                .await
        })
    }
    fn upsert<'a>(
        &'a self,
        cx: &'a StoreCx,
        items: Vec<Upsert>,
    ) -> BoxFuture<'a, Result<Vec<Upserted>>> {
        Box::pin(async move {
            self.faults
                .after_write(self.inner.upsert(cx, items).await)
                .await
        })
    }
    fn ensure_many<'a>(
        &'a self,
        cx: &'a StoreCx,
        rows: Vec<Row>,
    ) -> BoxFuture<'a, Result<Vec<(Row, bool)>>> {
        Box::pin(async move {
            self.faults
                .after_write(self.inner.ensure_many(cx, rows).await)
                .await
        })
    }
    fn touch_many<'a>(
        &'a self,
        cx: &'a StoreCx,
        ids: &'a [Uuid],
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<Vec<Row>>> {
        Box::pin(async move {
            self.faults
                .after_write(self.inner.touch_many(cx, ids, now).await)
                .await
        })
    }
    fn delete_at<'a>(
        &'a self,
        cx: &'a StoreCx,
        expected: &'a [(Uuid, i64)],
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            self.faults
                .after_write(self.inner.delete_at(cx, expected).await)
                .await
        })
    }
    fn update_matching<'a>(
        &'a self,
        cx: &'a StoreCx,
        filter: &'a forze_core::query::Predicate,
        fields: serde_json::Map<String, serde_json::Value>,
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<Vec<(Uuid, i64)>>> {
        Box::pin(async move {
            let result = self.inner.update_matching(cx, filter, fields, now).await;
            self.faults.after_write(result).await
        })
    }
    fn get<'a>(
        &'a self,
        cx: &'a StoreCx,
        id: Uuid,
        lock: bool,
    ) -> BoxFuture<'a, Result<Option<Row>>> {
        self.inner.get(cx, id, lock)
    }
    fn get_many<'a>(&'a self, cx: &'a StoreCx, ids: &'a [Uuid]) -> BoxFuture<'a, Result<Vec<Row>>> {
        self.inner.get_many(cx, ids)
    }
    fn find<'a>(
        &'a self,
        cx: &'a StoreCx,
        select: &'a forze_core::query::Select,
    ) -> BoxFuture<'a, Result<Vec<Row>>> {
        self.inner.find(cx, select)
    }
    fn count<'a>(
        &'a self,
        cx: &'a StoreCx,
        filter: Option<&'a forze_core::query::Predicate>,
    ) -> BoxFuture<'a, Result<u64>> {
        self.inner.count(cx, filter)
    }
}

/// One application: a store with write faults, gated reads, one shared cache on a mock clock.
struct App {
    clock: MockClock,
    store: Faulty,
    gate: GatedStore,
    cache: MemoryCache,
    config: CoordinatorConfig,
}

impl App {
    fn new() -> Self {
        Self::with_config(CoordinatorConfig::default().cache_timeout(Duration::from_millis(20)))
    }

    fn with_config(config: CoordinatorConfig) -> Self {
        let clock = MockClock::new();
        let store = Faulty {
            store: MemoryDocumentStore::new(),
            faults: Arc::new(Faults::default()),
        };
        App {
            gate: GatedStore::new(Arc::new(store.clone())),
            cache: MemoryCache::with_clock(Arc::new(clock.clone())),
            clock,
            store,
            config,
        }
    }

    /// A replica whose link to the shared cache is `cache`.
    fn replica_with(&self, cache: Arc<dyn Cache>) -> ExecutionContext {
        let module = TestDepsModule::new("freshness")
            .document("products", Arc::new(self.gate.clone()))
            .cache("products", cache)
            .tx("products", Arc::new(self.store.clone()));
        let deps = DepsRegistry::from_modules([module.boxed()])
            .freeze()
            .expect("valid registrations");
        ExecutionRuntime::new(deps, LifecyclePlan::new().freeze().expect("empty plan"))
            .with_clock(Arc::new(self.clock.clone()))
            .with_coordinator(self.config.clone())
            .context()
    }

    fn replica(&self) -> ExecutionContext {
        self.replica_with(Arc::new(self.cache.clone()))
    }

    fn faults(&self) -> &Faults {
        &self.store.faults
    }

    fn state(&self, id: Uuid) -> Option<MemoryCacheState> {
        self.cache.state(&id.to_string())
    }

    fn cached_rev(&self, id: Uuid) -> Option<i64> {
        match self.state(id) {
            Some(MemoryCacheState::Value { rev, .. }) => Some(rev),
            _ => None,
        }
    }
}

fn price(p: i32) -> ProductUpdate {
    ProductUpdate {
        price: Some(p),
        ..ProductUpdate::default()
    }
}

async fn create(ctx: &ExecutionContext) -> ProductRead {
    ctx.document()
        .command(&PRODUCT_SPEC)
        .unwrap()
        .create(ProductCreate::new("Widget", 10))
        .await
        .unwrap()
}

async fn get(ctx: &ExecutionContext, id: Uuid) -> Result<ProductRead> {
    ctx.document().query(&PRODUCT_SPEC)?.get(id).await
}

/// The document as the store has it now (a read inside a transaction bypasses the cache).
async fn stored(ctx: &ExecutionContext, id: Uuid) -> ProductRead {
    ctx.transaction("products", |tx| async move { get(&tx, id).await })
        .await
        .unwrap()
}

/// A created document, read once so the shared cache holds rev 1.
async fn cached_doc(app: &App, ctx: &ExecutionContext) -> ProductRead {
    let p = create(ctx).await;
    assert_eq!(get(ctx, p.id).await.unwrap(), p);
    assert_eq!(app.cached_rev(p.id), Some(1), "cached at rev 1");
    p
}

/// F1: a handler starts a write inside a transaction, gives up on it after its first poll
/// (a timeout, a `select!`), and its body still returns `Ok`. The write applied; the commit must
/// not finish before the write's invalidation is queued, or nobody runs it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_abandoned_inside_a_transaction_is_still_invalidated_after_the_commit() {
    watchdog(async {
        let app = App::new();
        let ctx = app.replica();
        let p = cached_doc(&app, &ctx).await;
        let id = p.id;

        app.faults().hold_next_write.store(true, Ordering::SeqCst);
        let (body_done_tx, body_done) = oneshot::channel::<()>();
        let tx_ctx = ctx.clone();
        let faults = Arc::clone(&app.store.faults);
        let mut transaction = tokio::spawn(async move {
            tx_ctx
                .transaction("products", |tx| async move {
                    let docs = tx.document().command(&PRODUCT_SPEC)?;
                    let mut write = Box::pin(docs.update(id, 1, price(12)));
                    // Poll it once (it starts), then abandon it.
                    tokio::select! {
                        biased;
                        _ = &mut write => panic!("the held write cannot have finished"),
                        () = std::future::ready(()) => {}
                    }
                    // The write applied inside the transaction and waits for its reply.
                    faults.wait_held().await;
                    drop(write);
                    let _ = body_done_tx.send(());
                    Ok(())
                })
                .await
        });
        body_done.await.unwrap();
        // Without waiting for the abandoned write, the commit finishes while it is held (and its
        // invalidation comes too late); with it, the commit waits for the release. Either way
        // the write is released only once the commit had its chance to run.
        let early = tokio::select! {
            done = &mut transaction => Some(done),
            () = tokio::time::sleep(Duration::from_millis(100)) => None,
        };
        app.faults().release();
        match early {
            Some(done) => done.unwrap().unwrap(),
            None => transaction.await.unwrap().unwrap(),
        }
        // The abandoned write has answered; give its task the chance to finish.
        while app.faults().replied.load(Ordering::SeqCst) < 2 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;

        let fresh = stored(&ctx, id).await;
        assert_eq!(fresh.rev, 2, "the abandoned write committed");
        assert_eq!(
            get(&ctx, id).await.unwrap(),
            fresh,
            "a read after the transaction returned must not see rev 1"
        );
        assert_eq!(
            get(&app.replica(), id).await.unwrap(),
            fresh,
            "nor another replica"
        );
    })
    .await;
}

/// F2: replica A's invalidation fails; the cache recovers at once. Replica B never reads through
/// A, and A never reads at all: A must still write the pending tombstone on its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_replica_sees_the_write_once_the_cache_recovers_without_reads_on_the_writer() {
    watchdog(async {
        let app = App::new();
        let a_link = FailingCache::new(Arc::new(app.cache.clone()));
        let a = app.replica_with(Arc::new(a_link.clone()));
        let b = app.replica();
        let p = create(&a).await;
        assert_eq!(get(&b, p.id).await.unwrap(), p);
        assert_eq!(app.cached_rev(p.id), Some(1));

        a_link.set_mode(CacheMode::Fail);
        let v2 = a
            .document()
            .command(&PRODUCT_SPEC)
            .unwrap()
            .update(p.id, 1, price(12))
            .await
            .unwrap();
        assert_eq!(
            a.cache(&PRODUCT_SPEC)
                .unwrap()
                .stats()
                .pending_invalidations,
            1
        );
        a_link.set_mode(CacheMode::Healthy);

        // No read on A. B reads until it sees rev 2 (the watchdog fails the test otherwise).
        loop {
            let seen = get(&b, p.id).await.unwrap();
            if seen == v2 {
                break;
            }
            assert_eq!(seen, p);
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let stats = a.cache(&PRODUCT_SPEC).unwrap().stats();
        assert_eq!(stats.pending_invalidations, 0);
        assert!(stats.flushes >= 1, "{stats:?}");
    })
    .await;
}

/// F2: the flusher exits once the set is empty, and a later failure starts a new one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_flusher_restarts_for_a_later_failure() {
    watchdog(async {
        let app = App::new();
        let a_link = FailingCache::new(Arc::new(app.cache.clone()));
        let a = app.replica_with(Arc::new(a_link.clone()));
        let docs = a.document().command(&PRODUCT_SPEC).unwrap();
        for round in 0..2 {
            let p = cached_doc(&app, &a).await;
            a_link.set_mode(CacheMode::Fail);
            docs.update(p.id, 1, price(round)).await.unwrap();
            a_link.set_mode(CacheMode::Healthy);
            while a
                .cache(&PRODUCT_SPEC)
                .unwrap()
                .stats()
                .pending_invalidations
                > 0
            {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            assert_eq!(
                app.state(p.id),
                Some(MemoryCacheState::Tombstone { rev: 2 }),
                "round {round}: the pending tombstone was written"
            );
        }
    })
    .await;
}

/// F4: an autocommit write applies but its reply is lost (`Unavailable`): the caller gets the
/// error, and the next read must not serve the old value.
#[tokio::test]
async fn a_write_whose_reply_is_lost_still_invalidates() {
    watchdog(async {
        let app = App::new();
        let ctx = app.replica();
        let docs = ctx.document().command(&PRODUCT_SPEC).unwrap();

        // update: the rev is unknown, the tombstone is expected + 1.
        let p = cached_doc(&app, &ctx).await;
        app.faults().lose_next_write.store(true, Ordering::SeqCst);
        let err = docs.update(p.id, 1, price(12)).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unavailable);
        let fresh = get(&ctx, p.id).await.unwrap();
        assert_eq!((fresh.rev, fresh.price), (2, 12), "not the old value");

        // touch: the rev is unknown.
        let p = cached_doc(&app, &ctx).await;
        app.faults().lose_next_write.store(true, Ordering::SeqCst);
        assert_eq!(
            docs.touch(p.id).await.unwrap_err().kind(),
            ErrorKind::Unavailable
        );
        assert_eq!(get(&ctx, p.id).await.unwrap().rev, 2);

        // delete.
        let p = cached_doc(&app, &ctx).await;
        app.faults().lose_next_write.store(true, Ordering::SeqCst);
        assert_eq!(
            docs.delete(p.id).await.unwrap_err().kind(),
            ErrorKind::Unavailable
        );
        assert_eq!(
            get(&ctx, p.id).await.unwrap_err().kind(),
            ErrorKind::NotFound
        );

        // update_many.
        let (p, q) = (cached_doc(&app, &ctx).await, cached_doc(&app, &ctx).await);
        app.faults().lose_next_write.store(true, Ordering::SeqCst);
        assert!(
            docs.update_many(vec![(p.id, 1, price(1)), (q.id, 1, price(2))])
                .await
                .is_err()
        );
        assert_eq!(get(&ctx, p.id).await.unwrap().rev, 2);
        assert_eq!(get(&ctx, q.id).await.unwrap().rev, 2);
    })
    .await;
}

/// F4: the commit applies but its reply is lost: the invalidations still run.
#[tokio::test]
async fn a_commit_that_errors_after_applying_still_invalidates() {
    watchdog(async {
        let app = App::new();
        let ctx = app.replica();
        let p = cached_doc(&app, &ctx).await;
        let id = p.id;
        app.faults().lose_next_commit.store(true, Ordering::SeqCst);
        let err = ctx
            .transaction("products", |tx| async move {
                tx.document()
                    .command(&PRODUCT_SPEC)?
                    .update(id, 1, price(12))
                    .await?;
                Ok(())
            })
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unavailable);
        let fresh = stored(&ctx, id).await;
        assert_eq!(fresh.rev, 2, "the commit applied");
        assert_eq!(get(&ctx, id).await.unwrap(), fresh, "not the old value");
    })
    .await;
}

/// F5: a fetch that read the old value and took longer than the cache ttl (so the tombstone of
/// a write made meanwhile may have expired) must not fill.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fetch_that_outlived_the_ttl_does_not_fill() {
    watchdog(async {
        let app = App::new();
        let ctx = app.replica();
        let p = create(&ctx).await;
        let ttl = PRODUCT_SPEC.cache.as_ref().unwrap().ttl;

        app.gate.hold_next(1);
        let id = p.id;
        let reader = {
            let ctx = ctx.clone();
            tokio::spawn(async move { get(&ctx, id).await })
        };
        app.gate.wait_held(1).await;
        // The reader has rev 1. A write commits rev 2; its tombstone lives `ttl`; then `ttl`
        // passes and the tombstone expires, all before the reader's fill.
        let v2 = app
            .replica()
            .document()
            .command(&PRODUCT_SPEC)
            .unwrap()
            .update(id, 1, price(12))
            .await
            .unwrap();
        app.clock.advance(ttl);
        assert_eq!(app.state(id), None, "the tombstone expired");
        app.gate.release_all();
        assert_eq!(
            reader.await.unwrap().unwrap(),
            p,
            "the reader returns what it read"
        );
        assert_eq!(app.state(id), None, "but does not fill it");
        let stats = ctx.cache(&PRODUCT_SPEC).unwrap().stats();
        assert_eq!((stats.fills, stats.fills_skipped), (0, 1));
        assert_eq!(get(&ctx, id).await.unwrap(), v2);
    })
    .await;
}

/// F5: callers waiting for a fetch give up at the fetch deadline with `Unavailable`; the fetch
/// itself carries on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiters_of_a_stuck_fetch_get_unavailable_at_the_deadline() {
    watchdog(async {
        let app = App::with_config(
            CoordinatorConfig::default()
                .cache_timeout(Duration::from_millis(20))
                .fetch_deadline(Duration::from_millis(50)),
        );
        let ctx = app.replica();
        let p = create(&ctx).await;
        app.gate.hold_next(1);
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let ctx = ctx.clone();
                tokio::spawn(async move { get(&ctx, p.id).await })
            })
            .collect();
        for w in waiters {
            let err = w.await.unwrap().unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
        }
        assert_eq!(app.gate.held(), 1, "the fetch is still held");
        app.gate.release_all();
        while ctx.cache(&PRODUCT_SPEC).unwrap().stats().in_flight > 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert_eq!(
            app.cached_rev(p.id),
            Some(1),
            "the fetch finished and filled"
        );
        assert_eq!(get(&ctx, p.id).await.unwrap(), p);
    })
    .await;
}
