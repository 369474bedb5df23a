//! The spec constant carries the declared values and the documented defaults.

use std::time::Duration;

use forze_core::{Document, FieldKind, FieldSchema, L1StoreKind};

#[derive(Document)]
#[document_spec(name = "products", cache(name = "products", l1(ttl = "2s")))]
pub struct Product {
    pub name: String,
    pub price: i32,
}

// No attribute: the name is the type name in snake_case, no cache.
#[derive(Document)]
pub struct ProductLine {
    pub title: String,
}

// `cache()` alone: every cache default, the cache named after the document.
#[derive(Document)]
#[document_spec(name = "orders", cache())]
pub struct Order {
    pub total: i64,
}

#[derive(Document)]
#[document_spec(cache(ttl = "1h", l1(ttl = "300ms", capacity = 2, store = "tiny_lfu")))]
pub struct HTTPRequestLog {
    pub path: String,
}

#[derive(Document)]
pub struct Kinds {
    pub text: String,
    pub small_i8: i8,
    pub small_i16: i16,
    pub small_u8: u8,
    pub int_i32: i32,
    pub int_u16: u16,
    pub big_i64: i64,
    pub big_u32: u32,
    pub real: f32,
    pub double: f64,
    pub flag: bool,
    pub uuid: uuid::Uuid,
    pub at: chrono::DateTime<chrono::Utc>,
    pub maybe_text: Option<String>,
    pub maybe_uuid: Option<uuid::Uuid>,
    pub list: Vec<String>,
    pub wide: u64,
    pub r#type: String,
}

fn main() {
    assert_eq!(PRODUCT_SPEC.name, "products");
    let spec = PRODUCT_SPEC;
    let cache = spec.cache.as_ref().expect("cache configured");
    assert_eq!(cache.name, "products");
    assert_eq!(cache.ttl, Duration::from_secs(300));
    assert_eq!(cache.early_refresh_beta, None);
    assert!(!cache.early_refresh_background);
    assert_eq!(cache.sliding_ttl, None);
    assert_eq!(cache.age_ttl, None);
    let l1 = cache.l1.expect("l1 configured");
    assert_eq!(l1.ttl, Duration::from_secs(2));
    assert_eq!(l1.capacity, 1024);
    assert_eq!(l1.store, L1StoreKind::Lru);
    // the const and the trait's SPEC are the same value, and pass run-time validation
    assert_eq!(PRODUCT_SPEC, <Product as Document>::SPEC);
    cache
        .validate()
        .expect("the derive only accepts valid specs");

    assert_eq!(PRODUCT_LINE_SPEC.name, "product_line");
    assert!(PRODUCT_LINE_SPEC.cache.is_none());

    let spec = ORDER_SPEC;
    let cache = spec.cache.as_ref().expect("cache configured");
    assert_eq!(
        (cache.name.as_ref(), cache.ttl),
        ("orders", Duration::from_secs(300))
    );
    assert_eq!(cache.l1, None);

    assert_eq!(HTTP_REQUEST_LOG_SPEC.name, "http_request_log");
    let spec = HTTP_REQUEST_LOG_SPEC;
    let cache = spec.cache.as_ref().expect("cache configured");
    assert_eq!(cache.name, "http_request_log");
    assert_eq!(cache.ttl, Duration::from_secs(3600));
    let l1 = cache.l1.expect("l1 configured");
    assert_eq!(
        (l1.ttl, l1.capacity, l1.store),
        (Duration::from_millis(300), 2, L1StoreKind::TinyLfu)
    );

    assert_eq!(
        <Product as Document>::FIELDS,
        &[
            FieldSchema::new("name", FieldKind::Text, false),
            FieldSchema::new("price", FieldKind::Int, false),
        ]
    );
    let kinds: Vec<(&str, FieldKind, bool)> = <Kinds as Document>::FIELDS
        .iter()
        .map(|field| (field.name, field.kind, field.nullable))
        .collect();
    assert_eq!(
        kinds,
        [
            ("text", FieldKind::Text, false),
            ("small_i8", FieldKind::SmallInt, false),
            ("small_i16", FieldKind::SmallInt, false),
            ("small_u8", FieldKind::SmallInt, false),
            ("int_i32", FieldKind::Int, false),
            ("int_u16", FieldKind::Int, false),
            ("big_i64", FieldKind::BigInt, false),
            ("big_u32", FieldKind::BigInt, false),
            ("real", FieldKind::Real, false),
            ("double", FieldKind::Double, false),
            ("flag", FieldKind::Bool, false),
            ("uuid", FieldKind::Uuid, false),
            ("at", FieldKind::Timestamp, false),
            ("maybe_text", FieldKind::Text, true),
            ("maybe_uuid", FieldKind::Uuid, true),
            ("list", FieldKind::Json, false),
            ("wide", FieldKind::Json, false),
            ("type", FieldKind::Text, false),
        ]
    );
    // the raw identifier serializes without `r#`, like the schema says
    let create = KindsCreate {
        text: String::new(),
        small_i8: 0,
        small_i16: 0,
        small_u8: 0,
        int_i32: 0,
        int_u16: 0,
        big_i64: 0,
        big_u32: 0,
        real: 0.0,
        double: 0.0,
        flag: false,
        uuid: uuid::Uuid::nil(),
        at: chrono::DateTime::UNIX_EPOCH,
        maybe_text: None,
        maybe_uuid: None,
        list: vec![],
        wide: 0,
        r#type: "t".into(),
    };
    assert_eq!(serde_json::to_value(&create).unwrap()["type"], "t");
}
