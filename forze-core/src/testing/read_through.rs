//! The read-through suite: the coordinator's freshness guarantees on a given cache and store.

use std::sync::Arc;

use uuid::Uuid;

use crate::cache::{Cache, CacheFill};
use crate::error::{Error, ErrorKind};
use crate::prelude::DepsModule;
use crate::runtime::{DepsRegistry, ExecutionContext, ExecutionRuntime, LifecyclePlan};
use crate::store::{DocumentBackend, TransactionManager};

use super::faults::{GatedStore, TestDepsModule};
use super::product::{PRODUCT_SPEC, ProductCreate, ProductRead, ProductUpdate};

/// The backends a read-through case runs on. `documents` is wrapped in a [`GatedStore`] by the
/// suite and registered for `products`; `cache` under `products`; `transactions` (optional,
/// same backend as `documents`) as route `products`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Wiring {
    /// The document backend (its `products` store need not be empty).
    pub documents: Arc<dyn DocumentBackend>,
    /// The cache backend (a fresh namespace per call of the factory is best).
    pub cache: Arc<dyn Cache>,
    /// The transaction manager of the document backend, if it has one.
    pub transactions: Option<Arc<dyn TransactionManager>>,
}

impl Wiring {
    /// Wire `documents` and `cache`, without transactions.
    pub fn new(documents: Arc<dyn DocumentBackend>, cache: Arc<dyn Cache>) -> Self {
        Wiring {
            documents,
            cache,
            transactions: None,
        }
    }

    /// Also run the transaction cases with `manager`.
    #[must_use]
    pub fn with_transactions(mut self, manager: Arc<dyn TransactionManager>) -> Self {
        self.transactions = Some(manager);
        self
    }
}

/// One case's runtime(s) over a wiring.
struct Case {
    gate: GatedStore,
    wiring: Wiring,
}

impl Case {
    fn new(wiring: Wiring) -> Self {
        Case {
            gate: GatedStore::new(Arc::clone(&wiring.documents)),
            wiring,
        }
    }

    /// A runtime (a "replica") over the shared store and cache.
    fn runtime(&self) -> ExecutionRuntime {
        let mut module = TestDepsModule::new("read-through-suite")
            .document("products", Arc::new(self.gate.clone()))
            .cache("products", Arc::clone(&self.wiring.cache));
        if let Some(tx) = &self.wiring.transactions {
            module = module.tx("products", Arc::clone(tx));
        }
        let deps = DepsRegistry::from_modules([module.boxed()])
            .freeze()
            .expect("the suite's registrations are valid");
        let lifecycle = LifecyclePlan::new()
            .freeze()
            .expect("an empty plan is valid");
        ExecutionRuntime::new(deps, lifecycle)
    }
}

async fn raw_rev(ctx: &ExecutionContext, id: Uuid) -> Option<i64> {
    ctx.cache(&PRODUCT_SPEC)
        .expect("cache handle")
        .get(&id.to_string())
        .await
        .expect("raw cache get")
        .map(|e| e.rev)
}

async fn create(ctx: &ExecutionContext, price: i32) -> ProductRead {
    ctx.document()
        .command(&PRODUCT_SPEC)
        .expect("command port")
        .create(ProductCreate::new("Widget", price))
        .await
        .expect("create")
}

fn price(p: i32) -> ProductUpdate {
    ProductUpdate {
        price: Some(p),
        ..ProductUpdate::default()
    }
}

/// The coordinator's guarantees with the given backends, one fresh [`Wiring`] per case from
/// `make_wiring`. A Redis engineer passes the memory store and a Redis cache; a Postgres
/// engineer a Postgres backend (and its transaction manager) with a
/// [`MemoryCache`](crate::memory::MemoryCache).
///
/// Cases: a miss fills at the rev read, a hit does not read the store, a write invalidates and
/// the next read is fresh (read-your-writes across the command and query ports); the stale-set
/// race for update and for delete (a reader that fetched the old rev and fills late never
/// installs it); out-of-order fills never lower the rev; 100 concurrent cold reads make one
/// store read, and share one error; a garbage payload is a miss, evicted and replaced;
/// `get_many` batches; two runtimes sharing the backends (replicas) read each other's writes;
/// and with transactions: invalidation after commit only, nothing on rollback, reads inside
/// bypass the cache.
///
/// # Panics
///
/// On the first broken guarantee. Run it under a watchdog.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use forze_core::memory::{MemoryCache, MemoryDocumentStore};
/// use forze_core::testing::{read_through_suite, watchdog, Wiring};
///
/// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
/// watchdog(read_through_suite(|| {
///     let store = MemoryDocumentStore::new();
///     Wiring::new(Arc::new(store.clone()), Arc::new(MemoryCache::new()))
///         .with_transactions(Arc::new(store))
/// }))
/// .await;
/// # });
/// ```
pub async fn read_through_suite<F>(make_wiring: F)
where
    F: Fn() -> Wiring,
{
    miss_hit_invalidate(Case::new(make_wiring())).await;
    stale_set_race_update(Case::new(make_wiring())).await;
    stale_set_race_delete(Case::new(make_wiring())).await;
    out_of_order_fills(Case::new(make_wiring())).await;
    cold_key_stampede(Case::new(make_wiring())).await;
    garbage_is_a_miss(Case::new(make_wiring())).await;
    get_many_batches(Case::new(make_wiring())).await;
    replicas(Case::new(make_wiring())).await;
    let wiring = make_wiring();
    if wiring.transactions.is_some() {
        transactions(Case::new(wiring)).await;
    }
}

