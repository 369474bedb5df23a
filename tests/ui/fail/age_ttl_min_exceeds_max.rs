//! `age_ttl(min_ttl)` must not exceed `age_ttl(max_ttl)`.

use forze_core::Document;

#[derive(Document)]
#[document_spec(cache(ttl = "1h", age_ttl(alpha = 0.1, min_ttl = "2h", max_ttl = "1h")))]
pub struct Product {
    pub name: String,
}

fn main() {}
