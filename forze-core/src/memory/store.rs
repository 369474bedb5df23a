//! `MemoryDocumentStore`: the in-memory document backend, its stores and its transactions.

use std::any::Any;
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use serde_json::Value;
use uuid::Uuid;

use crate::error::{Error, ErrorKind, Result};
use crate::model::{FieldSchema, Row};
use crate::query::{META_FIELDS, Predicate, Scalar, Select, eval};
use crate::spec::{IndexSpec, Tenancy, check_indexes};
use crate::store::{
    BoxFuture, DocumentBackend, DocumentBinding, DocumentStore, Patch, StoreCx, Transaction,
    TransactionManager, Updated, Upsert, Upserted,
};

type Table = BTreeMap<Uuid, Row>;
/// A table is one document name for one tenant.
type TableKey = (Cow<'static, str>, Option<Uuid>);

#[derive(Default)]
struct Db {
    tables: Mutex<HashMap<TableKey, Table>>,
    /// The unique constraints of each bound document name, checked again at commit. Locked
    /// after `tables` (never before).
    uniques: Mutex<HashMap<Cow<'static, str>, Uniques>>,
}

/// A document's fields and unique constraints.
#[derive(Clone, Copy)]
struct Uniques {
    fields: &'static [FieldSchema],
    indexes: &'static [IndexSpec],
}

impl Uniques {
    /// The values of `index`'s columns in `row`; `None` if one is null (a row with a null
    /// conflicts with no other, as in SQL).
    fn key(&self, index: &IndexSpec, row: &Row) -> Option<Vec<Scalar>> {
        index
            .field_names()
            .map(|name| {
                let schema = META_FIELDS
                    .iter()
                    .chain(self.fields)
                    .find(|f| f.name == name)?;
                eval::value_of(row, schema)
            })
            .collect()
    }

    /// The first unique constraint that a row of `written` shares with another row of
    /// `written` or of `others` (rows of `others` whose id is in `written` are ignored: they are
    /// being replaced).
    fn clash<'r>(
        &self,
        written: &[&'r Row],
        others: impl IntoIterator<Item = &'r Row>,
    ) -> Option<&'static IndexSpec> {
        let indexes: Vec<&'static IndexSpec> = self.indexes.iter().filter(|i| i.unique).collect();
        if indexes.is_empty() || written.is_empty() {
            return None;
        }
        let ids: HashSet<Uuid> = written.iter().map(|r| r.meta.id).collect();
        let others: Vec<&Row> = others
            .into_iter()
            .filter(|r| !ids.contains(&r.meta.id))
            .collect();
        let same = |a: &[Scalar], b: &[Scalar]| {
            a.iter()
                .zip(b)
                .all(|(a, b)| eval::compare(a, b) == std::cmp::Ordering::Equal)
        };
        indexes.into_iter().find(|index| {
            let keys: Vec<Vec<Scalar>> = written
                .iter()
                .filter_map(|row| self.key(index, row))
                .collect();
            keys.iter().enumerate().any(|(i, key)| {
                keys[..i].iter().any(|k| same(k, key))
                    || others
                        .iter()
                        .filter_map(|row| self.key(index, row))
                        .any(|k| same(&k, key))
            })
        })
    }
}

/// The in-memory document backend: register it with
/// [`MemoryDepsModule`](crate::memory::MemoryDepsModule), or directly as a [`DocumentBackend`]
/// and a [`TransactionManager`].
///
/// Implements the [`DocumentStore`] contract exactly (the reference for other backends): ids and
/// timestamps from the caller, `Conflict` on a duplicate id, `NotFound` naming the missing ids,
/// `RevisionMismatch` on a stale rev, `Conflict` ([`IndexSpec::conflict`]) on a write breaking a
/// declared unique constraint, all-or-nothing batches, no-op updates that write nothing,
/// lists sorted by any field or metadata then by id. Documents are kept per document name and
/// per tenant ([`StoreCx::tenant`]), in both [`Tenancy`] modes; a call whose tenant does not
/// fit the binding's tenancy is `Config` ([`Tenancy::check`]).
///
/// Transactions are copy-on-write: writes inside one are invisible to everyone else until
/// commit; commit fails with `Conflict` (and applies nothing) if a document it wrote was changed
/// by someone else in the meantime, or if a unique constraint no longer holds over the committed
/// documents.
///
/// Cheap to clone: clones share the documents (two runtimes given clones see one database).
///
/// # Examples
///
/// ```
/// use forze_core::memory::MemoryDocumentStore;
/// use forze_core::store::{DocumentBackend, DocumentBinding, StoreCx};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let backend = MemoryDocumentStore::new();
/// let store = backend.bind(&DocumentBinding::new("products", &[]))?;
/// assert_eq!(store.count(&StoreCx::none(), None).await?, 0);
/// # Ok::<(), forze_core::Error>(())
/// # }).unwrap();
/// ```
#[derive(Clone, Default)]
pub struct MemoryDocumentStore {
    db: Arc<Db>,
}

