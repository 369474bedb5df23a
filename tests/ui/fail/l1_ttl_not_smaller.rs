//! `l1(ttl)` must be strictly smaller than the cache `ttl`; the caret is under the l1 ttl.

use forze_core::Document;

#[derive(Document)]
#[document_spec(name = "products", cache(ttl = "5m", l1(ttl = "10m")))]
pub struct Product {
    pub name: String,
}

fn main() {}
