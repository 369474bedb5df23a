//! `early_refresh_beta` must be a positive number.

use forze_core::Document;

#[derive(Document)]
#[document_spec(cache(early_refresh_beta = 0.0))]
pub struct Product {
    pub name: String,
}

fn main() {}