async fn miss_hit_invalidate(case: Case) {
    let ctx = case.runtime().context();
    let query = ctx.document().query(&PRODUCT_SPEC).expect("query port");
    let docs = ctx.document().command(&PRODUCT_SPEC).expect("command port");
    let p = create(&ctx, 10).await;
    assert_eq!(raw_rev(&ctx, p.id).await, None, "a create does not cache");

    let reads = case.gate.reads();
    assert_eq!(
        query.get(p.id).await.expect("get"),
        p,
        "a miss reads the store"
    );
    assert_eq!(case.gate.reads(), reads + 1);
    assert_eq!(
        raw_rev(&ctx, p.id).await,
        Some(1),
        "a miss fills at the rev read"
    );
    assert_eq!(
        query.get(p.id).await.expect("get"),
        p,
        "a hit returns the same document"
    );
    assert_eq!(
        case.gate.reads(),
        reads + 1,
        "a hit does not read the store"
    );

    let updated = docs.update(p.id, p.rev, price(12)).await.expect("update");
    assert_eq!(updated.rev, 2);
    assert_eq!(raw_rev(&ctx, p.id).await, None, "a write invalidates");
    let fresh = query.get(p.id).await.expect("get");
    assert_eq!(
        fresh, updated,
        "read-your-writes across the command and query ports"
    );
    assert_eq!(raw_rev(&ctx, p.id).await, Some(2));

    let touched = docs.touch(p.id).await.expect("touch");
    assert_eq!(
        query.get(p.id).await.expect("get"),
        touched,
        "touch invalidates"
    );
    docs.delete(p.id).await.expect("delete");
    let err = query.get(p.id).await.expect_err("deleted");
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(err.to_string().contains(&p.id.to_string()), "{err}");
    assert!(err.to_string().contains("products"), "{err}");
}

async fn stale_set_race_update(case: Case) {
    let rt = case.runtime();
    let ctx = rt.context();
    let p = create(&ctx, 10).await;

    // A reader misses, fetches rev 1, and is held before it fills.
    case.gate.hold_next(1);
    let reader = {
        let ctx = ctx.clone();
        tokio::spawn(async move { ctx.document().query(&PRODUCT_SPEC)?.get(p.id).await })
    };
    case.gate.wait_held(1).await;
    // A writer commits rev 2 and returns.
    let docs = ctx.document().command(&PRODUCT_SPEC).expect("command port");
    let updated = docs.update(p.id, 1, price(12)).await.expect("update");
    // The reader resumes and fills late.
    case.gate.release_all();
    let late = reader.await.expect("reader task").expect("reader");
    assert_eq!(
        late.rev, 1,
        "the overlapping reader saw the old rev (allowed)"
    );

    assert_ne!(
        raw_rev(&ctx, p.id).await,
        Some(1),
        "the late fill of rev 1 was rejected"
    );
    let query = ctx.document().query(&PRODUCT_SPEC).expect("query port");
    for _ in 0..3 {
        assert_eq!(
            query.get(p.id).await.expect("get"),
            updated,
            "never rev 1 after the write"
        );
    }
    assert_eq!(raw_rev(&ctx, p.id).await, Some(2));
    // Another replica agrees.
    let other = case.runtime().context();
    assert_eq!(
        other
            .document()
            .query(&PRODUCT_SPEC)
            .expect("query")
            .get(p.id)
            .await
            .expect("get")
            .rev,
        2
    );
}

async fn stale_set_race_delete(case: Case) {
    let ctx = case.runtime().context();
    let p = create(&ctx, 10).await;
    case.gate.hold_next(1);
    let reader = {
        let ctx = ctx.clone();
        tokio::spawn(async move { ctx.document().query(&PRODUCT_SPEC)?.get(p.id).await })
    };
    case.gate.wait_held(1).await;
    let docs = ctx.document().command(&PRODUCT_SPEC).expect("command port");
    docs.delete(p.id).await.expect("delete");
    case.gate.release_all();
    let _ = reader.await.expect("reader task");
    assert_eq!(
        raw_rev(&ctx, p.id).await,
        None,
        "no resurrection in the cache"
    );
    let query = ctx.document().query(&PRODUCT_SPEC).expect("query port");
    for _ in 0..3 {
        let err = query.get(p.id).await.expect_err("deleted stays deleted");
        assert_eq!(err.kind(), ErrorKind::NotFound);
    }
    assert_eq!(raw_rev(&ctx, p.id).await, None);
}

