//! The embedded backends: an in-memory document store (with transactions) and an in-memory
//! cache, implementing the same contracts as Postgres and Redis, so examples and tests run with
//! nothing installed.
//!
//! # Examples
//!
//! ```
//! use forze_core::memory::{MemoryCache, MemoryDepsModule};
//! use forze_core::prelude::*;
//! use forze_core::{DepsRegistry, ExecutionRuntime, LifecyclePlan};
//!
//! // One cache shared by two runtimes behaves like one Redis shared by two replicas.
//! let cache = MemoryCache::new();
//! let module = MemoryDepsModule::new()
//!     .document("products")
//!     .cache_with("products", cache.clone())
//!     .tx("products");
//! let deps = DepsRegistry::from_modules([module.boxed()]).freeze()?;
//! let runtime = ExecutionRuntime::new(deps, LifecyclePlan::new().freeze()?);
//! # let _ = runtime;
//! # Ok::<(), forze_core::Error>(())
//! ```

mod cache;
mod module;
mod store;

pub use cache::MemoryCache;
#[cfg(feature = "testing")]
pub use cache::MemoryCacheState;
pub use module::MemoryDepsModule;
pub use store::{MemoryCollection, MemoryDocumentStore, MemoryTransaction};
