//! `cache` takes a list of keys, not a value.

use forze_core::Document;

#[derive(Document)]
#[document_spec(cache = "products")]
pub struct Product {
    pub name: String,
}

fn main() {}
