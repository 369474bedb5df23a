//! Registration of backends by logical name.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use crate::cache::Cache;
use crate::store::{DocumentBackend, TransactionManager};

/// A group of backend registrations, usually one per adapter crate
/// (`MemoryDepsModule`, `PostgresDepsModule`, `RedisDepsModule`).
pub trait DepsModule: Send + Sync + fmt::Debug {
    /// A short name for messages ("memory", "postgres", "redis").
    fn name(&self) -> &str;

    /// Record this module's backends.
    fn register(&self, deps: &mut Registrations);

    /// Box the module for [`DepsRegistry::from_modules`](crate::DepsRegistry::from_modules).
    fn boxed(self) -> Box<dyn DepsModule>
    where
        Self: Sized + 'static,
    {
        Box::new(self)
    }
}

/// What one kind of registration is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RegistrationKind {
    /// A document backend, keyed by the spec name.
    Document,
    /// A cache backend, keyed by the cache name.
    Cache,
    /// A transaction route.
    Transaction,
}

impl RegistrationKind {
    /// Lowercase name for messages.
    pub const fn as_str(self) -> &'static str {
        match self {
            RegistrationKind::Document => "document",
            RegistrationKind::Cache => "cache",
            RegistrationKind::Transaction => "transaction",
        }
    }
}

#[derive(Clone)]
pub(crate) enum Registered {
    Document(Arc<dyn DocumentBackend>),
    Cache(Arc<dyn Cache>),
    Transaction(Arc<dyn TransactionManager>),
}

impl Registered {
    pub(crate) fn kind(&self) -> RegistrationKind {
        match self {
            Registered::Document(_) => RegistrationKind::Document,
            Registered::Cache(_) => RegistrationKind::Cache,
            Registered::Transaction(_) => RegistrationKind::Transaction,
        }
    }
}

/// One registration: the module that made it, the logical name, and the backend.
#[derive(Clone)]
pub(crate) struct Registration {
    pub(crate) module: String,
    pub(crate) name: Cow<'static, str>,
    pub(crate) item: Registered,
}

/// The registrations of the modules, collected before [`DepsRegistry::freeze`](crate::DepsRegistry::freeze)
/// checks them for conflicts.
#[derive(Default)]
pub struct Registrations {
    pub(crate) module: String,
    pub(crate) items: Vec<Registration>,
}

impl Registrations {
    /// Register the document backend for the spec named `name`.
    pub fn document(&mut self, name: impl Into<Cow<'static, str>>, backend: Arc<dyn DocumentBackend>) {
        self.push(name.into(), Registered::Document(backend));
    }

    /// Register the cache backend for the cache named `name` (`CacheSpec::name`).
    pub fn cache(&mut self, name: impl Into<Cow<'static, str>>, cache: Arc<dyn Cache>) {
        self.push(name.into(), Registered::Cache(cache));
    }

    /// Register the transaction route `name`.
    pub fn transaction(
        &mut self,
        name: impl Into<Cow<'static, str>>,
        manager: Arc<dyn TransactionManager>,
    ) {
        self.push(name.into(), Registered::Transaction(manager));
    }

    fn push(&mut self, name: Cow<'static, str>, item: Registered) {
        self.items.push(Registration {
            module: self.module.clone(),
            name,
            item,
        });
    }
}

impl fmt::Debug for Registrations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        for r in &self.items {
            list.entry(&format_args!("{} {} `{}` (from {})", r.item.kind().as_str(), "", r.name, r.module));
        }
        list.finish()
    }
}
