//! A duration must be "<int><ms|s|m|h|d>".

use forze_core::Document;

#[derive(Document)]
#[document_spec(cache(ttl = "5 minutes"))]
pub struct Product {
    pub name: String,
}

fn main() {}
