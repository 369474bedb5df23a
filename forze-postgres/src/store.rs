//! The Postgres [`DocumentStore`]: every port operation in SQL on one table.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use forze_core::query::{Predicate, Select};
use forze_core::store::{
    BoxFuture, DocumentBackend, DocumentBinding, DocumentStore, Patch, StoreCx, Updated, Upsert,
    Upserted,
};
use forze_core::{Error, ErrorKind, FieldSchema, IndexSpec, Result, Row, Tenancy};
use serde_json::Value;
use sqlx::pool::PoolConnection;
use sqlx::postgres::PgRow;
use sqlx::{Connection, PgConnection, Postgres};
use tokio::sync::{MappedMutexGuard, MutexGuard, OnceCell};
use uuid::Uuid;

use crate::client::PostgresClient;
use crate::codec::{Column, Param, decode_row, encode, micros};
use crate::columns::{TENANT_ID, is_meta, meta_names};
use crate::config::PostgresDocumentConfig;
use crate::error::{UNIQUE_VIOLATION, constraint, from_sqlx, sqlstate, timed_out};
use crate::ident::validate_ident;
use crate::query;
use crate::schema;
use crate::sql::index_name;
use crate::target::{Scoping, Target};
use crate::tx::PostgresTransaction;

/// How many ids a not-found message lists before it says "and N more".
const MAX_IDS_IN_MESSAGE: usize = 10;
/// How often `ensure` retries when the row vanishes between its insert and its read.
const ENSURE_ATTEMPTS: usize = 3;

/// The document backend for one table: registered by
/// [`PostgresDepsModule::rw_document`](crate::PostgresDepsModule::rw_document), or built directly
/// to get a store without the runtime.
///
/// # Tenants
///
/// As the binding's [`Tenancy`] declares (`#[document_spec(tenant = "...")]`):
///
/// - none: one table; a call carrying a tenant is [`ErrorKind::Config`].
/// - `column`: one table with a `tenant_id` column (see [`schema_sql`](crate::schema_sql)): the
///   tenant ([`StoreCx::tenant`]) is written on insert and compared first in every statement,
///   so a call sees and changes only its tenant's rows; a call without a tenant is `Config`.
/// - `schema`: each tenant's table in its own schema, `<prefix>_<tenant>`
///   ([`PostgresDocumentConfig::tenant_schema_prefix`]), created by running
///   [`tenant_schema_sql`](crate::tenant_schema_sql) when the tenant is provisioned. The
///   store checks once per tenant that its table exists: if not, the call is `Config` naming
///   the table and how to provision it (nothing is created implicitly). A call without a
///   tenant is `Config`.
///
/// # Examples
///
/// ```no_run
/// use forze_core::store::{DocumentBackend, DocumentBinding, StoreCx};
/// use forze_core::{FieldKind, FieldSchema};
/// use forze_postgres::{PostgresClient, PostgresConfig, PostgresDocumentBackend, PostgresDocumentConfig};
///
/// static FIELDS: [FieldSchema; 1] = [FieldSchema::new("name", FieldKind::Text, false)];
///
/// # #[allow(dead_code)]
/// # async fn demo() -> forze_core::Result<()> {
/// let pg = PostgresClient::connect("postgres://postgres@127.0.0.1/postgres", PostgresConfig::new()).await?;
/// let backend = PostgresDocumentBackend::new(pg, PostgresDocumentConfig::table("public", "products"));
/// let store = backend.bind(&DocumentBinding::new("products", &FIELDS))?;
/// println!("{} products", store.count(&StoreCx::none(), None).await?);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct PostgresDocumentBackend {
    client: PostgresClient,
    config: PostgresDocumentConfig,
}

impl PostgresDocumentBackend {
    /// A backend storing documents in `config`'s table through `client`.
    pub fn new(client: PostgresClient, config: PostgresDocumentConfig) -> Self {
        PostgresDocumentBackend { client, config }
    }
}

impl DocumentBackend for PostgresDocumentBackend {
    fn bind(&self, binding: &DocumentBinding) -> Result<Arc<dyn DocumentStore>> {
        let name = binding.name.as_ref();
        self.config.validate(name)?;
        let mut seen = HashSet::new();
        for field in binding.fields {
            validate_ident(name, "column", field.name)?;
            if is_meta(field.name) {
                return Err(Error::config(format!(
                    "document `{name}`: field `{}` clashes with a metadata column ({})",
                    field.name,
                    meta_names()
                )));
            }
            if !seen.insert(field.name) {
                return Err(Error::config(format!(
                    "document `{name}`: field `{}` is declared twice",
                    field.name
                )));
            }
        }
        forze_core::spec::check_indexes(name, binding.fields, binding.indexes)?;
        match binding.tenancy {
            Tenancy::Column => {
                if let Some(field) = binding.fields.iter().find(|f| f.name == TENANT_ID) {
                    return Err(Error::config(format!(
                        "document `{name}`: field `{}` clashes with the tenant column of a \
                         tenant-scoped table (`tenant = \"column\"`); rename the field",
                        field.name
                    )));
                }
            }
            Tenancy::Schema => self.config.validate_tenant_prefix(name)?,
            _ => {}
        }
        let uniques = binding
            .indexes
            .iter()
            .filter(|index| index.unique)
            .map(|index| (index_name(&self.config.table, index), *index))
            .collect();
        self.client
            .record_fields(name, &self.config, binding.fields, binding.tenancy);
        Ok(Arc::new(PostgresDocumentStore {
            client: self.client.clone(),
            name: name.into(),
            what: format!("document `{name}`"),
            scoping: Scoping::new(binding.tenancy, &self.config, binding.fields),
            tenancy: binding.tenancy,
            config: self.config.clone(),
            fields: binding.fields,
            uniques,
            checked: OnceCell::new(),
        }))
    }
}

