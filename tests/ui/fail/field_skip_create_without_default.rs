//! A field left out of the create DTO needs a value at create time.

use forze_core::Document;

#[derive(Document)]
pub struct Product {
    pub name: String,
    #[forze(skip_create)]
    pub stock: u32,
}

fn main() {}
