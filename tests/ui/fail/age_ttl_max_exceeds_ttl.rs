//! `age_ttl(max_ttl)` must not exceed the cache ttl (5m by default).

use forze_core::Document;

#[derive(Document)]
#[document_spec(cache(age_ttl(alpha = 0.1, min_ttl = "30s", max_ttl = "1h")))]
pub struct Product {
    pub name: String,
}

fn main() {}
