//! A filter or sort key of one document does not fit a query of another.

use forze_core::Document;

#[derive(Document)]
pub struct Product {
    pub name: String,
    pub price: i32,
    pub tags: Vec<String>,
    pub note: Option<String>,
}

#[derive(Document)]
pub struct Order {
    pub total: i64,
}

fn query(products: &forze_core::DocumentQuery<Product>) {
    let _ = products.find().filter(Order::TOTAL.gt(1));
    let _ = products.find().sort(Order::TOTAL.desc());
}

fn main() {
    let _ = query;
}
