//! The `DocumentStore` conformance suite: the contract every document backend keeps, checked on
//! untyped rows of the test [`Product`](super::Product) schema.

use std::sync::Arc;

use chrono::{DateTime, Duration as TimeDelta, SubsecRound, Utc};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::error::{ErrorKind, Result};
use crate::model::{DocumentMeta, Row};
use crate::query::eval::sort_values;
use crate::query::{Filter, Scalar, Select, Sort};
use crate::store::{
    DocumentBackend, DocumentBinding, DocumentStore, Patch, StoreCx, TransactionManager,
};

use super::product::{PRODUCT_FIELDS, QUERY_FIELDS};

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
/// field or metadata in either direction, then by id (ascending unless `id` is a sort key), with
/// `null` after every value in ascending order (first in descending, as Postgres does), then
/// apply `offset` and `limit`. Query semantics in depth: [`query_conformance`].
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

// ---------------------------------------------------------------------------------------------
// Queries
// ---------------------------------------------------------------------------------------------

/// The document the query suite binds.
const QUERY_DOC: &str = "query_items";

/// Per field kind (but bool and JSON, checked on their own): the required field, the optional
/// one, and three values in ascending order as both backends order them. The same five rows and
/// the same expectations hold for each kind.
fn ordered_kinds() -> Vec<(&'static str, &'static str, [Value; 3])> {
    vec![
        // bytewise (`COLLATE "C"`): uppercase before lowercase before non-ASCII; a linguistic
        // collation puts "a" first
        ("text", "text_opt", [json!("B"), json!("a"), json!("é")]),
        (
            "small",
            "small_opt",
            [json!(-32768), json!(0), json!(32767)],
        ),
        ("int", "int_opt", [json!(-5), json!(3), json!(i32::MAX)]),
        // 2^53 and 2^53 + 1 differ (a backend holding them as f64 would not tell them apart)
        (
            "big",
            "big_opt",
            [
                json!(-9_007_199_254_740_993_i64),
                json!(9_007_199_254_740_992_i64),
                json!(9_007_199_254_740_993_i64),
            ],
        ),
        // 0.1 is not a 32-bit float: stored and compared as f32(0.1)
        ("real", "real_opt", [json!(-1.5), json!(0.1), json!(3.0e38)]),
        // -0.0 equals 0.0
        (
            "double",
            "double_opt",
            [json!(-1e300), json!(-0.0), json!(0.5)],
        ),
        // unsigned bytewise: 0x80… after 0x7f…
        (
            "uuid",
            "uuid_opt",
            [
                json!("00000000-0000-0000-0000-000000000001"),
                json!("7fffffff-ffff-ffff-ffff-ffffffffffff"),
                json!("80000000-0000-0000-0000-000000000000"),
            ],
        ),
        (
            "at",
            "at_opt",
            [
                json!("1969-12-31T23:59:59.999999Z"),
                json!("2000-01-01T00:00:00Z"),
                json!("2024-02-29T12:00:00.000001Z"),
            ],
        ),
    ]
}

/// Runs queries on the suite's store and names the rows it returns.
struct Queries<'a> {
    store: &'a dyn DocumentStore,
    cx: &'a StoreCx,
    /// Row names, by id.
    names: Vec<(Uuid, &'static str)>,
}

impl Queries<'_> {
    fn select(&self, filter: Option<&Value>, sort: &[Sort]) -> Select {
        let filter: Option<Filter> = filter.map(|f| {
            serde_json::from_value(f.clone()).unwrap_or_else(|e| panic!("suite filter {f}: {e}"))
        });
        Select::new(QUERY_DOC, QUERY_FIELDS, filter.as_ref(), sort)
            .unwrap_or_else(|e| panic!("a suite query is valid: {e}"))
    }

    async fn run(&self, select: &Select) -> Vec<&'static str> {
        let rows = self.store.find(self.cx, select).await.expect("find");
        rows.iter()
            .map(|r| {
                self.names
                    .iter()
                    .find(|(id, _)| *id == r.meta.id)
                    .map_or("<unknown row>", |(_, name)| *name)
            })
            .collect()
    }

    /// `filter` selects `expected` (in id order) and counts `expected.len()`.
    async fn filter(&self, rule: &str, filter: Value, expected: &[&str]) {
        let select = self.select(Some(&filter), &[]);
        assert_eq!(self.run(&select).await, expected, "{rule}: filter {filter}");
        let count = self
            .store
            .count(self.cx, select.filter.as_ref())
            .await
            .expect("count");
        assert_eq!(
            count,
            expected.len() as u64,
            "{rule}: count with filter {filter}"
        );
    }

    /// `select` returns `expected`, in order.
    async fn rows(&self, rule: &str, select: &Select, expected: &[&str]) {
        assert_eq!(self.run(select).await, expected, "{rule}: {select:?}");
    }
}

