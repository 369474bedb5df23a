//! An unknown store name lists the accepted stores.

use forze_core::Document;

#[derive(Document)]
#[document_spec(cache(l1(ttl = "2s", store = "lfu")))]
pub struct Product {
    pub name: String,
}

fn main() {}
