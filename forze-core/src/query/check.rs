//! Checking a query against a document's fields: the checked form every store receives.
//!
//! Nothing reaches a store unchecked: every field is a field of the document (or a metadata
//! column), every operator fits the field's kind, every value has the field's type and is
//! normalized (integers in range, floats finite, uuids and timestamps parsed, timestamps at
//! microsecond precision as Postgres keeps them).

use std::borrow::Cow;
use std::fmt::Write as _;

use chrono::{DateTime, SubsecRound as _, Utc};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use crate::error::{Error, ErrorKind, Result};
use crate::model::{FieldKind, FieldSchema};
use crate::query::filter::{Filter, Op, Sort, SortOrder};

/// The metadata columns every document has, as fields: `id`, `rev`, `created_at`,
/// `last_update_at` (never null).
pub static META_FIELDS: [FieldSchema; 4] = [
    FieldSchema::new("id", FieldKind::Uuid, false),
    FieldSchema::new("rev", FieldKind::BigInt, false),
    FieldSchema::new("created_at", FieldKind::Timestamp, false),
    FieldSchema::new("last_update_at", FieldKind::Timestamp, false),
];

/// The `id` column.
pub(crate) const ID: &FieldSchema = &META_FIELDS[0];

/// At most this many comparisons in one filter.
pub const MAX_FILTER_TERMS: usize = 256;
/// At most this deep a nesting of `and` / `or` / `not`.
pub const MAX_FILTER_DEPTH: usize = 16;
/// At most this many values in one `in` / `not_in`.
pub const MAX_IN_VALUES: usize = 10_000;
/// At most this many sort keys.
pub const MAX_SORT_KEYS: usize = 8;
/// The largest page (`limit`) a query may ask for.
pub const MAX_PAGE_SIZE: u64 = 10_000;

/// A checked value, typed by the kind of the field it is compared with.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Scalar {
    /// Text.
    Text(String),
    /// Any integer kind (in the kind's range).
    Int(i64),
    /// `Real` (a value that is an `f32`) or `Double`.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// A uuid.
    Uuid(Uuid),
    /// A timestamp, at microsecond precision.
    Timestamp(DateTime<Utc>),
}

/// A checked comparison with one column.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    /// `column op value` for `op` in `Eq`, `Ne`, `Lt`, `Le`, `Gt`, `Ge`.
    Compare(CmpOp, Scalar),
    /// `column IN values` (`negated`: `NOT IN`). May be empty.
    In {
        /// The values.
        values: Vec<Scalar>,
        /// `NOT IN`.
        negated: bool,
    },
    /// `column IS NULL` (`negated`: `IS NOT NULL`).
    IsNull {
        /// `IS NOT NULL`.
        negated: bool,
    },
    /// Text that starts with `pattern`.
    Prefix {
        /// The literal prefix (no wildcards).
        pattern: String,
        /// Ignore ASCII case.
        case_insensitive: bool,
    },
    /// Text that contains `pattern`.
    Contains {
        /// The literal text (no wildcards).
        pattern: String,
        /// Ignore ASCII case.
        case_insensitive: bool,
    },
}

/// A comparison operator of [`Cond::Compare`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CmpOp {
    /// `=`
    Eq,
    /// `<>`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl CmpOp {
    /// The SQL operator.
    pub fn sql(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::Ne => "<>",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }
}

/// A checked filter. SQL semantics: a comparison with a null column is unknown, `not unknown`
/// is unknown, and a row matches only when the whole predicate is true.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq)]
pub enum Predicate {
    /// Every predicate holds (empty: true).
    And(Vec<Predicate>),
    /// Some predicate holds (empty: false).
    Or(Vec<Predicate>),
    /// The predicate is false.
    Not(Box<Predicate>),
    /// One column.
    Column(&'static FieldSchema, Cond),
}

/// One checked sort key.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SortKey {
    /// The column.
    pub field: &'static FieldSchema,
    /// The direction: ascending puts nulls last, descending puts them first (Postgres' default).
    pub order: SortOrder,
}

