//! What the catalog example prints and the querying guide (`docs/recipes/querying.md`) says,
//! checked against the seed data computed in Rust: the pages cover every match once and in
//! order, the counts and totals agree, every operator matches what its name says (nulls
//! included), the client's query runs within the server's condition, and mistakes are
//! `Validation` errors naming what is wrong.

use std::cmp::Ordering;
use std::time::Duration;

use forze_core::memory::MemoryDocumentStore;
use forze_core::query::Cursor;
use forze_core::{ErrorKind, ExecutionRuntime};
use forze_examples::catalog::{
    CatalogReport, EXAMPLE_CURSOR_SECRET, ITEM_SPEC, Item, ItemRead, build_runtime,
    catalog_scenario, in_stock_under_40, lamps_under_40, list_items, seed,
};
use uuid::Uuid;

const WATCHDOG: Duration = Duration::from_secs(30);

fn ids(items: &[ItemRead]) -> Vec<Uuid> {
    items.iter().map(|i| i.id).collect()
}

/// The scenario on a fresh catalog, its narration, and every item as stored.
async fn run() -> (CatalogReport, Vec<String>, Vec<ItemRead>) {
    let runtime =
        build_runtime(&MemoryDocumentStore::new(), EXAMPLE_CURSOR_SECRET).expect("runtime");
    tokio::time::timeout(
        WATCHDOG,
        runtime.scope(|ctx| async move {
            let mut lines = Vec::new();
            let report = catalog_scenario(&ctx, |l| lines.push(l)).await?;
            let all = ctx.document().query(&ITEM_SPEC)?.find().all().await?;
            Ok((report, lines, all))
        }),
    )
    .await
    .expect("watchdog")
    .expect("the scenario")
}

/// `filter` over `all`, sorted by `cmp` then by id, as the guide says the store does.
fn expected(
    all: &[ItemRead],
    filter: impl Fn(&ItemRead) -> bool,
    cmp: impl Fn(&ItemRead, &ItemRead) -> Ordering,
) -> Vec<Uuid> {
    let mut out: Vec<&ItemRead> = all.iter().filter(|i| filter(i)).collect();
    out.sort_by(|a, b| cmp(a, b).then(a.id.cmp(&b.id)));
    out.into_iter().map(|i| i.id).collect()
}

#[tokio::test]
async fn the_cursor_pages_cover_every_match_once_in_order() {
    let (report, lines, all) = run().await;
    assert_eq!(all.len(), 40);

    let want = expected(
        &all,
        |i| i.in_stock && i.price < 4000,
        |a, b| b.price.cmp(&a.price),
    );
    assert_eq!(want.len(), 11, "the seed data the guide describes");
    assert_eq!(ids(&report.listing), want, "`all()` of the listing");

    let paged: Vec<Uuid> = report.pages.iter().flat_map(|p| ids(&p.items)).collect();
    assert_eq!(
        paged, want,
        "the pages, concatenated: every match once, in order"
    );
    let size = usize::try_from(report.page_size).unwrap();
    assert_eq!(report.pages.len(), want.len().div_ceil(size));
    let (last, full) = report.pages.split_last().unwrap();
    for page in full {
        assert_eq!(page.items.len(), size);
        assert!(page.next.is_some(), "a cursor on every page but the last");
    }
    assert!(last.next.is_none() && !last.items.is_empty());
    // ties in price straddle the page boundaries: only the id tiebreak keeps them apart
    let boundary = report.pages[0].items.last().unwrap().price;
    assert_eq!(boundary, report.pages[1].items[0].price);

    assert_eq!(report.listing_count, 11);
    assert_eq!(ids(&report.offset_page.items), want[size..2 * size]);
    assert_eq!(report.offset_page.total, Some(11));

    let page_lines: Vec<&String> = lines.iter().filter(|l| l.starts_with("  page ")).collect();
    assert!(page_lines.len() >= report.pages.len());
    assert!(
        page_lines[0].contains("next …") && page_lines[0].contains("chars)"),
        "a shortened cursor: {}",
        page_lines[0]
    );
    assert!(
        lines
            .iter()
            .any(|l| l == "count: 11 items match the listing"),
        "{lines:#?}"
    );
}

