//! The DTOs and the spec take the struct's visibility, and each field keeps its own.

mod catalog {
    use forze_core::Document;

    #[derive(Document)]
    #[document_spec(name = "products")]
    pub(crate) struct Product {
        pub(crate) name: String,
        pub price: i32,
        secret: Option<String>,
    }

    pub(crate) fn create(name: &str) -> ProductCreate {
        ProductCreate {
            name: name.to_owned(),
            price: 1,
            secret: Some("only visible in `catalog`".to_owned()),
        }
    }

    pub(crate) fn secret(read: &ProductRead) -> Option<&str> {
        read.secret.as_deref()
    }

    mod inner {
        use forze_core::Document;

        #[derive(Document)]
        pub(super) struct Hidden {
            pub(super) value: i64,
        }
    }

    pub(crate) fn hidden_name() -> String {
        // `pub(super)` items are visible here, one module up
        let update = inner::HiddenUpdate { value: Some(1) };
        assert_eq!(update.value, Some(1));
        inner::HIDDEN_SPEC.name.into_owned()
    }
}

// `pub(crate)` items are usable anywhere in the crate.
use catalog::{PRODUCT_SPEC, Product, ProductCreate, ProductRead, ProductUpdate};

fn main() {
    let create: ProductCreate = catalog::create("Widget");
    assert_eq!((create.name.as_str(), create.price), ("Widget", 1));
    // a private field keeps struct literals inside `catalog`, like for `Product` itself
    let mut update = ProductUpdate::default();
    update.name = Some("Gadget".to_owned());
    assert_eq!(update.name.as_deref(), Some("Gadget"));
    assert_eq!(PRODUCT_SPEC.name, "products");
    assert_eq!(<Product as forze_core::Document>::FIELDS.len(), 3);
    let read: ProductRead = serde_json::from_value(serde_json::json!({
        "id": "0190a5e0-0000-7000-8000-000000000001",
        "rev": 1,
        "created_at": "2024-01-01T00:00:00Z",
        "last_update_at": "2024-01-01T00:00:00Z",
        "name": "Widget",
        "price": 1,
        "secret": "s",
    }))
    .unwrap();
    assert_eq!(catalog::secret(&read), Some("s"));
    assert_eq!(catalog::hidden_name(), "hidden");
}
