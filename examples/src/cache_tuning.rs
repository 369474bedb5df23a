//! The opt-ins of the guide's later sections (`docs/recipes/cache-reads.md`): early refresh, the
//! in-process L1 and adaptive lifetimes, each on its own `products` spec.
//!
//! Every module declares its own `Product` (and so its own `PRODUCT_SPEC`, `ProductCreate`, …):
//! one spec per document name per runtime, so run each on a runtime of its own — they all fit
//! [`build_memory_runtime`](crate::cache_reads::build_memory_runtime) and
//! [`build_runtime`](crate::cache_reads::build_runtime), which register `products`.
//!
//! - [`early_refresh`], [`background_refresh`]: XFetch, inline and in the background.
//! - [`hot`]: an L1 in front of the shared cache, and [`hot::l1_scenario`], read-your-writes.
//! - [`scan_resistant`]: the same L1 on the W-TinyLFU store.
//! - [`age_based`], [`sliding`], [`adaptive`]: lifetimes from the document's age, from its
//!   reads, and both.
//! - [`push`]: Redis push invalidation of the L1 across replicas.
//!
//! The guide includes the regions marked `ANCHOR` below; `examples/tests/cache_tuning.rs` checks
//! what the guide says about them.

/// Early refresh (XFetch), inline: an elected reader recomputes before answering.
pub mod early_refresh {
    // ANCHOR: early_refresh
    #[derive(forze_core::Document)]
    #[document_spec(name = "products", cache(name = "products", early_refresh_beta = 1.0))]
    pub struct Product {
        pub name: String,
        pub price: i32,
    }
    // ANCHOR_END: early_refresh
}

/// Early refresh in the background: an elected reader answers with the cached value at once.
pub mod background_refresh {
    // ANCHOR: background_refresh
    #[derive(forze_core::Document)]
    #[document_spec(
        name = "products",
        cache(
            name = "products",
            early_refresh_beta = 1.0,
            early_refresh_background = true
        )
    )]
    pub struct Product {
        pub name: String,
        pub price: i32,
    }
    // ANCHOR_END: background_refresh
}

/// An L1 for hot documents (LRU, the default store).
pub mod hot {
    use forze_core::l1::L1Stats;
    use forze_core::{Error, ErrorKind, ExecutionContext, Result};

    // ANCHOR: l1
    #[derive(forze_core::Document)]
    #[document_spec(
        name = "products",
        cache(name = "products", l1(ttl = "2s", capacity = 1024))
    )]
    pub struct Product {
        pub name: String,
        pub price: i32,
    }
    // ANCHOR_END: l1

    // ANCHOR: l1_scenario
    /// Read a product twice (the second read never leaves the process), update it, and read it
    /// again: this replica reads its own write at once. Returns the L1's counters.
    ///
    /// # Errors
    ///
    /// The ports' errors, or `Internal` if the read after the update saw the old price.
    pub async fn l1_scenario(ctx: &ExecutionContext) -> Result<L1Stats> {
        let docs = ctx.document().command(&PRODUCT_SPEC)?;
        let query = ctx.document().query(&PRODUCT_SPEC)?;

        let product = docs
            .create(ProductCreate {
                name: "Widget".into(),
                price: 10,
            })
            .await?;
        query.get(product.id).await?; // miss → store; fills the shared cache and the L1
        query.get(product.id).await?; // L1 hit: no I/O, nothing to decode

        let update = ProductUpdate {
            price: Some(12),
            ..Default::default()
        };
        docs.update(product.id, product.rev, update).await?; // drops the id from this L1
        let fresh = query.get(product.id).await?; // read-your-writes on this replica
        if fresh.price != 12 {
            return Err(Error::new(ErrorKind::Internal, "read the old price"));
        }

        let stats = ctx.cache(&PRODUCT_SPEC)?.stats(); // every counter of the spec's lane
        stats
            .l1
            .ok_or_else(|| Error::new(ErrorKind::Internal, "the spec has an L1"))
    }
    // ANCHOR_END: l1_scenario
}

/// The same L1 on the W-TinyLFU store, for hot sets under scan pressure.
pub mod scan_resistant {
    // ANCHOR: tiny_lfu
    #[derive(forze_core::Document)]
    #[document_spec(
        name = "products",
        cache(name = "products", l1(ttl = "2s", capacity = 1024, store = "tiny_lfu"))
    )]
    pub struct Product {
        pub name: String,
        pub price: i32,
    }
    // ANCHOR_END: tiny_lfu
}

/// Lifetimes from the document's age (HTTP heuristic freshness).
pub mod age_based {
    // ANCHOR: age_ttl
    #[derive(forze_core::Document)]
    #[document_spec(
        name = "products",
        cache(ttl = "1h", age_ttl(alpha = 0.1, min_ttl = "30s", max_ttl = "1h"))
    )]
    pub struct Product {
        pub name: String,
        pub price: i32,
    }
    // ANCHOR_END: age_ttl
}

/// Sliding expiration: entries live while they are read, within `ttl`.
pub mod sliding {
    // ANCHOR: sliding_ttl
    #[derive(forze_core::Document)]
    #[document_spec(name = "products", cache(ttl = "1h", sliding_ttl = "60s"))]
    pub struct Product {
        pub name: String,
        pub price: i32,
    }
    // ANCHOR_END: sliding_ttl
}

/// Both: the age sets each entry's cap, reads keep it alive within the cap.
pub mod adaptive {
    // ANCHOR: adaptive
    #[derive(forze_core::Document)]
    #[document_spec(
        name = "products",
        cache(
            ttl = "1h",
            age_ttl(alpha = 0.1, min_ttl = "30s", max_ttl = "1h"),
            sliding_ttl = "60s"
        )
    )]
    pub struct Product {
        pub name: String,
        pub price: i32,
    }
    // ANCHOR_END: adaptive
}

/// Push invalidation: Redis tells every replica's L1 when a product changes.
pub mod push {
    use forze_core::Result;
    use forze_core::runtime::DepsModule;
    use forze_redis::{RedisCacheConfig, RedisClient, RedisDepsModule};

    /// The Redis module of [`build_runtime`](crate::cache_reads::build_runtime), with push
    /// invalidation on. Pair it with a spec that has an `l1(...)`, such as [`super::hot`].
    ///
    /// # Errors
    ///
    /// `Config` if the namespace is invalid.
    pub fn redis_module(redis: RedisClient) -> Result<Box<dyn DepsModule>> {
        // ANCHOR: push
        let module = RedisDepsModule::new(redis)
            .cache(
                "products",
                RedisCacheConfig::namespace("app:products")?.invalidation_push(true),
            )
            .boxed();
        // ANCHOR_END: push
        Ok(module)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn builds_without_a_server() {
            let client = RedisClient::new(forze_redis::RedisConfig::default()).expect("client");
            assert!(format!("{:?}", redis_module(client).expect("module")).contains("products"));
        }
    }
}
