//! SQL text: the `CREATE TABLE` of a document table and the statements that read and write it.
//!
//! Names go through [`quote_ident`]; values are always bound parameters.

use std::fmt::Write as _;
use std::sync::Arc;

use forze_core::FieldSchema;

use crate::columns::{META, sql_type};
use crate::config::PostgresDocumentConfig;
use crate::ident::quote_ident;

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
        Statements {
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
}
