//! A user store factory is type-checked: a wrong signature is a type error at the path.

use forze_core::Document;

fn not_a_factory(capacity: usize) -> usize {
    capacity
}

#[derive(Document)]
#[document_spec(cache(l1(ttl = "2s", store = not_a_factory)))]
pub struct Product {
    pub name: String,
}

fn main() {}
