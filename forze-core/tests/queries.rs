//! The query ports on the in-memory backends: `find()` with typed and data filters, pages,
//! cursors, counts, streams, and every kind of bad input.

use forze_core::memory::MemoryDepsModule;
use forze_core::prelude::*;
use forze_core::query::{Cursor, Filter, Op, Sort, SortOrder};
use forze_core::{DepsRegistry, ErrorKind, ExecutionContext, ExecutionRuntime, LifecyclePlan};
use futures_util::TryStreamExt as _;
use uuid::Uuid;

#[derive(forze_core::Document)]
#[document_spec(name = "items", cache(name = "items"))]
pub struct Item {
    pub name: String,
    pub price: i32,
    pub weight: Option<f32>,
    pub tags: Vec<String>,
}

fn runtime() -> ExecutionRuntime {
    let module = MemoryDepsModule::new().document("items").cache("items");
    ExecutionRuntime::new(
        DepsRegistry::from_modules([module.boxed()])
            .freeze()
            .expect("deps"),
        LifecyclePlan::new().freeze().expect("plan"),
    )
}

async fn seed(ctx: &ExecutionContext, n: i32) -> Vec<ItemRead> {
    let items = ctx.document().command(&ITEM_SPEC).expect("command");
    let mut out = Vec::new();
    for i in 0..n {
        out.push(
            items
                .create(ItemCreate {
                    name: format!("{} item {i}", if i % 2 == 0 { "Red" } else { "blue" }),
                    price: i % 7,
                    weight: (i % 3 != 0).then_some(i as f32 / 2.0),
                    tags: vec![],
                })
                .await
                .expect("create"),
        );
    }
    out
}

fn ids(items: &[ItemRead]) -> Vec<Uuid> {
    items.iter().map(|i| i.id).collect()
}

async fn on_runtime<F: std::future::Future<Output = ()>>(f: impl FnOnce(ExecutionContext) -> F) {
    let runtime = runtime();
    tokio::time::timeout(std::time::Duration::from_secs(30), f(runtime.context()))
        .await
        .expect("the test finished within its watchdog");
}

#[tokio::test]
async fn typed_and_data_filters_agree() {
    on_runtime(|ctx| async move {
        let all = seed(&ctx, 40).await;
        let q = ctx.document().query(&ITEM_SPEC).expect("query");
        let typed = q
            .find()
            .filter(
                Item::PRICE.ge(3) & !Item::NAME.starts_with_ci("red") & Item::WEIGHT.is_not_null(),
            )
            .sort(Item::PRICE.desc())
            .sort(Item::WEIGHT.asc())
            .all()
            .await
            .expect("typed");
        let data: Filter = serde_json::from_value(serde_json::json!({"and": [
            {"field": "price", "op": "ge", "value": 3},
            {"not": {"field": "name", "op": "prefix", "value": "RED", "case_insensitive": true}},
            {"field": "weight", "op": "not_null"},
        ]}))
        .expect("data filter");
        let by_data = q
            .find()
            .filter(data)
            .sort_by([Sort::desc("price"), Sort::asc("weight")])
            .all()
            .await
            .expect("data");
        assert_eq!(ids(&typed), ids(&by_data));
        let mut expected: Vec<&ItemRead> = all
            .iter()
            .filter(|i| {
                i.price >= 3 && !i.name.to_lowercase().starts_with("red") && i.weight.is_some()
            })
            .collect();
        expected.sort_by(|a, b| {
            b.price
                .cmp(&a.price)
                .then(a.weight.partial_cmp(&b.weight).expect("no NaN"))
                .then(a.id.cmp(&b.id))
        });
        assert_eq!(
            ids(&typed),
            expected.iter().map(|i| i.id).collect::<Vec<_>>()
        );
        assert!(!typed.is_empty());
    })
    .await;
}

