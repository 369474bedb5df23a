//! `sliding_ttl` must be strictly smaller than the cache ttl.

use forze_core::Document;

#[derive(Document)]
#[document_spec(cache(ttl = "1m", sliding_ttl = "60s"))]
pub struct Product {
    pub name: String,
}

fn main() {}
