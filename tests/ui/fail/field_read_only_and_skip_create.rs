//! A field neither created nor updated would always hold its default.

use forze_core::Document;

#[derive(Document)]
pub struct Product {
    pub name: String,
    #[forze(read_only, skip_create)]
    pub note: Option<String>,
}

fn main() {}
