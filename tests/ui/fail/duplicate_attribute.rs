//! A second `#[document_spec]` is reported at the repeat.

use forze_core::Document;

#[derive(Document)]
#[document_spec(name = "products")]
#[document_spec(cache(l1(ttl = "2s")))]
pub struct Product {
    pub name: String,
}

fn main() {}
