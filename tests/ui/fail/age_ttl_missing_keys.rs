//! `age_ttl` takes all of `alpha`, `min_ttl` and `max_ttl`.

use forze_core::Document;

#[derive(Document)]
#[document_spec(cache(age_ttl(alpha = 0.1)))]
pub struct Product {
    pub name: String,
}

fn main() {}
