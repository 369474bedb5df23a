//! JSON field values to typed Postgres parameters, and result rows back to JSON.

use chrono::{DateTime, SecondsFormat, SubsecRound as _, Utc};
use forze_core::{DocumentMeta, Error, ErrorKind, FieldKind, FieldSchema, Result, Row};
use serde_json::{Map, Number, Value};
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::{Postgres, Row as _};
use uuid::Uuid;

use crate::columns::{CREATED_AT, ID, LAST_UPDATE_AT, META, REV};

/// A query with positional arguments.
pub(crate) type PgQuery = sqlx::query::Query<'static, Postgres, PgArguments>;

/// One field value, typed for its column.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Param {
    Text(Option<String>),
    SmallInt(Option<i16>),
    Int(Option<i32>),
    BigInt(Option<i64>),
    Real(Option<f32>),
    Double(Option<f64>),
    Bool(Option<bool>),
    Uuid(Option<Uuid>),
    Timestamp(Option<DateTime<Utc>>),
    Json(Option<Value>),
}

impl Param {
    pub(crate) fn bind(self, q: PgQuery) -> PgQuery {
        match self {
            Param::Text(v) => q.bind(v),
            Param::SmallInt(v) => q.bind(v),
            Param::Int(v) => q.bind(v),
            Param::BigInt(v) => q.bind(v),
            Param::Real(v) => q.bind(v),
            Param::Double(v) => q.bind(v),
            Param::Bool(v) => q.bind(v),
            Param::Uuid(v) => q.bind(v),
            Param::Timestamp(v) => q.bind(v),
            Param::Json(v) => q.bind(v),
        }
    }
}

/// A whole column of values, bound as one array for `UNNEST`.
#[derive(Debug)]
pub(crate) enum Column {
    Text(Vec<Option<String>>),
    SmallInt(Vec<Option<i16>>),
    Int(Vec<Option<i32>>),
    BigInt(Vec<Option<i64>>),
    Real(Vec<Option<f32>>),
    Double(Vec<Option<f64>>),
    Bool(Vec<Option<bool>>),
    Uuid(Vec<Option<Uuid>>),
    Timestamp(Vec<Option<DateTime<Utc>>>),
    Json(Vec<Option<Value>>),
}

impl Column {
    pub(crate) fn new(kind: FieldKind, cap: usize) -> Self {
        match kind {
            FieldKind::Text => Column::Text(Vec::with_capacity(cap)),
            FieldKind::SmallInt => Column::SmallInt(Vec::with_capacity(cap)),
            FieldKind::Int => Column::Int(Vec::with_capacity(cap)),
            FieldKind::BigInt => Column::BigInt(Vec::with_capacity(cap)),
            FieldKind::Real => Column::Real(Vec::with_capacity(cap)),
            FieldKind::Double => Column::Double(Vec::with_capacity(cap)),
            FieldKind::Bool => Column::Bool(Vec::with_capacity(cap)),
            FieldKind::Uuid => Column::Uuid(Vec::with_capacity(cap)),
            FieldKind::Timestamp => Column::Timestamp(Vec::with_capacity(cap)),
            _ => Column::Json(Vec::with_capacity(cap)),
        }
    }

    /// Append a value of this column's kind (the encoder guarantees the kinds match).
    pub(crate) fn push(&mut self, p: Param) {
        match (self, p) {
            (Column::Text(c), Param::Text(v)) => c.push(v),
            (Column::SmallInt(c), Param::SmallInt(v)) => c.push(v),
            (Column::Int(c), Param::Int(v)) => c.push(v),
            (Column::BigInt(c), Param::BigInt(v)) => c.push(v),
            (Column::Real(c), Param::Real(v)) => c.push(v),
            (Column::Double(c), Param::Double(v)) => c.push(v),
            (Column::Bool(c), Param::Bool(v)) => c.push(v),
            (Column::Uuid(c), Param::Uuid(v)) => c.push(v),
            (Column::Timestamp(c), Param::Timestamp(v)) => c.push(v),
            (Column::Json(c), Param::Json(v)) => c.push(v),
            (col, p) => {
                debug_assert!(false, "param {p:?} does not match column {col:?}");
            }
        }
    }

