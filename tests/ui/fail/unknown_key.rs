//! An unknown top-level key lists the valid keys.

use forze_core::Document;

#[derive(Document)]
#[document_spec(nmae = "products")]
pub struct Product {
    pub name: String,
}

fn main() {}
