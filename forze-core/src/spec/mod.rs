//! The spec types `#[derive(Document)]` fills, also buildable at run time.

mod cache;
mod document;
mod duration;
mod index;
mod tenancy;

pub use cache::{
    AgeBasedTtl, CacheSpec, CacheSpecBuilder, DEFAULT_CACHE_TTL, DEFAULT_L1_CAPACITY, L1Spec,
    L1StoreFactory, L1StoreKind,
};
pub use document::DocumentSpec;
pub use duration::{DURATION_FORM, parse_duration};
pub use index::{IndexField, IndexSpec, check_indexes};
pub use tenancy::Tenancy;

use crate::error::{Error, Result};

/// The longest accepted logical name, in bytes (a Postgres identifier's limit).
pub const MAX_NAME_LEN: usize = 63;

/// Check a logical name: `[a-z][a-z0-9_]*`, at most 63 bytes.
pub(crate) fn validate_name(key: &str, name: &str) -> Result<()> {
    let mut bytes = name.bytes();
    let ok_first = bytes.next().is_some_and(|b| b.is_ascii_lowercase());
    let ok_rest = bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !(ok_first && ok_rest) {
        return Err(Error::config(format!(
            "invalid `{key}` `{name}`: expected `[a-z][a-z0-9_]*`, for example \"products\""
        )));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(Error::config(format!(
            "invalid `{key}` `{name}`: {} bytes, at most {MAX_NAME_LEN} are accepted",
            name.len()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn names() {
        assert!(validate_name("name", "products_2").is_ok());
        for bad in ["", "Products", "2x", "a-b", "a b", "é"] {
            assert!(validate_name("name", bad).is_err(), "{bad}");
        }
        assert!(validate_name("name", &"a".repeat(63)).is_ok());
        assert!(validate_name("name", &"a".repeat(64)).is_err());
    }

    #[test]
    fn cache_rules_mirror_the_derive() {
        let s = Duration::from_secs;
        let base = || CacheSpec::builder("products").ttl(s(300));
        assert!(base().build().is_ok());
        assert!(base().early_refresh_beta(0.0).build().is_err());
        assert!(base().early_refresh_beta(f64::NAN).build().is_err());
        assert!(base().early_refresh_background(true).build().is_err());
        assert!(
            base()
                .early_refresh_beta(1.0)
                .early_refresh_background(true)
                .build()
                .is_ok()
        );
        assert!(base().sliding_ttl(s(300)).build().is_err());
        assert!(base().sliding_ttl(s(60)).build().is_ok());
        let l1 = |ttl| L1Spec::new(s(ttl)).unwrap();
        assert!(base().l1(l1(30)).sliding_ttl(s(30)).build().is_err());
        assert!(base().l1(l1(30)).sliding_ttl(s(60)).build().is_ok());
        assert!(AgeBasedTtl::new(0.0, s(1), s(2)).is_err());
        assert!(AgeBasedTtl::new(0.1, s(3), s(2)).is_err());
        assert!(
            base()
                .age_ttl(AgeBasedTtl::new(0.1, s(30), s(3600)).unwrap())
                .build()
                .is_err()
        );
        assert!(
            base()
                .age_ttl(AgeBasedTtl::new(0.1, s(30), s(300)).unwrap())
                .build()
                .is_ok()
        );
        assert!(base().l1(L1Spec::new(s(300)).unwrap()).build().is_err());
        assert!(base().l1(L1Spec::new(s(2)).unwrap()).build().is_ok());
        assert!(L1Spec::with(s(2), 0, L1StoreKind::Lru).is_err());
        assert!(L1Spec::with(s(2), 1, L1StoreKind::TinyLfu).is_err());
        assert!(L1Spec::with(s(2), 2, L1StoreKind::TinyLfu).is_ok());
        assert!(CacheSpec::new("Bad").is_err());
    }

    #[test]
    fn age_lifetime_clamps() {
        let age =
            AgeBasedTtl::new(0.1, Duration::from_secs(30), Duration::from_secs(3600)).unwrap();
        assert_eq!(
            age.lifetime(Duration::from_secs(86_400)),
            Duration::from_secs(3600)
        );
        assert_eq!(
            age.lifetime(Duration::from_secs(60)),
            Duration::from_secs(30)
        );
        assert_eq!(
            age.lifetime(Duration::from_secs(1000)),
            Duration::from_secs(100)
        );
    }
}
