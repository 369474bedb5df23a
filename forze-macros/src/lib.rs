//! `#[derive(Document)]` for forze. Use it through `forze_core::Document`; this crate is an
//! implementation detail of `forze-core` and its generated code names only `::forze_core` paths.

#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

mod attr;
mod case;
mod duration;
mod error;
mod expand;
mod field_attr;
mod index;
mod types;
mod validate;

use proc_macro::TokenStream;
use syn::{DeriveInput, parse_macro_input};

/// Derive `forze_core::Document`: the `Create`, `Update` and `Read` DTOs, the static field
/// schema and a `const` spec.
///
/// For `pub struct Product { .. }` it generates `ProductCreate` (every field but the
/// `skip_create` ones), `ProductUpdate` (every field but the `read_only` ones, as `Option<T>`;
/// an `Option<T>` field becomes `Option<Option<T>>`; `None` = unchanged, `Some(None)` =
/// clear), `ProductRead` (`id`, `rev`, `created_at`,
/// `last_update_at`, then every field), `impl Document for Product`,
/// `pub const PRODUCT_SPEC: DocumentSpec<Product>`, and one field constant per field for typed
/// filters and sort keys.
///
/// # The DTOs
///
/// `ProductCreate` and `ProductUpdate` reject unknown JSON keys (`deny_unknown_fields`): a
/// misspelt key, or metadata (`id`, `rev`, ...) in a create body, fails with serde's
/// ``unknown field `prise`, expected one of `name`, `price` `` instead of being dropped.
/// `ProductRead` accepts unknown keys (rows and cache entries written by a newer version of
/// the struct stay readable).
///
/// Attributes on a field shape the DTOs, never the storage:
///
/// | attribute | effect |
/// |---|---|
/// | `#[serde(rename = "displayName")]` | the JSON key in all three DTOs; the column, the filter and sort name (`Product::NAME`), indexes and `Row` keys stay the field name |
/// | `#[serde(alias = "title")]` (repeatable) | another key the create and update DTOs accept |
/// | `#[serde(default)]`, `#[serde(default = "path")]` | the create DTO may omit the key |
/// | `#[forze(read_only)]` | in the create DTO, not in the update DTO (set once) |
/// | `#[forze(skip_create)]` | not in the create DTO, in the update DTO; stored at create as `None` (an `Option`) or its `#[serde(default)]` — one of them is required |
/// | `///` docs, `#[cfg]` | copied to every DTO field |
///
/// Other `#[serde(..)]` keys, unknown `#[forze(..)]` keys, `read_only` with `skip_create`,
/// a JSON key (name, rename or alias) used by two fields, and a rename to a metadata key are
/// compile errors. `From<Product> for ProductCreate` drops the `skip_create` fields.
///
/// `#[forze(validate)]` on the struct makes `create`, `create_many`, `ensure`, `update` and
/// `update_many` call `forze_core::Validate` on their input before the store (implement it for
/// `ProductCreate` and `ProductUpdate`); the write fails with one `Validation` error naming
/// every failing field. With or without it, every `f32`/`f64` field (and `Option` of one) is
/// checked to be finite: NaN and infinity are refused by field name (JSON has neither, and they
/// would otherwise be stored as `null`). Floats nested in a JSON field are not checked.
///
/// ```ignore
/// #[derive(Document)]
/// #[forze(validate)]
/// pub struct Product {
///     #[serde(rename = "displayName", alias = "title")]
///     pub name: String,
///     #[forze(read_only)]
///     pub sku: String,
///     #[forze(skip_create)]
///     pub shipped_at: Option<DateTime<Utc>>,
///     #[serde(default)]
///     pub tags: Vec<String>,
/// }
/// ```
///
/// # Field constants
///
/// Each field `price` becomes an associated constant `Product::PRICE` of type
/// `forze_core::query::Field<Product, V, N>` (with the field's visibility and `#[cfg]`s), plus
/// `Product::ID`, `Product::REV`, `Product::CREATED_AT` and `Product::LAST_UPDATE_AT` for the
/// metadata. `V` is the field's type (the inner type of an `Option`) or `query::Json` for a
/// field stored as JSON; `N` is `query::Nullable` for an `Option` field, else `query::Required`.
/// What each allows is checked by the compiler:
///
/// | operators | fields |
/// |---|---|
/// | `eq`, `ne`, `lt`, `le`, `gt`, `ge`, `is_in`, `not_in`, `asc`, `desc` | every kind but JSON: text, integers, floats, `bool`, `Uuid`, `DateTime<Utc>`, metadata |
/// | `starts_with`, `contains`, `starts_with_ci`, `contains_ci` | `String` fields |
/// | `is_null`, `is_not_null` | `Option` fields (JSON ones too) |
///
/// Values take the field's type, so literals infer: `Product::PRICE.lt(10)` on an `i32`,
/// `.eq(5)` on a `u8`, `.ge(0.5)` on an `f32`, `.eq("lamp")` (a `&str`) on a `String`. A
/// condition or sort key of one document does not fit a query of another.
///
/// ```ignore
/// let cheap = products
///     .find()
///     .filter(Product::PRICE.lt(10) & Product::NOTE.is_not_null())
///     .sort(Product::PRICE.desc())
///     .all()
///     .await?;
/// ```
///
/// # The spec
///
/// The optional `#[document_spec(...)]` attribute configures the spec. Every value is checked at
/// compile time, every error points at the offending token, and all errors appear in one compile:
///
/// ```text
/// #[document_spec(
///     name = "products",                  // default: the type name in snake_case;
///                                         // [a-z][a-z0-9_]*, at most 63 bytes
///     cache(                              // optional: presence = reads cached, writes invalidate
///         name = "products",              // default: the document name
///         ttl = "5m",                     // default 5m; "<int><ms|s|m|h|d>", > 0
///         early_refresh_beta = 1.0,       // XFetch; a number > 0
///         early_refresh_background = true,// requires early_refresh_beta
///         sliding_ttl = "60s",            // < ttl
///         age_ttl(alpha = 0.1, min_ttl = "30s", max_ttl = "1h"),
///                                         // all three; alpha > 0, min_ttl <= max_ttl <= ttl
///         l1(ttl = "2s", capacity = 1024, store = "lru" | "tiny_lfu" | path::to::factory),
///                                         // ttl required, < cache ttl; capacity >= 1 (default
///                                         // 1024; tiny_lfu >= 2); store default "lru"; a
///                                         // factory is a `fn(&L1Config) -> Box<dyn L1Store>`
///     ),
///     unique(sku),                        // repeatable: no two documents share these values
///     unique(shop, code),                 // (a document with a null in one conflicts with none)
///     index(price desc, name),            // repeatable: an index, `asc` (default) or `desc`
///                                         // per field
/// )]
/// ```
///
/// `unique(..)` and `index(..)` name fields of the struct or the metadata `id`, `rev`,
/// `created_at`, `last_update_at`; not a JSON field (it has no order), not a field twice in one
/// list, not an empty list, and not the columns of an earlier `unique(..)`/`index(..)` again (a
/// unique constraint is already an index); `unique(..)` takes no directions. They become
/// `PRODUCT_SPEC.indexes` (`forze_core::IndexSpec`, in order). Every backend enforces the unique
/// constraints: a write that breaks one fails with `Conflict`, from `IndexSpec::conflict`
/// (naming the document and the fields, never the values). Postgres creates the indexes with
/// `forze_postgres::schema_sql` (text columns `COLLATE "C"`, as queries compare text).
///
/// `tenant = "column"` or `tenant = "schema"` keeps the documents per tenant
/// (`PRODUCT_SPEC.tenancy`, a `forze_core::Tenancy`): the spec is then used from a context bound
/// to a tenant (`ctx.with_tenant(id)`) and every read, query, write and cache entry is that
/// tenant's. `"column"`: one table with a `tenant_id` column (not a field of the struct);
/// `"schema"`: a schema per tenant. Another value is a compile error.
///
/// The struct must have named fields and no generic parameters, and no field may be named
/// `id`, `rev`, `created_at` or `last_update_at` (every read model has them).
#[proc_macro_derive(Document, attributes(document_spec, forze, serde))]
pub fn derive_document(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    derive(&input).into()
}

