//! A JSON field (here a `Vec`) cannot be compared or sorted.

use forze_core::Document;

#[derive(Document)]
pub struct Product {
    pub name: String,
    pub price: i32,
    pub tags: Vec<String>,
    pub note: Option<String>,
}

fn main() {
    let _ = Product::TAGS.lt(Vec::<String>::new());
    let _ = Product::TAGS.asc();
}
