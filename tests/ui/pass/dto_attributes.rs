//! DTO field attributes: rename/alias/default on the JSON, read_only, skip_create, validate;
//! strict create and update DTOs.

use forze_core::{Document, Validate, ValidationErrors};

fn one() -> i64 {
    1
}

#[derive(Document)]
#[forze(validate)]
pub struct Product {
    #[serde(rename = "displayName", alias = "title", alias = "label")]
    pub name: String,
    #[serde(default = "one")]
    pub count: i64,
    #[serde(default)]
    pub tags: Vec<String>,
    #[forze(read_only)]
    pub sku: String,
    #[forze(skip_create)]
    #[serde(default)]
    pub sold: u32,
    #[forze(skip_create)]
    pub shipped: Option<bool>,
    // two renames may swap keys
    #[serde(rename = "b")]
    pub a: bool,
    #[serde(rename = "a")]
    pub b: bool,
}

impl Validate for ProductCreate {
    fn validate(&self, errors: &mut ValidationErrors) {
        errors.check(!self.name.is_empty(), "displayName", "must not be empty");
    }
}

impl Validate for ProductUpdate {
    fn validate(&self, _errors: &mut ValidationErrors) {}
}

fn main() {
    let create: ProductCreate =
        serde_json::from_str(r#"{"label": "x", "sku": "s", "a": true, "b": false}"#).unwrap();
    assert_eq!((create.count, create.tags.len(), create.a, create.b), (1, 0, false, true));
    assert!(serde_json::from_str::<ProductCreate>(r#"{"displayName": "x", "sku": "s", "a": true, "b": false, "sold": 1}"#).is_err());
    let update: ProductUpdate = serde_json::from_str(r#"{"sold": 2, "shipped": null}"#).unwrap();
    assert_eq!((update.sold, update.shipped), (Some(2), Some(None)));
    assert!(serde_json::from_str::<ProductUpdate>(r#"{"sku": "t"}"#).is_err());
    let name = Product::FIELDS.iter().find(|f| f.name == "name").unwrap();
    assert_eq!(name.json_name, "displayName");
    // a document value is its create DTO (skip_create fields are dropped)
    let _: ProductCreate = Product {
        name: "n".into(),
        count: 1,
        tags: vec![],
        sku: "s".into(),
        sold: 0,
        shipped: None,
        a: false,
        b: false,
    }
    .into();
}
