//! `l1` requires `ttl`, reported at the `l1` key.

use forze_core::Document;

#[derive(Document)]
#[document_spec(cache(l1(capacity = 10)))]
pub struct Product {
    pub name: String,
}

fn main() {}