impl fmt::Debug for MemoryDocumentStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tables = self.db.tables.lock();
        f.debug_struct("MemoryDocumentStore")
            .field("tables", &tables.len())
            .field(
                "documents",
                &tables.values().map(BTreeMap::len).sum::<usize>(),
            )
            .finish()
    }
}

impl MemoryDocumentStore {
    /// An empty database.
    pub fn new() -> Self {
        Self::default()
    }
}

impl DocumentBackend for MemoryDocumentStore {
    fn bind(&self, binding: &DocumentBinding) -> Result<Arc<dyn DocumentStore>> {
        check_indexes(&binding.name, binding.fields, binding.indexes)?;
        let uniques = Uniques {
            fields: binding.fields,
            indexes: binding.indexes,
        };
        self.db.uniques.lock().insert(binding.name.clone(), uniques);
        Ok(Arc::new(MemoryCollection {
            db: Arc::clone(&self.db),
            name: binding.name.clone(),
            fields: binding.fields,
            uniques,
            tenancy: binding.tenancy,
        }))
    }
}

impl TransactionManager for MemoryDocumentStore {
    fn begin(&self) -> BoxFuture<'_, Result<Arc<dyn Transaction>>> {
        let tx: Arc<dyn Transaction> = Arc::new(MemoryTransaction {
            db: Arc::clone(&self.db),
            state: Mutex::new(TxState::default()),
        });
        Box::pin(std::future::ready(Ok(tx)))
    }
}

/// One document's store inside a [`MemoryDocumentStore`] (what
/// [`bind`](DocumentBackend::bind) returns).
pub struct MemoryCollection {
    db: Arc<Db>,
    name: Cow<'static, str>,
    fields: &'static [FieldSchema],
    uniques: Uniques,
    tenancy: Tenancy,
}

impl fmt::Debug for MemoryCollection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryCollection")
            .field("name", &self.name)
            .finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TxStatus {
    Open,
    Committed,
    RolledBack,
}

/// A write of a transaction: the row after it (`None` = deleted) and the rev the row had in the
/// database when the transaction first touched it (`None` = absent), checked at commit.
#[derive(Debug, Clone)]
struct TxWrite {
    row: Option<Row>,
    base_rev: Option<i64>,
}

#[derive(Debug)]
struct TxState {
    status: TxStatus,
    writes: HashMap<TableKey, BTreeMap<Uuid, TxWrite>>,
}

impl Default for TxState {
    fn default() -> Self {
        TxState {
            status: TxStatus::Open,
            writes: HashMap::new(),
        }
    }
}

/// A transaction of a [`MemoryDocumentStore`].
pub struct MemoryTransaction {
    db: Arc<Db>,
    state: Mutex<TxState>,
}

impl fmt::Debug for MemoryTransaction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.lock();
        f.debug_struct("MemoryTransaction")
            .field("status", &state.status)
            .field(
                "writes",
                &state.writes.values().map(BTreeMap::len).sum::<usize>(),
            )
            .finish()
    }
}

fn finished(status: TxStatus) -> Error {
    let what = if status == TxStatus::Committed {
        "committed"
    } else {
        "rolled back"
    };
    Error::new(
        ErrorKind::Internal,
        format!("the in-memory transaction is already {what}"),
    )
}

