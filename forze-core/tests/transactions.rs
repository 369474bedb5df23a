//! Transactions: commit invalidates exactly the written ids, after the commit (also when the
//! commit fails: its outcome may be unknown); rollback (error
//! or panic) leaves store and cache untouched; reads inside bypass the cache.

mod common;

use common::Fixture;
use forze_core::memory::MemoryCacheState;
use forze_core::testing::{PRODUCT_SPEC, ProductCreate, ProductRead, ProductUpdate, watchdog};
use forze_core::{Error, ErrorKind, ExecutionContext};
use uuid::Uuid;

fn price(p: i32) -> ProductUpdate {
    ProductUpdate {
        price: Some(p),
        ..ProductUpdate::default()
    }
}

async fn warm(ctx: &ExecutionContext, n: usize) -> Vec<ProductRead> {
    let docs = ctx.document().command(&PRODUCT_SPEC).unwrap();
    let query = ctx.document().query(&PRODUCT_SPEC).unwrap();
    let mut out = Vec::new();
    for i in 0..n {
        let p = docs
            .create(ProductCreate::new(format!("p{i}"), i as i32))
            .await
            .unwrap();
        query.get(p.id).await.unwrap();
        out.push(p);
    }
    out
}

fn raw(f: &Fixture, id: Uuid) -> Option<MemoryCacheState> {
    f.cache.state(&id.to_string())
}

fn cached_rev(f: &Fixture, id: Uuid) -> Option<i64> {
    match raw(f, id) {
        Some(MemoryCacheState::Value { rev, .. }) => Some(rev),
        _ => None,
    }
}

#[tokio::test]
async fn commit_invalidates_exactly_the_written_ids_after_the_commit() {
    watchdog(async {
        let f = Fixture::new();
        let ctx = f.ctx();
        let ps = warm(&ctx, 3).await;
        let (a, b, c) = (ps[0].id, ps[1].id, ps[2].id);
        let stats_before = ctx.cache(&PRODUCT_SPEC).unwrap().stats();

        let created = ctx
            .transaction("products", |tx| {
                let f = &f;
                async move {
                    assert!(tx.in_transaction());
                    let docs = tx.document().command(&PRODUCT_SPEC)?;
                    docs.update(a, 1, price(100)).await?;
                    docs.delete(b).await?;
                    let created = docs.create(ProductCreate::new("new", 7)).await?;
                    // Nothing invalidated yet: the writes are not committed.
                    assert_eq!(cached_rev(f, a), Some(1));
                    assert_eq!(cached_rev(f, b), Some(1));
                    assert_eq!(raw(f, created.id), None);
                    // Reads inside see the transaction's writes, from the store.
                    let query = tx.document().query(&PRODUCT_SPEC)?;
                    assert_eq!(query.get(a).await?.price, 100);
                    assert_eq!(query.get(b).await.unwrap_err().kind(), ErrorKind::NotFound);
                    assert_eq!(query.get_many(&[a, created.id]).await?.len(), 2);
                    Ok(created)
                }
            })
            .await
            .unwrap();

        let stats = ctx.cache(&PRODUCT_SPEC).unwrap().stats();
        assert_eq!(
            (stats.hits, stats.misses, stats.fills),
            (stats_before.hits, stats_before.misses, stats_before.fills),
            "reads inside the transaction never read or fill the cache"
        );
        assert_eq!(stats.invalidations, stats_before.invalidations + 3);
        assert_eq!(raw(&f, a), Some(MemoryCacheState::Tombstone { rev: 2 }));
        assert_eq!(
            raw(&f, b),
            Some(MemoryCacheState::Tombstone { rev: i64::MAX })
        );
        assert_eq!(
            raw(&f, created.id),
            Some(MemoryCacheState::Tombstone { rev: 1 })
        );
        assert_eq!(
            cached_rev(&f, c),
            Some(1),
            "an id the transaction did not write keeps its entry"
        );

        let query = ctx.document().query(&PRODUCT_SPEC).unwrap();
        assert_eq!(query.get(a).await.unwrap().price, 100);
        assert_eq!(query.get(b).await.unwrap_err().kind(), ErrorKind::NotFound);
        assert_eq!(query.get(created.id).await.unwrap(), created);
    })
    .await;
}

