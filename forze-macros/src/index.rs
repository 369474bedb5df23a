//! The rule for one `index(..)` / `unique(..)` of `#[document_spec]`, checked at compile time.
//!
//! The same rule as `forze_core::spec::index_rule` (a proc-macro cannot depend on core), with
//! the same messages; a test in forze-core compiles this file and holds both to the same answers.

use std::collections::HashSet;

/// What is wrong with one index, and at which of its columns (`None`: the whole list).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct IndexProblem {
    pub(crate) at: Option<usize>,
    pub(crate) message: String,
}

/// The rule for one index: `columns` are every name an index may use (metadata first) with
/// whether it is orderable, `keys` the index's columns with whether each is descending, `earlier`
/// the indexes declared before it.
///
/// `forze_core::spec::index_rule` is the run-time copy; a test there holds them to the same
/// answers.
pub(crate) fn index_rule(
    columns: &[(&str, bool)],
    keys: &[(&str, bool)],
    unique: bool,
    earlier: &[(Vec<(&str, bool)>, bool)],
) -> std::result::Result<(), IndexProblem> {
    let what = if unique { "unique" } else { "index" };
    if keys.is_empty() {
        return Err(IndexProblem {
            at: None,
            message: format!(
                "`{what}` needs at least one field: `{what}(sku)` or `{what}(shop, sku)`"
            ),
        });
    }
    let mut seen = HashSet::new();
    for (i, (name, desc)) in keys.iter().enumerate() {
        let problem = |message: String| IndexProblem {
            at: Some(i),
            message,
        };
        let Some((_, orderable)) = columns.iter().find(|(c, _)| c == name) else {
            let listed: Vec<String> = columns.iter().map(|(c, _)| format!("`{c}`")).collect();
            return Err(problem(format!(
                "unknown field `{name}` in `{what}(..)`; expected one of: {}",
                listed.join(", ")
            )));
        };
        if !orderable {
            return Err(problem(format!(
                "field `{name}` is stored as JSON and cannot be indexed; `{what}(..)` takes \
                 text, integer, float, bool, Uuid and DateTime<Utc> fields"
            )));
        }
        if !seen.insert(*name) {
            return Err(problem(format!(
                "field `{name}` appears twice in one `{what}(..)`"
            )));
        }
        if unique && *desc {
            return Err(problem(format!(
                "a direction in `unique(..)` means nothing; write `{name}` without `desc`"
            )));
        }
    }
    if let Some((_, other_unique)) = earlier.iter().find(|(other, _)| other.as_slice() == keys) {
        let other = if *other_unique { "unique" } else { "index" };
        let also = match (other_unique, unique) {
            (true, false) => "; a unique constraint is already an index",
            (false, true) => "; drop the `index(..)`: a unique constraint is already an index",
            _ => "",
        };
        return Err(IndexProblem {
            at: None,
            message: format!(
                "the same columns are already declared by an earlier `{other}(..)`{also}"
            ),
        });
    }
    Ok(())
}
