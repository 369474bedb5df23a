//! The "cache reads" recipe (`reference/seed-cache-reads.md`, DESIGN §1): attach a cache to the
//! `products` spec, wire a cache backend under the same logical name, and the handlers do not
//! change: reads are served from the cache, writes invalidate, a read after a write is fresh.
//!
//! - [`build_runtime`]: Postgres stores the products, Redis caches their reads.
//! - [`build_memory_runtime`]: the same wiring on the embedded in-memory backends.
//! - [`cache_scenario`]: the backend-agnostic handler (create, read twice, update, read);
//!   [`cache_scenario_narrated`] walks the same steps and says what the cache did at each.
//! - [`create_products_table`] / [`remove_product`]: demo housekeeping on a real server.
//!
//! The guide page `docs/recipes/cache-reads.md` includes the regions marked `ANCHOR` below.

use forze_core::memory::MemoryDepsModule;
use forze_core::prelude::*;
use forze_core::{
    CacheStats, DepsRegistry, Error, ErrorKind, ExecutionContext, ExecutionRuntime, LifecyclePlan,
    Result,
};
use forze_postgres::{
    PostgresClient, PostgresDepsModule, PostgresDocumentConfig, PostgresLifecycleModule,
    create_table_sql,
};
use forze_redis::{
    RedisCache, RedisCacheConfig, RedisClient, RedisDepsModule, redis_lifecycle_step,
};

use uuid::Uuid;

use crate::product::{PRODUCT_SPEC, Product, ProductCreate, ProductRead, ProductUpdate};

/// The Postgres schema of the recipe's `products` table, as written in [`build_runtime`]
/// (the end-to-end tests check that they agree).
pub const PRODUCTS_SCHEMA: &str = "forze_recipe";

/// The Redis key namespace of the `products` cache, as written in [`build_runtime`].
pub const PRODUCTS_NAMESPACE: &str = "app:products";

// ANCHOR: build_runtime
/// Postgres stores the products, Redis answers the repeat reads. Both are registered under the
/// logical name `products`; the lifecycle plan connects them at startup and closes them at
/// shutdown.
///
/// # Errors
///
/// `Config` if a name is registered twice or the Redis namespace is invalid.
pub fn build_runtime(
    pg: PostgresClient,
    redis: RedisClient,
    pg_dsn: &str,
    redis_dsn: &str,
) -> Result<ExecutionRuntime> {
    let deps = DepsRegistry::from_modules([
        PostgresDepsModule::new(pg.clone())
            .rw_document(
                "products",
                PostgresDocumentConfig::table("forze_recipe", "products"),
            )
            .tx("products")
            .boxed(),
        // caches keyed by CacheSpec.name — this is the whole "cache reads" step
        RedisDepsModule::new(redis.clone())
            .cache("products", RedisCacheConfig::namespace("app:products")?)
            .boxed(),
    ]);
    let lifecycle = LifecyclePlan::from_modules([PostgresLifecycleModule::new(pg, pg_dsn).boxed()])
        .with_steps([redis_lifecycle_step(redis, redis_dsn)]);
    Ok(ExecutionRuntime::new(deps.freeze()?, lifecycle.freeze()?))
}
// ANCHOR_END: build_runtime

/// The table [`build_runtime`] stores products in: `forze_recipe.products`
/// ([`PRODUCTS_SCHEMA`]).
pub fn products_table() -> PostgresDocumentConfig {
    PostgresDocumentConfig::table(PRODUCTS_SCHEMA, "products")
}

/// The embedded backends: the in-memory store for `products` (with a transaction route) and,
/// under the cache name `products`, the in-memory cache. Nothing to start or stop.
///
/// # Errors
///
/// `Config` if the wiring is inconsistent (it is not).
pub fn build_memory_runtime() -> Result<ExecutionRuntime> {
    let deps = DepsRegistry::from_modules([MemoryDepsModule::new()
        .document("products")
        .tx("products")
        // caches keyed by CacheSpec.name
        .cache("products")
        .boxed()]);
    Ok(ExecutionRuntime::new(
        deps.freeze()?,
        LifecyclePlan::new().freeze()?,
    ))
}

/// Create the schema and the `products` table of [`products_table`] if they are missing
/// ([`create_table_sql`]). Needs a connected client: call it inside the runtime's scope.
///
/// Concurrent callers (two runs, parallel tests) are serialized by a transaction-level advisory
/// lock, so `IF NOT EXISTS` cannot race.
///
/// # Errors
///
/// The client's error: `Config` if it is not connected, or the database's.
pub async fn create_products_table(pg: &PostgresClient) -> Result<()> {
    let table = products_table();
    // One simple-protocol script runs as one implicit transaction: the lock is held until the
    // table exists.
    let script = format!(
        "SELECT pg_advisory_xact_lock(7431604391651201); \
         CREATE SCHEMA IF NOT EXISTS \"{PRODUCTS_SCHEMA}\"; {};",
        create_table_sql(&table, Product::FIELDS)
    );
    pg.execute(&script).await
}

