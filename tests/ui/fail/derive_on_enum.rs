//! The derive needs a struct with named fields.

use forze_core::Document;

#[derive(Document)]
pub enum Product {
    Widget,
}

fn main() {}
