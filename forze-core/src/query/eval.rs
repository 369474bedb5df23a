//! Running a checked query over rows in memory, with Postgres' semantics: SQL's three-valued
//! logic for nulls, nulls after every value in ascending order, text compared bytewise
//! (`COLLATE "C"`), case-insensitive matching that folds ASCII letters only, `real` columns
//! compared as 32-bit floats, timestamps compared at whole microseconds (truncated).
//!
//! The in-memory store runs queries with these; the Postgres store renders the same semantics as
//! SQL, and a differential test holds the two to identical results.

use std::cmp::Ordering;

use chrono::{DateTime, SubsecRound as _, Utc};
use serde_json::Value;

use crate::model::{FieldKind, FieldSchema, Row};
use crate::query::check::{CmpOp, Cond, Predicate, Scalar, Select, SortKey};
use crate::query::filter::SortOrder;

/// The value of `field` in `row` (`None`: null), typed by the field's kind.
pub fn value_of(row: &Row, field: &FieldSchema) -> Option<Scalar> {
    match field.name {
        "id" => return Some(Scalar::Uuid(row.meta.id)),
        "rev" => return Some(Scalar::Int(row.meta.rev)),
        "created_at" => return Some(Scalar::Timestamp(row.meta.created_at.trunc_subsecs(6))),
        "last_update_at" => {
            return Some(Scalar::Timestamp(row.meta.last_update_at.trunc_subsecs(6)));
        }
        _ => {}
    }
    scalar_of(row.fields.get(field.name)?, field.kind)
}

/// Whether `field` is null in `row`: absent or JSON `null`. A JSON field holding any other
/// value (`[]`, `{}`, `false`) is not null, though it has no scalar value.
fn is_null(row: &Row, field: &FieldSchema) -> bool {
    match field.name {
        "id" | "rev" | "created_at" | "last_update_at" => false,
        name => row.fields.get(name).is_none_or(Value::is_null),
    }
}

/// A stored JSON value as a scalar of `kind` (`None` for null or a value of another shape).
fn scalar_of(value: &Value, kind: FieldKind) -> Option<Scalar> {
    Some(match kind {
        FieldKind::Text => Scalar::Text(value.as_str()?.to_owned()),
        FieldKind::SmallInt | FieldKind::Int | FieldKind::BigInt => Scalar::Int(value.as_i64()?),
        #[allow(clippy::cast_possible_truncation)]
        FieldKind::Real => Scalar::Float(f64::from(value.as_f64()? as f32)),
        FieldKind::Double => Scalar::Float(value.as_f64()?),
        FieldKind::Bool => Scalar::Bool(value.as_bool()?),
        FieldKind::Uuid => Scalar::Uuid(value.as_str()?.parse().ok()?),
        // Postgres keeps whole microseconds (its store truncates what it writes)
        FieldKind::Timestamp => Scalar::Timestamp(
            DateTime::parse_from_rfc3339(value.as_str()?)
                .ok()?
                .with_timezone(&Utc)
                .trunc_subsecs(6),
        ),
        _ => return None,
    })
}

/// Order two values of one kind.
pub fn compare(a: &Scalar, b: &Scalar) -> Ordering {
    match (a, b) {
        (Scalar::Text(a), Scalar::Text(b)) => a.as_bytes().cmp(b.as_bytes()),
        (Scalar::Int(a), Scalar::Int(b)) => a.cmp(b),
        // no NaN is ever stored or checked; -0.0 equals 0.0 as in SQL
        (Scalar::Float(a), Scalar::Float(b)) => a.partial_cmp(b).unwrap_or(Ordering::Equal),
        (Scalar::Bool(a), Scalar::Bool(b)) => a.cmp(b),
        (Scalar::Uuid(a), Scalar::Uuid(b)) => a.cmp(b),
        (Scalar::Timestamp(a), Scalar::Timestamp(b)) => a.cmp(b),
        // values of one column share a kind; a mix orders by variant, deterministically
        _ => rank(a).cmp(&rank(b)),
    }
}

fn rank(s: &Scalar) -> u8 {
    match s {
        Scalar::Text(_) => 0,
        Scalar::Int(_) => 1,
        Scalar::Float(_) => 2,
        Scalar::Bool(_) => 3,
        Scalar::Uuid(_) => 4,
        Scalar::Timestamp(_) => 5,
    }
}

/// Order two values of a column, nulls greatest, in direction `order`.
pub fn compare_nullable(a: Option<&Scalar>, b: Option<&Scalar>, order: SortOrder) -> Ordering {
    let asc = match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some(a), Some(b)) => compare(a, b),
    };
    match order {
        SortOrder::Asc => asc,
        SortOrder::Desc => asc.reverse(),
    }
}

