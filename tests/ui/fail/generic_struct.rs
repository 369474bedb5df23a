//! Type parameters are not supported.

use forze_core::Document;

#[derive(Document)]
pub struct Product<T> {
    pub name: T,
}

fn main() {}
