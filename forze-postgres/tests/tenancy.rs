//! Tenancy on Postgres: the isolation suite of `forze_core::testing` on real Postgres with a
//! real Redis cache, for row-level tenancy (`tenant = "column"`) and schema-per-tenant
//! (`tenant = "schema"`); and the store's own refusals of a call whose tenant does not fit the
//! binding (the ports refuse it first; the store checks again).

mod common;

use std::sync::Arc;

use common::{TestDb, micros_now, obj, watchdog};
use forze_core::cache::Cache;
use forze_core::query::Select;
use forze_core::store::{DocumentBackend, DocumentBinding, Patch, StoreCx};
use forze_core::testing::{
    PRODUCT_FIELDS, TENANT_ITEM_SPEC, TenantItem, tenancy_isolation_suite, tenant_item_spec,
};
use forze_core::{DocumentMeta, Error, ErrorKind, FieldKind, FieldSchema, Row, Tenancy};
use forze_postgres::{
    PostgresDocumentBackend, PostgresDocumentConfig, create_table_sql, schema_sql,
    tenant_schema_sql,
};
use forze_redis::{RedisCache, RedisCacheConfig, RedisClient, RedisConfig};
use serde_json::json;
use uuid::Uuid;

async fn redis_cache(test: &str) -> (RedisClient, Arc<dyn Cache>) {
    let redis = RedisClient::new(RedisConfig::default()).expect("redis config");
    watchdog(redis.connect(&forze_testkit::test_redis_url()))
        .await
        .expect("connect to FORZE_TEST_REDIS_URL");
    let cache = RedisCache::new(
        redis.clone(),
        RedisCacheConfig::namespace(forze_testkit::unique_namespace(test))
            .expect("valid namespace"),
    );
    (redis, Arc::new(cache))
}

/// Drops the tenant schemas a test created (also when it panics).
struct TenantSchemas(Vec<String>);

impl Drop for TenantSchemas {
    fn drop(&mut self) {
        let url = forze_testkit::test_postgres_url();
        for schema in &self.0 {
            forze_postgres::testing::drop_schema_blocking(&url, schema);
        }
    }
}