fn cmp(field: &str, op: &str, value: &Value) -> Value {
    json!({ "field": field, "op": op, "value": value })
}

fn nullary(field: &str, op: &str) -> Value {
    json!({ "field": field, "op": op })
}

fn ci(field: &str, op: &str, value: &str) -> Value {
    json!({ "field": field, "op": op, "value": value, "case_insensitive": true })
}

/// Five rows; for each ordered kind `k` with values `v0 < v1 < v2`:
///
/// | row | `k` | `k_opt` |
/// |-----|-----|---------|
/// | r0  | v0  | v1      |
/// | r1  | v1  | `null`  |
/// | r2  | v2  | v0      |
/// | r3  | v1  | v2      |
/// | r4  | v0  | absent  |
fn query_rows(ids: &[Uuid], t: DateTime<Utc>) -> Vec<Row> {
    let kinds = ordered_kinds();
    let revs = [1, 2, 1, 3, 2];
    let updated = [40, 10, 30, 20, 30];
    let flags = [false, true, true, false, false];
    let flags_opt = [json!(true), Value::Null, json!(false), json!(true)];
    let json_req = [
        json!(["a"]),
        json!([]),
        json!(["b"]),
        json!({"x": 1}),
        json!([1]),
    ];
    let json_opt = [json!({"a": 1}), Value::Null, json!([]), json!({"b": null})];
    (0..5)
        .map(|i| {
            let mut fields = Map::new();
            for (req, opt, v) in &kinds {
                fields.insert((*req).into(), v[[0, 1, 2, 1, 0][i]].clone());
                match i {
                    0 => fields.insert((*opt).into(), v[1].clone()),
                    1 => fields.insert((*opt).into(), Value::Null),
                    2 => fields.insert((*opt).into(), v[0].clone()),
                    3 => fields.insert((*opt).into(), v[2].clone()),
                    _ => None,
                };
            }
            fields.insert("flag".into(), json!(flags[i]));
            fields.insert("json".into(), json_req[i].clone());
            if let (Some(flag), Some(doc)) = (flags_opt.get(i), json_opt.get(i)) {
                fields.insert("flag_opt".into(), flag.clone());
                fields.insert("json_opt".into(), doc.clone());
            }
            let meta = DocumentMeta::from_parts(
                ids[i],
                revs[i],
                t + TimeDelta::seconds(i as i64),
                t + TimeDelta::seconds(updated[i]),
            );
            Row::new(meta, fields)
        })
        .collect()
}

/// Query semantics, on the store `backend` binds for `query_items` with [`QUERY_FIELDS`] (one
/// field of every kind, required and optional); Postgres' semantics, as documented in
/// [`forze_core::query`](crate::query):
///
/// * every operator on every field kind and on the metadata columns;
/// * three-valued null logic: `ne`, `not_in` and `not(...)` do not match null fields, an empty
///   `in` matches nothing and an empty `not_in` everything (nulls too), empty `and` / `or`;
/// * `prefix` / `contains` match `%`, `_` and `\` literally, and their case-insensitive forms
///   fold ASCII letters only (`é` and `É` stay different);
/// * text orders bytewise, integers exactly (2^53 + 1), `real` as 32-bit floats, `-0.0 = 0.0`,
///   uuids as unsigned bytes, timestamps at microsecond precision (filter values truncated);
/// * ascending puts nulls last, descending first; every order ends with `id` ascending;
///   multi-key sorts in mixed directions;
/// * keyset positions (`after`), null sort values and positions between rows included, with
///   and without `offset` / `limit`; counts with a filter.
///
/// The store must be **empty** when the suite starts; the suite deletes what it inserts.
///
/// # Panics
///
/// On the first broken rule, with a message naming it and the query. Run it under a watchdog.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use forze_core::memory::MemoryDocumentStore;
/// use forze_core::testing::{query_conformance, watchdog};
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// watchdog(query_conformance(Arc::new(MemoryDocumentStore::new()))).await;
/// # });
/// ```
pub async fn query_conformance(backend: Arc<dyn DocumentBackend>) {
    let store = backend
        .bind(&DocumentBinding::new(QUERY_DOC, QUERY_FIELDS))
        .expect("the backend binds the `query_items` schema");
    let cx = StoreCx::none();
    assert_eq!(
        store.count(&cx, None).await.expect("count"),
        0,
        "query_conformance needs an empty `query_items` store"
    );
    let t = t0();
    let mut ids: Vec<Uuid> = (0..5).map(|_| Uuid::now_v7()).collect();
    ids.sort();
    let rows = query_rows(&ids, t);
    store.insert(&cx, rows.clone()).await.expect("insert");
    let q = Queries {
        store: &*store,
        cx: &cx,
        names: ids
            .iter()
            .copied()
            .zip(["r0", "r1", "r2", "r3", "r4"])
            .collect(),
    };
    for (req, opt, v) in ordered_kinds() {
        operators(&q, req, opt, &v).await;
        null_logic(&q, opt, &v).await;
        order_and_keyset(&q, &rows, req, opt).await;
    }
    special_values(&q).await;
    bool_and_json(&q).await;
    metadata(&q, &ids, t).await;
    store.delete(&cx, &ids).await.expect("delete");
    text_matching(&*store, &cx, &rows[0]).await;
    nanoseconds(&*store, &cx, &rows[0]).await;
    assert_eq!(store.count(&cx, None).await.expect("count"), 0);
}

