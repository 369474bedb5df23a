//! `l1(capacity)` must be at least 1.

use forze_core::Document;

#[derive(Document)]
#[document_spec(cache(l1(ttl = "2s", capacity = 0)))]
pub struct Product {
    pub name: String,
}

fn main() {}