/// A checked query, what [`DocumentStore::find`](crate::store::DocumentStore::find) receives.
///
/// Rows match `filter`, are ordered by `sort` (which always ends with `id`, so the order is
/// total), start after the keyset position `after` if set, skip `offset`, and stop at `limit`.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq)]
pub struct Select {
    /// Rows must match this (`None`: every row).
    pub filter: Option<Predicate>,
    /// The order: at least one key, the last one `id`.
    pub sort: Vec<SortKey>,
    /// The values of the sort keys of the last row of the previous page (one per key, `None`
    /// for null): return only rows strictly after it in the order.
    pub after: Option<Vec<Option<Scalar>>>,
    /// Skip this many rows.
    pub offset: u64,
    /// At most this many rows (`None`: all).
    pub limit: Option<u64>,
}

impl Select {
    /// Check `filter` and `sort` against a document's fields: a query of every matching row in
    /// the order (no limit, no offset). For backends' own tests; the ports build queries from
    /// [`Find`](crate::Find).
    ///
    /// # Errors
    ///
    /// `Validation`, as a query from a port.
    pub fn new(
        document: &str,
        fields: &'static [FieldSchema],
        filter: Option<&Filter>,
        sort: &[Sort],
    ) -> Result<Select> {
        let schema = Schema { document, fields };
        Ok(Select {
            filter: filter.map(|f| schema.filter(f)).transpose()?,
            sort: schema.sort(sort)?,
            after: None,
            offset: 0,
            limit: None,
        })
    }

    /// At most `limit` rows.
    #[must_use]
    pub fn with_limit(mut self, limit: u64) -> Self {
        self.limit = Some(limit);
        self
    }

    /// Skip `offset` rows.
    #[must_use]
    pub fn with_offset(mut self, offset: u64) -> Self {
        self.offset = offset;
        self
    }

    /// Only rows after the one whose sort-key values are `after` (from
    /// [`eval::sort_values`](crate::query::eval::sort_values)).
    #[must_use]
    pub fn with_after(mut self, after: Vec<Option<Scalar>>) -> Self {
        self.after = Some(after);
        self
    }
}

/// The fields of one document, for checking.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Schema<'a> {
    pub(crate) document: &'a str,
    pub(crate) fields: &'static [FieldSchema],
}

