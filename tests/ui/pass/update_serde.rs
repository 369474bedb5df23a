//! The update DTO tells "absent" (unchanged) from `null` (clear) and serializes only changes.

use forze_core::Document;
use serde_json::json;

#[derive(Document)]
pub struct Product {
    pub name: String,
    pub price: i32,
    pub note: Option<String>,
}

fn main() {
    // Absent = unchanged, `null` = clear, a value = set.
    let patch: ProductUpdate = serde_json::from_value(json!({})).unwrap();
    assert_eq!((patch.name, patch.price, patch.note), (None, None, None));

    let patch: ProductUpdate = serde_json::from_value(json!({ "note": null })).unwrap();
    assert_eq!(patch.note, Some(None));
    assert_eq!(patch.name, None);

    let patch: ProductUpdate =
        serde_json::from_value(json!({ "note": "fragile", "price": 12 })).unwrap();
    assert_eq!(patch.note, Some(Some("fragile".to_owned())));
    assert_eq!(patch.price, Some(12));

    // A non-optional field cannot be cleared: `null` is a type error, not "unchanged".
    let err = serde_json::from_value::<ProductUpdate>(json!({ "price": null })).unwrap_err();
    assert!(
        err.to_string().contains("invalid type: null, expected i32"),
        "{err}"
    );

    // Serializing gives exactly the changed fields, `null` for a clear.
    assert_eq!(
        serde_json::to_value(ProductUpdate::default()).unwrap(),
        json!({})
    );
    let patch = ProductUpdate {
        price: Some(12),
        note: Some(None),
        ..Default::default()
    };
    assert_eq!(
        serde_json::to_value(&patch).unwrap(),
        json!({ "price": 12, "note": null })
    );
    let patch = ProductUpdate {
        note: Some(Some("x".into())),
        ..Default::default()
    };
    assert_eq!(
        serde_json::to_value(&patch).unwrap(),
        json!({ "note": "x" })
    );

    // Round trip keeps the distinction.
    let patch = ProductUpdate {
        note: Some(None),
        ..Default::default()
    };
    let back: ProductUpdate =
        serde_json::from_str(&serde_json::to_string(&patch).unwrap()).unwrap();
    assert_eq!(back.note, Some(None));

    // Create and Read serialize every field, `null` for `None`.
    let create = ProductCreate {
        name: "Widget".into(),
        price: 10,
        note: None,
    };
    assert_eq!(
        serde_json::to_value(&create).unwrap(),
        json!({ "name": "Widget", "price": 10, "note": null })
    );
    let read: <Product as Document>::Read = serde_json::from_value(json!({
        "id": "0190a5e0-0000-7000-8000-000000000001",
        "rev": 2,
        "created_at": "2024-01-01T00:00:00Z",
        "last_update_at": "2024-01-02T00:00:00Z",
        "name": "Widget",
        "price": 10,
        "note": "n",
    }))
    .unwrap();
    assert_eq!(read.rev, 2);
    assert_eq!(read.note.as_deref(), Some("n"));
    assert_eq!(
        serde_json::to_value(&read).unwrap()["last_update_at"],
        json!("2024-01-02T00:00:00Z")
    );
}
