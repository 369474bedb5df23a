//! SQL text: the `CREATE TABLE` of a document table and the statements that read and write it.
//!
//! Names go through [`quote_ident`]; values are always bound parameters.

use std::fmt::Write as _;
use std::sync::Arc;

use forze_core::{
    Document, DocumentSpec, Error, FieldKind, FieldSchema, IndexSpec, Result, SortOrder, Tenancy,
};
use uuid::Uuid;

use crate::columns::{ID, META, TENANT_ID, sql_type};
use crate::config::PostgresDocumentConfig;
use crate::ident::quote_ident;

/// Postgres' identifier limit in bytes (NAMEDATALEN - 1).
const MAX_NAME: usize = 63;

/// `CREATE TABLE IF NOT EXISTS` for a document table: the metadata columns, then one column per
/// field (typed by its [`FieldKind`](forze_core::FieldKind), `NOT NULL` unless the field is
/// nullable).
///
/// Meant for demos and tests; production schemas belong in migrations. The names are quoted, so
/// any name is safe to render; a name Postgres cannot hold fails when the statement runs.
///
/// # Examples
///
/// ```
/// use forze_core::{FieldKind, FieldSchema};
/// use forze_postgres::{create_table_sql, PostgresDocumentConfig};
///
/// static FIELDS: [FieldSchema; 2] = [
///     FieldSchema::new("name", FieldKind::Text, false),
///     FieldSchema::new("price", FieldKind::Int, true),
/// ];
/// let sql = create_table_sql(&PostgresDocumentConfig::table("public", "products"), &FIELDS);
/// assert_eq!(
///     sql,
///     "CREATE TABLE IF NOT EXISTS \"public\".\"products\" (\
///      \"id\" uuid PRIMARY KEY, \
///      \"rev\" bigint NOT NULL, \
///      \"created_at\" timestamptz NOT NULL, \
///      \"last_update_at\" timestamptz NOT NULL, \
///      \"name\" text NOT NULL, \
///      \"price\" integer)"
/// );
/// ```
pub fn create_table_sql(config: &PostgresDocumentConfig, fields: &'static [FieldSchema]) -> String {
    table_sql(&config.qualified_name(), fields, false)
}

/// `CREATE TABLE IF NOT EXISTS {table}`: with `tenant_column`, a `tenant_id uuid NOT NULL`
/// column first and the primary key `(tenant_id, id)` (two tenants may hold the same id).
fn table_sql(table: &str, fields: &[FieldSchema], tenant_column: bool) -> String {
    let meta = META.iter().map(|m| {
        let constraint = if tenant_column && m.name == ID.name {
            "NOT NULL"
        } else {
            m.constraint
        };
        (m.name, m.kind, constraint)
    });
    let fields = fields.iter().map(|f| {
        let constraint = if f.nullable { "" } else { "NOT NULL" };
        (f.name, f.kind, constraint)
    });
    let mut sql = format!("CREATE TABLE IF NOT EXISTS {table} (");
    if tenant_column {
        let _ = write!(sql, "{} uuid NOT NULL, ", quote_ident(TENANT_ID));
    }
    for (i, (name, kind, constraint)) in meta.chain(fields).enumerate() {
        let sep = if i == 0 { "" } else { ", " };
        let space = if constraint.is_empty() { "" } else { " " };
        let _ = write!(
            sql,
            "{sep}{} {}{space}{constraint}",
            quote_ident(name),
            sql_type(kind).column
        );
    }
    if tenant_column {
        let _ = write!(
            sql,
            ", PRIMARY KEY ({}, {})",
            quote_ident(TENANT_ID),
            quote_ident(ID.name)
        );
    }
    sql.push(')');
    sql
}

