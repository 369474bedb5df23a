//! Unknown `#[forze(..)]` keys list the accepted ones, on a field and on the struct.

use forze_core::Document;

#[derive(Document)]
#[forze(read_only)]
pub struct Product {
    #[forze(readonly)]
    pub name: String,
    #[forze(validate)]
    pub price: i32,
    #[forze(read_only = true)]
    pub sku: String,
}

fn main() {}
