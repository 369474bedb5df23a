//! The generated DTOs have exactly the documented field types.

use chrono::{DateTime, Utc};
use forze_core::{Document, DocumentMeta};
use uuid::Uuid;

#[derive(Document)]
pub struct Product {
    /// The display name.
    pub name: String,
    pub price: i32,
    pub note: Option<String>,
    pub tags: Vec<String>,
}

// Each function only compiles if the DTO fields have exactly these types.
fn create_fields(c: ProductCreate) -> (String, i32, Option<String>, Vec<String>) {
    (c.name, c.price, c.note, c.tags)
}

fn update_fields(
    u: ProductUpdate,
) -> (
    Option<String>,
    Option<i32>,
    Option<Option<String>>,
    Option<Vec<String>>,
) {
    (u.name, u.price, u.note, u.tags)
}

#[allow(clippy::type_complexity)]
fn read_fields(
    r: ProductRead,
) -> (
    Uuid,
    i64,
    DateTime<Utc>,
    DateTime<Utc>,
    String,
    i32,
    Option<String>,
    Vec<String>,
) {
    (
        r.id,
        r.rev,
        r.created_at,
        r.last_update_at,
        r.name,
        r.price,
        r.note,
        r.tags,
    )
}

fn assoc_types_are_the_dtos<
    D: Document<Create = ProductCreate, Update = ProductUpdate, Read = ProductRead>,
>() {
}

fn main() {
    assoc_types_are_the_dtos::<Product>();

    let create = ProductCreate {
        name: "Widget".into(),
        price: 10,
        note: None,
        tags: vec!["a".into()],
    };
    assert_eq!(
        create_fields(create.clone()),
        ("Widget".to_owned(), 10, None, vec!["a".to_owned()])
    );

    // Update: everything `None` by default; an optional field is `Option<Option<T>>`.
    let _: Option<Option<String>> = ProductUpdate::default().note;
    let patch = ProductUpdate::default();
    assert_eq!(update_fields(patch), (None, None, None, None));
    let clear = ProductUpdate {
        note: Some(None),
        ..Default::default()
    };
    assert_eq!(update_fields(clear).2, Some(None));

    // Read: metadata first, then every field; `meta` extracts the metadata.
    let now = Utc::now();
    let id = Uuid::now_v7();
    let read = ProductRead {
        id,
        rev: 3,
        created_at: now,
        last_update_at: now,
        name: "Widget".into(),
        price: 12,
        note: Some("n".into()),
        tags: vec![],
    };
    assert_eq!(
        <Product as Document>::meta(&read),
        DocumentMeta::from_parts(id, 3, now, now)
    );
    let fields = read_fields(read.clone());
    assert_eq!((fields.0, fields.1, fields.5), (id, 3, 12));

    // Debug is derived on every DTO.
    assert!(format!("{read:?}").contains("Widget"));
    assert!(format!("{:?}", ProductUpdate::default()).contains("note: None"));

    // A document value converts into its create DTO.
    let product = Product {
        name: "Gadget".into(),
        price: 5,
        note: Some("x".into()),
        tags: vec![],
    };
    let create = ProductCreate::from(product);
    assert_eq!((create.name.as_str(), create.price), ("Gadget", 5));
}