    pub(crate) fn bind(self, q: PgQuery) -> PgQuery {
        match self {
            Column::Text(v) => q.bind(v),
            Column::SmallInt(v) => q.bind(v),
            Column::Int(v) => q.bind(v),
            Column::BigInt(v) => q.bind(v),
            Column::Real(v) => q.bind(v),
            Column::Double(v) => q.bind(v),
            Column::Bool(v) => q.bind(v),
            Column::Uuid(v) => q.bind(v),
            Column::Timestamp(v) => q.bind(v),
            Column::Json(v) => q.bind(v),
        }
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn mismatch(document: &str, field: &FieldSchema, expected: &str, got: &str) -> Error {
    Error::new(
        ErrorKind::Validation,
        format!(
            "document `{document}`: field `{}` expects {expected}, got {got}",
            field.name
        ),
    )
}

fn has_nul(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(has_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        _ => false,
    }
}

fn int_in<T: TryFrom<i64>>(
    document: &str,
    field: &FieldSchema,
    v: &Value,
    expected: &str,
) -> Result<T> {
    match v {
        Value::Number(n) => n.as_i64().and_then(|i| T::try_from(i).ok()).ok_or_else(|| {
            let got = if n.is_f64() {
                "a fractional number"
            } else {
                "a number out of range"
            };
            mismatch(document, field, expected, got)
        }),
        other => Err(mismatch(document, field, expected, json_type(other))),
    }
}

/// The parameter for `value` of `field`. A JSON `null` is SQL NULL for a nullable field and a
/// `Validation` error otherwise (except for JSON fields, where it is the JSON value `null`).
/// Messages name the field and the JSON type, never the value.
pub(crate) fn encode(document: &str, field: &FieldSchema, value: &Value) -> Result<Param> {
    let kind = field.kind;
    if value.is_null() {
        if field.nullable {
            return Ok(null_of(kind));
        }
        if !is_scalar(kind) {
            // A non-nullable JSON field may hold the JSON value `null` (jsonb 'null').
            return Ok(Param::Json(Some(Value::Null)));
        }
        return Err(Error::new(
            ErrorKind::Validation,
            format!(
                "document `{document}`: field `{}` is not nullable, got null",
                field.name
            ),
        ));
    }
    Ok(match kind {
        FieldKind::Text => match value {
            Value::String(s) if s.contains('\0') => {
                return Err(mismatch(
                    document,
                    field,
                    "text without NUL characters",
                    "a string with NUL",
                ));
            }
            Value::String(s) => Param::Text(Some(s.clone())),
            other => return Err(mismatch(document, field, "a string", json_type(other))),
        },
        FieldKind::SmallInt => Param::SmallInt(Some(int_in(
            document,
            field,
            value,
            "an integer in -32768..=32767",
        )?)),
        FieldKind::Int => Param::Int(Some(int_in(document, field, value, "a 32-bit integer")?)),
        FieldKind::BigInt => {
            Param::BigInt(Some(int_in(document, field, value, "a 64-bit integer")?))
        }
        FieldKind::Real => match value.as_f64() {
            Some(f) if f.is_finite() && f.abs() <= f64::from(f32::MAX) => {
                Param::Real(Some(f as f32))
            }
            Some(_) => {
                return Err(mismatch(
                    document,
                    field,
                    "a 32-bit float",
                    "a number out of range",
                ));
            }
            None => return Err(mismatch(document, field, "a number", json_type(value))),
        },
        FieldKind::Double => match value.as_f64() {
            Some(f) => Param::Double(Some(f)),
            None => return Err(mismatch(document, field, "a number", json_type(value))),
        },
        FieldKind::Bool => match value {
            Value::Bool(b) => Param::Bool(Some(*b)),
            other => return Err(mismatch(document, field, "a boolean", json_type(other))),
        },
        FieldKind::Uuid => match value {
            Value::String(s) => match Uuid::parse_str(s) {
                Ok(u) => Param::Uuid(Some(u)),
                Err(_) => {
                    return Err(mismatch(
                        document,
                        field,
                        "a UUID string",
                        "a string that is not a UUID",
                    ));
                }
            },
            other => return Err(mismatch(document, field, "a UUID string", json_type(other))),
        },
        FieldKind::Timestamp => match value {
            Value::String(s) => match DateTime::parse_from_rfc3339(s) {
                Ok(t) => Param::Timestamp(Some(micros(t.with_timezone(&Utc)))),
                Err(_) => {
                    return Err(mismatch(
                        document,
                        field,
                        "an RFC 3339 timestamp string",
                        "a string that is not RFC 3339",
                    ));
                }
            },
            other => {
                return Err(mismatch(
                    document,
                    field,
                    "an RFC 3339 timestamp string",
                    json_type(other),
                ));
            }
        },
        _ => {
            if has_nul(value) {
                return Err(mismatch(
                    document,
                    field,
                    "JSON without NUL characters",
                    "a string with NUL",
                ));
            }
            Param::Json(Some(value.clone()))
        }
    })
}

/// Every kind but JSON (and kinds added later, stored as JSON).
fn is_scalar(kind: FieldKind) -> bool {
    matches!(
        kind,
        FieldKind::Text
            | FieldKind::SmallInt
            | FieldKind::Int
            | FieldKind::BigInt
            | FieldKind::Real
            | FieldKind::Double
            | FieldKind::Bool
            | FieldKind::Uuid
            | FieldKind::Timestamp
    )
}

fn null_of(kind: FieldKind) -> Param {
    match kind {
        FieldKind::Text => Param::Text(None),
        FieldKind::SmallInt => Param::SmallInt(None),
        FieldKind::Int => Param::Int(None),
        FieldKind::BigInt => Param::BigInt(None),
        FieldKind::Real => Param::Real(None),
        FieldKind::Double => Param::Double(None),
        FieldKind::Bool => Param::Bool(None),
        FieldKind::Uuid => Param::Uuid(None),
        FieldKind::Timestamp => Param::Timestamp(None),
        _ => Param::Json(None),
    }
}

/// `t` at the precision Postgres keeps, whole microseconds, truncated (floor). Every timestamp
/// is bound through this: sqlx would truncate toward 2000-01-01 (Postgres' epoch), rounding a
/// sub-microsecond instant before 2000 *up*, where the in-memory store truncates down.
pub(crate) fn micros(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(6)
}

/// A timestamp as JSON: RFC 3339 in UTC with a `Z`, which chrono parses back.
pub(crate) fn timestamp_json(t: DateTime<Utc>) -> Value {
    Value::String(t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
}

fn decode_err(document: &str, column: &str, err: sqlx::Error) -> Error {
    Error::new(
        ErrorKind::Serialization,
        format!("document `{document}`: cannot decode column `{column}` (does its type match the field?)"),
    )
    .with_source(err)
}

fn float_json(document: &str, column: &str, f: f64) -> Result<Value> {
    Number::from_f64(f).map(Value::Number).ok_or_else(|| {
        Error::new(
            ErrorKind::Serialization,
            format!("document `{document}`: column `{column}` holds NaN or infinity, which JSON cannot represent"),
        )
    })
}

/// A result row (metadata columns first, then `fields` in order) as a [`Row`].
pub(crate) fn decode_row(document: &str, fields: &[FieldSchema], row: &PgRow) -> Result<Row> {
    // The metadata columns come first, in `META` order.
    let id: Uuid = row
        .try_get(0)
        .map_err(|e| decode_err(document, ID.name, e))?;
    let rev: i64 = row
        .try_get(1)
        .map_err(|e| decode_err(document, REV.name, e))?;
    let created_at: DateTime<Utc> = row
        .try_get(2)
        .map_err(|e| decode_err(document, CREATED_AT.name, e))?;
    let last_update_at: DateTime<Utc> = row
        .try_get(3)
        .map_err(|e| decode_err(document, LAST_UPDATE_AT.name, e))?;
    let mut map = Map::with_capacity(fields.len());
    for (i, field) in fields.iter().enumerate() {
        let idx = i + META.len();
        let name = field.name;
        let e = |err| decode_err(document, name, err);
        let value = match field.kind {
            FieldKind::Text => row
                .try_get::<Option<String>, _>(idx)
                .map_err(e)?
                .map(Value::String),
            FieldKind::SmallInt => row
                .try_get::<Option<i16>, _>(idx)
                .map_err(e)?
                .map(Value::from),
            FieldKind::Int => row
                .try_get::<Option<i32>, _>(idx)
                .map_err(e)?
                .map(Value::from),
            FieldKind::BigInt => row
                .try_get::<Option<i64>, _>(idx)
                .map_err(e)?
                .map(Value::from),
            FieldKind::Real => match row.try_get::<Option<f32>, _>(idx).map_err(e)? {
                // Through the shortest decimal form, so 0.1f32 reads back as 0.1, not
                // 0.10000000149011612.
                Some(f) => Some(float_json(
                    document,
                    name,
                    f.to_string().parse::<f64>().unwrap_or(f64::from(f)),
                )?),
                None => None,
            },
            FieldKind::Double => match row.try_get::<Option<f64>, _>(idx).map_err(e)? {
                Some(f) => Some(float_json(document, name, f)?),
                None => None,
            },
            FieldKind::Bool => row
                .try_get::<Option<bool>, _>(idx)
                .map_err(e)?
                .map(Value::Bool),
            FieldKind::Uuid => row
                .try_get::<Option<Uuid>, _>(idx)
                .map_err(e)?
                .map(|u| Value::String(u.to_string())),
            FieldKind::Timestamp => row
                .try_get::<Option<DateTime<Utc>>, _>(idx)
                .map_err(e)?
                .map(timestamp_json),
            _ => row.try_get::<Option<Value>, _>(idx).map_err(e)?,
        };
        map.insert(name.to_owned(), value.unwrap_or(Value::Null));
    }
    Ok(Row::new(
        DocumentMeta::from_parts(id, rev, created_at, last_update_at),
        map,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn f(kind: FieldKind, nullable: bool) -> FieldSchema {
        FieldSchema::new("f", kind, nullable)
    }

    #[test]
    fn values_encode_per_kind() {
        assert_eq!(
            encode("d", &f(FieldKind::Int, false), &json!(7)).ok(),
            Some(Param::Int(Some(7)))
        );
        assert_eq!(
            encode("d", &f(FieldKind::Int, true), &Value::Null).ok(),
            Some(Param::Int(None))
        );
        assert_eq!(
            encode("d", &f(FieldKind::Json, false), &Value::Null).ok(),
            Some(Param::Json(Some(Value::Null)))
        );
        assert_eq!(
            encode("d", &f(FieldKind::Json, true), &Value::Null).ok(),
            Some(Param::Json(None))
        );
        let t = encode(
            "d",
            &f(FieldKind::Timestamp, false),
            &json!("2024-05-06T07:08:09.123456+02:00"),
        );
        match t {
            Ok(Param::Timestamp(Some(t))) => {
                assert_eq!(
                    timestamp_json(t),
                    json!("2024-05-06T05:08:09.123456Z"),
                    "normalised to UTC and parseable back"
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn mismatches_are_validation_errors_naming_the_field_not_the_value() {
        let cases = [
            (FieldKind::Int, json!("seven")),
            (FieldKind::Int, json!(1.5)),
            (FieldKind::SmallInt, json!(40000)),
            (FieldKind::BigInt, json!(u64::MAX)),
            (FieldKind::Real, json!(1e300)),
            (FieldKind::Bool, json!(1)),
            (FieldKind::Uuid, json!("not-a-uuid-secret")),
            (FieldKind::Timestamp, json!("yesterday-secret")),
            (FieldKind::Text, json!(5)),
            (FieldKind::Text, json!("a\u{0}b-secret")),
            (FieldKind::Json, json!({"k": "a\u{0}-secret"})),
            (FieldKind::Text, Value::Null),
            (FieldKind::Int, Value::Null),
        ];
        for (kind, value) in cases {
            let err = encode("products", &FieldSchema::new("price", kind, false), &value)
                .expect_err("mismatch");
            assert_eq!(err.kind(), ErrorKind::Validation, "{kind:?} {value}");
            assert!(err.message().contains("`price`"), "{}", err.message());
            assert!(err.message().contains("`products`"), "{}", err.message());
            assert!(!err.message().contains("secret"), "{}", err.message());
        }
    }
}
