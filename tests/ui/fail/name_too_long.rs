//! The document name is at most 63 bytes.

use forze_core::Document;

#[derive(Document)]
#[document_spec(name = "product_catalogue_entries_for_the_european_warehouse_network_2024")]
pub struct Product {
    pub name: String,
}

fn main() {}
