//! A hand-written document type for the suites, shaped exactly like `#[derive(Document)]`
//! output, so the suites do not depend on the macro.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::model::{Document, DocumentMeta, FieldKind, FieldSchema};
use crate::spec::{CacheSpec, DEFAULT_CACHE_TTL, DocumentSpec};

/// The test document: what a user would write (plus a nullable field, to exercise
/// `Option<Option<T>>` updates and null ordering).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Product {
    /// The product name.
    pub name: String,
    /// The price in cents.
    pub price: i32,
    /// A free-form note; `None` = no note.
    pub note: Option<String>,
}

/// What `create` takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductCreate {
    /// The product name.
    pub name: String,
    /// The price in cents.
    pub price: i32,
    /// A free-form note.
    pub note: Option<String>,
}

impl ProductCreate {
    /// A product without a note.
    pub fn new(name: impl Into<String>, price: i32) -> Self {
        ProductCreate {
            name: name.into(),
            price,
            note: None,
        }
    }
}

/// What `update` takes: `None` = unchanged; `note: Some(None)` clears the note.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductUpdate {
    /// New name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// New price.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<i32>,
    /// New note (`Some(None)` clears it).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::__private::deserialize_some"
    )]
    pub note: Option<Option<String>>,
}

/// What reads return.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductRead {
    /// The id (UUID v7).
    pub id: Uuid,
    /// The revision, from 1.
    pub rev: i64,
    /// Creation time (UTC).
    pub created_at: DateTime<Utc>,
    /// Last change (UTC).
    pub last_update_at: DateTime<Utc>,
    /// The product name.
    pub name: String,
    /// The price in cents.
    pub price: i32,
    /// A free-form note.
    pub note: Option<String>,
}

/// The field schema of [`Product`].
pub const PRODUCT_FIELDS: &[FieldSchema] = &[
    FieldSchema::new("name", FieldKind::Text, false),
    FieldSchema::new("price", FieldKind::Int, false),
    FieldSchema::new("note", FieldKind::Text, true),
];

/// `name = "products", cache(name = "products")` with the default 5 minute ttl.
pub const PRODUCT_SPEC: DocumentSpec<Product> = DocumentSpec::__new_unchecked(
    Cow::Borrowed("products"),
    Some(CacheSpec::__new_unchecked(
        Cow::Borrowed("products"),
        DEFAULT_CACHE_TTL,
        None,
        false,
        None,
        None,
        None,
    )),
);

/// The same document type without caching, under the name `plain_products`.
pub const PLAIN_PRODUCT_SPEC: DocumentSpec<Product> =
    DocumentSpec::__new_unchecked(Cow::Borrowed("plain_products"), None);

impl Document for Product {
    type Create = ProductCreate;
    type Update = ProductUpdate;
    type Read = ProductRead;

    const FIELDS: &'static [FieldSchema] = PRODUCT_FIELDS;
    const SPEC: DocumentSpec<Self> = PRODUCT_SPEC;

    fn meta(read: &ProductRead) -> DocumentMeta {
        DocumentMeta::from_parts(read.id, read.rev, read.created_at, read.last_update_at)
    }
}

/// The field schema of the query suite's document ([`query_conformance`](super::query_conformance)):
/// one field of every [`FieldKind`], required and optional (`…_opt`).
pub const QUERY_FIELDS: &[FieldSchema] = &[
    FieldSchema::new("text", FieldKind::Text, false),
    FieldSchema::new("text_opt", FieldKind::Text, true),
    FieldSchema::new("small", FieldKind::SmallInt, false),
    FieldSchema::new("small_opt", FieldKind::SmallInt, true),
    FieldSchema::new("int", FieldKind::Int, false),
    FieldSchema::new("int_opt", FieldKind::Int, true),
    FieldSchema::new("big", FieldKind::BigInt, false),
    FieldSchema::new("big_opt", FieldKind::BigInt, true),
    FieldSchema::new("real", FieldKind::Real, false),
    FieldSchema::new("real_opt", FieldKind::Real, true),
    FieldSchema::new("double", FieldKind::Double, false),
    FieldSchema::new("double_opt", FieldKind::Double, true),
    FieldSchema::new("flag", FieldKind::Bool, false),
    FieldSchema::new("flag_opt", FieldKind::Bool, true),
    FieldSchema::new("uuid", FieldKind::Uuid, false),
    FieldSchema::new("uuid_opt", FieldKind::Uuid, true),
    FieldSchema::new("at", FieldKind::Timestamp, false),
    FieldSchema::new("at_opt", FieldKind::Timestamp, true),
    FieldSchema::new("json", FieldKind::Json, false),
    FieldSchema::new("json_opt", FieldKind::Json, true),
];
