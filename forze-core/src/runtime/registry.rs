//! `DepsRegistry` → `freeze()` → `FrozenDeps`: backends by kind and logical name.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use crate::cache::Cache;
use crate::error::{Error, Result};
use crate::runtime::DepsModule;
use crate::runtime::deps::{Registered, RegistrationKind, Registrations};
use crate::store::{DocumentBackend, TransactionManager};

/// The modules of an application, before they are checked and frozen.
///
/// # Examples
///
/// ```
/// use forze_core::memory::MemoryDepsModule;
/// use forze_core::prelude::*;
/// use forze_core::{DepsRegistry, ErrorKind};
///
/// let deps = DepsRegistry::from_modules([
///     MemoryDepsModule::new().document("products").boxed(),
///     MemoryDepsModule::new().cache("products").boxed(),
/// ])
/// .freeze()?;
/// assert_eq!(deps.cache_names().collect::<Vec<_>>(), ["products"]);
///
/// // The same kind and name twice is a configuration error naming both modules.
/// let err = DepsRegistry::from_modules([
///     MemoryDepsModule::new().cache("products").boxed(),
///     MemoryDepsModule::new().cache("products").boxed(),
/// ])
/// .freeze()
/// .unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::Config);
/// assert!(err.to_string().contains("cache `products` is registered twice"));
/// # Ok::<(), forze_core::Error>(())
/// ```
#[derive(Debug, Default)]
pub struct DepsRegistry {
    modules: Vec<Box<dyn DepsModule>>,
}

impl DepsRegistry {
    /// A registry of `modules`, in order.
    pub fn from_modules(modules: impl IntoIterator<Item = Box<dyn DepsModule>>) -> Self {
        DepsRegistry {
            modules: modules.into_iter().collect(),
        }
    }

    /// The same registry with more modules.
    #[must_use]
    pub fn with_modules(mut self, modules: impl IntoIterator<Item = Box<dyn DepsModule>>) -> Self {
        self.modules.extend(modules);
        self
    }

    /// Collect every module's registrations and check them.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) if two registrations have the same kind
    /// and name; the message names both modules and the name.
    pub fn freeze(self) -> Result<FrozenDeps> {
        let mut frozen = FrozenInner::default();
        for module in &self.modules {
            let mut regs = Registrations {
                module: module.name().to_owned(),
                items: Vec::new(),
            };
            module.register(&mut regs);
            for reg in regs.items {
                let kind = reg.item.kind();
                let previous = match reg.item {
                    Registered::Document(backend) => {
                        insert(&mut frozen.documents, reg.name, reg.module, backend)
                    }
                    Registered::Cache(cache) => {
                        insert(&mut frozen.caches, reg.name, reg.module, cache)
                    }
                    Registered::Transaction(manager) => {
                        insert(&mut frozen.transactions, reg.name, reg.module, manager)
                    }
                };
                if let Some((name, first, second)) = previous {
                    return Err(Error::config(format!(
                        "{} `{name}` is registered twice: by module `{first}` and by module `{second}`; register each {} name once",
                        kind.as_str(),
                        kind.as_str()
                    )));
                }
            }
        }
        Ok(FrozenDeps {
            inner: Arc::new(frozen),
        })
    }
}

/// Insert, or return `(name, first module, second module)` on a duplicate.
fn insert<T>(
    map: &mut BTreeMap<Cow<'static, str>, Entry<T>>,
    name: Cow<'static, str>,
    module: String,
    item: T,
) -> Option<(Cow<'static, str>, String, String)> {
    if let Some(first) = map.get(&name) {
        return Some((name, first.module.clone(), module));
    }
    map.insert(name, Entry { module, item });
    None
}

struct Entry<T> {
    module: String,
    item: T,
}

#[derive(Default)]
struct FrozenInner {
    documents: BTreeMap<Cow<'static, str>, Entry<Arc<dyn DocumentBackend>>>,
    caches: BTreeMap<Cow<'static, str>, Entry<Arc<dyn Cache>>>,
    transactions: BTreeMap<Cow<'static, str>, Entry<Arc<dyn TransactionManager>>>,
}

/// The checked registrations: document backends, caches and transaction routes by name.
///
/// Cheap to clone.
#[derive(Clone, Default)]
pub struct FrozenDeps {
    inner: Arc<FrozenInner>,
}

impl fmt::Debug for FrozenDeps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn side<T>(map: &BTreeMap<Cow<'static, str>, Entry<T>>) -> Vec<String> {
            map.iter()
                .map(|(name, e)| format!("{name} (from {})", e.module))
                .collect()
        }
        f.debug_struct("FrozenDeps")
            .field("documents", &side(&self.inner.documents))
            .field("caches", &side(&self.inner.caches))
            .field("transactions", &side(&self.inner.transactions))
            .finish()
    }
}

impl FrozenDeps {
    /// The names with a document backend, sorted.
    pub fn document_names(&self) -> impl Iterator<Item = &str> {
        self.inner.documents.keys().map(|k| k.as_ref())
    }

    /// The names with a cache, sorted.
    pub fn cache_names(&self) -> impl Iterator<Item = &str> {
        self.inner.caches.keys().map(|k| k.as_ref())
    }

    /// The transaction routes, sorted.
    pub fn transaction_names(&self) -> impl Iterator<Item = &str> {
        self.inner.transactions.keys().map(|k| k.as_ref())
    }

    /// The document backend registered for `name`.
    pub fn document(&self, name: &str) -> Option<&Arc<dyn DocumentBackend>> {
        self.inner.documents.get(name).map(|e| &e.item)
    }

    /// The cache registered under `name`.
    pub fn cache(&self, name: &str) -> Option<&Arc<dyn Cache>> {
        self.inner.caches.get(name).map(|e| &e.item)
    }

    /// The transaction manager of route `name`.
    pub fn transaction(&self, name: &str) -> Option<&Arc<dyn TransactionManager>> {
        self.inner.transactions.get(name).map(|e| &e.item)
    }

    pub(crate) fn missing(&self, kind: RegistrationKind) -> String {
        let names: Vec<&str> = match kind {
            RegistrationKind::Document => self.document_names().collect(),
            RegistrationKind::Cache => self.cache_names().collect(),
            RegistrationKind::Transaction => self.transaction_names().collect(),
        };
        name_list(&names)
    }
}

/// `[`a`, `b`]`, or `none`.
pub(crate) fn name_list(names: &[&str]) -> String {
    if names.is_empty() {
        "none".to_owned()
    } else {
        let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
        format!("[{}]", quoted.join(", "))
    }
}
