//! The catalog example (`cargo run -p forze-examples --example catalog`): queries over a product
//! catalog on the embedded in-memory backends — typed filters, a listing walked page by page
//! with cursors, counts, an offset page with a total, a chunked export, and a client's query
//! taken as JSON.
//!
//! The guide page `docs/recipes/querying.md` includes the regions marked `ANCHOR` below;
//! `examples/tests/catalog.rs` runs [`catalog_scenario`] and checks what the guide says.

use chrono::{DateTime, Utc};
use forze_core::memory::{MemoryDepsModule, MemoryDocumentStore};
use forze_core::prelude::*;
use forze_core::query::{Condition, Cursor, CursorPage, Page};
use forze_core::{
    DepsRegistry, Error, ErrorKind, ExecutionContext, ExecutionRuntime, FindRequest, LifecyclePlan,
    Result,
};
use futures_util::TryStreamExt as _;

// ANCHOR: item
/// An item of the catalog.
///
/// Besides `ItemCreate`, `ItemUpdate`, `ItemRead` and `ITEM_SPEC`, the derive generates one
/// constant per field for typed queries: `Item::SKU`, `Item::PRICE`, …, and `Item::ID`,
/// `Item::REV`, `Item::CREATED_AT`, `Item::LAST_UPDATE_AT`.
#[derive(forze_core::Document)]
#[document_spec(
    name = "items",
    cache(name = "items"),
    unique(sku),
    index(category, price)
)]
pub struct Item {
    /// The stock keeping unit, `SKU-007`.
    pub sku: String,
    /// The display name.
    pub name: String,
    /// `lamp`, `chair`, `desk` or `shelf`.
    pub category: String,
    /// The price in cents.
    pub price: i32,
    /// Whether it can be ordered now.
    pub in_stock: bool,
    /// The average review, if it has reviews.
    pub rating: Option<f32>,
}
// ANCHOR_END: item

// ANCHOR: runtime
/// The in-memory backends for the `items` document, with cursor tokens signed by
/// `cursor_secret`: give every replica of a service the same secret (from your secret store),
/// so a cursor one replica issued continues on another.
///
/// # Errors
///
/// `Config` if a name is registered twice.
pub fn build_runtime(
    store: &MemoryDocumentStore,
    cursor_secret: &[u8],
) -> Result<ExecutionRuntime> {
    let deps = DepsRegistry::from_modules([MemoryDepsModule::new()
        .with_store(store.clone())
        .document("items")
        .cache("items")
        .boxed()]);
    let runtime = ExecutionRuntime::new(deps.freeze()?, LifecyclePlan::new().freeze()?);
    Ok(runtime.with_cursor_secret(cursor_secret))
}
// ANCHOR_END: runtime

/// The secret the example signs cursors with. A service reads its own from its secret store.
pub const EXAMPLE_CURSOR_SECRET: &[u8] = b"catalog example: not a secret";

/// The forty items of the example: four categories, prices from $15 to $60 with ties, a third
/// out of stock, every fifth without a rating; names in mixed case (`Oak Lamp`, `Steel lamp`).
pub fn seed_items() -> Vec<ItemCreate> {
    const CATEGORIES: [&str; 4] = ["lamp", "chair", "desk", "shelf"];
    const WOODS: [&str; 5] = ["Oak", "Brass", "LED", "Linen", "Steel"];
    (0..40_u16)
        .map(|i| {
            let category = CATEGORIES[usize::from(i % 4)];
            let noun = if (i / 4) % 2 == 0 {
                let mut chars = category.chars();
                chars
                    .next()
                    .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                    .unwrap_or_default()
            } else {
                category.to_owned()
            };
            ItemCreate {
                sku: format!("SKU-{i:03}"),
                name: format!("{} {noun}", WOODS[usize::from(i % 5)]),
                category: category.to_owned(),
                price: 1500 + i32::from((i * 7) % 10) * 500,
                in_stock: i % 3 != 0,
                rating: (i % 5 != 4).then(|| 2.5 + f32::from((i / 2) % 5) * 0.5),
            }
        })
        .collect()
}

/// Create [`seed_items`].
///
/// # Errors
///
/// The store's errors.
pub async fn seed(ctx: &ExecutionContext) -> Result<()> {
    let items = ctx.document().command(&ITEM_SPEC)?;
    for item in seed_items() {
        items.create(item).await?;
    }
    Ok(())
}

