//! An unknown field in `unique(..)` lists the fields an index can use.

use forze_core::Document;

#[derive(Document)]
#[document_spec(unique(skus))]
pub struct Product {
    pub sku: String,
    pub price: i32,
    pub tags: Vec<String>,
}

fn main() {}
