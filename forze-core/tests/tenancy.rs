//! Tenancy on the in-memory backends: the isolation suite in both modes, and the refusals of a
//! call whose tenant does not fit the spec (at the ports, and again in the store).

use std::sync::Arc;

use forze_core::memory::{MemoryCache, MemoryDocumentStore};
use forze_core::prelude::*;
use forze_core::store::{DocumentBackend, DocumentBinding, StoreCx};
use forze_core::testing::{
    PRODUCT_FIELDS, PRODUCT_SPEC, TestDepsModule, tenancy_isolation_suite, tenant_item_spec,
    watchdog,
};
use forze_core::{DepsRegistry, ErrorKind, ExecutionRuntime, LifecyclePlan, Tenancy};
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn isolation_suite_in_memory_column_mode() {
    watchdog(tenancy_isolation_suite(
        tenant_item_spec(Tenancy::Column),
        Arc::new(MemoryDocumentStore::new()),
        Arc::new(MemoryCache::new()),
        Uuid::now_v7(),
        Uuid::now_v7(),
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn isolation_suite_in_memory_schema_mode() {
    watchdog(tenancy_isolation_suite(
        tenant_item_spec(Tenancy::Schema),
        Arc::new(MemoryDocumentStore::new()),
        Arc::new(MemoryCache::new()),
        Uuid::now_v7(),
        Uuid::now_v7(),
    ))
    .await;
}

#[tokio::test]
async fn a_plain_spec_called_with_a_tenant_is_refused_by_the_ports() {
    watchdog(async {
        let module = TestDepsModule::new("t")
            .document("products", Arc::new(MemoryDocumentStore::new()))
            .cache("products", Arc::new(MemoryCache::new()));
        let runtime = ExecutionRuntime::new(
            DepsRegistry::from_modules([module.boxed()])
                .freeze()
                .expect("deps"),
            LifecyclePlan::new().freeze().expect("plan"),
        );
        let tenant = Uuid::now_v7();
        let ctx = runtime.context().with_tenant(tenant);
        for err in [
            ctx.document()
                .query(&PRODUCT_SPEC)
                .map(drop)
                .expect_err("query"),
            ctx.document()
                .command(&PRODUCT_SPEC)
                .map(drop)
                .expect_err("command"),
            ctx.cache(&PRODUCT_SPEC).map(drop).expect_err("cache"),
        ] {
            assert_eq!(err.kind(), ErrorKind::Config, "{err}");
            let msg = err.to_string();
            assert!(
                msg.contains("document `products`") && msg.contains(&tenant.to_string()),
                "{msg}"
            );
            assert!(
                msg.contains("tenant = \\\"column\\\"") || msg.contains("tenant = \"column\""),
                "says what to do: {msg}"
            );
        }
        // the same spec under a second tenancy is refused too
        let scoped = PRODUCT_SPEC.clone().with_tenancy(Tenancy::Column);
        let err = ctx
            .document()
            .query(&scoped)
            .map(drop)
            .expect_err("two tenancies");
        assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    })
    .await;
}

#[tokio::test]
async fn the_memory_store_refuses_a_tenant_that_does_not_fit_its_binding() {
    let backend = MemoryDocumentStore::new();
    let plain = backend
        .bind(&DocumentBinding::new("products", PRODUCT_FIELDS))
        .expect("bind");
    let scoped = backend
        .bind(&DocumentBinding::new("scoped", PRODUCT_FIELDS).with_tenancy(Tenancy::Column))
        .expect("bind");
    let with = StoreCx::none().with_tenant(Some(Uuid::now_v7()));
    let err = plain
        .count(&with, None)
        .await
        .expect_err("plain with a tenant");
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    let err = scoped
        .count(&StoreCx::none(), None)
        .await
        .expect_err("scoped without");
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    assert!(err.to_string().contains("document `scoped`"), "{err}");
    assert_eq!(
        scoped
            .count(&with, None)
            .await
            .expect("scoped with a tenant"),
        0
    );
    assert_eq!(plain.count(&StoreCx::none(), None).await.expect("plain"), 0);
}
