//! The tenant isolation suite: two tenants holding the same ids and the same field values, and
//! every read, query, write, delete and cache path of one tried against the other's data.

use std::fmt::Debug;
use std::sync::Arc;

use uuid::Uuid;

use crate::cache::Cache;
use crate::error::{ErrorKind, Result};
use crate::runtime::{DepsModule as _, DepsRegistry, ExecutionRuntime, LifecyclePlan};
use crate::spec::{DocumentSpec, Tenancy};
use crate::store::{DocumentBackend, ListQuery};
use crate::testing::TestDepsModule;

/// The suite's document: `sku` (unique per tenant) and `price`, cached under `tenant_items`,
/// row-level tenant-scoped ([`TENANT_ITEM_SPEC`]; for schema-per-tenant, the suite takes
/// `TENANT_ITEM_SPEC.with_tenancy(Tenancy::Schema)`).
#[derive(Debug, crate::Document)]
#[document_spec(
    name = "tenant_items",
    cache(name = "tenant_items"),
    unique(sku),
    index(price),
    tenant = "column"
)]
pub struct TenantItem {
    /// A unique code, per tenant.
    pub sku: String,
    /// A price.
    pub price: i32,
}

#[track_caller]
fn refused<T: Debug>(result: Result<T>, kind: ErrorKind, what: &str) {
    match result {
        Err(err) if err.kind() == kind => {}
        other => panic!("{what}: expected {kind:?}, got {other:?}"),
    }
}

fn item(sku: &str, price: i32) -> TenantItemCreate {
    TenantItemCreate {
        sku: sku.to_owned(),
        price,
    }
}