impl Schema<'_> {
    pub(crate) fn column(&self, name: &str, what: &str) -> Result<&'static FieldSchema> {
        META_FIELDS
            .iter()
            .chain(self.fields.iter())
            .find(|f| f.name == name)
            .ok_or_else(|| {
                self.invalid(format!(
                    "{what} names unknown field `{name}`; expected one of: {}",
                    self.names()
                ))
            })
    }

    fn names(&self) -> String {
        let mut out = String::new();
        for (i, f) in META_FIELDS.iter().chain(self.fields.iter()).enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            let _ = write!(out, "{sep}{}", f.name);
        }
        out
    }

    pub(crate) fn invalid(&self, message: impl std::fmt::Display) -> Error {
        Error::new(
            ErrorKind::Validation,
            format!("query on document `{}`: {message}", self.document),
        )
    }

    /// Check a filter.
    pub(crate) fn filter(&self, filter: &Filter) -> Result<Predicate> {
        let mut terms = 0;
        self.node(filter, 0, &mut terms)
    }

    fn node(&self, filter: &Filter, depth: usize, terms: &mut usize) -> Result<Predicate> {
        if depth > MAX_FILTER_DEPTH {
            return Err(self.invalid(format!(
                "the filter nests deeper than {MAX_FILTER_DEPTH} levels of and/or/not"
            )));
        }
        Ok(match filter {
            Filter::And(all) => Predicate::And(
                all.iter()
                    .map(|f| self.node(f, depth + 1, terms))
                    .collect::<Result<_>>()?,
            ),
            Filter::Or(any) => Predicate::Or(
                any.iter()
                    .map(|f| self.node(f, depth + 1, terms))
                    .collect::<Result<_>>()?,
            ),
            Filter::Not(not) => Predicate::Not(Box::new(self.node(not, depth + 1, terms)?)),
            Filter::Field { field, op, value } => {
                *terms += 1;
                if *terms > MAX_FILTER_TERMS {
                    return Err(self.invalid(format!(
                        "the filter has more than {MAX_FILTER_TERMS} comparisons"
                    )));
                }
                let column = self.column(field, "a filter")?;
                Predicate::Column(column, self.cond(column, *op, value)?)
            }
        })
    }

    fn cond(&self, column: &'static FieldSchema, op: Op, value: &Value) -> Result<Cond> {
        let kind = column.kind;
        let misfit = || {
            self.invalid(format!(
                "operator `{op}` does not fit field `{}` ({}); accepted: {}",
                column.name,
                kind_name(kind),
                accepted_ops(column)
            ))
        };
        let cmp = |op: CmpOp| -> Result<Cond> {
            if !comparable(kind) {
                return Err(misfit());
            }
            Ok(Cond::Compare(op, self.scalar(column, op_name(op), value)?))
        };
        match op {
            Op::Eq => cmp(CmpOp::Eq),
            Op::Ne => cmp(CmpOp::Ne),
            Op::Lt => cmp(CmpOp::Lt),
            Op::Le => cmp(CmpOp::Le),
            Op::Gt => cmp(CmpOp::Gt),
            Op::Ge => cmp(CmpOp::Ge),
            Op::In | Op::NotIn => {
                if !comparable(kind) {
                    return Err(misfit());
                }
                let Value::Array(items) = value else {
                    return Err(self.invalid(format!(
                        "`{}` on field `{}` takes an array of values, got {}",
                        op.name(),
                        column.name,
                        describe(value)
                    )));
                };
                if items.len() > MAX_IN_VALUES {
                    return Err(self.invalid(format!(
                        "`{}` on field `{}` has {} values; at most {MAX_IN_VALUES} are accepted",
                        op.name(),
                        column.name,
                        items.len()
                    )));
                }
                let values = items
                    .iter()
                    .map(|v| self.scalar(column, op.name(), v))
                    .collect::<Result<_>>()?;
                Ok(Cond::In {
                    values,
                    negated: op == Op::NotIn,
                })
            }
            Op::IsNull | Op::NotNull => {
                if !column.nullable {
                    return Err(self.invalid(format!(
                        "`{}` on field `{}`: the field is never null (it is not an `Option`)",
                        op.name(),
                        column.name
                    )));
                }
                Ok(Cond::IsNull {
                    negated: op == Op::NotNull,
                })
            }
            Op::Prefix | Op::PrefixCi | Op::Contains | Op::ContainsCi => {
                if kind != FieldKind::Text {
                    return Err(misfit());
                }
                let Value::String(pattern) = value else {
                    return Err(self.type_error(column, op.name(), value));
                };
                self.no_nul(column, op.name(), pattern)?;
                let pattern = pattern.clone();
                let case_insensitive = op.case_insensitive();
                Ok(if matches!(op, Op::Prefix | Op::PrefixCi) {
                    Cond::Prefix {
                        pattern,
                        case_insensitive,
                    }
                } else {
                    Cond::Contains {
                        pattern,
                        case_insensitive,
                    }
                })
            }
        }
    }

    /// Text values never hold NUL (Postgres cannot store it, and refuses it as a parameter), so
    /// a query value with NUL is a mistake, refused the same way on every backend.
    fn no_nul(&self, column: &FieldSchema, op: &str, text: &str) -> Result<()> {
        if text.contains('\0') {
            return Err(self.invalid(format!(
                "`{op}` on field `{}` got text with a NUL character (U+0000); stored text never \
                 holds one, so remove it",
                column.name
            )));
        }
        Ok(())
    }

    fn type_error(&self, column: &FieldSchema, op: &str, value: &Value) -> Error {
        self.invalid(format!(
            "`{op}` on field `{}` takes {}, got {}",
            column.name,
            expected_value(column.kind),
            describe(value)
        ))
    }

    /// A value for `column`, typed and normalized.
    pub(crate) fn scalar(&self, column: &FieldSchema, op: &str, value: &Value) -> Result<Scalar> {
        let wrong = || self.type_error(column, op, value);
        if value.is_null() {
            return Err(self.invalid(format!(
                "`{op}` on field `{}` got null; to match a missing value use `is_null`",
                column.name
            )));
        }
        let int = |min: i64, max: i64| -> Result<Scalar> {
            let n = value.as_i64().ok_or_else(wrong)?;
            if n < min || n > max {
                return Err(self.invalid(format!(
                    "`{op}` on field `{}` got {n}, outside the column's range {min}..={max}",
                    column.name
                )));
            }
            Ok(Scalar::Int(n))
        };
        Ok(match column.kind {
            FieldKind::Text => {
                let text = value.as_str().ok_or_else(wrong)?;
                self.no_nul(column, op, text)?;
                Scalar::Text(text.to_owned())
            }
            FieldKind::SmallInt => int(i16::MIN.into(), i16::MAX.into())?,
            FieldKind::Int => int(i32::MIN.into(), i32::MAX.into())?,
            FieldKind::BigInt => int(i64::MIN, i64::MAX)?,
            FieldKind::Real | FieldKind::Double => {
                let x = value.as_f64().ok_or_else(wrong)?;
                if column.kind == FieldKind::Real {
                    #[allow(clippy::cast_possible_truncation)]
                    let narrow = x as f32;
                    if !narrow.is_finite() {
                        return Err(self.invalid(format!(
                            "`{op}` on field `{}` got {x}, which does not fit a 32-bit float",
                            column.name
                        )));
                    }
                    Scalar::Float(f64::from(narrow))
                } else {
                    Scalar::Float(x)
                }
            }
            FieldKind::Bool => Scalar::Bool(value.as_bool().ok_or_else(wrong)?),
            FieldKind::Uuid => {
                let text = value.as_str().ok_or_else(wrong)?;
                Scalar::Uuid(Uuid::parse_str(text).map_err(|_| wrong())?)
            }
            FieldKind::Timestamp => {
                let text = value.as_str().ok_or_else(wrong)?;
                let at = DateTime::parse_from_rfc3339(text).map_err(|_| wrong())?;
                Scalar::Timestamp(at.with_timezone(&Utc).trunc_subsecs(6))
            }
            _ => return Err(wrong()),
        })
    }

    /// Check sort keys: each names a field that can be ordered; `id` ends the list (added if
    /// missing, keys after it dropped: `id` is unique).
    pub(crate) fn sort(&self, sort: &[Sort]) -> Result<Vec<SortKey>> {
        if sort.len() > MAX_SORT_KEYS {
            return Err(self.invalid(format!(
                "{} sort keys; at most {MAX_SORT_KEYS} are accepted",
                sort.len()
            )));
        }
        let mut keys: Vec<SortKey> = Vec::with_capacity(sort.len() + 1);
        for s in sort {
            let field = self.column(&s.field, "a sort key")?;
            if !comparable(field.kind) {
                return Err(self.invalid(format!(
                    "field `{}` ({}) cannot be sorted by; sortable fields: {}",
                    field.name,
                    kind_name(field.kind),
                    self.sortable_names()
                )));
            }
            if keys.iter().any(|k| k.field.name == field.name) {
                return Err(self.invalid(format!("sort key `{}` is given twice", field.name)));
            }
            keys.push(SortKey {
                field,
                order: s.order,
            });
            if field.name == ID.name {
                return Ok(keys);
            }
        }
        keys.push(SortKey {
            field: ID,
            order: SortOrder::Asc,
        });
        Ok(keys)
    }

    fn sortable_names(&self) -> String {
        META_FIELDS
            .iter()
            .chain(self.fields.iter())
            .filter(|f| comparable(f.kind))
            .map(|f| f.name)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Check a page size: 1 ..= [`MAX_PAGE_SIZE`].
pub(crate) fn page_size(schema: &Schema<'_>, limit: u64) -> Result<u64> {
    if limit == 0 || limit > MAX_PAGE_SIZE {
        return Err(schema.invalid(format!(
            "page size {limit} is out of range; accepted: 1..={MAX_PAGE_SIZE}"
        )));
    }
    Ok(limit)
}

/// Whether a kind has a total order and equality (every kind but JSON).
pub(crate) fn comparable(kind: FieldKind) -> bool {
    !matches!(kind, FieldKind::Json)
}

fn op_name(op: CmpOp) -> &'static str {
    match op {
        CmpOp::Eq => "eq",
        CmpOp::Ne => "ne",
        CmpOp::Lt => "lt",
        CmpOp::Le => "le",
        CmpOp::Gt => "gt",
        CmpOp::Ge => "ge",
    }
}