struct PostgresDocumentStore {
    client: PostgresClient,
    name: Arc<str>,
    /// "document `name`", the prefix of every message.
    what: String,
    config: PostgresDocumentConfig,
    fields: &'static [FieldSchema],
    /// The declared unique constraints, by the name of their index (see `schema_sql`).
    uniques: Vec<(String, IndexSpec)>,
    tenancy: Tenancy,
    /// The statements and how they are scoped to the tenant: every statement goes through it.
    scoping: Scoping,
    checked: OnceCell<()>,
}

impl fmt::Debug for PostgresDocumentStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresDocumentStore")
            .field("document", &self.name)
            .field("table", &self.scoping.describe())
            .field("tenancy", &self.tenancy)
            .field("fields", &self.fields.len())
            .finish_non_exhaustive()
    }
}

/// Why an operation failed, before mapping, plus what it means for the connection.
struct OpError {
    cause: Cause,
    /// A statement failed inside the caller's transaction: Postgres aborted it.
    taint: bool,
    /// The connection may be mid-statement or mid-transaction: do not reuse it.
    close: bool,
    /// Nothing that writes was sent (the `BEGIN` or `SAVEPOINT` of a batch failed): the error
    /// is marked [`not_applied`](Error::not_applied).
    unsent: bool,
}

enum Cause {
    Forze(Error),
    Sql(sqlx::Error),
    Timeout(Duration),
}

impl From<Error> for OpError {
    fn from(err: Error) -> Self {
        OpError {
            cause: Cause::Forze(err),
            taint: false,
            close: false,
            unsent: false,
        }
    }
}

impl OpError {
    fn sqlstate(&self) -> Option<String> {
        match &self.cause {
            Cause::Sql(e) => sqlstate(e),
            _ => None,
        }
    }
}

type Op<T> = std::result::Result<T, OpError>;

/// Where statements run: a pooled connection (autocommit) or the caller's transaction.
enum Conn<'a> {
    Pool(PoolConnection<Postgres>),
    Tx(
        MappedMutexGuard<'a, sqlx::Transaction<'static, Postgres>>,
        &'a PostgresTransaction,
    ),
}

impl Conn<'_> {
    fn pg(&mut self) -> &mut PgConnection {
        match self {
            Conn::Pool(c) => c,
            Conn::Tx(t, _) => t,
        }
    }

    fn in_tx(&self) -> bool {
        matches!(self, Conn::Tx(..))
    }
}

/// Run one statement (or commit/rollback) under the client-side time limit.
async fn run<T>(
    limit: Option<Duration>,
    fut: impl Future<Output = std::result::Result<T, sqlx::Error>>,
) -> Op<T> {
    let res = match limit {
        Some(limit) => match tokio::time::timeout(limit, fut).await {
            Ok(res) => res,
            Err(_) => {
                return Err(OpError {
                    cause: Cause::Timeout(limit),
                    taint: true,
                    close: true,
                    unsent: false,
                });
            }
        },
        None => fut.await,
    };
    res.map_err(|e| OpError {
        cause: Cause::Sql(e),
        taint: true,
        close: false,
        unsent: false,
    })
}

/// Begin a transaction on a pooled connection, or a savepoint inside the caller's transaction.
/// If that fails, none of the batch's writes were sent: the error is marked unsent.
async fn begin(
    limit: Option<Duration>,
    conn: &mut PgConnection,
) -> Op<sqlx::Transaction<'_, Postgres>> {
    run(limit, conn.begin())
        .await
        .map_err(|e| OpError { unsent: true, ..e })
}

/// Commit `sub` if `res` is Ok, roll it back otherwise. A clean rollback of a savepoint leaves
/// the caller's transaction usable, so the error no longer taints it.
async fn finish<T>(
    limit: Option<Duration>,
    sub: sqlx::Transaction<'_, Postgres>,
    res: Op<T>,
) -> Op<T> {
    match res {
        Ok(v) => {
            run(limit, sub.commit()).await?;
            Ok(v)
        }
        Err(mut e) => {
            match run(limit, sub.rollback()).await {
                Ok(()) => {
                    e.taint = false;
                    e.close = false;
                }
                Err(_) => {
                    e.taint = true;
                    e.close = true;
                }
            }
            Err(e)
        }
    }
}

fn list_ids(ids: &[Uuid]) -> String {
    let mut out: Vec<String> = ids
        .iter()
        .take(MAX_IDS_IN_MESSAGE)
        .map(Uuid::to_string)
        .collect();
    if ids.len() > MAX_IDS_IN_MESSAGE {
        out.push(format!("and {} more", ids.len() - MAX_IDS_IN_MESSAGE));
    }
    out.join(", ")
}

/// A validated, typed patch.
struct EncodedPatch {
    id: Uuid,
    rev: i64,
    fields: Vec<&'static FieldSchema>,
    params: Vec<Param>,
}

impl PostgresDocumentStore {
    fn map(&self, t: &Target, cause: Cause) -> Error {
        match cause {
            Cause::Forze(e) => e,
            Cause::Sql(e) => match self.unique_broken(&e) {
                Some(index) => index.conflict(&self.name),
                None => from_sqlx(e, &self.what, Some(t.table())),
            },
            Cause::Timeout(after) => timed_out(&self.what, after),
        }
    }

    /// The declared unique constraint `err` reports as violated, if it is one.
    fn unique_broken(&self, err: &sqlx::Error) -> Option<&IndexSpec> {
        if sqlstate(err).as_deref() != Some(UNIQUE_VIOLATION) {
            return None;
        }
        let constraint = constraint(err)?;
        self.uniques
            .iter()
            .find(|(name, _)| *name == constraint)
            .map(|(_, index)| index)
    }

