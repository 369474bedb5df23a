//! `#[document_spec]` belongs on the struct.

use forze_core::Document;

#[derive(Document)]
pub struct Product {
    #[document_spec(name = "products")]
    pub name: String,
}

fn main() {}
