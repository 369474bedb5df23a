//! Each cache operation is one command (one round trip), counted with `INFO commandstats` on a
//! private server; scripts run with `EVALSHA` and recover from `SCRIPT FLUSH`.
//!
//! Commands the scripts run inside the server (`GETRANGE`, `STRLEN`, `SET`, `PTTL`) are counted
//! by Redis too; they cost no round trip, and the exact sets below pin them as well.

mod common;

use std::time::Duration;

use common::{PrivateRedis, calls, command_calls, connect, reset_stats};
use forze_core::cache::{Cache, CacheFill, Invalidation};
use forze_redis::{RedisCache, RedisCacheConfig};

const TTL: Duration = Duration::from_secs(60);

fn fill_of(key: &str, rev: i64) -> CacheFill {
    CacheFill::new(key, rev, format!(r#"{{"rev":{rev}}}"#).into_bytes(), TTL)
}

async fn private_cache(server: &PrivateRedis) -> RedisCache {
    let client = connect(&server.url()).await;
    RedisCache::new(
        client,
        RedisCacheConfig::namespace("rt:products").expect("ns"),
    )
}

#[tokio::test]
async fn every_operation_is_one_command() {
    let server = PrivateRedis::start();
    let cache = private_cache(&server).await;
    let mut admin = server.admin();

    // Connecting loaded the five scripts once (and read the epoch with one of them).
    assert_eq!(command_calls(&mut admin).get("script|load"), Some(&5));

    reset_stats(&mut admin);
    assert!(cache.fill(fill_of("a", 1)).await.expect("fill"));
    assert_eq!(
        command_calls(&mut admin),
        calls(&[("evalsha", 1), ("getrange", 1), ("set", 1)]),
        "fill"
    );

    reset_stats(&mut admin);
    assert!(cache.get("a").await.expect("get").is_some());
    assert_eq!(command_calls(&mut admin), calls(&[("get", 1)]), "get hit");

    reset_stats(&mut admin);
    assert!(cache.get("missing").await.expect("get").is_none());
    assert_eq!(command_calls(&mut admin), calls(&[("get", 1)]), "get miss");

    reset_stats(&mut admin);
    let flags = cache
        .fill_many(vec![fill_of("b", 1), fill_of("c", 1), fill_of("a", 1)])
        .await
        .expect("fill_many");
    assert_eq!(flags, vec![true, true, false]);
    assert_eq!(
        command_calls(&mut admin),
        // The rejected fill checks that its key has an expiry (defect 5), inside the script.
        calls(&[("evalsha", 1), ("getrange", 3), ("pttl", 1), ("set", 2)]),
        "fill_many"
    );

    reset_stats(&mut admin);
    let keys: Vec<String> = ["a", "b", "missing", "c"].map(String::from).to_vec();
    let got = cache.get_many(&keys).await.expect("get_many");
    assert_eq!(got.iter().filter(|e| e.is_some()).count(), 3);
    assert_eq!(command_calls(&mut admin), calls(&[("mget", 1)]), "get_many");

    // Lookups are the same commands: the tombstone is in the same reply.
    reset_stats(&mut admin);
    assert!(
        cache
            .lookup("a", None)
            .await
            .expect("lookup")
            .rev()
            .is_some()
    );
    assert_eq!(command_calls(&mut admin), calls(&[("get", 1)]), "lookup");
    reset_stats(&mut admin);
    let found = cache.lookup_many(&keys, None).await.expect("lookup_many");
    assert_eq!(found.len(), 4);
    assert_eq!(
        command_calls(&mut admin),
        calls(&[("mget", 1)]),
        "lookup_many"
    );

    reset_stats(&mut admin);
    let batch: Vec<Invalidation> = ["a", "b", "c", "d"]
        .iter()
        .map(|k| Invalidation::new(*k, 2, TTL))
        .collect();
    cache
        .invalidate_many(&batch)
        .await
        .expect("invalidate_many");
    assert_eq!(
        command_calls(&mut admin),
        calls(&[("evalsha", 1), ("getrange", 4), ("set", 4)]),
        "invalidate_many"
    );

    assert!(cache.fill(fill_of("e", 7)).await.expect("fill"));
    reset_stats(&mut admin);
    cache.evict("e", 7, TTL).await.expect("evict");
    assert_eq!(
        command_calls(&mut admin),
        calls(&[("evalsha", 1), ("getrange", 1), ("set", 1)]),
        "evict"
    );

    // Empty batches cost nothing.
    reset_stats(&mut admin);
    cache.get_many(&[]).await.expect("get_many");
    cache.fill_many(Vec::new()).await.expect("fill_many");
    cache.invalidate_many(&[]).await.expect("invalidate_many");
    assert_eq!(command_calls(&mut admin), calls(&[]), "empty batches");
}

#[tokio::test]
async fn scripts_are_reloaded_after_script_flush() {
    let server = PrivateRedis::start();
    let cache = private_cache(&server).await;
    let mut admin = server.admin();

    let _: () = redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query(&mut admin)
        .expect("SCRIPT FLUSH");
    reset_stats(&mut admin);
    assert!(
        cache
            .fill(fill_of("a", 1))
            .await
            .expect("fill after SCRIPT FLUSH")
    );
    // EVALSHA (NOSCRIPT), SCRIPT LOAD, EVALSHA: never the whole script with EVAL.
    assert_eq!(
        command_calls(&mut admin),
        calls(&[
            ("evalsha", 2),
            ("script|load", 1),
            ("getrange", 1),
            ("set", 1)
        ]),
        "NOSCRIPT recovery"
    );

    reset_stats(&mut admin);
    assert!(cache.fill(fill_of("a", 2)).await.expect("fill"));
    assert_eq!(
        command_calls(&mut admin),
        calls(&[("evalsha", 1), ("getrange", 1), ("set", 1)]),
        "loaded again: one EVALSHA"
    );

    // The other scripts recover on their own first use too.
    let _: () = redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query(&mut admin)
        .expect("SCRIPT FLUSH");
    cache
        .invalidate_many(&[Invalidation::new("a", 3, TTL)])
        .await
        .expect("invalidate after SCRIPT FLUSH");
    assert!(cache.get("a").await.expect("get").is_none());
    assert!(cache.fill(fill_of("b", 1)).await.expect("fill after flush"));
    cache.evict("b", 1, TTL).await.expect("evict after flush");
    assert!(cache.get("b").await.expect("get").is_none());
}