    /// Apply an operation's side effects on the connection and map its error.
    fn settle<T>(&self, t: &Target, conn: &mut Conn<'_>, res: Op<T>) -> Result<T> {
        match res {
            Ok(v) => Ok(v),
            Err(e) => {
                match conn {
                    Conn::Tx(_, tx) if e.taint || e.close => tx.mark_aborted(),
                    Conn::Pool(c) if e.close => c.close_on_drop(),
                    _ => {}
                }
                let err = self.map(t, e.cause);
                Err(if e.unsent { err.not_applied() } else { err })
            }
        }
    }

    /// The target of a call: its tenant checked against the spec's tenancy (a call across
    /// tenants is refused here, never run), and the statements scoped to it.
    fn target(&self, cx: &StoreCx) -> Result<Target> {
        self.tenancy.check(&self.name, cx.tenant)?;
        Ok(self.scoping.target(cx.tenant))
    }

    fn not_found(&self, id: Uuid) -> Error {
        Error::new(ErrorKind::NotFound, format!("{} {id} not found", self.what))
    }

    fn decode(&self, row: &PgRow) -> Result<Row> {
        decode_row(&self.name, self.fields, row)
    }

    fn field(&self, name: &str) -> Result<&'static FieldSchema> {
        let fields: &'static [FieldSchema] = self.fields;
        fields.iter().find(|f| f.name == name).ok_or_else(|| {
            Error::new(
                ErrorKind::Validation,
                format!(
                    "{}: unknown field `{name}`; expected one of: {}",
                    self.what,
                    self.field_names()
                ),
            )
        })
    }

    fn field_names(&self) -> String {
        self.fields
            .iter()
            .map(|f| f.name)
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Bind metadata and fields of `rows` as one array per column, in the insert's order.
    fn encode_rows(&self, rows: &[Row]) -> Result<Vec<Column>> {
        for row in rows {
            for key in row.fields.keys() {
                self.field(key)?;
            }
        }
        let mut ids = Vec::with_capacity(rows.len());
        let mut revs = Vec::with_capacity(rows.len());
        let mut created = Vec::with_capacity(rows.len());
        let mut updated = Vec::with_capacity(rows.len());
        let mut columns: Vec<Column> = self
            .fields
            .iter()
            .map(|f| Column::new(f.kind, rows.len()))
            .collect();
        for row in rows {
            ids.push(Some(row.meta.id));
            revs.push(Some(row.meta.rev));
            created.push(Some(micros(row.meta.created_at)));
            updated.push(Some(micros(row.meta.last_update_at)));
            for (field, column) in self.fields.iter().zip(columns.iter_mut()) {
                let param = match row.fields.get(field.name) {
                    Some(v) => encode(&self.name, field, v)?,
                    None if field.nullable => encode(&self.name, field, &Value::Null)?,
                    None => {
                        return Err(Error::new(
                            ErrorKind::Validation,
                            format!(
                                "{} {}: field `{}` is missing",
                                self.what, row.meta.id, field.name
                            ),
                        ));
                    }
                };
                column.push(param);
            }
        }
        let mut all = vec![
            Column::Uuid(ids),
            Column::BigInt(revs),
            Column::Timestamp(created),
            Column::Timestamp(updated),
        ];
        all.append(&mut columns);
        Ok(all)
    }

    fn encode_patch(&self, patch: &Patch) -> Result<EncodedPatch> {
        for key in patch.fields.keys() {
            self.field(key)?;
        }
        let mut fields = Vec::with_capacity(patch.fields.len());
        let mut params = Vec::with_capacity(patch.fields.len());
        let all: &'static [FieldSchema] = self.fields;
        for field in all {
            if let Some(v) = patch.fields.get(field.name) {
                params.push(encode(&self.name, field, v)?);
                fields.push(field);
            }
        }
        Ok(EncodedPatch {
            id: patch.id,
            rev: patch.rev,
            fields,
            params,
        })
    }

    /// Run the opt-in schema check once per store.
    async fn check_schema_once(&self) -> Result<()> {
        if !self.client.schema_check_enabled() {
            return Ok(());
        }
        self.checked
            .get_or_try_init(|| {
                schema::check_table(
                    &self.client,
                    &self.name,
                    &self.config,
                    self.fields,
                    self.tenancy,
                )
            })
            .await
            .map(|_| ())
    }

    /// The connection for `cx`: its transaction, or a pooled connection.
    ///
    /// Nothing of the operation has been sent when this fails (no connection, a failed schema
    /// check, an unusable transaction), so every error is marked
    /// [`not_applied`](Error::not_applied): a failed write does not invalidate the cache.
    async fn conn<'a>(&self, cx: &'a StoreCx, t: &Target) -> Result<(Conn<'a>, Option<Duration>)> {
        let (mut conn, limit) = self.conn_unsent(cx, t).await.map_err(Error::not_applied)?;
        if let Some(tenant) = t.schema_tenant {
            let res = self.tenant_table_exists(t, limit, conn.pg(), tenant).await;
            self.settle(t, &mut conn, res).map_err(Error::not_applied)?;
        }
        Ok((conn, limit))
    }

    /// Schema-per-tenant: check once per tenant that its table exists (nothing is created
    /// implicitly), so that a tenant that was never provisioned gets an error saying so.
    async fn tenant_table_exists(
        &self,
        t: &Target,
        limit: Option<Duration>,
        c: &mut PgConnection,
        tenant: Uuid,
    ) -> Op<()> {
        let exists: bool = run(
            limit,
            sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
                .bind(t.table().to_owned())
                .fetch_one(c),
        )
        .await?;
        if !exists {
            return Err(Error::config(format!(
                "{}: tenant {tenant} has no table {} (the document is schema-per-tenant): \
                 provision the tenant first by running forze_postgres::tenant_schema_sql for it",
                self.what,
                t.table()
            ))
            .into());
        }
        self.scoping.verified(tenant);
        Ok(())
    }

    async fn conn_unsent<'a>(
        &self,
        cx: &'a StoreCx,
        t: &Target,
    ) -> Result<(Conn<'a>, Option<Duration>)> {
        self.check_schema_once().await?;
        let connected = self.client.connected()?;
        let Some(tx) = &cx.tx else {
            let (conn, limit) = connected.acquire(&self.what, Some(t.table())).await?;
            return Ok((Conn::Pool(conn), limit));
        };
        let limit = connected.client_timeout();
        let Some(tx) = tx.as_any().downcast_ref::<PostgresTransaction>() else {
            return Err(Error::config(format!(
                "{}: the transaction in StoreCx is not a postgres transaction (begin it with the \
                 transaction manager registered by PostgresDepsModule::tx)",
                self.what
            )));
        };
        if tx.client_id() != self.client.id() {
            return Err(Error::config(format!(
                "{}: the transaction belongs to a different PostgresClient than the store",
                self.what
            )));
        }
        let guard = tx.slot.lock().await;
        let guard = MutexGuard::try_map(guard, Option::as_mut).map_err(|_| tx.finished_error())?;
        if tx.is_aborted() {
            return Err(Error::new(
                ErrorKind::Internal,
                format!(
                    "{}: the transaction was aborted by an earlier failed statement; roll it back",
                    self.what
                ),
            ));
        }
        Ok((Conn::Tx(guard, tx), limit))
    }

    async fn fetch_row(
        &self,
        t: &Target,
        limit: Option<Duration>,
        c: &mut PgConnection,
        id: Uuid,
    ) -> Op<Option<Row>> {
        let row = run(limit, t.query(&t.sql.get).bind(id).fetch_optional(c)).await?;
        Ok(row.map(|r| self.decode(&r)).transpose()?)
    }

    async fn update_one(
        &self,
        t: &Target,
        limit: Option<Duration>,
        c: &mut PgConnection,
        p: EncodedPatch,
        now: DateTime<Utc>,
    ) -> Op<Updated> {
        if !p.fields.is_empty() {
            let sql: Arc<str> = t.sql.update(&p.fields).into();
            let mut q = t.query(&sql).bind(p.id).bind(p.rev);
            for param in p.params {
                q = param.bind(q);
            }
            q = q.bind(micros(now));
            if let Some(row) = run(limit, q.fetch_optional(&mut *c)).await? {
                return Ok(Updated::new(self.decode(&row)?, true));
            }
        }
        // Nothing updated: missing, stale rev, or nothing to change.
        match self.fetch_row(t, limit, c, p.id).await? {
            None => Err(self.not_found(p.id).into()),
            Some(row) if row.meta.rev != p.rev => Err(Error::new(
                ErrorKind::RevisionMismatch,
                format!(
                    "{} {}: expected rev {}, stored rev is {}",
                    self.what, p.id, p.rev, row.meta.rev
                ),
            )
            .into()),
            Some(row) => Ok(Updated::new(row, false)),
        }
    }

    /// After a unique violation on insert: which of `ids` exist already (outside a transaction
    /// only: inside one, Postgres has aborted it).
    async fn insert_conflict(
        &self,
        t: &Target,
        conn: &mut Conn<'_>,
        limit: Option<Duration>,
        ids: &[Uuid],
        err: OpError,
    ) -> OpError {
        let Cause::Sql(sql_err) = &err.cause else {
            return err;
        };
        if self.unique_broken(sql_err).is_some() {
            // a declared constraint, not the id: `map` names it
            return err;
        }
        let constraint = constraint(sql_err).unwrap_or_default();
        let existing: Vec<Uuid> = if conn.in_tx() {
            if ids.len() == 1 && constraint.ends_with("_pkey") {
                ids.to_vec()
            } else {
                Vec::new()
            }
        } else {
            match run(
                limit,
                t.query(&t.sql.get_many)
                    .bind(ids.to_vec())
                    .fetch_all(conn.pg()),
            )
            .await
            {
                Ok(rows) => {
                    let found: HashSet<Uuid> = rows
                        .iter()
                        .filter_map(|r| sqlx::Row::try_get::<Uuid, _>(r, 0).ok())
                        .collect();
                    ids.iter()
                        .copied()
                        .filter(|id| found.contains(id))
                        .collect()
                }
                Err(_) => Vec::new(),
            }
        };
        if existing.is_empty() {
            return err;
        }
        OpError {
            cause: Cause::Forze(Error::new(
                ErrorKind::Conflict,
                if existing.len() == 1 {
                    format!("{} {} already exists", self.what, existing[0])
                } else {
                    format!("{}: ids already exist: {}", self.what, list_ids(&existing))
                },
            )),
            ..err
        }
    }
    /// One patch: one statement (plus a read if nothing changed). Several: inside a transaction
    /// (or a savepoint in the caller's), all or nothing.
    async fn update_op(
        &self,
        t: &Target,
        conn: &mut Conn<'_>,
        limit: Option<Duration>,
        mut patches: Vec<EncodedPatch>,
        now: DateTime<Utc>,
    ) -> Op<Vec<Updated>> {
        if patches.len() == 1
            && let Some(p) = patches.pop()
        {
            return Ok(vec![self.update_one(t, limit, conn.pg(), p, now).await?]);
        }
        let mut sub = begin(limit, conn.pg()).await?;
        let mut out = Vec::with_capacity(patches.len());
        let mut res = Ok(());
        for p in patches {
            match self.update_one(t, limit, &mut sub, p, now).await {
                Ok(u) => out.push(u),
                Err(e) => {
                    res = Err(e);
                    break;
                }
            }
        }
        finish(limit, sub, res.map(|()| out)).await
    }

    /// Delete `ids` (distinct, non-empty) with one statement; missing ids fail the call.
    async fn delete_in(
        &self,
        t: &Target,
        limit: Option<Duration>,
        c: &mut PgConnection,
        ids: &[Uuid],
    ) -> Op<()> {
        let rows = run(
            limit,
            t.query(&t.sql.delete).bind(ids.to_vec()).fetch_all(c),
        )
        .await?;
        let deleted: HashSet<Uuid> = rows
            .iter()
            .filter_map(|r| sqlx::Row::try_get::<Uuid, _>(r, 0).ok())
            .collect();
        let missing: Vec<Uuid> = ids
            .iter()
            .copied()
            .filter(|id| !deleted.contains(id))
            .collect();
        match missing.as_slice() {
            [] => Ok(()),
            [one] if ids.len() == 1 => Err(self.not_found(*one).into()),
            _ => Err(Error::new(
                ErrorKind::NotFound,
                format!(
                    "{}: {} of {} ids not found, nothing deleted: {}",
                    self.what,
                    missing.len(),
                    ids.len(),
                    list_ids(&missing)
                ),
            )
            .into()),
        }
    }

    /// One id: one statement. Several: inside a transaction (or a savepoint in the caller's),
    /// rolled back if any id is missing.
    async fn delete_op(
        &self,
        t: &Target,
        conn: &mut Conn<'_>,
        limit: Option<Duration>,
        ids: Vec<Uuid>,
    ) -> Op<()> {
        if ids.len() == 1 {
            return self.delete_in(t, limit, conn.pg(), &ids).await;
        }
        let mut sub = begin(limit, conn.pg()).await?;
        let res = self.delete_in(t, limit, &mut sub, &ids).await;
        finish(limit, sub, res).await
    }
}

