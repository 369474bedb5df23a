//! The object-safe document-store contract that backends implement.
//!
//! Backends work on untyped [`Row`]s; the typed ports ([`DocumentCommand`](crate::DocumentCommand),
//! [`DocumentQuery`](crate::DocumentQuery)) convert. Every method is cancel-safe in the sense that
//! dropping its future never corrupts the store (an in-flight statement may or may not commit).

use std::any::Any;
use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::error::Result;
use crate::model::{FieldSchema, Row};
pub use crate::query::SortOrder;
use crate::query::{Predicate, Select};
use crate::spec::{IndexSpec, Tenancy};

/// Re-exported from the crate root, where it lives ([`crate::BoxFuture`]).
pub use crate::BoxFuture;

/// Per-call context handed to a store: the transaction the call runs in, if any, and the tenant
/// bound to the calling context.
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct StoreCx {
    /// The open transaction (from a [`TransactionManager`] registered for the same backend).
    pub tx: Option<Arc<dyn Transaction>>,
    /// The tenant bound to the calling context (`ctx.with_tenant(..)`), if any.
    ///
    /// `Some` exactly when the binding's [`tenancy`](DocumentBinding::tenancy) is scoped (the
    /// ports check it; stores check it again with [`Tenancy::check`]). Cache keys and
    /// single-flight keys are partitioned by tenant, and a store keeps each tenant's documents
    /// apart: every statement sees only this tenant's documents.
    pub tenant: Option<Uuid>,
}

impl StoreCx {
    /// A context outside any transaction.
    pub fn none() -> Self {
        StoreCx::default()
    }

    /// A context inside `tx`.
    pub fn in_tx(tx: Arc<dyn Transaction>) -> Self {
        StoreCx {
            tx: Some(tx),
            tenant: None,
        }
    }

    /// The same context, for `tenant` (`None` = no tenant).
    #[must_use]
    pub fn with_tenant(mut self, tenant: Option<Uuid>) -> Self {
        self.tenant = tenant;
        self
    }
}

impl fmt::Debug for StoreCx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreCx")
            .field("in_transaction", &self.tx.is_some())
            .field("tenant", &self.tenant)
            .finish()
    }
}

/// One optimistic-concurrency update: apply `fields` to `id` if its stored rev is `rev`.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq)]
pub struct Patch {
    /// The document.
    pub id: Uuid,
    /// The rev the caller read; a different stored rev is `RevisionMismatch`.
    pub rev: i64,
    /// The fields to set (a JSON `null` clears a nullable field). Absent = unchanged.
    pub fields: serde_json::Map<String, serde_json::Value>,
}

impl Patch {
    /// Build a patch.
    pub fn new(id: Uuid, rev: i64, fields: serde_json::Map<String, serde_json::Value>) -> Self {
        Patch { id, rev, fields }
    }
}

/// The result of one applied [`Patch`].
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq)]
pub struct Updated {
    /// The stored row after the update.
    pub row: Row,
    /// `false` if the patch changed nothing: nothing was written and the rev was kept.
    pub changed: bool,
}

impl Updated {
    /// Build an outcome.
    pub fn new(row: Row, changed: bool) -> Self {
        Updated { row, changed }
    }
}

/// One insert-or-update of an upsert ([`DocumentStore::upsert`]).
///
/// If no document has `row`'s id, `row` is inserted as given (the caller sets rev 1 and both
/// timestamps). If one exists and its stored rev is `rev`, its fields are replaced by `row`'s
/// (a nullable field absent from `row` becomes null) and, if that changes something, its rev is
/// bumped and `last_update_at` set to `row.meta.last_update_at`; `created_at` is kept. If its
/// stored rev is not `rev`, the call fails with `RevisionMismatch` naming the id. Revs start at
/// 1, so `rev = 0` means "insert only": an existing document is then a mismatch.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq)]
pub struct Upsert {
    /// The document to insert, or whose fields replace the stored ones.
    pub row: Row,
    /// The rev the caller read, checked if the document exists (`0`: it must not exist).
    pub rev: i64,
}

impl Upsert {
    /// Build an upsert.
    pub fn new(row: Row, rev: i64) -> Self {
        Upsert { row, rev }
    }
}

/// The result of one [`Upsert`].
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq)]
pub struct Upserted {
    /// The stored row after the call.
    pub row: Row,
    /// `true` if the row was inserted, `false` if it existed.
    pub inserted: bool,
    /// `true` if something was written (inserted, or updated with a change).
    pub changed: bool,
}

impl Upserted {
    /// Build an outcome.
    pub fn new(row: Row, inserted: bool, changed: bool) -> Self {
        Upserted {
            row,
            inserted,
            changed,
        }
    }
}

