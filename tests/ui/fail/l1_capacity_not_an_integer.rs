//! A wrong literal type shows the accepted form.

use forze_core::Document;

#[derive(Document)]
#[document_spec(cache(l1(ttl = "2s", capacity = "10")))]
pub struct Product {
    pub name: String,
}

fn main() {}