// ANCHOR: operators
/// One typed filter per operator and combinator, with its name. Each names a field of `Item`
/// and compares it with a value of that field's type: `Item::PRICE.eq("ten")` or
/// `Item::NAME.is_null()` would not compile. `since`: for the metadata filter (changed since).
pub fn every_operator(since: DateTime<Utc>) -> Vec<(&'static str, Condition<Item>)> {
    vec![
        ("eq", Item::CATEGORY.eq("lamp")),
        ("ne", Item::CATEGORY.ne("lamp")),
        ("lt", Item::PRICE.lt(2500)),
        ("le", Item::PRICE.le(2500)),
        ("gt", Item::PRICE.gt(4500)),
        ("ge", Item::PRICE.ge(4500)),
        ("is_in", Item::CATEGORY.is_in(["desk", "shelf"])),
        ("not_in", Item::CATEGORY.not_in(["desk", "shelf"])),
        ("is_null", Item::RATING.is_null()),
        ("is_not_null", Item::RATING.is_not_null()),
        ("starts_with", Item::SKU.starts_with("SKU-01")),
        ("starts_with_ci", Item::NAME.starts_with_ci("led")),
        ("contains", Item::NAME.contains("Lamp")),
        ("contains_ci", Item::NAME.contains_ci("lamp")),
        ("&", Item::IN_STOCK.eq(true) & Item::PRICE.lt(2500)),
        ("|", Item::CATEGORY.eq("lamp") | Item::RATING.ge(4.5)),
        ("!", !Item::RATING.ge(4.0)), // no match where rating is null: see Semantics
        ("metadata", Item::LAST_UPDATE_AT.ge(since) & Item::REV.eq(1)),
    ]
}
// ANCHOR_END: operators

/// A page of lamps under $40, the most expensive first, after `after` (the README's snippet).
///
/// # Errors
///
/// `Validation` for a cursor of another query; the store's errors.
pub async fn lamps_under_40(
    ctx: &ExecutionContext,
    after: Option<&Cursor>,
) -> Result<CursorPage<ItemRead>> {
    // ANCHOR: readme
    let items = ctx.document().query(&ITEM_SPEC)?;
    let page = items
        .find()
        .filter(Item::CATEGORY.eq("lamp") & Item::PRICE.lt(4000)) // checked by the compiler
        .sort(Item::PRICE.desc()) // then by id: pages never overlap
        .limit(20)
        .cursor(after) // `None`: the first page; `page.next`: a signed token for the next
        .await?;
    // ANCHOR_END: readme
    Ok(page)
}

/// The listing of the example: in stock and under $40.
pub fn in_stock_under_40() -> Condition<Item> {
    Item::IN_STOCK.eq(true) & Item::PRICE.lt(4000)
}

// ANCHOR: cursor_pages
/// The listing, walked page by page as a client would: each request sends back the `next`
/// cursor of the page before. Ties in price are ordered by `id`, so no item repeats or goes
/// missing between pages.
///
/// # Errors
///
/// `Validation` for a page size outside 1..=`MAX_PAGE_SIZE`; the store's errors.
pub async fn listing_pages(
    ctx: &ExecutionContext,
    page_size: u64,
) -> Result<Vec<CursorPage<ItemRead>>> {
    let items = ctx.document().query(&ITEM_SPEC)?;
    let mut pages = Vec::new();
    let mut after: Option<Cursor> = None; // the first page
    loop {
        let page = items
            .find()
            .filter(in_stock_under_40())
            .sort(Item::PRICE.desc()) // then by id: a total order
            .limit(page_size)
            .cursor(after.as_ref())
            .await?;
        after = page.next.clone(); // `None` on the last page
        pages.push(page);
        if after.is_none() {
            return Ok(pages);
        }
    }
}
// ANCHOR_END: cursor_pages

// ANCHOR: offset_page
/// Page `number` (from 1) of the listing as an offset page, with the number of matches.
///
/// # Errors
///
/// As [`listing_pages`].
pub async fn listing_offset_page(
    ctx: &ExecutionContext,
    number: u64,
    page_size: u64,
) -> Result<Page<ItemRead>> {
    let items = ctx.document().query(&ITEM_SPEC)?;
    items
        .find()
        .filter(in_stock_under_40())
        .sort(Item::PRICE.desc())
        .offset((number - 1) * page_size) // the store reads and skips these
        .limit(page_size)
        .with_total() // one more query: a count of every match
        .page()
        .await
}
// ANCHOR_END: offset_page