/// The whole schema of a document: [`create_table_sql`], then one
/// `CREATE [UNIQUE] INDEX IF NOT EXISTS` per index and unique constraint of the spec
/// (`#[document_spec(unique(..), index(..))]`), in declaration order. Run them in order.
///
/// Text columns are indexed `COLLATE "C"`, the collation queries compare and order text under,
/// so an index serves their filters and sorts. Index names are deterministic:
/// `<table>_<column>[_desc]…_key` for a unique constraint, `…_idx` for an index; a name over 63
/// bytes is cut and ends in a hash of the full name, so it stays unique. The Postgres store maps
/// a violation of a unique index named so to the [`IndexSpec::conflict`] error every backend
/// returns.
///
/// # Tenancy
///
/// For a row-level tenant-scoped spec (`#[document_spec(tenant = "column")]`) the table starts
/// with a `tenant_id uuid NOT NULL` column, its primary key is `(tenant_id, id)` (two tenants may
/// hold the same id), and every index and unique constraint leads with `tenant_id` (a unique
/// value is unique per tenant; every statement filters on the tenant first). A
/// schema-per-tenant spec (`tenant = "schema"`) has one table per tenant: create each with
/// [`tenant_schema_sql`] (this function renders the same layout in the config's own schema).
///
/// Meant for demos and tests, like `create_table_sql`; production schemas belong in migrations
/// (copy these statements into one).
///
/// # Examples
///
/// ```
/// use forze_core::Document;
/// use forze_postgres::{PostgresDocumentConfig, schema_sql};
///
/// #[derive(Document)]
/// #[document_spec(name = "products", unique(sku), index(price desc, name))]
/// pub struct Product {
///     pub sku: String,
///     pub name: String,
///     pub price: i32,
/// }
///
/// let sql = schema_sql(&PostgresDocumentConfig::table("shop", "products"), &PRODUCT_SPEC);
/// assert_eq!(sql.len(), 3);
/// assert!(sql[0].starts_with("CREATE TABLE IF NOT EXISTS \"shop\".\"products\""));
/// assert_eq!(
///     sql[1],
///     "CREATE UNIQUE INDEX IF NOT EXISTS \"products_sku_key\" ON \"shop\".\"products\" \
///      (\"sku\" COLLATE \"C\")"
/// );
/// assert_eq!(
///     sql[2],
///     "CREATE INDEX IF NOT EXISTS \"products_price_desc_name_idx\" ON \"shop\".\"products\" \
///      (\"price\" DESC, \"name\" COLLATE \"C\")"
/// );
///
/// #[derive(Document)]
/// #[document_spec(name = "invoices", tenant = "column", unique(number))]
/// pub struct Invoice {
///     pub number: String,
/// }
/// let sql = schema_sql(&PostgresDocumentConfig::table("shop", "invoices"), &INVOICE_SPEC);
/// assert!(sql[0].starts_with("CREATE TABLE IF NOT EXISTS \"shop\".\"invoices\" (\"tenant_id\" uuid NOT NULL, \"id\" uuid NOT NULL"));
/// assert!(sql[0].ends_with(", PRIMARY KEY (\"tenant_id\", \"id\"))"));
/// assert!(sql[1].ends_with("(\"tenant_id\", \"number\" COLLATE \"C\")"));
/// ```
pub fn schema_sql<D: Document>(
    config: &PostgresDocumentConfig,
    spec: &DocumentSpec<D>,
) -> Vec<String> {
    let tenant_column = spec.tenancy == Tenancy::Column;
    render_schema(
        &config.qualified_name(),
        &config.table,
        D::FIELDS,
        spec.indexes,
        tenant_column,
    )
}

/// [`schema_sql`] from a field schema and indexes rather than a typed spec (for untyped
/// bindings, like [`create_table_sql`]), for a spec without tenancy.
pub fn schema_sql_of(
    config: &PostgresDocumentConfig,
    fields: &'static [FieldSchema],
    indexes: &[IndexSpec],
) -> Vec<String> {
    render_schema(
        &config.qualified_name(),
        &config.table,
        fields,
        indexes,
        false,
    )
}

