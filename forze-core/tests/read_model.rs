//! `Document::read_from_row`: the derive's direct conversion of a stored row gives the same
//! read model as deserializing the row as one JSON object (the trait's default), and refuses
//! the same mismatches.

use chrono::{DateTime, Utc};
use forze_core::{Document, DocumentMeta, ErrorKind, Row};
use serde_json::{Map, Value, json};
use uuid::Uuid;

#[derive(Document)]
#[document_spec(name = "gadgets")]
pub struct Gadget {
    pub name: String,
    pub price: i32,
    pub note: Option<String>,
    pub weight: f64,
    pub owner: Uuid,
    pub due: DateTime<Utc>,
    pub r#type: String,
    pub attrs: Value,
    pub tags: Vec<String>,
    pub stock: Option<i64>,
}

fn fields(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        other => panic!("not an object: {other}"),
    }
}

fn meta() -> DocumentMeta {
    let at = DateTime::from_timestamp_micros(1_700_000_000_123_456).expect("valid");
    DocumentMeta::from_parts(Uuid::now_v7(), 7, at, at + chrono::Duration::seconds(5))
}

fn stored() -> Map<String, Value> {
    fields(json!({
        "name": "lamp",
        "price": 40,
        "note": null,
        "weight": 1.25,
        "owner": Uuid::nil().to_string(),
        "due": "2031-02-03T04:05:06.123456Z",
        "type": "desk",
        "attrs": {"color": "red", "n": [1, 2]},
        "tags": ["a", "b"],
        "stock": 3,
    }))
}

/// The read model as the default conversion makes it: metadata and fields as one object.
fn through_json(meta: DocumentMeta, mut fields: Map<String, Value>) -> GadgetRead {
    fields.insert("id".into(), json!(meta.id));
    fields.insert("rev".into(), json!(meta.rev));
    fields.insert("created_at".into(), json!(meta.created_at));
    fields.insert("last_update_at".into(), json!(meta.last_update_at));
    serde_json::from_value(Value::Object(fields)).expect("the JSON path reads it")
}

#[test]
fn the_direct_conversion_equals_the_json_one() {
    let meta = meta();
    let direct = Gadget::read_from_row("gadgets", Row::new(meta, stored())).expect("reads");
    let json = through_json(meta, stored());
    assert_eq!(
        serde_json::to_value(&direct).expect("serialize"),
        serde_json::to_value(&json).expect("serialize")
    );
    assert_eq!(Gadget::meta(&direct), meta);
    assert_eq!(direct.r#type, "desk");

    // an optional field that is absent reads as None, as in a deserialized struct; unknown
    // keys are ignored
    let mut partial = stored();
    partial.remove("stock");
    partial.insert("legacy".into(), json!(1));
    let direct = Gadget::read_from_row("gadgets", Row::new(meta, partial.clone())).expect("reads");
    assert_eq!(direct.stock, None);
    assert_eq!(through_json(meta, partial).stock, None);
}

#[test]
fn mismatches_are_serialization_errors_naming_the_document_and_the_field() {
    let meta = meta();
    let cases: [(&str, Option<Value>); 5] = [
        ("price", Some(json!("forty"))),
        ("price", None),
        ("owner", Some(json!("not a uuid"))),
        ("due", Some(json!("yesterday"))),
        ("name", Some(Value::Null)),
    ];
    for (field, value) in cases {
        let mut row = stored();
        match &value {
            Some(v) => row.insert(field.into(), v.clone()),
            None => row.remove(field),
        };
        let err =
            Gadget::read_from_row("gadgets", Row::new(meta, row.clone())).expect_err("a mismatch");
        assert_eq!(err.kind(), ErrorKind::Serialization, "{field} {value:?}");
        assert!(err.message().contains("`gadgets`"), "{err}");
        assert!(err.message().contains(&meta.id.to_string()), "{err}");
        let source = std::error::Error::source(&err)
            .expect("the serde error")
            .to_string();
        assert!(source.contains(field), "{field}: {source}");
        // the JSON path refuses it too
        let mut object = row;
        object.insert("id".into(), json!(meta.id));
        object.insert("rev".into(), json!(meta.rev));
        object.insert("created_at".into(), json!(meta.created_at));
        object.insert("last_update_at".into(), json!(meta.last_update_at));
        assert!(serde_json::from_value::<GadgetRead>(Value::Object(object)).is_err());
    }
}
