//! Every JSON key belongs to one field, and none is a metadata key.

use forze_core::Document;

#[derive(Document)]
pub struct Product {
    pub name: String,
    #[serde(rename = "name")]
    pub title: String,
    #[serde(alias = "name")]
    pub label: String,
    #[serde(rename = "id")]
    pub code: String,
    #[serde(rename = "")]
    pub empty: String,
}

fn main() {}
