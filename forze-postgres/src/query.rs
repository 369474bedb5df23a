//! A checked query ([`Select`]) as SQL: the `WHERE`, keyset, `ORDER BY`, `LIMIT` and `OFFSET`
//! of a `SELECT`, every value a bound parameter.
//!
//! The semantics are those of [`forze_core::query`]: text compares under `COLLATE "C"` (bytewise,
//! as the in-memory store), case-insensitive matching lowers ASCII only (`lower()` under `"C"`),
//! `LIKE` patterns are escaped so the text matches literally, ascending puts nulls last.

use std::fmt::Write as _;

use forze_core::query::{CmpOp, Cond, Predicate, Scalar, Select, SortKey, SortOrder};
use forze_core::{FieldKind, FieldSchema};

use crate::codec::{Column, Param, PgQuery};
use crate::ident::quote_ident;

/// One bound value: a scalar, or an array (`= ANY($n)`).
#[derive(Debug)]
pub(crate) enum Bound {
    One(Param),
    Many(Column),
}

/// SQL text and its parameters, numbered in order.
#[derive(Debug, Default)]
pub(crate) struct Rendered {
    pub(crate) sql: String,
    params: Vec<Bound>,
}

impl Rendered {
    fn param(&mut self, bound: Bound) -> String {
        self.params.push(bound);
        format!("${}", self.params.len())
    }

    pub(crate) fn bind(self, mut q: PgQuery) -> PgQuery {
        for p in self.params {
            q = match p {
                Bound::One(p) => p.bind(q),
                Bound::Many(c) => c.bind(q),
            };
        }
        q
    }
}

/// `SELECT {columns} FROM {table} WHERE … ORDER BY … LIMIT … OFFSET …`.
pub(crate) fn select(columns: &str, table: &str, select: &Select) -> Rendered {
    let mut out = Rendered::default();
    let _ = write!(out.sql, "SELECT {columns} FROM {table}");
    let mut conds = Vec::new();
    if let Some(filter) = &select.filter {
        conds.push(predicate(&mut out, filter));
    }
    if let Some(after) = &select.after {
        conds.push(keyset(&mut out, &select.sort, after));
    }
    if !conds.is_empty() {
        let _ = write!(out.sql, " WHERE {}", conds.join(" AND "));
    }
    out.sql.push_str(" ORDER BY ");
    for (i, key) in select.sort.iter().enumerate() {
        let sep = if i == 0 { "" } else { ", " };
        let dir = match key.order {
            SortOrder::Asc => "ASC NULLS LAST",
            SortOrder::Desc => "DESC NULLS FIRST",
        };
        let _ = write!(out.sql, "{sep}{} {dir}", column(key.field));
    }
    if let Some(limit) = select.limit {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let p = out.param(Bound::One(Param::BigInt(Some(limit))));
        let _ = write!(out.sql, " LIMIT {p}");
    }
    if select.offset > 0 {
        let offset = i64::try_from(select.offset).unwrap_or(i64::MAX);
        let p = out.param(Bound::One(Param::BigInt(Some(offset))));
        let _ = write!(out.sql, " OFFSET {p}");
    }
    out
}

/// `SELECT count(*) FROM {table} WHERE …`.
pub(crate) fn count(table: &str, filter: Option<&Predicate>) -> Rendered {
    let mut out = Rendered::default();
    let _ = write!(out.sql, "SELECT count(*) FROM {table}");
    if let Some(filter) = filter {
        let cond = predicate(&mut out, filter);
        let _ = write!(out.sql, " WHERE {cond}");
    }
    out
}

/// A column as compared and ordered: text under `COLLATE "C"`.
fn column(field: &FieldSchema) -> String {
    let name = quote_ident(field.name);
    if field.kind == FieldKind::Text {
        format!("({name} COLLATE \"C\")")
    } else {
        name
    }
}

