//! What a document table holds: the metadata columns, and the Postgres type of each field kind.
//!
//! The one home of this knowledge. The DDL and the statements (`sql`), the schema check
//! (`schema`), the store's name checks and messages (`store`) and the row decoder (`codec`) all
//! read it from here. (The statement templates in `sql` still spell out `id`, `rev` and
//! `last_update_at` where a statement needs that one column, which reads better than
//! splicing names in; the tests there pin those statements.)

use forze_core::FieldKind;

/// How Postgres stores one [`FieldKind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SqlType {
    /// The column type, as `CREATE TABLE` writes it.
    pub(crate) column: &'static str,
    /// The array type that binds a whole column at once (`UNNEST($1::…[])`).
    pub(crate) array: &'static str,
    /// The names `information_schema.columns.data_type` reports for a column the kind accepts.
    pub(crate) reported: &'static [&'static str],
}

const fn ty(
    column: &'static str,
    array: &'static str,
    reported: &'static [&'static str],
) -> SqlType {
    SqlType {
        column,
        array,
        reported,
    }
}

/// JSON, and any kind this crate does not map yet.
const JSONB: SqlType = ty("jsonb", "jsonb[]", &["jsonb"]);

/// The field-kind → SQL type table.
pub(crate) fn sql_type(kind: FieldKind) -> SqlType {
    match kind {
        FieldKind::Text => ty("text", "text[]", &["text", "character varying"]),
        FieldKind::SmallInt => ty("smallint", "int2[]", &["smallint"]),
        FieldKind::Int => ty("integer", "int4[]", &["integer"]),
        FieldKind::BigInt => ty("bigint", "int8[]", &["bigint"]),
        FieldKind::Real => ty("real", "float4[]", &["real"]),
        FieldKind::Double => ty("double precision", "float8[]", &["double precision"]),
        FieldKind::Bool => ty("boolean", "bool[]", &["boolean"]),
        FieldKind::Uuid => ty("uuid", "uuid[]", &["uuid"]),
        FieldKind::Timestamp => ty(
            "timestamptz",
            "timestamptz[]",
            &["timestamp with time zone"],
        ),
        FieldKind::Json => JSONB,
        // FieldKind is non-exhaustive: a kind added later is stored as JSON until mapped.
        _ => JSONB,
    }
}

/// One metadata column. Every document table has all of them, before its fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MetaColumn {
    /// The column name.
    pub(crate) name: &'static str,
    /// Its kind (its SQL type is [`sql_type`] of it); never NULL.
    pub(crate) kind: FieldKind,
    /// What follows the type in `CREATE TABLE`.
    pub(crate) constraint: &'static str,
}

const fn meta(name: &'static str, kind: FieldKind, constraint: &'static str) -> MetaColumn {
    MetaColumn {
        name,
        kind,
        constraint,
    }
}

/// The document id, the primary key.
pub(crate) const ID: MetaColumn = meta("id", FieldKind::Uuid, "PRIMARY KEY");
/// The revision, bumped by every change.
pub(crate) const REV: MetaColumn = meta("rev", FieldKind::BigInt, "NOT NULL");
/// When the document was created.
pub(crate) const CREATED_AT: MetaColumn = meta("created_at", FieldKind::Timestamp, "NOT NULL");
/// When the document last changed.
pub(crate) const LAST_UPDATE_AT: MetaColumn =
    meta("last_update_at", FieldKind::Timestamp, "NOT NULL");

/// The metadata columns, in the order the table declares them and every statement selects them
/// (a result row's first `META.len()` columns).
pub(crate) const META: [MetaColumn; 4] = [ID, REV, CREATED_AT, LAST_UPDATE_AT];

/// The tenant column of a row-level tenant-scoped table (`Tenancy::Column`): not a field of the
/// model, first in the primary key and in every index.
pub(crate) const TENANT_ID: &str = "tenant_id";

/// Whether `name` is a metadata column's name.
pub(crate) fn is_meta(name: &str) -> bool {
    META.iter().any(|m| m.name == name)
}

/// The metadata column names for messages: `id, rev, created_at, last_update_at`.
pub(crate) fn meta_names() -> String {
    META.map(|m| m.name).join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table, pinned: a change here changes the DDL, the bound arrays and the schema check.
    /// One line a kind: `Kind: column array reported|reported`.
    #[test]
    fn field_kind_table() {
        use FieldKind::*;
        let rendered: Vec<String> = [
            Text, SmallInt, Int, BigInt, Real, Double, Bool, Uuid, Timestamp, Json,
        ]
        .into_iter()
        .map(|kind| {
            let t = sql_type(kind);
            format!(
                "{kind:?}: {} {} {}",
                t.column,
                t.array,
                t.reported.join("|")
            )
        })
        .collect();
        assert_eq!(
            rendered,
            [
                "Text: text text[] text|character varying",
                "SmallInt: smallint int2[] smallint",
                "Int: integer int4[] integer",
                "BigInt: bigint int8[] bigint",
                "Real: real float4[] real",
                "Double: double precision float8[] double precision",
                "Bool: boolean bool[] boolean",
                "Uuid: uuid uuid[] uuid",
                "Timestamp: timestamptz timestamptz[] timestamp with time zone",
                "Json: jsonb jsonb[] jsonb",
            ]
        );
    }

    #[test]
    fn metadata_columns() {
        let pinned = [
            ("id", FieldKind::Uuid, "PRIMARY KEY"),
            ("rev", FieldKind::BigInt, "NOT NULL"),
            ("created_at", FieldKind::Timestamp, "NOT NULL"),
            ("last_update_at", FieldKind::Timestamp, "NOT NULL"),
        ];
        assert_eq!(META.map(|m| (m.name, m.kind, m.constraint)), pinned);
        assert_eq!(meta_names(), "id, rev, created_at, last_update_at");
        assert!(is_meta("rev") && !is_meta("name") && !is_meta("Rev"));
    }
}
