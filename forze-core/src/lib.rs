//! forze: document persistence with read-through caching.
//!
//! Declare a document once with `#[derive(Document)]`, wire backends by logical name, and call
//! typed ports from handlers that never change when caching is switched on.
//!
//! ```
//! use forze_core::Document;
//!
//! #[derive(Document)]
//! #[document_spec(name = "products", cache(name = "products", l1(ttl = "2s")))]
//! pub struct Product {
//!     pub name: String,
//!     pub price: i32,
//! }
//!
//! assert_eq!(PRODUCT_SPEC.name, "products");
//! let l1 = PRODUCT_SPEC.cache.as_ref().and_then(|c| c.l1).expect("l1 configured");
//! assert_eq!(l1.ttl, std::time::Duration::from_secs(2));
//! ```
//!
//! # How forze-core is organised
//!
//! Layers, from the bottom up; each imports only from the layers below it:
//!
//! * **Contracts and values**: [`model`](Document) (the `Document` trait, metadata, rows),
//!   [`spec`] (what `#[document_spec]` fills, validated), [`store`] (the `DocumentStore`
//!   backends implement), [`cache`] (the versioned cache contract: values, tombstones,
//!   lookups, generations, push sinks), [`l1`] (bounded in-process stores: LRU, W-TinyLFU),
//!   [`clock`], [`Error`]. The transaction scope (a store transaction and the invalidations
//!   queued for after its commit) sits here too, so every layer above can use it.
//! * **The coordinator** (private): the caching logic between the ports and the backends, written
//!   against the traits only. A *lane* per (spec, runtime): the cache calls with their breaker,
//!   timeout and prober; the pending invalidations and their flusher; the read path (L1, shared
//!   cache, single-flight fetch and fill, the outage hold, the checks on what the cache
//!   returns); early refresh; batch reads; invalidation after commit; and the lane as a target
//!   of push invalidation. The coordinator of a runtime owns its lanes and push subscriptions.
//! * **Ports**: [`DocumentQuery`], [`DocumentCommand`], [`CacheHandle`]: typed, cheap to clone,
//!   the only API handlers call.
//! * **The runtime** ([`runtime`]): backends registered by logical name, the lifecycle, contexts
//!   and transactions. It hands the bound backends to the coordinator and starts and stops it.
//! * **Embedded backends** ([`memory`]) implement the same contracts as Postgres and Redis and
//!   run the same conformance suites (`testing`, behind the `testing` feature).
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]
#![cfg_attr(not(test), warn(clippy::unwrap_used))]
#![doc(test(attr(deny(warnings))))]

#[allow(unused_extern_crates)]
extern crate self as forze_core;

pub mod backoff;
mod breaker;
pub mod cache;
pub mod clock;
mod codec;
mod coordinator;
mod counter;
mod error;
pub mod l1;
pub mod memory;
mod model;
mod ports;
pub mod query;
pub mod runtime;
mod singleflight;
pub mod spec;
pub mod store;
#[cfg(feature = "testing")]
pub mod testing;
mod tx;
mod validate;

/// A boxed, `Send` future: what the object-safe traits every adapter implements return
/// ([`store::DocumentStore`], [`cache::Cache`], [`runtime::LifecycleStep`] hooks, ...).
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

pub use breaker::BreakerState;
pub use coordinator::{CacheStats, CoordinatorConfig, L1PushStats};
pub use error::{Error, ErrorKind, Result};
pub use model::{Document, DocumentMeta, FieldKind, FieldSchema, Row};
pub use ports::{
    CacheHandle, DEFAULT_PAGE_SIZE, DocumentCommand, DocumentQuery, Find, FindRequest,
};
pub use runtime::{
    DepsRegistry, DocumentAccess, ExecutionContext, ExecutionRuntime, FrozenDeps, FrozenLifecycle,
    LifecyclePlan,
};
pub use spec::{
    AgeBasedTtl, CacheSpec, DocumentSpec, IndexField, IndexSpec, L1Spec, L1StoreKind, Tenancy,
};
pub use store::{ListQuery, SortOrder};
pub use validate::{FieldError, Validate, ValidationErrors};