/// What [`count_exists_first`] found.
#[derive(Debug, Clone)]
pub struct Lookups {
    /// Lamps in stock.
    pub lamps_in_stock: u64,
    /// Whether any chair costs over $100.
    pub chair_over_100: bool,
    /// The cheapest rated lamp.
    pub cheapest_rated_lamp: Option<ItemRead>,
}

// ANCHOR: count_exists_first
/// A count, an existence test and the first match of an order.
///
/// # Errors
///
/// The store's errors.
pub async fn count_exists_first(ctx: &ExecutionContext) -> Result<Lookups> {
    let items = ctx.document().query(&ITEM_SPEC)?;
    let lamp = || Item::CATEGORY.eq("lamp");
    let lamps_in_stock = items
        .find()
        .filter(lamp() & Item::IN_STOCK.eq(true))
        .count()
        .await?;
    let chair_over_100 = items
        .find()
        .filter(Item::CATEGORY.eq("chair") & Item::PRICE.gt(10_000))
        .exists() // reads at most one row
        .await?;
    let cheapest_rated_lamp = items
        .find()
        .filter(lamp() & Item::RATING.is_not_null())
        .sort(Item::PRICE.asc())
        .first()
        .await?;
    Ok(Lookups {
        lamps_in_stock,
        chair_over_100,
        cheapest_rated_lamp,
    })
}
// ANCHOR_END: count_exists_first

// ANCHOR: find_by
/// The item with this SKU: `sku` is declared `unique(sku)`, so the lookup goes through the
/// cache (the holder's id is remembered, the item is read like `get` and checked to still carry
/// the SKU; else one indexed store query).
///
/// # Errors
///
/// The store's errors.
pub async fn item_by_sku(ctx: &ExecutionContext, sku: &str) -> Result<Option<ItemRead>> {
    ctx.document()
        .query(&ITEM_SPEC)?
        .find_by(Item::SKU, sku)
        .await
}
// ANCHOR_END: find_by

// ANCHOR: export
/// Every item in stock, by SKU, handed to `write` in chunks of `chunk`: however many match,
/// memory holds one chunk. Returns how many were written.
///
/// # Errors
///
/// `Validation` for a chunk size outside 1..=`MAX_PAGE_SIZE`; the store's errors.
pub async fn export_in_stock(
    ctx: &ExecutionContext,
    chunk: u64,
    mut write: impl FnMut(&[ItemRead]),
) -> Result<usize> {
    let items = ctx.document().query(&ITEM_SPEC)?;
    let stream = items
        .find()
        .filter(Item::IN_STOCK.eq(true))
        .sort(Item::SKU.asc())
        .limit(chunk)
        .stream();
    let mut chunks = std::pin::pin!(stream);
    let mut written = 0;
    while let Some(chunk) = chunks.try_next().await? {
        write(&chunk);
        written += chunk.len();
    }
    Ok(written)
}
// ANCHOR_END: export

// ANCHOR: handler
/// A list endpoint: the client's query arrives as JSON (`FindRequest`: filter, sort, limit,
/// cursor) and runs within the server's own condition, which the client cannot widen. A
/// mistake in the body is a `Validation` error that says what is wrong and what is accepted,
/// ready for a 400 response.
///
/// # Errors
///
/// `Validation` for a body that is not a query or a query that does not fit `Item`; the
/// store's errors.
pub async fn list_items(ctx: &ExecutionContext, body: &str) -> Result<CursorPage<ItemRead>> {
    let request: FindRequest = serde_json::from_str(body)
        .map_err(|e| Error::new(ErrorKind::Validation, format!("the query: {e}")))?;
    let items = ctx.document().query(&ITEM_SPEC)?;
    items
        .find()
        .filter(Item::IN_STOCK.eq(true)) // the server's condition
        .apply(&request) // the client's filter, sort and limit
        .cursor(request.cursor.as_ref())
        .await
}
// ANCHOR_END: handler

// ANCHOR: client_query
/// A client's query, as the example sends it to [`list_items`]: rated 4 or better, `lamp`
/// anywhere in the name in any case, the best rated first, two per page.
pub const CLIENT_QUERY: &str = r#"{
    "filter": {"and": [
        {"field": "rating", "op": "ge", "value": 4},
        {"field": "name", "op": "contains", "value": "LAMP", "case_insensitive": true}
    ]},
    "sort": [{"field": "rating", "order": "desc"}, {"field": "price"}],
    "limit": 2
}"#;

