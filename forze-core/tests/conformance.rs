//! The `testing` suites on the in-memory backends: the reference every backend is held to.

use std::sync::Arc;

use forze_core::clock::MockClock;
use forze_core::memory::{MemoryCache, MemoryDocumentStore};
use forze_core::testing::{
    Wiring, cache_conformance, query_conformance, read_through_suite, store_conformance,
    store_transaction_conformance, unique_conformance, watchdog, write_verbs_conformance,
};

#[tokio::test]
async fn memory_store_conforms() {
    watchdog(store_conformance(Arc::new(MemoryDocumentStore::new()))).await;
}

#[tokio::test]
async fn memory_store_write_verbs_conform() {
    watchdog(write_verbs_conformance(
        Arc::new(MemoryDocumentStore::new()),
    ))
    .await;
}

#[tokio::test]
async fn memory_store_runs_queries_with_postgres_semantics() {
    watchdog(query_conformance(Arc::new(MemoryDocumentStore::new()))).await;
}

#[tokio::test]
async fn memory_transactions_conform() {
    let store = MemoryDocumentStore::new();
    watchdog(store_transaction_conformance(
        Arc::new(store.clone()),
        Arc::new(store),
    ))
    .await;
}

#[tokio::test]
async fn memory_cache_conforms_on_a_mock_clock() {
    let clock = MockClock::new();
    let advance = clock.clone();
    watchdog(cache_conformance(
        move || Arc::new(MemoryCache::with_clock(Arc::new(clock.clone()))),
        move |d| {
            advance.advance(d);
            async {}
        },
    ))
    .await;
}

#[tokio::test]
async fn memory_cache_conforms_on_the_system_clock() {
    watchdog(cache_conformance(
        || Arc::new(MemoryCache::new()),
        tokio::time::sleep,
    ))
    .await;
}

fn memory_wiring() -> Wiring {
    let store = MemoryDocumentStore::new();
    Wiring::new(Arc::new(store.clone()), Arc::new(MemoryCache::new()))
        .with_transactions(Arc::new(store))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_through_suite_on_memory_backends_multi_thread() {
    watchdog(read_through_suite(memory_wiring)).await;
}

#[tokio::test]
async fn read_through_suite_on_memory_backends_current_thread() {
    watchdog(read_through_suite(memory_wiring)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_unique_constraints_conform() {
    let store = MemoryDocumentStore::new();
    watchdog(unique_conformance(
        Arc::new(store.clone()),
        Some(Arc::new(store)),
    ))
    .await;
}
