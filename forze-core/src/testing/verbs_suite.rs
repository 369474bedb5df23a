//! The conformance suite of the batch and conditional write verbs of [`DocumentStore`]:
//! `upsert`, `ensure_many`, `touch_many`, `delete_at`, `update_matching`.

use std::sync::Arc;

use chrono::{DateTime, Duration as TimeDelta, SubsecRound, Utc};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::error::{ErrorKind, Result};
use crate::model::{DocumentMeta, Row};
use crate::query::{Filter, Op, Predicate, Select};
use crate::store::{DocumentBackend, DocumentBinding, DocumentStore, StoreCx, Upsert};

use super::product::PRODUCT_FIELDS;

/// Rows in a batch larger than Postgres' 65535 bind parameters would allow if each row bound
/// its own (three fields and four metadata columns per row).
const LARGE_BATCH: usize = 10_000;

fn fields(name: &str, price: i32, note: Option<&str>) -> Map<String, Value> {
    let Value::Object(map) = json!({ "name": name, "price": price, "note": note }) else {
        unreachable!("a json object literal")
    };
    map
}

fn t0() -> DateTime<Utc> {
    (Utc::now() - TimeDelta::days(1)).trunc_subsecs(6)
}

fn row(id: Uuid, at: DateTime<Utc>, name: &str, price: i32) -> Row {
    Row::new(DocumentMeta::new(id, at), fields(name, price, None))
}

#[track_caller]
fn expect_err<T: std::fmt::Debug>(result: Result<T>, kind: ErrorKind, mentions: &[String]) {
    let err = result.expect_err("expected an error");
    assert_eq!(err.kind(), kind, "unexpected error kind: {err}");
    for m in mentions {
        assert!(
            err.to_string().contains(m.as_str()),
            "`{err}` should mention `{m}`"
        );
    }
}

async fn price_of(store: &dyn DocumentStore, cx: &StoreCx, id: Uuid) -> Option<(i64, i32)> {
    store
        .get(cx, id, false)
        .await
        .expect("get")
        .map(|r| (r.meta.rev, r.fields["price"].as_i64().unwrap_or(-1) as i32))
}

fn filter(f: Filter) -> Predicate {
    Select::new("products", PRODUCT_FIELDS, Some(&f), &[])
        .expect("a valid filter")
        .filter
        .expect("a filter")
}

/// The batch and conditional write verbs, on the store `backend` binds for `products` (the
/// schema of [`store_conformance`](super::store_conformance); must be **empty**):
///
/// - `upsert` inserts absent ids as given and replaces the fields of present ones at the
///   expected rev (bumping rev and `last_update_at`, keeping `created_at`; nothing written if
///   nothing changes); a stale rev is `RevisionMismatch` naming the id and rolls back the whole
///   batch; `rev = 0` on a present id is a mismatch;
/// - `ensure_many` inserts the absent ids and returns the others unchanged;
/// - `touch_many` bumps every id, `NotFound` naming missing ids and touching none;
/// - `delete_at` deletes at the expected revs only, `NotFound`/`RevisionMismatch` naming the id
///   and deleting none;
/// - `update_matching` changes exactly the matching rows whose fields differ, returning their
///   ids and new revs;
/// - repeated ids are `Validation` naming them, empty batches are no-ops, and a batch of
///   `10_000` rows (over Postgres' bind-parameter limit if bound per row) is accepted.
///
/// # Panics
///
/// On the first broken rule. Run it under a watchdog.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use forze_core::memory::MemoryDocumentStore;
/// use forze_core::testing::{watchdog, write_verbs_conformance};
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// watchdog(write_verbs_conformance(Arc::new(MemoryDocumentStore::new()))).await;
/// # });
/// ```
pub async fn write_verbs_conformance(backend: Arc<dyn DocumentBackend>) {
    let store = backend
        .bind(&DocumentBinding::new("products", PRODUCT_FIELDS))
        .expect("the backend binds the `products` schema");
    let cx = StoreCx::none();
    assert_eq!(
        store.count(&cx, None).await.expect("count"),
        0,
        "write_verbs_conformance needs an empty `products` store"
    );
    upsert(&*store, &cx).await;
    ensure_many(&*store, &cx).await;
    touch_many(&*store, &cx).await;
    delete_at(&*store, &cx).await;
    update_matching(&*store, &cx).await;
    bad_input(&*store, &cx).await;
    large_batches(&*store, &cx).await;
}