/// A query that does not fit `Item`: `contains` is for text, `price` is an integer.
pub const BAD_FILTER: &str = r#"{"filter": {"field": "price", "op": "contains", "value": "9"}}"#;

/// A body that is not a query: `like` is not an operator.
pub const BAD_OPERATOR: &str = r#"{"filter": {"field": "name", "op": "like", "value": "%lamp%"}}"#;
// ANCHOR_END: client_query

/// Everything [`catalog_scenario`] saw, for the example to print and the tests to check.
#[derive(Debug)]
pub struct CatalogReport {
    /// The listing in one query (`all`), for comparison with the pages.
    pub listing: Vec<ItemRead>,
    /// The listing's cursor pages.
    pub pages: Vec<CursorPage<ItemRead>>,
    /// The page size of `pages` and `offset_page`.
    pub page_size: u64,
    /// `count()` of the listing's filter.
    pub listing_count: u64,
    /// Page 2 of the listing as an offset page, with its total.
    pub offset_page: Page<ItemRead>,
    /// Count, exists, first.
    pub lookups: Lookups,
    /// The sizes of the export's chunks.
    pub export_chunks: Vec<usize>,
    /// The chunk size of the export.
    pub export_chunk: u64,
    /// `count()` of every operator's filter, by name.
    pub operator_counts: Vec<(&'static str, u64)>,
    /// The `since` of the metadata filter.
    pub since: DateTime<Utc>,
    /// Every page of [`CLIENT_QUERY`] through [`list_items`].
    pub client_pages: Vec<CursorPage<ItemRead>>,
    /// What [`list_items`] answered to [`BAD_FILTER`].
    pub bad_filter: Error,
    /// What [`list_items`] answered to [`BAD_OPERATOR`].
    pub bad_operator: Error,
}

/// The example: seed the catalog, then run every query of the guide, calling `narrate` with a
/// line for each thing worth printing.
///
/// # Errors
///
/// The ports' errors, or `Internal` if a query the example expects to fail succeeded.
pub async fn catalog_scenario(
    ctx: &ExecutionContext,
    mut narrate: impl FnMut(String),
) -> Result<CatalogReport> {
    seed(ctx).await?;
    let items = ctx.document().query(&ITEM_SPEC)?;
    let page_size = 4;

    let listing = items
        .find()
        .filter(in_stock_under_40())
        .sort(Item::PRICE.desc())
        .all()
        .await?;
    narrate(format!(
        "listing: in stock, under $40, by price descending (ties by id), {page_size} per page"
    ));
    let pages = listing_pages(ctx, page_size).await?;
    for (i, page) in pages.iter().enumerate() {
        let next = page.next.as_ref().map_or("— (last page)".to_owned(), short);
        narrate(format!(
            "  page {}: {}  next {next}",
            i + 1,
            skus(&page.items)
        ));
    }
    let listing_count = items.find().filter(in_stock_under_40()).count().await?;
    narrate(format!("count: {listing_count} items match the listing"));

    let offset_page = listing_offset_page(ctx, 2, page_size).await?;
    narrate(format!(
        "offset page 2 (offset {}, limit {page_size}): {}  of {} in total",
        page_size,
        skus(&offset_page.items),
        offset_page
            .total
            .map_or("(not counted)".to_owned(), |t| t.to_string())
    ));

    let lookups = count_exists_first(ctx).await?;
    narrate(format!(
        "lamps in stock: {}; a chair over $100: {}; cheapest rated lamp: {}",
        lookups.lamps_in_stock,
        if lookups.chair_over_100 { "yes" } else { "no" },
        lookups
            .cheapest_rated_lamp
            .as_ref()
            .map_or("none".to_owned(), |i| format!(
                "{} {}",
                i.sku,
                dollars(i.price)
            ))
    ));

    let by_sku = item_by_sku(ctx, "SKU-007").await?;
    let again = item_by_sku(ctx, "SKU-007").await?;
    let renamed = match &by_sku {
        Some(item) => {
            ctx.document()
                .command(&ITEM_SPEC)?
                .update(
                    item.id,
                    item.rev,
                    ItemUpdate {
                        sku: Some("SKU-007-B".into()),
                        ..ItemUpdate::default()
                    },
                )
                .await?;
            item_by_sku(ctx, "SKU-007").await?
        }
        None => None,
    };
    narrate(format!(
        "find_by SKU-007: {} (again: {}); after renaming it to SKU-007-B: {}",
        by_sku
            .as_ref()
            .map_or("none".to_owned(), |i| format!("`{}`", i.name)),
        again
            .as_ref()
            .map_or("none".to_owned(), |i| format!("`{}`", i.name)),
        renamed
            .as_ref()
            .map_or("none".to_owned(), |i| i.sku.clone()),
    ));
    if by_sku.is_none() || again.map(|i| i.id) != by_sku.as_ref().map(|i| i.id) || renamed.is_some()
    {
        return Err(Error::new(
            ErrorKind::Internal,
            "a unique lookup did not find the item, or found it after its SKU moved",
        ));
    }

    let export_chunk = 8;
    let mut export_chunks = Vec::new();
    let exported =
        export_in_stock(ctx, export_chunk, |chunk| export_chunks.push(chunk.len())).await?;
    narrate(format!(
        "export: {exported} items in stock, in chunks of {export_chunk}: {}",
        export_chunks
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" + ")
    ));

