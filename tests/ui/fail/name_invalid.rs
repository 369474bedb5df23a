//! The document name must be [a-z][a-z0-9_]*.

use forze_core::Document;

#[derive(Document)]
#[document_spec(name = "Products")]
pub struct Product {
    pub name: String,
}

fn main() {}
