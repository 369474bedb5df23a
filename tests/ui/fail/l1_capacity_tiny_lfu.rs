//! The W-TinyLFU store needs a capacity of at least 2.

use forze_core::Document;

#[derive(Document)]
#[document_spec(cache(l1(ttl = "2s", capacity = 1, store = "tiny_lfu")))]
pub struct Product {
    pub name: String,
}

fn main() {}
