//! The Postgres document store against a real server (`FORZE_TEST_POSTGRES_URL`), one private
//! schema per test.

mod common;

use std::sync::Arc;

use common::{FIELDS, TestDb, as_stored, full_row, micros_now, minimal_row, obj, watchdog};
use forze_core::query::{Select, Sort};
use forze_core::store::{Patch, StoreCx};
use forze_core::{ErrorKind, Row};
use serde_json::{Value, json};
use uuid::Uuid;

fn cx() -> StoreCx {
    StoreCx::none()
}

#[tokio::test]
async fn every_operation_round_trips() {
    watchdog(async {
        let db = TestDb::new("roundtrip").await;
        let store = db.store().await;

        let a = full_row("alpha", 30);
        let b = minimal_row("beta", 10);
        let c = full_row("gamma", 20);
        let inserted = store
            .insert(&cx(), vec![a.clone(), b.clone(), c.clone()])
            .await
            .expect("insert");
        assert_eq!(inserted, vec![as_stored(&a), as_stored(&b), as_stored(&c)]);

        // get: every kind, nullable fields null, jsonb as-is.
        assert_eq!(
            store.get(&cx(), a.meta.id, false).await.expect("get"),
            Some(as_stored(&a))
        );
        let got_b = store
            .get(&cx(), b.meta.id, false)
            .await
            .expect("get")
            .expect("b");
        assert_eq!(got_b.fields["tag"], Value::Null);
        assert_eq!(got_b.fields["attrs"], Value::Null);
        assert_eq!(got_b.fields["tags"], json!([]));
        assert_eq!(
            store.get(&cx(), Uuid::now_v7(), false).await.expect("get"),
            None
        );

        // get_many: the existing ones, missing ids skipped.
        let mut many = store
            .get_many(&cx(), &[c.meta.id, Uuid::now_v7(), a.meta.id])
            .await
            .expect("get_many");
        many.sort_by_key(|r| r.meta.id);
        let mut want = vec![as_stored(&a), as_stored(&c)];
        want.sort_by_key(|r| r.meta.id);
        assert_eq!(many, want);
        assert!(store.get_many(&cx(), &[]).await.expect("empty").is_empty());

        // list and count.
        assert_eq!(store.count(&cx(), None).await.expect("count"), 3);
        let names = |rows: Vec<Row>| -> Vec<String> {
            rows.iter()
                .map(|r| r.fields["name"].as_str().expect("name").to_owned())
                .collect()
        };
        let select = |sort: &[Sort]| Select::new("products", &FIELDS, None, sort).expect("valid");
        let by_price = store
            .find(&cx(), &select(&[Sort::desc("price")]))
            .await
            .expect("list");
        assert_eq!(names(by_price), ["alpha", "gamma", "beta"]);
        let page = store
            .find(
                &cx(),
                &select(&[Sort::asc("name")]).with_limit(1).with_offset(1),
            )
            .await
            .expect("list page");
        assert_eq!(names(page), ["beta"]);
        let by_id = store.find(&cx(), &select(&[])).await.expect("list by id");
        let mut ids = vec![a.meta.id, b.meta.id, c.meta.id];
        ids.sort();
        assert_eq!(by_id.iter().map(|r| r.meta.id).collect::<Vec<_>>(), ids);
        let err = Select::new("products", &FIELDS, None, &[Sort::asc("nope\"; --")])
            .expect_err("unknown sort field");
        assert_eq!(err.kind(), ErrorKind::Validation);
        assert!(err.message().contains("price"), "lists valid fields: {err}");

        // update: set a field, clear a nullable one with null, replace jsonb.
        let now = micros_now();
        let updated = store
            .update(
                &cx(),
                vec![Patch::new(
                    a.meta.id,
                    1,
                    obj(json!({"price": 35, "tag": null, "attrs": {"color": "green"}})),
                )],
                now,
            )
            .await
            .expect("update");
        assert_eq!(updated.len(), 1);
        assert!(updated[0].changed);
        let row = &updated[0].row;
        assert_eq!(row.meta.rev, 2);
        assert_eq!(row.meta.last_update_at, now);
        assert_eq!(row.meta.created_at, a.meta.created_at);
        assert_eq!(row.fields["price"], json!(35));
        assert_eq!(row.fields["tag"], Value::Null);
        assert_eq!(row.fields["attrs"], json!({"color": "green"}));
        assert_eq!(row.fields["name"], json!("alpha"), "untouched field kept");
        assert_eq!(
            store
                .get(&cx(), a.meta.id, false)
                .await
                .expect("get")
                .as_ref(),
            Some(row)
        );

        // touch.
        let later = micros_now();
        let touched = store.touch(&cx(), a.meta.id, later).await.expect("touch");
        assert_eq!(touched.meta.rev, 3);
        assert_eq!(touched.meta.last_update_at, later);
        assert_eq!(touched.fields, row.fields);

        // ensure: existing row returned unchanged, new row inserted.
        let mut again = full_row("alpha-replacement", 1);
        again.meta = a.meta;
        let (existing, inserted) = store.ensure(&cx(), again).await.expect("ensure existing");
        assert!(!inserted);
        assert_eq!(existing, touched);
        let d = minimal_row("delta", 5);
        let (row_d, inserted) = store.ensure(&cx(), d.clone()).await.expect("ensure new");
        assert!(inserted);
        assert_eq!(row_d, as_stored(&d));
        assert_eq!(store.count(&cx(), None).await.expect("count"), 4);

        // delete: a missing id fails the whole call.
        let missing = Uuid::now_v7();
        let err = store
            .delete(&cx(), &[b.meta.id, missing])
            .await
            .expect_err("missing id");
        assert_eq!(err.kind(), ErrorKind::NotFound);
        assert!(err.message().contains(&missing.to_string()), "{err}");
        assert_eq!(
            store.count(&cx(), None).await.expect("count"),
            4,
            "nothing deleted"
        );
        store
            .delete(&cx(), &[b.meta.id, c.meta.id, b.meta.id])
            .await
            .expect("delete two (duplicate id ignored)");
        store.delete(&cx(), &[d.meta.id]).await.expect("delete one");
        assert_eq!(store.get(&cx(), b.meta.id, false).await.expect("get"), None);
        assert_eq!(store.count(&cx(), None).await.expect("count"), 1);
        store.delete(&cx(), &[]).await.expect("empty delete");
    })
    .await;
}