/// A page of documents: sorted by one field (or the metadata `id`, `rev`, `created_at`,
/// `last_update_at`), then by `id` for a stable order.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListQuery {
    /// At most this many rows (`None` = all).
    pub limit: Option<u64>,
    /// Skip this many rows.
    pub offset: u64,
    /// The field to sort by and the direction; `None` = by `id` ascending.
    pub sort: Option<(Cow<'static, str>, SortOrder)>,
}

impl ListQuery {
    /// Every document, by id.
    pub fn new() -> Self {
        ListQuery::default()
    }
    /// At most `limit` rows.
    #[must_use]
    pub fn limit(mut self, limit: u64) -> Self {
        self.limit = Some(limit);
        self
    }
    /// Skip `offset` rows.
    #[must_use]
    pub fn offset(mut self, offset: u64) -> Self {
        self.offset = offset;
        self
    }
    /// Sort by `field` in `order`.
    #[must_use]
    pub fn sort(mut self, field: impl Into<Cow<'static, str>>, order: SortOrder) -> Self {
        self.sort = Some((field.into(), order));
        self
    }
}

/// What a document backend is bound to: one spec's logical name, field schema and indexes.
#[non_exhaustive]
#[derive(Debug, Clone)]
pub struct DocumentBinding {
    /// The spec's logical name.
    pub name: Cow<'static, str>,
    /// The document's fields.
    pub fields: &'static [FieldSchema],
    /// The spec's indexes and unique constraints ([`DocumentSpec::indexes`]); a backend must
    /// enforce the unique ones, with [`IndexSpec::conflict`] as the error.
    ///
    /// [`DocumentSpec::indexes`]: crate::DocumentSpec::indexes
    pub indexes: &'static [IndexSpec],
    /// Whether the documents belong to tenants ([`DocumentSpec::tenancy`]). A backend keeps
    /// each tenant's documents apart (every statement scoped to [`StoreCx::tenant`]) and refuses
    /// a call whose tenant does not fit ([`Tenancy::check`]).
    ///
    /// [`DocumentSpec::tenancy`]: crate::DocumentSpec::tenancy
    pub tenancy: Tenancy,
}

impl DocumentBinding {
    /// Build a binding without indexes.
    pub fn new(name: impl Into<Cow<'static, str>>, fields: &'static [FieldSchema]) -> Self {
        DocumentBinding {
            name: name.into(),
            fields,
            indexes: &[],
            tenancy: Tenancy::None,
        }
    }

    /// The same binding with the spec's indexes and unique constraints.
    #[must_use]
    pub fn with_indexes(mut self, indexes: &'static [IndexSpec]) -> Self {
        self.indexes = indexes;
        self
    }

    /// The same binding for a spec whose documents belong to tenants.
    #[must_use]
    pub fn with_tenancy(mut self, tenancy: Tenancy) -> Self {
        self.tenancy = tenancy;
        self
    }
}

/// A registered document backend: makes the store of one spec.
///
/// The runtime calls [`bind`](Self::bind) once per spec and keeps the store.
pub trait DocumentBackend: Send + Sync + fmt::Debug {
    /// The store for one document type.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) if the backend cannot serve this schema.
    fn bind(&self, binding: &DocumentBinding) -> Result<Arc<dyn DocumentStore>>;
}

/// Stores documents. Object-safe; used as `Arc<dyn DocumentStore>`.
///
/// Contracts every implementation keeps (the in-memory store is the reference):
/// ids and timestamps come from the caller; a duplicate id is `Conflict`; a write breaking a
/// declared unique constraint ([`DocumentBinding::indexes`]) is `Conflict` from
/// [`IndexSpec::conflict`], also between concurrent writers; a missing id is
/// `NotFound` naming it; a stale rev is `RevisionMismatch`; batch writes are all or nothing; a
/// patch that changes nothing writes nothing and keeps `rev` and `last_update_at`.
pub trait DocumentStore: Send + Sync + fmt::Debug {
    /// Insert new rows, all or nothing. A duplicate id (stored or within `rows`) is `Conflict`.
    fn insert<'a>(&'a self, cx: &'a StoreCx, rows: Vec<Row>) -> BoxFuture<'a, Result<Vec<Row>>>;

    /// Insert `row` unless its id exists. Returns the stored row and whether it was inserted.
    fn ensure<'a>(&'a self, cx: &'a StoreCx, row: Row) -> BoxFuture<'a, Result<(Row, bool)>>;

    /// Apply every patch, all or nothing. Each changed row gets `rev + 1` and
    /// `last_update_at = now`.
    fn update<'a>(
        &'a self,
        cx: &'a StoreCx,
        patches: Vec<Patch>,
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<Vec<Updated>>>;

