//! `CacheSpec`, `L1Spec`, `AgeBasedTtl`: what `cache(...)` in `#[document_spec]` fills.

use std::borrow::Cow;
use std::time::Duration;

use crate::error::{Error, Result};
pub use crate::l1::{L1StoreFactory, L1StoreKind};
use crate::spec::validate_name;

/// Default cache entry lifetime: 5 minutes.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(300);
/// Default L1 capacity: 1024 entries.
pub const DEFAULT_L1_CAPACITY: usize = 1024;

/// The in-process L1 in front of the shared cache: `l1(ttl = "2s", capacity = 1024, store = "lru")`.
///
/// `ttl` is a staleness budget: other replicas may serve an entry for up to `ttl` after a write
/// (unless push invalidation is on). It must be strictly smaller than the cache `ttl`.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct L1Spec {
    /// How long an entry may be served from process memory.
    pub ttl: Duration,
    /// The exact maximum number of entries.
    pub capacity: usize,
    /// The eviction policy.
    pub store: L1StoreKind,
}

impl L1Spec {
    /// An L1 with `ttl`, the default capacity (1024) and the LRU store.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) if `ttl` is zero.
    pub fn new(ttl: Duration) -> Result<Self> {
        Self::with(ttl, DEFAULT_L1_CAPACITY, L1StoreKind::Lru)
    }

    /// An L1 with every field given.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) if `ttl` is zero, `capacity` is below 1, or
    /// below 2 with [`L1StoreKind::TinyLfu`].
    pub fn with(ttl: Duration, capacity: usize, store: L1StoreKind) -> Result<Self> {
        if ttl.is_zero() {
            return Err(Error::config("`l1(ttl)` must be greater than zero"));
        }
        if capacity < 1 {
            return Err(Error::config("`l1(capacity)` must be at least 1"));
        }
        if capacity < 2 && store == L1StoreKind::TinyLfu {
            return Err(Error::config(
                "`l1(capacity)` must be at least 2 with `store = \"tiny_lfu\"`",
            ));
        }
        Ok(L1Spec {
            ttl,
            capacity,
            store,
        })
    }

    #[doc(hidden)]
    pub const fn __new_unchecked(ttl: Duration, capacity: usize, store: L1StoreKind) -> Self {
        L1Spec {
            ttl,
            capacity,
            store,
        }
    }
}

/// Entry lifetime from the document's age: `clamp(alpha × (now − last_update_at), min_ttl, max_ttl)`.
///
/// The HTTP heuristic-freshness rule (RFC 9111 §4.2.2, "10% of age"): a product untouched for a
/// day caches for up to `max_ttl`, one edited a minute ago for `min_ttl`.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AgeBasedTtl {
    /// The fraction of the document's age used as its lifetime, > 0.
    pub alpha: f64,
    /// The shortest lifetime, > 0.
    pub min_ttl: Duration,
    /// The longest lifetime, >= `min_ttl` and <= the cache `ttl`.
    pub max_ttl: Duration,
}

impl AgeBasedTtl {
    /// Validate and build.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) if `alpha` is not a positive finite number,
    /// a duration is zero, or `min_ttl > max_ttl`.
    pub fn new(alpha: f64, min_ttl: Duration, max_ttl: Duration) -> Result<Self> {
        if !(alpha.is_finite() && alpha > 0.0) {
            return Err(Error::config(format!(
                "`age_ttl(alpha)` must be a positive number, got {alpha}"
            )));
        }
        if min_ttl.is_zero() {
            return Err(Error::config(
                "`age_ttl(min_ttl)` must be greater than zero",
            ));
        }
        if min_ttl > max_ttl {
            return Err(Error::config(format!(
                "`age_ttl(min_ttl)` ({min_ttl:?}) must not exceed `age_ttl(max_ttl)` ({max_ttl:?})"
            )));
        }
        Ok(AgeBasedTtl {
            alpha,
            min_ttl,
            max_ttl,
        })
    }

    /// The lifetime of an entry whose document was last updated `age` ago.
    pub fn lifetime(&self, age: Duration) -> Duration {
        let secs = (age.as_secs_f64() * self.alpha)
            .clamp(self.min_ttl.as_secs_f64(), self.max_ttl.as_secs_f64());
        Duration::from_secs_f64(secs)
    }

    #[doc(hidden)]
    pub const fn __new_unchecked(alpha: f64, min_ttl: Duration, max_ttl: Duration) -> Self {
        AgeBasedTtl {
            alpha,
            min_ttl,
            max_ttl,
        }
    }
}

/// Read-through caching of a document: `cache(name = "products", ttl = "5m", ...)`.
///
/// Its presence on a [`DocumentSpec`](crate::DocumentSpec) means reads are cached and writes
/// invalidate. The cache backend is looked up by [`name`](Self::name) in the registry.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use forze_core::{CacheSpec, L1Spec};
///
/// let cache = CacheSpec::builder("products")
///     .ttl(Duration::from_secs(300))
///     .l1(L1Spec::new(Duration::from_secs(2))?)
///     .build()?;
/// assert_eq!(cache.l1.map(|l1| l1.ttl), Some(Duration::from_secs(2)));
///
/// let err = CacheSpec::builder("products")
///     .ttl(Duration::from_secs(1))
///     .l1(L1Spec::new(Duration::from_secs(2))?)
///     .build()
///     .unwrap_err();
/// assert_eq!(err.kind(), forze_core::ErrorKind::Config);
/// # Ok::<(), forze_core::Error>(())
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq)]
pub struct CacheSpec {
    /// The logical cache name the backend is registered under.
    pub name: Cow<'static, str>,
    /// Entry lifetime and absolute revalidation cap.
    pub ttl: Duration,
    /// XFetch early refresh: `beta > 0` turns it on.
    pub early_refresh_beta: Option<f64>,
    /// Refresh in the background (serve the cached value at once) instead of inline.
    pub early_refresh_background: bool,
    /// A hit extends the entry's idle lifetime to this window, never past the cap.
    pub sliding_ttl: Option<Duration>,
    /// Lifetime from the document's age.
    pub age_ttl: Option<AgeBasedTtl>,
    /// The in-process L1.
    pub l1: Option<L1Spec>,
}

