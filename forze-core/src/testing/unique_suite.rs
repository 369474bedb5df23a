//! The unique-constraint conformance suite: declared `unique(..)` constraints hold on every
//! backend, with one error, also between concurrent writers.

use std::sync::Arc;

use chrono::{DateTime, SubsecRound, Utc};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::error::{Error, ErrorKind, Result};
use crate::model::{DocumentMeta, FieldKind, FieldSchema, Row};
use crate::query::SortOrder;
use crate::spec::{IndexField, IndexSpec};
use crate::store::{
    DocumentBackend, DocumentBinding, DocumentStore, Patch, StoreCx, TransactionManager,
};

/// The document name the suite binds.
pub const SKU_DOCUMENT: &str = "skus";

/// The fields of the suite's document: `sku` text, `shop` text, `code` nullable text, `qty` int.
pub const SKU_FIELDS: &[FieldSchema] = &[
    FieldSchema::new("sku", FieldKind::Text, false),
    FieldSchema::new("shop", FieldKind::Text, false),
    FieldSchema::new("code", FieldKind::Text, true),
    FieldSchema::new("qty", FieldKind::Int, false),
];

/// `unique(sku), unique(shop, code), index(qty desc, id)`.
pub const SKU_INDEXES: &[IndexSpec] = &[
    IndexSpec::__new_unchecked(&[IndexField::__new_unchecked("sku", SortOrder::Asc)], true),
    IndexSpec::__new_unchecked(
        &[
            IndexField::__new_unchecked("shop", SortOrder::Asc),
            IndexField::__new_unchecked("code", SortOrder::Asc),
        ],
        true,
    ),
    IndexSpec::__new_unchecked(
        &[
            IndexField::__new_unchecked("qty", SortOrder::Desc),
            IndexField::__new_unchecked("id", SortOrder::Asc),
        ],
        false,
    ),
];

fn row(sku: &str, shop: &str, code: Option<&str>) -> Row {
    let Value::Object(fields) = json!({ "sku": sku, "shop": shop, "code": code, "qty": 1 }) else {
        unreachable!("a json object literal")
    };
    Row::new(DocumentMeta::new(Uuid::now_v7(), now()), fields)
}

fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

fn set(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => unreachable!("a json object literal"),
    }
}

/// The error of breaking `SKU_INDEXES[index]`.
fn conflict(index: usize) -> Error {
    SKU_INDEXES[index].conflict(SKU_DOCUMENT)
}

#[track_caller]
fn expect_conflict<T: std::fmt::Debug>(result: Result<T>, index: usize, what: &str) {
    let err = result.expect_err(what);
    let expected = conflict(index);
    assert_eq!(err.kind(), ErrorKind::Conflict, "{what}: {err}");
    assert_eq!(err.message(), expected.message(), "{what}");
}

async fn skus(store: &dyn DocumentStore) -> Vec<String> {
    let cx = StoreCx::none();
    let select = crate::query::Select::new(SKU_DOCUMENT, SKU_FIELDS, None, &[]).expect("a query");
    let rows = store.find(&cx, &select).await.expect("list the rows");
    let mut skus: Vec<String> = rows
        .iter()
        .filter_map(|r| r.fields.get("sku")?.as_str().map(str::to_owned))
        .collect();
    skus.sort();
    skus
}

