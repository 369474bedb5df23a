//! Only `rename`, `alias` and `default` shape the DTOs; other serde keys are refused.

use forze_core::Document;

#[derive(Document)]
pub struct Product {
    #[serde(flatten)]
    pub name: String,
    #[serde(rename(serialize = "a", deserialize = "b"))]
    pub price: i32,
    #[serde(alias = 3)]
    pub sku: String,
}

fn main() {}