/// The schema of one tenant of a schema-per-tenant spec (`#[document_spec(tenant = "schema")]`):
/// `CREATE SCHEMA IF NOT EXISTS` for the tenant's schema, then [`schema_sql`]'s table and indexes
/// in it. Run them in order when a tenant is provisioned (the store does not create schemas on
/// its own: a call for a tenant whose table is missing is a `Config` error naming it).
///
/// The schema is `<prefix>_<tenant>`: the prefix is
/// [`PostgresDocumentConfig::tenant_schema_prefix`] (by default the config's schema), the tenant
/// its uuid in lowercase hex without hyphens; the table keeps the config's table name.
///
/// # Errors
///
/// `Config` if the spec is not schema-per-tenant, or the prefix is not `[a-z_][a-z0-9_]*` of at
/// most 30 bytes (the schema name must fit Postgres' 63).
///
/// # Examples
///
/// ```
/// use forze_core::Document;
/// use forze_postgres::{PostgresDocumentConfig, tenant_schema_sql};
/// use uuid::Uuid;
///
/// #[derive(Document)]
/// #[document_spec(name = "notes", tenant = "schema", index(title))]
/// pub struct Note {
///     pub title: String,
/// }
///
/// let config = PostgresDocumentConfig::table("app", "notes").tenant_schema_prefix("tenant");
/// let tenant = Uuid::from_u128(0x0192_0000_0000_7000_8000_0000_0000_0001);
/// let sql = tenant_schema_sql(&config, &NOTE_SPEC, tenant)?;
/// let schema = "\"tenant_01920000000070008000000000000001\"";
/// assert_eq!(sql[0], format!("CREATE SCHEMA IF NOT EXISTS {schema}"));
/// assert!(sql[1].starts_with(&format!("CREATE TABLE IF NOT EXISTS {schema}.\"notes\"")));
/// assert!(sql[2].ends_with(&format!("ON {schema}.\"notes\" (\"title\" COLLATE \"C\")")));
/// # Ok::<(), forze_core::Error>(())
/// ```
pub fn tenant_schema_sql<D: Document>(
    config: &PostgresDocumentConfig,
    spec: &DocumentSpec<D>,
    tenant: Uuid,
) -> Result<Vec<String>> {
    if spec.tenancy != Tenancy::Schema {
        return Err(Error::config(format!(
            "document `{}`: tenant_schema_sql is for a schema-per-tenant spec \
             (`tenant = \"schema\"`), this one's tenancy is `{}`; use schema_sql",
            spec.name, spec.tenancy
        )));
    }
    config.validate_tenant_prefix(&spec.name)?;
    let schema = config.tenant_schema(tenant);
    let mut out = vec![format!(
        "CREATE SCHEMA IF NOT EXISTS {}",
        quote_ident(&schema)
    )];
    out.extend(render_schema(
        &config.qualified_in(&schema),
        &config.table,
        D::FIELDS,
        spec.indexes,
        false,
    ));
    Ok(out)
}

/// The table and its indexes; with `tenant_column`, `tenant_id` leads the key and every index.
fn render_schema(
    table: &str,
    table_name: &str,
    fields: &[FieldSchema],
    indexes: &[IndexSpec],
    tenant_column: bool,
) -> Vec<String> {
    let mut out = vec![table_sql(table, fields, tenant_column)];
    for index in indexes {
        let mut columns: Vec<String> = Vec::with_capacity(index.fields.len() + 1);
        if tenant_column {
            columns.push(quote_ident(TENANT_ID));
        }
        columns.extend(index.fields.iter().map(|column| {
            let text = fields
                .iter()
                .any(|f| f.name == column.name && f.kind == FieldKind::Text);
            let collate = if text { " COLLATE \"C\"" } else { "" };
            let desc = if column.order == SortOrder::Desc {
                " DESC"
            } else {
                ""
            };
            format!("{}{collate}{desc}", quote_ident(column.name))
        }));
        let unique = if index.unique { "UNIQUE " } else { "" };
        out.push(format!(
            "CREATE {unique}INDEX IF NOT EXISTS {} ON {table} ({})",
            quote_ident(&index_name(table_name, index)),
            columns.join(", ")
        ));
    }
    out
}

/// The name of `index` on `table`: `<table>_<column>[_desc]…_key` (unique) or `…_idx`; over 63
/// bytes, cut at a character boundary and suffixed with a hash of the full name.
pub(crate) fn index_name(table: &str, index: &IndexSpec) -> String {
    let mut stem = table.to_owned();
    for column in index.fields {
        stem.push('_');
        stem.push_str(column.name);
        if column.order == SortOrder::Desc {
            stem.push_str("_desc");
        }
    }
    let suffix = if index.unique { "_key" } else { "_idx" };
    if stem.len() + suffix.len() <= MAX_NAME {
        return stem + suffix;
    }
    // FNV-1a: stable across Rust versions and platforms, unlike `DefaultHasher`.
    let hash = stem.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let tail = format!("_{:08x}{suffix}", hash >> 32);
    let mut cut = MAX_NAME - tail.len();
    while !stem.is_char_boundary(cut) {
        cut -= 1;
    }
    stem.truncate(cut);
    stem + &tail
}

