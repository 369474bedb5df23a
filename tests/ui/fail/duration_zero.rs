//! A zero duration is rejected.

use forze_core::Document;

#[derive(Document)]
#[document_spec(cache(sliding_ttl = "0s"))]
pub struct Product {
    pub name: String,
}

fn main() {}