/// Remove what one run of the recipe left behind: the product's row and its cache key (the key
/// layout is `RedisCache`'s, `fz:<len>:<namespace>:{<id>}`). Nothing else on either server is
/// touched, so a shared server is left as it was found.
///
/// # Errors
///
/// `Config` if the clients are not connected or `redis_dsn` does not parse; `Unavailable` if a
/// server does not answer.
pub async fn remove_product(
    pg: &PostgresClient,
    redis: &RedisClient,
    redis_dsn: &str,
    product: &ProductRead,
) -> Result<()> {
    pg.execute(&format!(
        "DELETE FROM {} WHERE id = '{}'",
        products_table().qualified_name(),
        product.id
    ))
    .await?;
    let key = product_cache_key(redis, product.id)?;
    let client = redis::Client::open(redis_dsn)
        .map_err(|e| Error::config("invalid redis url for the clean-up").with_source(e))?;
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .map_err(|e| unavailable("redis clean-up connection failed", e))?;
    redis::cmd("DEL")
        .arg(&key)
        .query_async::<i64>(&mut conn)
        .await
        .map_err(|e| unavailable("redis clean-up `DEL` failed", e))?;
    Ok(())
}

/// The Redis key the `products` cache of [`build_runtime`] keeps `id` under.
///
/// # Errors
///
/// Never for [`PRODUCTS_NAMESPACE`] (a valid namespace).
pub fn product_cache_key(redis: &RedisClient, id: Uuid) -> Result<String> {
    let cache = RedisCache::new(
        redis.clone(),
        RedisCacheConfig::namespace(PRODUCTS_NAMESPACE)?,
    );
    Ok(format!("{}{{{id}}}", cache.key_prefix()))
}

// ANCHOR: cache_scenario
/// The recipe's handler: create a product, read it (a miss fills the cache), update it (the
/// write invalidates), read it again (fresh). Returns the refreshed product, at price 12.
///
/// It does not know which backends it runs on.
///
/// # Errors
///
/// The ports' errors, or `Internal` if the cache did not behave as the recipe says.
pub async fn cache_scenario(ctx: &ExecutionContext) -> Result<ProductRead> {
    let docs = ctx.document().command(&PRODUCT_SPEC)?;
    let query = ctx.document().query(&PRODUCT_SPEC)?;
    let cache = ctx.cache(&PRODUCT_SPEC)?;

    let product = docs
        .create(ProductCreate {
            name: "Widget".into(),
            price: 10,
        })
        .await?;
    query.get(product.id).await?; // miss → fills the cache
    let cached = cache.get(&product.id.to_string()).await?;
    ensure(cached.is_some(), "the first read should fill the cache")?; // cached now

    let update = ProductUpdate {
        price: Some(12),
        ..Default::default()
    };
    docs.update(product.id, product.rev, update).await?; // invalidates
    let fresh = query.get(product.id).await?; // repopulates, new value
    ensure(
        fresh.price == 12,
        "the read after the update should see price 12",
    )?;
    Ok(fresh)
}
// ANCHOR_END: cache_scenario

