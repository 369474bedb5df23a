//! Reusable conformance suites and fault injection, behind the `testing` feature.
//!
//! Backend crates run the same checks forze-core runs on its in-memory backends:
//!
//! - [`store_conformance`] and [`store_transaction_conformance`]: the
//!   [`DocumentStore`](crate::store::DocumentStore) contract (revs, timestamps, conflicts,
//!   all-or-nothing batches, no-op updates, sorting, transactions).
//! - [`query_conformance`]: query semantics (every operator on every field kind, null logic,
//!   literal and case-insensitive text matching, null ordering, multi-key sorts, keyset
//!   positions, offset and limit, counts), on a document with one field of every kind
//!   ([`QUERY_FIELDS`]).
//! - [`cache_conformance`]: the [`Cache`](crate::cache::Cache) contract (the CAS / tombstone
//!   table, TTL expiry, batch order, evict).
//! - [`read_through_suite`]: the coordinator's freshness guarantees (stale-set race, no
//!   resurrection, single-flight, garbage payloads, replicas, transactions) on a given
//!   [`Wiring`] of store and cache.
//! - [`tenancy_isolation_suite`]: two tenants with the same ids and values; nothing of one is
//!   seen, changed or evicted (in the cache) through the other, on every port.
//!
//! The fault injectors — [`FailingCache`] (fail or hang on demand), [`GatedStore`] (hold reads
//! after they read, fail reads), [`CountingStore`] — and [`TestDepsModule`] (register any
//! backend) are for your own tests too. The suites use a hand-written [`Product`] document (no
//! derive needed), whose schema is `name` text, `price` int, `note` nullable text.
//!
//! Every suite panics on the first broken rule, with a message naming it; wrap it in
//! [`watchdog`] so a hang fails instead of blocking CI.
//!
//! # Examples
//!
//! In a backend crate's `tests/conformance.rs` (with `forze-core = { features = ["testing"] }` as
//! a dev-dependency), inside a `#[tokio::test(flavor = "multi_thread")]` function; here with the
//! in-memory cache standing in for yours:
//!
//! ```
//! use std::sync::Arc;
//! use forze_core::cache::Cache;
//! use forze_core::memory::{MemoryCache, MemoryDocumentStore};
//! use forze_core::testing::{cache_conformance, read_through_suite, watchdog, Wiring};
//!
//! fn my_cache() -> Arc<dyn Cache> {
//!     Arc::new(MemoryCache::new()) // your backend, in a fresh key namespace
//! }
//!
//! # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
//! watchdog(cache_conformance(my_cache, tokio::time::sleep)).await;
//! watchdog(read_through_suite(|| {
//!     let store = MemoryDocumentStore::new();
//!     Wiring::new(Arc::new(store.clone()), my_cache()).with_transactions(Arc::new(store))
//! }))
//! .await;
//! # });
//! ```

mod cache_suite;
mod faults;
mod product;
mod read_through;
mod store_suite;
mod tenancy_suite;
mod unique_suite;
mod verbs_suite;

use std::future::Future;
use std::time::Duration;

pub use cache_suite::cache_conformance;
pub use faults::{CacheMode, CountingStore, FailingCache, GatedStore, TestDepsModule};
pub use product::{
    PLAIN_PRODUCT_SPEC, PRODUCT_FIELDS, PRODUCT_SPEC, Product, ProductCreate, ProductRead,
    ProductUpdate, QUERY_FIELDS,
};
pub use read_through::{Wiring, read_through_suite};
pub use store_suite::{query_conformance, store_conformance, store_transaction_conformance};
pub use tenancy_suite::{
    TENANT_ITEM_SPEC, TenantItem, TenantItemCreate, TenantItemRead, TenantItemUpdate,
    tenancy_isolation_suite, tenant_item_spec,
};
pub use unique_suite::{SKU_DOCUMENT, SKU_FIELDS, SKU_INDEXES, unique_conformance};
pub use verbs_suite::write_verbs_conformance;

/// How long [`watchdog`] waits.
pub const WATCHDOG: Duration = Duration::from_secs(30);

/// Run `future`, panicking if it does not finish within [`WATCHDOG`]: a hang fails the test.
///
/// # Panics
///
/// If the future is still pending after [`WATCHDOG`].
pub async fn watchdog<F: Future>(future: F) -> F::Output {
    match tokio::time::timeout(WATCHDOG, future).await {
        Ok(output) => output,
        Err(_) => panic!("watchdog: the test did not finish within {WATCHDOG:?} (a hang?)"),
    }
}
