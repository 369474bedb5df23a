//! Without `name`, the snake_case type name must be a valid name.

use forze_core::Document;

#[derive(Document)]
pub struct Produkté {
    pub name: String,
}

fn main() {}
