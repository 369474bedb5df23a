//! A field appears once in an index.

use forze_core::Document;

#[derive(Document)]
#[document_spec(index(price desc, price))]
pub struct Product {
    pub sku: String,
    pub price: i32,
    pub tags: Vec<String>,
}

fn main() {}