impl Transaction for MemoryTransaction {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn commit(&self) -> BoxFuture<'_, Result<()>> {
        let result = (|| {
            let mut tables = self.db.tables.lock();
            let mut state = self.state.lock();
            if state.status != TxStatus::Open {
                return Err(finished(state.status));
            }
            // Validate everything first: commit is all or nothing.
            let conflict = state.writes.iter().find_map(|(key, writes)| {
                let base = tables.get(key);
                writes.iter().find_map(|(id, write)| {
                    let current = base.and_then(|t| t.get(id)).map(|r| r.meta.rev);
                    (current != write.base_rev).then(|| (key.0.clone(), *id))
                })
            });
            if let Some((name, id)) = conflict {
                state.status = TxStatus::RolledBack;
                state.writes.clear();
                return Err(Error::new(
                    ErrorKind::Conflict,
                    format!(
                        "transaction conflict: document `{name}` {id} was changed by another writer since this transaction touched it; the transaction was rolled back"
                    ),
                ));
            }
            // Unique constraints over the committed state: another writer may have committed a
            // clashing value since this transaction checked its own view.
            let clash = {
                let uniques = self.db.uniques.lock();
                state.writes.iter().find_map(|(key, writes)| {
                    let u = uniques.get(&key.0)?;
                    let written: Vec<&Row> =
                        writes.values().filter_map(|w| w.row.as_ref()).collect();
                    let others = tables
                        .get(key)
                        .into_iter()
                        .flat_map(|t| t.values().filter(|r| !writes.contains_key(&r.meta.id)));
                    u.clash(&written, others)
                        .map(|index| index.conflict(&key.0))
                })
            };
            if let Some(err) = clash {
                state.status = TxStatus::RolledBack;
                state.writes.clear();
                return Err(err);
            }
            for (key, writes) in std::mem::take(&mut state.writes) {
                let table = tables.entry(key).or_default();
                for (id, write) in writes {
                    match write.row {
                        Some(row) => table.insert(id, row),
                        None => table.remove(&id),
                    };
                }
            }
            state.status = TxStatus::Committed;
            Ok(())
        })();
        Box::pin(std::future::ready(result))
    }

    fn rollback(&self) -> BoxFuture<'_, Result<()>> {
        let mut state = self.state.lock();
        let result = if state.status == TxStatus::Open {
            state.status = TxStatus::RolledBack;
            state.writes.clear();
            Ok(())
        } else {
            Err(finished(state.status))
        };
        Box::pin(std::future::ready(result))
    }
}

/// The rows one call sees: the database table, or the table overlaid with a transaction's
/// writes.
enum View<'a> {
    Base(&'a mut Table),
    Tx {
        base: Option<&'a Table>,
        overlay: &'a mut BTreeMap<Uuid, TxWrite>,
    },
}

impl View<'_> {
    fn get(&self, id: &Uuid) -> Option<&Row> {
        match self {
            View::Base(table) => table.get(id),
            View::Tx { base, overlay } => match overlay.get(id) {
                Some(write) => write.row.as_ref(),
                None => base.and_then(|t| t.get(id)),
            },
        }
    }

    fn put(&mut self, id: Uuid, row: Option<Row>) {
        match self {
            View::Base(table) => {
                match row {
                    Some(row) => table.insert(id, row),
                    None => table.remove(&id),
                };
            }
            View::Tx { base, overlay } => {
                let base_rev = base.and_then(|t| t.get(&id)).map(|r| r.meta.rev);
                overlay
                    .entry(id)
                    .and_modify(|w| w.row = row.clone())
                    .or_insert(TxWrite { row, base_rev });
            }
        }
    }

    /// Every visible row, by id.
    fn rows(&self) -> Vec<&Row> {
        match self {
            View::Base(table) => table.values().collect(),
            View::Tx { base, overlay } => {
                let mut rows: BTreeMap<&Uuid, &Row> =
                    base.map(|t| t.iter().collect()).unwrap_or_default();
                for (id, write) in overlay.iter() {
                    match &write.row {
                        Some(row) => rows.insert(id, row),
                        None => rows.remove(id),
                    };
                }
                rows.into_values().collect()
            }
        }
    }
}

fn ready<'a, T: Send + 'a>(value: Result<T>) -> BoxFuture<'a, Result<T>> {
    Box::pin(std::future::ready(value))
}

fn list_ids(ids: &[Uuid]) -> String {
    let ids: Vec<String> = ids.iter().map(Uuid::to_string).collect();
    format!("[{}]", ids.join(", "))
}