/// The tenant scope of a table's statements, as pieces of SQL (empty for a table without a
/// tenant column).
struct Scope {
    /// `$n` for the statement's `n`th own parameter (after the tenant's `$1`, if any).
    base: usize,
    /// `"tenant_id" = $1 AND ` (before other conditions).
    lead: String,
    /// ` AND "tenant_id" = $1` (after other conditions).
    and: String,
    /// The inserted columns, the tenant's first.
    insert_cols: String,
    /// `$1::uuid, ` before the unnested columns.
    insert_vals: String,
    /// The conflict key.
    key: String,
}

impl Scope {
    fn p(&self, i: usize) -> String {
        format!("${}", i + self.base)
    }
}

/// Insert or revision-checked update of a batch, one statement. Parameters (after the tenant's
/// `$1`, if any): one array per column (as the insert), then the expected revs (`int8[]`, in
/// the ids' order). A row whose id exists is updated only if its rev is the expected one (an
/// uncorrelated `IN`, which Postgres runs as a hashed subplan: linear in the batch) and some
/// field differs; the returned rows carry a last `inserted` column (`xmax = 0`: no earlier
/// version, so the row is new). Rows neither inserted nor updated (stale rev, or nothing to
/// change) are not returned.
fn upsert_sql(
    table: &str,
    columns: &str,
    arrays: &[String],
    fields: &[FieldSchema],
    scope: &Scope,
) -> String {
    let expected = scope.p(arrays.len() + 1);
    let ids = scope.p(1);
    let mut set = String::new();
    let mut differs = Vec::with_capacity(fields.len());
    for field in fields {
        let col = quote_ident(field.name);
        let _ = write!(set, "{col} = EXCLUDED.{col}, ");
        differs.push(format!("\"cur\".{col} IS DISTINCT FROM EXCLUDED.{col}"));
    }
    let differs = if differs.is_empty() {
        "FALSE".to_owned()
    } else {
        differs.join(" OR ")
    };
    let tenant = if scope.base > 0 {
        format!(" AND \"cur\".{} = $1", quote_ident(TENANT_ID))
    } else {
        String::new()
    };
    format!(
        "INSERT INTO {table} AS \"cur\" ({}) SELECT {}* FROM UNNEST({}) \
         ON CONFLICT ({}) DO UPDATE SET {set}\"rev\" = \"cur\".\"rev\" + 1, \
         \"last_update_at\" = EXCLUDED.\"last_update_at\" \
         WHERE (\"cur\".\"id\", \"cur\".\"rev\") IN (SELECT * FROM UNNEST({ids}::uuid[], {expected}::int8[])){tenant} \
         AND ({differs}) \
         RETURNING {columns}, (\"cur\".xmax = 0) AS \"inserted\"",
        scope.insert_cols,
        scope.insert_vals,
        arrays.join(", "),
        scope.key,
    )
}

/// Touch a batch, one statement. Parameters (after the tenant's `$1`, if any): the ids
/// (`uuid[]`), now.
fn touch_many_sql(table: &str, columns: &str, scope: &Scope) -> String {
    format!(
        "UPDATE {table} SET \"rev\" = \"rev\" + 1, \"last_update_at\" = {} \
         WHERE {}\"id\" = ANY({}) RETURNING {columns}",
        scope.p(2),
        scope.lead,
        scope.p(1)
    )
}

/// Delete the rows of a batch that are at their expected revs, one statement. Parameters
/// (after the tenant's `$1`, if any): the ids (`uuid[]`), the expected revs (`int8[]`, same
/// order). Returns the deleted ids.
fn delete_at_sql(table: &str, scope: &Scope) -> String {
    format!(
        "DELETE FROM {table} AS \"cur\" USING UNNEST({}::uuid[], {}::int8[]) AS \"x\"(\"id\", \"rev\") \
         WHERE \"cur\".\"id\" = \"x\".\"id\" AND \"cur\".\"rev\" = \"x\".\"rev\"{} RETURNING \"cur\".\"id\"",
        scope.p(1),
        scope.p(2),
        scope.and.replace(" AND \"", " AND \"cur\".\""),
    )
}