async fn operators(q: &Queries<'_>, req: &str, opt: &str, v: &[Value; 3]) {
    let both = json!([v[0], v[2]]);
    let r = |op: &str| format!("`{op}` on {req}");
    q.filter(&r("eq"), cmp(req, "eq", &v[1]), &["r1", "r3"])
        .await;
    q.filter(&r("ne"), cmp(req, "ne", &v[1]), &["r0", "r2", "r4"])
        .await;
    q.filter(&r("lt"), cmp(req, "lt", &v[1]), &["r0", "r4"])
        .await;
    q.filter(&r("le"), cmp(req, "le", &v[1]), &["r0", "r1", "r3", "r4"])
        .await;
    q.filter(&r("gt"), cmp(req, "gt", &v[1]), &["r2"]).await;
    q.filter(&r("ge"), cmp(req, "ge", &v[1]), &["r1", "r2", "r3"])
        .await;
    q.filter(&r("in"), cmp(req, "in", &both), &["r0", "r2", "r4"])
        .await;
    q.filter(&r("not_in"), cmp(req, "not_in", &both), &["r1", "r3"])
        .await;
    q.filter(
        &r("in (duplicates)"),
        cmp(req, "in", &json!([v[1], v[1]])),
        &["r1", "r3"],
    )
    .await;
    let r = |op: &str| format!("`{op}` on {opt} (nullable)");
    q.filter(&r("eq"), cmp(opt, "eq", &v[1]), &["r0"]).await;
    q.filter(&r("lt"), cmp(opt, "lt", &v[1]), &["r2"]).await;
    q.filter(&r("le"), cmp(opt, "le", &v[1]), &["r0", "r2"])
        .await;
    q.filter(&r("gt"), cmp(opt, "gt", &v[1]), &["r3"]).await;
    q.filter(&r("ge"), cmp(opt, "ge", &v[1]), &["r0", "r3"])
        .await;
    q.filter(&r("in"), cmp(opt, "in", &both), &["r2", "r3"])
        .await;
    q.filter(&r("is_null"), nullary(opt, "is_null"), &["r1", "r4"])
        .await;
    q.filter(
        &r("not_null"),
        nullary(opt, "not_null"),
        &["r0", "r2", "r3"],
    )
    .await;
}

