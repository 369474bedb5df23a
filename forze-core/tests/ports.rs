//! Port semantics: every operation of `DocumentCommand` and `DocumentQuery`, on a cached and on
//! an uncached spec.

mod common;

use std::time::Duration;

use chrono::SubsecRound;
use common::Fixture;
use forze_core::testing::{
    PLAIN_PRODUCT_SPEC, PRODUCT_SPEC, Product, ProductCreate, ProductRead, ProductUpdate, watchdog,
};
use forze_core::{DocumentSpec, ErrorKind, ListQuery, SortOrder};
use uuid::Uuid;

const SPECS: [&DocumentSpec<Product>; 2] = [&PRODUCT_SPEC, &PLAIN_PRODUCT_SPEC];

fn update() -> ProductUpdate {
    ProductUpdate::default()
}

#[tokio::test]
async fn create_assigns_a_v7_id_rev_1_and_the_runtime_clock() {
    watchdog(async {
        for spec in SPECS {
            let f = Fixture::new();
            let ctx = f.ctx();
            let docs = ctx.document().command(spec).unwrap();
            let now = f.clock.now_utc_micros();
            let p = docs
                .create(ProductCreate {
                    name: "Widget".into(),
                    price: 10,
                    note: Some("n".into()),
                })
                .await
                .unwrap();
            assert_eq!(p.id.get_version_num(), 7);
            assert_eq!(p.rev, 1);
            assert_eq!((p.created_at, p.last_update_at), (now, now));
            assert_eq!(
                (p.name.as_str(), p.price, p.note.as_deref()),
                ("Widget", 10, Some("n"))
            );
            assert_eq!(
                ctx.document().query(spec).unwrap().get(p.id).await.unwrap(),
                p
            );

            let many = docs
                .create_many(vec![ProductCreate::new("a", 1), ProductCreate::new("b", 2)])
                .await
                .unwrap();
            assert_eq!(
                many.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
                ["a", "b"],
                "input order"
            );
            assert!(many[0].id < many[1].id, "v7 ids are time-ordered");
            assert!(docs.create_many(Vec::new()).await.unwrap().is_empty());
            assert_eq!(
                ctx.document().query(spec).unwrap().count().await.unwrap(),
                3
            );
        }
    })
    .await;
}

trait ClockExt {
    fn now_utc_micros(&self) -> chrono::DateTime<chrono::Utc>;
}

impl ClockExt for forze_core::clock::MockClock {
    fn now_utc_micros(&self) -> chrono::DateTime<chrono::Utc> {
        forze_core::clock::Clock::utc_now(self).trunc_subsecs(6)
    }
}

#[tokio::test]
async fn ensure_inserts_when_absent_and_returns_the_stored_document_unchanged() {
    watchdog(async {
        for spec in SPECS {
            let f = Fixture::new();
            let ctx = f.ctx();
            let docs = ctx.document().command(spec).unwrap();
            let id = Uuid::now_v7();
            let first = docs
                .ensure(id, ProductCreate::new("first", 1))
                .await
                .unwrap();
            assert_eq!((first.id, first.rev, first.name.as_str()), (id, 1, "first"));
            f.clock.advance(Duration::from_secs(5));
            let again = docs
                .ensure(id, ProductCreate::new("second", 2))
                .await
                .unwrap();
            assert_eq!(again, first, "unchanged: same fields, rev and timestamps");
            assert_eq!(
                ctx.document().query(spec).unwrap().get(id).await.unwrap(),
                first
            );
        }
    })
    .await;
}

