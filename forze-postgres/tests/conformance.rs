//! The conformance suites of `forze_core::testing` on real Postgres: the `DocumentStore`, query
//! and transaction contracts on `PostgresDocumentBackend`, and the read-through suite (stale-set race,
//! no resurrection, single-flight, garbage payloads, replicas, transactions) with Postgres as the
//! store, in front of the in-memory cache and of a real Redis cache (`FORZE_TEST_REDIS_URL`).
//!
//! Each test has its own schema (dropped afterwards) and, for Redis, a fresh key namespace per
//! suite case.

mod common;

use std::sync::Arc;

use common::TestDb;
use forze_core::cache::Cache;
use forze_core::memory::MemoryCache;
use forze_core::store::{DocumentBackend, TransactionManager};
use forze_core::testing::{
    PRODUCT_FIELDS, QUERY_FIELDS, Wiring, query_conformance, read_through_suite, store_conformance,
    store_transaction_conformance, watchdog, write_verbs_conformance,
};
use forze_postgres::{PostgresDocumentBackend, PostgresTransactionManager, create_table_sql};
use forze_redis::{RedisCache, RedisCacheConfig, RedisClient, RedisConfig};

/// A private schema with an empty `products` table of the suites' `Product` schema, and the
/// backend and transaction manager on it.
async fn products(
    prefix: &str,
) -> (
    TestDb,
    Arc<dyn DocumentBackend>,
    Arc<dyn TransactionManager>,
) {
    let db = TestDb::new(prefix).await;
    let config = db.config("products");
    db.client
        .execute(&create_table_sql(&config, PRODUCT_FIELDS))
        .await
        .expect("create the products table");
    let backend = Arc::new(PostgresDocumentBackend::new(db.client.clone(), config));
    let manager = Arc::new(PostgresTransactionManager::new(db.client.clone()));
    (db, backend, manager)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_conformance_on_postgres() {
    let (_db, backend, _) = products("conf_store").await;
    watchdog(store_conformance(backend)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_verbs_conformance_on_postgres() {
    let (_db, backend, _) = products("conf_verbs").await;
    watchdog(write_verbs_conformance(backend)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_conformance_on_postgres() {
    let db = TestDb::new("conf_query").await;
    let config = db.config("query_items");
    db.client
        .execute(&create_table_sql(&config, QUERY_FIELDS))
        .await
        .expect("create the query_items table");
    let backend = Arc::new(PostgresDocumentBackend::new(db.client.clone(), config));
    watchdog(query_conformance(backend)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_transaction_conformance_on_postgres() {
    let (_db, backend, manager) = products("conf_tx").await;
    watchdog(store_transaction_conformance(backend, manager)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_through_suite_on_postgres_with_the_memory_cache() {
    let (_db, backend, manager) = products("conf_rt_mem").await;
    watchdog(read_through_suite(|| {
        Wiring::new(Arc::clone(&backend), Arc::new(MemoryCache::new()))
            .with_transactions(Arc::clone(&manager))
    }))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_through_suite_on_postgres_with_a_redis_cache() {
    let (_db, backend, manager) = products("conf_rt_redis").await;
    let redis = RedisClient::new(RedisConfig::default()).expect("redis config");
    watchdog(redis.connect(&forze_testkit::test_redis_url()))
        .await
        .expect("connect to FORZE_TEST_REDIS_URL");
    watchdog(read_through_suite(|| {
        let namespace = forze_testkit::unique_namespace("pg-read-through");
        let cache: Arc<dyn Cache> = Arc::new(RedisCache::new(
            redis.clone(),
            RedisCacheConfig::namespace(namespace).expect("valid namespace"),
        ));
        Wiring::new(Arc::clone(&backend), cache).with_transactions(Arc::clone(&manager))
    }))
    .await;
    redis.close();
}
