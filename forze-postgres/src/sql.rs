//! SQL text: the `CREATE TABLE` of a document table and the statements that read and write it.
//!
//! Names go through [`quote_ident`]; values are always bound parameters.

use std::fmt::Write as _;
use std::sync::Arc;

use forze_core::{Document, DocumentSpec, FieldKind, FieldSchema, IndexSpec, SortOrder};

use crate::columns::{META, sql_type};
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
    let meta = META.iter().map(|m| (m.name, m.kind, m.constraint));
    let fields = fields.iter().map(|f| {
        let constraint = if f.nullable { "" } else { "NOT NULL" };
        (f.name, f.kind, constraint)
    });
    let mut sql = format!("CREATE TABLE IF NOT EXISTS {} (", config.qualified_name());
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
/// ```
pub fn schema_sql<D: Document>(
    config: &PostgresDocumentConfig,
    spec: &DocumentSpec<D>,
) -> Vec<String> {
    schema_sql_of(config, D::FIELDS, spec.indexes)
}

/// [`schema_sql`] from a field schema and indexes rather than a typed spec (for untyped
/// bindings, like [`create_table_sql`]).
pub fn schema_sql_of(
    config: &PostgresDocumentConfig,
    fields: &'static [FieldSchema],
    indexes: &[IndexSpec],
) -> Vec<String> {
    let table = config.qualified_name();
    let mut out = vec![create_table_sql(config, fields)];
    for index in indexes {
        let columns: Vec<String> = index
            .fields
            .iter()
            .map(|column| {
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
            })
            .collect();
        let unique = if index.unique { "UNIQUE " } else { "" };
        out.push(format!(
            "CREATE {unique}INDEX IF NOT EXISTS {} ON {table} ({})",
            quote_ident(&index_name(&config.table, index)),
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

/// Insert or revision-checked update of a batch, one statement. Parameters: one array per
/// column (as the insert), then the expected revs (`int8[]`, in the ids' order). A row whose id
/// exists is updated only if its rev is the expected one (an uncorrelated `IN`, which Postgres
/// runs as a hashed subplan: linear in the batch) and some field differs; the returned
/// rows carry a last `inserted` column (`xmax = 0`: no earlier version, so the row is new).
/// Rows neither inserted nor updated (stale rev, or nothing to change) are not returned.
fn upsert_sql(table: &str, columns: &str, arrays: &[String], fields: &[FieldSchema]) -> String {
    let expected = arrays.len() + 1;
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
    format!(
        "INSERT INTO {table} AS \"cur\" ({columns}) SELECT * FROM UNNEST({}) \
         ON CONFLICT (\"id\") DO UPDATE SET {set}\"rev\" = \"cur\".\"rev\" + 1, \
         \"last_update_at\" = EXCLUDED.\"last_update_at\" \
         WHERE (\"cur\".\"id\", \"cur\".\"rev\") IN (SELECT * FROM UNNEST($1::uuid[], ${expected}::int8[])) \
         AND ({differs}) \
         RETURNING {columns}, (\"cur\".xmax = 0) AS \"inserted\"",
        arrays.join(", ")
    )
}

/// Touch a batch, one statement. Parameters: `$1` the ids (`uuid[]`), `$2` now.
fn touch_many_sql(table: &str, columns: &str) -> String {
    format!(
        "UPDATE {table} SET \"rev\" = \"rev\" + 1, \"last_update_at\" = $2 \
         WHERE \"id\" = ANY($1) RETURNING {columns}"
    )
}

/// Delete the rows of a batch that are at their expected revs, one statement. Parameters: `$1`
/// the ids (`uuid[]`), `$2` the expected revs (`int8[]`, same order). Returns the deleted ids.
fn delete_at_sql(table: &str) -> String {
    format!(
        "DELETE FROM {table} AS \"cur\" USING UNNEST($1::uuid[], $2::int8[]) AS \"x\"(\"id\", \"rev\") \
         WHERE \"cur\".\"id\" = \"x\".\"id\" AND \"cur\".\"rev\" = \"x\".\"rev\" RETURNING \"cur\".\"id\""
    )
}

/// The fixed statements of one document table, rendered once at bind time.
#[derive(Debug)]
pub(crate) struct Statements {
    /// `"schema"."table"`.
    pub(crate) table: String,
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
    pub(crate) fn new(config: &PostgresDocumentConfig, fields: &[FieldSchema]) -> Self {
        let table = config.qualified_name();
        let all = || {
            META.iter()
                .map(|m| (m.name, m.kind))
                .chain(fields.iter().map(|f| (f.name, f.kind)))
        };
        let names: Vec<String> = all().map(|(name, _)| quote_ident(name)).collect();
        let columns = names.join(", ");
        let arrays: Vec<String> = all()
            .map(|(_, kind)| sql_type(kind).array)
            .enumerate()
            .map(|(i, ty)| format!("${}::{ty}", i + 1))
            .collect();
        let insert = format!(
            "INSERT INTO {table} ({columns}) SELECT * FROM UNNEST({}) RETURNING {columns}",
            arrays.join(", ")
        );
        let ensure = format!(
            "INSERT INTO {table} ({columns}) SELECT * FROM UNNEST({}) \
             ON CONFLICT (\"id\") DO NOTHING RETURNING {columns}",
            arrays.join(", ")
        );
        let upsert = upsert_sql(&table, &columns, &arrays, fields);
        Statements {
            upsert: upsert.into(),
            touch_many: touch_many_sql(&table, &columns).into(),
            delete_at: delete_at_sql(&table).into(),
            get: format!("SELECT {columns} FROM {table} WHERE \"id\" = $1").into(),
            get_locked: format!("SELECT {columns} FROM {table} WHERE \"id\" = $1 FOR UPDATE")
                .into(),
            get_many: format!("SELECT {columns} FROM {table} WHERE \"id\" = ANY($1)").into(),
            touch: format!(
                "UPDATE {table} SET \"rev\" = \"rev\" + 1, \"last_update_at\" = $2 \
                 WHERE \"id\" = $1 RETURNING {columns}"
            )
            .into(),
            delete: format!("DELETE FROM {table} WHERE \"id\" = ANY($1) RETURNING \"id\"").into(),
            insert: insert.into(),
            ensure: ensure.into(),
            table,
            columns,
        }
    }

    /// One optimistic update of the given fields. Parameters: `$1` id, `$2` expected rev,
    /// `$3..` the field values in `fields` order, then `now`. Changes the row only if some field
    /// differs from its new value, so a no-op writes nothing and keeps `rev`.
    pub(crate) fn update(&self, fields: &[&FieldSchema]) -> String {
        let mut set = String::new();
        let mut differs = String::new();
        for (i, field) in fields.iter().enumerate() {
            let col = quote_ident(field.name);
            let param = i + 3;
            let sep = if i == 0 { "" } else { ", " };
            let or = if i == 0 { "" } else { " OR " };
            let _ = write!(set, "{sep}{col} = ${param}");
            let _ = write!(differs, "{or}{col} IS DISTINCT FROM ${param}");
        }
        let now = fields.len() + 3;
        format!(
            "UPDATE {} SET {set}, \"rev\" = \"rev\" + 1, \"last_update_at\" = ${now} \
             WHERE \"id\" = $1 AND \"rev\" = $2 AND ({differs}) RETURNING {}",
            self.table, self.columns
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
        let s = Statements::new(&PostgresDocumentConfig::table("s", "t"), &FIELDS);
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
        let s = Statements::new(&PostgresDocumentConfig::table("s", "t"), &FIELDS);
        assert!(s.insert.contains(
            "UNNEST($1::uuid[], $2::int8[], $3::timestamptz[], $4::timestamptz[], $5::text[], \
             $6::jsonb[])"
        ));
        assert!(s.ensure.contains("ON CONFLICT (\"id\") DO NOTHING"));
    }

    #[test]
    fn batch_verbs_bind_arrays_only() {
        let s = Statements::new(&PostgresDocumentConfig::table("s", "t"), &FIELDS);
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
