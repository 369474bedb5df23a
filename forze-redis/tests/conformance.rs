//! The conformance suites of `forze_core::testing` on a real Redis (`FORZE_TEST_REDIS_URL`): the
//! versioned CAS / tombstone `Cache` contract on `RedisCache`, and the read-through suite
//! (stale-set race, no resurrection, single-flight, garbage payloads, replicas, transactions)
//! with the in-memory store and a Redis cache. Every suite case gets a fresh key namespace; no
//! key outside it is touched.

use std::sync::Arc;

use forze_core::cache::Cache;
use forze_core::memory::MemoryDocumentStore;
use forze_core::testing::{Wiring, cache_conformance, read_through_suite, watchdog};
use forze_redis::{RedisCache, RedisCacheConfig, RedisClient, RedisConfig};

async fn client() -> RedisClient {
    let client = RedisClient::new(RedisConfig::default()).expect("redis config");
    watchdog(client.connect(&forze_testkit::test_redis_url()))
        .await
        .expect("connect to FORZE_TEST_REDIS_URL");
    client
}

fn fresh_cache(client: &RedisClient, prefix: &str) -> Arc<dyn Cache> {
    let namespace = forze_testkit::unique_namespace(prefix);
    Arc::new(RedisCache::new(
        client.clone(),
        RedisCacheConfig::namespace(namespace).expect("valid namespace"),
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_conformance_on_redis() {
    let client = client().await;
    // Real time: the TTL case fills 300 ms lifetimes and sleeps 1 s.
    watchdog(cache_conformance(
        || fresh_cache(&client, "cache-conformance"),
        tokio::time::sleep,
    ))
    .await;
    client.close();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_through_suite_on_the_memory_store_with_a_redis_cache() {
    let client = client().await;
    watchdog(read_through_suite(|| {
        let store = MemoryDocumentStore::new();
        Wiring::new(
            Arc::new(store.clone()),
            fresh_cache(&client, "read-through"),
        )
        .with_transactions(Arc::new(store))
    }))
    .await;
    client.close();
}
