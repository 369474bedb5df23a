//! `DocumentCommand<D>`: typed writes.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use uuid::Uuid;

use crate::cache::TOMBSTONE_DELETED;
use crate::codec::{create_fields, internal, row_to_read, update_fields};
use crate::coordinator::DocumentLane;
use crate::error::Result;
use crate::model::{Document, DocumentMeta, Row};
use crate::ports::{PortScope, detached, distinct};
use crate::query::{Filter, IntoFilter, Op, Schema, Select};
use crate::store::{Patch, StoreCx, Upsert};

/// Typed writes of one document type, from
/// [`ctx.document().command(&SPEC)`](crate::DocumentAccess::command). Cheap to clone.
///
/// Every write of a cached spec invalidates the written ids after it commits (after the
/// transaction commits, for a context inside one), with tombstones carrying the new rev, so a
/// read that starts after the write returned never sees the old value.
///
/// A write that fails with `Unavailable` has an uncertain outcome (it may have applied and its
/// reply been lost): the ids it may have written are invalidated anyway, before the error is
/// returned. A write the store refused before sending it ([`Error::is_not_applied`], for
/// example no connection could be acquired) leaves the cache alone.
///
/// [`Error::is_not_applied`]: crate::Error::is_not_applied
///
/// # Cancel safety
///
/// Once polled, a write runs detached: the store write and the invalidation that follows finish
/// even if the caller goes away. Inside a transaction, a write abandoned that way still counts:
/// the commit waits for it, then runs its invalidation with the others.
pub struct DocumentCommand<D: Document> {
    lane: Arc<DocumentLane<D>>,
    scope: PortScope,
}

impl<D: Document> Clone for DocumentCommand<D> {
    fn clone(&self) -> Self {
        DocumentCommand {
            lane: Arc::clone(&self.lane),
            scope: self.scope.clone(),
        }
    }
}

impl<D: Document> fmt::Debug for DocumentCommand<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DocumentCommand")
            .field("document", &self.lane.name)
            .field("scope", &self.scope)
            .finish()
    }
}

/// What a write task owns.
struct Write<D: Document> {
    lane: Arc<DocumentLane<D>>,
    scope: PortScope,
}

impl<D: Document> Write<D> {
    fn name(&self) -> &str {
        &self.lane.name
    }

    async fn invalidate(&self, written: Vec<(Uuid, i64)>) {
        self.lane
            .after_write(self.scope.tenant, self.scope.tx.as_deref(), written)
            .await;
    }

    /// The store's answer to a write. An `Unavailable` error leaves the outcome uncertain (the
    /// write may have applied and its reply been lost, or a client-side timeout fired after the
    /// server applied it): the ids it may have written, `maybe()` with a rev at least as high as
    /// any it could have committed, are invalidated anyway. If it did not apply, the tombstones
    /// only cost misses until they expire.
    async fn invalidate_if_uncertain<T>(
        &self,
        result: Result<T>,
        maybe: impl FnOnce() -> Vec<(Uuid, i64)>,
    ) -> Result<T> {
        if let Err(err) = &result
            && err.outcome_unknown()
        {
            let ids = maybe();
            tracing::warn!(
                document = %self.name(),
                ids = ids.len(),
                error = %err,
                "a write failed with an uncertain outcome; invalidating the ids it may have written"
            );
            self.invalidate(ids).await;
        }
        result
    }

    /// After an update of uncertain outcome stamped `now`: the documents whose
    /// `last_update_at` is `now`, with their current revs (best effort: empty, with a warning,
    /// if the read fails). Every document such an update changed is among them unless it was
    /// written again since, by a writer that invalidated it itself.
    async fn written_at(&self, now: chrono::DateTime<chrono::Utc>) -> Vec<(Uuid, i64)> {
        let filter = Filter::field(
            "last_update_at",
            Op::Eq,
            now.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        );
        let cx = StoreCx::none().with_tenant(self.scope.tenant);
        let found = match Select::new(self.name(), D::FIELDS, Some(&filter), &[]) {
            Ok(select) => self.lane.store.find(&cx, &select).await,
            Err(err) => Err(err),
        };
        match found {
            Ok(rows) => rows.iter().map(|r| (r.meta.id, r.meta.rev)).collect(),
            Err(err) => {
                tracing::warn!(
                    document = %self.name(),
                    error = %err,
                    "could not read back the documents an uncertain update_matching may have changed; their cached copies may stay stale until they expire"
                );
                Vec::new()
            }
        }
    }