async fn null_logic(q: &Queries<'_>, opt: &str, v: &[Value; 3]) {
    let all = ["r0", "r1", "r2", "r3", "r4"];
    let both = json!([v[0], v[2]]);
    let r = |rule: &str| format!("null logic on {opt}: {rule}");
    q.filter(
        &r("`ne` does not match null"),
        cmp(opt, "ne", &v[1]),
        &["r2", "r3"],
    )
    .await;
    q.filter(
        &r("`not_in` does not match null"),
        cmp(opt, "not_in", &both),
        &["r0"],
    )
    .await;
    q.filter(
        &r("`not(eq)` does not match null"),
        json!({"not": cmp(opt, "eq", &v[1])}),
        &["r2", "r3"],
    )
    .await;
    q.filter(
        &r("`not(ne)` does not match null"),
        json!({"not": cmp(opt, "ne", &v[1])}),
        &["r0"],
    )
    .await;
    q.filter(
        &r("`not(not_in)` does not match null"),
        json!({"not": cmp(opt, "not_in", &both)}),
        &["r2", "r3"],
    )
    .await;
    q.filter(
        &r("`not(is_null)`"),
        json!({"not": nullary(opt, "is_null")}),
        &["r0", "r2", "r3"],
    )
    .await;
    q.filter(
        &r("`x = v or not(x = v)` is not true for null"),
        json!({"or": [cmp(opt, "eq", &v[1]), {"not": cmp(opt, "eq", &v[1])}]}),
        &["r0", "r2", "r3"],
    )
    .await;
    q.filter(
        &r("`unknown or true` is true"),
        json!({"or": [cmp(opt, "eq", &v[1]), nullary(opt, "is_null")]}),
        &["r0", "r1", "r4"],
    )
    .await;
    q.filter(
        &r("`not(unknown and unknown)` is unknown"),
        json!({"not": {"and": [cmp(opt, "lt", &v[2]), cmp(opt, "gt", &v[0])]}}),
        &["r2", "r3"],
    )
    .await;
    q.filter(
        &r("`not(unknown and false)` is true"),
        json!({"not": {"and": [cmp(opt, "eq", &v[1]), {"or": []}]}}),
        &all,
    )
    .await;
    q.filter(
        &r("an empty `in` matches nothing"),
        cmp(opt, "in", &json!([])),
        &[],
    )
    .await;
    q.filter(
        &r("an empty `not_in` matches everything, nulls too"),
        cmp(opt, "not_in", &json!([])),
        &all,
    )
    .await;
    q.filter(
        &r("not(an empty `in`)"),
        json!({"not": cmp(opt, "in", &json!([]))}),
        &all,
    )
    .await;
    q.filter(&r("an empty `and`"), json!({"and": []}), &all)
        .await;
    q.filter(&r("an empty `or`"), json!({"or": []}), &[]).await;
    q.filter(&r("not(an empty `or`)"), json!({"not": {"or": []}}), &all)
        .await;
    q.filter(&r("not(an empty `and`)"), json!({"not": {"and": []}}), &[])
        .await;
}

/// `row`'s sort values for `select`, with the last one (`id`) replaced by `id`.
fn position(row: &Row, select: &Select, id: Uuid) -> Vec<Option<Scalar>> {
    let mut after = sort_values(row, &select.sort);
    if let Some(last) = after.last_mut() {
        *last = Some(Scalar::Uuid(id));
    }
    after
}