    let tenth = items
        .find()
        .sort(Item::CREATED_AT.asc())
        .offset(9)
        .first()
        .await?;
    let since = tenth
        .map(|i| i.last_update_at)
        .ok_or_else(|| Error::new(ErrorKind::Internal, "the catalog has forty items"))?;
    let mut operator_counts = Vec::new();
    for (name, filter) in every_operator(since) {
        operator_counts.push((name, items.find().filter(filter).count().await?));
    }
    narrate(format!(
        "every operator (matches of 40): {}",
        operator_counts
            .iter()
            .map(|(name, n)| format!("{name} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    ));

    let mut client_pages = Vec::new();
    let mut request: serde_json::Value = serde_json::from_str(CLIENT_QUERY)
        .map_err(|e| Error::new(ErrorKind::Internal, e.to_string()))?;
    narrate(format!("client query: {request}"));
    loop {
        let page = list_items(ctx, &request.to_string()).await?;
        narrate(format!(
            "  page {}: {}",
            client_pages.len() + 1,
            page.items
                .iter()
                .map(|i| format!("{} `{}` {}", i.sku, i.name, rating(i.rating)))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        let next = page.next.clone();
        client_pages.push(page);
        match next {
            // the client sends the query again, with the cursor
            Some(next) => request["cursor"] = serde_json::Value::String(next.to_string()),
            None => break,
        }
    }

    let bad_filter = expect_rejected(list_items(ctx, BAD_FILTER).await, "BAD_FILTER")?;
    narrate(format!(
        "bad filter {BAD_FILTER}\n  → {:?}: {bad_filter}",
        bad_filter.kind()
    ));
    let bad_operator = expect_rejected(list_items(ctx, BAD_OPERATOR).await, "BAD_OPERATOR")?;
    narrate(format!(
        "bad operator {BAD_OPERATOR}\n  → {:?}: {bad_operator}",
        bad_operator.kind()
    ));

    Ok(CatalogReport {
        listing,
        pages,
        page_size,
        listing_count,
        offset_page,
        lookups,
        export_chunks,
        export_chunk,
        operator_counts,
        since,
        client_pages,
        bad_filter,
        bad_operator,
    })
}

fn expect_rejected(result: Result<CursorPage<ItemRead>>, what: &str) -> Result<Error> {
    match result {
        Err(e) => Ok(e),
        Ok(_) => Err(Error::new(
            ErrorKind::Internal,
            format!("{what} should have been rejected"),
        )),
    }
}

/// A cursor token, shortened for printing: its last 12 characters (the start is the same for
/// every page of a query) and its length.
pub fn short(cursor: &Cursor) -> String {
    let token = cursor.as_str();
    let tail: String = token
        .chars()
        .skip(token.chars().count().saturating_sub(12))
        .collect();
    format!("…{tail} ({} chars)", token.len())
}

fn skus(items: &[ItemRead]) -> String {
    items
        .iter()
        .map(|i| format!("{} {}", i.sku, dollars(i.price)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn dollars(cents: i32) -> String {
    format!("${}.{:02}", cents / 100, cents % 100)
}

fn rating(rating: Option<f32>) -> String {
    rating.map_or("unrated".to_owned(), |r| format!("★{r:.1}"))
}
