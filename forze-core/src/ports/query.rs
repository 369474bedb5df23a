//! `DocumentQuery<D>`: typed reads.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use uuid::Uuid;

use crate::codec::{internal, many_not_found, not_found, row_to_read};
use crate::coordinator::DocumentLane;
use crate::error::Result;
use crate::model::Document;
use crate::ports::Find;
use crate::ports::PortScope;
use crate::query::{
    CmpOp, Comparable, Cond, Field, Predicate, Scalar, Schema, Select, Sort, ValueOf, eval,
    page_size,
};
use crate::store::ListQuery;

/// Typed reads of one document type, from
/// [`ctx.document().query(&SPEC)`](crate::DocumentAccess::query). Cheap to clone.
///
/// For a cached spec, [`get`](Self::get) and [`get_many`](Self::get_many) read through the
/// cache (outside transactions); every other read goes to the store.
///
/// # Cancel safety
///
/// Every method is cancel-safe: a read-through miss runs its store read and cache fill detached
/// and shares it with the other callers, so dropping one caller never hangs or fails another.
pub struct DocumentQuery<D: Document> {
    pub(crate) lane: Arc<DocumentLane<D>>,
    pub(crate) scope: PortScope,
}

impl<D: Document> Clone for DocumentQuery<D> {
    fn clone(&self) -> Self {
        DocumentQuery {
            lane: Arc::clone(&self.lane),
            scope: self.scope.clone(),
        }
    }
}

impl<D: Document> fmt::Debug for DocumentQuery<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DocumentQuery")
            .field("document", &self.lane.name)
            .field("scope", &self.scope)
            .finish()
    }
}

// The explicit `impl Future + Send` is part of the API: it promises `Send` to callers.
#[allow(clippy::manual_async_fn)]
impl<D: Document> DocumentQuery<D> {
    pub(crate) fn new(lane: Arc<DocumentLane<D>>, scope: PortScope) -> Self {
        DocumentQuery { lane, scope }
    }

