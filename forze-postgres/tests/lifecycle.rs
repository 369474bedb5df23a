//! The lifecycle module (pool up and down, the opt-in schema check), the deps module, timeouts.

mod common;

use std::time::Duration;

use common::{FIELDS, TestDb, minimal_row, watchdog};
use forze_core::runtime::{DepsModule, LifecycleModule, Registrations};
use forze_core::store::{DocumentBackend, DocumentBinding, StoreCx};
use forze_core::{ErrorKind, FieldKind, FieldSchema};
use forze_postgres::{
    PostgresClient, PostgresConfig, PostgresDepsModule, PostgresDocumentBackend,
    PostgresLifecycleModule, create_table_sql,
};

#[tokio::test]
async fn lifecycle_connects_at_startup_and_closes_at_shutdown() {
    watchdog(async {
        let db = TestDb::new("lifecycle").await;
        let client = PostgresClient::new();
        let module =
            PostgresLifecycleModule::new(client.clone(), forze_testkit::test_postgres_url());
        assert_eq!(module.steps().len(), 1);
        let config = db.config("products");
        db.client
            .execute(&create_table_sql(&config, &FIELDS))
            .await
            .expect("create table");
        let store = PostgresDocumentBackend::new(client.clone(), config)
            .bind(&DocumentBinding::new("products", &FIELDS))
            .expect("bind");

        let err = store
            .count(&StoreCx::none(), None)
            .await
            .expect_err("before startup");
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(err.message().contains("not initialized"), "{err}");

        module.startup().await.expect("startup");
        assert!(client.is_initialized());
        store
            .insert(&StoreCx::none(), vec![minimal_row("a", 1)])
            .await
            .expect("insert");
        assert_eq!(store.count(&StoreCx::none(), None).await.expect("count"), 1);

        module.shutdown().await;
        assert!(!client.is_initialized());
        let err = store
            .count(&StoreCx::none(), None)
            .await
            .expect_err("after shutdown");
        assert_eq!(err.kind(), ErrorKind::Config);
    })
    .await;
}

static WITH_EXTRA: [FieldSchema; 3] = [
    FieldSchema::new("name", FieldKind::Text, false),
    FieldSchema::new("price", FieldKind::Int, false),
    FieldSchema::new("colour", FieldKind::Text, true),
];
static PRICE_AS_TEXT: [FieldSchema; 2] = [
    FieldSchema::new("name", FieldKind::Text, false),
    FieldSchema::new("price", FieldKind::Text, false),
];
static PRICE_NULLABLE: [FieldSchema; 2] = [
    FieldSchema::new("name", FieldKind::Text, false),
    FieldSchema::new("price", FieldKind::Int, true),
];
static BASE: [FieldSchema; 2] = [
    FieldSchema::new("name", FieldKind::Text, false),
    FieldSchema::new("price", FieldKind::Int, false),
];

/// Startup with the schema check, for a document bound with `fields` on table `table`.
async fn check(db: &TestDb, table: &str, fields: &'static [FieldSchema]) -> forze_core::Result<()> {
    let client = PostgresClient::new();
    let deps = PostgresDepsModule::new(client.clone()).rw_document("products", db.config(table));
    deps.register(&mut Registrations::default());
    PostgresDocumentBackend::new(client.clone(), db.config(table))
        .bind(&DocumentBinding::new("products", fields))?;
    let module = PostgresLifecycleModule::new(client.clone(), forze_testkit::test_postgres_url())
        .config(PostgresConfig::new().max_connections(2))
        .check_schema(true);
    let res = module.startup().await;
    if res.is_ok() {
        module.shutdown().await;
    } else {
        assert!(
            !client.is_initialized(),
            "a failed startup releases the pool"
        );
    }
    res
}

#[tokio::test]
async fn schema_check_names_the_missing_table_or_column() {
    watchdog(async {
        let db = TestDb::new("schemacheck").await;
        db.client
            .execute(&create_table_sql(&db.config("products"), &BASE))
            .await
            .expect("create table");

        check(&db, "products", &BASE)
            .await
            .expect("matching table passes");

        let err = check(&db, "nope", &BASE).await.expect_err("missing table");
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(
            err.message().contains("\"nope\"") && err.message().contains("does not exist"),
            "{err}"
        );

        let err = check(&db, "products", &WITH_EXTRA)
            .await
            .expect_err("missing column");
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(err.message().contains("`colour`"), "{err}");

        let err = check(&db, "products", &PRICE_AS_TEXT)
            .await
            .expect_err("wrong type");
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(
            err.message().contains("`price`") && err.message().contains("integer"),
            "{err}"
        );

        let err = check(&db, "products", &PRICE_NULLABLE)
            .await
            .expect_err("not null column");
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(err.message().contains("NOT NULL"), "{err}");
    })
    .await;
}

#[tokio::test]
async fn deps_module_registers_documents_and_transaction_routes() {
    let module = PostgresDepsModule::new(PostgresClient::new())
        .rw_document(
            "products",
            forze_postgres::PostgresDocumentConfig::table("public", "products"),
        )
        .tx("products")
        .tx("orders");
    let mut regs = Registrations::default();
    module.register(&mut regs);
    let shown = format!("{regs:?}");
    assert_eq!(shown.matches("document").count(), 1, "{shown}");
    assert_eq!(shown.matches("transaction").count(), 2, "{shown}");
    assert!(shown.contains("`orders`"), "{shown}");
}

#[tokio::test]
async fn statement_timeout_is_unavailable() {
    watchdog(async {
        let client = PostgresClient::connect(
            &forze_testkit::test_postgres_url(),
            PostgresConfig::new()
                .max_connections(1)
                .statement_timeout(Some(Duration::from_millis(200))),
        )
        .await
        .expect("connect");
        let err = client
            .execute("SELECT pg_sleep(5)")
            .await
            .expect_err("statement timeout");
        assert_eq!(err.kind(), ErrorKind::Unavailable, "{err:?}");
        assert!(err.message().contains("statement_timeout"), "{err}");
        assert!(
            !err.message().contains("pg_sleep"),
            "no SQL text in messages: {err}"
        );
        client.close().await;
    })
    .await;
}
