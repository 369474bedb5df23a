//! `id`, `rev`, `created_at`, `last_update_at` are on every read model.

use forze_core::Document;

#[derive(Document)]
pub struct Product {
    pub id: String,
    pub name: String,
    pub rev: i64,
}

fn main() {}