async fn order_and_keyset(q: &Queries<'_>, rows: &[Row], req: &'static str, opt: &'static str) {
    let max = Uuid::from_u128(u128::MAX);
    let after = |select: &Select, row: usize| {
        select
            .clone()
            .with_after(sort_values(&rows[row], &select.sort))
    };

    let asc = q.select(None, &[Sort::asc(opt)]);
    let r = |rule: &str| format!("{opt} ascending: {rule}");
    q.rows(
        &r("nulls last, ties by id"),
        &asc,
        &["r2", "r0", "r3", "r1", "r4"],
    )
    .await;
    q.rows(&r("after a value"), &after(&asc, 3), &["r1", "r4"])
        .await;
    q.rows(&r("after a null"), &after(&asc, 1), &["r4"]).await;
    q.rows(&r("after the last"), &after(&asc, 4), &[]).await;
    q.rows(
        &r("after (null, nil id): the nulls"),
        &asc.clone()
            .with_after(position(&rows[1], &asc, Uuid::nil())),
        &["r1", "r4"],
    )
    .await;
    q.rows(
        &r("after (v0, max id)"),
        &asc.clone().with_after(position(&rows[2], &asc, max)),
        &["r0", "r3", "r1", "r4"],
    )
    .await;
    q.rows(
        &r("offset 1 limit 2"),
        &asc.clone().with_offset(1).with_limit(2),
        &["r0", "r3"],
    )
    .await;
    q.rows(&r("offset 3"), &asc.clone().with_offset(3), &["r1", "r4"])
        .await;
    q.rows(
        &r("offset 4 limit 10"),
        &asc.clone().with_offset(4).with_limit(10),
        &["r4"],
    )
    .await;
    q.rows(&r("offset past the end"), &asc.clone().with_offset(5), &[])
        .await;
    q.rows(&r("limit 0"), &asc.clone().with_limit(0), &[]).await;
    q.rows(
        &r("after, then limit"),
        &after(&asc, 2).with_limit(2),
        &["r0", "r3"],
    )
    .await;
    q.rows(
        &r("after, then offset and limit"),
        &after(&asc, 0).with_offset(1).with_limit(1),
        &["r1"],
    )
    .await;

    let desc = q.select(None, &[Sort::desc(opt)]);
    let r = |rule: &str| format!("{opt} descending: {rule}");
    q.rows(
        &r("nulls first, ties by id"),
        &desc,
        &["r1", "r4", "r3", "r0", "r2"],
    )
    .await;
    q.rows(
        &r("after a null"),
        &after(&desc, 1),
        &["r4", "r3", "r0", "r2"],
    )
    .await;
    q.rows(
        &r("after the last null"),
        &after(&desc, 4),
        &["r3", "r0", "r2"],
    )
    .await;
    q.rows(
        &r("after (null, max id)"),
        &desc.clone().with_after(position(&rows[1], &desc, max)),
        &["r3", "r0", "r2"],
    )
    .await;
    q.rows(&r("after a value"), &after(&desc, 0), &["r2"]).await;

    let mixed = q.select(None, &[Sort::asc(req), Sort::desc(opt)]);
    let r = |rule: &str| format!("{req} ascending, {opt} descending: {rule}");
    q.rows(&r("order"), &mixed, &["r4", "r0", "r1", "r3", "r2"])
        .await;
    q.rows(
        &r("after a null"),
        &after(&mixed, 4),
        &["r0", "r1", "r3", "r2"],
    )
    .await;
    q.rows(&r("after a value"), &after(&mixed, 0), &["r1", "r3", "r2"])
        .await;
    q.rows(
        &r("after a null in a tie"),
        &after(&mixed, 1),
        &["r3", "r2"],
    )
    .await;

    let mixed = q.select(None, &[Sort::desc(req), Sort::asc(opt)]);
    let r = |rule: &str| format!("{req} descending, {opt} ascending: {rule}");
    q.rows(&r("order"), &mixed, &["r2", "r3", "r1", "r0", "r4"])
        .await;
    q.rows(&r("after a value"), &after(&mixed, 3), &["r1", "r0", "r4"])
        .await;
    q.rows(&r("after a null"), &after(&mixed, 1), &["r0", "r4"])
        .await;
    q.rows(&r("after the next to last"), &after(&mixed, 0), &["r4"])
        .await;

    // one direction, no nulls: a row comparison serves it
    let uniform = q.select(None, &[Sort::asc(req)]);
    let r = |rule: &str| format!("{req} ascending: {rule}");
    q.rows(&r("order"), &uniform, &["r0", "r4", "r1", "r3", "r2"])
        .await;
    q.rows(&r("after"), &after(&uniform, 4), &["r1", "r3", "r2"])
        .await;
    let uniform = q.select(None, &[Sort::desc(req), Sort::desc("id")]);
    let r = |rule: &str| format!("{req} descending, id descending: {rule}");
    q.rows(&r("order"), &uniform, &["r2", "r3", "r1", "r4", "r0"])
        .await;
    q.rows(&r("after"), &after(&uniform, 3), &["r1", "r4", "r0"])
        .await;

    let filtered = q.select(Some(&nullary(opt, "not_null")), &[Sort::desc(opt)]);
    q.rows(
        &format!("{opt} not null, descending, after a value"),
        &after(&filtered, 3),
        &["r0", "r2"],
    )
    .await;
}

async fn special_values(q: &Queries<'_>) {
    q.filter(
        "-0.0 equals 0.0",
        cmp("double", "eq", &json!(0.0)),
        &["r1", "r3"],
    )
    .await;
    q.filter(
        "0.0 equals -0.0",
        cmp("double_opt", "eq", &json!(0.0)),
        &["r0"],
    )
    .await;
    q.filter(
        "-0.0 is not less than 0.0",
        cmp("double", "lt", &json!(0.0)),
        &["r0", "r4"],
    )
    .await;
    q.filter(
        "real compares as f32: 0.1 stored equals 0.1 given",
        cmp("real_opt", "eq", &json!(0.1)),
        &["r0"],
    )
    .await;
    q.filter(
        "real compares as f32: f32(0.1) given equals 0.1 stored",
        cmp("real", "eq", &json!(f64::from(0.1_f32))),
        &["r1", "r3"],
    )
    .await;
    q.filter(
        "bigint: 2^53 + 1 is not 2^53",
        cmp("big", "eq", &json!(9_007_199_254_740_992_i64)),
        &["r1", "r3"],
    )
    .await;
    q.filter(
        "text: bytewise, uppercase before lowercase",
        cmp("text", "lt", &json!("a")),
        &["r0", "r4"],
    )
    .await;
    q.filter(
        "text: non-ASCII after ASCII",
        cmp("text", "gt", &json!("z")),
        &["r2"],
    )
    .await;
    q.filter(
        "uuid: unsigned bytes",
        cmp("uuid", "gt", &json!("7fffffff-ffff-ffff-ffff-fffffffffffe")),
        &["r1", "r2", "r3"],
    )
    .await;
    q.filter(
        "timestamp: another offset is the same instant",
        cmp("at", "eq", &json!("2000-01-01T01:00:00+01:00")),
        &["r1", "r3"],
    )
    .await;
    q.filter(
        "timestamp: nanoseconds are truncated to microseconds",
        cmp("at", "lt", &json!("2024-02-29T12:00:00.000001999Z")),
        &["r0", "r1", "r3", "r4"],
    )
    .await;
    q.filter(
        "timestamp: before 1970",
        cmp("at", "lt", &json!("1970-01-01T00:00:00Z")),
        &["r0", "r4"],
    )
    .await;
}