fn predicate(out: &mut Rendered, p: &Predicate) -> String {
    match p {
        Predicate::And(all) if all.is_empty() => "TRUE".to_owned(),
        Predicate::Or(any) if any.is_empty() => "FALSE".to_owned(),
        Predicate::And(all) => {
            let parts: Vec<String> = all.iter().map(|p| predicate(out, p)).collect();
            format!("({})", parts.join(" AND "))
        }
        Predicate::Or(any) => {
            let parts: Vec<String> = any.iter().map(|p| predicate(out, p)).collect();
            format!("({})", parts.join(" OR "))
        }
        Predicate::Not(p) => format!("(NOT ({}))", predicate(out, p)),
        Predicate::Column(field, cond) => condition(out, field, cond),
        // Predicate is non-exhaustive: a form this crate does not know matches nothing.
        _ => "FALSE".to_owned(),
    }
}

fn condition(out: &mut Rendered, field: &FieldSchema, cond: &Cond) -> String {
    let col = column(field);
    match cond {
        Cond::Compare(op, value) => {
            let p = out.param(Bound::One(param(field.kind, value)));
            format!("{col} {} {p}", op_sql(*op))
        }
        Cond::In { values, negated } if values.is_empty() => {
            if *negated { "TRUE" } else { "FALSE" }.to_owned()
        }
        Cond::In { values, negated } => {
            let mut array = Column::new(field.kind, values.len());
            for v in values {
                array.push(param(field.kind, v));
            }
            let p = out.param(Bound::Many(array));
            if *negated {
                format!("(NOT ({col} = ANY({p})))")
            } else {
                format!("{col} = ANY({p})")
            }
        }
        Cond::IsNull { negated } => {
            let name = quote_ident(field.name);
            if *negated {
                format!("{name} IS NOT NULL")
            } else {
                format!("{name} IS NULL")
            }
        }
        Cond::Prefix {
            pattern,
            case_insensitive,
        } => like(out, &col, pattern, *case_insensitive, false),
        Cond::Contains {
            pattern,
            case_insensitive,
        } => like(out, &col, pattern, *case_insensitive, true),
        // Cond is non-exhaustive: a form this crate does not know matches nothing.
        _ => "FALSE".to_owned(),
    }
}

