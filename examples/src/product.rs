//! The `Product` document of the recipes (DESIGN §1): the only caching-related line is the
//! `cache(...)` of its spec.

// ANCHOR: product
use forze_core::Document;

/// A product: a name and a price in cents.
///
/// Generates `ProductCreate`, `ProductUpdate`, `ProductRead` and `PRODUCT_SPEC`.
#[derive(Document)]
#[document_spec(name = "products", cache(name = "products"))] // reads cached, writes invalidate
pub struct Product {
    /// The name.
    pub name: String,
    /// The price in cents.
    pub price: i32,
}
// ANCHOR_END: product