#[tokio::test]
async fn an_erroring_body_rolls_back_store_and_cache_untouched() {
    watchdog(async {
        let f = Fixture::new();
        let ctx = f.ctx();
        let ps = warm(&ctx, 2).await;
        let invalidations = ctx.cache(&PRODUCT_SPEC).unwrap().stats().invalidations;
        let (a, b) = (ps[0].id, ps[1].id);
        let err = ctx
            .transaction("products", |tx| async move {
                let docs = tx.document().command(&PRODUCT_SPEC)?;
                docs.update(a, 1, price(100)).await?;
                docs.delete(b).await?;
                docs.create(ProductCreate::new("ghost", 1)).await?;
                Err::<(), _>(Error::new(ErrorKind::Validation, "abort"))
            })
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "abort");
        assert_eq!(
            ctx.cache(&PRODUCT_SPEC).unwrap().stats().invalidations,
            invalidations
        );
        assert_eq!(cached_rev(&f, ps[0].id), Some(1));
        assert_eq!(cached_rev(&f, ps[1].id), Some(1));
        let query = ctx.document().query(&PRODUCT_SPEC).unwrap();
        assert_eq!(query.count().await.unwrap(), 2, "nothing was written");
        assert_eq!(query.get_for_update(ps[0].id).await.unwrap(), ps[0]);
        assert_eq!(query.get_for_update(ps[1].id).await.unwrap(), ps[1]);
    })
    .await;
}

#[tokio::test]
async fn a_panicking_body_rolls_back_then_the_panic_resumes() {
    watchdog(async {
        let f = Fixture::new();
        let ctx = f.ctx();
        let ps = warm(&ctx, 1).await;
        let id = ps[0].id;
        let task = {
            let ctx = ctx.clone();
            tokio::spawn(async move {
                ctx.transaction("products", |tx| async move {
                    tx.document()
                        .command(&PRODUCT_SPEC)?
                        .update(id, 1, price(100))
                        .await?;
                    panic!("handler bug");
                    #[allow(unreachable_code)]
                    Ok(())
                })
                .await
            })
        };
        let err = task.await.unwrap_err();
        assert!(err.is_panic());
        assert_eq!(
            err.into_panic().downcast_ref::<&str>(),
            Some(&"handler bug")
        );
        assert_eq!(cached_rev(&f, id), Some(1));
        let query = ctx.document().query(&PRODUCT_SPEC).unwrap();
        assert_eq!(query.get_for_update(id).await.unwrap(), ps[0]);
        assert_eq!(query.get(id).await.unwrap(), ps[0]);
    })
    .await;
}

#[tokio::test]
async fn a_failed_commit_returns_the_conflict_and_the_outside_write_is_read_fresh() {
    watchdog(async {
        let f = Fixture::new();
        let ctx = f.ctx();
        let ps = warm(&ctx, 1).await;
        let id = ps[0].id;
        let outside = ctx.clone();
        let err = ctx
            .transaction("products", |tx| async move {
                tx.document()
                    .command(&PRODUCT_SPEC)?
                    .update(id, 1, price(5))
                    .await?;
                // Someone else commits a change to the same document meanwhile.
                outside
                    .document()
                    .command(&PRODUCT_SPEC)?
                    .update(id, 1, price(6))
                    .await?;
                Ok(())
            })
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Conflict);
        assert!(err.to_string().contains(&id.to_string()), "{err}");
        let fresh = ctx
            .document()
            .query(&PRODUCT_SPEC)
            .unwrap()
            .get(id)
            .await
            .unwrap();
        assert_eq!(
            (fresh.rev, fresh.price),
            (2, 6),
            "the outside write won, and is read fresh"
        );
    })
    .await;
}

#[tokio::test]
async fn nested_transactions_join_the_same_route_and_refuse_another() {
    watchdog(async {
        let f = Fixture::new();
        let ctx = f.ctx();
        let n = ctx
            .transaction("products", |tx| async move {
                let inner = tx
                    .transaction("products", |tx2| async move {
                        tx2.document()
                            .command(&PRODUCT_SPEC)?
                            .create(ProductCreate::new("inner", 1))
                            .await?;
                        Ok(1)
                    })
                    .await?;
                let err = tx
                    .transaction("orders", |_| async { Ok(()) })
                    .await
                    .unwrap_err();
                assert_eq!(err.kind(), ErrorKind::Config);
                assert!(
                    err.to_string()
                        .contains("nested transaction on route `orders`"),
                    "{err}"
                );
                Ok(inner + tx.document().query(&PRODUCT_SPEC)?.count().await?)
            })
            .await
            .unwrap();
        assert_eq!(n, 2);
        assert_eq!(
            ctx.document()
                .query(&PRODUCT_SPEC)
                .unwrap()
                .count()
                .await
                .unwrap(),
            1
        );
    })
    .await;
}