impl MemoryCollection {
    /// Run `f` on the rows `cx` sees, atomically.
    fn with_view<R>(&self, cx: &StoreCx, f: impl FnOnce(&mut View<'_>) -> Result<R>) -> Result<R> {
        self.tenancy.check(&self.name, cx.tenant)?;
        let key: TableKey = (self.name.clone(), cx.tenant);
        let mut tables = self.db.tables.lock();
        match &cx.tx {
            None => {
                let table = tables.entry(key).or_default();
                f(&mut View::Base(table))
            }
            Some(tx) => {
                let tx = tx.as_any().downcast_ref::<MemoryTransaction>().ok_or_else(|| {
                    Error::config(format!(
                        "document `{}` is stored in memory but the transaction belongs to another backend; register the transaction route with the same backend as the document",
                        self.name
                    ))
                })?;
                if !Arc::ptr_eq(&tx.db, &self.db) {
                    return Err(Error::config(format!(
                        "document `{}`: the transaction belongs to another in-memory database",
                        self.name
                    )));
                }
                let mut state = tx.state.lock();
                if state.status != TxStatus::Open {
                    return Err(finished(state.status));
                }
                let overlay = state.writes.entry(key.clone()).or_default();
                f(&mut View::Tx {
                    base: tables.get(&key),
                    overlay,
                })
            }
        }
    }

    fn field(&self, name: &str) -> Option<&'static FieldSchema> {
        self.fields.iter().find(|f| f.name == name)
    }

    fn field_names(&self) -> String {
        let names: Vec<&str> = self.fields.iter().map(|f| f.name).collect();
        names.join(", ")
    }

    fn check_fields(&self, id: Uuid, fields: &serde_json::Map<String, Value>) -> Result<()> {
        for (name, value) in fields {
            let Some(schema) = self.field(name) else {
                return Err(Error::new(
                    ErrorKind::Validation,
                    format!(
                        "document `{}` {id}: unknown field `{name}`; fields: [{}]",
                        self.name,
                        self.field_names()
                    ),
                ));
            };
            if value.is_null() && !schema.nullable {
                return Err(Error::new(
                    ErrorKind::Validation,
                    format!(
                        "document `{}` {id}: field `{name}` is not nullable",
                        self.name
                    ),
                ));
            }
        }
        Ok(())
    }

    fn not_found(&self, missing: &[Uuid]) -> Error {
        match missing {
            [id] => Error::new(
                ErrorKind::NotFound,
                format!("document `{}` {id} not found", self.name),
            ),
            ids => Error::new(
                ErrorKind::NotFound,
                format!("documents `{}` not found: {}", self.name, list_ids(ids)),
            ),
        }
    }

    fn duplicates(&self, what: &str, ids: impl IntoIterator<Item = Uuid>) -> Result<()> {
        let mut seen = HashSet::new();
        let dup: Vec<Uuid> = ids.into_iter().filter(|id| !seen.insert(*id)).collect();
        if dup.is_empty() {
            Ok(())
        } else {
            Err(Error::new(
                ErrorKind::Validation,
                format!(
                    "{what} of document `{}` needs distinct ids; repeated: {}",
                    self.name,
                    list_ids(&dup)
                ),
            ))
        }
    }

    fn insert_now(&self, cx: &StoreCx, rows: Vec<Row>) -> Result<Vec<Row>> {
        self.with_view(cx, |view| {
            let mut seen = HashSet::new();
            for row in &rows {
                if !seen.insert(row.meta.id) || view.get(&row.meta.id).is_some() {
                    return Err(Error::new(
                        ErrorKind::Conflict,
                        format!("document `{}` {} already exists", self.name, row.meta.id),
                    ));
                }
                self.check_fields(row.meta.id, &row.fields)?;
            }
            let written: Vec<&Row> = rows.iter().collect();
            if let Some(index) = self.uniques.clash(&written, view.rows()) {
                return Err(index.conflict(&self.name));
            }
            for row in &rows {
                view.put(row.meta.id, Some(row.clone()));
            }
            Ok(rows)
        })
    }

