//! `early_refresh_beta` must be a number literal.

use forze_core::Document;

#[derive(Document)]
#[document_spec(cache(early_refresh_beta = "1.0"))]
pub struct Product {
    pub name: String,
}

fn main() {}