#[tokio::test]
async fn a_context_outside_sees_no_uncommitted_data_and_the_cache_never_holds_it() {
    watchdog(async {
        let f = Fixture::new();
        let ctx = f.ctx();
        let ps = warm(&ctx, 1).await;
        let id = ps[0].id;
        let outside = ctx.clone();
        let cache = &f.cache;
        ctx.transaction("products", |tx| async move {
            tx.document()
                .command(&PRODUCT_SPEC)?
                .update(id, 1, price(42))
                .await?;
            // Drop the entry: an outside read now misses and fills from committed data only.
            cache.clear();
            let seen = outside.document().query(&PRODUCT_SPEC)?.get(id).await?;
            assert_eq!(seen.price, 0, "the outside read sees the committed rev 1");
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(raw(&f, id), Some(MemoryCacheState::Tombstone { rev: 2 }));
        assert_eq!(
            ctx.document()
                .query(&PRODUCT_SPEC)
                .unwrap()
                .get(id)
                .await
                .unwrap()
                .price,
            42
        );
    })
    .await;
}

/// An application error: forze's errors convert into it, and bodies return their own.
#[derive(Debug)]
enum AppError {
    Store(Error),
    OutOfStock { id: Uuid },
}

impl From<Error> for AppError {
    fn from(err: Error) -> Self {
        AppError::Store(err)
    }
}

#[tokio::test]
async fn a_body_may_return_the_callers_own_error_type() {
    watchdog(async {
        let f = Fixture::new();
        let ctx = f.ctx();
        let ps = warm(&ctx, 1).await;
        let a = ps[0].id;
        // the body's own error rolls back and comes back as it is
        let result = ctx
            .transaction_with_error("products", |tx| async move {
                let docs = tx.document().command(&PRODUCT_SPEC)?;
                docs.update(a, 1, price(100)).await?;
                if a != Uuid::nil() {
                    return Err(AppError::OutOfStock { id: a });
                }
                Ok(())
            })
            .await;
        assert!(
            matches!(result, Err(AppError::OutOfStock { id }) if id == a),
            "{result:?}"
        );
        let query = ctx.document().query(&PRODUCT_SPEC).unwrap();
        assert_eq!(
            query.get(a).await.unwrap().price,
            ps[0].price,
            "rolled back"
        );

        // a forze error inside converts with `?` and names the document and the id
        let missing = Uuid::now_v7();
        let result = ctx
            .transaction_with_error("products", |tx| async move {
                let docs = tx.document().command(&PRODUCT_SPEC)?;
                docs.update(a, 1, price(7)).await?;
                docs.update(missing, 1, price(7)).await?;
                Ok::<_, AppError>(())
            })
            .await;
        let Err(AppError::Store(err)) = result else {
            panic!("expected the store's error, got {result:?}");
        };
        assert_eq!(err.kind(), ErrorKind::NotFound);
        assert_eq!(
            err.to_string(),
            format!("document `products` {missing} not found")
        );
        assert_eq!(
            query.get(a).await.unwrap().price,
            ps[0].price,
            "rolled back"
        );

        // forze's own failures (an unknown route) convert too
        let result = ctx
            .transaction_with_error("nope", |_| async { Ok::<_, AppError>(()) })
            .await;
        assert!(
            matches!(&result, Err(AppError::Store(e)) if e.kind() == ErrorKind::Config),
            "{result:?}"
        );
        // and the committed value comes back
        let committed = ctx
            .transaction_with_error("products", |tx| async move {
                let docs = tx.document().command(&PRODUCT_SPEC)?;
                Ok::<_, AppError>(docs.update(a, 1, price(9)).await?.price)
            })
            .await
            .unwrap();
        assert_eq!(committed, 9);
    })
    .await;
}

#[tokio::test]
async fn not_found_inside_a_transaction_names_the_document_and_the_id() {
    watchdog(async {
        let f = Fixture::new();
        let ctx = f.ctx();
        let missing = Uuid::now_v7();
        let errors = ctx
            .transaction("products", |tx| async move {
                let docs = tx.document().command(&PRODUCT_SPEC)?;
                let query = tx.document().query(&PRODUCT_SPEC)?;
                Ok(vec![
                    query.get(missing).await.unwrap_err(),
                    query.get_for_update(missing).await.unwrap_err(),
                    docs.update(missing, 1, price(1)).await.unwrap_err(),
                    docs.touch(missing).await.unwrap_err(),
                    docs.delete(missing).await.unwrap_err(),
                ])
            })
            .await
            .unwrap();
        for err in errors {
            assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
            assert_eq!(
                err.to_string(),
                format!("document `products` {missing} not found")
            );
        }
    })
    .await;
}