impl CacheSpec {
    /// Start building a cache spec for the cache registered as `name`.
    pub fn builder(name: impl Into<Cow<'static, str>>) -> CacheSpecBuilder {
        CacheSpecBuilder {
            spec: CacheSpec::__new_unchecked(
                Cow::Borrowed(""),
                DEFAULT_CACHE_TTL,
                None,
                false,
                None,
                None,
                None,
            ),
            name: name.into(),
        }
    }

    /// A cache spec with every default: 5 minute ttl, no L1, no early refresh.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) if `name` is not `[a-z][a-z0-9_]*` of at
    /// most 63 bytes.
    pub fn new(name: impl Into<Cow<'static, str>>) -> Result<Self> {
        Self::builder(name).build()
    }

    /// Check every rule that `#[document_spec]` checks at compile time.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) naming the first broken rule.
    pub fn validate(&self) -> Result<()> {
        validate_name("cache(name)", &self.name)?;
        if self.ttl.is_zero() {
            return Err(Error::config("`cache(ttl)` must be greater than zero"));
        }
        if let Some(beta) = self.early_refresh_beta {
            if !(beta.is_finite() && beta > 0.0) {
                return Err(Error::config(format!(
                    "`early_refresh_beta` must be a positive number, got {beta}"
                )));
            }
        } else if self.early_refresh_background {
            return Err(Error::config(
                "`early_refresh_background` requires `early_refresh_beta`",
            ));
        }
        if let Some(sliding) = self.sliding_ttl
            && (sliding.is_zero() || sliding >= self.ttl)
        {
            return Err(Error::config(format!(
                "`sliding_ttl` ({sliding:?}) must be greater than zero and strictly smaller than the cache `ttl` ({:?})",
                self.ttl
            )));
        }
        if let Some(age) = self.age_ttl {
            AgeBasedTtl::new(age.alpha, age.min_ttl, age.max_ttl)?;
            if age.max_ttl > self.ttl {
                return Err(Error::config(format!(
                    "`age_ttl(max_ttl)` ({:?}) must not exceed the cache `ttl` ({:?})",
                    age.max_ttl, self.ttl
                )));
            }
        }
        if let Some(l1) = self.l1 {
            L1Spec::with(l1.ttl, l1.capacity, l1.store)?;
            if l1.ttl >= self.ttl {
                return Err(Error::config(format!(
                    "`l1(ttl)` ({:?}) must be strictly smaller than the cache `ttl` ({:?})",
                    l1.ttl, self.ttl
                )));
            }
            if let Some(sliding) = self.sliding_ttl
                && sliding <= l1.ttl
            {
                return Err(Error::config(format!(
                    "`sliding_ttl` ({sliding:?}) must be longer than `l1(ttl)` ({:?}): L1 hits do not reach the shared cache, so an entry read from the L1 would idle out there between two L1 refreshes, and every refresh would read the store",
                    l1.ttl
                )));
            }
        }
        Ok(())
    }

    #[doc(hidden)]
    #[allow(clippy::too_many_arguments)]
    pub const fn __new_unchecked(
        name: Cow<'static, str>,
        ttl: Duration,
        early_refresh_beta: Option<f64>,
        early_refresh_background: bool,
        sliding_ttl: Option<Duration>,
        age_ttl: Option<AgeBasedTtl>,
        l1: Option<L1Spec>,
    ) -> Self {
        CacheSpec {
            name,
            ttl,
            early_refresh_beta,
            early_refresh_background,
            sliding_ttl,
            age_ttl,
            l1,
        }
    }
}

/// Builds a [`CacheSpec`] at run time; [`build`](Self::build) applies the compile-time rules.
#[derive(Debug, Clone)]
#[must_use]
pub struct CacheSpecBuilder {
    spec: CacheSpec,
    name: Cow<'static, str>,
}

impl CacheSpecBuilder {
    /// Entry lifetime and absolute cap (default 5 minutes).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.spec.ttl = ttl;
        self
    }
    /// Turn on XFetch early refresh with this `beta` (> 0; 1.0 is the paper's default).
    pub fn early_refresh_beta(mut self, beta: f64) -> Self {
        self.spec.early_refresh_beta = Some(beta);
        self
    }
    /// Refresh in the background instead of inline (requires `early_refresh_beta`).
    pub fn early_refresh_background(mut self, background: bool) -> Self {
        self.spec.early_refresh_background = background;
        self
    }
    /// Sliding idle lifetime (> 0 and < ttl).
    pub fn sliding_ttl(mut self, window: Duration) -> Self {
        self.spec.sliding_ttl = Some(window);
        self
    }
    /// Age-based lifetimes.
    pub fn age_ttl(mut self, age: AgeBasedTtl) -> Self {
        self.spec.age_ttl = Some(age);
        self
    }
    /// The in-process L1.
    pub fn l1(mut self, l1: L1Spec) -> Self {
        self.spec.l1 = Some(l1);
        self
    }
    /// Validate and build.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) naming the first broken rule.
    pub fn build(self) -> Result<CacheSpec> {
        let mut spec = self.spec;
        spec.name = self.name;
        spec.validate()?;
        Ok(spec)
    }
}