async fn bool_and_json(q: &Queries<'_>) {
    q.filter("bool eq", cmp("flag", "eq", &json!(true)), &["r1", "r2"])
        .await;
    q.filter(
        "bool: false before true",
        cmp("flag", "lt", &json!(true)),
        &["r0", "r3", "r4"],
    )
    .await;
    q.filter(
        "bool ne, nullable",
        cmp("flag_opt", "ne", &json!(true)),
        &["r2"],
    )
    .await;
    q.filter(
        "bool not_in, nullable",
        cmp("flag_opt", "not_in", &json!([false])),
        &["r0", "r3"],
    )
    .await;
    q.filter(
        "bool is_null",
        nullary("flag_opt", "is_null"),
        &["r1", "r4"],
    )
    .await;
    q.rows(
        "bool descending: nulls, true, false",
        &q.select(None, &[Sort::desc("flag_opt")]),
        &["r1", "r4", "r0", "r3", "r2"],
    )
    .await;
    q.rows(
        "bool ascending: false, true, nulls",
        &q.select(None, &[Sort::asc("flag_opt")]),
        &["r2", "r0", "r3", "r1", "r4"],
    )
    .await;
    q.filter(
        "json is_null (JSON null and an absent key are null; [] is not)",
        nullary("json_opt", "is_null"),
        &["r1", "r4"],
    )
    .await;
    q.filter(
        "json not_null",
        nullary("json_opt", "not_null"),
        &["r0", "r2", "r3"],
    )
    .await;
}

async fn metadata(q: &Queries<'_>, ids: &[Uuid], t: DateTime<Utc>) {
    let id = |i: usize| json!(ids[i].to_string());
    q.filter("id eq", cmp("id", "eq", &id(2)), &["r2"]).await;
    q.filter(
        "id in",
        cmp("id", "in", &json!([id(4), id(0)])),
        &["r0", "r4"],
    )
    .await;
    q.filter("id gt", cmp("id", "gt", &id(2)), &["r3", "r4"])
        .await;
    q.filter("id ne", cmp("id", "ne", &id(2)), &["r0", "r1", "r3", "r4"])
        .await;
    q.filter("rev ge", cmp("rev", "ge", &json!(2)), &["r1", "r3", "r4"])
        .await;
    q.filter(
        "rev not_in",
        cmp("rev", "not_in", &json!([1, 3])),
        &["r1", "r4"],
    )
    .await;
    let at = |secs: i64, nanos: i64| {
        let instant = t + TimeDelta::seconds(secs) + TimeDelta::nanoseconds(nanos);
        json!(
            instant
                .with_timezone(&chrono::FixedOffset::east_opt(2 * 3600).expect("valid offset"))
                .to_rfc3339_opts(chrono::SecondsFormat::Nanos, false)
        )
    };
    q.filter(
        "created_at lt, given at another offset with nanoseconds (truncated)",
        cmp("created_at", "lt", &at(2, 999)),
        &["r0", "r1"],
    )
    .await;
    q.filter(
        "created_at le",
        cmp("created_at", "le", &at(2, 0)),
        &["r0", "r1", "r2"],
    )
    .await;
    q.filter(
        "last_update_at in",
        cmp("last_update_at", "in", &json!([at(30, 0), at(10, 0)])),
        &["r1", "r2", "r4"],
    )
    .await;
    q.rows(
        "rev descending, ties by id",
        &q.select(None, &[Sort::desc("rev")]),
        &["r3", "r1", "r4", "r0", "r2"],
    )
    .await;
    q.rows(
        "last_update_at descending",
        &q.select(None, &[Sort::desc("last_update_at")]),
        &["r0", "r2", "r4", "r3", "r1"],
    )
    .await;
    q.rows(
        "rev ascending, last_update_at descending",
        &q.select(None, &[Sort::asc("rev"), Sort::desc("last_update_at")]),
        &["r0", "r2", "r4", "r1", "r3"],
    )
    .await;
    q.rows(
        "created_at descending",
        &q.select(None, &[Sort::desc("created_at")]),
        &["r4", "r3", "r2", "r1", "r0"],
    )
    .await;
    let by_id = q.select(None, &[Sort::desc("id")]);
    q.rows("id descending", &by_id, &["r4", "r3", "r2", "r1", "r0"])
        .await;
    let mid = Row::new(DocumentMeta::new(ids[2], t), Map::new());
    q.rows(
        "id descending, after r2",
        &by_id.clone().with_after(sort_values(&mid, &by_id.sort)),
        &["r1", "r0"],
    )
    .await;
    q.rows(
        "filter, sort and keyset on metadata",
        &q.select(
            Some(&cmp("rev", "le", &json!(2))),
            &[Sort::desc("last_update_at")],
        )
        .with_after(vec![
            Some(Scalar::Timestamp(t + TimeDelta::seconds(30))),
            Some(Scalar::Uuid(ids[2])),
        ]),
        &["r4", "r1"],
    )
    .await;
}

