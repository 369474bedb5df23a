//! A duration is a string literal.

use forze_core::Document;

#[derive(Document)]
#[document_spec(cache(ttl = 5m))]
pub struct Product {
    pub name: String,
}

fn main() {}
