//! The Postgres store has no tenancy support: a call carrying a tenant (`StoreCx::tenant`, set by
//! `ctx.with_tenant(..)`) is refused with a `Config` error naming the document, and writes
//! nothing. It is never served from the shared table as if there were no tenant.

mod common;

use std::sync::Arc;

use common::{TestDb, micros_now, minimal_row, obj, watchdog};
use forze_core::memory::MemoryCache;
use forze_core::prelude::*;
use forze_core::query::Select;
use forze_core::store::{Patch, StoreCx};
use forze_core::testing::{PRODUCT_FIELDS, PRODUCT_SPEC, ProductCreate, TestDepsModule};
use forze_core::{DepsRegistry, Error, ErrorKind, ExecutionRuntime, LifecyclePlan};
use forze_postgres::{PostgresDocumentBackend, create_table_sql};
use serde_json::json;
use uuid::Uuid;

#[track_caller]
fn assert_refused<T: std::fmt::Debug>(result: Result<T, Error>, op: &str, tenant: Uuid) {
    let err = result.expect_err(op);
    assert_eq!(err.kind(), ErrorKind::Config, "{op}: {err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("document `products`"),
        "{op}: names the document: {msg}"
    );
    assert!(
        msg.contains("tenancy is not supported by the Postgres store"),
        "{op}: says why: {msg}"
    );
    assert!(
        msg.contains(&tenant.to_string()),
        "{op}: names the tenant: {msg}"
    );
}

#[tokio::test]
async fn every_operation_with_a_tenant_is_a_config_error_and_writes_nothing() {
    watchdog(async {
        let db = TestDb::new("tenancy").await;
        let store = db.store().await;
        let plain = StoreCx::none();
        let existing = minimal_row("existing", 1);
        store
            .insert(&plain, vec![existing.clone()])
            .await
            .expect("insert without a tenant");
        let id = existing.meta.id;

        let tenant = Uuid::now_v7();
        let cx = StoreCx::none().with_tenant(Some(tenant));
        let now = micros_now();
        assert_refused(
            store.insert(&cx, vec![minimal_row("new", 2)]).await,
            "insert",
            tenant,
        );
        assert_refused(store.insert(&cx, Vec::new()).await, "empty insert", tenant);
        assert_refused(
            store.ensure(&cx, minimal_row("new", 2)).await,
            "ensure",
            tenant,
        );
        assert_refused(
            store
                .update(&cx, vec![Patch::new(id, 1, obj(json!({"price": 99})))], now)
                .await,
            "update",
            tenant,
        );
        assert_refused(store.touch(&cx, id, now).await, "touch", tenant);
        assert_refused(store.delete(&cx, &[id]).await, "delete", tenant);
        assert_refused(store.delete(&cx, &[]).await, "empty delete", tenant);
        assert_refused(store.get(&cx, id, false).await, "get", tenant);
        assert_refused(store.get_many(&cx, &[id]).await, "get_many", tenant);
        assert_refused(
            store
                .find(
                    &cx,
                    &Select::new("products", PRODUCT_FIELDS, None, &[]).expect("valid"),
                )
                .await,
            "find",
            tenant,
        );
        assert_refused(store.count(&cx, None).await, "count", tenant);

        // Nothing was written or changed.
        assert_eq!(store.count(&plain, None).await.expect("count"), 1);
        let stored = store
            .get(&plain, id, false)
            .await
            .expect("get")
            .expect("still there");
        assert_eq!((stored.meta.rev, &stored.fields["price"]), (1, &json!(1)));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_context_of_the_runtime_gets_the_config_error() {
    watchdog(async {
        let db = TestDb::new("tenancy_rt").await;
        let config = db.config("products");
        db.client
            .execute(&create_table_sql(&config, PRODUCT_FIELDS))
            .await
            .expect("create table");
        let module = TestDepsModule::new("tenancy")
            .document(
                "products",
                Arc::new(PostgresDocumentBackend::new(db.client.clone(), config)),
            )
            .cache("products", Arc::new(MemoryCache::new()));
        let runtime = ExecutionRuntime::new(
            DepsRegistry::from_modules([module.boxed()])
                .freeze()
                .expect("deps"),
            LifecyclePlan::new().freeze().expect("plan"),
        );
        let ctx = runtime.context();
        let created = ctx
            .document()
            .command(&PRODUCT_SPEC)
            .expect("command port")
            .create(ProductCreate::new("Widget", 10))
            .await
            .expect("create without a tenant");

        let tenant = Uuid::now_v7();
        let scoped = ctx.with_tenant(tenant);
        // A cached read misses (the tenant's key is empty) and reaches the store: refused.
        assert_refused(
            scoped
                .document()
                .query(&PRODUCT_SPEC)
                .expect("query port")
                .get(created.id)
                .await,
            "query.get",
            tenant,
        );
        assert_refused(
            scoped
                .document()
                .command(&PRODUCT_SPEC)
                .expect("command port")
                .create(ProductCreate::new("Gadget", 20))
                .await,
            "command.create",
            tenant,
        );
        assert_eq!(
            ctx.document()
                .query(&PRODUCT_SPEC)
                .expect("query port")
                .count()
                .await
                .expect("count"),
            1,
            "the refused create wrote nothing"
        );
    })
    .await;
}
