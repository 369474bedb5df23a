//! A filter value must have the field's type: no string for an integer field.

use forze_core::Document;

#[derive(Document)]
pub struct Product {
    pub name: String,
    pub price: i32,
    pub tags: Vec<String>,
    pub note: Option<String>,
}

fn main() {
    let _ = Product::PRICE.eq("ten");
    let _ = Product::NAME.eq(10);
}