/// The fixed statements of one document table, rendered once (at bind time; per tenant in
/// schema-per-tenant mode, whose tables differ by schema).
///
/// The one place statements get their tenant scope: for a row-level tenant-scoped table
/// (`tenant_column`), every statement takes the tenant as `$1`, writes it on insert and
/// compares `"tenant_id" = $1` in every `WHERE`; its other parameters follow from `$2`. The
/// store binds `$1` in one place too ([`Target::query`](crate::target::Target::query)), and the
/// query renderer ([`crate::query`]) starts from [`Statements::scope`].
#[derive(Debug)]
pub(crate) struct Statements {
    /// `"schema"."table"`.
    pub(crate) table: String,
    /// Whether `$1` is the tenant and every statement filters on it.
    pub(crate) tenant_column: bool,
    /// The selected column list: metadata, then fields in schema order.
    columns: String,
    pub(crate) insert: Arc<str>,
    pub(crate) ensure: Arc<str>,
    pub(crate) get: Arc<str>,
    pub(crate) get_locked: Arc<str>,
    pub(crate) get_many: Arc<str>,
    pub(crate) touch: Arc<str>,
    pub(crate) delete: Arc<str>,
    pub(crate) upsert: Arc<str>,
    pub(crate) touch_many: Arc<str>,
    pub(crate) delete_at: Arc<str>,
}

impl Statements {
    pub(crate) fn new(table: String, tenant_column: bool, fields: &[FieldSchema]) -> Self {
        let all = || {
            META.iter()
                .map(|m| (m.name, m.kind))
                .chain(fields.iter().map(|f| (f.name, f.kind)))
        };
        let names: Vec<String> = all().map(|(name, _)| quote_ident(name)).collect();
        let columns = names.join(", ");
        // `$1` is the tenant when the table has a tenant column
        let base = usize::from(tenant_column);
        let p = |i: usize| format!("${}", i + base);
        let arrays: Vec<String> = all()
            .map(|(_, kind)| sql_type(kind).array)
            .enumerate()
            .map(|(i, ty)| format!("{}::{ty}", p(i + 1)))
            .collect();
        let (scope, and_scope, insert_cols, insert_vals, key) = if tenant_column {
            let t = quote_ident(TENANT_ID);
            (
                format!("{t} = $1 AND "),
                format!(" AND {t} = $1"),
                format!("{t}, {columns}"),
                "$1::uuid, ".to_owned(),
                format!("{t}, \"id\""),
            )
        } else {
            (
                String::new(),
                String::new(),
                columns.clone(),
                String::new(),
                "\"id\"".to_owned(),
            )
        };
        let unnest = arrays.join(", ");
        let insert = format!(
            "INSERT INTO {table} ({insert_cols}) SELECT {insert_vals}* FROM UNNEST({unnest}) \
             RETURNING {columns}"
        );
        let ensure = format!(
            "INSERT INTO {table} ({insert_cols}) SELECT {insert_vals}* FROM UNNEST({unnest}) \
             ON CONFLICT ({key}) DO NOTHING RETURNING {columns}"
        );
        let scope_sql = Scope {
            base,
            lead: scope.clone(),
            and: and_scope.clone(),
            insert_cols: insert_cols.clone(),
            insert_vals: insert_vals.clone(),
            key: key.clone(),
        };
        let upsert = upsert_sql(&table, &columns, &arrays, fields, &scope_sql);
        let touch_many = touch_many_sql(&table, &columns, &scope_sql);
        let delete_at = delete_at_sql(&table, &scope_sql);
        let (id, now) = (p(1), p(2));
        Statements {
            upsert: upsert.into(),
            touch_many: touch_many.into(),
            delete_at: delete_at.into(),
            get: format!("SELECT {columns} FROM {table} WHERE {scope}\"id\" = {id}").into(),
            get_locked: format!(
                "SELECT {columns} FROM {table} WHERE {scope}\"id\" = {id} FOR UPDATE"
            )
            .into(),
            get_many: format!("SELECT {columns} FROM {table} WHERE {scope}\"id\" = ANY({id})")
                .into(),
            touch: format!(
                "UPDATE {table} SET \"rev\" = \"rev\" + 1, \"last_update_at\" = {now} \
                 WHERE \"id\" = {id}{and_scope} RETURNING {columns}"
            )
            .into(),
            delete: format!("DELETE FROM {table} WHERE {scope}\"id\" = ANY({id}) RETURNING \"id\"")
                .into(),
            insert: insert.into(),
            ensure: ensure.into(),
            table,
            tenant_column,
            columns,
        }
    }

