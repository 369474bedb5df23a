//! The data form of a filter: what a service takes from a client (JSON in a request), checked
//! against the document's fields at run time.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A filter as data: serde (de)serializable, untyped until it is checked against a document's
/// fields. The typed builders (`Product::PRICE.lt(10.0)`) produce the same thing.
///
/// The JSON form:
///
/// ```json
/// {"and": [
///     {"field": "price", "op": "lt", "value": 10},
///     {"field": "name", "op": "contains", "value": "lamp", "case_insensitive": true},
///     {"not": {"field": "note", "op": "is_null"}}
/// ]}
/// ```
///
/// Operators: `eq`, `ne`, `lt`, `le`, `gt`, `ge` (a value), `in`, `not_in` (an array of
/// values), `is_null`, `not_null` (no value), `prefix`, `contains` (a string; optional
/// `"case_insensitive": true`). Combinators: `and`, `or` (arrays of filters), `not` (a filter).
///
/// Deserializing checks the shape (known keys and operators, a value where one is needed);
/// running the query checks the rest against the document (the field exists, the operator fits
/// its kind, the value has its type) and fails with a
/// [`Validation`](crate::ErrorKind::Validation) error naming the field, the operator and what
/// is accepted. Values are always bound parameters.
///
/// ```
/// use forze_core::query::{Filter, Op};
///
/// let filter: Filter = serde_json::from_str(
///     r#"{"and": [{"field": "price", "op": "lt", "value": 10},
///                 {"field": "name", "op": "prefix", "value": "la", "case_insensitive": true}]}"#,
/// )?;
/// assert_eq!(
///     filter,
///     Filter::field("price", Op::Lt, 10).and(Filter::field("name", Op::PrefixCi, "la"))
/// );
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawFilter", into = "RawFilter")]
pub enum Filter {
    /// Every filter holds (an empty `and` holds for every document).
    And(Vec<Filter>),
    /// Some filter holds (an empty `or` holds for none).
    Or(Vec<Filter>),
    /// The filter does not hold.
    Not(Box<Filter>),
    /// One field compared with a value.
    Field {
        /// A field of the document, or `id`, `rev`, `created_at`, `last_update_at`.
        field: Cow<'static, str>,
        /// The comparison.
        op: Op,
        /// The value (`null` for `is_null` / `not_null`, an array for `in` / `not_in`).
        value: Value,
    },
}

impl Filter {
    /// `field op value`.
    pub fn field(field: impl Into<Cow<'static, str>>, op: Op, value: impl Into<Value>) -> Self {
        Filter::Field {
            field: field.into(),
            op,
            value: value.into(),
        }
    }

    /// Both hold (flattens nested `and`s).
    #[must_use]
    pub fn and(self, other: Filter) -> Self {
        match (self, other) {
            (Filter::And(mut a), Filter::And(b)) => {
                a.extend(b);
                Filter::And(a)
            }
            (Filter::And(mut a), b) => {
                a.push(b);
                Filter::And(a)
            }
            (a, b) => Filter::And(vec![a, b]),
        }
    }

    /// Either holds (flattens nested `or`s).
    #[must_use]
    pub fn or(self, other: Filter) -> Self {
        match (self, other) {
            (Filter::Or(mut a), Filter::Or(b)) => {
                a.extend(b);
                Filter::Or(a)
            }
            (Filter::Or(mut a), b) => {
                a.push(b);
                Filter::Or(a)
            }
            (a, b) => Filter::Or(vec![a, b]),
        }
    }

    /// The negation.
    #[must_use]
    pub fn negate(self) -> Self {
        Filter::Not(Box::new(self))
    }
}

impl std::ops::Not for Filter {
    type Output = Filter;
    fn not(self) -> Filter {
        self.negate()
    }
}

/// A comparison of [`Filter::Field`].
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// Equal.
    Eq,
    /// Not equal.
    Ne,
    /// Less than.
    Lt,
    /// Less than or equal.
    Le,
    /// Greater than.
    Gt,
    /// Greater than or equal.
    Ge,
    /// Equal to one of the values.
    In,
    /// Equal to none of the values.
    NotIn,
    /// The field is null (an optional field that is `None`).
    IsNull,
    /// The field is not null.
    NotNull,
    /// Text that starts with the value.
    Prefix,
    /// Text that starts with the value, ignoring ASCII case.
    PrefixCi,
    /// Text that contains the value.
    Contains,
    /// Text that contains the value, ignoring ASCII case.
    ContainsCi,
}