/// The steps of [`cache_scenario`], with a line for `narrate` after each, saying what the cache
/// did (from the lane's counters and the raw entry), and stricter checks: the first read must
/// miss and fill, the second must hit without a store read, the update must leave no entry.
///
/// # Errors
///
/// As [`cache_scenario`].
pub async fn cache_scenario_narrated(
    ctx: &ExecutionContext,
    mut narrate: impl FnMut(String),
) -> Result<ProductRead> {
    let docs = ctx.document().command(&PRODUCT_SPEC)?;
    let query = ctx.document().query(&PRODUCT_SPEC)?;
    let cache = ctx.cache(&PRODUCT_SPEC)?;

    let product = docs
        .create(ProductCreate {
            name: "Widget".into(),
            price: 10,
        })
        .await?;
    let key = product.id.to_string();
    narrate(format!(
        "create: {} `{}` at rev {}, price {}",
        product.id, product.name, product.rev, product.price
    ));

    let before = cache.stats();
    query.get(product.id).await?;
    let after = cache.stats();
    ensure(
        after.misses == before.misses + 1
            && after.store_reads == before.store_reads + 1
            && after.fills == before.fills + 1,
        "the first read should miss, read the store once and fill the cache",
    )?;
    let Some(entry) = cache.get(&key).await? else {
        return Err(unexpected("the first read should fill the cache"));
    };
    ensure(
        entry.rev == product.rev,
        "the cache should hold the rev read",
    )?;
    narrate(format!(
        "get:    miss → read the store, filled the cache at rev {} ({} bytes)",
        entry.rev,
        entry.payload.len()
    ));

    let before = cache.stats();
    let again = query.get(product.id).await?;
    let after = cache.stats();
    ensure(
        after.hits == before.hits + 1 && after.store_reads == before.store_reads,
        "the second read should be a cache hit, without a store read",
    )?;
    ensure(
        again.price == 10,
        "the hit should return the product as created",
    )?;
    narrate(format!(
        "get:    hit → served from the cache, no store read ({})",
        counters(&after)
    ));

    let updated = docs
        .update(
            product.id,
            product.rev,
            ProductUpdate {
                price: Some(12),
                ..Default::default()
            },
        )
        .await?;
    ensure(
        cache.get(&key).await?.is_none(),
        "the update should invalidate the cached entry",
    )?;
    narrate(format!(
        "update: price 12 at rev {} → entry invalidated (a tombstone at rev {} rejects any older fill)",
        updated.rev, updated.rev
    ));

    let before = cache.stats();
    let fresh = query.get(product.id).await?;
    let after = cache.stats();
    ensure(
        fresh.price == 12 && fresh.rev == updated.rev,
        "the read after the update should see price 12 at the new rev",
    )?;
    ensure(
        after.store_reads == before.store_reads + 1 && after.fills == before.fills + 1,
        "the read after the update should read the store and refill the cache",
    )?;
    let refilled = cache.get(&key).await?.map(|e| e.rev);
    ensure(
        refilled == Some(updated.rev),
        "the cache should hold the new rev",
    )?;
    narrate(format!(
        "get:    miss → refreshed from the store, price {} at rev {}, cached again ({})",
        fresh.price,
        fresh.rev,
        counters(&after)
    ));
    Ok(fresh)
}

fn counters(stats: &CacheStats) -> String {
    format!(
        "hits {}, misses {}, store reads {}",
        stats.hits, stats.misses, stats.store_reads
    )
}

fn ensure(ok: bool, what: &'static str) -> Result<()> {
    if ok { Ok(()) } else { Err(unexpected(what)) }
}

fn unexpected(what: &'static str) -> Error {
    Error::new(ErrorKind::Internal, what)
}

fn unavailable(what: &'static str, err: redis::RedisError) -> Error {
    Error::new(ErrorKind::Unavailable, what).with_source(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::time::Duration;

    #[tokio::test]
    async fn the_scenario_runs_on_the_memory_backends() {
        let runtime = build_memory_runtime().unwrap();
        let fresh = tokio::time::timeout(
            Duration::from_secs(10),
            runtime.scope(|ctx| async move { cache_scenario(&ctx).await }),
        )
        .await
        .expect("watchdog")
        .unwrap();
        assert_eq!(
            (fresh.name.as_str(), fresh.price, fresh.rev),
            ("Widget", 12, 2)
        );
    }

    #[tokio::test]
    async fn the_narrated_scenario_runs_on_the_memory_backends() {
        let runtime = build_memory_runtime().unwrap();
        let (product, lines) = tokio::time::timeout(
            Duration::from_secs(10),
            runtime.scope(|ctx| async move {
                let mut lines = Vec::new();
                let product = cache_scenario_narrated(&ctx, |l| lines.push(l)).await?;
                Ok((product, lines))
            }),
        )
        .await
        .expect("watchdog")
        .unwrap();
        assert_eq!((product.price, product.rev), (12, 2));
        assert_eq!(lines.len(), 5, "{lines:#?}");
        assert!(lines[0].starts_with("create:"), "{}", lines[0]);
        assert!(lines[1].starts_with("get:    miss"), "{}", lines[1]);
        assert!(lines[2].starts_with("get:    hit"), "{}", lines[2]);
        assert!(lines[3].starts_with("update:"), "{}", lines[3]);
        assert!(lines[4].contains("price 12 at rev 2"), "{}", lines[4]);
    }

    #[test]
    fn the_cache_key_follows_the_redis_layout() {
        let redis = RedisClient::new(forze_redis::RedisConfig::default()).unwrap();
        let id = Uuid::nil();
        assert_eq!(
            product_cache_key(&redis, id).unwrap(),
            format!("fz:12:app:products:{{{id}}}")
        );
    }
}