#[tokio::test]
async fn update_checks_the_rev_and_bumps_it_only_on_change() {
    watchdog(async {
        for spec in SPECS {
            let f = Fixture::new();
            let ctx = f.ctx();
            let docs = ctx.document().command(spec).unwrap();
            let query = ctx.document().query(spec).unwrap();
            let p = docs
                .create(ProductCreate {
                    name: "Widget".into(),
                    price: 10,
                    note: Some("note".into()),
                })
                .await
                .unwrap();
            f.clock.advance(Duration::from_secs(1));
            let later = f.clock.now_utc_micros();

            let v2 = docs
                .update(
                    p.id,
                    1,
                    ProductUpdate {
                        price: Some(12),
                        ..update()
                    },
                )
                .await
                .unwrap();
            assert_eq!(v2.rev, 2);
            assert_eq!(
                (v2.price, v2.name.as_str(), v2.note.as_deref()),
                (12, "Widget", Some("note"))
            );
            assert_eq!((v2.created_at, v2.last_update_at), (p.created_at, later));

            // Stale (older or newer) rev, missing id.
            for stale in [1, 3] {
                let err = docs
                    .update(
                        p.id,
                        stale,
                        ProductUpdate {
                            price: Some(1),
                            ..update()
                        },
                    )
                    .await
                    .unwrap_err();
                assert_eq!(err.kind(), ErrorKind::RevisionMismatch, "{err}");
                assert!(err.to_string().contains(&p.id.to_string()), "{err}");
            }
            let missing = Uuid::now_v7();
            let err = docs.update(missing, 1, update()).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::NotFound);
            assert!(err.to_string().contains(&missing.to_string()), "{err}");

            // No-op updates keep rev and last_update_at.
            f.clock.advance(Duration::from_secs(1));
            for noop in [
                update(),
                ProductUpdate {
                    price: Some(12),
                    name: Some("Widget".into()),
                    ..update()
                },
            ] {
                let same = docs.update(p.id, 2, noop).await.unwrap();
                assert_eq!(same, v2);
            }
            assert_eq!(query.get(p.id).await.unwrap(), v2);

            // `Some(None)` clears a nullable field; `None` leaves it.
            let cleared = docs
                .update(
                    p.id,
                    2,
                    ProductUpdate {
                        note: Some(None),
                        ..update()
                    },
                )
                .await
                .unwrap();
            assert_eq!((cleared.rev, cleared.note), (3, None));
            let set = docs
                .update(
                    p.id,
                    3,
                    ProductUpdate {
                        note: Some(Some("again".into())),
                        ..update()
                    },
                )
                .await
                .unwrap();
            assert_eq!(set.note.as_deref(), Some("again"));
            assert_eq!(query.get(p.id).await.unwrap(), set);
        }
    })
    .await;
}

#[tokio::test]
async fn update_many_is_all_or_nothing_and_keeps_input_order() {
    watchdog(async {
        for spec in SPECS {
            let f = Fixture::new();
            let ctx = f.ctx();
            let docs = ctx.document().command(spec).unwrap();
            let query = ctx.document().query(spec).unwrap();
            let [a, b] = <[ProductRead; 2]>::try_from(
                docs.create_many(vec![ProductCreate::new("a", 1), ProductCreate::new("b", 2)])
                    .await
                    .unwrap(),
            )
            .unwrap();
            let p = |n| ProductUpdate {
                price: Some(n),
                ..update()
            };

            let err = docs
                .update_many(vec![(a.id, 1, p(10)), (b.id, 5, p(20))])
                .await
                .unwrap_err();
            assert_eq!(err.kind(), ErrorKind::RevisionMismatch);
            let missing = Uuid::now_v7();
            let err = docs
                .update_many(vec![(a.id, 1, p(10)), (missing, 1, p(20))])
                .await
                .unwrap_err();
            assert_eq!(err.kind(), ErrorKind::NotFound);
            assert!(err.to_string().contains(&missing.to_string()));
            assert_eq!(query.get(a.id).await.unwrap(), a, "nothing was written");

            let err = docs
                .update_many(vec![(a.id, 1, p(10)), (a.id, 1, p(20))])
                .await
                .unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Validation);
            assert!(err.to_string().contains(&a.id.to_string()), "{err}");

            let out = docs
                .update_many(vec![(b.id, 1, p(20)), (a.id, 1, p(1))])
                .await
                .unwrap();
            assert_eq!((out[0].id, out[0].rev, out[0].price), (b.id, 2, 20));
            assert_eq!(out[1], a, "a no-op row comes back unchanged");
            assert!(docs.update_many(Vec::new()).await.unwrap().is_empty());
        }
    })
    .await;
}

#[tokio::test]
async fn touch_and_delete() {
    watchdog(async {
        for spec in SPECS {
            let f = Fixture::new();
            let ctx = f.ctx();
            let docs = ctx.document().command(spec).unwrap();
            let query = ctx.document().query(spec).unwrap();
            let ps = docs
                .create_many(vec![
                    ProductCreate::new("a", 1),
                    ProductCreate::new("b", 2),
                    ProductCreate::new("c", 3),
                ])
                .await
                .unwrap();
            f.clock.advance(Duration::from_secs(3));
            let touched = docs.touch(ps[0].id).await.unwrap();
            assert_eq!(touched.rev, 2);
            assert_eq!(touched.last_update_at, f.clock.now_utc_micros());
            assert_eq!((touched.name.as_str(), touched.price), ("a", 1));
            assert_eq!(query.get(ps[0].id).await.unwrap(), touched);
            let missing = Uuid::now_v7();
            assert_eq!(
                docs.touch(missing).await.unwrap_err().kind(),
                ErrorKind::NotFound
            );

            docs.delete(ps[0].id).await.unwrap();
            assert_eq!(
                query.get(ps[0].id).await.unwrap_err().kind(),
                ErrorKind::NotFound
            );
            let err = docs.delete(ps[0].id).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::NotFound);

            let err = docs.delete_many(&[ps[1].id, missing]).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::NotFound);
            assert!(err.to_string().contains(&missing.to_string()), "{err}");
            assert_eq!(query.count().await.unwrap(), 2, "nothing was deleted");
            let err = docs.delete_many(&[ps[1].id, ps[1].id]).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Validation);
            docs.delete_many(&[]).await.unwrap();
            docs.delete_many(&[ps[1].id, ps[2].id]).await.unwrap();
            assert_eq!(query.count().await.unwrap(), 0);
        }
    })
    .await;
}

