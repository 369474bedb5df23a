//! Every error of an attribute is reported in one compile.

use forze_core::Document;

#[derive(Document)]
#[document_spec(
    name = "Products",
    cache(
        ttl = "5m",
        l1(ttl = "10m", capacity = 0),
        sliding_ttl = "5 m",
        colour = "red"
    )
)]
pub struct Product {
    pub name: String,
}

fn main() {}