/// The unique-constraint contract, on the store `backend` binds for [`SKU_DOCUMENT`] with
/// [`SKU_FIELDS`] and [`SKU_INDEXES`] (`unique(sku)`, `unique(shop, code)`); with `manager`, also
/// across transactions.
///
/// That store must be **empty** when the suite starts (for Postgres: a fresh table with the
/// constraints, see `forze_postgres::schema_sql`). Checked: an insert (single or batch, or a
/// batch clashing with itself), an `ensure` of a new id and an update that would give two
/// documents the same values fail with exactly [`IndexSpec::conflict`] and change nothing; a
/// null in a constrained field clashes with nothing; a document keeps its own value; each patch
/// of a batch update is checked against the rows the earlier ones left (swapping two values in
/// one batch conflicts); of concurrent creates with one value exactly one succeeds, with or
/// without transactions.
///
/// # Panics
///
/// On the first broken rule, with a message naming it. Run it under a watchdog.
pub async fn unique_conformance(
    backend: Arc<dyn DocumentBackend>,
    manager: Option<Arc<dyn TransactionManager>>,
) {
    let binding = DocumentBinding::new(SKU_DOCUMENT, SKU_FIELDS).with_indexes(SKU_INDEXES);
    let store = backend.bind(&binding).expect("the backend binds `skus`");
    let cx = StoreCx::none();

    // insert
    let a = row("a", "s1", Some("x"));
    store.insert(&cx, vec![a.clone()]).await.expect("insert a");
    expect_conflict(
        store.insert(&cx, vec![row("a", "s2", None)]).await,
        0,
        "a second `a`",
    );
    expect_conflict(
        store
            .insert(&cx, vec![row("b", "s1", None), row("c", "s1", Some("x"))])
            .await,
        1,
        "(s1, x) again, in a batch",
    );
    expect_conflict(
        store
            .insert(&cx, vec![row("d", "s1", None), row("d", "s2", None)])
            .await,
        0,
        "a batch repeating `d`",
    );
    assert_eq!(skus(&*store).await, ["a"], "failed inserts insert nothing");
    // nulls clash with nothing; the same code in another shop is another key
    let nulls = vec![row("n1", "s1", None), row("n2", "s1", None)];
    store.insert(&cx, nulls).await.expect("two null codes");
    let b = row("b", "s2", Some("x"));
    store.insert(&cx, vec![b.clone()]).await.expect("(s2, x)");

    // ensure
    let (kept, inserted) = store.ensure(&cx, a.clone()).await.expect("ensure a");
    assert!(
        !inserted && kept == a,
        "ensure of an existing id returns it"
    );
    expect_conflict(
        store.ensure(&cx, row("a", "s9", None)).await,
        0,
        "ensure of a new id with a taken sku",
    );

    // update
    let to_a = Patch::new(b.meta.id, 1, set(json!({ "sku": "a" })));
    expect_conflict(
        store.update(&cx, vec![to_a], now()).await,
        0,
        "b renamed to a",
    );
    let same = Patch::new(a.meta.id, 1, set(json!({ "sku": "a", "qty": 2 })));
    let updated = store
        .update(&cx, vec![same], now())
        .await
        .expect("a keeps its own sku");
    assert_eq!(updated[0].row.meta.rev, 2);
    let swap = vec![
        Patch::new(a.meta.id, 2, set(json!({ "sku": "b" }))),
        Patch::new(b.meta.id, 1, set(json!({ "sku": "a" }))),
    ];
    expect_conflict(
        store.update(&cx, swap, now()).await,
        0,
        "a swap in one batch",
    );
    let stored = store.get(&cx, b.meta.id, false).await.expect("get b");
    assert_eq!(
        stored.map(|r| (r.meta.rev, r.fields["sku"].clone())),
        Some((1, json!("b"))),
        "a failed update changes nothing"
    );
    let free = Patch::new(b.meta.id, 1, set(json!({ "sku": "b2", "code": null })));
    store
        .update(&cx, vec![free], now())
        .await
        .expect("b takes a free sku and clears its code");

    // concurrent creates: exactly one wins, every time
    for round in 0..8 {
        let sku = format!("race{round}");
        let (x, y) = (row(&sku, "r", None), row(&sku, "r", None));
        let insert = tokio::spawn({
            let store = Arc::clone(&store);
            async move { store.insert(&StoreCx::none(), vec![x]).await.map(|_| ()) }
        });
        let ensure = tokio::spawn({
            let store = Arc::clone(&store);
            async move {
                match store.ensure(&StoreCx::none(), y).await? {
                    (_, true) => Ok(()),
                    (_, false) => Err(Error::new(
                        ErrorKind::Internal,
                        "ensure of a new id returned an existing row",
                    )),
                }
            }
        });
        let (rx, ry) = (
            insert.await.expect("the insert task"),
            ensure.await.expect("the ensure task"),
        );
        let outcomes = [rx, ry];
        let won = outcomes.iter().filter(|r| r.is_ok()).count();
        assert_eq!(won, 1, "round {round}: {outcomes:?}");
        for err in outcomes.into_iter().filter_map(Result::err) {
            assert_eq!(err.message(), conflict(0).message(), "round {round}");
        }
    }

    let Some(manager) = manager else {
        return;
    };
    // concurrent transactions: exactly one commits
    for round in 0..4 {
        let sku = format!("txrace{round}");
        let one = |r: Row| {
            let (store, manager) = (Arc::clone(&store), Arc::clone(&manager));
            async move {
                let tx = manager.begin().await?;
                let cx = StoreCx::in_tx(Arc::clone(&tx));
                let result = match store.insert(&cx, vec![r]).await {
                    Ok(_) => tx.commit().await,
                    Err(e) => Err(e),
                };
                if result.is_err() {
                    let _ = tx.rollback().await;
                }
                result
            }
        };
        let first = tokio::spawn(one(row(&sku, "t", None)));
        let second = tokio::spawn(one(row(&sku, "t", None)));
        let (rx, ry) = (
            first.await.expect("the first transaction"),
            second.await.expect("the second transaction"),
        );
        let outcomes = [rx, ry];
        let won = outcomes.iter().filter(|r| r.is_ok()).count();
        assert_eq!(won, 1, "tx round {round}: {outcomes:?}");
        for err in outcomes.into_iter().filter_map(Result::err) {
            assert_eq!(err.message(), conflict(0).message(), "tx round {round}");
        }
        let count = skus(&*store).await.iter().filter(|s| **s == sku).count();
        assert_eq!(count, 1, "tx round {round}: one `{sku}` stored");
    }
}