#[tokio::test]
async fn pages_cursors_counts_streams() {
    on_runtime(|ctx| async move {
        seed(&ctx, 23).await;
        let q = ctx.document().query(&ITEM_SPEC).expect("query");
        let filter = || Item::PRICE.lt(6);
        let everything = q
            .find()
            .filter(filter())
            .sort(Item::PRICE.desc())
            .all()
            .await
            .expect("all");
        assert_eq!(
            q.find().filter(filter()).count().await.expect("count"),
            everything.len() as u64
        );
        assert!(q.find().filter(filter()).exists().await.expect("exists"));
        assert!(
            !q.find()
                .filter(Item::PRICE.gt(100))
                .exists()
                .await
                .expect("exists")
        );
        assert_eq!(
            q.find()
                .filter(filter())
                .sort(Item::PRICE.desc())
                .first()
                .await
                .expect("first")
                .map(|i| i.id),
            everything.first().map(|i| i.id)
        );

        // cursor pages cover every match once, in order
        let mut after: Option<Cursor> = None;
        let mut walked = Vec::new();
        loop {
            let page = q
                .find()
                .filter(filter())
                .sort(Item::PRICE.desc())
                .limit(4)
                .cursor(after.as_ref())
                .await
                .expect("cursor page");
            assert!(page.items.len() <= 4);
            walked.extend(page.items);
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        assert_eq!(ids(&walked), ids(&everything));

        // offset pages with a total
        let page = q
            .find()
            .filter(filter())
            .sort(Item::PRICE.desc())
            .offset(4)
            .limit(4)
            .with_total()
            .page()
            .await
            .expect("page");
        assert_eq!(page.total, Some(everything.len() as u64));
        assert_eq!(ids(&page.items), ids(&everything[4..8]));

        // a stream of chunks
        let chunks: Vec<Vec<ItemRead>> = q
            .find()
            .filter(filter())
            .sort(Item::PRICE.desc())
            .limit(5)
            .stream()
            .try_collect()
            .await
            .expect("stream");
        assert!(chunks.iter().all(|c| c.len() <= 5 && !c.is_empty()));
        let streamed: Vec<ItemRead> = chunks.into_iter().flatten().collect();
        assert_eq!(ids(&streamed), ids(&everything));
    })
    .await;
}

#[tokio::test]
async fn bad_input_is_a_validation_error_naming_the_problem() {
    on_runtime(|ctx| async move {
        seed(&ctx, 5).await;
        let q = ctx.document().query(&ITEM_SPEC).expect("query");
        let expect = |res: forze_core::Result<Vec<ItemRead>>, words: &[&str]| {
            let err = res.expect_err("bad input");
            assert_eq!(err.kind(), ErrorKind::Validation, "{err}");
            for w in words {
                assert!(err.to_string().contains(w), "`{w}` missing in: {err}");
            }
        };
        expect(
            q.find()
                .filter(Filter::field("colour", Op::Eq, "red"))
                .all()
                .await,
            &["unknown field `colour`", "name, price, weight, tags"],
        );
        expect(
            q.find()
                .filter(Filter::field("price", Op::Contains, "1"))
                .all()
                .await,
            &["operator `contains` does not fit field `price`"],
        );
        expect(
            q.find()
                .filter(Filter::field("price", Op::Lt, "cheap"))
                .all()
                .await,
            &["`lt` on field `price` takes an integer"],
        );
        expect(
            q.find()
                .sort(Sort {
                    field: "tags".into(),
                    order: SortOrder::Asc,
                })
                .all()
                .await,
            &["field `tags` (json) cannot be sorted by"],
        );
        expect(
            q.find().limit(0).all().await,
            &["page size 0 is out of range; accepted: 1..=10000"],
        );
        expect(
            q.find().limit(1_000_000).all().await,
            &["page size 1000000"],
        );
        let cursor_err = |res: forze_core::Result<forze_core::query::CursorPage<ItemRead>>,
                          w: &str| {
            let err = res.expect_err("bad cursor");
            assert_eq!(err.kind(), ErrorKind::Validation);
            assert!(err.to_string().contains(w), "{err}");
        };
        let page = q.find().limit(2).cursor(None).await.expect("first page");
        let next = page.next.expect("more pages");
        // the cursor continues only its own query
        cursor_err(
            q.find()
                .filter(Item::PRICE.ge(0))
                .limit(2)
                .cursor(Some(&next))
                .await,
            "belongs to another query",
        );
        cursor_err(
            q.find()
                .sort(Item::PRICE.asc())
                .limit(2)
                .cursor(Some(&next))
                .await,
            "belongs to another query",
        );
        // (a cursor of one tenant used by another: `forze_core::testing::tenancy_isolation_suite`)
        let mut token = next.as_str().to_owned();
        token.insert(3, 'x');
        cursor_err(
            q.find()
                .limit(2)
                .cursor(Some(&Cursor::from_token(token)))
                .await,
            "malformed or was altered",
        );
        cursor_err(
            q.find().offset(2).cursor(None).await,
            "a cursor page starts at its cursor",
        );
        // a runtime with another secret does not accept it
        let other = runtime().with_cursor_secret("another secret").context();
        let oq = other.document().query(&ITEM_SPEC).expect("query");
        cursor_err(oq.find().limit(2).cursor(Some(&next)).await, "altered");
        // the same secret on two runtimes: a cursor from one continues on the other
        let a = runtime().with_cursor_secret("s3cret").context();
        let b = runtime().with_cursor_secret("s3cret").context();
        seed(&a, 3).await;
        let page = a
            .document()
            .query(&ITEM_SPEC)
            .expect("q")
            .find()
            .limit(1)
            .cursor(None)
            .await
            .expect("page");
        let next = page.next.expect("next");
        b.document()
            .query(&ITEM_SPEC)
            .expect("q")
            .find()
            .limit(1)
            .cursor(Some(&next))
            .await
            .expect("continues");
    })
    .await;
}

#[tokio::test]
async fn a_spec_without_tenancy_refuses_a_tenant_context() {
    on_runtime(|ctx| async move {
        // per-tenant data needs `tenant = "..."` in the spec: see tests/tenancy.rs
        let tenant = ctx.with_tenant(Uuid::now_v7());
        let err = tenant.document().query(&ITEM_SPEC).expect_err("refused");
        assert_eq!(err.kind(), ErrorKind::Config, "{err}");
        assert!(err.to_string().contains("document `items`"), "{err}");
    })
    .await;
}

#[derive(forze_core::Document)]
#[document_spec(name = "skus", cache(name = "skus"), unique(sku))]
pub struct Sku {
    pub sku: String,
    pub label: String,
}

fn sku_runtime(
    store: &forze_core::memory::MemoryDocumentStore,
    cache: &forze_core::memory::MemoryCache,
) -> ExecutionRuntime {
    let module = forze_core::testing::TestDepsModule::new("skus")
        .document("skus", std::sync::Arc::new(store.clone()))
        .cache("skus", std::sync::Arc::new(cache.clone()));
    ExecutionRuntime::new(
        DepsRegistry::from_modules([module.boxed()])
            .freeze()
            .expect("deps"),
        LifecyclePlan::new().freeze().expect("plan"),
    )
}

#[tokio::test]
async fn unique_lookups_read_through_the_cache_and_never_return_a_moved_value() {
    let store = forze_core::memory::MemoryDocumentStore::new();
    let cache = forze_core::memory::MemoryCache::new();
    // two replicas: one store, one shared cache
    let a = sku_runtime(&store, &cache).context();
    let b = sku_runtime(&store, &cache).context();
    tokio::time::timeout(std::time::Duration::from_secs(30), async {
        let qa = a.document().query(&SKU_SPEC).expect("query");
        let cb = b.document().command(&SKU_SPEC).expect("command");
        let one = cb
            .create(SkuCreate {
                sku: "A-1".into(),
                label: "one".into(),
            })
            .await
            .expect("create");
        let two = cb
            .create(SkuCreate {
                sku: "B-2".into(),
                label: "two".into(),
            })
            .await
            .expect("create");

        let found = qa
            .find_by(Sku::SKU, "A-1")
            .await
            .expect("lookup")
            .expect("found");
        assert_eq!(found.id, one.id);
        // the second lookup reads the document through the cache and fills it; the third hits
        qa.find_by(Sku::SKU, "A-1")
            .await
            .expect("lookup")
            .expect("found");
        let before = a.cache(&SKU_SPEC).expect("cache").stats();
        let again = qa
            .find_by(Sku::SKU, "A-1")
            .await
            .expect("lookup")
            .expect("found");
        let after = a.cache(&SKU_SPEC).expect("cache").stats();
        assert_eq!(again.id, one.id);
        assert_eq!(after.store_reads, before.store_reads, "served by the cache");
        assert_eq!(after.hits, before.hits + 1);

        // replica B moves the value to another document: A never returns the old holder
        cb.update(
            one.id,
            one.rev,
            SkuUpdate {
                sku: Some("A-1-old".into()),
                ..Default::default()
            },
        )
        .await
        .expect("rename");
        assert!(qa.find_by(Sku::SKU, "A-1").await.expect("lookup").is_none());
        cb.update(
            two.id,
            two.rev,
            SkuUpdate {
                sku: Some("A-1".into()),
                ..Default::default()
            },
        )
        .await
        .expect("take the value");
        let holder = qa
            .find_by(Sku::SKU, "A-1")
            .await
            .expect("lookup")
            .expect("found");
        assert_eq!(holder.id, two.id);
        assert_eq!(holder.label, "two");
        cb.delete(two.id).await.expect("delete");
        assert!(qa.find_by(Sku::SKU, "A-1").await.expect("lookup").is_none());

        // per tenant, the same value in two tenants: `tenancy_isolation_suite` (tests/tenancy.rs)

        // a field that is not declared unique is refused, naming the fix
        let err = qa.find_by(Sku::LABEL, "one").await.expect_err("not unique");
        assert_eq!(err.kind(), ErrorKind::Validation);
        assert!(err.to_string().contains("unique(label)"), "{err}");
    })
    .await
    .expect("the test finished within its watchdog");
}