/// Run `body` on `conn` as one unit: directly if it is a single statement's worth (`atomic`),
/// else inside a transaction (or a savepoint in the caller's), rolled back if it fails.
macro_rules! all_or_nothing {
    ($limit:expr, $conn:expr, $atomic:expr, |$c:ident| $body:expr) => {{
        if $atomic {
            let $c: &mut PgConnection = $conn.pg();
            $body.await
        } else {
            match begin($limit, $conn.pg()).await {
                Ok(mut sub) => {
                    let res = {
                        let $c: &mut PgConnection = &mut sub;
                        $body.await
                    };
                    finish($limit, sub, res).await
                }
                Err(e) => Err(e),
            }
        }
    }};
}

impl PostgresDocumentStore {
    fn distinct(&self, verb: &str, ids: impl IntoIterator<Item = Uuid>) -> Result<()> {
        let mut seen = HashSet::new();
        let repeated: Vec<Uuid> = ids.into_iter().filter(|id| !seen.insert(*id)).collect();
        if repeated.is_empty() {
            return Ok(());
        }
        Err(Error::new(
            ErrorKind::Validation,
            format!(
                "{} of {} needs distinct ids; repeated: {}",
                verb,
                self.what,
                list_ids(&repeated)
            ),
        ))
    }

    fn missing(&self, verb: &str, missing: &[Uuid], total: usize) -> Error {
        match missing {
            [one] if total == 1 => self.not_found(*one),
            _ => Error::new(
                ErrorKind::NotFound,
                format!(
                    "{}: {} of {} ids not found, nothing {verb}: {}",
                    self.what,
                    missing.len(),
                    total,
                    list_ids(missing)
                ),
            ),
        }
    }

