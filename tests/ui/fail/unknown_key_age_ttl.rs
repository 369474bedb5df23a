//! An unknown `age_ttl` key lists the keys valid inside `age_ttl(...)`.

use forze_core::Document;

#[derive(Document)]
#[document_spec(cache(ttl = "1h", age_ttl(alpha = 0.1, min = "30s", max_ttl = "1h")))]
pub struct Product {
    pub name: String,
}

fn main() {}
