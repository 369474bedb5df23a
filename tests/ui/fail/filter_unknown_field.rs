//! A field the document does not have is not a constant of it.

use forze_core::Document;

#[derive(Document)]
pub struct Product {
    pub name: String,
    pub price: i32,
    pub tags: Vec<String>,
    pub note: Option<String>,
}

fn main() {
    let _ = Product::COLOUR.eq("red");
}
