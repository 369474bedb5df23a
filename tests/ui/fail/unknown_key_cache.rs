//! An unknown `cache` key lists the keys valid inside `cache(...)`.

use forze_core::Document;

#[derive(Document)]
#[document_spec(cache(ttl = "5m", capacity = 10))]
pub struct Product {
    pub name: String,
}

fn main() {}
