//! Every operator of the typed filters on every field kind, with plain literals (an integer
//! literal for every integer field, a float literal for `f32` and `f64`, `&str` for text), the
//! metadata constants, and `Option` fields; every condition runs through a query on the
//! in-memory store, so the values it carries pass the run-time check of their field.

use chrono::{DateTime, Utc};
use forze_core::memory::MemoryDepsModule;
use forze_core::prelude::*;
use forze_core::query::Condition;
use forze_core::{DepsRegistry, Document, ExecutionRuntime, LifecyclePlan};
use uuid::Uuid;

#[derive(Document)]
#[document_spec(name = "things", unique(code), index(price desc, name))]
pub struct Thing {
    pub name: String,
    pub note: Option<String>,
    pub tiny: i8,
    pub small: i16,
    pub price: i32,
    pub big: i64,
    pub byte: u8,
    pub word: u16,
    pub code: u32,
    pub ratio: f32,
    pub weight: f64,
    pub active: bool,
    pub owner: Uuid,
    pub due: DateTime<Utc>,
    pub stock: Option<i64>,
    pub parent: Option<Uuid>,
    pub closed: Option<DateTime<Utc>>,
    pub score: Option<f64>,
    pub tags: Vec<String>,
    pub extra: Option<Vec<u8>>,
}

/// Every comparison on one field, with the literal `$v` (and `$w` for the lists).
macro_rules! compare {
    ($field:expr, $v:expr, $w:expr) => {
        vec![
            $field.eq($v),
            $field.ne($v),
            $field.lt($v),
            $field.le($v),
            $field.gt($v),
            $field.ge($v),
            $field.is_in([$v, $w]),
            $field.not_in([$v, $w]),
            $field.is_in(Vec::from([$v, $w]).into_iter().take(0)),
        ]
    };
}

fn conditions() -> Vec<Condition<Thing>> {
    let now = Utc::now();
    let id = Uuid::nil();
    let text = String::from("owned");
    let mut all = Vec::new();
    all.extend(compare!(Thing::NAME, "x", "y"));
    all.extend(compare!(Thing::NAME, &text, &text));
    all.extend(compare!(Thing::NAME, String::from("x"), String::from("y")));
    all.extend(compare!(Thing::NOTE, "x", "y"));
    all.extend(compare!(Thing::TINY, -1, 2));
    all.extend(compare!(Thing::SMALL, 300, 2));
    all.extend(compare!(Thing::PRICE, 10, 20));
    all.extend(compare!(Thing::BIG, 5_000_000_000, 2));
    all.extend(compare!(Thing::BYTE, 5, 255));
    all.extend(compare!(Thing::WORD, 60_000, 2));
    all.extend(compare!(Thing::CODE, 4_000_000_000, 2));
    all.extend(compare!(Thing::RATIO, 0.5, 1.5));
    all.extend(compare!(Thing::WEIGHT, 0.5, 2.0));
    all.extend(compare!(Thing::ACTIVE, true, false));
    all.extend(compare!(Thing::OWNER, id, Uuid::max()));
    all.extend(compare!(Thing::DUE, now, now));
    all.extend(compare!(Thing::STOCK, 3, 4));
    all.extend(compare!(Thing::PARENT, id, id));
    all.extend(compare!(Thing::CLOSED, now, now));
    all.extend(compare!(Thing::SCORE, 1.0, 2.5));
    // metadata
    all.extend(compare!(Thing::ID, id, id));
    all.extend(compare!(Thing::REV, 1, 2));
    all.extend(compare!(Thing::CREATED_AT, now, now));
    all.extend(compare!(Thing::LAST_UPDATE_AT, now, now));
    // text
    for field in [Thing::NAME] {
        all.push(field.starts_with("x"));
        all.push(field.starts_with_ci(String::from("X")));
        all.push(field.contains("x"));
        all.push(field.contains_ci("X"));
    }
    all.push(Thing::NOTE.starts_with("x"));
    all.push(Thing::NOTE.contains_ci("x"));
    // nulls, JSON fields included
    all.push(Thing::NOTE.is_null());
    all.push(Thing::STOCK.is_not_null());
    all.push(Thing::PARENT.is_null());
    all.push(Thing::CLOSED.is_not_null());
    all.push(Thing::SCORE.is_null());
    all.push(Thing::EXTRA.is_null());
    all.push(Thing::EXTRA.is_not_null());
    // combinators
    all.push(Thing::PRICE.lt(10) & Thing::NAME.eq("x") | !Thing::ACTIVE.eq(true));
    all.push(Condition::all().and(Thing::BYTE.ge(1)).or(Thing::CODE.le(7)));
    all
}

fn main() {
    let sorts = [
        Thing::NAME.asc(),
        Thing::NOTE.desc(),
        Thing::TINY.asc(),
        Thing::SMALL.asc(),
        Thing::PRICE.desc(),
        Thing::BIG.asc(),
        Thing::BYTE.asc(),
        Thing::WORD.asc(),
        Thing::CODE.asc(),
        Thing::RATIO.asc(),
        Thing::WEIGHT.asc(),
        Thing::ACTIVE.asc(),
        Thing::OWNER.asc(),
        Thing::DUE.asc(),
        Thing::STOCK.desc(),
        Thing::PARENT.asc(),
        Thing::CLOSED.asc(),
        Thing::SCORE.asc(),
        Thing::ID.asc(),
        Thing::REV.desc(),
        Thing::CREATED_AT.asc(),
        Thing::LAST_UPDATE_AT.desc(),
    ];

    // the literals are the field's type: `5` on a u8 field is the number 5
    let byte = Thing::BYTE.eq(5).into_filter();
    assert_eq!(
        serde_json::to_value(&byte).unwrap(),
        serde_json::json!({ "field": "byte", "op": "eq", "value": 5 })
    );

    let runtime = ExecutionRuntime::new(
        DepsRegistry::from_modules([MemoryDepsModule::new().document("things").boxed()])
            .freeze()
            .unwrap(),
        LifecyclePlan::new().freeze().unwrap(),
    );
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let ctx = runtime.context();
            let things = ctx.document().query(&THING_SPEC).unwrap();
            for condition in conditions() {
                let shown = format!("{condition:?}");
                let found = things.find().filter(condition).all().await;
                assert!(found.is_ok(), "{shown}: {found:?}");
            }
            // at most 8 sort keys a query (`id` is always the last)
            for keys in sorts.chunks(7) {
                let found = things.find().sort_by(keys.iter().cloned().map(|k| k.into_sort())).all().await;
                assert!(found.is_ok(), "{keys:?}: {found:?}");
            }
        });
}