async fn out_of_order_fills(case: Case) {
    let ctx = case.runtime().context();
    let p = create(&ctx, 10).await;
    // Reader A fetches rev 1 and is held.
    case.gate.hold_next(1);
    let a = {
        let ctx = ctx.clone();
        tokio::spawn(async move { ctx.document().query(&PRODUCT_SPEC)?.get(p.id).await })
    };
    case.gate.wait_held(1).await;
    let docs = ctx.document().command(&PRODUCT_SPEC).expect("command port");
    let v2 = docs.update(p.id, 1, price(12)).await.expect("update");
    // Reader B starts after the write: it must not join A's fetch, and fills rev 2 first.
    let query = ctx.document().query(&PRODUCT_SPEC).expect("query port");
    assert_eq!(
        query.get(p.id).await.expect("get"),
        v2,
        "a read after the write is fresh"
    );
    assert_eq!(raw_rev(&ctx, p.id).await, Some(2));
    // A fills rev 1 afterwards.
    case.gate.release_all();
    let _ = a.await.expect("reader task");
    assert_eq!(
        raw_rev(&ctx, p.id).await,
        Some(2),
        "a late fill never lowers the rev"
    );

    // The same directly on the cache.
    let cache = ctx.cache(&PRODUCT_SPEC).expect("cache handle");
    let key = cache.key(&p.id.to_string());
    let ttl = cache.spec().ttl;
    assert!(
        !cache
            .cache()
            .fill(CacheFill::new(&key, 1, b"{}".to_vec(), ttl))
            .await
            .expect("fill"),
        "a fill below the cached rev is rejected"
    );
    assert_eq!(query.get(p.id).await.expect("get"), v2);
}

