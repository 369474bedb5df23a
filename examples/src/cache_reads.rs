//! The "cache reads" recipe (`reference/seed-cache-reads.md`, DESIGN §1): attach a cache to the
//! `products` spec, wire a cache backend under the same logical name, and the handlers do not
//! change: reads are served from the cache, writes invalidate, a read after a write is fresh.
//!
//! [`cache_scenario`] is backend-agnostic: it runs on whatever runtime it is given (in-memory
//! backends here; Postgres + Redis with the adapters).

use forze_core::memory::MemoryDepsModule;
use forze_core::prelude::*;
use forze_core::{
    CacheStats, DepsRegistry, Error, ErrorKind, ExecutionContext, ExecutionRuntime, LifecyclePlan,
    Result,
};

use crate::product::{PRODUCT_SPEC, ProductCreate, ProductRead, ProductUpdate};

/// A runtime over `modules` (the backends, by logical name) and `lifecycle`.
///
/// # Errors
///
/// `Config` if two modules register the same kind and name, or two lifecycle steps share a
/// name.
pub fn build_runtime(
    modules: impl IntoIterator<Item = Box<dyn DepsModule>>,
    lifecycle: LifecyclePlan,
) -> Result<ExecutionRuntime> {
    let deps = DepsRegistry::from_modules(modules);
    Ok(ExecutionRuntime::new(deps.freeze()?, lifecycle.freeze()?))
}

/// The modules of the embedded backends: the in-memory store for `products` (with a
/// transaction route) and, under the cache name `products` — this is the whole "cache reads"
/// step — the in-memory cache.
pub fn memory_modules() -> Vec<Box<dyn DepsModule>> {
    vec![
        MemoryDepsModule::new()
            .document("products")
            .tx("products")
            // caches keyed by CacheSpec.name
            .cache("products")
            .boxed(),
    ]
}

/// [`build_runtime`] on the embedded backends (nothing to start or stop).
///
/// # Errors
///
/// As [`build_runtime`] (never, for these modules).
pub fn build_memory_runtime() -> Result<ExecutionRuntime> {
    build_runtime(memory_modules(), LifecyclePlan::new())
}

/// The recipe's scenario: create a product, read it (miss: fills the cache), read it again
/// (hit), update it (invalidates), read it (fresh). Returns the refreshed product (price 12).
///
/// # Errors
///
/// The ports' errors, or `Internal` if the cache did not behave as the recipe says (a read did
/// not fill it, a write did not invalidate it, a read after the write was stale).
pub async fn cache_scenario(ctx: &ExecutionContext) -> Result<ProductRead> {
    cache_scenario_narrated(ctx, |_| {}).await
}

/// [`cache_scenario`], telling `narrate` what happened at each step.
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
    narrate(format!(
        "create: {} `{}` at rev {}, price {}",
        product.id, product.name, product.rev, product.price
    ));

    let before = cache.stats();
    query.get(product.id).await?; // miss: fills the cache
    let after = cache.stats();
    expect(
        after.misses > before.misses && after.fills > before.fills,
        "the first read should miss and fill the cache",
    )?;
    let entry = cache.get(&product.id.to_string()).await?;
    let Some(entry) = entry else {
        return Err(unexpected("expected the read to fill the cache"));
    };
    narrate(format!(
        "get:    miss, read the store, filled the cache at rev {} ({} bytes)",
        entry.rev,
        entry.payload.len()
    ));

    let before = cache.stats();
    query.get(product.id).await?; // hit: no store read
    let after = cache.stats();
    expect(
        after.hits == before.hits + 1 && after.store_reads == before.store_reads,
        "the second read should be a cache hit",
    )?;
    narrate(format!(
        "get:    hit, served from the cache ({})",
        counters(&after)
    ));

    let updated = docs
        .update(
            product.id,
            product.rev,
            ProductUpdate {
                price: Some(12),
                ..ProductUpdate::default()
            },
        )
        .await?;
    expect(
        cache.get(&product.id.to_string()).await?.is_none(),
        "the update should invalidate the cached entry",
    )?;
    narrate(format!(
        "update: price 12 at rev {}, cache entry invalidated (tombstone at rev {})",
        updated.rev, updated.rev
    ));

    let fresh = query.get(product.id).await?; // never stale
    expect(
        fresh.price == 12,
        "the read after the update should see price 12",
    )?;
    let refilled = cache.get(&product.id.to_string()).await?.map(|e| e.rev);
    narrate(format!(
        "get:    miss, refilled at rev {}, price {} ({})",
        refilled.unwrap_or_default(),
        fresh.price,
        counters(&cache.stats())
    ));
    Ok(fresh)
}

fn counters(stats: &CacheStats) -> String {
    format!(
        "hits {}, misses {}, store reads {}, invalidations {}",
        stats.hits, stats.misses, stats.store_reads, stats.invalidations
    )
}

fn expect(ok: bool, what: &'static str) -> Result<()> {
    if ok { Ok(()) } else { Err(unexpected(what)) }
}

fn unexpected(what: &'static str) -> Error {
    Error::new(ErrorKind::Internal, what)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_scenario_runs_on_the_memory_backends() {
        let runtime = build_memory_runtime().unwrap();
        let mut lines = Vec::new();
        let fresh = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            runtime.scope(|ctx| async move {
                cache_scenario_narrated(&ctx, |l| lines.push(l))
                    .await
                    .map(|p| (p, lines))
            }),
        )
        .await
        .expect("watchdog")
        .unwrap();
        let (product, lines) = fresh;
        assert_eq!((product.price, product.rev), (12, 2));
        assert_eq!(lines.len(), 5);
        assert!(lines[1].starts_with("get:    miss"));
        assert!(lines[2].starts_with("get:    hit"));
        assert!(lines[4].contains("refilled at rev 2"));
    }
}
