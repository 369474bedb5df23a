//! The DTO attributes on real Postgres: a `#[serde(rename)]` field is stored in the column named
//! after the field (the JSON key is only the DTOs'), `skip_create` fields get their defaults in
//! the row, filters use the column, and a NaN is refused by name before the store (the column
//! would otherwise get `null`).
//!
//! The test has its own schema (dropped afterwards).

mod common;

use std::sync::Arc;

use common::TestDb;
use forze_core::prelude::*;
use forze_core::store::DocumentBackend;
use forze_core::testing::{TestDepsModule, watchdog};
use forze_core::{DepsRegistry, ErrorKind, ExecutionRuntime, LifecyclePlan};
use forze_postgres::{PostgresDocumentBackend, schema_sql};

fn five() -> i32 {
    5
}

#[derive(forze_core::Document)]
#[document_spec(name = "parts", unique(sku))]
pub struct Part {
    #[serde(rename = "displayName", alias = "title")]
    pub name: String,
    pub weight: f64,
    #[forze(read_only)]
    pub sku: String,
    #[forze(skip_create)]
    #[serde(default = "five")]
    pub stock: i32,
    #[forze(skip_create)]
    pub shipped: Option<bool>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renamed_and_skipped_fields_live_in_the_field_named_columns() {
    watchdog(async {
        let db = TestDb::new("dtos").await;
        let config = db.config("parts");
        for statement in schema_sql(&config, &PART_SPEC) {
            db.client.execute(&statement).await.expect(&statement);
        }
        let table = config.qualified_name();
        let backend: Arc<dyn DocumentBackend> =
            Arc::new(PostgresDocumentBackend::new(db.client.clone(), config));
        let runtime = ExecutionRuntime::new(
            DepsRegistry::from_modules([TestDepsModule::new("postgres")
                .document("parts", backend)
                .boxed()])
            .freeze()
            .expect("deps"),
            LifecyclePlan::new().freeze().expect("plan"),
        );
        let ctx = runtime.context();
        let parts = ctx.document().command(&PART_SPEC).expect("command");
        let query = ctx.document().query(&PART_SPEC).expect("query");

        let body = r#"{"title": "bolt", "weight": 0.5, "sku": "B001"}"#;
        let created = parts
            .create(serde_json::from_str(body).expect("a create body"))
            .await
            .expect("create");
        assert_eq!((created.stock, created.shipped), (5, None));
        let raw: (String, i32) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT name, stock FROM {table} WHERE id = $1"
        )))
        .bind(created.id)
        .fetch_one(&db.client.pool().expect("pool"))
        .await
        .expect("the row, by its columns");
        assert_eq!(raw, ("bolt".to_owned(), 5));

        let patch = serde_json::from_str(r#"{"displayName": "nut", "stock": 2}"#).expect("patch");
        let updated = parts
            .update(created.id, created.rev, patch)
            .await
            .expect("update");
        assert_eq!((updated.name.as_str(), updated.stock), ("nut", 2));
        let found = query
            .find()
            .filter(Part::NAME.eq("nut") & Part::STOCK.eq(2))
            .all()
            .await
            .expect("find");
        assert_eq!(found.len(), 1);
        assert_eq!(
            serde_json::to_value(&found[0]).expect("json")["displayName"],
            "nut"
        );

        let err = parts
            .create(PartCreate {
                name: "nan".into(),
                weight: f64::NAN,
                sku: "N001".into(),
            })
            .await
            .expect_err("NaN");
        assert_eq!(err.kind(), ErrorKind::Validation);
        assert!(
            err.to_string().starts_with(
                "invalid create input of document `parts`: `weight` is NaN; only finite numbers"
            ),
            "{err}"
        );
        assert_eq!(query.count().await.expect("count"), 1, "nothing written");
    })
    .await;
}