/// A tenant schema prefix of this run: `[a-z_][a-z0-9_]*`, at most 30 bytes.
fn prefix() -> String {
    let id = Uuid::now_v7().simple().to_string();
    format!("tn_{}", &id[id.len() - 12..])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn isolation_suite_with_a_tenant_column_on_postgres_and_redis() {
    let db = TestDb::new("tenancy_col").await;
    let config = db.config("tenant_items");
    let spec = tenant_item_spec(Tenancy::Column);
    for sql in schema_sql(&config, &spec) {
        db.client
            .execute(&sql)
            .await
            .expect("create the table and indexes");
    }
    let (redis, cache) = redis_cache("pg-tenancy-column").await;
    let backend = Arc::new(PostgresDocumentBackend::new(db.client.clone(), config));
    watchdog(tenancy_isolation_suite(
        spec,
        backend,
        cache,
        Uuid::now_v7(),
        Uuid::now_v7(),
    ))
    .await;
    redis.close();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn isolation_suite_with_a_schema_per_tenant_on_postgres_and_redis() {
    let db = TestDb::new("tenancy_schema").await;
    let config = db.config("tenant_items").tenant_schema_prefix(prefix());
    let spec = tenant_item_spec(Tenancy::Schema);
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    let _cleanup = TenantSchemas(vec![config.tenant_schema(a), config.tenant_schema(b)]);
    for tenant in [a, b] {
        for sql in tenant_schema_sql(&config, &spec, tenant).expect("schema-per-tenant spec") {
            db.client.execute(&sql).await.expect("provision the tenant");
        }
    }
    let (redis, cache) = redis_cache("pg-tenancy-schema").await;
    let backend = Arc::new(PostgresDocumentBackend::new(
        db.client.clone(),
        config.clone(),
    ));
    watchdog(tenancy_isolation_suite(spec, backend, cache, a, b)).await;
    redis.close();
    // Each tenant's rows are in its own table (read here as a plain table).
    for (tenant, expected) in [(a, 5), (b, 4)] {
        let table = PostgresDocumentConfig::table(config.tenant_schema(tenant), "tenant_items");
        let store = PostgresDocumentBackend::new(db.client.clone(), table)
            .bind(&DocumentBinding::new(
                "tenant_items",
                <TenantItem as forze_core::Document>::FIELDS,
            ))
            .expect("bind");
        let n = store.count(&StoreCx::none(), None).await.expect("count");
        assert_eq!(n, expected, "tenant {tenant}'s table holds its rows only");
    }
}

fn item_row(sku: &str) -> Row {
    Row::new(
        DocumentMeta::new(Uuid::now_v7(), micros_now()),
        obj(json!({ "sku": sku, "price": 1 })),
    )
}

#[track_caller]
fn config_err<T: std::fmt::Debug>(result: Result<T, Error>, what: &str, needle: &str) {
    let err = result.expect_err(what);
    assert_eq!(err.kind(), ErrorKind::Config, "{what}: {err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("document `tenant_items`"),
        "{what}: names the document: {msg}"
    );
    assert!(msg.contains(needle), "{what}: {msg}");
}

#[tokio::test]
async fn the_store_refuses_a_tenant_that_does_not_fit_and_writes_nothing() {
    watchdog(async {
        let db = TestDb::new("tenancy_refuse").await;
        let config = db.config("tenant_items");
        for sql in schema_sql(&config, &TENANT_ITEM_SPEC) {
            db.client.execute(&sql).await.expect("create");
        }
        let backend = PostgresDocumentBackend::new(db.client.clone(), config.clone());
        let binding =
            DocumentBinding::new("tenant_items", <TenantItem as forze_core::Document>::FIELDS);
        let scoped = backend
            .bind(&binding.clone().with_tenancy(Tenancy::Column))
            .expect("bind");
        let tenant = Uuid::now_v7();
        let with = StoreCx::none().with_tenant(Some(tenant));
        let row = item_row("X");
        let id = row.meta.id;
        scoped
            .insert(&with, vec![row])
            .await
            .expect("insert for the tenant");

        // a tenant-scoped binding without a tenant: every operation refused
        let none = StoreCx::none();
        let now = micros_now();
        let need = "with_tenant";
        config_err(
            scoped.insert(&none, vec![item_row("Y")]).await,
            "insert",
            need,
        );
        config_err(scoped.ensure(&none, item_row("Y")).await, "ensure", need);
        config_err(
            scoped
                .update(
                    &none,
                    vec![Patch::new(id, 1, obj(json!({"price": 9})))],
                    now,
                )
                .await,
            "update",
            need,
        );
        config_err(scoped.touch(&none, id, now).await, "touch", need);
        config_err(scoped.delete(&none, &[id]).await, "delete", need);
        config_err(scoped.get(&none, id, false).await, "get", need);
        config_err(scoped.get_many(&none, &[id]).await, "get_many", need);
        let select = Select::new(
            "tenant_items",
            <TenantItem as forze_core::Document>::FIELDS,
            None,
            &[],
        )
        .expect("valid");
        config_err(scoped.find(&none, &select).await, "find", need);
        config_err(scoped.count(&none, None).await, "count", need);
        // another tenant sees nothing of it
        let other = StoreCx::none().with_tenant(Some(Uuid::now_v7()));
        assert!(scoped.get(&other, id, false).await.expect("get").is_none());
        assert_eq!(scoped.count(&other, None).await.expect("count"), 0);
        assert_eq!(scoped.count(&with, None).await.expect("count"), 1);

        // a plain binding with a tenant: refused
        let plain_table = db.config("plain");
        db.client
            .execute(&create_table_sql(&plain_table, PRODUCT_FIELDS))
            .await
            .expect("create");
        let plain = PostgresDocumentBackend::new(db.client.clone(), plain_table)
            .bind(&DocumentBinding::new("tenant_items", PRODUCT_FIELDS))
            .expect("bind");
        config_err(
            plain.count(&with, None).await,
            "plain count",
            &tenant.to_string(),
        );
        config_err(
            plain.insert(&with, Vec::new()).await,
            "plain empty insert",
            "tenant = \"column\"",
        );
        assert_eq!(plain.count(&none, None).await.expect("count"), 0);
    })
    .await;
}

#[tokio::test]
async fn an_unprovisioned_tenant_schema_is_a_config_error_naming_its_table() {
    watchdog(async {
        let db = TestDb::new("tenancy_unprov").await;
        let config = db.config("tenant_items").tenant_schema_prefix(prefix());
        let backend = PostgresDocumentBackend::new(db.client.clone(), config.clone());
        let store = backend
            .bind(
                &DocumentBinding::new("tenant_items", <TenantItem as forze_core::Document>::FIELDS)
                    .with_tenancy(Tenancy::Schema),
            )
            .expect("bind");
        let tenant = Uuid::now_v7();
        let cx = StoreCx::none().with_tenant(Some(tenant));
        let err = store
            .insert(&cx, vec![item_row("A")])
            .await
            .expect_err("no table");
        assert_eq!(err.kind(), ErrorKind::Config, "{err:?}");
        assert!(err.is_not_applied(), "nothing was written: {err:?}");
        let msg = err.to_string();
        assert!(
            msg.contains(&config.tenant_schema(tenant)),
            "names the schema: {msg}"
        );
        assert!(
            msg.contains("tenant_schema_sql"),
            "says how to provision: {msg}"
        );
        // provisioned: works
        let _cleanup = TenantSchemas(vec![config.tenant_schema(tenant)]);
        let spec = tenant_item_spec(Tenancy::Schema);
        for sql in tenant_schema_sql(&config, &spec, tenant).expect("sql") {
            db.client.execute(&sql).await.expect("provision");
        }
        store
            .insert(&cx, vec![item_row("A")])
            .await
            .expect("insert once provisioned");
        assert_eq!(store.count(&cx, None).await.expect("count"), 1);
    })
    .await;
}

#[test]
fn bind_rejects_a_tenant_column_clash_and_a_bad_schema_prefix() {
    static CLASH: [FieldSchema; 1] = [FieldSchema::new("tenant_id", FieldKind::Uuid, false)];
    let backend = PostgresDocumentBackend::new(
        forze_postgres::PostgresClient::new(),
        PostgresDocumentConfig::table("public", "t"),
    );
    let err = backend
        .bind(&DocumentBinding::new("t", &CLASH).with_tenancy(Tenancy::Column))
        .expect_err("clash");
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(err.to_string().contains("tenant_id"), "{err}");
    assert!(
        backend.bind(&DocumentBinding::new("t", &CLASH)).is_ok(),
        "a plain table may have it"
    );
    for bad in ["Upper", "1x", "a-b", &"p".repeat(31)] {
        let backend = PostgresDocumentBackend::new(
            forze_postgres::PostgresClient::new(),
            PostgresDocumentConfig::table("public", "t").tenant_schema_prefix(bad.to_owned()),
        );
        let err = backend
            .bind(&DocumentBinding::new("t", PRODUCT_FIELDS).with_tenancy(Tenancy::Schema))
            .expect_err(bad);
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(err.to_string().contains("tenant schema prefix"), "{err}");
    }
    let err = tenant_schema_sql(
        &PostgresDocumentConfig::table("public", "t"),
        &TENANT_ITEM_SPEC,
        Uuid::nil(),
    )
    .expect_err("a column spec");
    assert_eq!(err.kind(), ErrorKind::Config);
}

/// The write verbs with row-level tenancy: two tenants hold the same id; every verb called for
/// one leaves the other's row as it was.
#[tokio::test]
async fn write_verbs_stay_inside_their_tenant() {
    watchdog(async {
        let db = TestDb::new("tenancy_verbs").await;
        let config = db.config("tenant_items");
        for sql in schema_sql(&config, &TENANT_ITEM_SPEC) {
            db.client.execute(&sql).await.expect("create");
        }
        let store = PostgresDocumentBackend::new(db.client.clone(), config)
            .bind(
                &DocumentBinding::new("tenant_items", <TenantItem as forze_core::Document>::FIELDS)
                    .with_tenancy(Tenancy::Column),
            )
            .expect("bind");
        let (a, b) = (
            StoreCx::none().with_tenant(Some(Uuid::now_v7())),
            StoreCx::none().with_tenant(Some(Uuid::now_v7())),
        );
        let row = item_row("SAME");
        let id = row.meta.id;
        store
            .insert(&a, vec![row.clone()])
            .await
            .expect("insert for a");
        store
            .insert(&b, vec![row.clone()])
            .await
            .expect("the same id for b");
        let b_row = || async {
            store
                .get(&b, id, false)
                .await
                .expect("get b")
                .expect("b's row")
        };
        let before = b_row().await;

        let mut changed = row.clone();
        changed.fields = obj(json!({ "sku": "SAME", "price": 7 }));
        store
            .upsert(&a, vec![forze_core::store::Upsert::new(changed, 1)])
            .await
            .expect("upsert for a");
        store
            .touch_many(&a, &[id], micros_now())
            .await
            .expect("touch for a");
        let filter = Select::new(
            "tenant_items",
            <TenantItem as forze_core::Document>::FIELDS,
            Some(&forze_core::query::Filter::field(
                "sku",
                forze_core::query::Op::Eq,
                "SAME",
            )),
            &[],
        )
        .expect("valid")
        .filter
        .expect("a filter");
        let hit = store
            .update_matching(&a, &filter, obj(json!({ "price": 99 })), micros_now())
            .await
            .expect("update_matching for a");
        assert_eq!(hit.len(), 1, "only a's row matched");
        let a_now = store
            .get(&a, id, false)
            .await
            .expect("get")
            .expect("a's row");
        assert_eq!(a_now.meta.rev, 4);
        assert_eq!(
            b_row().await,
            before,
            "b untouched by a's upsert, touch and update"
        );

        // delete_at with a's rev: b's row stays; with b's (older) rev on a: a mismatch
        let err = store
            .delete_at(&a, &[(id, 1)])
            .await
            .expect_err("stale for a");
        assert_eq!(err.kind(), ErrorKind::RevisionMismatch);
        store.delete_at(&a, &[(id, 4)]).await.expect("delete for a");
        assert!(store.get(&a, id, false).await.expect("get").is_none());
        assert_eq!(b_row().await, before, "b untouched by a's delete");
        let ensured = store
            .ensure_many(&a, vec![row.clone()])
            .await
            .expect("ensure for a");
        assert!(ensured[0].1, "a's id is free again in a, whatever b holds");
        assert_eq!(store.count(&b, None).await.expect("count"), 1);
    })
    .await;
}
