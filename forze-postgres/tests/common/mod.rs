//! Shared setup: a connected client on `FORZE_TEST_POSTGRES_URL` and a private schema per test,
//! dropped when the test ends (also when it panics).

#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use forze_core::store::{DocumentBackend, DocumentBinding, DocumentStore};
use forze_core::{DocumentMeta, FieldKind, FieldSchema, Row};
use forze_postgres::{
    PostgresClient, PostgresConfig, PostgresDocumentBackend, PostgresDocumentConfig,
    create_table_sql,
};
use serde_json::{Map, Value, json};
use uuid::Uuid;

/// Every field kind, nullable and not.
pub static FIELDS: [FieldSchema; 12] = [
    FieldSchema::new("name", FieldKind::Text, false),
    FieldSchema::new("price", FieldKind::Int, false),
    FieldSchema::new("tag", FieldKind::Text, true),
    FieldSchema::new("small", FieldKind::SmallInt, true),
    FieldSchema::new("big", FieldKind::BigInt, true),
    FieldSchema::new("ratio", FieldKind::Real, true),
    FieldSchema::new("weight", FieldKind::Double, true),
    FieldSchema::new("active", FieldKind::Bool, false),
    FieldSchema::new("owner", FieldKind::Uuid, true),
    FieldSchema::new("due", FieldKind::Timestamp, true),
    FieldSchema::new("attrs", FieldKind::Json, true),
    FieldSchema::new("tags", FieldKind::Json, false),
];

pub const DOC: &str = "products";

pub struct TestDb {
    pub client: PostgresClient,
    pub schema: String,
    url: String,
}

impl TestDb {
    /// Connect to the test server and create a private schema.
    pub async fn new(prefix: &str) -> TestDb {
        let url = forze_testkit::test_postgres_url();
        let client = PostgresClient::connect(&url, PostgresConfig::new().max_connections(8))
            .await
            .expect("connect to FORZE_TEST_POSTGRES_URL");
        let schema = forze_testkit::unique_schema(prefix);
        client
            .execute(&format!("CREATE SCHEMA \"{schema}\""))
            .await
            .expect("create schema");
        TestDb {
            client,
            schema,
            url,
        }
    }

    pub fn config(&self, table: &str) -> PostgresDocumentConfig {
        PostgresDocumentConfig::table(self.schema.clone(), table.to_owned())
    }

    /// Create `table` for `fields` and bind a store to it.
    pub async fn store_with(
        &self,
        table: &str,
        fields: &'static [FieldSchema],
    ) -> Arc<dyn DocumentStore> {
        let config = self.config(table);
        self.client
            .execute(&create_table_sql(&config, fields))
            .await
            .expect("create table");
        PostgresDocumentBackend::new(self.client.clone(), config)
            .bind(&DocumentBinding::new(DOC, fields))
            .expect("bind")
    }

    pub async fn store(&self) -> Arc<dyn DocumentStore> {
        self.store_with("products", &FIELDS).await
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        forze_postgres::testing::drop_schema_blocking(&self.url, &self.schema);
    }
}

/// A timestamp with whole microseconds (what Postgres stores).
pub fn micros_now() -> DateTime<Utc> {
    DateTime::from_timestamp_micros(Utc::now().timestamp_micros()).expect("valid timestamp")
}

pub fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        other => panic!("not an object: {other}"),
    }
}

/// A full row with every kind set.
pub fn full_row(name: &str, price: i32) -> Row {
    let now = micros_now();
    Row::new(
        DocumentMeta::new(Uuid::now_v7(), now),
        obj(json!({
            "name": name,
            "price": price,
            "tag": "blue",
            "small": -7,
            "big": 9_007_199_254_740_993_i64,
            "ratio": 0.1,
            "weight": 2.75,
            "active": true,
            "owner": Uuid::now_v7().to_string(),
            "due": "2031-02-03T04:05:06.123456Z",
            "attrs": {"color": "red", "sizes": [1, 2, 3], "nested": {"a": null}},
            "tags": ["x", "y"],
        })),
    )
}

/// A row with only the required fields (nullable ones absent → NULL).
pub fn minimal_row(name: &str, price: i32) -> Row {
    Row::new(
        DocumentMeta::new(Uuid::now_v7(), micros_now()),
        obj(json!({ "name": name, "price": price, "active": false, "tags": [] })),
    )
}

/// `row` as the store returns it: absent nullable fields read back as null.
pub fn as_stored(row: &Row) -> Row {
    let mut fields = row.fields.clone();
    for f in &FIELDS {
        fields.entry(f.name.to_owned()).or_insert(Value::Null);
    }
    Row::new(row.meta, fields)
}

/// Every async test body runs under this watchdog: a hang fails the test.
pub async fn watchdog<F: std::future::Future>(fut: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(60), fut)
        .await
        .expect("test timed out (watchdog)")
}