    fn update_now(
        &self,
        cx: &StoreCx,
        patches: Vec<Patch>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Updated>> {
        self.duplicates("an update", patches.iter().map(|p| p.id))?;
        self.with_view(cx, |view| {
            let missing: Vec<Uuid> = patches
                .iter()
                .filter(|p| view.get(&p.id).is_none())
                .map(|p| p.id)
                .collect();
            if !missing.is_empty() {
                return Err(self.not_found(&missing));
            }
            let mut out = Vec::with_capacity(patches.len());
            for patch in &patches {
                let current = view
                    .get(&patch.id)
                    .ok_or_else(|| self.not_found(&[patch.id]))?;
                if current.meta.rev != patch.rev {
                    return Err(Error::new(
                        ErrorKind::RevisionMismatch,
                        format!(
                            "document `{}` {}: expected rev {}, the stored rev is {}",
                            self.name, patch.id, patch.rev, current.meta.rev
                        ),
                    ));
                }
                self.check_fields(patch.id, &patch.fields)?;
                let changed = patch
                    .fields
                    .iter()
                    .any(|(k, v)| current.fields.get(k) != Some(v));
                if changed {
                    let mut row = current.clone();
                    for (k, v) in &patch.fields {
                        row.fields.insert(k.clone(), v.clone());
                    }
                    row.meta.rev += 1;
                    row.meta.last_update_at = now;
                    out.push(Updated::new(row, true));
                } else {
                    out.push(Updated::new(current.clone(), false));
                }
            }
            // Each patch is checked against the rows the earlier ones left, as a backend applying
            // them one statement at a time does (so swapping two values in one batch conflicts).
            let changed: Vec<&Row> = out.iter().filter(|u| u.changed).map(|u| &u.row).collect();
            for (i, row) in changed.iter().enumerate() {
                let before = view
                    .rows()
                    .into_iter()
                    .filter(|r| !changed[..i].iter().any(|c| c.meta.id == r.meta.id))
                    .chain(changed[..i].iter().copied());
                if let Some(index) = self.uniques.clash(&[row], before) {
                    return Err(index.conflict(&self.name));
                }
            }
            for updated in &out {
                if updated.changed {
                    view.put(updated.row.meta.id, Some(updated.row.clone()));
                }
            }
            Ok(out)
        })
    }
}

impl MemoryCollection {
    fn stale(&self, id: Uuid, expected: i64, stored: i64) -> Error {
        Error::new(
            ErrorKind::RevisionMismatch,
            format!(
                "document `{}` {id}: expected rev {expected}, the stored rev is {stored}",
                self.name
            ),
        )
    }

    /// Check `written` (new versions of rows, applied in order) against the unique
    /// constraints, each against the rows the earlier ones left (as a backend applying them one
    /// row at a time does), then store them.
    fn put_checked(&self, view: &mut View<'_>, written: &[&Row]) -> Result<()> {
        let constrained = self.uniques.indexes.iter().any(|i| i.unique);
        for (i, row) in written.iter().enumerate().filter(|_| constrained) {
            let before = view
                .rows()
                .into_iter()
                .filter(|r| !written[..i].iter().any(|c| c.meta.id == r.meta.id))
                .chain(written[..i].iter().copied());
            if let Some(index) = self.uniques.clash(&[row], before) {
                return Err(index.conflict(&self.name));
            }
        }
        for row in written {
            view.put(row.meta.id, Some((*row).clone()));
        }
        Ok(())
    }

    fn upsert_now(&self, cx: &StoreCx, items: Vec<Upsert>) -> Result<Vec<Upserted>> {
        self.duplicates("an upsert", items.iter().map(|u| u.row.meta.id))?;
        self.with_view(cx, |view| {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                let id = item.row.meta.id;
                self.check_fields(id, &item.row.fields)?;
                let Some(current) = view.get(&id) else {
                    out.push(Upserted::new(item.row, true, true));
                    continue;
                };
                if current.meta.rev != item.rev {
                    return Err(self.stale(id, item.rev, current.meta.rev));
                }
                // A full replacement: a nullable field left out becomes null.
                let mut fields = item.row.fields;
                for f in self.fields {
                    fields.entry(f.name).or_insert(Value::Null);
                }
                if fields == current.fields {
                    out.push(Upserted::new(current.clone(), false, false));
                } else {
                    let mut row = current.clone();
                    row.fields = fields;
                    row.meta.rev += 1;
                    row.meta.last_update_at = item.row.meta.last_update_at;
                    out.push(Upserted::new(row, false, true));
                }
            }
            let written: Vec<&Row> = out.iter().filter(|u| u.changed).map(|u| &u.row).collect();
            self.put_checked(view, &written)?;
            Ok(out)
        })
    }