    fn stale(&self, id: Uuid, expected: i64, stored: i64) -> Error {
        Error::new(
            ErrorKind::RevisionMismatch,
            format!(
                "{} {id}: expected rev {expected}, stored rev is {stored}",
                self.what
            ),
        )
    }

    /// The stored rows among `ids`, by id.
    async fn rows_by_id(
        &self,
        t: &Target,
        limit: Option<Duration>,
        c: &mut PgConnection,
        ids: &[Uuid],
    ) -> Op<HashMap<Uuid, Row>> {
        let rows = run(
            limit,
            t.query(&t.sql.get_many).bind(ids.to_vec()).fetch_all(c),
        )
        .await?;
        let mut out = HashMap::with_capacity(rows.len());
        for r in &rows {
            let row = self.decode(r)?;
            out.insert(row.meta.id, row);
        }
        Ok(out)
    }

    /// The upsert statement, then a read of the rows it did not return: stale (an error) or
    /// unchanged.
    async fn upsert_in(
        &self,
        t: &Target,
        limit: Option<Duration>,
        c: &mut PgConnection,
        columns: Vec<Column>,
        ids: &[Uuid],
        revs: Vec<i64>,
    ) -> Op<Vec<Upserted>> {
        let mut q = t.query(&t.sql.upsert);
        for column in columns {
            q = column.bind(q);
        }
        let q = q.bind(revs.clone());
        let returned = run(limit, q.fetch_all(&mut *c)).await?;
        let mut by_id: HashMap<Uuid, Upserted> = HashMap::with_capacity(returned.len());
        for r in &returned {
            let row = self.decode(r)?;
            let inserted: bool = sqlx::Row::try_get(r, "inserted")
                .map_err(|e| OpError::from(self.map(t, Cause::Sql(e))))?;
            by_id.insert(row.meta.id, Upserted::new(row, inserted, true));
        }
        let rest: Vec<Uuid> = ids
            .iter()
            .copied()
            .filter(|id| !by_id.contains_key(id))
            .collect();
        if !rest.is_empty() {
            let mut stored = self.rows_by_id(t, limit, c, &rest).await?;
            for (id, rev) in ids.iter().zip(&revs) {
                if by_id.contains_key(id) {
                    continue;
                }
                // The conflicting row is locked until the statement's transaction ends.
                let row = stored.remove(id).ok_or_else(|| {
                    Error::new(
                        ErrorKind::Internal,
                        format!("{} {id}: upsert neither wrote nor found the row", self.what),
                    )
                })?;
                if row.meta.rev != *rev {
                    return Err(self.stale(*id, *rev, row.meta.rev).into());
                }
                by_id.insert(*id, Upserted::new(row, false, false));
            }
        }
        ids.iter()
            .map(|id| {
                by_id.remove(id).ok_or_else(|| {
                    Error::new(
                        ErrorKind::Internal,
                        format!("{} {id}: upsert returned no row", self.what),
                    )
                    .into()
                })
            })
            .collect()
    }

