use forze_core::Document;

#[derive(Document)]
#[document_spec(name = "invoices", tenant = "row")]
pub struct Invoice {
    pub number: String,
}

#[derive(Document)]
#[document_spec(name = "orders", tenant = column)]
pub struct Order {
    pub number: String,
}

fn main() {}
