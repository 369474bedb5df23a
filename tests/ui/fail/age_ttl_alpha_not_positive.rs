//! `age_ttl(alpha)` must be a positive number.

use forze_core::Document;

#[derive(Document)]
#[document_spec(cache(ttl = "1h", age_ttl(alpha = -0.1, min_ttl = "30s", max_ttl = "1h")))]
pub struct Product {
    pub name: String,
}

fn main() {}