    /// Bump `rev` and set `last_update_at = now` without changing fields.
    fn touch<'a>(
        &'a self,
        cx: &'a StoreCx,
        id: Uuid,
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<Row>>;

    /// Delete every id, all or nothing; missing ids are `NotFound` naming them.
    fn delete<'a>(&'a self, cx: &'a StoreCx, ids: &'a [Uuid]) -> BoxFuture<'a, Result<()>>;

    /// Insert or revision-checked update of every item ([`Upsert`]), all or nothing; returned in
    /// input order. Ids must be distinct (`Validation` naming the repeated ones); a stored rev
    /// other than the item's is `RevisionMismatch` naming the id. Empty input does no I/O.
    fn upsert<'a>(
        &'a self,
        cx: &'a StoreCx,
        items: Vec<Upsert>,
    ) -> BoxFuture<'a, Result<Vec<Upserted>>>;

    /// [`ensure`](Self::ensure) of every row, all or nothing: each row whose id is absent is
    /// inserted, the others are returned as stored (unchanged). Returned in input order, with
    /// `true` for the inserted ones. Ids must be distinct (`Validation`).
    fn ensure_many<'a>(
        &'a self,
        cx: &'a StoreCx,
        rows: Vec<Row>,
    ) -> BoxFuture<'a, Result<Vec<(Row, bool)>>>;

    /// [`touch`](Self::touch) every id, all or nothing; returned in input order. Ids must be
    /// distinct (`Validation`); missing ids are `NotFound` naming them (nothing is touched).
    fn touch_many<'a>(
        &'a self,
        cx: &'a StoreCx,
        ids: &'a [Uuid],
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<Vec<Row>>>;

    /// Delete every `(id, rev)` whose stored rev is `rev`, all or nothing: a missing id is
    /// `NotFound`, a stored rev other than `rev` is `RevisionMismatch`, each naming the id.
    /// Ids must be distinct (`Validation`).
    fn delete_at<'a>(
        &'a self,
        cx: &'a StoreCx,
        expected: &'a [(Uuid, i64)],
    ) -> BoxFuture<'a, Result<()>>;

    /// Set `fields` on every row matching `filter` in one statement, as an update without a rev
    /// check: a row where that changes something gets `rev + 1` and `last_update_at = now`;
    /// the others are not written. Returns the `(id, new rev)` of every changed row, in any
    /// order. All or nothing (a unique constraint broken by one row fails the call).
    fn update_matching<'a>(
        &'a self,
        cx: &'a StoreCx,
        filter: &'a Predicate,
        fields: serde_json::Map<String, serde_json::Value>,
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<Vec<(Uuid, i64)>>>;

    /// One document; `lock` = `SELECT … FOR UPDATE` semantics inside a transaction.
    fn get<'a>(
        &'a self,
        cx: &'a StoreCx,
        id: Uuid,
        lock: bool,
    ) -> BoxFuture<'a, Result<Option<Row>>>;

    /// The documents that exist among `ids`, in any order, in one query.
    fn get_many<'a>(&'a self, cx: &'a StoreCx, ids: &'a [Uuid]) -> BoxFuture<'a, Result<Vec<Row>>>;

    /// The rows a checked query selects, in its order (see [`Select`]): matching its filter,
    /// after its keyset position, past its offset, at most its limit. With the semantics of
    /// [`query`](crate::query#semantics) (the in-memory store's
    /// [`eval`](crate::query::eval) is the reference).
    fn find<'a>(&'a self, cx: &'a StoreCx, select: &'a Select) -> BoxFuture<'a, Result<Vec<Row>>>;

    /// The number of rows matching `filter` (`None`: every row).
    fn count<'a>(
        &'a self,
        cx: &'a StoreCx,
        filter: Option<&'a Predicate>,
    ) -> BoxFuture<'a, Result<u64>>;
}

/// An open transaction of some backend. Stores downcast it through [`as_any`](Self::as_any).
pub trait Transaction: Send + Sync + 'static {
    /// For the backend's stores to reach their own transaction type.
    fn as_any(&self) -> &dyn Any;
    /// Commit. Later calls through this transaction fail.
    fn commit(&self) -> BoxFuture<'_, Result<()>>;
    /// Roll back. Later calls through this transaction fail.
    fn rollback(&self) -> BoxFuture<'_, Result<()>>;
}

/// Opens transactions: registered under a route name (`.tx("products")`).
pub trait TransactionManager: Send + Sync + fmt::Debug {
    /// Begin a transaction.
    fn begin(&self) -> BoxFuture<'_, Result<Arc<dyn Transaction>>>;
}
