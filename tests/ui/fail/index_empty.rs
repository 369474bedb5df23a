//! An index needs at least one field.

use forze_core::Document;

#[derive(Document)]
#[document_spec(index())]
pub struct Product {
    pub sku: String,
    pub price: i32,
    pub tags: Vec<String>,
}

fn main() {}