async fn cold_key_stampede(case: Case) {
    let rt = case.runtime();
    let ctx = rt.context();
    let p = create(&ctx, 10).await;
    let stats = || ctx.cache(&PRODUCT_SPEC).expect("a cached spec").stats();

    for fail in [false, true] {
        if fail {
            // Make the key cold again, and the store fail.
            ctx.document()
                .command(&PRODUCT_SPEC)
                .expect("command port")
                .touch(p.id)
                .await
                .expect("touch");
            case.gate.fail_reads(Some(Error::new(
                ErrorKind::Unavailable,
                "injected store failure",
            )));
        }
        let reads = case.gate.reads();
        let joined = stats().coalesced;
        case.gate.hold_next(1);
        let readers: Vec<_> = (0..100)
            .map(|_| {
                let ctx = ctx.clone();
                tokio::spawn(async move { ctx.document().query(&PRODUCT_SPEC)?.get(p.id).await })
            })
            .collect();
        case.gate.wait_held(1).await;
        while stats().coalesced < joined + 99 {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        case.gate.release_all();
        for reader in readers {
            let result = reader.await.expect("reader task");
            if fail {
                assert_eq!(
                    result.expect_err("every caller gets the error").kind(),
                    ErrorKind::Unavailable
                );
            } else {
                assert_eq!(result.expect("every caller gets the document").id, p.id);
            }
        }
        assert_eq!(
            case.gate.reads(),
            reads + 1,
            "100 concurrent cold reads, one store read"
        );
    }
    case.gate.fail_reads(None);
}

async fn garbage_is_a_miss(case: Case) {
    let ctx = case.runtime().context();
    let p = create(&ctx, 10).await;
    let cache = ctx.cache(&PRODUCT_SPEC).expect("cache handle");
    let key = cache.key(&p.id.to_string());
    // Garbage at the document's own rev (a schema change looks like this).
    for garbage in [&b"not json"[..], br#"{"id": 7}"#] {
        cache
            .cache()
            .evict(&key, 1, cache.spec().ttl)
            .await
            .expect("evict");
        assert!(
            cache
                .cache()
                .fill(CacheFill::new(&key, 1, garbage.to_vec(), cache.spec().ttl))
                .await
                .expect("fill garbage"),
            "the garbage was installed"
        );
        let before = cache.stats().decode_errors;
        let got = ctx
            .document()
            .query(&PRODUCT_SPEC)
            .expect("query port")
            .get(p.id)
            .await
            .expect("a garbage entry is never an error");
        assert_eq!(got, p);
        assert_eq!(
            cache.stats().decode_errors,
            before + 1,
            "the decode error is counted"
        );
        let entry = cache
            .get(&p.id.to_string())
            .await
            .expect("get")
            .expect("replaced");
        assert_eq!(
            serde_json::from_slice::<ProductRead>(&entry.payload).expect("a valid payload"),
            p,
            "the garbage was replaced by the document"
        );
    }
}

async fn get_many_batches(case: Case) {
    let ctx = case.runtime().context();
    let query = ctx.document().query(&PRODUCT_SPEC).expect("query port");
    let (a, b, c) = (
        create(&ctx, 1).await,
        create(&ctx, 2).await,
        create(&ctx, 3).await,
    );
    query.get(b.id).await.expect("warm b");
    let (reads, many) = (case.gate.reads(), case.gate.get_manys());
    let got = query
        .get_many(&[c.id, a.id, b.id, a.id])
        .await
        .expect("get_many");
    assert_eq!(
        got,
        [c.clone(), a.clone(), b.clone(), a.clone()],
        "input order, duplicates repeated"
    );
    assert_eq!(
        case.gate.reads(),
        reads + 1,
        "one store query for the misses"
    );
    assert_eq!(case.gate.get_manys(), many + 1);
    for p in [&a, &b, &c] {
        assert_eq!(raw_rev(&ctx, p.id).await, Some(1), "the misses were filled");
    }
    let again = query.get_many(&[a.id, b.id, c.id]).await.expect("get_many");
    assert_eq!(again, [a.clone(), b.clone(), c.clone()]);
    assert_eq!(case.gate.reads(), reads + 1, "all hits: no store read");

    let missing = Uuid::now_v7();
    let err = query
        .get_many(&[a.id, missing])
        .await
        .expect_err("missing id");
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(err.to_string().contains(&missing.to_string()), "{err}");
    assert!(query.get_many(&[]).await.expect("empty").is_empty());
}

async fn replicas(case: Case) {
    let (one, two) = (case.runtime().context(), case.runtime().context());
    let p = create(&one, 10).await;
    let q2 = two.document().query(&PRODUCT_SPEC).expect("query port");
    assert_eq!(
        q2.get(p.id).await.expect("get").rev,
        1,
        "replica two caches rev 1"
    );
    let updated = one
        .document()
        .command(&PRODUCT_SPEC)
        .expect("command port")
        .update(p.id, 1, price(20))
        .await
        .expect("update on replica one");
    assert_eq!(
        q2.get(p.id).await.expect("get"),
        updated,
        "replica two reads the write"
    );
}

async fn transactions(case: Case) {
    let rt = case.runtime();
    let ctx = rt.context();
    let query = ctx.document().query(&PRODUCT_SPEC).expect("query port");
    let p = create(&ctx, 10).await;
    query.get(p.id).await.expect("warm");
    assert_eq!(raw_rev(&ctx, p.id).await, Some(1));

    // Commit: invalidated after the commit, not before.
    let hits = ctx
        .cache(&PRODUCT_SPEC)
        .expect("a cached spec")
        .stats()
        .hits;
    let committed = ctx
        .transaction("products", |tx| {
            let outer = ctx.clone();
            async move {
                let docs = tx.document().command(&PRODUCT_SPEC)?;
                let updated = docs.update(p.id, 1, price(11)).await?;
                let inside = tx.document().query(&PRODUCT_SPEC)?.get(p.id).await?;
                assert_eq!(
                    inside, updated,
                    "a transaction reads its own writes from the store"
                );
                assert_eq!(
                    raw_rev(&outer, p.id).await,
                    Some(1),
                    "not invalidated before commit"
                );
                let outside = outer.document().query(&PRODUCT_SPEC)?.get(p.id).await?;
                assert_eq!(outside.rev, 1, "uncommitted data is invisible outside");
                Ok(updated)
            }
        })
        .await
        .expect("transaction");
    let stats = ctx.cache(&PRODUCT_SPEC).expect("a cached spec").stats();
    assert_eq!(
        stats.hits,
        hits + 1,
        "only the outside read hit: reads in the tx bypass the cache"
    );
    assert_eq!(raw_rev(&ctx, p.id).await, None, "invalidated after commit");
    assert_eq!(query.get(p.id).await.expect("get"), committed);

    // Rollback: store and cache untouched.
    assert_eq!(raw_rev(&ctx, p.id).await, Some(2));
    let failed: Result<(), Error> = ctx
        .transaction("products", |tx| async move {
            tx.document()
                .command(&PRODUCT_SPEC)?
                .update(p.id, 2, price(99))
                .await?;
            Err(Error::new(ErrorKind::Validation, "abort"))
        })
        .await;
    assert_eq!(
        failed.expect_err("rolled back").kind(),
        ErrorKind::Validation
    );
    assert_eq!(
        raw_rev(&ctx, p.id).await,
        Some(2),
        "a rollback leaves the cache untouched"
    );
    assert_eq!(
        query.get(p.id).await.expect("get"),
        committed,
        "and the store"
    );
}