/// Text matching on six rows (the other fields as in `template`):
///
/// | row | `text`     | `text_opt`  |
/// |-----|------------|-------------|
/// | a   | `Lamp_1`   | `100%`      |
/// | b   | `lamp 1`   | `null`      |
/// | c   | `LAMPé`    | `a\b`       |
/// | d   | `Éclair`   | `ab`        |
/// | e   | `éclair`   | `50%_off`   |
/// | f   | `x%y`      | `A_B`       |
async fn text_matching(store: &dyn DocumentStore, cx: &StoreCx, template: &Row) {
    let data: [(&str, Option<&str>); 6] = [
        ("Lamp_1", Some("100%")),
        ("lamp 1", None),
        ("LAMPé", Some("a\\b")),
        ("Éclair", Some("ab")),
        ("éclair", Some("50%_off")),
        ("x%y", Some("A_B")),
    ];
    let mut ids: Vec<Uuid> = (0..data.len()).map(|_| Uuid::now_v7()).collect();
    ids.sort();
    let rows: Vec<Row> = ids
        .iter()
        .zip(data)
        .map(|(id, (text, opt))| {
            let mut fields = template.fields.clone();
            fields.insert("text".into(), json!(text));
            fields.insert("text_opt".into(), json!(opt));
            Row::new(DocumentMeta::new(*id, template.meta.created_at), fields)
        })
        .collect();
    store.insert(cx, rows).await.expect("insert the text rows");
    let q = Queries {
        store,
        cx,
        names: ids
            .iter()
            .copied()
            .zip(["a", "b", "c", "d", "e", "f"])
            .collect(),
    };
    let s = |v: &str| json!(v);
    q.filter(
        "prefix is case-sensitive",
        cmp("text", "prefix", &s("lamp")),
        &["b"],
    )
    .await;
    q.filter(
        "prefix, ASCII case folded",
        ci("text", "prefix", "lamp"),
        &["a", "b", "c"],
    )
    .await;
    q.filter(
        "prefix: `_` is literal",
        ci("text", "prefix", "LAMP_"),
        &["a"],
    )
    .await;
    q.filter(
        "prefix: É does not fold to é",
        ci("text", "prefix", "lampÉ"),
        &[],
    )
    .await;
    q.filter(
        "prefix: é matches é, ASCII folded",
        ci("text", "prefix", "LAMPé"),
        &["c"],
    )
    .await;
    q.filter(
        "contains: É folds to nothing",
        ci("text", "contains", "ÉCLAIR"),
        &["d"],
    )
    .await;
    q.filter(
        "contains: é folds to nothing",
        ci("text", "contains", "éclair"),
        &["e"],
    )
    .await;
    q.filter(
        "contains",
        cmp("text", "contains", &s("clair")),
        &["d", "e"],
    )
    .await;
    q.filter(
        "contains: `%` is literal",
        cmp("text", "contains", &s("%")),
        &["f"],
    )
    .await;
    q.filter(
        "prefix: `_` is not a wildcard",
        cmp("text", "prefix", &s("x_")),
        &[],
    )
    .await;
    q.filter(
        "contains: `_` is literal",
        cmp("text", "contains", &s("p_1")),
        &["a"],
    )
    .await;
    q.filter(
        "eq is case-sensitive",
        cmp("text", "in", &json!(["lamp 1", "LAMP_1"])),
        &["b"],
    )
    .await;
    q.filter("text lt: bytewise", cmp("text", "lt", &s("a")), &["a", "c"])
        .await;
    q.filter(
        "text gt: non-ASCII after ASCII",
        cmp("text", "gt", &s("x")),
        &["d", "e", "f"],
    )
    .await;
    q.filter(
        "contains `%`, nullable",
        cmp("text_opt", "contains", &s("%")),
        &["a", "e"],
    )
    .await;
    q.filter(
        "contains `%_` literally",
        cmp("text_opt", "contains", &s("%_")),
        &["e"],
    )
    .await;
    q.filter(
        "contains `\\` literally",
        cmp("text_opt", "contains", &s("\\")),
        &["c"],
    )
    .await;
    q.filter(
        "`\\` is not an escape: `a\\b` does not match `ab`",
        cmp("text_opt", "contains", &s("a\\b")),
        &["c"],
    )
    .await;
    q.filter(
        "contains `_` literally",
        cmp("text_opt", "contains", &s("_")),
        &["e", "f"],
    )
    .await;
    q.filter(
        "prefix ci `a_`: `_` literal",
        ci("text_opt", "prefix", "a_"),
        &["f"],
    )
    .await;
    q.filter(
        "an empty prefix matches every non-null text",
        cmp("text_opt", "prefix", &s("")),
        &["a", "c", "d", "e", "f"],
    )
    .await;
    q.filter(
        "an empty contains, case-insensitive",
        ci("text_opt", "contains", ""),
        &["a", "c", "d", "e", "f"],
    )
    .await;
    q.filter(
        "not(contains) does not match null",
        json!({"not": cmp("text_opt", "contains", &s("%"))}),
        &["c", "d", "f"],
    )
    .await;
    q.filter(
        "ne does not match null",
        cmp("text_opt", "ne", &s("ab")),
        &["a", "c", "e", "f"],
    )
    .await;
    q.rows(
        "text ascending: bytewise",
        &q.select(None, &[Sort::asc("text")]),
        &["c", "a", "b", "f", "d", "e"],
    )
    .await;
    q.rows(
        "text descending: nulls first, then bytewise descending",
        &q.select(None, &[Sort::desc("text_opt")]),
        &["b", "d", "c", "f", "e", "a"],
    )
    .await;
    store.delete(cx, &ids).await.expect("delete the text rows");
}