/// `#[derive(Document)]` and its `#[document_spec(...)]` attribute.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use forze_core::{Document, FieldKind, L1StoreKind};
///
/// #[derive(Document)]
/// #[document_spec(name = "products", cache(ttl = "10m", l1(ttl = "2s", store = "tiny_lfu")))]
/// pub struct Product {
///     /// The display name.
///     pub name: String,
///     pub price: i32,
///     pub note: Option<String>,
/// }
///
/// // `ProductUpdate`: every field optional; `Some(None)` clears an optional field.
/// let patch = ProductUpdate { price: Some(12), note: Some(None), ..Default::default() };
/// assert_eq!(serde_json::to_string(&patch)?, r#"{"price":12,"note":null}"#);
/// let unchanged: ProductUpdate = serde_json::from_str("{}")?;
/// assert_eq!((unchanged.price, unchanged.note), (None, None));
/// // strict: an unknown key is an error naming it and what is accepted, never ignored
/// let typo = serde_json::from_str::<ProductUpdate>(r#"{"prise": 12}"#).unwrap_err();
/// assert!(typo.to_string().starts_with("unknown field `prise`, expected one of `name`, `price`, `note`"));
///
/// // `PRODUCT_SPEC` is a `const`: usable in `const` and `static` items.
/// static SPEC: forze_core::DocumentSpec<Product> = PRODUCT_SPEC;
/// let cache = SPEC.cache.as_ref().expect("cached");
/// assert_eq!(cache.ttl, Duration::from_secs(600));
/// let l1 = cache.l1.expect("l1 configured");
/// assert_eq!((l1.ttl, l1.capacity, l1.store), (Duration::from_secs(2), 1024, L1StoreKind::TinyLfu));
///
/// assert_eq!(Product::FIELDS[2].kind, FieldKind::Text);
/// assert!(Product::FIELDS[2].nullable);
/// # Ok::<(), serde_json::Error>(())
/// ```
///
/// An invalid spec does not compile; the error points at the offending token:
///
/// ```compile_fail
/// #[derive(forze_core::Document)]
/// #[document_spec(cache(ttl = "5m", l1(ttl = "10m")))] // `l1(ttl)` must be smaller than `ttl`
/// pub struct Product {
///     pub name: String,
/// }
/// ```
#[cfg(feature = "macros")]
pub use forze_macros::Document;

/// The traits a user or a backend names: `use forze_core::prelude::*;`.
pub mod prelude {
    pub use crate::cache::Cache;
    pub use crate::model::Document;
    pub use crate::runtime::{DepsModule, LifecycleModule};
    pub use crate::store::DocumentStore;
}

/// Used by code `#[derive(Document)]` generates. Not public API: no semver guarantees.
#[doc(hidden)]
pub mod __private {
    pub use ::chrono::{DateTime, Utc};
    pub use ::serde;
    pub use ::uuid::Uuid;

    pub use crate::codec::read_field;
    pub use std::borrow::Cow;
    pub use std::clone::Clone;
    pub use std::convert::From;
    pub use std::default::Default;
    pub use std::fmt::Debug;
    pub use std::option::Option::{self, None, Some};
    pub use std::primitive::{i64, str};
    pub use std::result::Result::{self, Err, Ok};
    pub use std::time::Duration;

    pub use crate::validate::{Finite, check_finite};
    /// The fields of a row, as `Document::__create_defaults` fills them.
    pub type JsonMap = ::serde_json::Map<std::string::String, ::serde_json::Value>;
    pub use ::serde_json::Error as JsonError;
    pub use ::serde_json::to_value as to_json;

    /// Deserialize a present JSON value (including `null`) as `Some(value)`, for the
    /// `Option<Option<T>>` fields of update DTOs: absent = `None`, `null` = `Some(None)`.
    pub fn deserialize_some<'de, T, D>(deserializer: D) -> Result<Option<T>, D::Error>
    where
        T: ::serde::Deserialize<'de>,
        D: ::serde::Deserializer<'de>,
    {
        <T as ::serde::Deserialize<'de>>::deserialize(deserializer).map(Some)
    }
}
