//! `sliding_ttl` must be longer than `l1(ttl)`: L1 hits do not slide the Redis entry.

use forze_core::Document;

#[derive(Document)]
#[document_spec(cache(l1(ttl = "30s"), sliding_ttl = "30s"))]
pub struct Product {
    pub name: String,
}

fn main() {}
