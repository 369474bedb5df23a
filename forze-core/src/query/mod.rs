//! Queries: filters, sorting, offset and cursor pages, counts.
//!
//! Two forms of one filter language:
//!
//! * **typed**, from the field constants `#[derive(Document)]` generates: a filter can only name
//!   a field of the document and compare it with a value of that field's type, so a mistake is a
//!   compile error ([`Field`], [`Condition`], [`Order`]);
//! * **data** ([`Filter`], [`Sort`]): serde, for services that take filters from clients, checked
//!   against the document's fields when the query runs; a mistake is a
//!   [`Validation`](crate::ErrorKind::Validation) error naming the field, the operator and what
//!   is accepted.
//!
//! Both become the same checked [`Select`] that stores run; values are always bound parameters.
//!
//! ```
//! # use forze_core::{Document, DepsRegistry, ExecutionRuntime, LifecyclePlan};
//! # use forze_core::prelude::*;
//! # use forze_core::memory::MemoryDepsModule;
//! #[derive(Document)]
//! #[document_spec(name = "products")]
//! pub struct Product {
//!     pub name: String,
//!     pub price: i32,
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! # let runtime = ExecutionRuntime::new(
//! #     DepsRegistry::from_modules([MemoryDepsModule::new().document("products").boxed()]).freeze()?,
//! #     LifecyclePlan::new().freeze()?,
//! # );
//! # let ctx = runtime.context();
//! let products = ctx.document().command(&PRODUCT_SPEC)?;
//! for (name, price) in [("desk lamp", 40), ("floor lamp", 90), ("chair", 60)] {
//!     products.create(ProductCreate { name: name.into(), price }).await?;
//! }
//! let query = ctx.document().query(&PRODUCT_SPEC)?;
//! let lamps = query
//!     .find()
//!     .filter(Product::NAME.contains("lamp") & Product::PRICE.lt(100))
//!     .sort(Product::PRICE.desc())
//!     .all()
//!     .await?;
//! assert_eq!(lamps.iter().map(|p| p.price).collect::<Vec<_>>(), [90, 40]);
//!
//! // the same filter as data, e.g. from a request body
//! let filter: forze_core::query::Filter = serde_json::from_str(
//!     r#"{"and": [{"field": "name", "op": "contains", "value": "lamp"},
//!                 {"field": "price", "op": "lt", "value": 100}]}"#,
//! ).expect("valid JSON");
//! assert_eq!(query.find().filter(filter).count().await?, 2);
//! # Ok::<(), forze_core::Error>(())
//! # }).unwrap();
//! ```
//!
//! # Semantics
//!
//! Both backends run queries with Postgres' semantics, and a differential test holds them to
//! identical results:
//!
//! * a comparison with a null field is neither true nor false, so `ne`, `not_in` and `not(...)`
//!   do not match documents where the field is null (test for it with `is_null`);
//! * ascending order puts nulls last, descending first; every order ends with `id`, so it is
//!   total and pages never repeat or skip a document;
//! * text compares bytewise (`COLLATE "C"`); `prefix` and `contains` match literally (`%` and
//!   `_` are not wildcards) and their case-insensitive forms fold ASCII letters only; a text
//!   value with NUL (U+0000), which Postgres cannot hold, is a `Validation` error;
//! * a JSON field is null when it is absent or JSON `null` (`[]`, `{}` and `false` are not);
//! * `real` (`f32`) fields compare as 32-bit floats, and `-0.0` equals `0.0` (ties, ordered by
//!   `id`);
//! * timestamps compare at whole microseconds, what Postgres keeps: a value with nanoseconds,
//!   written or compared, is truncated (`…59.9999995` is `…59.999999`, before 2000 too). The
//!   in-memory store returns what was written; Postgres returns the truncated value.

mod check;
mod cursor;
pub mod eval;
mod filter;
mod typed;

pub use check::{
    CmpOp, Cond, MAX_FILTER_DEPTH, MAX_FILTER_TERMS, MAX_IN_VALUES, MAX_PAGE_SIZE, MAX_SORT_KEYS,
    META_FIELDS, Predicate, Scalar, Select, SortKey,
};
pub(crate) use check::{Schema, page_size};
pub(crate) use cursor::Binding;
pub use cursor::{Cursor, CursorKey};
pub use filter::{Filter, Op, Sort, SortOrder};
pub use typed::{
    CanBeNull, Comparable, Condition, Field, IntoFilter, IntoSort, Json, Nullable, Order, Required,
    Text, ValueOf,
};

/// One offset page: its documents, and the number of documents matching the filter if it was
/// asked for ([`Find::with_total`](crate::Find::with_total)).
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Page<T> {
    /// The documents, in order.
    pub items: Vec<T>,
    /// How many documents match the filter (every page), if counted.
    pub total: Option<u64>,
}

impl<T> Page<T> {
    /// The same page with every item mapped (e.g. to a response type).
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            total: self.total,
        }
    }
}

/// One cursor page: its documents, and the cursor of the next page (`None` on the last page).
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CursorPage<T> {
    /// The documents, in order.
    pub items: Vec<T>,
    /// Where the next page starts; `None` when this page is the last.
    pub next: Option<Cursor>,
}

impl<T> CursorPage<T> {
    /// The same page with every item mapped (e.g. to a response type).
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> CursorPage<U> {
        CursorPage {
            items: self.items.into_iter().map(f).collect(),
            next: self.next,
        }
    }
}
