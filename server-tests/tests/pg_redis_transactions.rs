//! Transactions on real Postgres with a real Redis cache, through the runtime
//! (`ctx.transaction("products", |tx| …)`): a transaction that fails — with an `Err` or a panic —
//! rolls back every write and leaves every cache key exactly as it was; one that commits
//! invalidates exactly the ids it wrote, after the commit, and the other cached entries stay.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use common::{
    PRODUCT_SPEC, ProductCreate, ProductRead, ProductUpdate, Raw, Stack, assert_same, price, stack,
    watchdog,
};
use forze_core::cache::TOMBSTONE_DELETED;
use forze_core::{Error, ErrorKind};
use uuid::Uuid;

/// A handler that panics after its writes.
fn handler_panics() -> forze_core::Result<()> {
    panic!("the handler panics after its writes")
}

/// Everything the cache holds for `ids`: the raw Redis bytes, and what the cache handle returns.
async fn snapshot(
    stack: &Stack,
    ids: &[Uuid],
) -> BTreeMap<Uuid, (Option<Vec<u8>>, Option<forze_core::cache::CacheEntry>)> {
    let mut out = BTreeMap::new();
    for id in ids {
        out.insert(*id, (stack.raw_bytes(*id).await, stack.cached(*id).await));
    }
    out
}

/// Three documents: `a` and `b` cached at rev 1, `c` not cached (its key holds the tombstone of
/// its create).
async fn three_documents(stack: &Stack) -> (ProductRead, ProductRead, ProductRead) {
    let a = stack.create("a", 10).await;
    let b = stack.create("b", 20).await;
    let c = stack.create("c", 30).await;
    stack.warm(&a).await;
    stack.warm(&b).await;
    assert_eq!(
        stack.raw_state(c.id).await,
        Raw::Tombstone(1),
        "a create leaves a tombstone at rev 1"
    );
    (a, b, c)
}

/// The writes of the failing transactions: update `a`, delete `b`, touch `c`, create one more
/// (its id is reported through `created`).
async fn write_everything(
    tx: &forze_core::ExecutionContext,
    a: &ProductRead,
    b: &ProductRead,
    c: &ProductRead,
    created: &Mutex<Option<Uuid>>,
) -> forze_core::Result<()> {
    let docs = tx.document().command(&PRODUCT_SPEC)?;
    let updated = docs.update(a.id, a.rev, price(99)).await?;
    assert_eq!(updated.rev, 2);
    docs.delete(b.id).await?;
    docs.touch(c.id).await?;
    let d = docs
        .create(ProductCreate {
            name: "d".into(),
            price: 40,
            note: Some("inside".into()),
        })
        .await?;
    *created.lock().expect("lock") = Some(d.id);
    // Reads inside see the writes (from the store: reads in a transaction bypass the cache).
    let query = tx.document().query(&PRODUCT_SPEC)?;
    assert_eq!(query.get(a.id).await?.price, 99);
    assert_eq!(
        query.get(b.id).await.expect_err("deleted inside").kind(),
        ErrorKind::NotFound
    );
    assert_eq!(query.count().await?, 3);
    Ok(())
}

