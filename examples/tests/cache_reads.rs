//! The cache_reads recipe end to end on real Postgres + Redis (`FORZE_TEST_POSTGRES_URL`,
//! `FORZE_TEST_REDIS_URL`; `just test` provides them). The recipe's table lives in its own
//! schema (`forze_recipe`) and every run touches only the row and the cache key of the product it
//! creates, which it removes at the end.

use std::time::Duration;

use forze_core::{ErrorKind, Result};
use forze_examples::cache_reads::{
    build_runtime, cache_scenario, cache_scenario_narrated, create_products_table,
    product_cache_key, remove_product,
};
use forze_examples::product::{PRODUCT_SPEC, ProductRead};
use forze_postgres::PostgresClient;
use forze_redis::{RedisClient, RedisConfig};
use forze_testkit::{test_postgres_url, test_redis_url};

const WATCHDOG: Duration = Duration::from_secs(60);

async fn raw_redis(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .expect("redis url")
        .get_multiplexed_async_connection()
        .await
        .expect("raw redis connection")
}

async fn raw_get(conn: &mut redis::aio::MultiplexedConnection, key: &str) -> Option<Vec<u8>> {
    redis::cmd("GET")
        .arg(key)
        .query_async(conn)
        .await
        .expect("raw GET")
}

/// Run `body` on a fresh recipe runtime on the test servers, after creating the table.
async fn on_servers<T, F, Fut>(body: F) -> Result<T>
where
    F: FnOnce(forze_core::ExecutionContext, PostgresClient, RedisClient) -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let (pg_url, redis_url) = (test_postgres_url(), test_redis_url());
    let pg = PostgresClient::new();
    let redis = RedisClient::new(RedisConfig::default())?;
    let runtime = build_runtime(pg.clone(), redis.clone(), &pg_url, &redis_url)?;
    runtime
        .scope(|ctx| async move {
            create_products_table(&pg).await?;
            body(ctx, pg, redis).await
        })
        .await
}

#[tokio::test]
async fn the_recipe_runs_on_postgres_and_redis() {
    let redis_url = test_redis_url();
    let mut raw = raw_redis(&redis_url).await;
    let (fresh, key, cached) = tokio::time::timeout(
        WATCHDOG,
        on_servers(|ctx, _pg, redis| async move {
            let fresh = cache_scenario(&ctx).await?;
            let key = product_cache_key(&redis, fresh.id)?;
            let cached = ctx.cache(&PRODUCT_SPEC)?.get(&fresh.id.to_string()).await?;
            Ok((fresh, key, cached))
        }),
    )
    .await
    .expect("watchdog")
    .expect("scenario");
    assert_eq!(
        (fresh.name.as_str(), fresh.price, fresh.rev),
        ("Widget", 12, 2)
    );
    let cached = cached.expect("the last read refilled the cache");
    assert_eq!(cached.rev, 2);
    let cached: ProductRead = serde_json::from_slice(&cached.payload).expect("json");
    assert_eq!(cached.price, 12);

    // The entry is really in Redis, under the documented key, with the refreshed payload.
    let value = raw_get(&mut raw, &key).await.expect("the key is in redis");
    let text = String::from_utf8_lossy(&value);
    assert!(text.contains(r#""price":12"#), "{text}");

    // Clean up, and check that both the row and the key are gone.
    let (after, exists) = tokio::time::timeout(
        WATCHDOG,
        on_servers(|ctx, pg, redis| async move {
            remove_product(&pg, &redis, &redis_url, &fresh).await?;
            let exists = raw_get(&mut raw, &key).await.is_some();
            let after = ctx.document().query(&PRODUCT_SPEC)?.get(fresh.id).await;
            Ok((after, exists))
        }),
    )
    .await
    .expect("watchdog")
    .expect("clean-up");
    assert!(!exists, "the cache key was removed");
    let err = after.expect_err("the row was removed");
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
}

#[tokio::test]
async fn the_narrated_recipe_runs_on_postgres_and_redis() {
    let redis_url = test_redis_url();
    let (product, lines) = tokio::time::timeout(
        WATCHDOG,
        on_servers(|ctx, pg, redis| async move {
            let mut lines = Vec::new();
            let product = cache_scenario_narrated(&ctx, |l| lines.push(l)).await?;
            remove_product(&pg, &redis, &redis_url, &product).await?;
            Ok((product, lines))
        }),
    )
    .await
    .expect("watchdog")
    .expect("scenario");
    assert_eq!((product.price, product.rev), (12, 2));
    assert_eq!(lines.len(), 5, "{lines:#?}");
    assert!(lines[1].starts_with("get:    miss"), "{}", lines[1]);
    assert!(lines[2].starts_with("get:    hit"), "{}", lines[2]);
    assert!(
        lines[3].starts_with("update: price 12 at rev 2"),
        "{}",
        lines[3]
    );
    assert!(lines[4].contains("price 12 at rev 2"), "{}", lines[4]);
}

/// Two runs at once (two processes running the example, or parallel tests) both create the
/// table if missing and do not see each other's products.
#[tokio::test]
async fn concurrent_runs_share_the_table_safely() {
    let redis_url = test_redis_url();
    let run = || {
        let redis_url = redis_url.clone();
        on_servers(|ctx, pg, redis| async move {
            let product = cache_scenario(&ctx).await?;
            remove_product(&pg, &redis, &redis_url, &product).await?;
            Ok(product)
        })
    };
    let (a, b) = tokio::time::timeout(WATCHDOG, async { tokio::join!(run(), run()) })
        .await
        .expect("watchdog");
    let (a, b) = (a.expect("first run"), b.expect("second run"));
    assert_ne!(a.id, b.id);
    assert_eq!((a.price, a.rev, b.price, b.rev), (12, 2, 12, 2));
}

/// An unreachable Redis fails the startup with a clear error, and the scenario does not run.
#[tokio::test]
async fn an_unreachable_redis_fails_startup() {
    let pg = PostgresClient::new();
    let redis = RedisClient::new(RedisConfig::default()).expect("config");
    let runtime =
        build_runtime(pg, redis, &test_postgres_url(), "redis://127.0.0.1:1").expect("wiring");
    let ran = std::sync::atomic::AtomicBool::new(false);
    let ran_ref = &ran;
    let result = tokio::time::timeout(
        WATCHDOG,
        runtime.scope(|ctx| async move {
            ran_ref.store(true, std::sync::atomic::Ordering::SeqCst);
            cache_scenario(&ctx).await
        }),
    )
    .await
    .expect("watchdog");
    let err = result.expect_err("startup must fail");
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    let mut chain = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        chain.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    assert!(chain.contains("`redis`"), "{chain}");
    assert!(chain.contains("127.0.0.1:1"), "{chain}");
    assert!(!ran.load(std::sync::atomic::Ordering::SeqCst));
}