    /// The document `id`. Read through the cache for a cached spec outside a transaction
    /// (inside one, from the store: the cache is never read or filled with uncommitted data).
    ///
    /// # Errors
    ///
    /// `NotFound` naming the spec and the id; the store's errors. Cache failures are not
    /// errors: the read falls back to the store.
    pub fn get(&self, id: Uuid) -> impl Future<Output = Result<D::Read>> + Send + '_ {
        async move {
            match (&self.lane.cached, &self.scope.tx) {
                (Some(cached), None) => cached.get(self.scope.tenant, id).await,
                _ => self.load(id, false).await,
            }
        }
    }

    /// The document `id` with a lock (`SELECT … FOR UPDATE` in a transaction). Always from the
    /// store: a locking read bypasses the cache.
    ///
    /// # Errors
    ///
    /// As [`get`](Self::get).
    pub fn get_for_update(&self, id: Uuid) -> impl Future<Output = Result<D::Read>> + Send + '_ {
        self.load(id, true)
    }

    async fn load(&self, id: Uuid, lock: bool) -> Result<D::Read> {
        let row = self
            .lane
            .store
            .get(&self.scope.store_cx(), id, lock)
            .await?
            .ok_or_else(|| not_found(&self.lane.name, id))?;
        row_to_read::<D>(&self.lane.name, row)
    }

    /// The documents `ids`, in input order (duplicates repeated). For a cached spec: one cache
    /// round trip, one store query for the misses, one fill round trip.
    ///
    /// # Errors
    ///
    /// `NotFound` naming every missing id.
    pub fn get_many<'a>(
        &'a self,
        ids: &'a [Uuid],
    ) -> impl Future<Output = Result<Vec<D::Read>>> + Send + 'a {
        async move {
            if ids.is_empty() {
                return Ok(Vec::new());
            }
            if let (Some(cached), None) = (&self.lane.cached, &self.scope.tx) {
                return cached.get_many(self.scope.tenant, ids).await;
            }
            let name = &self.lane.name;
            let rows = self
                .lane
                .store
                .get_many(&self.scope.store_cx(), ids)
                .await?;
            let mut by_id = std::collections::HashMap::with_capacity(rows.len());
            for row in rows {
                let id = row.meta.id;
                by_id.insert(id, row_to_read::<D>(name, row)?);
            }
            let mut missing: Vec<Uuid> = ids
                .iter()
                .filter(|id| !by_id.contains_key(id))
                .copied()
                .collect();
            if !missing.is_empty() {
                missing.dedup();
                let mut seen = std::collections::HashSet::new();
                missing.retain(|id| seen.insert(*id));
                return Err(many_not_found(name, &missing));
            }
            ids.iter()
                .map(|id| {
                    by_id
                        .get(id)
                        .cloned()
                        .ok_or_else(|| internal(name, "lost a row of get_many"))
                })
                .collect()
        }
    }

    /// The document whose field `field` equals `value`, if any: for a field declared unique in
    /// the spec (`#[document_spec(unique(sku))]`).
    ///
    /// For a cached spec outside a transaction, served through the cache: the id of the
    /// document holding a value is remembered, the document is read like [`get`](Self::get)
    /// (L1, shared cache, store) and checked to still hold the value; if it does not (or is
    /// gone), the store is asked. A lookup never returns a document whose field no longer has
    /// the value, by the freshness contract of `get`. Otherwise, one indexed store query.
    ///
    /// # Errors
    ///
    /// `Validation` if the field is not declared unique on its own, or the value does not fit
    /// it; the store's errors.
    pub fn find_by<V: Comparable, N>(
        &self,
        field: Field<D, V, N>,
        value: impl ValueOf<V>,
    ) -> impl Future<Output = Result<Option<D::Read>>> + Send + '_ {
        let name = field.name();
        let value = value.into_json();
        async move {
            let schema = Schema {
                document: &self.lane.name,
                fields: D::FIELDS,
            };
            if !D::SPEC.is_unique(name) {
                return Err(schema.invalid(format!(
                    "`find_by` needs a field declared unique on its own, and `{name}` is not; \
                     declare it with `#[document_spec(unique({name}))]`, or use `find().filter(..)`"
                )));
            }
            let column = schema.column(name, "find_by")?;
            let scalar = schema.scalar(column, "find_by", &value)?;
            let tenant = self.scope.tenant;
            let through_cache = match (&self.lane.cached, &self.lane.unique_ids, &self.scope.tx) {
                (Some(cached), Some(ids), None) => Some((cached, ids)),
                _ => None,
            };
            if let Some((cached, ids)) = through_cache
                && let Some(id) = ids.get(tenant, column, &scalar)
            {
                match cached.get(tenant, id).await {
                    Ok(read) if holds::<D>(&read, column, &scalar) => return Ok(Some(read)),
                    Ok(_) => ids.remove(tenant, column, &scalar),
                    Err(e) if e.kind() == crate::ErrorKind::NotFound => {
                        ids.remove(tenant, column, &scalar);
                    }
                    Err(e) => return Err(e),
                }
            }
            let select = Select {
                filter: Some(Predicate::Column(
                    column,
                    Cond::Compare(CmpOp::Eq, scalar.clone()),
                )),
                sort: schema.sort(&[])?,
                after: None,
                offset: 0,
                limit: Some(2),
            };
            let mut rows = self
                .lane
                .store
                .find(&self.scope.store_cx(), &select)
                .await?;
            if rows.len() > 1 {
                return Err(crate::codec::internal(
                    &self.lane.name,
                    &format!(
                        "returned two documents holding one value of unique field `{name}` (is \
                         its unique constraint missing from the table?)"
                    ),
                ));
            }
            let Some(row) = rows.pop() else {
                return Ok(None);
            };
            let id = row.meta.id;
            let read = row_to_read::<D>(&self.lane.name, row)?;
            if let Some((_, ids)) = through_cache {
                ids.insert(tenant, column, &scalar, id);
            }
            Ok(Some(read))
        }
    }

    /// A query: filters, sort keys, then pages, cursors, counts or a stream (see [`Find`]).
    /// Always from the store.
    pub fn find(&self) -> Find<'_, D> {
        Find::new(self)
    }

    /// A page of documents (`limit`, `offset`, sort by one field or metadata, then by id).
    /// Always from the store. [`find`](Self::find) does this and more.
    ///
    /// # Errors
    ///
    /// `Validation` for an unknown sort field; the store's errors.
    pub fn list(&self, query: ListQuery) -> impl Future<Output = Result<Vec<D::Read>>> + Send + '_ {
        async move {
            let schema = Schema {
                document: &self.lane.name,
                fields: D::FIELDS,
            };
            // ties by id in the same direction, as `list` always did
            let sort: Vec<Sort> = match query.sort {
                None => Vec::new(),
                Some((field, order)) => vec![
                    Sort { field, order },
                    Sort {
                        field: "id".into(),
                        order,
                    },
                ],
            };
            let select = Select {
                filter: None,
                sort: schema.sort(&sort)?,
                after: None,
                offset: query.offset,
                limit: match query.limit {
                    Some(0) => Some(0),
                    Some(limit) => Some(page_size(&schema, limit)?),
                    None => None,
                },
            };
            let rows = self
                .lane
                .store
                .find(&self.scope.store_cx(), &select)
                .await?;
            rows.into_iter()
                .map(|row| row_to_read::<D>(&self.lane.name, row))
                .collect()
        }
    }

    /// The number of documents. Always from the store. `find().filter(..).count()` counts the
    /// documents that match a filter.
    ///
    /// # Errors
    ///
    /// The store's errors.
    pub fn count(&self) -> impl Future<Output = Result<u64>> + Send + '_ {
        async move { self.lane.store.count(&self.scope.store_cx(), None).await }
    }
}

/// Whether `read` holds `value` in `field`.
fn holds<D: Document>(read: &D::Read, field: &crate::model::FieldSchema, value: &Scalar) -> bool {
    let Ok(serde_json::Value::Object(mut fields)) = serde_json::to_value(read) else {
        return false;
    };
    crate::codec::json_to_columns(D::FIELDS, &mut fields);
    let row = crate::model::Row::new(D::meta(read), fields);
    eval::value_of(&row, field).is_some_and(|v| eval::compare(&v, value).is_eq())
}