#[tokio::test]
async fn batch_update_is_all_or_nothing() {
    watchdog(async {
        let db = TestDb::new("batchupd").await;
        let store = db.store().await;
        let a = minimal_row("a", 1);
        let b = minimal_row("b", 2);
        store
            .insert(&cx(), vec![a.clone(), b.clone()])
            .await
            .expect("insert");
        let now = micros_now();

        // One stale rev fails the batch: the first patch is rolled back.
        let err = store
            .update(
                &cx(),
                vec![
                    Patch::new(a.meta.id, 1, obj(json!({"price": 100}))),
                    Patch::new(b.meta.id, 7, obj(json!({"price": 200}))),
                ],
                now,
            )
            .await
            .expect_err("stale rev");
        assert_eq!(err.kind(), ErrorKind::RevisionMismatch);
        assert!(err.message().contains(&b.meta.id.to_string()), "{err}");
        let a_now = store
            .get(&cx(), a.meta.id, false)
            .await
            .expect("get")
            .expect("a");
        assert_eq!(a_now.fields["price"], json!(1));
        assert_eq!(a_now.meta.rev, 1);

        // A valid batch: both change, results in input order; a no-op patch stays unchanged.
        let out = store
            .update(
                &cx(),
                vec![
                    Patch::new(b.meta.id, 1, obj(json!({"price": 20}))),
                    Patch::new(a.meta.id, 1, obj(json!({"price": 1}))),
                ],
                now,
            )
            .await
            .expect("batch");
        assert_eq!(out[0].row.meta.id, b.meta.id);
        assert!(out[0].changed);
        assert_eq!(out[0].row.meta.rev, 2);
        assert_eq!(out[1].row.meta.id, a.meta.id);
        assert!(!out[1].changed);
        assert_eq!(out[1].row.meta.rev, 1);
    })
    .await;
}

#[tokio::test]
async fn four_concurrent_updates_with_the_same_rev_one_wins() {
    watchdog(async {
        let db = TestDb::new("occ").await;
        let store = db.store().await;
        let row = minimal_row("contended", 0);
        let id = row.meta.id;
        store.insert(&cx(), vec![row]).await.expect("insert");

        let mut tasks = Vec::new();
        for i in 0..4 {
            let store = Arc::clone(&store);
            tasks.push(tokio::spawn(async move {
                store
                    .update(
                        &StoreCx::none(),
                        vec![Patch::new(id, 1, obj(json!({ "price": 100 + i })))],
                        micros_now(),
                    )
                    .await
            }));
        }
        let mut ok = 0;
        let mut mismatches = 0;
        for t in tasks {
            match t.await.expect("task") {
                Ok(u) => {
                    assert!(u[0].changed);
                    assert_eq!(u[0].row.meta.rev, 2);
                    ok += 1;
                }
                Err(e) if e.kind() == ErrorKind::RevisionMismatch => mismatches += 1,
                Err(e) => panic!("unexpected error: {e:?}"),
            }
        }
        assert_eq!((ok, mismatches), (1, 3));
        let stored = store
            .get(&cx(), id, false)
            .await
            .expect("get")
            .expect("row");
        assert_eq!(stored.meta.rev, 2);
    })
    .await;
}