#[tokio::test]
async fn get_and_get_many_name_what_is_missing() {
    watchdog(async {
        for spec in SPECS {
            let f = Fixture::new();
            let ctx = f.ctx();
            let docs = ctx.document().command(spec).unwrap();
            let query = ctx.document().query(spec).unwrap();
            let ps = docs
                .create_many(vec![ProductCreate::new("a", 1), ProductCreate::new("b", 2)])
                .await
                .unwrap();
            let missing = Uuid::now_v7();
            let err = query.get(missing).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::NotFound);
            assert_eq!(
                err.to_string(),
                format!("document `{}` {missing} not found", spec.name)
            );

            let got = query
                .get_many(&[ps[1].id, ps[0].id, ps[1].id])
                .await
                .unwrap();
            assert_eq!(
                got,
                [ps[1].clone(), ps[0].clone(), ps[1].clone()],
                "input order"
            );
            let other = Uuid::now_v7();
            let err = query
                .get_many(&[ps[0].id, missing, other])
                .await
                .unwrap_err();
            assert_eq!(err.kind(), ErrorKind::NotFound);
            assert_eq!(
                err.to_string(),
                format!("documents `{}` not found: [{missing}, {other}]", spec.name)
            );
            assert!(query.get_many(&[]).await.unwrap().is_empty());
        }
    })
    .await;
}

#[tokio::test]
async fn list_sorts_limits_and_offsets_and_count_counts() {
    watchdog(async {
        for spec in SPECS {
            let f = Fixture::new();
            let ctx = f.ctx();
            let docs = ctx.document().command(spec).unwrap();
            let query = ctx.document().query(spec).unwrap();
            for (name, price) in [("c", 3), ("a", 1), ("b", 2), ("d", 2)] {
                f.clock.advance(Duration::from_secs(1));
                docs.create(ProductCreate::new(name, price)).await.unwrap();
            }
            let names =
                |rows: Vec<ProductRead>| rows.into_iter().map(|p| p.name).collect::<Vec<_>>();
            assert_eq!(
                names(query.list(ListQuery::new()).await.unwrap()),
                ["c", "a", "b", "d"]
            );
            assert_eq!(
                names(
                    query
                        .list(ListQuery::new().sort("name", SortOrder::Asc))
                        .await
                        .unwrap()
                ),
                ["a", "b", "c", "d"]
            );
            assert_eq!(
                names(
                    query
                        .list(ListQuery::new().sort("price", SortOrder::Desc))
                        .await
                        .unwrap()
                ),
                ["c", "d", "b", "a"],
                "ties by id in the same direction"
            );
            assert_eq!(
                names(
                    query
                        .list(
                            ListQuery::new()
                                .sort("created_at", SortOrder::Desc)
                                .limit(2)
                        )
                        .await
                        .unwrap()
                ),
                ["d", "b"]
            );
            assert_eq!(
                names(
                    query
                        .list(
                            ListQuery::new()
                                .sort("price", SortOrder::Asc)
                                .offset(1)
                                .limit(2)
                        )
                        .await
                        .unwrap()
                ),
                ["b", "d"]
            );
            let err = query
                .list(ListQuery::new().sort("colour", SortOrder::Asc))
                .await
                .unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Validation);
            assert!(err.to_string().contains("`colour`"), "{err}");
            assert!(
                err.to_string().contains("price"),
                "lists the sortable fields: {err}"
            );
            assert_eq!(query.count().await.unwrap(), 4);
        }
    })
    .await;
}

#[test]
fn ports_and_handles_are_send_sync_and_cheap_to_clone() {
    fn assert<T: Send + Sync + Clone + 'static>() {}
    assert::<forze_core::DocumentCommand<Product>>();
    assert::<forze_core::DocumentQuery<Product>>();
    assert::<forze_core::CacheHandle>();
    assert::<forze_core::ExecutionContext>();
    assert::<forze_core::ExecutionRuntime>();
    assert::<forze_core::FrozenDeps>();
    assert::<forze_core::FrozenLifecycle>();
    assert::<forze_core::memory::MemoryCache>();
    assert::<forze_core::memory::MemoryDocumentStore>();
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<forze_core::DepsRegistry>();
    assert_send_sync::<forze_core::LifecyclePlan>();
}