/// Timestamps written with nanoseconds are kept, compared and ordered at whole microseconds,
/// truncated (floor), before 2000 (Postgres' epoch) too: `…59.9999995` is `…59.999999`, not
/// `2000-01-01T00:00:00`.
async fn nanoseconds(store: &dyn DocumentStore, cx: &StoreCx, template: &Row) {
    let mut ids: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
    ids.sort();
    let t = template.meta.created_at;
    let data = [
        (
            "1999-12-31T23:59:59.9999995Z",
            Some("2024-02-29T12:00:00.0000019Z"),
            999,
        ),
        ("1999-12-31T23:59:59.999999Z", None, 0),
        (
            "2000-01-01T00:00:00Z",
            Some("2024-02-29T12:00:00.000002Z"),
            1,
        ),
    ];
    let rows: Vec<Row> = ids
        .iter()
        .zip(data)
        .map(|(id, (at, at_opt, nanos))| {
            let mut fields = template.fields.clone();
            fields.insert("at".into(), json!(at));
            fields.insert("at_opt".into(), json!(at_opt));
            Row::new(
                DocumentMeta::new(*id, t + TimeDelta::nanoseconds(nanos)),
                fields,
            )
        })
        .collect();
    store
        .insert(cx, rows)
        .await
        .expect("insert the timestamp rows");
    let q = Queries {
        store,
        cx,
        names: ids.iter().copied().zip(["n0", "n1", "n2"]).collect(),
    };
    q.filter(
        "nanoseconds before 2000 truncate down",
        cmp("at", "eq", &json!("1999-12-31T23:59:59.999999Z")),
        &["n0", "n1"],
    )
    .await;
    q.filter(
        "nanoseconds before 2000 stay before 2000",
        cmp("at", "lt", &json!("2000-01-01T00:00:00Z")),
        &["n0", "n1"],
    )
    .await;
    q.filter(
        "nanoseconds after 2000 truncate down",
        cmp("at_opt", "eq", &json!("2024-02-29T12:00:00.000001Z")),
        &["n0"],
    )
    .await;
    q.rows(
        "truncated timestamps tie, then order by id",
        &q.select(None, &[Sort::desc("at")]),
        &["n2", "n0", "n1"],
    )
    .await;
    q.filter(
        "metadata timestamps truncate too",
        cmp("created_at", "eq", &json!(t.to_rfc3339())),
        &["n0", "n1", "n2"],
    )
    .await;
    store
        .delete(cx, &ids)
        .await
        .expect("delete the timestamp rows");
}
