//! [`RedisDepsModule`]: registers Redis caches by logical name.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use forze_core::runtime::{DepsModule, Registrations};

use crate::cache::RedisCache;
use crate::client::RedisClient;
use crate::config::RedisCacheConfig;

/// Registers one [`RedisCache`] per cache name (`CacheSpec::name`), all on one [`RedisClient`].
///
/// # Examples
///
/// ```
/// use forze_core::runtime::DepsModule;
/// use forze_redis::{RedisCacheConfig, RedisClient, RedisConfig, RedisDepsModule};
///
/// # fn example() -> forze_core::Result<()> {
/// let client = RedisClient::new(RedisConfig::default())?;
/// let module = RedisDepsModule::new(client)
///     .cache("products", RedisCacheConfig::namespace("app:products")?)
///     .cache("orders", RedisCacheConfig::namespace("app:orders")?);
/// assert_eq!(module.name(), "redis");
/// let boxed: Box<dyn DepsModule> = module.boxed();
/// # let _ = boxed;
/// # Ok(())
/// # }
/// # example().unwrap();
/// ```
#[derive(Clone)]
pub struct RedisDepsModule {
    client: RedisClient,
    caches: Vec<(Cow<'static, str>, RedisCacheConfig)>,
}

impl RedisDepsModule {
    /// A module whose caches use `client`.
    pub fn new(client: RedisClient) -> Self {
        RedisDepsModule {
            client,
            caches: Vec::new(),
        }
    }

    /// Register the cache named `name` (the document's `CacheSpec::name`) under `config`.
    #[must_use]
    pub fn cache(mut self, name: impl Into<Cow<'static, str>>, config: RedisCacheConfig) -> Self {
        self.caches.push((name.into(), config));
        self
    }
}

impl DepsModule for RedisDepsModule {
    fn name(&self) -> &str {
        "redis"
    }

    fn register(&self, deps: &mut Registrations) {
        for (name, config) in &self.caches {
            let cache = RedisCache::new(self.client.clone(), config.clone());
            deps.cache(name.clone(), Arc::new(cache));
        }
    }
}

impl fmt::Debug for RedisDepsModule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for (name, config) in &self.caches {
            map.entry(name, &config.namespace_str());
        }
        map.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RedisConfig;

    #[test]
    fn registers_one_cache_per_name() {
        let client = RedisClient::new(RedisConfig::default()).expect("valid");
        let module = RedisDepsModule::new(client)
            .cache(
                "products",
                RedisCacheConfig::namespace("app:products").expect("ns"),
            )
            .cache(
                "orders",
                RedisCacheConfig::namespace("app:orders").expect("ns"),
            );
        let shown = format!("{module:?}");
        assert!(shown.contains(r#""products": "app:products""#), "{shown}");
        let mut deps = Registrations::default();
        module.register(&mut deps);
        let registered = format!("{deps:?}");
        assert_eq!(registered.matches("cache").count(), 2, "{registered}");
        assert!(registered.contains("`products`"), "{registered}");
        assert!(registered.contains("`orders`"), "{registered}");
    }
}