/// The sort-key values of `row`.
pub fn sort_values(row: &Row, sort: &[SortKey]) -> Vec<Option<Scalar>> {
    sort.iter().map(|k| value_of(row, k.field)).collect()
}

/// Order two rows' sort-key values.
pub fn compare_keys(a: &[Option<Scalar>], b: &[Option<Scalar>], sort: &[SortKey]) -> Ordering {
    for ((a, b), key) in a.iter().zip(b).zip(sort) {
        let ord = compare_nullable(a.as_ref(), b.as_ref(), key.order);
        if ord != Ordering::Equal {
            return ord;
        }
    }
    Ordering::Equal
}

/// Whether `row` matches `predicate`: `Some(true)`, `Some(false)`, or `None` (unknown, as SQL
/// says of a comparison with null). A row is selected only on `Some(true)`.
pub fn matches(predicate: &Predicate, row: &Row) -> Option<bool> {
    match predicate {
        Predicate::And(all) => {
            let mut unknown = false;
            for p in all {
                match matches(p, row) {
                    Some(false) => return Some(false),
                    None => unknown = true,
                    Some(true) => {}
                }
            }
            if unknown { None } else { Some(true) }
        }
        Predicate::Or(any) => {
            let mut unknown = false;
            for p in any {
                match matches(p, row) {
                    Some(true) => return Some(true),
                    None => unknown = true,
                    Some(false) => {}
                }
            }
            if unknown { None } else { Some(false) }
        }
        Predicate::Not(p) => matches(p, row).map(|b| !b),
        Predicate::Column(field, cond) => {
            if let Cond::IsNull { negated } = cond {
                return Some(is_null(row, field) != *negated);
            }
            let value = value_of(row, field);
            match cond {
                // `x = ANY('{}')` is false even for a null `x`, as in Postgres
                Cond::In { values, negated } if values.is_empty() => Some(*negated),
                _ => {
                    let value = value?;
                    Some(holds(cond, &value))
                }
            }
        }
    }
}

fn holds(cond: &Cond, value: &Scalar) -> bool {
    match cond {
        Cond::Compare(op, rhs) => {
            let ord = compare(value, rhs);
            match op {
                CmpOp::Eq => ord == Ordering::Equal,
                CmpOp::Ne => ord != Ordering::Equal,
                CmpOp::Lt => ord == Ordering::Less,
                CmpOp::Le => ord != Ordering::Greater,
                CmpOp::Gt => ord == Ordering::Greater,
                CmpOp::Ge => ord != Ordering::Less,
            }
        }
        Cond::In { values, negated } => {
            values.iter().any(|v| compare(value, v) == Ordering::Equal) != *negated
        }
        Cond::IsNull { negated } => *negated,
        Cond::Prefix {
            pattern,
            case_insensitive,
        } => text(value, pattern, *case_insensitive, |t, p| t.starts_with(p)),
        Cond::Contains {
            pattern,
            case_insensitive,
        } => text(value, pattern, *case_insensitive, |t, p| t.contains(p)),
    }
}

fn text(value: &Scalar, pattern: &str, ci: bool, f: impl Fn(&str, &str) -> bool) -> bool {
    let Scalar::Text(t) = value else {
        return false;
    };
    if ci {
        f(&t.to_ascii_lowercase(), &pattern.to_ascii_lowercase())
    } else {
        f(t, pattern)
    }
}

/// Run `select` over `rows`.
pub fn run<'r>(select: &Select, rows: impl IntoIterator<Item = &'r Row>) -> Vec<&'r Row> {
    let mut keyed: Vec<(Vec<Option<Scalar>>, &Row)> = rows
        .into_iter()
        .filter(|row| {
            select
                .filter
                .as_ref()
                .is_none_or(|p| matches(p, row) == Some(true))
        })
        .map(|row| (sort_values(row, &select.sort), row))
        .filter(|(key, _)| {
            select
                .after
                .as_ref()
                .is_none_or(|after| compare_keys(key, after, &select.sort) == Ordering::Greater)
        })
        .collect();
    keyed.sort_by(|(a, _), (b, _)| compare_keys(a, b, &select.sort));
    let offset = usize::try_from(select.offset).unwrap_or(usize::MAX);
    let limit = select
        .limit
        .map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX));
    keyed
        .into_iter()
        .skip(offset)
        .take(limit)
        .map(|(_, row)| row)
        .collect()
}

/// How many of `rows` match `filter`.
pub fn count<'r>(filter: Option<&Predicate>, rows: impl IntoIterator<Item = &'r Row>) -> u64 {
    rows.into_iter()
        .filter(|row| filter.is_none_or(|p| matches(p, row) == Some(true)))
        .count() as u64
}
