//! A JSON field cannot be indexed.

use forze_core::Document;

#[derive(Document)]
#[document_spec(index(price, tags))]
pub struct Product {
    pub sku: String,
    pub price: i32,
    pub tags: Vec<String>,
}

fn main() {}
