//! Every key of the `#[document_spec]` grammar at once, with a user L1 store factory.

use std::time::Duration;

use forze_core::l1::{L1Config, L1Key, L1Stats, L1Store, L1Value};
use forze_core::{AgeBasedTtl, Document, L1StoreKind};

mod stores {
    use super::*;

    /// A store that keeps nothing: enough to check the factory is wired.
    #[derive(Debug)]
    pub struct NoStore {
        pub capacity: usize,
    }

    impl L1Store for NoStore {
        fn get(&self, _key: &L1Key) -> Option<L1Value> {
            None
        }
        fn insert(&self, _key: L1Key, _value: L1Value) {}
        fn remove(&self, _key: &L1Key) -> bool {
            false
        }
        fn clear(&self) {}
        fn stats(&self) -> L1Stats {
            L1Stats::default()
        }
    }

    pub fn no_store(config: &L1Config) -> Box<dyn L1Store> {
        Box::new(NoStore {
            capacity: config.capacity,
        })
    }
}

#[derive(Document)]
#[document_spec(
    name = "products",
    cache(
        name = "product_cache",
        ttl = "2h",
        early_refresh_beta = 1.5,
        early_refresh_background = true,
        sliding_ttl = "60s",
        age_ttl(alpha = 0.1, min_ttl = "30s", max_ttl = "1h"),
        l1(ttl = "2s", capacity = 512, store = stores::no_store),
    ),
)]
pub struct Product {
    pub name: String,
    pub price: i32,
}

#[derive(Document)]
#[document_spec(cache(early_refresh_beta = 2, l1(ttl = "1s", store = "lru")))]
pub struct IntBeta {
    pub a: bool,
}

fn main() {
    assert_eq!(PRODUCT_SPEC.name, "products");
    let spec = PRODUCT_SPEC;
    let cache = spec.cache.as_ref().expect("cache configured");
    assert_eq!(cache.name, "product_cache");
    assert_eq!(cache.ttl, Duration::from_secs(2 * 3600));
    assert_eq!(cache.early_refresh_beta, Some(1.5));
    assert!(cache.early_refresh_background);
    assert_eq!(cache.sliding_ttl, Some(Duration::from_secs(60)));
    assert_eq!(
        cache.age_ttl,
        Some(AgeBasedTtl::new(0.1, Duration::from_secs(30), Duration::from_secs(3600)).unwrap())
    );
    let l1 = cache.l1.expect("l1 configured");
    assert_eq!(l1.ttl, Duration::from_secs(2));
    assert_eq!(l1.capacity, 512);
    assert_eq!(l1.store, L1StoreKind::Custom(stores::no_store));
    cache
        .validate()
        .expect("the derive only accepts valid specs");

    // the factory in the spec is the user's function
    let L1StoreKind::Custom(factory) = l1.store else {
        panic!("a custom store");
    };
    let config = L1Config::new(l1.capacity, l1.ttl, forze_core::clock::system_clock());
    let store = factory(&config);
    assert!(format!("{store:?}").contains("NoStore { capacity: 512 }"));

    let spec = INT_BETA_SPEC;
    let cache = spec.cache.as_ref().expect("cache configured");
    assert_eq!(cache.early_refresh_beta, Some(2.0));
    assert_eq!(cache.l1.map(|l1| l1.store), Some(L1StoreKind::Lru));
    assert_eq!(<Product as Document>::FIELDS.len(), 2);
}