async fn upsert(store: &dyn DocumentStore, cx: &StoreCx) {
    let t = t0();
    let later = t + TimeDelta::seconds(5);
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    let out = store
        .upsert(
            cx,
            vec![
                Upsert::new(row(a, t, "A", 1), 0),
                Upsert::new(row(b, t, "B", 2), 7),
            ],
        )
        .await
        .expect("upsert inserts");
    assert_eq!(out.len(), 2);
    assert!(out.iter().all(|u| u.inserted && u.changed));
    assert_eq!(out[0].row, row(a, t, "A", 1), "inserted as given, in order");
    assert_eq!(out[1].row.meta.id, b);

    // a at rev 1 changes, b at rev 1 is the same: only a is written
    let out = store
        .upsert(
            cx,
            vec![
                Upsert::new(row(a, later, "A", 10), 1),
                Upsert::new(row(b, later, "B", 2), 1),
            ],
        )
        .await
        .expect("upsert updates");
    assert!(!out[0].inserted && out[0].changed);
    assert_eq!(out[0].row.meta.rev, 2);
    assert_eq!(out[0].row.meta.last_update_at, later);
    assert_eq!(out[0].row.meta.created_at, t, "created_at is kept");
    assert_eq!(out[0].row.fields, fields("A", 10, None));
    assert!(
        !out[1].inserted && !out[1].changed && out[1].row.meta.rev == 1,
        "an upsert that changes nothing writes nothing"
    );
    assert_eq!(out[1].row.meta.last_update_at, t);

    // a full replacement: a nullable field left out becomes null
    store
        .upsert(
            cx,
            vec![Upsert::new(
                Row::new(DocumentMeta::new(b, later), fields("B", 2, Some("n"))),
                1,
            )],
        )
        .await
        .expect("set the note");
    let mut no_note = fields("B", 2, None);
    no_note.remove("note");
    let out = store
        .upsert(
            cx,
            vec![Upsert::new(
                Row::new(DocumentMeta::new(b, later), no_note),
                2,
            )],
        )
        .await
        .expect("replace without the note");
    assert_eq!(out[0].row.fields["note"], Value::Null);
    assert_eq!(out[0].row.meta.rev, 3);

    // a stale rev: RevisionMismatch naming the id, and the batch is rolled back
    let c = Uuid::now_v7();
    expect_err(
        store
            .upsert(
                cx,
                vec![
                    Upsert::new(row(c, t, "C", 3), 0),
                    Upsert::new(row(a, later, "A", 99), 1),
                ],
            )
            .await,
        ErrorKind::RevisionMismatch,
        &[a.to_string()],
    );
    assert_eq!(
        store.get(cx, c, false).await.expect("get"),
        None,
        "a failed upsert batch inserts nothing"
    );
    assert_eq!(price_of(store, cx, a).await, Some((2, 10)));
    expect_err(
        store
            .upsert(cx, vec![Upsert::new(row(a, t, "A", 5), 0)])
            .await,
        ErrorKind::RevisionMismatch,
        &[a.to_string()],
    );
    store.delete(cx, &[a, b]).await.expect("clean up");
}

async fn ensure_many(store: &dyn DocumentStore, cx: &StoreCx) {
    let t = t0();
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    store
        .insert(cx, vec![row(a, t, "A", 1)])
        .await
        .expect("insert");
    let out = store
        .ensure_many(cx, vec![row(b, t, "B", 2), row(a, t, "other", 9)])
        .await
        .expect("ensure_many");
    assert_eq!(out.len(), 2);
    assert_eq!(
        out[0],
        (row(b, t, "B", 2), true),
        "the absent one is inserted"
    );
    assert_eq!(
        out[1],
        (row(a, t, "A", 1), false),
        "the present one is unchanged"
    );
    assert_eq!(price_of(store, cx, a).await, Some((1, 1)));
    store.delete(cx, &[a, b]).await.expect("clean up");
}

async fn touch_many(store: &dyn DocumentStore, cx: &StoreCx) {
    let t = t0();
    let later = t + TimeDelta::seconds(2);
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    store
        .insert(cx, vec![row(a, t, "A", 1), row(b, t, "B", 2)])
        .await
        .expect("insert");
    let out = store.touch_many(cx, &[b, a], later).await.expect("touch");
    assert_eq!(
        out.iter().map(|r| r.meta.id).collect::<Vec<_>>(),
        [b, a],
        "in input order"
    );
    assert!(
        out.iter()
            .all(|r| r.meta.rev == 2 && r.meta.last_update_at == later)
    );
    assert_eq!(out[1].fields, fields("A", 1, None), "fields are kept");
    let missing = Uuid::now_v7();
    expect_err(
        store.touch_many(cx, &[a, missing], later).await,
        ErrorKind::NotFound,
        &[missing.to_string()],
    );
    assert_eq!(
        price_of(store, cx, a).await,
        Some((2, 1)),
        "a failed touch_many touches nothing"
    );
    store.delete(cx, &[a, b]).await.expect("clean up");
}

async fn delete_at(store: &dyn DocumentStore, cx: &StoreCx) {
    let t = t0();
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    store
        .insert(cx, vec![row(a, t, "A", 1), row(b, t, "B", 2)])
        .await
        .expect("insert");
    store.touch(cx, b, t).await.expect("b at rev 2");
    expect_err(
        store.delete_at(cx, &[(a, 1), (b, 1)]).await,
        ErrorKind::RevisionMismatch,
        &[b.to_string()],
    );
    assert!(
        store.get(cx, a, false).await.expect("get").is_some(),
        "a stale delete_at batch deletes nothing"
    );
    let missing = Uuid::now_v7();
    expect_err(
        store.delete_at(cx, &[(a, 1), (missing, 1)]).await,
        ErrorKind::NotFound,
        &[missing.to_string()],
    );
    assert!(store.get(cx, a, false).await.expect("get").is_some());
    store
        .delete_at(cx, &[(a, 1), (b, 2)])
        .await
        .expect("delete at the stored revs");
    assert_eq!(store.count(cx, None).await.expect("count"), 0);
}

