//! The same index twice, or an index repeating a unique constraint.

use forze_core::Document;

#[derive(Document)]
#[document_spec(unique(sku), index(sku), index(price desc, sku), index(price desc, sku))]
pub struct Product {
    pub sku: String,
    pub price: i32,
    pub tags: Vec<String>,
}

fn main() {}