impl Op {
    /// Every operator.
    pub const ALL: [Op; 14] = [
        Op::Eq,
        Op::Ne,
        Op::Lt,
        Op::Le,
        Op::Gt,
        Op::Ge,
        Op::In,
        Op::NotIn,
        Op::IsNull,
        Op::NotNull,
        Op::Prefix,
        Op::PrefixCi,
        Op::Contains,
        Op::ContainsCi,
    ];

    /// The operator's name in the data form (`PrefixCi` is `prefix` with
    /// `"case_insensitive": true`).
    pub fn name(self) -> &'static str {
        match self {
            Op::Eq => "eq",
            Op::Ne => "ne",
            Op::Lt => "lt",
            Op::Le => "le",
            Op::Gt => "gt",
            Op::Ge => "ge",
            Op::In => "in",
            Op::NotIn => "not_in",
            Op::IsNull => "is_null",
            Op::NotNull => "not_null",
            Op::Prefix | Op::PrefixCi => "prefix",
            Op::Contains | Op::ContainsCi => "contains",
        }
    }

    /// Whether the operator ignores case.
    pub fn case_insensitive(self) -> bool {
        matches!(self, Op::PrefixCi | Op::ContainsCi)
    }

    fn from_name(name: &str, case_insensitive: bool) -> Option<Op> {
        let op = match name {
            "eq" => Op::Eq,
            "ne" => Op::Ne,
            "lt" => Op::Lt,
            "le" => Op::Le,
            "gt" => Op::Gt,
            "ge" => Op::Ge,
            "in" => Op::In,
            "not_in" => Op::NotIn,
            "is_null" => Op::IsNull,
            "not_null" => Op::NotNull,
            "prefix" if case_insensitive => Op::PrefixCi,
            "prefix" => Op::Prefix,
            "contains" if case_insensitive => Op::ContainsCi,
            "contains" => Op::Contains,
            _ => return None,
        };
        Some(op)
    }

    /// Whether the operator takes no value.
    pub(crate) fn nullary(self) -> bool {
        matches!(self, Op::IsNull | Op::NotNull)
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())?;
        if self.case_insensitive() {
            f.write_str(" (case-insensitive)")?;
        }
        Ok(())
    }
}

const OP_NAMES: &str = "eq, ne, lt, le, gt, ge, in, not_in, is_null, not_null, prefix, contains";

/// The wire shape: one object with the keys of one variant.
#[derive(Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawFilter {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    and: Option<Vec<Filter>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    or: Option<Vec<Filter>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    not: Option<Box<Filter>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    field: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    op: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    value: Option<Value>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    case_insensitive: bool,
}

impl TryFrom<RawFilter> for Filter {
    type Error = String;

    fn try_from(raw: RawFilter) -> Result<Self, String> {
        let combinators = usize::from(raw.and.is_some())
            + usize::from(raw.or.is_some())
            + usize::from(raw.not.is_some());
        let comparison = raw.field.is_some() || raw.op.is_some() || raw.value.is_some();
        if combinators + usize::from(comparison) != 1 {
            return Err(
                "a filter is one of {\"and\": [...]}, {\"or\": [...]}, {\"not\": {...}} or \
                 {\"field\": ..., \"op\": ..., \"value\": ...}"
                    .to_owned(),
            );
        }
        if raw.case_insensitive && !comparison {
            return Err("`case_insensitive` belongs to a `prefix` or `contains` filter".to_owned());
        }
        if let Some(all) = raw.and {
            return Ok(Filter::And(all));
        }
        if let Some(any) = raw.or {
            return Ok(Filter::Or(any));
        }
        if let Some(not) = raw.not {
            return Ok(Filter::Not(not));
        }
        let field = raw
            .field
            .ok_or("a comparison needs `field` (the name of a document field)")?;
        let op_name = raw
            .op
            .ok_or_else(|| format!("the filter on `{field}` needs `op`, one of: {OP_NAMES}"))?;
        let op = Op::from_name(&op_name, raw.case_insensitive).ok_or_else(|| {
            format!("unknown filter operator `{op_name}` on `{field}`; expected one of: {OP_NAMES}")
        })?;
        if raw.case_insensitive && !matches!(op, Op::PrefixCi | Op::ContainsCi) {
            return Err(format!(
                "`case_insensitive` applies to `prefix` and `contains`, not to `{op_name}` (on `{field}`)"
            ));
        }
        let value = match (op.nullary(), raw.value) {
            (true, None | Some(Value::Null)) => Value::Null,
            (true, Some(_)) => {
                return Err(format!("`{op_name}` on `{field}` takes no `value`"));
            }
            (false, Some(value)) => value,
            (false, None) => {
                return Err(format!("`{op_name}` on `{field}` needs a `value`"));
            }
        };
        Ok(Filter::Field {
            field: Cow::Owned(field),
            op,
            value,
        })
    }
}