#[tokio::test]
async fn counts_exists_first_and_the_export_agree_with_the_data() {
    let (report, _, all) = run().await;
    let lamps_in_stock = all
        .iter()
        .filter(|i| i.category == "lamp" && i.in_stock)
        .count();
    assert_eq!(report.lookups.lamps_in_stock, lamps_in_stock as u64);
    assert!(!report.lookups.chair_over_100);
    let cheapest = expected(
        &all,
        |i| i.category == "lamp" && i.rating.is_some(),
        |a, b| a.price.cmp(&b.price),
    );
    assert_eq!(
        report.lookups.cheapest_rated_lamp.as_ref().map(|i| i.id),
        cheapest.first().copied()
    );

    let in_stock = all.iter().filter(|i| i.in_stock).count();
    assert_eq!(report.export_chunks.iter().sum::<usize>(), in_stock);
    let chunk = usize::try_from(report.export_chunk).unwrap();
    let (last, full) = report.export_chunks.split_last().unwrap();
    assert!(
        full.iter().all(|&n| n == chunk),
        "{:?}",
        report.export_chunks
    );
    assert!((1..=chunk).contains(last));
}

#[tokio::test]
async fn every_operator_matches_what_its_name_says() {
    let (report, _, all) = run().await;
    let since = report.since;
    let rated = |i: &ItemRead, p: fn(f32) -> bool| i.rating.is_some_and(p);
    let count = |p: &dyn Fn(&ItemRead) -> bool| all.iter().filter(|i| p(i)).count() as u64;
    let want: Vec<(&str, u64)> = vec![
        ("eq", count(&|i| i.category == "lamp")),
        ("ne", count(&|i| i.category != "lamp")),
        ("lt", count(&|i| i.price < 2500)),
        ("le", count(&|i| i.price <= 2500)),
        ("gt", count(&|i| i.price > 4500)),
        ("ge", count(&|i| i.price >= 4500)),
        (
            "is_in",
            count(&|i| ["desk", "shelf"].contains(&i.category.as_str())),
        ),
        (
            "not_in",
            count(&|i| !["desk", "shelf"].contains(&i.category.as_str())),
        ),
        ("is_null", count(&|i| i.rating.is_none())),
        ("is_not_null", count(&|i| i.rating.is_some())),
        ("starts_with", count(&|i| i.sku.starts_with("SKU-01"))),
        (
            "starts_with_ci",
            count(&|i| i.name.to_ascii_lowercase().starts_with("led")),
        ),
        ("contains", count(&|i| i.name.contains("Lamp"))),
        (
            "contains_ci",
            count(&|i| i.name.to_ascii_lowercase().contains("lamp")),
        ),
        ("&", count(&|i| i.in_stock && i.price < 2500)),
        (
            "|",
            count(&|i| i.category == "lamp" || rated(i, |r| r >= 4.5)),
        ),
        // SQL's three-valued logic: `not (rating >= 4)` is unknown for a null rating
        ("!", count(&|i| rated(i, |r| r < 4.0))),
        (
            "metadata",
            count(&|i| i.last_update_at >= since && i.rev == 1),
        ),
    ];
    assert_eq!(report.operator_counts, want);
    // the data is varied enough that no filter is trivially all or nothing
    for (name, n) in &report.operator_counts {
        assert!((1..40).contains(n), "`{name}` matches {n} of 40");
    }
    assert_ne!(
        report.operator_counts[12], report.operator_counts[13],
        "the names mix case, so `contains` and `contains_ci` differ"
    );
}

#[tokio::test]
async fn the_clients_query_runs_within_the_servers_condition_and_mistakes_are_validation_errors() {
    let (report, lines, all) = run().await;
    let want = expected(
        &all,
        |i| {
            i.in_stock
                && i.rating.is_some_and(|r| r >= 4.0)
                && i.name.to_ascii_lowercase().contains("lamp")
        },
        |a, b| {
            b.rating
                .partial_cmp(&a.rating)
                .unwrap()
                .then(a.price.cmp(&b.price))
        },
    );
    let got: Vec<Uuid> = report
        .client_pages
        .iter()
        .flat_map(|p| ids(&p.items))
        .collect();
    assert_eq!(got, want);
    assert!(
        report.client_pages.len() >= 2,
        "the client walks more than one page"
    );
    assert!(
        all.iter().any(|i| !i.in_stock
            && i.rating.is_some_and(|r| r >= 4.0)
            && i.name.to_ascii_lowercase().contains("lamp")),
        "an item out of stock would match the client's filter alone"
    );

    assert_eq!(report.bad_filter.kind(), ErrorKind::Validation);
    let message = report.bad_filter.to_string();
    for part in [
        "`items`",
        "operator `contains`",
        "field `price` (integer)",
        "accepted: eq, ne",
    ] {
        assert!(message.contains(part), "{message}");
    }
    assert_eq!(report.bad_operator.kind(), ErrorKind::Validation);
    let message = report.bad_operator.to_string();
    for part in [
        "unknown filter operator `like`",
        "expected one of: eq",
        "contains",
    ] {
        assert!(message.contains(part), "{message}");
    }
    assert!(
        lines
            .iter()
            .any(|l| l.contains("→ Validation: query on document `items`"))
    );
}