async fn update_matching(store: &dyn DocumentStore, cx: &StoreCx) {
    let t = t0();
    let later = t + TimeDelta::seconds(4);
    let ids: Vec<Uuid> = (0..4).map(|_| Uuid::now_v7()).collect();
    store
        .insert(
            cx,
            vec![
                row(ids[0], t, "a", 10),
                row(ids[1], t, "b", 20),
                row(ids[2], t, "c", 30),
                row(ids[3], t, "d", 20),
            ],
        )
        .await
        .expect("insert");
    // price >= 20 -> 20: ids[1] and ids[3] already hold it (not written), ids[2] changes
    let Value::Object(set) = json!({ "price": 20 }) else {
        unreachable!("an object")
    };
    let changed = store
        .update_matching(cx, &filter(Filter::field("price", Op::Ge, 20)), set, later)
        .await
        .expect("update_matching");
    assert_eq!(changed, vec![(ids[2], 2)], "only the rows it changed");
    let c = store.get(cx, ids[2], false).await.expect("get").expect("c");
    assert_eq!(
        (c.meta.rev, c.meta.last_update_at, &c.fields["price"]),
        (2, later, &json!(20))
    );
    assert_eq!(price_of(store, cx, ids[1]).await, Some((1, 20)));
    assert_eq!(price_of(store, cx, ids[0]).await, Some((1, 10)));
    // nothing matches: nothing changes
    let Value::Object(set) = json!({ "note": "n" }) else {
        unreachable!("an object")
    };
    let none = store
        .update_matching(
            cx,
            &filter(Filter::field("price", Op::Gt, 1000)),
            set,
            later,
        )
        .await
        .expect("update_matching");
    assert!(none.is_empty());
    // an unknown field is refused, naming it
    let Value::Object(set) = json!({ "colour": "red" }) else {
        unreachable!("an object")
    };
    expect_err(
        store
            .update_matching(cx, &filter(Filter::field("price", Op::Ge, 0)), set, later)
            .await,
        ErrorKind::Validation,
        &["colour".to_owned()],
    );
    store.delete(cx, &ids).await.expect("clean up");
}

async fn bad_input(store: &dyn DocumentStore, cx: &StoreCx) {
    let t = t0();
    let a = Uuid::now_v7();
    assert!(
        store
            .upsert(cx, Vec::new())
            .await
            .expect("empty")
            .is_empty()
    );
    assert!(
        store
            .ensure_many(cx, Vec::new())
            .await
            .expect("empty")
            .is_empty()
    );
    assert!(
        store
            .touch_many(cx, &[], t)
            .await
            .expect("empty")
            .is_empty()
    );
    store.delete_at(cx, &[]).await.expect("empty");
    let dup = [a.to_string()];
    expect_err(
        store
            .upsert(
                cx,
                vec![
                    Upsert::new(row(a, t, "A", 1), 0),
                    Upsert::new(row(a, t, "A", 2), 0),
                ],
            )
            .await,
        ErrorKind::Validation,
        &dup,
    );
    expect_err(
        store
            .ensure_many(cx, vec![row(a, t, "A", 1), row(a, t, "A", 1)])
            .await,
        ErrorKind::Validation,
        &dup,
    );
    expect_err(
        store.touch_many(cx, &[a, a], t).await,
        ErrorKind::Validation,
        &dup,
    );
    expect_err(
        store.delete_at(cx, &[(a, 1), (a, 1)]).await,
        ErrorKind::Validation,
        &dup,
    );
    assert_eq!(store.count(cx, None).await.expect("count"), 0);
}

async fn large_batches(store: &dyn DocumentStore, cx: &StoreCx) {
    let t = t0();
    let later = t + TimeDelta::seconds(1);
    let ids: Vec<Uuid> = (0..LARGE_BATCH).map(|_| Uuid::now_v7()).collect();
    let rows: Vec<Row> = ids.iter().map(|id| row(*id, t, "bulk", 1)).collect();
    let ensured = store
        .ensure_many(cx, rows)
        .await
        .expect("a large ensure_many");
    assert!(ensured.iter().all(|(_, inserted)| *inserted));
    let upserts: Vec<Upsert> = ids
        .iter()
        .map(|id| Upsert::new(row(*id, later, "bulk", 2), 1))
        .collect();
    let out = store.upsert(cx, upserts).await.expect("a large upsert");
    assert!(out.iter().all(|u| u.changed && u.row.meta.rev == 2));
    let touched = store
        .touch_many(cx, &ids, later)
        .await
        .expect("a large touch");
    assert_eq!(touched.len(), LARGE_BATCH);
    let expected: Vec<(Uuid, i64)> = ids.iter().map(|id| (*id, 3)).collect();
    store
        .delete_at(cx, &expected)
        .await
        .expect("a large delete_at");
    assert_eq!(store.count(cx, None).await.expect("count"), 0);
}