    /// How many leading parameters the tenant scope takes (`$1`, or none).
    pub(crate) fn scope_params(&self) -> usize {
        usize::from(self.tenant_column)
    }

    /// The tenant condition every `WHERE` of this table starts with, if it has one.
    pub(crate) fn scope(&self) -> Option<String> {
        self.tenant_column
            .then(|| format!("{} = $1", quote_ident(TENANT_ID)))
    }

    /// One optimistic update of the given fields. Parameters (after the tenant's `$1`, if any):
    /// id, expected rev, the field values in `fields` order, then `now`. Changes the row only if
    /// some field differs from its new value, so a no-op writes nothing and keeps `rev`.
    pub(crate) fn update(&self, fields: &[&FieldSchema]) -> String {
        let base = self.scope_params();
        let mut set = String::new();
        let mut differs = String::new();
        for (i, field) in fields.iter().enumerate() {
            let col = quote_ident(field.name);
            let param = i + 3 + base;
            let sep = if i == 0 { "" } else { ", " };
            let or = if i == 0 { "" } else { " OR " };
            let _ = write!(set, "{sep}{col} = ${param}");
            let _ = write!(differs, "{or}{col} IS DISTINCT FROM ${param}");
        }
        let now = fields.len() + 3 + base;
        let scope = self
            .scope()
            .map(|s| format!(" AND {s}"))
            .unwrap_or_default();
        format!(
            "UPDATE {} SET {set}, \"rev\" = \"rev\" + 1, \"last_update_at\" = ${now} \
             WHERE \"id\" = ${} AND \"rev\" = ${}{scope} AND ({differs}) RETURNING {}",
            self.table,
            1 + base,
            2 + base,
            self.columns
        )
    }

