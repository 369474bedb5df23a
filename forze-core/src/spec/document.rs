//! `DocumentSpec<D>`: the constant `#[derive(Document)]` generates.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use crate::error::Result;
use crate::spec::{CacheSpec, IndexSpec, Tenancy, validate_name};

/// Everything forze needs to know about a document type: its logical name, its caching, and its
/// indexes and unique constraints.
///
/// `#[derive(Document)]` generates one as a `const` (for `struct Product`, `PRODUCT_SPEC`); it
/// can also be built at run time with [`DocumentSpec::new`], which applies the same rules.
/// Handlers pass it to the ports: `ctx.document().query(&PRODUCT_SPEC)`.
///
/// # Examples
///
/// ```
/// use forze_core::{CacheSpec, DocumentSpec};
/// # #[derive(forze_core::Document)]
/// # pub struct Product { pub name: String }
///
/// let spec = DocumentSpec::<Product>::new("products")?.with_cache(CacheSpec::new("products")?);
/// assert_eq!(spec.name, "products");
/// assert!(DocumentSpec::<Product>::new("Products").is_err());
/// # Ok::<(), forze_core::Error>(())
/// ```
#[non_exhaustive]
pub struct DocumentSpec<D> {
    /// The logical name: routes the document backend and names it in errors.
    pub name: Cow<'static, str>,
    /// Read-through caching; `None` = reads go to the store.
    pub cache: Option<CacheSpec>,
    /// The indexes and unique constraints, in declaration order, from
    /// `#[document_spec(index(..), unique(..))]` (empty for a spec built at run time). Every
    /// backend enforces the unique ones; Postgres creates all of them with
    /// `forze_postgres::schema_sql`.
    pub indexes: &'static [IndexSpec],
    /// Whether the documents belong to tenants, from `#[document_spec(tenant = "column")]` (or
    /// `"schema"`); [`Tenancy::None`] by default. A scoped spec is used from a context bound to
    /// a tenant, a plain one from a context without: see [`Tenancy`].
    pub tenancy: Tenancy,
    _document: PhantomData<fn() -> D>,
}

impl<D> DocumentSpec<D> {
    /// A spec without caching.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) if `name` is not `[a-z][a-z0-9_]*` of at
    /// most 63 bytes.
    pub fn new(name: impl Into<Cow<'static, str>>) -> Result<Self> {
        let name = name.into();
        validate_name("name", &name)?;
        Ok(Self::__new_unchecked(name, None))
    }

    /// The same spec with read-through caching.
    #[must_use]
    pub fn with_cache(mut self, cache: CacheSpec) -> Self {
        self.cache = Some(cache);
        self
    }

    /// The same spec with its documents kept per tenant (see [`Tenancy`]).
    #[must_use]
    pub const fn with_tenancy(mut self, tenancy: Tenancy) -> Self {
        self.tenancy = tenancy;
        self
    }

    /// Whether `field` alone is declared unique (`unique(field)`), so
    /// [`find_by`](crate::DocumentQuery::find_by) can look it up.
    pub fn is_unique(&self, field: &str) -> bool {
        self.indexes
            .iter()
            .any(|i| i.unique && i.fields.len() == 1 && i.fields[0].name == field)
    }

    #[doc(hidden)]
    pub const fn __new_unchecked(name: Cow<'static, str>, cache: Option<CacheSpec>) -> Self {
        DocumentSpec {
            name,
            cache,
            indexes: &[],
            tenancy: Tenancy::None,
            _document: PhantomData,
        }
    }

    #[doc(hidden)]
    #[must_use]
    pub const fn __with_indexes_unchecked(mut self, indexes: &'static [IndexSpec]) -> Self {
        self.indexes = indexes;
        self
    }
}

impl<D> Clone for DocumentSpec<D> {
    fn clone(&self) -> Self {
        Self::__new_unchecked(self.name.clone(), self.cache.clone())
            .__with_indexes_unchecked(self.indexes)
            .with_tenancy(self.tenancy)
    }
}

impl<D> PartialEq for DocumentSpec<D> {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
            && self.cache == other.cache
            && self.indexes == other.indexes
            && self.tenancy == other.tenancy
    }
}

impl<D> fmt::Debug for DocumentSpec<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DocumentSpec")
            .field("document", &std::any::type_name::<D>())
            .field("name", &self.name)
            .field("cache", &self.cache)
            .field("indexes", &self.indexes)
            .field("tenancy", &self.tenancy)
            .finish()
    }
}