fn kind_name(kind: FieldKind) -> &'static str {
    match kind {
        FieldKind::Text => "text",
        FieldKind::SmallInt | FieldKind::Int | FieldKind::BigInt => "integer",
        FieldKind::Real | FieldKind::Double => "number",
        FieldKind::Bool => "boolean",
        FieldKind::Uuid => "uuid",
        FieldKind::Timestamp => "timestamp",
        _ => "json",
    }
}

fn expected_value(kind: FieldKind) -> &'static str {
    match kind {
        FieldKind::Text => "a string",
        FieldKind::SmallInt | FieldKind::Int | FieldKind::BigInt => "an integer",
        FieldKind::Real | FieldKind::Double => "a finite number",
        FieldKind::Bool => "true or false",
        FieldKind::Uuid => "a uuid string",
        FieldKind::Timestamp => "an RFC 3339 timestamp string",
        _ => "no value (a JSON field can only be tested with is_null / not_null)",
    }
}

fn accepted_ops(column: &FieldSchema) -> Cow<'static, str> {
    let null = if column.nullable {
        ", is_null, not_null"
    } else {
        ""
    };
    let base = match column.kind {
        FieldKind::Text => "eq, ne, lt, le, gt, ge, in, not_in, prefix, contains",
        FieldKind::Json => {
            return if column.nullable {
                "is_null, not_null".into()
            } else {
                "none (a JSON field that is not an `Option` cannot be filtered)".into()
            };
        }
        _ => "eq, ne, lt, le, gt, ge, in, not_in",
    };
    format!("{base}{null}").into()
}

