//! A repeated key is reported at the repeat.

use forze_core::Document;

#[derive(Document)]
#[document_spec(cache(ttl = "5m", l1(ttl = "2s"), ttl = "10m"))]
pub struct Product {
    pub name: String,
}

fn main() {}