#[tokio::test]
async fn duplicate_id_is_conflict_and_nothing_is_inserted() {
    watchdog(async {
        let db = TestDb::new("dup").await;
        let store = db.store().await;
        let a = minimal_row("a", 1);
        store.insert(&cx(), vec![a.clone()]).await.expect("insert");

        let err = store.insert(&cx(), vec![a.clone()]).await.expect_err("dup");
        assert_eq!(err.kind(), ErrorKind::Conflict);
        assert!(err.message().contains(&a.meta.id.to_string()), "{err}");

        // A batch with one stored id: nothing of it is inserted, the message names the id.
        let fresh = minimal_row("fresh", 2);
        let mut clash = minimal_row("clash", 3);
        clash.meta = a.meta;
        let err = store
            .insert(&cx(), vec![fresh.clone(), clash])
            .await
            .expect_err("batch dup");
        assert_eq!(err.kind(), ErrorKind::Conflict);
        assert!(err.message().contains(&a.meta.id.to_string()), "{err}");
        assert_eq!(
            store.get(&cx(), fresh.meta.id, false).await.expect("get"),
            None
        );

        // The same id twice within one batch.
        let twice = minimal_row("twice", 4);
        let err = store
            .insert(&cx(), vec![twice.clone(), twice.clone()])
            .await
            .expect_err("dup in batch");
        assert_eq!(err.kind(), ErrorKind::Conflict);
        assert_eq!(store.count(&cx(), None).await.expect("count"), 1);
    })
    .await;
}

#[tokio::test]
async fn missing_id_is_not_found() {
    watchdog(async {
        let db = TestDb::new("missing").await;
        let store = db.store().await;
        let id = Uuid::now_v7();
        let id_s = id.to_string();
        let now = micros_now();

        let err = store
            .update(
                &cx(),
                vec![Patch::new(id, 1, obj(json!({"price": 1})))],
                now,
            )
            .await
            .expect_err("update");
        assert_eq!(err.kind(), ErrorKind::NotFound);
        assert!(
            err.message().contains(&id_s) && err.message().contains("products"),
            "{err}"
        );

        let err = store.touch(&cx(), id, now).await.expect_err("touch");
        assert_eq!(err.kind(), ErrorKind::NotFound);
        assert!(err.message().contains(&id_s));

        let err = store.delete(&cx(), &[id]).await.expect_err("delete");
        assert_eq!(err.kind(), ErrorKind::NotFound);
        assert!(err.message().contains(&id_s));
    })
    .await;
}

#[tokio::test]
async fn noop_update_keeps_rev_and_last_update_at() {
    watchdog(async {
        let db = TestDb::new("noop").await;
        let store = db.store().await;
        let a = full_row("same", 7);
        store.insert(&cx(), vec![a.clone()]).await.expect("insert");
        let later = micros_now() + chrono::Duration::seconds(5);

        // The same values, spelled as the store returns them (jsonb key order, timestamps).
        let patch = obj(json!({
            "name": "same",
            "price": 7,
            "due": "2031-02-03T04:05:06.123456+00:00",
            "attrs": {"sizes": [1, 2, 3], "nested": {"a": null}, "color": "red"},
            "ratio": 0.1,
        }));
        let out = store
            .update(&cx(), vec![Patch::new(a.meta.id, 1, patch.clone())], later)
            .await
            .expect("noop");
        assert!(!out[0].changed);
        assert_eq!(out[0].row, as_stored(&a));

        let out = store
            .update(
                &cx(),
                vec![Patch::new(a.meta.id, 1, Default::default())],
                later,
            )
            .await
            .expect("empty patch");
        assert!(!out[0].changed);
        assert_eq!(out[0].row.meta, a.meta);

        let stored = store
            .get(&cx(), a.meta.id, false)
            .await
            .expect("get")
            .expect("row");
        assert_eq!(stored.meta.rev, 1);
        assert_eq!(stored.meta.last_update_at, a.meta.last_update_at);

        // A no-op with a stale rev is still a mismatch.
        let err = store
            .update(&cx(), vec![Patch::new(a.meta.id, 5, patch)], later)
            .await
            .expect_err("stale");
        assert_eq!(err.kind(), ErrorKind::RevisionMismatch);
    })
    .await;
}

