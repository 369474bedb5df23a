//! The `Product` document of the recipes (DESIGN §1).
//!
//! Written by hand, exactly as `#[derive(Document)]` will generate it, until the derive lands:
//!
//! ```text
//! #[derive(Document)]
//! #[document_spec(name = "products", cache(name = "products"))]
//! pub struct Product {
//!     pub name: String,
//!     pub price: i32,
//! }
//! ```

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use forze_core::spec::DEFAULT_CACHE_TTL;
use forze_core::{CacheSpec, Document, DocumentMeta, DocumentSpec, FieldKind, FieldSchema};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A product: a name and a price in cents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Product {
    /// The name.
    pub name: String,
    /// The price in cents.
    pub price: i32,
}

/// What `create` takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductCreate {
    /// The name.
    pub name: String,
    /// The price in cents.
    pub price: i32,
}

/// What `update` takes: `None` = unchanged.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductUpdate {
    /// New name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// New price.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<i32>,
}

/// What reads return.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductRead {
    /// The id (UUID v7).
    pub id: Uuid,
    /// The revision, from 1.
    pub rev: i64,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub last_update_at: DateTime<Utc>,
    /// The name.
    pub name: String,
    /// The price in cents.
    pub price: i32,
}

/// `#[document_spec(name = "products", cache(name = "products"))]`.
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

impl Document for Product {
    type Create = ProductCreate;
    type Update = ProductUpdate;
    type Read = ProductRead;

    const FIELDS: &'static [FieldSchema] = &[
        FieldSchema::new("name", FieldKind::Text, false),
        FieldSchema::new("price", FieldKind::Int, false),
    ];
    const SPEC: DocumentSpec<Self> = PRODUCT_SPEC;

    fn meta(read: &ProductRead) -> DocumentMeta {
        DocumentMeta::from_parts(read.id, read.rev, read.created_at, read.last_update_at)
    }
}
