//! The expansion names only `::forze_core` paths: user items shadowing `Option`, `Some`,
//! `None`, `Default`, `Clone`, `Debug`, `Result`, `Duration`, `Cow`, `i64` or `serde` don't
//! break it.
#![allow(dead_code, non_camel_case_types, clippy::all)]

mod shadowing {
    pub struct Option;
    pub struct Some;
    pub struct None;
    pub struct Default;
    pub struct Clone;
    pub struct Debug;
    pub struct Result;
    pub struct Duration;
    pub struct Cow;
    pub struct Uuid;
    pub struct From;
    pub struct i64;
    pub mod serde {}
    pub mod core {}
    pub mod std {}
}

// Glob imports shadow the prelude. If the expansion named any of these bare, it would resolve to
// the structs above and fail to compile; "unused" is the expected outcome.
#[allow(unused_imports)]
use shadowing::*;

#[derive(forze_core::Document)]
#[document_spec(name = "products", cache(l1(ttl = "2s", store = "tiny_lfu")))]
pub struct Product {
    pub name: String,
    pub note: ::core::option::Option<String>,
}

fn main() {
    let patch: ProductUpdate = serde_json::from_str(r#"{"note": null}"#).unwrap();
    assert!(matches!(
        patch.note,
        ::core::option::Option::Some(::core::option::Option::None)
    ));
    assert_eq!(PRODUCT_SPEC.name, "products");
}