    /// Insert the absent rows (one statement), read the others; a row deleted between the
    /// two is tried again.
    async fn ensure_many_in(
        &self,
        t: &Target,
        limit: Option<Duration>,
        c: &mut PgConnection,
        rows: &[Row],
    ) -> Op<Vec<(Row, bool)>> {
        let mut found: HashMap<Uuid, (Row, bool)> = HashMap::with_capacity(rows.len());
        for _ in 0..ENSURE_ATTEMPTS {
            let pending: Vec<Row> = rows
                .iter()
                .filter(|r| !found.contains_key(&r.meta.id))
                .cloned()
                .collect();
            if pending.is_empty() {
                break;
            }
            let mut q = t.query(&t.sql.ensure);
            for column in self.encode_rows(&pending)? {
                q = column.bind(q);
            }
            for r in run(limit, q.fetch_all(&mut *c)).await? {
                let row = self.decode(&r)?;
                found.insert(row.meta.id, (row, true));
            }
            let rest: Vec<Uuid> = pending
                .iter()
                .map(|r| r.meta.id)
                .filter(|id| !found.contains_key(id))
                .collect();
            if !rest.is_empty() {
                for (id, row) in self.rows_by_id(t, limit, c, &rest).await? {
                    found.insert(id, (row, false));
                }
            }
        }
        rows.iter()
            .map(|r| {
                found.remove(&r.meta.id).ok_or_else(|| {
                    Error::new(
                        ErrorKind::Unavailable,
                        format!(
                            "{} {}: repeatedly deleted while being ensured, retry",
                            self.what, r.meta.id
                        ),
                    )
                    .into()
                })
            })
            .collect()
    }

    async fn touch_many_in(
        &self,
        t: &Target,
        limit: Option<Duration>,
        c: &mut PgConnection,
        ids: &[Uuid],
        now: DateTime<Utc>,
    ) -> Op<Vec<Row>> {
        let returned = run(
            limit,
            t.query(&t.sql.touch_many)
                .bind(ids.to_vec())
                .bind(micros(now))
                .fetch_all(c),
        )
        .await?;
        let mut by_id = HashMap::with_capacity(returned.len());
        for r in &returned {
            let row = self.decode(r)?;
            by_id.insert(row.meta.id, row);
        }
        let missing: Vec<Uuid> = ids
            .iter()
            .copied()
            .filter(|id| !by_id.contains_key(id))
            .collect();
        if !missing.is_empty() {
            return Err(self.missing("touched", &missing, ids.len()).into());
        }
        Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
    }

    async fn delete_at_in(
        &self,
        t: &Target,
        limit: Option<Duration>,
        c: &mut PgConnection,
        expected: &[(Uuid, i64)],
    ) -> Op<()> {
        let (ids, revs): (Vec<Uuid>, Vec<i64>) = expected.iter().copied().unzip();
        let rows = run(
            limit,
            t.query(&t.sql.delete_at)
                .bind(ids.clone())
                .bind(revs)
                .fetch_all(&mut *c),
        )
        .await?;
        let deleted: HashSet<Uuid> = rows
            .iter()
            .filter_map(|r| sqlx::Row::try_get::<Uuid, _>(r, 0).ok())
            .collect();
        let rest: Vec<Uuid> = ids
            .iter()
            .copied()
            .filter(|id| !deleted.contains(id))
            .collect();
        if rest.is_empty() {
            return Ok(());
        }
        let stored = self.rows_by_id(t, limit, c, &rest).await?;
        let missing: Vec<Uuid> = rest
            .iter()
            .copied()
            .filter(|id| !stored.contains_key(id))
            .collect();
        if !missing.is_empty() {
            return Err(self.missing("deleted", &missing, ids.len()).into());
        }
        let (id, rev, row) = expected
            .iter()
            .find_map(|(id, rev)| stored.get(id).map(|row| (*id, *rev, row)))
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::Internal,
                    format!("{}: a checked delete lost track of its rows", self.what),
                )
            })?;
        Err(self.stale(id, rev, row.meta.rev).into())
    }
}