/// A short description of a JSON value for messages.
fn describe(value: &Value) -> String {
    let text = value.to_string();
    let short: String = text.chars().take(40).collect();
    let what = match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    };
    if short.len() < text.len() {
        format!("{what} {short}…")
    } else {
        format!("{what} {short}")
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    static FIELDS: [FieldSchema; 5] = [
        FieldSchema::new("name", FieldKind::Text, false),
        FieldSchema::new("price", FieldKind::Int, false),
        FieldSchema::new("note", FieldKind::Text, true),
        FieldSchema::new("weight", FieldKind::Real, true),
        FieldSchema::new("tags", FieldKind::Json, true),
    ];

    fn schema() -> Schema<'static> {
        Schema {
            document: "products",
            fields: &FIELDS,
        }
    }

    fn err(filter: Filter) -> String {
        schema().filter(&filter).unwrap_err().to_string()
    }

    #[test]
    fn every_mistake_names_the_field_the_operator_and_what_is_accepted() {
        let e = err(Filter::field("colour", Op::Eq, 1));
        assert!(e.contains("unknown field `colour`; expected one of: id, rev, created_at, last_update_at, name, price, note, weight, tags"), "{e}");
        let e = err(Filter::field("price", Op::Prefix, "1"));
        assert!(e.contains("operator `prefix` does not fit field `price` (integer); accepted: eq, ne, lt, le, gt, ge, in, not_in"), "{e}");
        let e = err(Filter::field("price", Op::Eq, "ten"));
        assert!(
            e.contains("`eq` on field `price` takes an integer, got a string \"ten\""),
            "{e}"
        );
        let e = err(Filter::field("price", Op::Eq, 3_000_000_000_i64));
        assert!(e.contains("outside the column's range"), "{e}");
        let e = err(Filter::field("price", Op::Eq, 1.5));
        assert!(e.contains("takes an integer, got a number 1.5"), "{e}");
        let e = err(Filter::field("name", Op::IsNull, Value::Null));
        assert!(e.contains("the field is never null"), "{e}");
        let e = err(Filter::field("tags", Op::Eq, json!(["a"])));
        assert!(e.contains("accepted: is_null, not_null"), "{e}");
        let e = err(Filter::field("price", Op::In, 3));
        assert!(
            e.contains("takes an array of values, got a number 3"),
            "{e}"
        );
        let e = err(Filter::field("note", Op::Eq, Value::Null));
        assert!(e.contains("use `is_null`"), "{e}");
        let e = err(Filter::field("id", Op::Eq, "not-a-uuid"));
        assert!(e.contains("takes a uuid string"), "{e}");
        let e = err(Filter::field("created_at", Op::Lt, "yesterday"));
        assert!(e.contains("takes an RFC 3339 timestamp string"), "{e}");
        let e = err(Filter::field("name", Op::Eq, "a\0b"));
        assert!(
            e.contains("`eq` on field `name` got text with a NUL character"),
            "{e}"
        );
        let e = err(Filter::field("note", Op::ContainsCi, "\0"));
        assert!(
            e.contains("`contains` on field `note` got text with a NUL"),
            "{e}"
        );
        let e = err(Filter::field("note", Op::In, json!(["x", "\0"])));
        assert!(
            e.contains("`in` on field `note` got text with a NUL"),
            "{e}"
        );
        let e = err(Filter::field("weight", Op::Lt, 1e300));
        assert!(e.contains("does not fit a 32-bit float"), "{e}");
        assert!(e.starts_with("query on document `products`: "), "{e}");
    }

    #[test]
    fn values_are_normalized() {
        let p = schema()
            .filter(&Filter::field(
                "created_at",
                Op::Lt,
                "2026-01-02T03:04:05.123456789+02:00",
            ))
            .unwrap();
        let Predicate::Column(_, Cond::Compare(CmpOp::Lt, Scalar::Timestamp(at))) = p else {
            panic!("{p:?}")
        };
        assert_eq!(at.to_rfc3339(), "2026-01-02T01:04:05.123456+00:00");
        let p = schema()
            .filter(&Filter::field("weight", Op::Eq, 0.1))
            .unwrap();
        assert_eq!(
            p,
            Predicate::Column(
                &FIELDS[3],
                Cond::Compare(CmpOp::Eq, Scalar::Float(f64::from(0.1_f32)))
            )
        );
    }

    #[test]
    fn limits_hold() {
        let deep = (0..=MAX_FILTER_DEPTH).fold(Filter::field("price", Op::Eq, 1), |f, _| !f);
        assert!(err(deep).contains("nests deeper"));
        let wide = Filter::And(vec![
            Filter::field("price", Op::Eq, 1);
            MAX_FILTER_TERMS + 1
        ]);
        assert!(err(wide).contains("more than 256 comparisons"));
        let many = Filter::field("price", Op::In, json!(vec![1; MAX_IN_VALUES + 1]));
        assert!(err(many).contains("at most 10000 are accepted"));
    }

    #[test]
    fn sort_ends_with_id() {
        let keys = schema().sort(&[Sort::desc("price")]).unwrap();
        assert_eq!(
            keys.iter()
                .map(|k| (k.field.name, k.order))
                .collect::<Vec<_>>(),
            [("price", SortOrder::Desc), ("id", SortOrder::Asc)]
        );
        let keys = schema()
            .sort(&[Sort::desc("id"), Sort::asc("price")])
            .unwrap();
        assert_eq!(keys.len(), 1);
        let e = schema().sort(&[Sort::asc("tags")]).unwrap_err().to_string();
        assert!(
            e.contains("field `tags` (json) cannot be sorted by; sortable fields: id, rev"),
            "{e}"
        );
        let e = schema()
            .sort(&[Sort::asc("price"), Sort::desc("price")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("given twice"), "{e}");
    }
}
