//! The generated DTOs: strict (unknown keys rejected, naming the key and the accepted ones),
//! `#[serde(rename/alias/default)]` on the JSON only (columns keep the field names),
//! `#[forze(read_only)]` and `#[forze(skip_create)]`, `#[forze(validate)]` naming every
//! failing field, and NaN/infinite floats rejected by name. Through the ports, on the
//! in-memory backends.

use forze_core::memory::MemoryDepsModule;
use forze_core::prelude::*;
use forze_core::{
    DepsRegistry, ErrorKind, ExecutionContext, ExecutionRuntime, LifecyclePlan, Validate,
    ValidationErrors,
};

fn default_stock() -> u32 {
    7
}

#[derive(forze_core::Document)]
#[document_spec(name = "parts", cache(name = "parts"), unique(sku))]
#[forze(validate)]
pub struct Part {
    /// The display name; `displayName` in JSON, `title` accepted too.
    #[serde(rename = "displayName", alias = "title")]
    pub name: String,
    pub price: f64,
    pub weight: Option<f32>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[forze(read_only)]
    pub sku: String,
    #[forze(skip_create)]
    pub shipped: Option<bool>,
    #[forze(skip_create)]
    #[serde(default = "default_stock")]
    pub stock: u32,
}

impl Validate for PartCreate {
    fn validate(&self, errors: &mut ValidationErrors) {
        errors.check(
            !self.name.trim().is_empty(),
            "displayName",
            "must not be empty",
        );
        errors.check(self.price >= 0.0, "price", "must be zero or more");
        errors.check(self.sku.len() == 4, "sku", "must be 4 characters");
    }
}

impl Validate for PartUpdate {
    fn validate(&self, errors: &mut ValidationErrors) {
        if let Some(name) = &self.name {
            errors.check(!name.trim().is_empty(), "displayName", "must not be empty");
        }
        if let Some(price) = self.price {
            errors.check(price >= 0.0, "price", "must be zero or more");
        }
    }
}

/// Floats without `#[forze(validate)]`: the finite check runs anyway.
#[derive(forze_core::Document)]
#[document_spec(name = "gauges")]
pub struct Gauge {
    pub single: f32,
    pub double: f64,
    pub maybe_single: Option<f32>,
    pub maybe_double: Option<f64>,
}

fn runtime() -> ExecutionRuntime {
    let module = MemoryDepsModule::new()
        .document("parts")
        .cache("parts")
        .document("gauges");
    ExecutionRuntime::new(
        DepsRegistry::from_modules([module.boxed()])
            .freeze()
            .expect("deps"),
        LifecyclePlan::new().freeze().expect("plan"),
    )
}

fn part(ctx: &ExecutionContext) -> forze_core::DocumentCommand<Part> {
    ctx.document().command(&PART_SPEC).expect("command")
}

fn json_error<T: serde::de::DeserializeOwned + std::fmt::Debug>(json: &str) -> String {
    serde_json::from_str::<T>(json)
        .expect_err("rejected")
        .to_string()
}

