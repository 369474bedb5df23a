//! The cache name follows the same rule as the document name.

use forze_core::Document;

#[derive(Document)]
#[document_spec(cache(name = "product-cache"))]
pub struct Product {
    pub name: String,
}

fn main() {}