    fn ensure_many_now(&self, cx: &StoreCx, rows: Vec<Row>) -> Result<Vec<(Row, bool)>> {
        self.duplicates("an ensure", rows.iter().map(|r| r.meta.id))?;
        self.with_view(cx, |view| {
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                match view.get(&row.meta.id) {
                    Some(existing) => out.push((existing.clone(), false)),
                    None => {
                        self.check_fields(row.meta.id, &row.fields)?;
                        out.push((row, true));
                    }
                }
            }
            let written: Vec<&Row> = out.iter().filter(|(_, new)| *new).map(|(r, _)| r).collect();
            self.put_checked(view, &written)?;
            Ok(out)
        })
    }

    fn touch_many_now(&self, cx: &StoreCx, ids: &[Uuid], now: DateTime<Utc>) -> Result<Vec<Row>> {
        self.duplicates("a touch", ids.iter().copied())?;
        self.with_view(cx, |view| {
            let missing: Vec<Uuid> = ids
                .iter()
                .filter(|id| view.get(id).is_none())
                .copied()
                .collect();
            if !missing.is_empty() {
                return Err(self.not_found(&missing));
            }
            let mut out = Vec::with_capacity(ids.len());
            for id in ids {
                let mut row = view
                    .get(id)
                    .cloned()
                    .ok_or_else(|| self.not_found(&[*id]))?;
                row.meta.rev += 1;
                row.meta.last_update_at = now;
                out.push(row);
            }
            let written: Vec<&Row> = out.iter().collect();
            self.put_checked(view, &written)?;
            Ok(out)
        })
    }

    fn delete_at_now(&self, cx: &StoreCx, expected: &[(Uuid, i64)]) -> Result<()> {
        self.duplicates("a delete", expected.iter().map(|(id, _)| *id))?;
        self.with_view(cx, |view| {
            let missing: Vec<Uuid> = expected
                .iter()
                .filter(|(id, _)| view.get(id).is_none())
                .map(|(id, _)| *id)
                .collect();
            if !missing.is_empty() {
                return Err(self.not_found(&missing));
            }
            for (id, rev) in expected {
                let stored = view.get(id).map_or(0, |r| r.meta.rev);
                if stored != *rev {
                    return Err(self.stale(*id, *rev, stored));
                }
            }
            for (id, _) in expected {
                view.put(*id, None);
            }
            Ok(())
        })
    }

    fn update_matching_now(
        &self,
        cx: &StoreCx,
        filter: &Predicate,
        fields: &serde_json::Map<String, Value>,
        now: DateTime<Utc>,
    ) -> Result<Vec<(Uuid, i64)>> {
        self.with_view(cx, |view| {
            let mut changed = Vec::new();
            for current in view.rows() {
                if eval::matches(filter, current) != Some(true) {
                    continue;
                }
                self.check_fields(current.meta.id, fields)?;
                if fields.iter().all(|(k, v)| current.fields.get(k) == Some(v)) {
                    continue;
                }
                let mut row = current.clone();
                for (k, v) in fields {
                    row.fields.insert(k.clone(), v.clone());
                }
                row.meta.rev += 1;
                row.meta.last_update_at = now;
                changed.push(row);
            }
            let written: Vec<&Row> = changed.iter().collect();
            self.put_checked(view, &written)?;
            Ok(changed.iter().map(|r| (r.meta.id, r.meta.rev)).collect())
        })
    }
}

impl DocumentStore for MemoryCollection {
    fn insert<'a>(&'a self, cx: &'a StoreCx, rows: Vec<Row>) -> BoxFuture<'a, Result<Vec<Row>>> {
        ready(self.insert_now(cx, rows))
    }

    fn ensure<'a>(&'a self, cx: &'a StoreCx, row: Row) -> BoxFuture<'a, Result<(Row, bool)>> {
        let result = self.with_view(cx, |view| {
            if let Some(existing) = view.get(&row.meta.id) {
                return Ok((existing.clone(), false));
            }
            self.check_fields(row.meta.id, &row.fields)?;
            if let Some(index) = self.uniques.clash(&[&row], view.rows()) {
                return Err(index.conflict(&self.name));
            }
            view.put(row.meta.id, Some(row.clone()));
            Ok((row, true))
        });
        ready(result)
    }