#[test]
fn unknown_keys_are_rejected_naming_the_key_and_the_accepted_ones() {
    let e = json_error::<PartUpdate>(r#"{"prise": 1}"#);
    assert!(
        e.starts_with("unknown field `prise`, expected one of `displayName`, `title`, `price`"),
        "{e}"
    );
    // metadata is not input
    for key in ["id", "rev", "created_at", "last_update_at"] {
        let e = json_error::<PartCreate>(&format!(
            r#"{{"displayName": "a", "price": 1, "sku": "abcd", "{key}": 1}}"#
        ));
        assert!(e.starts_with(&format!("unknown field `{key}`")), "{e}");
    }
    // `read_only` is not in the update DTO, `skip_create` not in the create DTO
    let e = json_error::<PartUpdate>(r#"{"sku": "x"}"#);
    assert!(e.starts_with("unknown field `sku`"), "{e}");
    let e =
        json_error::<PartCreate>(r#"{"displayName": "a", "price": 1, "sku": "abcd", "stock": 3}"#);
    assert!(e.starts_with("unknown field `stock`"), "{e}");
    // the rename replaces the field name in JSON
    let e = json_error::<PartCreate>(r#"{"name": "a", "price": 1, "sku": "abcd"}"#);
    assert!(e.starts_with("unknown field `name`"), "{e}");
}

#[test]
fn rename_alias_and_default_shape_the_json_only() {
    let create: PartCreate =
        serde_json::from_str(r#"{"title": "bolt", "price": 1.5, "sku": "B001"}"#).expect("alias");
    assert_eq!(create.name, "bolt");
    assert!(
        create.tags.is_empty(),
        "`#[serde(default)]` fills an omitted key"
    );
    let json = serde_json::to_value(&create).expect("serialize");
    assert_eq!(json["displayName"], "bolt");
    assert!(json.get("name").is_none());
    // the column is the field name
    let name = Part::FIELDS
        .iter()
        .find(|f| f.name == "name")
        .expect("name");
    assert_eq!(name.json_name, "displayName");
    let price = Part::FIELDS
        .iter()
        .find(|f| f.name == "price")
        .expect("price");
    assert_eq!(price.json_name, "price");
    // the read model and the update DTO use the JSON key as well
    let update = PartUpdate {
        name: Some("nut".into()),
        ..PartUpdate::default()
    };
    assert_eq!(
        serde_json::to_string(&update).expect("serialize"),
        r#"{"displayName":"nut"}"#
    );
}

#[tokio::test]
async fn renamed_fields_are_stored_under_the_field_name_and_read_back() {
    let runtime = runtime();
    let ctx = runtime.context();
    let created = part(&ctx)
        .create(PartCreate {
            name: "bolt".into(),
            price: 1.5,
            weight: Some(0.25),
            tags: vec!["m4".into()],
            sku: "B001".into(),
        })
        .await
        .expect("create");
    assert_eq!(created.name, "bolt");
    // `skip_create` fields hold their defaults: `None`, and `default_stock()`
    assert_eq!((created.shipped, created.stock), (None, 7));
    let read_json = serde_json::to_value(&created).expect("serialize");
    assert_eq!(read_json["displayName"], "bolt");

    let query = ctx.document().query(&PART_SPEC).expect("query");
    // filters use the column (the field name) and the field constant
    let found = query
        .find()
        .filter(Part::NAME.eq("bolt"))
        .all()
        .await
        .expect("find");
    assert_eq!(found.len(), 1);
    // read through the cache twice (fill, then hit): the cached read model round-trips
    assert_eq!(query.get(created.id).await.expect("get").name, "bolt");
    assert_eq!(query.get(created.id).await.expect("get").name, "bolt");
    // a lookup by a unique field checks the read model holds the value (rekeyed by column)
    let by_sku = query.find_by(Part::SKU, "B001").await.expect("find_by");
    assert_eq!(by_sku.map(|p| p.id), Some(created.id));

    // update by the JSON key; `skip_create` fields are updatable
    let patch: PartUpdate =
        serde_json::from_str(r#"{"displayName": "nut", "shipped": true, "stock": 3}"#)
            .expect("patch");
    let updated = part(&ctx)
        .update(created.id, created.rev, patch)
        .await
        .expect("update");
    assert_eq!(
        (
            updated.name.as_str(),
            updated.shipped,
            updated.stock,
            updated.sku.as_str()
        ),
        ("nut", Some(true), 3, "B001")
    );
    let renamed = query
        .find()
        .filter(Part::NAME.eq("nut"))
        .count()
        .await
        .expect("count");
    assert_eq!(renamed, 1);
}

#[tokio::test]
async fn validation_names_every_failing_field_and_nothing_is_written() {
    let runtime = runtime();
    let ctx = runtime.context();
    let err = part(&ctx)
        .create(PartCreate {
            name: " ".into(),
            price: -1.0,
            weight: None,
            tags: vec![],
            sku: "toolong".into(),
        })
        .await
        .expect_err("invalid");
    assert_eq!(err.kind(), ErrorKind::Validation);
    assert_eq!(
        err.to_string(),
        "invalid create input of document `parts`: `displayName` must not be empty; `price` \
         must be zero or more; `sku` must be 4 characters"
    );
    let problems = err.validation_errors().expect("per-field problems");
    assert_eq!(problems.fields(), ["displayName", "price", "sku"]);
    let query = ctx.document().query(&PART_SPEC).expect("query");
    assert_eq!(query.count().await.expect("count"), 0);

    let ok = part(&ctx)
        .create(PartCreate {
            name: "bolt".into(),
            price: 1.0,
            weight: None,
            tags: vec![],
            sku: "B001".into(),
        })
        .await
        .expect("valid");
    let err = part(&ctx)
        .update(
            ok.id,
            ok.rev,
            PartUpdate {
                name: Some(String::new()),
                price: Some(-2.0),
                ..PartUpdate::default()
            },
        )
        .await
        .expect_err("invalid");
    assert_eq!(err.kind(), ErrorKind::Validation);
    assert_eq!(
        err.validation_errors().map(ValidationErrors::fields),
        Some(vec!["displayName", "price"])
    );
    assert!(
        err.to_string()
            .starts_with("invalid update input of document `parts`: "),
        "{err}"
    );
    let err = part(&ctx)
        .update_many(vec![(
            ok.id,
            ok.rev,
            PartUpdate {
                price: Some(-2.0),
                ..PartUpdate::default()
            },
        )])
        .await
        .expect_err("invalid");
    assert_eq!(err.kind(), ErrorKind::Validation);
    assert_eq!(
        query.get(ok.id).await.expect("get").rev,
        ok.rev,
        "unchanged"
    );
}

#[tokio::test]
async fn nan_and_infinite_floats_are_rejected_by_name_f32_f64_option_or_not() {
    let runtime = runtime();
    let ctx = runtime.context();
    let gauges = ctx.document().command(&GAUGE_SPEC).expect("command");
    let err = gauges
        .create(GaugeCreate {
            single: f32::NAN,
            double: f64::INFINITY,
            maybe_single: Some(f32::NEG_INFINITY),
            maybe_double: Some(f64::NAN),
        })
        .await
        .expect_err("non-finite");
    assert_eq!(err.kind(), ErrorKind::Validation);
    let problems = err.validation_errors().expect("per-field problems");
    assert_eq!(
        problems.fields(),
        ["single", "double", "maybe_single", "maybe_double"]
    );
    let message = err.to_string();
    for expected in [
        "`single` is NaN",
        "`double` is infinity",
        "`maybe_single` is -infinity",
        "`maybe_double` is NaN",
        "only finite numbers can be stored",
    ] {
        assert!(
            message.contains(expected),
            "missing `{expected}` in {message}"
        );
    }
    assert!(!message.contains("null"), "{message}");
    // one bad field among good ones is named alone; `None` is fine
    let err = gauges
        .create(GaugeCreate {
            single: 1.0,
            double: f64::NAN,
            maybe_single: None,
            maybe_double: Some(2.0),
        })
        .await
        .expect_err("non-finite");
    assert_eq!(
        err.validation_errors().map(ValidationErrors::fields),
        Some(vec!["double"])
    );

    let ok = gauges
        .create(GaugeCreate {
            single: 1.0,
            double: 2.0,
            maybe_single: None,
            maybe_double: None,
        })
        .await
        .expect("finite");
    let err = gauges
        .update(
            ok.id,
            ok.rev,
            GaugeUpdate {
                single: Some(f32::INFINITY),
                maybe_double: Some(Some(f64::NAN)),
                ..GaugeUpdate::default()
            },
        )
        .await
        .expect_err("non-finite");
    assert_eq!(
        err.validation_errors().map(ValidationErrors::fields),
        Some(vec!["single", "maybe_double"])
    );
    // clearing a nullable float is not a NaN
    gauges
        .update(
            ok.id,
            ok.rev,
            GaugeUpdate {
                maybe_single: Some(None),
                ..GaugeUpdate::default()
            },
        )
        .await
        .expect("clear");
}
