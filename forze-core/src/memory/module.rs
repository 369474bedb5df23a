//! `MemoryDepsModule`: registers the in-memory backends by logical name.

use std::borrow::Cow;
use std::sync::Arc;

use crate::memory::{MemoryCache, MemoryDocumentStore};
use crate::runtime::{DepsModule, Registrations};

/// Registers in-memory documents, caches and transaction routes.
///
/// Every document and transaction route of one module shares one [`MemoryDocumentStore`] (so a
/// transaction spans them). Pass your own store ([`with_store`](Self::with_store)) or caches
/// ([`cache_with`](Self::cache_with)) to share them between runtimes, to simulate replicas.
///
/// # Examples
///
/// ```
/// use forze_core::memory::MemoryDepsModule;
/// use forze_core::prelude::*;
/// use forze_core::DepsRegistry;
///
/// let module = MemoryDepsModule::new().document("products").cache("products").tx("products");
/// let deps = DepsRegistry::from_modules([module.boxed()]).freeze()?;
/// assert_eq!(deps.document_names().collect::<Vec<_>>(), ["products"]);
/// # Ok::<(), forze_core::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct MemoryDepsModule {
    store: MemoryDocumentStore,
    documents: Vec<Cow<'static, str>>,
    caches: Vec<(Cow<'static, str>, MemoryCache)>,
    transactions: Vec<Cow<'static, str>>,
}

impl MemoryDepsModule {
    /// A module with a fresh, empty store and nothing registered yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Use `store` for every document and transaction route of this module.
    pub fn with_store(mut self, store: MemoryDocumentStore) -> Self {
        self.store = store;
        self
    }

    /// The store documents of this module live in.
    pub fn store(&self) -> &MemoryDocumentStore {
        &self.store
    }

    /// Register the in-memory document backend for the spec named `name`.
    pub fn document(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.documents.push(name.into());
        self
    }

    /// Register a new in-memory cache (system clock) under the cache name `name`.
    pub fn cache(self, name: impl Into<Cow<'static, str>>) -> Self {
        self.cache_with(name, MemoryCache::new())
    }

    /// Register `cache` under the cache name `name` (share a clone between runtimes to simulate
    /// replicas, or give it a mock clock).
    pub fn cache_with(mut self, name: impl Into<Cow<'static, str>>, cache: MemoryCache) -> Self {
        self.caches.push((name.into(), cache));
        self
    }

    /// Register the store as the transaction manager of route `name`.
    pub fn tx(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.transactions.push(name.into());
        self
    }
}

impl DepsModule for MemoryDepsModule {
    fn name(&self) -> &str {
        "memory"
    }

    fn register(&self, deps: &mut Registrations) {
        for name in &self.documents {
            deps.document(name.clone(), Arc::new(self.store.clone()));
        }
        for (name, cache) in &self.caches {
            deps.cache(name.clone(), Arc::new(cache.clone()));
        }
        for name in &self.transactions {
            deps.transaction(name.clone(), Arc::new(self.store.clone()));
        }
    }
}