impl DocumentStore for PostgresDocumentStore {
    fn insert<'a>(&'a self, cx: &'a StoreCx, rows: Vec<Row>) -> BoxFuture<'a, Result<Vec<Row>>> {
        Box::pin(async move {
            let t = self.target(cx)?;
            if rows.is_empty() {
                return Ok(Vec::new());
            }
            let ids: Vec<Uuid> = rows.iter().map(|r| r.meta.id).collect();
            let mut seen = HashSet::with_capacity(ids.len());
            if let Some(dup) = ids.iter().find(|id| !seen.insert(**id)) {
                return Err(Error::new(
                    ErrorKind::Conflict,
                    format!("{} {dup} appears twice in one insert", self.what),
                ));
            }
            let columns = self.encode_rows(&rows)?;
            drop(rows);
            let (mut conn, limit) = self.conn(cx, &t).await?;
            let mut q = t.query(&t.sql.insert);
            for column in columns {
                q = column.bind(q);
            }
            let res = run(limit, q.fetch_all(conn.pg())).await;
            let res = match res {
                Err(e) if e.sqlstate().as_deref() == Some(UNIQUE_VIOLATION) => {
                    Err(self.insert_conflict(&t, &mut conn, limit, &ids, e).await)
                }
                other => other,
            };
            let pg_rows = self.settle(&t, &mut conn, res)?;
            drop(conn);
            let mut by_id: HashMap<Uuid, Row> = HashMap::with_capacity(pg_rows.len());
            for r in &pg_rows {
                let row = self.decode(r)?;
                by_id.insert(row.meta.id, row);
            }
            ids.iter()
                .map(|id| {
                    by_id.remove(id).ok_or_else(|| {
                        Error::new(
                            ErrorKind::Internal,
                            format!("{} {id}: insert returned no row", self.what),
                        )
                    })
                })
                .collect()
        })
    }

    fn ensure<'a>(&'a self, cx: &'a StoreCx, row: Row) -> BoxFuture<'a, Result<(Row, bool)>> {
        Box::pin(async move {
            let t = self.target(cx)?;
            let id = row.meta.id;
            // Validate before taking a connection.
            let mut columns = Some(self.encode_rows(std::slice::from_ref(&row))?);
            let (mut conn, limit) = self.conn(cx, &t).await?;
            let res: Op<(Row, bool)> = async {
                for _ in 0..ENSURE_ATTEMPTS {
                    let columns = match columns.take() {
                        Some(c) => c,
                        None => self.encode_rows(std::slice::from_ref(&row))?,
                    };
                    let mut q = t.query(&t.sql.ensure);
                    for column in columns {
                        q = column.bind(q);
                    }
                    if let Some(r) = run(limit, q.fetch_optional(conn.pg())).await? {
                        return Ok((self.decode(&r)?, true));
                    }
                    if let Some(existing) = self.fetch_row(&t, limit, conn.pg(), id).await? {
                        return Ok((existing, false));
                    }
                    // Deleted between the insert and the read: try again.
                }
                Err(Error::new(
                    ErrorKind::Unavailable,
                    format!(
                        "{} {id}: repeatedly deleted while being ensured, retry",
                        self.what
                    ),
                )
                .into())
            }
            .await;
            self.settle(&t, &mut conn, res)
        })
    }

    fn update<'a>(
        &'a self,
        cx: &'a StoreCx,
        patches: Vec<Patch>,
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<Vec<Updated>>> {
        Box::pin(async move {
            let t = self.target(cx)?;
            if patches.is_empty() {
                return Ok(Vec::new());
            }
            let encoded = patches
                .iter()
                .map(|p| self.encode_patch(p))
                .collect::<Result<Vec<_>>>()?;
            drop(patches);
            let (mut conn, limit) = self.conn(cx, &t).await?;
            let res = self.update_op(&t, &mut conn, limit, encoded, now).await;
            self.settle(&t, &mut conn, res)
        })
    }

    fn touch<'a>(
        &'a self,
        cx: &'a StoreCx,
        id: Uuid,
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<Row>> {
        Box::pin(async move {
            let t = self.target(cx)?;
            let (mut conn, limit) = self.conn(cx, &t).await?;
            let res = run(
                limit,
                t.query(&t.sql.touch)
                    .bind(id)
                    .bind(micros(now))
                    .fetch_optional(conn.pg()),
            )
            .await;
            match self.settle(&t, &mut conn, res)? {
                Some(r) => self.decode(&r),
                None => Err(self.not_found(id)),
            }
        })
    }

