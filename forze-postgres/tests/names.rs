//! Schema and table names are quoted identifiers: quotes and semicolons cannot inject SQL.

mod common;

use common::{FIELDS, TestDb, as_stored, minimal_row, watchdog};
use forze_core::ErrorKind;
use forze_core::query::Select;
use forze_core::store::{DocumentBackend, DocumentBinding, StoreCx};
use forze_postgres::{PostgresDocumentBackend, PostgresDocumentConfig, create_table_sql};

#[tokio::test]
async fn hostile_schema_and_table_names_cannot_inject_sql() {
    watchdog(async {
        let db = TestDb::new("names").await;
        db.client
            .execute(&format!("CREATE TABLE \"{}\".sentinel (x int)", db.schema))
            .await
            .expect("sentinel");

        let table = format!("evil\"; DROP TABLE \"{}\".sentinel; --", db.schema);
        let config = PostgresDocumentConfig::table(db.schema.clone(), table.clone());
        db.client
            .execute(&create_table_sql(&config, &FIELDS))
            .await
            .expect("create oddly named table");
        let store = PostgresDocumentBackend::new(db.client.clone(), config)
            .bind(&DocumentBinding::new("products", &FIELDS))
            .expect("bind");
        let cx = StoreCx::none();
        let a = minimal_row("a", 1);
        store.insert(&cx, vec![a.clone()]).await.expect("insert");
        assert_eq!(
            store.get(&cx, a.meta.id, false).await.expect("get"),
            Some(as_stored(&a))
        );
        assert_eq!(
            store
                .find(
                    &cx,
                    &Select::new("products", &FIELDS, None, &[]).expect("valid")
                )
                .await
                .expect("list")
                .len(),
            1
        );
        store.delete(&cx, &[a.meta.id]).await.expect("delete");

        // The odd name is a real table name, and the sentinel survived.
        let pool = db.client.pool().expect("pool");
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = $1 \
             ORDER BY 1",
        )
        .bind(&db.schema)
        .fetch_all(&pool)
        .await
        .expect("tables");
        assert_eq!(names, vec![table.clone(), "sentinel".to_owned()]);

        // A schema name with a quote and a semicolon: missing, reported as such, no injection.
        let evil_schema = format!("x\"; DROP TABLE \"{}\".sentinel; --", db.schema);
        let store = PostgresDocumentBackend::new(
            db.client.clone(),
            PostgresDocumentConfig::table(evil_schema, "t"),
        )
        .bind(&DocumentBinding::new("products", &FIELDS))
        .expect("bind");
        let err = store.count(&cx, None).await.expect_err("no such schema");
        assert_eq!(err.kind(), ErrorKind::Config, "{err}");
        let still: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM \"{}\".sentinel",
            db.schema
        )))
        .fetch_one(&pool)
        .await
        .expect("sentinel still there");
        assert_eq!(still, 0);

        // Names Postgres cannot hold are rejected at bind time.
        for (schema, table) in [("s", "a\0b"), ("", "t"), ("s", &*"x".repeat(64))] {
            let err = PostgresDocumentBackend::new(
                db.client.clone(),
                PostgresDocumentConfig::table(schema.to_owned(), table.to_owned()),
            )
            .bind(&DocumentBinding::new("products", &FIELDS))
            .expect_err("invalid identifier");
            assert_eq!(err.kind(), ErrorKind::Config);
            assert!(err.message().contains("products"), "{err}");
        }
    })
    .await;
}
