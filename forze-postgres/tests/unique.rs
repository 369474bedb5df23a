//! Declared indexes and unique constraints on real Postgres: `schema_sql` creates them, the
//! store turns a violation into the same `Conflict` as the in-memory store (the
//! `unique_conformance` suite, races included), and the planner can use the indexes for the
//! queries forze renders (text under `COLLATE "C"`).
//!
//! Each test has its own schema (dropped afterwards).

mod common;

use std::sync::Arc;

use common::TestDb;
use forze_core::Document;
use forze_core::store::{DocumentBackend, DocumentBinding, StoreCx};
use forze_core::testing::{SKU_FIELDS, SKU_INDEXES, unique_conformance, watchdog};
use forze_postgres::{
    PostgresDocumentBackend, PostgresTransactionManager, schema_sql, schema_sql_of,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unique_constraints_conform_on_postgres() {
    let db = TestDb::new("uniq").await;
    let config = db.config("skus");
    for statement in schema_sql_of(&config, SKU_FIELDS, SKU_INDEXES) {
        db.client.execute(&statement).await.expect(&statement);
    }
    let backend = Arc::new(PostgresDocumentBackend::new(db.client.clone(), config));
    let manager = Arc::new(PostgresTransactionManager::new(db.client.clone()));
    watchdog(unique_conformance(backend, Some(manager))).await;
}

/// Running the statements twice is harmless, and the indexes exist under the names the store
/// maps violations by.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_sql_is_idempotent_and_names_the_indexes() {
    let db = TestDb::new("uniq_names").await;
    let config = db.config("skus");
    for _ in 0..2 {
        for statement in schema_sql_of(&config, SKU_FIELDS, SKU_INDEXES) {
            db.client.execute(&statement).await.expect(&statement);
        }
    }
    let rows: Vec<(String, String)> = sqlx_rows(
        &db,
        &format!(
            "SELECT indexname::text, indexdef FROM pg_indexes WHERE schemaname = '{}' \
             AND tablename = 'skus' ORDER BY indexname",
            db.schema
        ),
    )
    .await;
    let names: Vec<&str> = rows.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "skus_pkey",
            "skus_qty_desc_id_idx",
            "skus_shop_code_key",
            "skus_sku_key"
        ]
    );
    let sku = &rows[3].1;
    assert!(
        sku.starts_with("CREATE UNIQUE INDEX") && sku.contains("(sku COLLATE \"C\")"),
        "{sku}"
    );
    assert!(rows[1].1.contains("(qty DESC, id)"), "{}", rows[1].1);
}

/// An index on a text column serves a forze query's `ORDER BY` and prefix filter (both under
/// `COLLATE "C"`): with sequential scans off, the plan uses it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_planner_uses_the_collated_index() {
    #[derive(Document)]
    #[document_spec(name = "items", index(name), unique(code))]
    #[allow(dead_code)]
    struct Item {
        name: String,
        code: i64,
    }
    let db = TestDb::new("uniq_plan").await;
    let config = db.config("items");
    for statement in schema_sql(&config, &ITEM_SPEC) {
        db.client.execute(&statement).await.expect(&statement);
    }
    let table = config.qualified_name();
    let plan = sqlx_rows_1(
        &db,
        &format!(
            "SET enable_seqscan = off; EXPLAIN SELECT * FROM {table} \
             WHERE (\"name\" COLLATE \"C\") >= 'a' ORDER BY (\"name\" COLLATE \"C\") ASC NULLS LAST LIMIT 5"
        ),
    )
    .await;
    assert!(plan.contains("items_name_idx"), "{plan}");
    // and a store bound with the spec's indexes reports the constraint by field
    let store = PostgresDocumentBackend::new(db.client.clone(), config)
        .bind(&DocumentBinding::new("items", Item::FIELDS).with_indexes(ITEM_SPEC.indexes))
        .expect("bind");
    let row = |code: i64| {
        forze_core::Row::new(
            forze_core::DocumentMeta::new(uuid::Uuid::now_v7(), chrono::Utc::now()),
            serde_json::json!({ "name": "x", "code": code })
                .as_object()
                .cloned()
                .unwrap_or_default(),
        )
    };
    let cx = StoreCx::none();
    store.insert(&cx, vec![row(1)]).await.expect("first");
    let err = store.insert(&cx, vec![row(1)]).await.expect_err("second");
    assert_eq!(
        err.message(),
        "document `items`: another document already has the same `code` (unique constraint \
         `unique(code)`)"
    );
}

async fn sqlx_rows(db: &TestDb, sql: &str) -> Vec<(String, String)> {
    let pool = db.client.pool().expect("a connected client");
    sqlx::query_as::<_, (String, String)>(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_all(&pool)
        .await
        .expect(sql)
}

/// The plan of an `EXPLAIN` run after `SET`s on one connection, one line a row.
async fn sqlx_rows_1(db: &TestDb, sql: &str) -> String {
    let pool = db.client.pool().expect("a connected client");
    let mut conn = pool.acquire().await.expect("a connection");
    let (set, explain) = sql.split_once("; ").expect("a SET and a statement");
    sqlx::raw_sql(sqlx::AssertSqlSafe(set.to_owned()))
        .execute(&mut *conn)
        .await
        .expect(set);
    let lines: Vec<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(explain.to_owned()))
        .fetch_all(&mut *conn)
        .await
        .expect(explain);
    lines
        .into_iter()
        .map(|(l,)| l)
        .collect::<Vec<_>>()
        .join("\n")
}