/// After a rolled-back transaction: the store holds exactly the three documents as created, the
/// cache holds exactly what it held before, and reads agree.
async fn assert_rolled_back(
    stack: &Stack,
    docs: [&ProductRead; 3],
    created: Option<Uuid>,
    before: &BTreeMap<Uuid, (Option<Vec<u8>>, Option<forze_core::cache::CacheEntry>)>,
) {
    let created = created.expect("the transaction created a document before failing");
    let mut ids: Vec<Uuid> = docs.iter().map(|d| d.id).collect();
    ids.push(created);
    let after = snapshot(stack, &ids).await;
    assert_eq!(
        &after, before,
        "a rolled-back transaction leaves every cache key exactly as it was"
    );
    assert_eq!(
        after[&created],
        (None, None),
        "nothing cached for the rolled-back create"
    );

    let query = stack
        .ctx()
        .document()
        .query(&PRODUCT_SPEC)
        .expect("query port");
    assert_eq!(
        query.count().await.expect("count"),
        3,
        "the create was rolled back"
    );
    assert_eq!(
        query
            .get(created)
            .await
            .expect_err("never committed")
            .kind(),
        ErrorKind::NotFound
    );
    for doc in docs {
        let got = query.get(doc.id).await.expect("still there, unchanged");
        assert_same(&got, doc, "the store is as before the transaction");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_that_returns_err_rolls_back_and_leaves_the_cache_untouched() {
    watchdog(async {
        let stack = stack("tx_err").start().await;
        let (a, b, c) = three_documents(&stack).await;
        let before = snapshot(&stack, &[a.id, b.id, c.id]).await;
        let invalidations = stack.stats().invalidations;

        let created = Arc::new(Mutex::new(None));
        let ctx = stack.ctx();
        let result: forze_core::Result<()> = ctx
            .transaction("products", |tx| {
                let (a, b, c, created) = (a.clone(), b.clone(), c.clone(), Arc::clone(&created));
                async move {
                    write_everything(&tx, &a, &b, &c, &created).await?;
                    Err(Error::new(ErrorKind::Validation, "abort after the writes"))
                }
            })
            .await;
        let err = result.expect_err("the body failed");
        assert_eq!(
            err.kind(),
            ErrorKind::Validation,
            "the body's error is returned"
        );

        let created = *created.lock().expect("lock");
        let mut before = before;
        before.insert(created.expect("created"), (None, None));
        assert_rolled_back(&stack, [&a, &b, &c], created, &before).await;
        assert_eq!(
            stack.stats().invalidations,
            invalidations,
            "no invalidation ran for the rolled-back writes"
        );
        stack.shutdown().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_that_panics_rolls_back_and_leaves_the_cache_untouched() {
    watchdog(async {
        let stack = stack("tx_panic").start().await;
        let (a, b, c) = three_documents(&stack).await;
        let before = snapshot(&stack, &[a.id, b.id, c.id]).await;
        let invalidations = stack.stats().invalidations;

        let created = Arc::new(Mutex::new(None));
        let ctx = stack.ctx();
        let task = {
            let (a, b, c, created) = (a.clone(), b.clone(), c.clone(), Arc::clone(&created));
            tokio::spawn(async move {
                ctx.transaction("products", |tx| async move {
                    write_everything(&tx, &a, &b, &c, &created)
                        .await
                        .expect("writes inside");
                    handler_panics()
                })
                .await
            })
        };
        let joined = task.await.expect_err("the panic is resumed to the caller");
        assert!(joined.is_panic());

        let created = *created.lock().expect("lock");
        let mut before = before;
        before.insert(created.expect("created"), (None, None));
        assert_rolled_back(&stack, [&a, &b, &c], created, &before).await;
        assert_eq!(stack.stats().invalidations, invalidations);

        // The connection of the panicked transaction went back clean: new transactions work.
        let committed = stack
            .ctx()
            .transaction("products", |tx| async move {
                tx.document()
                    .command(&PRODUCT_SPEC)?
                    .update(a.id, 1, price(11))
                    .await
            })
            .await
            .expect("a transaction after the panic");
        assert_eq!(committed.rev, 2);
        stack.shutdown().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_committed_transaction_invalidates_exactly_the_written_ids() {
    watchdog(async {
        let stack = stack("tx_commit").start().await;
        let names = ["updated", "deleted", "touched", "noop", "untouched"];
        let mut docs = Vec::new();
        for (i, name) in names.iter().enumerate() {
            let doc = stack.create(name, 10 * (i as i32 + 1)).await;
            stack.warm(&doc).await;
            docs.push(doc);
        }
        let [updated, deleted, touched, noop, untouched] =
            <[ProductRead; 5]>::try_from(docs).expect("five documents");
        let ids = [updated.id, deleted.id, touched.id, noop.id, untouched.id];
        let before = snapshot(&stack, &ids).await;

        let ctx = stack.ctx();
        let outer = stack.ctx();
        let (before_inside, created) = ctx
            .transaction("products", |tx| {
                let (updated, deleted, touched, noop) = (
                    updated.clone(),
                    deleted.clone(),
                    touched.clone(),
                    noop.clone(),
                );
                let stack = &stack;
                async move {
                    let docs = tx.document().command(&PRODUCT_SPEC)?;
                    docs.update(updated.id, 1, price(111)).await?;
                    docs.delete(deleted.id).await?;
                    docs.touch(touched.id).await?;
                    // Changes nothing: writes nothing, so invalidates nothing.
                    let same = docs
                        .update(
                            noop.id,
                            1,
                            ProductUpdate {
                                price: Some(noop.price),
                                ..ProductUpdate::default()
                            },
                        )
                        .await?;
                    assert_eq!(same.rev, 1, "a no-op update keeps the rev");
                    let created = docs
                        .create(ProductCreate {
                            name: "created".into(),
                            price: 60,
                            note: None,
                        })
                        .await?;
                    // Not invalidated before the commit; the outside still reads rev 1 from
                    // the cache.
                    let inside = snapshot(stack, &ids).await;
                    let seen = outer
                        .document()
                        .query(&PRODUCT_SPEC)?
                        .get(updated.id)
                        .await?;
                    assert_eq!(seen.rev, 1, "uncommitted writes are invisible outside");
                    Ok((inside, created))
                }
            })
            .await
            .expect("commit");
        assert_eq!(
            before_inside, before,
            "nothing invalidated before the commit"
        );

        // After the commit: tombstones at the committed revs for exactly the written ids.
        assert_eq!(stack.raw_state(updated.id).await, Raw::Tombstone(2));
        assert_eq!(
            stack.raw_state(deleted.id).await,
            Raw::Tombstone(TOMBSTONE_DELETED)
        );
        assert_eq!(stack.raw_state(touched.id).await, Raw::Tombstone(2));
        assert_eq!(stack.raw_state(created.id).await, Raw::Tombstone(1));
        let after = snapshot(&stack, &[noop.id, untouched.id]).await;
        assert_eq!(
            after[&noop.id], before[&noop.id],
            "the no-op update wrote nothing and invalidated nothing"
        );
        assert_eq!(
            after[&untouched.id], before[&untouched.id],
            "an id the transaction did not write keeps its cached entry"
        );

        // Reads: fresh for the written ids, cache hits (no store read) for the others.
        let reads = stack.stats().store_reads;
        let query = stack
            .ctx()
            .document()
            .query(&PRODUCT_SPEC)
            .expect("query port");
        assert_same(
            &query.get(noop.id).await.expect("get"),
            &noop,
            "noop served",
        );
        assert_same(
            &query.get(untouched.id).await.expect("get"),
            &untouched,
            "untouched served",
        );
        assert_eq!(
            stack.stats().store_reads,
            reads,
            "the ids not written are still served from Redis"
        );
        let fresh = query.get(updated.id).await.expect("get");
        assert_eq!((fresh.rev, fresh.price), (2, 111));
        assert_eq!(query.get(touched.id).await.expect("get").rev, 2);
        assert_eq!(
            query.get(deleted.id).await.expect_err("deleted").kind(),
            ErrorKind::NotFound
        );
        assert_same(
            &query.get(created.id).await.expect("get"),
            &created,
            "created served",
        );
        assert_eq!(stack.raw_state(updated.id).await.rev_of_value(), Some(2));
        assert_eq!(
            stack.raw_state(deleted.id).await,
            Raw::Tombstone(TOMBSTONE_DELETED),
            "a deleted id is not refilled"
        );
        stack.shutdown().await;
    })
    .await;
}
