//! The `DocumentStore` conformance suite: the contract every document backend keeps, checked on
//! untyped rows of the test [`Product`](super::Product) schema.

use std::sync::Arc;

use chrono::{DateTime, Duration as TimeDelta, SubsecRound, Utc};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::error::{ErrorKind, Result};
use crate::model::{DocumentMeta, Row};
use crate::query::{Select, Sort};
use crate::store::{
    DocumentBackend, DocumentBinding, DocumentStore, Patch, StoreCx, TransactionManager,
};

use super::product::PRODUCT_FIELDS;

fn fields(name: &str, price: i32, note: Option<&str>) -> Map<String, Value> {
    let Value::Object(map) = json!({ "name": name, "price": price, "note": note }) else {
        unreachable!("a json object literal")
    };
    map
}

fn patch(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => panic!("patch literal must be an object"),
    }
}

/// A fixed base time at microsecond precision (what every backend keeps).
fn t0() -> DateTime<Utc> {
    (Utc::now() - TimeDelta::days(1)).trunc_subsecs(6)
}

fn row(id: Uuid, at: DateTime<Utc>, name: &str, price: i32, note: Option<&str>) -> Row {
    Row::new(DocumentMeta::new(id, at), fields(name, price, note))
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

fn bind(backend: &Arc<dyn DocumentBackend>) -> Arc<dyn DocumentStore> {
    backend
        .bind(&DocumentBinding::new("products", PRODUCT_FIELDS))
        .expect("the backend binds the `products` schema")
}

/// The [`DocumentStore`] contract, on the store `backend` binds for `products` (fields `name`
/// text, `price` int, `note` nullable text).
///
/// That store must be **empty** when the suite starts (a fresh table or schema); the suite
/// leaves documents behind. Checked: ids and timestamps come from the caller and are returned
/// exactly (microsecond precision); duplicate ids are `Conflict`; missing ids are `NotFound`
/// naming them; stale revs are `RevisionMismatch`; batch inserts, updates and deletes are all or
/// nothing; an update that changes nothing writes nothing and keeps `rev` and `last_update_at`;
/// `null` clears a nullable field; `ensure` never changes an existing document; lists sort by a
/// field or metadata in either direction, then by id **in the same direction**, with `null`
/// after every value in ascending order (first in descending, as Postgres does), then apply
/// `offset` and `limit`; an unknown sort field is `Validation`.
///
/// # Panics
///
/// On the first broken rule, with a message naming it. Run it under a watchdog.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use forze_core::memory::MemoryDocumentStore;
/// use forze_core::testing::{store_conformance, watchdog};
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// watchdog(store_conformance(Arc::new(MemoryDocumentStore::new()))).await;
/// # });
/// ```
pub async fn store_conformance(backend: Arc<dyn DocumentBackend>) {
    let store = bind(&backend);
    let cx = StoreCx::none();
    assert_eq!(
        store.count(&cx, None).await.expect("count"),
        0,
        "store_conformance needs an empty `products` store"
    );
    list_and_count(&*store, &cx).await;
    insert_and_get(&*store, &cx).await;
    ensure(&*store, &cx).await;
    update(&*store, &cx).await;
    update_batch(&*store, &cx).await;
    touch_and_delete(&*store, &cx).await;
}

async fn list_and_count(store: &dyn DocumentStore, cx: &StoreCx) {
    let select =
        |sort: &[Sort]| Select::new("products", PRODUCT_FIELDS, None, sort).expect("a valid query");
    assert!(store.find(cx, &select(&[])).await.expect("find").is_empty());
    let t = t0();
    // Ids in creation order; prices with a tie; one null note.
    let ids: Vec<Uuid> = (0..5).map(|_| Uuid::now_v7()).collect();
    let data = [
        ("a", 30, Some("x")),
        ("b", 10, None),
        ("c", 20, Some("z")),
        ("d", 10, Some("y")),
        ("e", 40, Some("w")),
    ];
    let rows: Vec<Row> = ids
        .iter()
        .zip(data)
        .enumerate()
        .map(|(i, (id, (n, p, note)))| row(*id, t + TimeDelta::seconds(i as i64), n, p, note))
        .collect();
    store.insert(cx, rows).await.expect("insert five rows");
    assert_eq!(store.count(cx, None).await.expect("count"), 5);

    let names = |rows: Vec<Row>| -> Vec<String> {
        rows.iter()
            .map(|r| r.fields["name"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    let list = |q: Select| async move { names(store.find(cx, &q).await.expect("find")) };

    assert_eq!(
        list(select(&[])).await,
        ["a", "b", "c", "d", "e"],
        "default order: by id"
    );
    assert_eq!(
        list(select(&[Sort::asc("price")])).await,
        ["b", "d", "c", "a", "e"],
        "price asc, ties by id asc"
    );
    assert_eq!(
        list(select(&[Sort::desc("price"), Sort::desc("id")])).await,
        ["e", "a", "c", "d", "b"],
        "price desc, ties by id desc"
    );
    assert_eq!(
        list(select(&[Sort::asc("note")])).await,
        ["e", "a", "d", "c", "b"],
        "null sorts last ascending"
    );
    assert_eq!(
        list(select(&[Sort::desc("note")])).await,
        ["b", "c", "d", "a", "e"],
        "null sorts first descending"
    );
    assert_eq!(
        list(select(&[Sort::desc("created_at")])).await,
        ["e", "d", "c", "b", "a"],
        "sort by metadata"
    );
    assert_eq!(
        list(select(&[Sort::asc("price")]).with_offset(1).with_limit(2)).await,
        ["d", "c"],
        "offset then limit"
    );
    assert_eq!(list(select(&[]).with_offset(5)).await, Vec::<String>::new());
    assert_eq!(list(select(&[]).with_limit(0)).await, Vec::<String>::new());
    store.delete(cx, &ids).await.expect("delete the five rows");
    assert_eq!(store.count(cx, None).await.expect("count"), 0);
}

async fn insert_and_get(store: &dyn DocumentStore, cx: &StoreCx) {
    let t = t0();
    let id = Uuid::now_v7();
    let r = row(id, t, "Widget", 10, None);
    let inserted = store.insert(cx, vec![r.clone()]).await.expect("insert");
    assert_eq!(
        inserted,
        vec![r.clone()],
        "insert returns the rows as given"
    );
    assert_eq!(
        store.get(cx, id, false).await.expect("get"),
        Some(r.clone()),
        "get returns the row exactly (ids and timestamps from the caller)"
    );
    assert_eq!(
        store.get(cx, Uuid::now_v7(), false).await.expect("get"),
        None
    );

    expect_err(
        store.insert(cx, vec![row(id, t, "Again", 1, None)]).await,
        ErrorKind::Conflict,
        &[id.to_string()],
    );
    let fresh = Uuid::now_v7();
    expect_err(
        store
            .insert(
                cx,
                vec![row(fresh, t, "New", 1, None), row(id, t, "Dup", 1, None)],
            )
            .await,
        ErrorKind::Conflict,
        &[],
    );
    assert_eq!(
        store.get(cx, fresh, false).await.expect("get"),
        None,
        "a failed batch insert inserts nothing"
    );
    expect_err(
        store
            .insert(
                cx,
                vec![row(fresh, t, "x", 1, None), row(fresh, t, "y", 1, None)],
            )
            .await,
        ErrorKind::Conflict,
        &[],
    );
    assert_eq!(store.get(cx, fresh, false).await.expect("get"), None);

    let other = Uuid::now_v7();
    store
        .insert(cx, vec![row(other, t, "Other", 5, Some("n"))])
        .await
        .expect("insert");
    let mut got = store
        .get_many(cx, &[other, Uuid::now_v7(), id])
        .await
        .expect("get_many");
    got.sort_by_key(|r| r.meta.id);
    let mut ids = vec![id, other];
    ids.sort();
    assert_eq!(
        got.iter().map(|r| r.meta.id).collect::<Vec<_>>(),
        ids,
        "get_many returns the rows that exist"
    );
    assert!(store.get_many(cx, &[]).await.expect("get_many").is_empty());
    store.delete(cx, &[id, other]).await.expect("delete");
}

async fn ensure(store: &dyn DocumentStore, cx: &StoreCx) {
    let t = t0();
    let id = Uuid::now_v7();
    let (stored, inserted) = store
        .ensure(cx, row(id, t, "First", 1, None))
        .await
        .expect("ensure inserts");
    assert!(inserted);
    assert_eq!(stored.fields["name"], "First");
    let (stored, inserted) = store
        .ensure(cx, row(id, t + TimeDelta::seconds(1), "Second", 2, None))
        .await
        .expect("ensure finds");
    assert!(!inserted, "ensure on an existing id does not insert");
    assert_eq!(
        stored.fields["name"], "First",
        "ensure returns the stored document unchanged"
    );
    assert_eq!(stored.meta.rev, 1);
    assert_eq!(stored.meta.created_at, t);
    store.delete(cx, &[id]).await.expect("delete");
}

async fn update(store: &dyn DocumentStore, cx: &StoreCx) {
    let t = t0();
    let later = t + TimeDelta::seconds(10);
    let id = Uuid::now_v7();
    store
        .insert(cx, vec![row(id, t, "Widget", 10, Some("n"))])
        .await
        .expect("insert");

    let out = store
        .update(
            cx,
            vec![Patch::new(id, 1, patch(json!({"price": 12})))],
            later,
        )
        .await
        .expect("update");
    assert_eq!(out.len(), 1);
    let u = &out[0];
    assert!(u.changed);
    assert_eq!(u.row.meta.rev, 2, "a change bumps the rev");
    assert_eq!(
        u.row.meta.last_update_at, later,
        "last_update_at = the caller's now"
    );
    assert_eq!(u.row.meta.created_at, t);
    assert_eq!(
        u.row.fields,
        fields("Widget", 12, Some("n")),
        "absent fields are kept"
    );
    assert_eq!(
        store.get(cx, id, false).await.expect("get").as_ref(),
        Some(&u.row)
    );

    // Stale rev (older or newer), missing id.
    for stale in [1, 3] {
        expect_err(
            store
                .update(
                    cx,
                    vec![Patch::new(id, stale, patch(json!({"price": 1})))],
                    later,
                )
                .await,
            ErrorKind::RevisionMismatch,
            &[id.to_string()],
        );
    }
    let missing = Uuid::now_v7();
    expect_err(
        store
            .update(
                cx,
                vec![Patch::new(missing, 1, patch(json!({"price": 1})))],
                later,
            )
            .await,
        ErrorKind::NotFound,
        &[missing.to_string()],
    );

    // No-op: same values, or nothing at all.
    let much_later = later + TimeDelta::seconds(10);
    for p in [json!({"price": 12, "name": "Widget"}), json!({})] {
        let out = store
            .update(cx, vec![Patch::new(id, 2, patch(p))], much_later)
            .await
            .expect("no-op update");
        assert!(
            !out[0].changed,
            "an update that changes nothing reports no change"
        );
        assert_eq!(out[0].row.meta.rev, 2, "a no-op keeps the rev");
        assert_eq!(
            out[0].row.meta.last_update_at, later,
            "a no-op keeps last_update_at"
        );
    }
    assert_eq!(
        store
            .get(cx, id, false)
            .await
            .expect("get")
            .map(|r| r.meta.rev),
        Some(2)
    );

    // null clears a nullable field.
    let out = store
        .update(
            cx,
            vec![Patch::new(id, 2, patch(json!({"note": null})))],
            much_later,
        )
        .await
        .expect("clear note");
    assert!(out[0].changed);
    assert_eq!(out[0].row.fields["note"], Value::Null);
    assert_eq!(out[0].row.meta.rev, 3);
    store.delete(cx, &[id]).await.expect("delete");
}

async fn update_batch(store: &dyn DocumentStore, cx: &StoreCx) {
    let t = t0();
    let later = t + TimeDelta::seconds(1);
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    store
        .insert(cx, vec![row(a, t, "A", 1, None), row(b, t, "B", 2, None)])
        .await
        .expect("insert");

    expect_err(
        store
            .update(
                cx,
                vec![
                    Patch::new(a, 1, patch(json!({"price": 100}))),
                    Patch::new(b, 7, patch(json!({"price": 200}))),
                ],
                later,
            )
            .await,
        ErrorKind::RevisionMismatch,
        &[b.to_string()],
    );
    let missing = Uuid::now_v7();
    expect_err(
        store
            .update(
                cx,
                vec![
                    Patch::new(a, 1, patch(json!({"price": 100}))),
                    Patch::new(missing, 1, patch(json!({"price": 200}))),
                ],
                later,
            )
            .await,
        ErrorKind::NotFound,
        &[missing.to_string()],
    );
    let stored_a = store
        .get(cx, a, false)
        .await
        .expect("get")
        .expect("a exists");
    assert_eq!(
        (stored_a.meta.rev, &stored_a.fields["price"]),
        (1, &json!(1)),
        "a failed batch update writes nothing"
    );

    let out = store
        .update(
            cx,
            vec![
                Patch::new(a, 1, patch(json!({"price": 100}))),
                Patch::new(b, 1, patch(json!({"price": 2}))),
            ],
            later,
        )
        .await
        .expect("batch update");
    let by_id = |id: Uuid| {
        out.iter()
            .find(|u| u.row.meta.id == id)
            .expect("every patched id is returned")
    };
    assert!(by_id(a).changed && by_id(a).row.meta.rev == 2);
    assert!(
        !by_id(b).changed && by_id(b).row.meta.rev == 1,
        "a no-op row in a batch keeps its rev"
    );
    store.delete(cx, &[a, b]).await.expect("delete");
}

async fn touch_and_delete(store: &dyn DocumentStore, cx: &StoreCx) {
    let t = t0();
    let later = t + TimeDelta::seconds(3);
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    store
        .insert(cx, vec![row(a, t, "A", 1, None), row(b, t, "B", 2, None)])
        .await
        .expect("insert");
    let touched = store.touch(cx, a, later).await.expect("touch");
    assert_eq!(touched.meta.rev, 2, "touch bumps the rev");
    assert_eq!(touched.meta.last_update_at, later);
    assert_eq!(
        touched.fields,
        fields("A", 1, None),
        "touch keeps the fields"
    );
    let missing = Uuid::now_v7();
    expect_err(
        store.touch(cx, missing, later).await,
        ErrorKind::NotFound,
        &[missing.to_string()],
    );

    expect_err(
        store.delete(cx, &[a, missing]).await,
        ErrorKind::NotFound,
        &[missing.to_string()],
    );
    assert!(
        store.get(cx, a, false).await.expect("get").is_some(),
        "a failed batch delete deletes nothing"
    );
    store.delete(cx, &[a]).await.expect("delete");
    assert_eq!(store.get(cx, a, false).await.expect("get"), None);
    expect_err(
        store.delete(cx, &[a]).await,
        ErrorKind::NotFound,
        &[a.to_string()],
    );
    store.delete(cx, &[b]).await.expect("delete");
    assert_eq!(store.count(cx, None).await.expect("count"), 0);
}

/// Transactions of `manager` over the stores of `backend` (bound for `products`, which must be
/// empty): writes inside are invisible outside until commit; commit publishes them; rollback
/// discards them; a finished transaction refuses further calls.
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
/// use forze_core::testing::{store_transaction_conformance, watchdog};
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let store = MemoryDocumentStore::new();
/// watchdog(store_transaction_conformance(Arc::new(store.clone()), Arc::new(store))).await;
/// # });
/// ```
pub async fn store_transaction_conformance(
    backend: Arc<dyn DocumentBackend>,
    manager: Arc<dyn TransactionManager>,
) {
    let store = bind(&backend);
    let outside = StoreCx::none();
    let t = t0();
    let id = Uuid::now_v7();

    let tx = manager.begin().await.expect("begin");
    let inside = StoreCx::in_tx(Arc::clone(&tx));
    store
        .insert(&inside, vec![row(id, t, "Widget", 10, None)])
        .await
        .expect("insert in tx");
    assert!(
        store.get(&inside, id, false).await.expect("get").is_some(),
        "a tx reads its writes"
    );
    assert!(
        store.get(&outside, id, false).await.expect("get").is_none(),
        "uncommitted writes are invisible outside"
    );
    assert_eq!(store.count(&inside, None).await.expect("count"), 1);
    tx.commit().await.expect("commit");
    assert!(
        store.get(&outside, id, false).await.expect("get").is_some(),
        "commit publishes"
    );
    assert!(
        store.get(&inside, id, false).await.is_err(),
        "a committed transaction refuses further calls"
    );

    let tx = manager.begin().await.expect("begin");
    let inside = StoreCx::in_tx(Arc::clone(&tx));
    store
        .update(
            &inside,
            vec![Patch::new(id, 1, patch(json!({"price": 99})))],
            t,
        )
        .await
        .expect("update in tx");
    let locked = store
        .get(&inside, id, true)
        .await
        .expect("locking read")
        .expect("exists");
    assert_eq!(locked.fields["price"], 99);
    tx.rollback().await.expect("rollback");
    let after = store
        .get(&outside, id, false)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(
        (after.meta.rev, &after.fields["price"]),
        (1, &json!(10)),
        "rollback discards"
    );
    store.delete(&outside, &[id]).await.expect("delete");
}