/// Parse, validate and expand; on errors, the `compile_error!`s plus (when the struct's shape
/// allows it) the expansion with defaults, so the errors do not cascade.
fn derive(input: &DeriveInput) -> proc_macro2::TokenStream {
    let mut errors = error::Errors::default();
    let spec_attr = attr::parse_spec(&input.attrs, &mut errors);
    let shape = attr::parse_input(input, &mut errors);
    let mut spec = validate::spec(&spec_attr, &input.ident, &mut errors);
    let fields_ok = shape
        .as_ref()
        .is_some_and(|shape| validate::fields(shape, &mut errors));
    if let Some(shape) = &shape {
        spec.indexes = validate::indexes(&spec_attr.indexes, shape, &mut errors);
    }
    let mut out = errors.to_compile_errors();
    if let (Some(shape), true) = (&shape, fields_ok) {
        out.extend(expand::expand(shape, &spec));
    }
    out
}

/// The messages of every error `#[derive(Document)]` reports for `input`, in order.
#[cfg(test)]
fn messages(input: &DeriveInput) -> Vec<String> {
    let mut errors = error::Errors::default();
    let spec_attr = attr::parse_spec(&input.attrs, &mut errors);
    let shape = attr::parse_input(input, &mut errors);
    validate::spec(&spec_attr, &input.ident, &mut errors);
    if let Some(shape) = &shape {
        validate::fields(shape, &mut errors);
        validate::indexes(&spec_attr.indexes, shape, &mut errors);
    }
    errors
        .into_error()
        .map(|error| error.into_iter().map(|e| e.to_string()).collect())
        .unwrap_or_default()
}
