//! Text operators are for text fields only.

use forze_core::Document;

#[derive(Document)]
pub struct Product {
    pub name: String,
    pub price: i32,
    pub tags: Vec<String>,
    pub note: Option<String>,
}

fn main() {
    let _ = Product::PRICE.starts_with("1");
    let _ = Product::NAME.starts_with("l");
}