/// The first page's cursor of the listing, from `runtime`.
async fn first_cursor(runtime: &ExecutionRuntime) -> Cursor {
    runtime
        .scope(|ctx| async move {
            let page = ctx
                .document()
                .query(&ITEM_SPEC)?
                .find()
                .filter(in_stock_under_40())
                .sort(Item::PRICE.desc())
                .limit(4)
                .cursor(None)
                .await?;
            Ok(page.next.expect("more than one page"))
        })
        .await
        .expect("first page")
}

/// The page after `cursor`, on `runtime`, of the listing (or of items under $40 in any stock).
async fn next_page(
    runtime: &ExecutionRuntime,
    cursor: &Cursor,
    same_query: bool,
) -> forze_core::Result<Vec<Uuid>> {
    runtime
        .scope(|ctx| async move {
            let filter = if same_query {
                in_stock_under_40()
            } else {
                Item::PRICE.lt(4000)
            };
            let page = ctx
                .document()
                .query(&ITEM_SPEC)?
                .find()
                .filter(filter)
                .sort(Item::PRICE.desc())
                .limit(4)
                .cursor(Some(cursor))
                .await?;
            Ok(ids(&page.items))
        })
        .await
}

#[tokio::test]
async fn a_cursor_continues_on_replicas_with_the_same_secret_only() {
    tokio::time::timeout(WATCHDOG, async {
        let store = MemoryDocumentStore::new();
        let one = build_runtime(&store, b"the service's secret").unwrap();
        let two = build_runtime(&store, b"the service's secret").unwrap();
        let other = build_runtime(&store, b"another secret").unwrap();
        one.scope(|ctx| async move { seed(&ctx).await })
            .await
            .unwrap();

        let cursor = first_cursor(&one).await;
        let here = next_page(&one, &cursor, true).await.unwrap();
        let there = next_page(&two, &cursor, true).await.unwrap();
        assert_eq!(here, there);
        assert_eq!(here.len(), 4);

        let err = next_page(&other, &cursor, true).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Validation);
        assert!(
            err.to_string().contains("malformed or was altered"),
            "{err}"
        );

        let err = next_page(&two, &cursor, false).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Validation);
        assert!(
            err.to_string().contains("belongs to another query"),
            "{err}"
        );

        // through a client's JSON: a cursor from another query is refused the same way
        let body = format!(
            r#"{{"filter": {{"field": "price", "op": "lt", "value": 4000}}, "cursor": "{cursor}"}}"#
        );
        let err = one
            .scope(|ctx| async move { list_items(&ctx, &body).await })
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("belongs to another query"),
            "{err}"
        );
    })
    .await
    .expect("watchdog");
}

#[tokio::test]
async fn the_readme_snippet_pages_the_lamps_under_40() {
    let runtime = build_runtime(&MemoryDocumentStore::new(), EXAMPLE_CURSOR_SECRET).unwrap();
    let (page, all) = tokio::time::timeout(
        WATCHDOG,
        runtime.scope(|ctx| async move {
            seed(&ctx).await?;
            let page = lamps_under_40(&ctx, None).await?;
            let all = ctx.document().query(&ITEM_SPEC)?.find().all().await?;
            Ok((page, all))
        }),
    )
    .await
    .expect("watchdog")
    .expect("the snippet");
    let want = expected(
        &all,
        |i| i.category == "lamp" && i.price < 4000,
        |a, b| b.price.cmp(&a.price),
    );
    assert!(!want.is_empty() && want.len() < 20);
    assert_eq!(ids(&page.items), want);
    assert!(page.next.is_none(), "one page holds them all");
}
