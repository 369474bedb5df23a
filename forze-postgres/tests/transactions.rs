//! Store calls inside transactions opened by `PostgresTransactionManager` (via `StoreCx`).

mod common;

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

use common::{TestDb, as_stored, micros_now, minimal_row, obj, watchdog};
use forze_core::store::{BoxFuture, Patch, StoreCx, Transaction, TransactionManager};
use forze_core::{ErrorKind, Result};
use forze_postgres::{PostgresClient, PostgresConfig, PostgresTransactionManager};
use serde_json::json;
use uuid::Uuid;

fn none() -> StoreCx {
    StoreCx::none()
}

#[tokio::test]
async fn commit_makes_writes_visible_and_rollback_discards_them() {
    watchdog(async {
        let db = TestDb::new("txcommit").await;
        let store = db.store().await;
        let manager = PostgresTransactionManager::new(db.client.clone());

        let tx = manager.begin().await.expect("begin");
        let in_tx = StoreCx::in_tx(Arc::clone(&tx));
        let a = minimal_row("a", 1);
        store
            .insert(&in_tx, vec![a.clone()])
            .await
            .expect("insert in tx");
        assert_eq!(
            store
                .get(&in_tx, a.meta.id, false)
                .await
                .expect("get in tx"),
            Some(as_stored(&a)),
            "the transaction sees its own write"
        );
        assert_eq!(store.count(&in_tx, None).await.expect("count in tx"), 1);
        assert_eq!(
            store
                .get(&none(), a.meta.id, false)
                .await
                .expect("get outside"),
            None,
            "uncommitted writes are invisible outside"
        );
        tx.commit().await.expect("commit");
        assert!(
            store
                .get(&none(), a.meta.id, false)
                .await
                .expect("get")
                .is_some()
        );

        // Use after commit is an error.
        let err = store
            .get(&in_tx, a.meta.id, false)
            .await
            .expect_err("after commit");
        assert_eq!(err.kind(), ErrorKind::Internal);
        assert!(
            err.message().contains("already committed or rolled back"),
            "{err}"
        );
        assert!(tx.commit().await.is_err());
        assert!(tx.rollback().await.is_err());

        // Rollback discards an update.
        let tx = manager.begin().await.expect("begin");
        let in_tx = StoreCx::in_tx(Arc::clone(&tx));
        let out = store
            .update(
                &in_tx,
                vec![Patch::new(a.meta.id, 1, obj(json!({"price": 99})))],
                micros_now(),
            )
            .await
            .expect("update in tx");
        assert_eq!(out[0].row.meta.rev, 2);
        tx.rollback().await.expect("rollback");
        let stored = store
            .get(&none(), a.meta.id, false)
            .await
            .expect("get")
            .expect("a");
        assert_eq!(stored.meta.rev, 1);
        assert_eq!(stored.fields["price"], json!(1));
    })
    .await;
}

#[tokio::test]
async fn a_failed_batch_inside_a_transaction_leaves_it_usable() {
    watchdog(async {
        let db = TestDb::new("txsavepoint").await;
        let store = db.store().await;
        let manager = PostgresTransactionManager::new(db.client.clone());
        let a = minimal_row("a", 1);
        let b = minimal_row("b", 2);
        store
            .insert(&none(), vec![a.clone(), b.clone()])
            .await
            .expect("insert");

        let tx = manager.begin().await.expect("begin");
        let in_tx = StoreCx::in_tx(Arc::clone(&tx));
        let err = store
            .update(
                &in_tx,
                vec![
                    Patch::new(a.meta.id, 1, obj(json!({"price": 10}))),
                    Patch::new(Uuid::now_v7(), 1, obj(json!({"price": 20}))),
                ],
                micros_now(),
            )
            .await
            .expect_err("missing id in batch");
        assert_eq!(err.kind(), ErrorKind::NotFound);
        let err = store
            .delete(&in_tx, &[b.meta.id, Uuid::now_v7()])
            .await
            .expect_err("missing id in delete");
        assert_eq!(err.kind(), ErrorKind::NotFound);

        // The batch's first patch and delete were rolled back to their savepoints; the
        // transaction goes on.
        let c = minimal_row("c", 3);
        store
            .insert(&in_tx, vec![c.clone()])
            .await
            .expect("insert after failures");
        tx.commit().await.expect("commit");

        let a_now = store
            .get(&none(), a.meta.id, false)
            .await
            .expect("get")
            .expect("a");
        assert_eq!(
            (a_now.meta.rev, a_now.fields["price"].clone()),
            (1, json!(1))
        );
        assert!(
            store
                .get(&none(), b.meta.id, false)
                .await
                .expect("get")
                .is_some()
        );
        assert!(
            store
                .get(&none(), c.meta.id, false)
                .await
                .expect("get")
                .is_some()
        );
    })
    .await;
}