fn like(out: &mut Rendered, col: &str, pattern: &str, ci: bool, anywhere: bool) -> String {
    let text = if ci {
        pattern.to_ascii_lowercase()
    } else {
        pattern.to_owned()
    };
    let mut escaped = String::with_capacity(text.len() + 2);
    if anywhere {
        escaped.push('%');
    }
    for c in text.chars() {
        if matches!(c, '\\' | '%' | '_') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped.push('%');
    let p = out.param(Bound::One(Param::Text(Some(escaped))));
    if ci {
        format!("lower({col}) LIKE {p}")
    } else {
        format!("{col} LIKE {p}")
    }
}

/// Rows strictly after the position `after` in the order `sort`.
///
/// Every key in one direction and no nulls: one row comparison, `(k1, k2) > ($1, $2)`, which
/// a B-tree index on the keys serves as where its scan starts. Otherwise (a descending key
/// before the ascending `id`, or a nullable key) the expansion `k1 after v1 OR (k1 = v1 AND
/// k2 after v2) …`, which Postgres can only apply as a filter: an index scan in the order
/// would read and drop every row before the position, so a deep page would cost its depth. It
/// is therefore led by a plain range bound on the first key that every later row satisfies
/// (`k1 <= v1` descending, `k1 >= v1` ascending over a non-nullable key, `k1 IS NULL`
/// ascending after a null), which becomes the index condition; only the ties on `k1` are
/// filtered. Ascending after a value of a nullable key has no such bound (the nulls come
/// last), so that case stays a filter.
fn keyset(out: &mut Rendered, sort: &[SortKey], after: &[Option<Scalar>]) -> String {
    // One row comparison when it means the same and an index on the keys serves it: every key
    // in one direction, no nulls possible.
    let uniform = sort.iter().all(|k| k.order == sort[0].order)
        && sort.iter().all(|k| !k.field.nullable)
        && after.iter().all(Option::is_some);
    if uniform && !sort.is_empty() {
        let cols: Vec<String> = sort.iter().map(|k| column(k.field)).collect();
        let params: Vec<String> = sort
            .iter()
            .zip(after)
            .filter_map(|(k, v)| v.as_ref().map(|v| (k, v)))
            .map(|(k, v)| out.param(Bound::One(param(k.field.kind, v))))
            .collect();
        let op = match sort[0].order {
            SortOrder::Asc => ">",
            SortOrder::Desc => "<",
        };
        return format!("({}) {op} ({})", cols.join(", "), params.join(", "));
    }
    // (k1 after v1) OR (k1 tie v1 AND k2 after v2) OR …
    let mut disjuncts = Vec::new();
    let mut ties: Vec<String> = Vec::new();
    // The parameter of each key's value (`None` for a null).
    let mut bounds: Vec<Option<String>> = Vec::new();
    for (key, value) in sort.iter().zip(after) {
        let col = column(key.field);
        let name = quote_ident(key.field.name);
        let bound = value
            .as_ref()
            .map(|v| out.param(Bound::One(param(key.field.kind, v))));
        bounds.push(bound.clone());
        let later = match (&bound, key.order) {
            (Some(p), SortOrder::Asc) if key.field.nullable => {
                Some(format!("({col} > {p} OR {name} IS NULL)"))
            }
            (Some(p), SortOrder::Asc) => Some(format!("{col} > {p}")),
            (Some(p), SortOrder::Desc) => Some(format!("{col} < {p}")),
            // nulls are last ascending: nothing is after a null but other nulls (ties)
            (None, SortOrder::Asc) => None,
            // nulls are first descending: every value is after them
            (None, SortOrder::Desc) => Some(format!("{name} IS NOT NULL")),
        };
        if let Some(later) = later {
            let mut parts = ties.clone();
            parts.push(later);
            disjuncts.push(format!("({})", parts.join(" AND ")));
        }
        ties.push(match &bound {
            Some(p) => format!("{col} = {p}"),
            None => format!("{name} IS NULL"),
        });
    }
    if disjuncts.is_empty() {
        return "FALSE".to_owned();
    }
    let expanded = format!("({})", disjuncts.join(" OR "));
    // Every row after the position is at or after it in the first key: say so as a plain bound,
    // which an index on the keys turns into where its scan starts. The disjunction alone is
    // only a filter, so a deep page would read and drop every row before it.
    let (Some(first), Some(bound)) = (sort.first(), bounds.first()) else {
        return expanded;
    };
    if sort.len() < 2 {
        // one key: the disjunction is that key's own comparison already
        return expanded;
    }
    let col = column(first.field);
    let lead = match (bound, first.order) {
        // descending puts nulls first: nothing after a value is null
        (Some(p), SortOrder::Desc) => Some(format!("{col} <= {p}")),
        (Some(p), SortOrder::Asc) if !first.field.nullable => Some(format!("{col} >= {p}")),
        // ascending puts nulls last: after a value come greater values and the nulls, which
        // no single range covers
        (Some(_), SortOrder::Asc) => None,
        // ascending, after a null: only the other nulls
        (None, SortOrder::Asc) => Some(format!("{} IS NULL", quote_ident(first.field.name))),
        // descending, after a null: anything
        (None, SortOrder::Desc) => None,
    };
    match lead {
        Some(lead) => format!("({lead} AND {expanded})"),
        None => expanded,
    }
}

fn op_sql(op: CmpOp) -> &'static str {
    op.sql()
}