#[tokio::test]
async fn bad_values_are_validation_errors_naming_the_field() {
    watchdog(async {
        let db = TestDb::new("validation").await;
        let store = db.store().await;
        let a = minimal_row("a", 1);
        store.insert(&cx(), vec![a.clone()]).await.expect("insert");
        let now = micros_now();

        let cases = [
            (json!({"price": "cheap-secret"}), "price"),
            (json!({"price": null}), "price"),
            (json!({"owner": "not-a-uuid-secret"}), "owner"),
            (json!({"due": "tomorrow-secret"}), "due"),
            (json!({"rev": 9}), "rev"),
            (json!({"name": "x\u{0}y-secret"}), "name"),
        ];
        for (patch, field) in cases {
            let err = store
                .update(
                    &cx(),
                    vec![Patch::new(a.meta.id, 1, obj(patch.clone()))],
                    now,
                )
                .await
                .expect_err("invalid");
            assert_eq!(err.kind(), ErrorKind::Validation, "{patch}: {err}");
            assert!(err.message().contains(&format!("`{field}`")), "{err}");
            assert!(!err.message().contains("secret"), "{err}");
        }
        let mut missing_required = minimal_row("b", 2);
        missing_required.fields.remove("price");
        let err = store
            .insert(&cx(), vec![missing_required])
            .await
            .expect_err("missing field");
        assert_eq!(err.kind(), ErrorKind::Validation);
        assert!(err.message().contains("`price`"));

        let stored = store
            .get(&cx(), a.meta.id, false)
            .await
            .expect("get")
            .expect("row");
        assert_eq!(stored, as_stored(&a), "nothing written");
        assert_eq!(store.count(&cx(), None).await.expect("count"), 1);
    })
    .await;
}

/// Keyset pages, walked page by page from each page's last row, return exactly the rows of one
/// full ordered read, for every mix of directions, nullable keys and ties — the keyset
/// condition (with its leading index bound) neither skips nor repeats a row.
#[tokio::test]
async fn keyset_pages_walk_every_order_without_gaps_or_repeats() {
    watchdog(async {
        let db = TestDb::new("keyset").await;
        let store = db.store().await;
        let mut rows = Vec::new();
        for (i, (price, tag)) in [
            (30, Some("b")),
            (10, None),
            (20, Some("a")),
            (30, None),
            (10, Some("b")),
            (20, Some("b")),
            (30, Some("a")),
            (10, Some("a")),
            (20, None),
            (30, Some("b")),
            (40, None),
            (10, Some("c")),
        ]
        .into_iter()
        .enumerate()
        {
            let mut row = minimal_row(&format!("n{}", i % 4), price);
            row.fields
                .insert("tag".into(), tag.map_or(Value::Null, Value::from));
            rows.push(row);
        }
        store.insert(&cx(), rows).await.expect("insert");

        let sorts: &[&[Sort]] = &[
            &[Sort::asc("tag")],
            &[Sort::desc("tag")],
            &[Sort::desc("price")],
            &[Sort::asc("price")],
            &[Sort::desc("tag"), Sort::asc("price")],
            &[Sort::asc("tag"), Sort::desc("price")],
            &[Sort::desc("price"), Sort::asc("tag")],
            &[Sort::asc("name"), Sort::desc("tag")],
        ];
        for sort in sorts {
            let select = Select::new("products", &FIELDS, None, sort).expect("valid");
            let ids = |rows: &[Row]| rows.iter().map(|r| r.meta.id).collect::<Vec<_>>();
            let full = store.find(&cx(), &select).await.expect("full read");
            assert_eq!(full.len(), 12);
            for size in [1, 2, 5] {
                let mut walked = Vec::new();
                let mut after = None;
                loop {
                    let mut page = select.clone().with_limit(size);
                    if let Some(after) = after.take() {
                        page = page.with_after(after);
                    }
                    let got = store.find(&cx(), &page).await.expect("page");
                    walked.extend(ids(&got));
                    match got.last() {
                        Some(last) if got.len() as u64 == size => {
                            after = Some(forze_core::query::eval::sort_values(last, &select.sort));
                        }
                        _ => break,
                    }
                }
                assert_eq!(walked, ids(&full), "sort {sort:?}, pages of {size}");
            }
        }
    })
    .await;
}