impl From<Filter> for RawFilter {
    fn from(filter: Filter) -> Self {
        match filter {
            Filter::And(all) => RawFilter {
                and: Some(all),
                ..RawFilter::default()
            },
            Filter::Or(any) => RawFilter {
                or: Some(any),
                ..RawFilter::default()
            },
            Filter::Not(not) => RawFilter {
                not: Some(not),
                ..RawFilter::default()
            },
            Filter::Field { field, op, value } => RawFilter {
                field: Some(field.into_owned()),
                op: Some(op.name().to_owned()),
                value: (!op.nullary()).then_some(value),
                case_insensitive: op.case_insensitive(),
                ..RawFilter::default()
            },
        }
    }
}

/// Sort direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SortOrder {
    /// Smallest first; nulls last.
    #[default]
    Asc,
    /// Largest first; nulls first.
    Desc,
}

/// One sort key as data: `{"field": "price", "order": "desc"}` (`order` defaults to `asc`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sort {
    /// A field of the document, or `id`, `rev`, `created_at`, `last_update_at`.
    pub field: Cow<'static, str>,
    /// The direction.
    #[serde(default)]
    pub order: SortOrder,
}

impl Sort {
    /// Ascending by `field`.
    pub fn asc(field: impl Into<Cow<'static, str>>) -> Self {
        Sort {
            field: field.into(),
            order: SortOrder::Asc,
        }
    }

    /// Descending by `field`.
    pub fn desc(field: impl Into<Cow<'static, str>>) -> Self {
        Sort {
            field: field.into(),
            order: SortOrder::Desc,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<Filter, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    #[test]
    fn round_trips_every_shape() {
        let filter = Filter::field("a", Op::Eq, 1)
            .and(Filter::field("b", Op::ContainsCi, "x").or(!Filter::field(
                "c",
                Op::IsNull,
                Value::Null,
            )))
            .and(Filter::field("d", Op::In, serde_json::json!([1, 2])));
        let json = serde_json::to_string(&filter).unwrap();
        assert_eq!(parse(&json).unwrap(), filter);
        assert!(json.contains("\"case_insensitive\":true"), "{json}");
        assert!(!json.contains("\"value\":null"), "{json}");
    }

    #[test]
    fn shape_errors_say_what_is_accepted() {
        let err = parse(r#"{"field": "a", "op": "like", "value": 1}"#).unwrap_err();
        assert!(
            err.contains("unknown filter operator `like` on `a`; expected one of: eq"),
            "{err}"
        );
        let err = parse(r#"{"field": "a", "op": "eq"}"#).unwrap_err();
        assert!(err.contains("`eq` on `a` needs a `value`"), "{err}");
        let err = parse(r#"{"field": "a", "op": "is_null", "value": 3}"#).unwrap_err();
        assert!(err.contains("takes no `value`"), "{err}");
        let err = parse(r#"{"and": [], "field": "a"}"#).unwrap_err();
        assert!(err.contains("a filter is one of"), "{err}");
        let err = parse(r#"{"field": "a", "op": "eq", "value": 1, "colour": 2}"#).unwrap_err();
        assert!(err.contains("unknown field `colour`"), "{err}");
        let err = parse(r#"{"field": "a", "op": "eq", "value": 1, "case_insensitive": true}"#)
            .unwrap_err();
        assert!(err.contains("applies to `prefix` and `contains`"), "{err}");
        assert_eq!(
            parse(r#"{"field": "a", "op": "is_null", "value": null}"#).unwrap(),
            Filter::field("a", Op::IsNull, Value::Null)
        );
    }

    #[test]
    fn sort_defaults_to_ascending() {
        let sort: Sort = serde_json::from_str(r#"{"field": "price"}"#).unwrap();
        assert_eq!(sort, Sort::asc("price"));
        let sort: Sort = serde_json::from_str(r#"{"field": "price", "order": "desc"}"#).unwrap();
        assert_eq!(sort, Sort::desc("price"));
    }
}