    fn update<'a>(
        &'a self,
        cx: &'a StoreCx,
        patches: Vec<Patch>,
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<Vec<Updated>>> {
        ready(self.update_now(cx, patches, now))
    }

    fn touch<'a>(
        &'a self,
        cx: &'a StoreCx,
        id: Uuid,
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<Row>> {
        let result = self.with_view(cx, |view| {
            let mut row = view
                .get(&id)
                .cloned()
                .ok_or_else(|| self.not_found(&[id]))?;
            row.meta.rev += 1;
            row.meta.last_update_at = now;
            // a constraint over `rev` or `last_update_at` can break here too
            if let Some(index) = self.uniques.clash(&[&row], view.rows()) {
                return Err(index.conflict(&self.name));
            }
            view.put(id, Some(row.clone()));
            Ok(row)
        });
        ready(result)
    }

    fn delete<'a>(&'a self, cx: &'a StoreCx, ids: &'a [Uuid]) -> BoxFuture<'a, Result<()>> {
        let result = self
            .duplicates("a delete", ids.iter().copied())
            .and_then(|()| {
                self.with_view(cx, |view| {
                    let missing: Vec<Uuid> = ids
                        .iter()
                        .filter(|id| view.get(id).is_none())
                        .copied()
                        .collect();
                    if !missing.is_empty() {
                        return Err(self.not_found(&missing));
                    }
                    for id in ids {
                        view.put(*id, None);
                    }
                    Ok(())
                })
            });
        ready(result)
    }

    fn upsert<'a>(
        &'a self,
        cx: &'a StoreCx,
        items: Vec<Upsert>,
    ) -> BoxFuture<'a, Result<Vec<Upserted>>> {
        ready(self.upsert_now(cx, items))
    }

    fn ensure_many<'a>(
        &'a self,
        cx: &'a StoreCx,
        rows: Vec<Row>,
    ) -> BoxFuture<'a, Result<Vec<(Row, bool)>>> {
        ready(self.ensure_many_now(cx, rows))
    }

    fn touch_many<'a>(
        &'a self,
        cx: &'a StoreCx,
        ids: &'a [Uuid],
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<Vec<Row>>> {
        ready(self.touch_many_now(cx, ids, now))
    }

    fn delete_at<'a>(
        &'a self,
        cx: &'a StoreCx,
        expected: &'a [(Uuid, i64)],
    ) -> BoxFuture<'a, Result<()>> {
        ready(self.delete_at_now(cx, expected))
    }

    fn update_matching<'a>(
        &'a self,
        cx: &'a StoreCx,
        filter: &'a Predicate,
        fields: serde_json::Map<String, Value>,
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<Vec<(Uuid, i64)>>> {
        ready(self.update_matching_now(cx, filter, &fields, now))
    }

    fn get<'a>(
        &'a self,
        cx: &'a StoreCx,
        id: Uuid,
        _lock: bool,
    ) -> BoxFuture<'a, Result<Option<Row>>> {
        ready(self.with_view(cx, |view| Ok(view.get(&id).cloned())))
    }

    fn get_many<'a>(&'a self, cx: &'a StoreCx, ids: &'a [Uuid]) -> BoxFuture<'a, Result<Vec<Row>>> {
        let result = self.with_view(cx, |view| {
            let mut seen = HashSet::new();
            Ok(ids
                .iter()
                .filter(|id| seen.insert(**id))
                .filter_map(|id| view.get(id).cloned())
                .collect())
        });
        ready(result)
    }

    fn find<'a>(&'a self, cx: &'a StoreCx, select: &'a Select) -> BoxFuture<'a, Result<Vec<Row>>> {
        let result = self.with_view(cx, |view| {
            Ok(eval::run(select, view.rows())
                .into_iter()
                .cloned()
                .collect())
        });
        ready(result)
    }

    fn count<'a>(
        &'a self,
        cx: &'a StoreCx,
        filter: Option<&'a Predicate>,
    ) -> BoxFuture<'a, Result<u64>> {
        let result = self.with_view(cx, |view| Ok(eval::count(filter, view.rows())));
        ready(result)
    }
}
