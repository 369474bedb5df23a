//! An unknown `l1` key lists the keys valid inside `l1(...)`.

use forze_core::Document;

#[derive(Document)]
#[document_spec(cache(l1(ttl = "2s", size = 100)))]
pub struct Product {
    pub name: String,
}

fn main() {}