/// Run the isolation suite on `backend` with `cache`, for `spec` (a [`TenantItem`] spec of
/// either tenancy, bound to the backend under `tenant_items`), for the tenants `a` and `b`
/// (provisioned already, for a backend that needs it, and empty).
///
/// Checks that with the same ids and values in both tenants, nothing of one tenant is seen,
/// changed or evicted through the other: `get`, `get_many`, `list`, `find` (filters, sorts,
/// pages, totals), `count`, cursors (a cursor of one tenant is `Validation` for the other),
/// `find_by` on the unique `sku` (values unique per tenant), `ensure`, `update`, `touch`,
/// `delete`, `delete_many` (all or nothing), and the cache: the other tenant's cached entries
/// survive every write (its reads stay cache hits, its raw entries keep their revs). Also that a
/// context without a tenant is refused with `Config`, for the query, command and cache ports.
///
/// # Panics
///
/// On the first broken rule, naming it.
pub async fn tenancy_isolation_suite(
    spec: DocumentSpec<TenantItem>,
    backend: Arc<dyn DocumentBackend>,
    cache: Arc<dyn Cache>,
    a: Uuid,
    b: Uuid,
) {
    assert!(
        spec.tenancy.is_scoped(),
        "the suite needs a tenant-scoped spec"
    );
    let module = TestDepsModule::new("tenancy")
        .document("tenant_items", backend)
        .cache("tenant_items", cache);
    let runtime = ExecutionRuntime::new(
        DepsRegistry::from_modules([module.boxed()])
            .freeze()
            .expect("deps"),
        LifecyclePlan::new().freeze().expect("plan"),
    );
    let plain = runtime.context();
    let (ca, cb) = (plain.with_tenant(a), plain.with_tenant(b));
    let spec = &spec;

    // A tenant-scoped spec from a context without a tenant: refused by every port.
    refused(
        plain.document().query(spec),
        ErrorKind::Config,
        "query port without a tenant",
    );
    refused(
        plain.document().command(spec),
        ErrorKind::Config,
        "command port without a tenant",
    );
    refused(
        plain.cache(spec),
        ErrorKind::Config,
        "cache handle without a tenant",
    );
    let err = plain.document().query(spec).expect_err("refused");
    assert!(
        err.to_string().contains("document `tenant_items`")
            && err.to_string().contains("with_tenant"),
        "the refusal names the document and the fix: {err}"
    );

    // The same ids and values in both tenants.
    let ids: Vec<Uuid> = (0..4).map(|_| Uuid::now_v7()).collect();
    for ctx in [&ca, &cb] {
        let cmd = ctx.document().command(spec).expect("command");
        for (i, id) in ids.iter().enumerate() {
            let price = 10 * (i32::try_from(i).expect("small") + 1);
            let read = cmd
                .ensure(*id, item(&format!("SKU-{i}"), price))
                .await
                .expect("ensure");
            assert_eq!(
                (read.id, read.rev, read.price),
                (*id, 1, price),
                "ensured in its tenant"
            );
        }
    }
    let (qa, qb) = (
        ca.document().query(spec).expect("query"),
        cb.document().query(spec).expect("query"),
    );
    let (wa, wb) = (
        ca.document().command(spec).expect("command"),
        cb.document().command(spec).expect("command"),
    );
    assert_eq!(qa.count().await.expect("count a"), 4);
    assert_eq!(qb.count().await.expect("count b"), 4);

    // Writes in A; B's documents (same ids) keep their values.
    let a0 = wa
        .update(
            ids[0],
            1,
            TenantItemUpdate {
                price: Some(111),
                ..Default::default()
            },
        )
        .await
        .expect("update in a");
    assert_eq!((a0.rev, a0.price), (2, 111));
    let b0 = qb.get(ids[0]).await.expect("b's document");
    assert_eq!(
        (b0.rev, b0.price),
        (1, 10),
        "an update in a changed b's document"
    );

    // Warm B's cache, then write every id in A: B's entries must survive.
    for _ in 0..2 {
        qb.get_many(&ids).await.expect("b reads its documents");
    }
    let b_cache = cb.cache(spec).expect("b's cache handle");
    let a_cache = ca.cache(spec).expect("a's cache handle");
    assert_ne!(
        a_cache.key(&ids[1].to_string()),
        b_cache.key(&ids[1].to_string())
    );
    let b_entry = b_cache
        .get(&ids[1].to_string())
        .await
        .expect("cache")
        .expect("b's entry");
    assert_eq!(b_entry.rev, 1);
    wa.touch(ids[1]).await.expect("touch in a");
    wa.update(
        ids[2],
        1,
        TenantItemUpdate {
            sku: Some("A-ONLY".into()),
            ..Default::default()
        },
    )
    .await
    .expect("update in a");
    wa.delete(ids[3]).await.expect("delete in a");
    let before = b_cache.stats();
    let reads = qb.get_many(&ids).await.expect("b still reads all four");
    let after = b_cache.stats();
    assert_eq!(
        reads
            .iter()
            .map(|r| (r.id, r.rev, r.price))
            .collect::<Vec<_>>(),
        ids.iter()
            .enumerate()
            .map(|(i, id)| (*id, 1, 10 * (i32::try_from(i).expect("small") + 1)))
            .collect::<Vec<_>>(),
        "b's documents are unchanged by a's writes"
    );
    assert!(
        after.hits >= before.hits + 4 && after.misses == before.misses,
        "a's writes evicted b's cached entries: hits {} -> {}, misses {} -> {}",
        before.hits,
        after.hits,
        before.misses,
        after.misses
    );
    let b_entry = b_cache
        .get(&ids[1].to_string())
        .await
        .expect("cache")
        .expect("b's entry");
    assert_eq!(b_entry.rev, 1, "b's raw entry keeps its rev");
    // A reads its own writes (its invalidations were its own).
    refused(
        qa.get(ids[3]).await,
        ErrorKind::NotFound,
        "a's deleted document",
    );
    assert_eq!(qa.get(ids[1]).await.expect("a").rev, 2);
    assert_eq!(qa.get(ids[2]).await.expect("a").sku, "A-ONLY");
    assert_eq!(
        qb.get(ids[3]).await.expect("b keeps the id a deleted").rev,
        1
    );

    // Lists, filters, counts, pages.
    assert_eq!(qa.count().await.expect("count"), 3);
    assert_eq!(qb.count().await.expect("count"), 4);
    let a_all = qa
        .find()
        .sort(TenantItem::PRICE.asc())
        .all()
        .await
        .expect("find a");
    assert_eq!(
        a_all.iter().map(|r| (r.id, r.price)).collect::<Vec<_>>(),
        vec![(ids[1], 20), (ids[2], 30), (ids[0], 111)]
    );
    let cheap_b = qb
        .find()
        .filter(TenantItem::PRICE.lt(100))
        .with_total()
        .page()
        .await
        .expect("page b");
    assert_eq!(
        (cheap_b.items.len(), cheap_b.total),
        (4, Some(4)),
        "b's filter sees b's rows"
    );
    let cheap_a = qa
        .find()
        .filter(TenantItem::PRICE.lt(100))
        .count()
        .await
        .expect("count a");
    assert_eq!(cheap_a, 2, "a's filter sees a's rows only");
    assert!(
        qb.find()
            .filter(TenantItem::SKU.eq("A-ONLY"))
            .first()
            .await
            .expect("find")
            .is_none(),
        "b sees a's value"
    );
    let listed = qb.list(ListQuery::new()).await.expect("list b");
    assert_eq!(listed.len(), 4);
    assert!(
        listed.iter().all(|r| r.rev == 1),
        "b's list shows a's writes"
    );

    // Cursors: A's cursor is not B's.
    let first = qa
        .find()
        .sort(TenantItem::PRICE.asc())
        .limit(1)
        .cursor(None)
        .await
        .expect("page");
    let next = first.next.expect("more pages");
    let second = qa
        .find()
        .sort(TenantItem::PRICE.asc())
        .limit(1)
        .cursor(Some(&next))
        .await
        .expect("a continues its own cursor");
    assert_eq!(second.items[0].id, ids[2]);
    refused(
        qb.find()
            .sort(TenantItem::PRICE.asc())
            .limit(1)
            .cursor(Some(&next))
            .await,
        ErrorKind::Validation,
        "a's cursor used by b",
    );

    // Unique lookups, per tenant.
    for _ in 0..2 {
        let found = qa
            .find_by(TenantItem::SKU, "SKU-0")
            .await
            .expect("find_by a");
        assert_eq!(found.map(|r| r.price), Some(111));
        let found = qb
            .find_by(TenantItem::SKU, "SKU-0")
            .await
            .expect("find_by b");
        assert_eq!(found.map(|r| r.price), Some(10));
    }
    assert!(
        qb.find_by(TenantItem::SKU, "A-ONLY")
            .await
            .expect("find_by")
            .is_none()
    );
    assert!(
        qa.find_by(TenantItem::SKU, "SKU-2")
            .await
            .expect("find_by")
            .is_none()
    );
    assert_eq!(
        qb.find_by(TenantItem::SKU, "SKU-2")
            .await
            .expect("find_by")
            .map(|r| r.id),
        Some(ids[2])
    );
    // unique per tenant: a value b holds is free in a, one a holds is taken
    refused(
        wa.create(item("SKU-0", 1)).await,
        ErrorKind::Conflict,
        "a duplicate sku in a",
    );
    let moved = wa
        .create(item("SKU-3", 1))
        .await
        .expect("b's sku is free in a");
    assert_eq!(
        qa.find_by(TenantItem::SKU, "SKU-3")
            .await
            .expect("find_by")
            .map(|r| r.id),
        Some(moved.id)
    );

    // Ids only B holds: A cannot see, change or delete them.
    let b_only = wb.create(item("B-ONLY", 7)).await.expect("create in b");
    refused(
        qa.get(b_only.id).await,
        ErrorKind::NotFound,
        "a gets b's id",
    );
    refused(
        qa.get_many(&[b_only.id]).await,
        ErrorKind::NotFound,
        "a gets_many b's id",
    );
    refused(
        wa.update(
            b_only.id,
            1,
            TenantItemUpdate {
                price: Some(0),
                ..Default::default()
            },
        )
        .await,
        ErrorKind::NotFound,
        "a updates b's id",
    );
    refused(
        wa.touch(b_only.id).await,
        ErrorKind::NotFound,
        "a touches b's id",
    );
    refused(
        wa.delete(b_only.id).await,
        ErrorKind::NotFound,
        "a deletes b's id",
    );
    refused(
        wa.delete_many(&[ids[0], b_only.id]).await,
        ErrorKind::NotFound,
        "a deletes its id and b's",
    );
    assert_eq!(
        qa.get(ids[0])
            .await
            .expect("a batch failing is all or nothing")
            .price,
        111
    );
    let ensured = wa
        .ensure(b_only.id, item("A-OWN", 5))
        .await
        .expect("ensure in a");
    assert_eq!(
        (ensured.sku.as_str(), ensured.price),
        ("A-OWN", 5),
        "ensure returned b's document"
    );
    let b_kept = qb.get(b_only.id).await.expect("b's document");
    assert_eq!(
        (b_kept.rev, b_kept.sku.as_str(), b_kept.price),
        (1, "B-ONLY", 7)
    );

    // Deleting in B leaves A's same id alone, through the cache too.
    qa.get(ids[0]).await.expect("warm a");
    wb.delete(ids[0]).await.expect("delete in b");
    refused(
        qb.get(ids[0]).await,
        ErrorKind::NotFound,
        "b's deleted document",
    );
    assert_eq!(
        qa.get(ids[0]).await.expect("a keeps its document").price,
        111
    );
    assert_eq!(qa.count().await.expect("count"), 5);
    assert_eq!(qb.count().await.expect("count"), 4);
    drop(runtime);
}

/// [`TENANT_ITEM_SPEC`] with its tenancy set to `tenancy`.
pub fn tenant_item_spec(tenancy: Tenancy) -> DocumentSpec<TenantItem> {
    TENANT_ITEM_SPEC.clone().with_tenancy(tenancy)
}