    /// The selected column list: metadata, then fields in schema order.
    pub(crate) fn columns(&self) -> &str {
        &self.columns
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use forze_core::FieldKind;

    static FIELDS: [FieldSchema; 2] = [
        FieldSchema::new("name", FieldKind::Text, false),
        FieldSchema::new("data", FieldKind::Json, true),
    ];

    #[test]
    fn update_sql_sets_compares_and_bumps() {
        let s = Statements::new(
            PostgresDocumentConfig::table("s", "t").qualified_name(),
            false,
            &FIELDS,
        );
        let fields: Vec<&FieldSchema> = FIELDS.iter().collect();
        assert_eq!(
            s.update(&fields),
            "UPDATE \"s\".\"t\" SET \"name\" = $3, \"data\" = $4, \"rev\" = \"rev\" + 1, \
             \"last_update_at\" = $5 WHERE \"id\" = $1 AND \"rev\" = $2 AND \
             (\"name\" IS DISTINCT FROM $3 OR \"data\" IS DISTINCT FROM $4) RETURNING \
             \"id\", \"rev\", \"created_at\", \"last_update_at\", \"name\", \"data\""
        );
    }

    #[test]
    fn insert_binds_one_array_per_column() {
        let s = Statements::new(
            PostgresDocumentConfig::table("s", "t").qualified_name(),
            false,
            &FIELDS,
        );
        assert!(s.insert.contains(
            "UNNEST($1::uuid[], $2::int8[], $3::timestamptz[], $4::timestamptz[], $5::text[], \
             $6::jsonb[])"
        ));
        assert!(s.ensure.contains("ON CONFLICT (\"id\") DO NOTHING"));
    }

    #[test]
    fn batch_verbs_bind_arrays_only() {
        let s = Statements::new("\"s\".\"t\"".to_owned(), false, &FIELDS);
        assert_eq!(
            &*s.upsert,
            "INSERT INTO \"s\".\"t\" AS \"cur\" (\"id\", \"rev\", \"created_at\", \"last_update_at\", \
             \"name\", \"data\") SELECT * FROM UNNEST($1::uuid[], $2::int8[], $3::timestamptz[], \
             $4::timestamptz[], $5::text[], $6::jsonb[]) ON CONFLICT (\"id\") DO UPDATE SET \
             \"name\" = EXCLUDED.\"name\", \"data\" = EXCLUDED.\"data\", \"rev\" = \"cur\".\"rev\" + 1, \
             \"last_update_at\" = EXCLUDED.\"last_update_at\" WHERE (\"cur\".\"id\", \"cur\".\"rev\") IN \
             (SELECT * FROM UNNEST($1::uuid[], $7::int8[])) AND (\"cur\".\"name\" IS DISTINCT FROM EXCLUDED.\"name\" OR \"cur\".\"data\" IS DISTINCT FROM \
             EXCLUDED.\"data\") RETURNING \"id\", \"rev\", \"created_at\", \"last_update_at\", \"name\", \
             \"data\", (\"cur\".xmax = 0) AS \"inserted\""
        );
        assert!(s.touch_many.contains("WHERE \"id\" = ANY($1)"));
        assert!(s.delete_at.contains("USING UNNEST($1::uuid[], $2::int8[])"));
        // row-level tenancy: the tenant is $1, inserted, in the conflict key and every condition
        let s = Statements::new("\"s\".\"t\"".to_owned(), true, &FIELDS);
        assert!(
            s.upsert
                .contains("SELECT $1::uuid, * FROM UNNEST($2::uuid[]"),
            "{}",
            s.upsert
        );
        assert!(
            s.upsert.contains("ON CONFLICT (\"tenant_id\", \"id\")"),
            "{}",
            s.upsert
        );
        assert!(
            s.upsert
                .contains("UNNEST($2::uuid[], $8::int8[])) AND \"cur\".\"tenant_id\" = $1"),
            "{}",
            s.upsert
        );
        assert!(
            s.touch_many
                .contains("WHERE \"tenant_id\" = $1 AND \"id\" = ANY($2)"),
            "{}",
            s.touch_many
        );
        assert!(
            s.delete_at.contains("UNNEST($2::uuid[], $3::int8[])"),
            "{}",
            s.delete_at
        );
        assert!(
            s.delete_at
                .contains("AND \"cur\".\"tenant_id\" = $1 RETURNING"),
            "{}",
            s.delete_at
        );
    }

    #[test]
    fn index_names_fit_postgres() {
        use forze_core::IndexField;
        static SHORT: [IndexField; 2] = [
            IndexField::__new_unchecked("price", SortOrder::Desc),
            IndexField::__new_unchecked("id", SortOrder::Asc),
        ];
        assert_eq!(
            index_name("products", &IndexSpec::__new_unchecked(&SHORT, false)),
            "products_price_desc_id_idx"
        );
        assert_eq!(
            index_name("products", &IndexSpec::__new_unchecked(&SHORT, true)),
            "products_price_desc_id_key"
        );
        static LONG_A: [IndexField; 2] = [
            IndexField::__new_unchecked("a_rather_long_field_name_number_one", SortOrder::Asc),
            IndexField::__new_unchecked("another_rather_long_field_name_a", SortOrder::Asc),
        ];
        static LONG_B: [IndexField; 2] = [
            IndexField::__new_unchecked("a_rather_long_field_name_number_one", SortOrder::Asc),
            IndexField::__new_unchecked("another_rather_long_field_name_b", SortOrder::Asc),
        ];
        let a = index_name("produits_é", &IndexSpec::__new_unchecked(&LONG_A, true));
        let b = index_name("produits_é", &IndexSpec::__new_unchecked(&LONG_B, true));
        assert!(a.len() <= 63 && b.len() <= 63, "{a} {b}");
        assert!(
            a.ends_with("_key") && a.starts_with("produits_é_a_rather"),
            "{a}"
        );
        assert_ne!(a, b, "the hash keeps cut names apart");
        assert_eq!(
            a,
            index_name("produits_é", &IndexSpec::__new_unchecked(&LONG_A, true))
        );
        // a cut inside a multi-byte character backs off to its start
        let wide = "é".repeat(40);
        let name = index_name(&wide, &IndexSpec::__new_unchecked(&SHORT, false));
        assert!(name.len() <= 63 && name.ends_with("_idx"), "{name}");
    }
}