#[tokio::test]
async fn a_failed_statement_aborts_the_transaction_and_commit_reports_it() {
    watchdog(async {
        let db = TestDb::new("txabort").await;
        let store = db.store().await;
        let manager = PostgresTransactionManager::new(db.client.clone());
        let a = minimal_row("a", 1);
        store
            .insert(&none(), vec![a.clone()])
            .await
            .expect("insert");

        let tx = manager.begin().await.expect("begin");
        let in_tx = StoreCx::in_tx(Arc::clone(&tx));
        let b = minimal_row("b", 2);
        store
            .insert(&in_tx, vec![b.clone()])
            .await
            .expect("insert b");
        let err = store
            .insert(&in_tx, vec![a.clone()])
            .await
            .expect_err("duplicate");
        assert_eq!(err.kind(), ErrorKind::Conflict);

        let err = store
            .count(&in_tx, None)
            .await
            .expect_err("aborted transaction");
        assert!(err.message().contains("aborted"), "{err}");
        let err = tx
            .commit()
            .await
            .expect_err("commit of an aborted transaction");
        assert!(err.message().contains("nothing was committed"), "{err}");
        assert_eq!(
            store.get(&none(), b.meta.id, false).await.expect("get"),
            None
        );
    })
    .await;
}

#[tokio::test]
async fn locked_read_blocks_a_concurrent_writer_until_commit() {
    watchdog(async {
        let db = TestDb::new("txlock").await;
        let store = db.store().await;
        let manager = PostgresTransactionManager::new(db.client.clone());
        let a = minimal_row("a", 1);
        store
            .insert(&none(), vec![a.clone()])
            .await
            .expect("insert");

        let tx = manager.begin().await.expect("begin");
        let in_tx = StoreCx::in_tx(Arc::clone(&tx));
        let locked = store.get(&in_tx, a.meta.id, true).await.expect("lock");
        assert!(locked.is_some());

        let writer = {
            let store = Arc::clone(&store);
            let id = a.meta.id;
            tokio::spawn(async move {
                store
                    .update(
                        &StoreCx::none(),
                        vec![Patch::new(id, 1, obj(json!({"price": 5})))],
                        micros_now(),
                    )
                    .await
            })
        };
        // The writer's UPDATE waits on the row lock: wait until Postgres shows it waiting (the
        // schema name is unique to this test), then check it has not finished.
        let pool = db.client.pool().expect("pool");
        loop {
            let waiting: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' \
                 AND query LIKE 'UPDATE %' AND strpos(query, $1) > 0",
            )
            .bind(&db.schema)
            .fetch_one(&pool)
            .await
            .expect("pg_stat_activity");
            if waiting > 0 {
                break;
            }
            assert!(
                !writer.is_finished(),
                "update went through a FOR UPDATE lock"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(!writer.is_finished());
        tx.commit().await.expect("commit");
        let out = writer.await.expect("join").expect("update after unlock");
        assert_eq!(out[0].row.meta.rev, 2);
    })
    .await;
}

#[derive(Debug)]
struct ForeignTx;

impl Transaction for ForeignTx {
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn commit(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async { Ok(()) })
    }
    fn rollback(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async { Ok(()) })
    }
}

#[tokio::test]
async fn a_foreign_or_other_client_transaction_is_a_config_error() {
    watchdog(async {
        let db = TestDb::new("txforeign").await;
        let store = db.store().await;

        let err = store
            .count(&StoreCx::in_tx(Arc::new(ForeignTx)), None)
            .await
            .expect_err("foreign transaction");
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(
            err.message().contains("not a postgres transaction"),
            "{err}"
        );

        let other = PostgresClient::connect(
            &forze_testkit::test_postgres_url(),
            PostgresConfig::new().max_connections(1),
        )
        .await
        .expect("second client");
        let tx = PostgresTransactionManager::new(other.clone())
            .begin()
            .await
            .expect("begin");
        let err = store
            .count(&StoreCx::in_tx(Arc::clone(&tx)), None)
            .await
            .expect_err("other client's transaction");
        assert_eq!(err.kind(), ErrorKind::Config);
        tx.rollback().await.expect("rollback");
        other.close().await;
    })
    .await;
}