    fn delete<'a>(&'a self, cx: &'a StoreCx, ids: &'a [Uuid]) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let t = self.target(cx)?;
            let mut seen = HashSet::with_capacity(ids.len());
            let ids: Vec<Uuid> = ids.iter().copied().filter(|id| seen.insert(*id)).collect();
            if ids.is_empty() {
                return Ok(());
            }
            let (mut conn, limit) = self.conn(cx, &t).await?;
            let res = self.delete_op(&t, &mut conn, limit, ids).await;
            self.settle(&t, &mut conn, res)
        })
    }

    fn upsert<'a>(
        &'a self,
        cx: &'a StoreCx,
        items: Vec<Upsert>,
    ) -> BoxFuture<'a, Result<Vec<Upserted>>> {
        Box::pin(async move {
            let t = self.target(cx)?;
            if items.is_empty() {
                return Ok(Vec::new());
            }
            self.distinct("an upsert", items.iter().map(|u| u.row.meta.id))?;
            let ids: Vec<Uuid> = items.iter().map(|u| u.row.meta.id).collect();
            let revs: Vec<i64> = items.iter().map(|u| u.rev).collect();
            let rows: Vec<Row> = items.into_iter().map(|u| u.row).collect();
            let columns = self.encode_rows(&rows)?;
            drop(rows);
            let (mut conn, limit) = self.conn(cx, &t).await?;
            // One statement; a batch with a stale row must also undo the others.
            let res = all_or_nothing!(limit, conn, ids.len() == 1, |c| self
                .upsert_in(&t, limit, c, columns, &ids, revs));
            self.settle(&t, &mut conn, res)
        })
    }

    fn ensure_many<'a>(
        &'a self,
        cx: &'a StoreCx,
        rows: Vec<Row>,
    ) -> BoxFuture<'a, Result<Vec<(Row, bool)>>> {
        Box::pin(async move {
            let t = self.target(cx)?;
            if rows.is_empty() {
                return Ok(Vec::new());
            }
            self.distinct("an ensure", rows.iter().map(|r| r.meta.id))?;
            // Validate before taking a connection.
            self.encode_rows(&rows)?;
            let (mut conn, limit) = self.conn(cx, &t).await?;
            let res = all_or_nothing!(limit, conn, false, |c| self
                .ensure_many_in(&t, limit, c, &rows));
            self.settle(&t, &mut conn, res)
        })
    }

    fn touch_many<'a>(
        &'a self,
        cx: &'a StoreCx,
        ids: &'a [Uuid],
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<Vec<Row>>> {
        Box::pin(async move {
            let t = self.target(cx)?;
            if ids.is_empty() {
                return Ok(Vec::new());
            }
            self.distinct("a touch", ids.iter().copied())?;
            let (mut conn, limit) = self.conn(cx, &t).await?;
            let res = all_or_nothing!(limit, conn, ids.len() == 1, |c| self
                .touch_many_in(&t, limit, c, ids, now));
            self.settle(&t, &mut conn, res)
        })
    }

    fn delete_at<'a>(
        &'a self,
        cx: &'a StoreCx,
        expected: &'a [(Uuid, i64)],
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let t = self.target(cx)?;
            if expected.is_empty() {
                return Ok(());
            }
            self.distinct("a delete", expected.iter().map(|(id, _)| *id))?;
            let (mut conn, limit) = self.conn(cx, &t).await?;
            let res = all_or_nothing!(limit, conn, expected.len() == 1, |c| self
                .delete_at_in(&t, limit, c, expected));
            self.settle(&t, &mut conn, res)
        })
    }

    fn update_matching<'a>(
        &'a self,
        cx: &'a StoreCx,
        filter: &'a Predicate,
        fields: serde_json::Map<String, Value>,
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<Vec<(Uuid, i64)>>> {
        Box::pin(async move {
            let t = self.target(cx)?;
            for key in fields.keys() {
                self.field(key)?;
            }
            let all: &'static [FieldSchema] = self.fields;
            let mut set = Vec::with_capacity(fields.len());
            for field in all {
                if let Some(v) = fields.get(field.name) {
                    set.push((field, encode(&self.name, field, v)?));
                }
            }
            if set.is_empty() {
                return Ok(Vec::new());
            }
            let rendered =
                query::update_matching(&t.sql, filter, set, Param::Timestamp(Some(micros(now))));
            let sql: Arc<str> = Arc::from(rendered.sql.as_str());
            let (mut conn, limit) = self.conn(cx, &t).await?;
            let res = run(limit, rendered.bind(t.query(&sql)).fetch_all(conn.pg())).await;
            self.settle(&t, &mut conn, res)?
                .iter()
                .map(|r| {
                    let id: Uuid =
                        sqlx::Row::try_get(r, 0).map_err(|e| self.map(&t, Cause::Sql(e)))?;
                    let rev: i64 =
                        sqlx::Row::try_get(r, 1).map_err(|e| self.map(&t, Cause::Sql(e)))?;
                    Ok((id, rev))
                })
                .collect()
        })
    }

    fn get<'a>(
        &'a self,
        cx: &'a StoreCx,
        id: Uuid,
        lock: bool,
    ) -> BoxFuture<'a, Result<Option<Row>>> {
        Box::pin(async move {
            let t = self.target(cx)?;
            let (mut conn, limit) = self.conn(cx, &t).await?;
            // A lock outside a transaction would be released at once: plain read.
            let sql = if lock && conn.in_tx() {
                &t.sql.get_locked
            } else {
                &t.sql.get
            };
            let res = run(limit, t.query(sql).bind(id).fetch_optional(conn.pg())).await;
            self.settle(&t, &mut conn, res)?
                .map(|r| self.decode(&r))
                .transpose()
        })
    }

    fn get_many<'a>(&'a self, cx: &'a StoreCx, ids: &'a [Uuid]) -> BoxFuture<'a, Result<Vec<Row>>> {
        Box::pin(async move {
            let t = self.target(cx)?;
            if ids.is_empty() {
                return Ok(Vec::new());
            }
            let (mut conn, limit) = self.conn(cx, &t).await?;
            let res = run(
                limit,
                t.query(&t.sql.get_many)
                    .bind(ids.to_vec())
                    .fetch_all(conn.pg()),
            )
            .await;
            self.settle(&t, &mut conn, res)?
                .iter()
                .map(|r| self.decode(r))
                .collect()
        })
    }

    fn find<'a>(&'a self, cx: &'a StoreCx, select: &'a Select) -> BoxFuture<'a, Result<Vec<Row>>> {
        Box::pin(async move {
            let t = self.target(cx)?;
            let rendered = query::select(&t.sql, select);
            let sql: Arc<str> = Arc::from(rendered.sql.as_str());
            let (mut conn, limit) = self.conn(cx, &t).await?;
            let res = run(limit, rendered.bind(t.query(&sql)).fetch_all(conn.pg())).await;
            self.settle(&t, &mut conn, res)?
                .iter()
                .map(|r| self.decode(r))
                .collect()
        })
    }

    fn count<'a>(
        &'a self,
        cx: &'a StoreCx,
        filter: Option<&'a Predicate>,
    ) -> BoxFuture<'a, Result<u64>> {
        Box::pin(async move {
            let t = self.target(cx)?;
            let rendered = query::count(&t.sql, filter);
            let sql: Arc<str> = Arc::from(rendered.sql.as_str());
            let (mut conn, limit) = self.conn(cx, &t).await?;
            let res = run(limit, rendered.bind(t.query(&sql)).fetch_one(conn.pg())).await;
            let row = self.settle(&t, &mut conn, res)?;
            let n: i64 = sqlx::Row::try_get(&row, 0).map_err(|e| self.map(&t, Cause::Sql(e)))?;
            Ok(u64::try_from(n).unwrap_or(0))
        })
    }
}