    fn new_row(
        &self,
        create: &D::Create,
        now: chrono::DateTime<chrono::Utc>,
        id: Uuid,
    ) -> Result<Row> {
        let fields = create_fields::<D>(self.name(), create)?;
        Ok(Row::new(DocumentMeta::new(id, now), fields))
    }
}

impl<D: Document> DocumentCommand<D> {
    pub(crate) fn new(lane: Arc<DocumentLane<D>>, scope: PortScope) -> Self {
        DocumentCommand { lane, scope }
    }

    fn write(&self) -> Write<D> {
        Write {
            lane: Arc::clone(&self.lane),
            scope: self.scope.clone(),
        }
    }

    /// Insert a new document: a new UUID v7 id, rev 1, both timestamps from the runtime clock.
    ///
    /// # Errors
    ///
    /// `Validation` if the input is rejected before it reaches the store: a NaN or infinite
    /// float, or a [`Validate`](crate::Validate) check (with `#[forze(validate)]`), naming
    /// every failing field ([`Error::validation_errors`](crate::Error::validation_errors));
    /// `Conflict` if the id exists (practically impossible with v7 ids); the store's errors.
    pub fn create(
        &self,
        input: D::Create,
    ) -> impl Future<Output = Result<D::Read>> + Send + 'static {
        let w = self.write();
        detached(w.scope.tx.clone(), async move {
            let row = w.new_row(&input, w.scope.now(), Uuid::now_v7())?;
            let id = row.meta.id;
            let inserted = w.lane.store.insert(&w.scope.store_cx(), vec![row]).await;
            let row = w
                .invalidate_if_uncertain(inserted, || vec![(id, 1)])
                .await?
                .pop()
                .ok_or_else(|| internal(w.name(), "returned no row for an insert"))?;
            w.invalidate(vec![(row.meta.id, row.meta.rev)]).await;
            row_to_read::<D>(w.name(), row)
        })
    }

    /// Insert several documents, all or nothing; returned in input order. Empty input does no
    /// I/O.
    ///
    /// # Errors
    ///
    /// As [`create`](Self::create); nothing is written on error.
    pub fn create_many(
        &self,
        inputs: Vec<D::Create>,
    ) -> impl Future<Output = Result<Vec<D::Read>>> + Send + 'static {
        let w = self.write();
        detached(w.scope.tx.clone(), async move {
            if inputs.is_empty() {
                return Ok(Vec::new());
            }
            let now = w.scope.now();
            let rows = inputs
                .iter()
                .map(|input| w.new_row(input, now, Uuid::now_v7()))
                .collect::<Result<Vec<_>>>()?;
            let ids: Vec<(Uuid, i64)> = rows.iter().map(|r| (r.meta.id, 1)).collect();
            let inserted = w.lane.store.insert(&w.scope.store_cx(), rows).await;
            let rows = w.invalidate_if_uncertain(inserted, || ids).await?;
            w.invalidate(rows.iter().map(|r| (r.meta.id, r.meta.rev)).collect())
                .await;
            rows.into_iter()
                .map(|row| row_to_read::<D>(w.name(), row))
                .collect()
        })
    }

    /// Insert the document `id` if it is absent; otherwise return the stored document
    /// unchanged (no rev bump, no write).
    ///
    /// # Errors
    ///
    /// The store's errors.
    pub fn ensure(
        &self,
        id: Uuid,
        input: D::Create,
    ) -> impl Future<Output = Result<D::Read>> + Send + 'static {
        let w = self.write();
        detached(w.scope.tx.clone(), async move {
            let row = w.new_row(&input, w.scope.now(), id)?;
            let ensured = w.lane.store.ensure(&w.scope.store_cx(), row).await;
            let (row, inserted) = w.invalidate_if_uncertain(ensured, || vec![(id, 1)]).await?;
            if inserted {
                w.invalidate(vec![(row.meta.id, row.meta.rev)]).await;
            }
            row_to_read::<D>(w.name(), row)
        })
    }

    /// Apply `update` to the document `id` if its stored rev is `rev`. Fields left `None` are
    /// unchanged (`Some(None)` clears a nullable field). A change bumps the rev and
    /// `last_update_at`; an update that changes nothing writes nothing and returns the stored
    /// document with its rev.
    ///
    /// # Errors
    ///
    /// `Validation` for rejected input, as [`create`](Self::create); `NotFound` if `id` does
    /// not exist, `RevisionMismatch` if the stored rev is not `rev`.
    pub fn update(
        &self,
        id: Uuid,
        rev: i64,
        update: D::Update,
    ) -> impl Future<Output = Result<D::Read>> + Send + 'static {
        let w = self.write();
        detached(w.scope.tx.clone(), async move {
            let fields = update_fields::<D>(w.name(), &update)?;
            let updated = w
                .lane
                .store
                .update(
                    &w.scope.store_cx(),
                    vec![Patch::new(id, rev, fields)],
                    w.scope.now(),
                )
                .await;
            // Applied, the update committed `rev + 1`.
            let updated = w
                .invalidate_if_uncertain(updated, || vec![(id, rev.saturating_add(1))])
                .await?
                .pop()
                .ok_or_else(|| internal(w.name(), "returned no row for an update"))?;
            if updated.changed {
                w.invalidate(vec![(id, updated.row.meta.rev)]).await;
            }
            row_to_read::<D>(w.name(), updated.row)
        })
    }

    /// Apply several updates, all or nothing (one stale rev or missing id and nothing is
    /// written); returned in input order. Ids must be distinct.
    ///
    /// # Errors
    ///
    /// `Validation` for repeated ids; as [`update`](Self::update).
    pub fn update_many(
        &self,
        updates: Vec<(Uuid, i64, D::Update)>,
    ) -> impl Future<Output = Result<Vec<D::Read>>> + Send + 'static {
        let w = self.write();
        detached(w.scope.tx.clone(), async move {
            if updates.is_empty() {
                return Ok(Vec::new());
            }
            distinct(
                w.name(),
                "update_many",
                updates.iter().map(|(id, _, _)| *id),
            )?;
            let patches = updates
                .iter()
                .map(|(id, rev, update)| {
                    Ok(Patch::new(*id, *rev, update_fields::<D>(w.name(), update)?))
                })
                .collect::<Result<Vec<_>>>()?;
            let updated = w
                .lane
                .store
                .update(&w.scope.store_cx(), patches, w.scope.now())
                .await;
            let updated = w
                .invalidate_if_uncertain(updated, || {
                    updates
                        .iter()
                        .map(|(id, rev, _)| (*id, rev.saturating_add(1)))
                        .collect()
                })
                .await?;
            w.invalidate(
                updated
                    .iter()
                    .filter(|u| u.changed)
                    .map(|u| (u.row.meta.id, u.row.meta.rev))
                    .collect(),
            )
            .await;
            let mut by_id: std::collections::HashMap<Uuid, Row> = updated
                .into_iter()
                .map(|u| (u.row.meta.id, u.row))
                .collect();
            updates
                .iter()
                .map(|(id, _, _)| {
                    let row = by_id
                        .remove(id)
                        .ok_or_else(|| internal(w.name(), "returned no row for an updated id"))?;
                    row_to_read::<D>(w.name(), row)
                })
                .collect()
        })
    }

    /// Bump the rev and `last_update_at` of the document `id` without changing fields.
    ///
    /// # Errors
    ///
    /// `NotFound` if `id` does not exist.
    pub fn touch(&self, id: Uuid) -> impl Future<Output = Result<D::Read>> + Send + 'static {
        let w = self.write();
        detached(w.scope.tx.clone(), async move {
            let touched = w
                .lane
                .store
                .touch(&w.scope.store_cx(), id, w.scope.now())
                .await;
            // The rev a lost touch committed is unknown (reading it back could race the touch
            // still applying), so its tombstone outranks every rev: the id is not cached again
            // until it expires (the cache `ttl`). Uncertain touches are rare; the cost is the
            // misses of one id.
            let row = w
                .invalidate_if_uncertain(touched, || vec![(id, TOMBSTONE_DELETED)])
                .await?;
            w.invalidate(vec![(id, row.meta.rev)]).await;
            row_to_read::<D>(w.name(), row)
        })
    }

    /// Delete the document `id`. Its cache key gets a tombstone no fill can pass until it
    /// expires (no resurrection by a late reader).
    ///
    /// # Errors
    ///
    /// `NotFound` if `id` does not exist.
    pub fn delete(&self, id: Uuid) -> impl Future<Output = Result<()>> + Send + 'static {
        let w = self.write();
        detached(w.scope.tx.clone(), async move {
            let deleted = w.lane.store.delete(&w.scope.store_cx(), &[id]).await;
            w.invalidate_if_uncertain(deleted, || vec![(id, TOMBSTONE_DELETED)])
                .await?;
            w.invalidate(vec![(id, TOMBSTONE_DELETED)]).await;
            Ok(())
        })
    }

    /// Delete several documents, all or nothing. Ids must be distinct; empty input does no I/O.
    ///
    /// # Errors
    ///
    /// `Validation` for repeated ids; `NotFound` naming every missing id (nothing is deleted).
    pub fn delete_many(&self, ids: &[Uuid]) -> impl Future<Output = Result<()>> + Send + 'static {
        let w = self.write();
        let ids = ids.to_vec();
        detached(w.scope.tx.clone(), async move {
            if ids.is_empty() {
                return Ok(());
            }
            distinct(w.name(), "delete_many", ids.iter().copied())?;
            let deleted = w.lane.store.delete(&w.scope.store_cx(), &ids).await;
            w.invalidate_if_uncertain(deleted, || {
                ids.iter().map(|id| (*id, TOMBSTONE_DELETED)).collect()
            })
            .await?;
            w.invalidate(ids.iter().map(|id| (*id, TOMBSTONE_DELETED)).collect())
                .await;
            Ok(())
        })
    }

    /// Insert the document `id`, or replace its fields if its stored rev is `rev`: one
    /// statement. `rev` is the rev the caller read; it is checked only if the document exists
    /// (revs start at 1, so `rev = 0` means "insert only, it must not exist"). An insert gets
    /// rev 1 and both timestamps from the runtime clock; an update that changes something bumps
    /// the rev and `last_update_at` (and keeps `created_at`); one that changes nothing writes
    /// nothing. The written id is invalidated after commit, like [`update`](Self::update).
    ///
    /// # Examples
    ///
    /// ```
    /// use forze_core::memory::MemoryDepsModule;
    /// use forze_core::prelude::*;
    /// use forze_core::{DepsRegistry, ErrorKind, ExecutionRuntime, LifecyclePlan};
    ///
    /// # #[derive(forze_core::Document)]
    /// # #[document_spec(name = "products", cache(name = "products"))]
    /// # pub struct Product { pub name: String, pub price: i32 }
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// # let module = MemoryDepsModule::new().document("products").cache("products");
    /// # let runtime = ExecutionRuntime::new(
    /// #     DepsRegistry::from_modules([module.boxed()]).freeze()?,
    /// #     LifecyclePlan::new().freeze()?,
    /// # );
    /// # let ctx = runtime.context();
    /// let products = ctx.document().command(&PRODUCT_SPEC)?;
    /// let widget = |price| ProductCreate { name: "Widget".into(), price };
    /// let id = uuid::Uuid::now_v7();
    /// // absent: inserted at rev 1 (the rev passed is not checked)
    /// let v1 = products.upsert(id, 0, widget(10)).await?;
    /// assert_eq!(v1.rev, 1);
    /// // present at rev 1: replaced
    /// let v2 = products.upsert(id, v1.rev, widget(12)).await?;
    /// assert_eq!((v2.rev, v2.price), (2, 12));
    /// // a stale rev fails, naming the id, and writes nothing
    /// let stale = products.upsert(id, v1.rev, widget(9)).await.unwrap_err();
    /// assert_eq!(stale.kind(), ErrorKind::RevisionMismatch);
    /// assert!(stale.to_string().contains(&id.to_string()));
    /// # Ok::<(), forze_core::Error>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    ///
    /// `RevisionMismatch` naming `id` if it exists at another rev; `Conflict` for a broken
    /// unique constraint; the store's errors.
    pub fn upsert(
        &self,
        id: Uuid,
        rev: i64,
        input: D::Create,
    ) -> impl Future<Output = Result<D::Read>> + Send + 'static {
        let name = self.lane.name.to_string();
        let many = self.upsert_many(vec![(id, rev, input)]);
        async move {
            many.await?
                .pop()
                .ok_or_else(|| internal(&name, "returned no row for an upsert"))
        }
    }

    /// [`upsert`](Self::upsert) of several documents in one statement, all or nothing (one
    /// stale rev and nothing is written); returned in input order. Ids must be distinct; empty
    /// input does no I/O.
    ///
    /// # Errors
    ///
    /// `Validation` naming repeated ids; as [`upsert`](Self::upsert).
    pub fn upsert_many(
        &self,
        items: Vec<(Uuid, i64, D::Create)>,
    ) -> impl Future<Output = Result<Vec<D::Read>>> + Send + 'static {
        let w = self.write();
        detached(w.scope.tx.clone(), async move {
            if items.is_empty() {
                return Ok(Vec::new());
            }
            distinct(w.name(), "upsert_many", items.iter().map(|(id, _, _)| *id))?;
            let now = w.scope.now();
            let upserts = items
                .iter()
                .map(|(id, rev, input)| Ok(Upsert::new(w.new_row(input, now, *id)?, *rev)))
                .collect::<Result<Vec<_>>>()?;
            let upserted = w.lane.store.upsert(&w.scope.store_cx(), upserts).await;
            // Applied, an item committed rev 1 (inserted) or `rev + 1` (updated).
            let upserted = w
                .invalidate_if_uncertain(upserted, || {
                    items
                        .iter()
                        .map(|(id, rev, _)| (*id, rev.saturating_add(1).max(1)))
                        .collect()
                })
                .await?;
            w.invalidate(
                upserted
                    .iter()
                    .filter(|u| u.changed)
                    .map(|u| (u.row.meta.id, u.row.meta.rev))
                    .collect(),
            )
            .await;
            upserted
                .into_iter()
                .map(|u| row_to_read::<D>(w.name(), u.row))
                .collect()
        })
    }

    /// [`ensure`](Self::ensure) of several documents, all or nothing: the absent ids are
    /// inserted (one statement), the others returned as stored, unchanged. Returned in input
    /// order. Ids must be distinct; empty input does no I/O. The inserted ids are invalidated.
    ///
    /// # Errors
    ///
    /// `Validation` naming repeated ids; `Conflict` for a broken unique constraint (nothing is
    /// inserted); the store's errors.
    pub fn ensure_many(
        &self,
        items: Vec<(Uuid, D::Create)>,
    ) -> impl Future<Output = Result<Vec<D::Read>>> + Send + 'static {
        let w = self.write();
        detached(w.scope.tx.clone(), async move {
            if items.is_empty() {
                return Ok(Vec::new());
            }
            distinct(w.name(), "ensure_many", items.iter().map(|(id, _)| *id))?;
            let now = w.scope.now();
            let rows = items
                .iter()
                .map(|(id, input)| w.new_row(input, now, *id))
                .collect::<Result<Vec<_>>>()?;
            let ensured = w.lane.store.ensure_many(&w.scope.store_cx(), rows).await;
            let ensured = w
                .invalidate_if_uncertain(ensured, || items.iter().map(|(id, _)| (*id, 1)).collect())
                .await?;
            w.invalidate(
                ensured
                    .iter()
                    .filter(|(_, inserted)| *inserted)
                    .map(|(row, _)| (row.meta.id, row.meta.rev))
                    .collect(),
            )
            .await;
            ensured
                .into_iter()
                .map(|(row, _)| row_to_read::<D>(w.name(), row))
                .collect()
        })
    }

    /// [`touch`](Self::touch) several documents in one statement, all or nothing; returned in
    /// input order. Ids must be distinct; empty input does no I/O.
    ///
    /// # Errors
    ///
    /// `Validation` naming repeated ids; `NotFound` naming every missing id (nothing is
    /// touched).
    pub fn touch_many(
        &self,
        ids: &[Uuid],
    ) -> impl Future<Output = Result<Vec<D::Read>>> + Send + 'static {
        let w = self.write();
        let ids = ids.to_vec();
        detached(w.scope.tx.clone(), async move {
            if ids.is_empty() {
                return Ok(Vec::new());
            }
            distinct(w.name(), "touch_many", ids.iter().copied())?;
            let touched = w
                .lane
                .store
                .touch_many(&w.scope.store_cx(), &ids, w.scope.now())
                .await;
            // As `touch`: the revs a lost touch committed are unknown.
            let rows = w
                .invalidate_if_uncertain(touched, || {
                    ids.iter().map(|id| (*id, TOMBSTONE_DELETED)).collect()
                })
                .await?;
            w.invalidate(rows.iter().map(|r| (r.meta.id, r.meta.rev)).collect())
                .await;
            rows.into_iter()
                .map(|row| row_to_read::<D>(w.name(), row))
                .collect()
        })
    }

    /// Delete the document `id` if its stored rev is `rev` (the optimistic counterpart of
    /// [`delete`](Self::delete), which deletes whatever the rev).
    ///
    /// # Examples
    ///
    /// ```
    /// use forze_core::memory::MemoryDepsModule;
    /// use forze_core::prelude::*;
    /// use forze_core::{DepsRegistry, ErrorKind, ExecutionRuntime, LifecyclePlan};
    ///
    /// # #[derive(forze_core::Document)]
    /// # #[document_spec(name = "products", cache(name = "products"))]
    /// # pub struct Product { pub name: String, pub price: i32 }
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// # let module = MemoryDepsModule::new().document("products").cache("products");
    /// # let runtime = ExecutionRuntime::new(
    /// #     DepsRegistry::from_modules([module.boxed()]).freeze()?,
    /// #     LifecyclePlan::new().freeze()?,
    /// # );
    /// # let ctx = runtime.context();
    /// let products = ctx.document().command(&PRODUCT_SPEC)?;
    /// let p = products.create(ProductCreate { name: "Widget".into(), price: 10 }).await?;
    /// let p2 = products.touch(p.id).await?;
    /// let stale = products.delete_at(p.id, p.rev).await.unwrap_err();
    /// assert_eq!(stale.kind(), ErrorKind::RevisionMismatch);
    /// products.delete_at(p.id, p2.rev).await?;
    /// # Ok::<(), forze_core::Error>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    ///
    /// `NotFound` if `id` does not exist, `RevisionMismatch` naming it if its rev is not `rev`.
    pub fn delete_at(
        &self,
        id: Uuid,
        rev: i64,
    ) -> impl Future<Output = Result<()>> + Send + 'static {
        self.delete_checked(vec![(id, rev)])
    }

    /// [`delete_at`](Self::delete_at) of several documents, all or nothing. Ids must be
    /// distinct; empty input does no I/O.
    ///
    /// # Errors
    ///
    /// `Validation` naming repeated ids; `NotFound` naming missing ids; `RevisionMismatch`
    /// naming a stale one. Nothing is deleted on error.
    pub fn delete_many_at(
        &self,
        expected: &[(Uuid, i64)],
    ) -> impl Future<Output = Result<()>> + Send + 'static {
        self.delete_checked(expected.to_vec())
    }

    fn delete_checked(
        &self,
        expected: Vec<(Uuid, i64)>,
    ) -> impl Future<Output = Result<()>> + Send + 'static {
        let w = self.write();
        detached(w.scope.tx.clone(), async move {
            if expected.is_empty() {
                return Ok(());
            }
            distinct(
                w.name(),
                "delete_many_at",
                expected.iter().map(|(id, _)| *id),
            )?;
            let deleted = w.lane.store.delete_at(&w.scope.store_cx(), &expected).await;
            let tombstones = || {
                expected
                    .iter()
                    .map(|(id, _)| (*id, TOMBSTONE_DELETED))
                    .collect::<Vec<_>>()
            };
            w.invalidate_if_uncertain(deleted, tombstones).await?;
            w.invalidate(tombstones()).await;
            Ok(())
        })
    }

    /// Apply `update` to every document matching `filter`, in one statement, without a rev
    /// check; returns how many documents changed. Each changed document gets a new rev and
    /// `last_update_at`, and is invalidated after commit on every tier (shared cache
    /// tombstones, the L1, push), exactly as after [`update`](Self::update). Documents the
    /// update leaves as they were are not written. An update that sets nothing does no I/O.
    ///
    /// The filter is checked like [`find`](crate::DocumentQuery::find)'s: a typed
    /// [`Condition`](crate::query::Condition) or a data [`Filter`].
    ///
    /// If the outcome is uncertain (`Unavailable`), the documents it may have changed are
    /// those whose `last_update_at` is now the update's timestamp: they are read back and
    /// invalidated before the error is returned (best effort: if that read fails too, a warning
    /// is logged and cached copies may stay stale until they expire).
    ///
    /// # Examples
    ///
    /// ```
    /// use forze_core::memory::MemoryDepsModule;
    /// use forze_core::prelude::*;
    /// use forze_core::{DepsRegistry, ErrorKind, ExecutionRuntime, LifecyclePlan};
    ///
    /// # #[derive(forze_core::Document)]
    /// # #[document_spec(name = "products", cache(name = "products"))]
    /// # pub struct Product { pub name: String, pub price: i32 }
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// # let module = MemoryDepsModule::new().document("products").cache("products");
    /// # let runtime = ExecutionRuntime::new(
    /// #     DepsRegistry::from_modules([module.boxed()]).freeze()?,
    /// #     LifecyclePlan::new().freeze()?,
    /// # );
    /// # let ctx = runtime.context();
    /// let products = ctx.document().command(&PRODUCT_SPEC)?;
    /// use forze_core::query::{Filter, Op};
    ///
    /// for price in [5, 10, 20] {
    ///     products.create(ProductCreate { name: "Widget".into(), price }).await?;
    /// }
    /// let discount = || ProductUpdate { price: Some(5), ..ProductUpdate::default() };
    /// // typed: the 10 and the 20 change; the 5 already holds the value and is not written
    /// assert_eq!(products.update_matching(Product::PRICE.ge(10), discount()).await?, 2);
    /// // data, checked like a query's
    /// let bad = products.update_matching(Filter::field("colour", Op::Eq, "red"), discount());
    /// assert_eq!(bad.await.unwrap_err().kind(), ErrorKind::Validation);
    /// # Ok::<(), forze_core::Error>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    ///
    /// `Validation` for a filter naming unknown fields or mistyped values; `Conflict` for a
    /// broken unique constraint (nothing is written); the store's errors.
    pub fn update_matching(
        &self,
        filter: impl IntoFilter<D>,
        update: D::Update,
    ) -> impl Future<Output = Result<u64>> + Send + 'static {
        let w = self.write();
        let filter = filter.into_filter();
        detached(w.scope.tx.clone(), async move {
            let schema = Schema {
                document: w.name(),
                fields: D::FIELDS,
            };
            let predicate = schema.filter(&filter)?;
            let fields = update_fields::<D>(w.name(), &update)?;
            if fields.is_empty() {
                return Ok(0);
            }
            let now = w.scope.now();
            let changed = w
                .lane
                .store
                .update_matching(&w.scope.store_cx(), &predicate, fields, now)
                .await;
            let changed = match changed {
                Err(err) if err.outcome_unknown() => {
                    let maybe = w.written_at(now).await;
                    w.invalidate_if_uncertain(Err(err), || maybe).await?
                }
                other => other?,
            };
            let n = changed.len() as u64;
            w.invalidate(changed).await;
            Ok(n)
        })
    }
}