/// A checked value as a parameter of its column's type. The checks made the value fit (an
/// integer in the kind's range, a float finite).
fn param(kind: FieldKind, value: &Scalar) -> Param {
    match (kind, value) {
        (FieldKind::Text, Scalar::Text(s)) => Param::Text(Some(s.clone())),
        (FieldKind::SmallInt, Scalar::Int(n)) => {
            Param::SmallInt(Some(i16::try_from(*n).unwrap_or(if *n < 0 {
                i16::MIN
            } else {
                i16::MAX
            })))
        }
        (FieldKind::Int, Scalar::Int(n)) => {
            Param::Int(Some(i32::try_from(*n).unwrap_or(if *n < 0 {
                i32::MIN
            } else {
                i32::MAX
            })))
        }
        (FieldKind::BigInt, Scalar::Int(n)) => Param::BigInt(Some(*n)),
        #[allow(clippy::cast_possible_truncation)]
        (FieldKind::Real, Scalar::Float(x)) => Param::Real(Some(*x as f32)),
        (FieldKind::Double, Scalar::Float(x)) => Param::Double(Some(*x)),
        (FieldKind::Bool, Scalar::Bool(b)) => Param::Bool(Some(*b)),
        (FieldKind::Uuid, Scalar::Uuid(u)) => Param::Uuid(Some(*u)),
        (FieldKind::Timestamp, Scalar::Timestamp(t)) => Param::Timestamp(Some(*t)),
        // unreachable for a checked query; a null never equals anything
        (_, other) => Param::Text(Some(format!("{other:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use forze_core::query::{Filter, Op, Sort};

    use super::*;

    static FIELDS: [FieldSchema; 3] = [
        FieldSchema::new("name", FieldKind::Text, false),
        FieldSchema::new("price", FieldKind::Int, false),
        FieldSchema::new("note", FieldKind::Text, true),
    ];

    fn checked(filter: Filter, sort: &[Sort]) -> Select {
        Select::new("t", &FIELDS, Some(&filter), sort).expect("a valid query")
    }

    #[test]
    fn renders_filters_with_bound_values() {
        let select = checked(
            Filter::field("price", Op::Lt, 10)
                .and(Filter::field("name", Op::ContainsCi, "50%_off\\"))
                .and(!Filter::field(
                    "note",
                    Op::In,
                    serde_json::json!(["a", "b"]),
                )),
            &[Sort::desc("price")],
        );
        let r = super::select("*", "\"s\".\"t\"", &select);
        assert_eq!(
            r.sql,
            "SELECT * FROM \"s\".\"t\" WHERE (\"price\" < $1 AND lower((\"name\" COLLATE \"C\")) LIKE $2 \
             AND (NOT ((\"note\" COLLATE \"C\") = ANY($3)))) ORDER BY \"price\" DESC NULLS FIRST, \
             \"id\" ASC NULLS LAST"
        );
        let Bound::One(Param::Text(Some(pattern))) = &r.params[1] else {
            panic!("{:?}", r.params)
        };
        assert_eq!(pattern, "%50\\%\\_off\\\\%");
    }
    #[test]
    fn a_mixed_direction_keyset_leads_with_a_bound_on_the_first_key() {
        let select = checked(Filter::field("price", Op::Ge, 1), &[Sort::desc("price")]);
        let after = [Some(Scalar::Int(5)), Some(Scalar::Uuid(uuid::Uuid::nil()))];
        let mut out = Rendered::default();
        assert_eq!(
            keyset(&mut out, &select.sort, &after),
            "(\"price\" <= $1 AND ((\"price\" < $1) OR (\"price\" = $1 AND \"id\" > $2)))"
        );
        // ascending over a nullable key: the nulls after every value allow no single bound
        let select = checked(Filter::field("price", Op::Ge, 1), &[Sort::asc("note")]);
        let after = [
            Some(Scalar::Text("m".into())),
            Some(Scalar::Uuid(uuid::Uuid::nil())),
        ];
        let mut out = Rendered::default();
        assert_eq!(
            keyset(&mut out, &select.sort, &after),
            "((((\"note\" COLLATE \"C\") > $1 OR \"note\" IS NULL)) OR \
             ((\"note\" COLLATE \"C\") = $1 AND \"id\" > $2))"
        );
        // ascending after a null: only the other nulls, bounded
        let mut out = Rendered::default();
        assert_eq!(
            keyset(
                &mut out,
                &select.sort,
                &[None, Some(Scalar::Uuid(uuid::Uuid::nil()))]
            ),
            "(\"note\" IS NULL AND ((\"note\" IS NULL AND \"id\" > $1)))"
        );
        // descending, one direction for all keys but id: bounded by the first key
        let select = checked(Filter::field("price", Op::Ge, 1), &[Sort::desc("note")]);
        let mut out = Rendered::default();
        assert_eq!(
            keyset(
                &mut out,
                &select.sort,
                &[
                    Some(Scalar::Text("m".into())),
                    Some(Scalar::Uuid(uuid::Uuid::nil()))
                ]
            ),
            "((\"note\" COLLATE \"C\") <= $1 AND (((\"note\" COLLATE \"C\") < $1) OR \
             ((\"note\" COLLATE \"C\") = $1 AND \"id\" > $2)))"
        );
    }
}
