//! Only an `Option` field can be null.

use forze_core::Document;

#[derive(Document)]
pub struct Product {
    pub name: String,
    pub price: i32,
    pub tags: Vec<String>,
    pub note: Option<String>,
}

fn main() {
    let _ = Product::PRICE.is_null();
    let _ = Product::NOTE.is_null();
}
