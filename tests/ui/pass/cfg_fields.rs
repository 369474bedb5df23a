//! `#[cfg]` on a field applies to its DTO fields and its schema entry.

use forze_core::Document;

#[derive(Document)]
pub struct Product {
    pub name: String,
    #[cfg(any())]
    pub never_compiled: NoSuchType,
    #[cfg(all())]
    pub always_compiled: i32,
}

fn main() {
    let create = ProductCreate {
        name: "Widget".into(),
        always_compiled: 1,
    };
    let update = ProductUpdate {
        always_compiled: Some(2),
        ..Default::default()
    };
    assert_eq!(
        (create.always_compiled, update.always_compiled),
        (1, Some(2))
    );
    let names: Vec<&str> = Product::FIELDS.iter().map(|field| field.name).collect();
    assert_eq!(names, ["name", "always_compiled"]);
}
