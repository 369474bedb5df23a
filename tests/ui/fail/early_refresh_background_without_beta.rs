//! `early_refresh_background` requires `early_refresh_beta`.

use forze_core::Document;

#[derive(Document)]
#[document_spec(cache(early_refresh_background = true))]
pub struct Product {
    pub name: String,
}

fn main() {}
