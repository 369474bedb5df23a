//! Lifetimes are not supported either.

use forze_core::Document;

#[derive(Document)]
pub struct Product<'a> {
    pub name: &'a str,
}

fn main() {}
