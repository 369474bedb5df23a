//! The `query` section: what a query through forze costs over the same SQL run with sqlx, and
//! how page cost grows with depth, on a Postgres table of 100 000 documents.
//!
//! * `query.filter_page`: `find().filter(category = c & price >= p).sort(price desc).limit(50)
//!   .page()` through the runtime, against the very SQL forze renders (checked: the statement
//!   text must be among the ones forze prepared on the same single-connection pool) run with
//!   sqlx and decoded into a typed tuple. The two are sampled interleaved, the rounds cycling
//!   through every order, so machine noise falls on both alike. Target: forze's p50 within
//!   1.2× of the raw one. `query.filter_page_total` is the same with `with_total()` (forze runs
//!   the page and a `count(*)`; so does the raw side).
//! * `query.cursor_depth`: page 1 and page 1 000 (50 rows a page, no filter, `price desc`) by
//!   cursor and by offset, through forze, interleaved. A cursor page starts at its position
//!   through the index, so its cost should not grow with depth (target ratio ≤ 1.5); an offset
//!   page reads and drops every row before it, so its cost grows. The cursor of page 1 000 is
//!   found by walking the pages once; the page it returns must equal the offset page 1 000.
//!
//! Setup: 100 000 rows inserted with `create_many` (the store's `UNNEST` batch insert), an index
//! for each query made with plain SQL, `VACUUM ANALYZE`. Server: `FORZE_TEST_POSTGRES_URL` if
//! set (a unique schema, dropped afterwards), otherwise an ephemeral one from forze-testkit.
//! `FORZE_BENCH_QUERY_SAMPLES` sets the samples per operation of `filter_page` (default 2 000;
//! `cursor_depth` takes a fifth of it, its offset page 1 000 being slow by design).
//!
//! Report keys, in nanoseconds: `query.filter_page.{p50_ns, p99_ns, raw_p50_ns, raw_p99_ns,
//! ratio_p50, ratio_p99, target, samples}`, the same under `query.filter_page_total`, and
//! `query.cursor_depth.{cursor_p1_p50_ns, cursor_p1000_p50_ns, cursor_ratio, offset_p1_p50_ns,
//! offset_p1000_p50_ns, offset_ratio, target, samples}` (and the p99s), `query.rows`.

use std::time::{Duration, Instant};

use forze_core::prelude::*;
use forze_core::query::{Cursor, MAX_PAGE_SIZE};
use forze_core::{DepsRegistry, ExecutionContext, ExecutionRuntime, LifecyclePlan};
use forze_postgres::{
    PostgresClient, PostgresConfig, PostgresDepsModule, PostgresDocumentConfig,
    PostgresLifecycleModule, create_table_sql,
};
use forze_testkit::{EphemeralPostgres, unique_schema};
use serde_json::{Map, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::Context;
use crate::report::Report;
use crate::rng::Rng;

/// The documents queried. Not cached: queries always read the store.
#[derive(forze_core::Document)]
#[document_spec(name = "bench_items")]
pub(crate) struct BenchItem {
    pub(crate) category: String,
    pub(crate) price: i32,
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) in_stock: bool,
}

const ROWS: usize = 100_000;
const BATCH: usize = 5_000;
const CATEGORIES: u64 = 20;
const PRICES: u64 = 100_000;
const PAGE: u64 = 50;
/// The deep page of `cursor_depth` (1-based).
const DEEP_PAGE: u64 = 1_000;
/// The filter of `filter_page`: one category (1/20 of the rows), the upper half of the prices.
const CATEGORY: &str = "cat-07";
const MIN_PRICE: i32 = 50_000;
const DESCRIPTION_BYTES: usize = 120;
const SEED: u64 = 0x9e37_79b9_7f4a_7c15;

const TARGET_FILTER_RATIO: f64 = 1.2;
const TARGET_CURSOR_RATIO: f64 = 1.5;
const DEFAULT_SAMPLES: usize = 2_000;
const WARMUP_ROUNDS: usize = 200;

/// What the raw side decodes a row into: the columns forze selects, in its order.
type RawRow = (
    Uuid,
    i64,
    chrono::DateTime<chrono::Utc>,
    chrono::DateTime<chrono::Utc>,
    String,
    i32,
    String,
    String,
    bool,
);

/// Every order of `0..N`, one per round in turn: each operation runs after every other equally
/// often.
fn orders<const N: usize>() -> Vec<[usize; N]> {
    fn permute<const N: usize>(ops: &mut [usize; N], k: usize, out: &mut Vec<[usize; N]>) {
        if k == N {
            out.push(*ops);
            return;
        }
        for i in k..N {
            ops.swap(k, i);
            permute(ops, k + 1, out);
            ops.swap(k, i);
        }
    }
    let mut out = Vec::new();
    permute(&mut std::array::from_fn(|i| i), 0, &mut out);
    out
}

/// Percentiles of one operation, in nanoseconds.
#[derive(Debug, Clone, Copy)]
struct Summary {
    samples: usize,
    p50: u64,
    p99: u64,
}

fn summarize(samples: &mut [Duration]) -> Summary {
    samples.sort_unstable();
    let pick = |q: f64| -> u64 {
        if samples.is_empty() {
            return 0;
        }
        let i = ((samples.len() - 1) as f64 * q).round() as usize;
        u64::try_from(samples[i.min(samples.len() - 1)].as_nanos()).unwrap_or(u64::MAX)
    };
    Summary {
        samples: samples.len(),
        p50: pick(0.50),
        p99: pick(0.99),
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    let r = a as f64 / (b.max(1)) as f64;
    (r * 100.0).round() / 100.0
}

fn us(ns: u64) -> f64 {
    ns as f64 / 1e3
}

fn env_url(var: &str) -> Option<String> {
    std::env::var(var).ok().filter(|v| !v.trim().is_empty())
}

pub(crate) fn run(_cx: &Context, report: &mut Report) -> Result<(), String> {
    let samples = std::env::var("FORZE_BENCH_QUERY_SAMPLES")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(DEFAULT_SAMPLES);
    let (url, _ephemeral, origin) = match env_url(forze_testkit::POSTGRES_URL_VAR) {
        Some(url) => (url, None, "FORZE_TEST_POSTGRES_URL"),
        None => {
            let pg = EphemeralPostgres::start()
                .map_err(|e| format!("cannot start an ephemeral postgres: {e}"))?;
            (pg.url(), Some(pg), "ephemeral postgres (forze-testkit)")
        }
    };
    println!(
        "\nserver: {origin}; runtime: tokio current_thread; {ROWS} rows; {samples} samples per \
         filter_page operation, {} per cursor_depth operation, interleaved",
        (samples / 5).max(1)
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot build the tokio runtime: {e}"))?;
    let measured = runtime.block_on(measure(&url, samples))?;
    drop(runtime);
    print_and_report(&measured, report);
    Ok(())
}

struct Setup {
    runtime: ExecutionRuntime,
    pg: PostgresClient,
    schema: String,
}

async fn setup(url: &str) -> Result<Setup, String> {
    let schema = unique_schema("bench_query");
    let table = PostgresDocumentConfig::table(schema.clone(), "bench_items");
    let pg = PostgresClient::new();
    let deps = DepsRegistry::from_modules([PostgresDepsModule::new(pg.clone())
        .rw_document("bench_items", table.clone())
        .boxed()]);
    // One connection: forze and the raw side share it (and its prepared statements), and the
    // statements forze prepared can be listed to check the raw SQL is the same text.
    let lifecycle =
        LifecyclePlan::from_modules([PostgresLifecycleModule::new(pg.clone(), url.to_owned())
            .config(PostgresConfig::new().max_connections(1))
            .boxed()]);
    let runtime = ExecutionRuntime::new(
        deps.freeze().map_err(|e| e.to_string())?,
        lifecycle.freeze().map_err(|e| e.to_string())?,
    );
    runtime
        .startup()
        .await
        .map_err(|e| format!("startup: {e} ({e:?})"))?;
    pg.execute(&format!(
        "CREATE SCHEMA IF NOT EXISTS \"{schema}\"; {}",
        create_table_sql(&table, BenchItem::FIELDS)
    ))
    .await
    .map_err(|e| format!("creating the table: {e}"))?;
    Ok(Setup {
        runtime,
        pg,
        schema,
    })
}

async fn teardown(setup: Setup) {
    if let Err(e) = setup
        .pg
        .execute(&format!(
            "DROP SCHEMA IF EXISTS \"{}\" CASCADE",
            setup.schema
        ))
        .await
    {
        eprintln!("forze-bench: dropping schema {}: {e}", setup.schema);
    }
    setup.runtime.shutdown().await;
}

async fn measure(url: &str, samples: usize) -> Result<Measured, String> {
    let setup = setup(url).await?;
    let result = measure_on(&setup, samples).await;
    teardown(setup).await;
    result
}

/// 100 000 documents in batches, the indexes, fresh statistics.
async fn fill(setup: &Setup, ctx: &ExecutionContext) -> Result<Duration, String> {
    let start = Instant::now();
    let docs = ctx
        .document()
        .command(&BENCH_ITEM_SPEC)
        .map_err(|e| e.to_string())?;
    let mut rng = Rng::new(SEED);
    let description = "d".repeat(DESCRIPTION_BYTES);
    let mut made = 0;
    while made < ROWS {
        let n = BATCH.min(ROWS - made);
        let batch: Vec<BenchItemCreate> = (made..made + n)
            .map(|i| BenchItemCreate {
                category: format!("cat-{:02}", rng.below(CATEGORIES)),
                price: i32::try_from(rng.below(PRICES)).unwrap_or(0),
                name: format!("item {i}"),
                description: description.clone(),
                in_stock: rng.below(2) == 0,
            })
            .collect();
        docs.create_many(batch)
            .await
            .map_err(|e| format!("create_many: {e}"))?;
        made += n;
    }
    let table = format!("\"{}\".\"bench_items\"", setup.schema);
    // Text compares under COLLATE "C" in forze's SQL: the index must use that collation too.
    for sql in [
        format!(
            "CREATE INDEX bench_items_category_price ON {table} \
             (\"category\" COLLATE \"C\", \"price\" DESC, \"id\")"
        ),
        format!("CREATE INDEX bench_items_price ON {table} (\"price\" DESC, \"id\")"),
        format!("VACUUM ANALYZE {table}"),
    ] {
        setup
            .pg
            .execute(&sql)
            .await
            .map_err(|e| format!("{sql}: {e}"))?;
    }
    Ok(start.elapsed())
}

struct Measured {
    fill: Duration,
    page: Summary,
    raw_page: Summary,
    total: Summary,
    raw_total: Summary,
    matching: u64,
    depth: [Summary; 4],
    plans: Vec<(&'static str, String)>,
}

async fn measure_on(setup: &Setup, samples: usize) -> Result<Measured, String> {
    let ctx: ExecutionContext = setup.runtime.context();
    let fill = fill(setup, &ctx).await?;
    let query = ctx
        .document()
        .query(&BENCH_ITEM_SPEC)
        .map_err(|e| e.to_string())?;
    let pool = setup.pg.pool().map_err(|e| e.to_string())?;
    let table = format!("\"{}\".\"bench_items\"", setup.schema);
    let columns = "\"id\", \"rev\", \"created_at\", \"last_update_at\", \"category\", \"price\", \
                   \"name\", \"description\", \"in_stock\"";
    let where_ = "WHERE ((\"category\" COLLATE \"C\") = $1 AND \"price\" >= $2)";
    let page_sql = format!(
        "SELECT {columns} FROM {table} {where_} ORDER BY \"price\" DESC NULLS FIRST, \
         \"id\" ASC NULLS LAST LIMIT $3"
    );
    let count_sql = format!("SELECT count(*) FROM {table} {where_}");

    let forze_page = |total: bool| {
        let find = query
            .find()
            .filter(BenchItem::CATEGORY.eq(CATEGORY) & BenchItem::PRICE.ge(MIN_PRICE))
            .sort(BenchItem::PRICE.desc())
            .limit(PAGE);
        if total { find.with_total() } else { find }.page()
    };
    let raw_page = || async {
        sqlx::query_as::<_, RawRow>(sqlx::AssertSqlSafe(page_sql.as_str()))
            .bind(CATEGORY)
            .bind(MIN_PRICE)
            .bind(i64::try_from(PAGE).unwrap_or(i64::MAX))
            .fetch_all(&pool)
            .await
            .map_err(|e| format!("raw page: {e}"))
    };
    let raw_count = || async {
        sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(count_sql.as_str()))
            .bind(CATEGORY)
            .bind(MIN_PRICE)
            .fetch_one(&pool)
            .await
            .map_err(|e| format!("raw count: {e}"))
    };

    // The two sides must return the same page, and the raw SQL must be forze's own text.
    let page = forze_page(true)
        .await
        .map_err(|e| format!("forze page: {e}"))?;
    let raw = raw_page().await?;
    let raw_total = raw_count().await?;
    let forze_ids: Vec<Uuid> = page.items.iter().map(|r| r.id).collect();
    let raw_ids: Vec<Uuid> = raw.iter().map(|r| r.0).collect();
    if forze_ids != raw_ids || forze_ids.len() != PAGE as usize {
        return Err(format!(
            "forze and raw pages differ ({} and {} rows)",
            forze_ids.len(),
            raw_ids.len()
        ));
    }
    let matching = page.total.ok_or("with_total returned no total")?;
    if i64::try_from(matching).ok() != Some(raw_total) {
        return Err(format!("totals differ: forze {matching}, raw {raw_total}"));
    }
    let prepared: Vec<String> = sqlx::query_scalar("SELECT statement FROM pg_prepared_statements")
        .fetch_all(&pool)
        .await
        .map_err(|e| format!("pg_prepared_statements: {e}"))?;
    for sql in [&page_sql, &count_sql] {
        if !prepared.iter().any(|s| s == sql) {
            return Err(format!(
                "the raw SQL is not what forze ran: {sql}\nforze prepared: {prepared:#?}"
            ));
        }
    }

    // filter_page: forze page, raw page, forze page with total, raw page + count.
    let orders = orders::<4>();
    let mut times: [Vec<Duration>; 4] = std::array::from_fn(|_| Vec::with_capacity(samples));
    for round in 0..WARMUP_ROUNDS + samples {
        for op in orders[round % orders.len()] {
            let start = Instant::now();
            match op {
                0 => {
                    let page = forze_page(false).await.map_err(|e| e.to_string())?;
                    std::hint::black_box(page);
                }
                1 => {
                    std::hint::black_box(raw_page().await?);
                }
                2 => {
                    let page = forze_page(true).await.map_err(|e| e.to_string())?;
                    std::hint::black_box(page);
                }
                _ => {
                    let rows = raw_page().await?;
                    let n = raw_count().await?;
                    std::hint::black_box((rows, n));
                }
            }
            let took = start.elapsed();
            if round >= WARMUP_ROUNDS {
                times[op].push(took);
            }
        }
    }
    let [mut a, mut b, mut c, mut d] = times;
    let (page, raw_page_s, total, raw_total_s) = (
        summarize(&mut a),
        summarize(&mut b),
        summarize(&mut c),
        summarize(&mut d),
    );

    let (depth, plans) = cursor_depth(setup, &ctx, &pool, (samples / 5).max(1)).await?;
    Ok(Measured {
        fill,
        page,
        raw_page: raw_page_s,
        total,
        raw_total: raw_total_s,
        matching,
        depth,
        plans,
    })
}

/// Page 1 and page [`DEEP_PAGE`] by cursor and by offset: `[cursor 1, cursor deep, offset 1,
/// offset deep]`, and the plans of the deep pages' SQL.
async fn cursor_depth(
    setup: &Setup,
    ctx: &ExecutionContext,
    pool: &PgPool,
    samples: usize,
) -> Result<([Summary; 4], Vec<(&'static str, String)>), String> {
    let query = ctx
        .document()
        .query(&BENCH_ITEM_SPEC)
        .map_err(|e| e.to_string())?;
    let find = || query.find().sort(BenchItem::PRICE.desc()).limit(PAGE);
    let deep_offset = (DEEP_PAGE - 1) * PAGE;
    const { assert!(PAGE <= MAX_PAGE_SIZE) };

    // Walk to the cursor of the deep page.
    let mut cursor: Option<Cursor> = None;
    for page in 1..DEEP_PAGE {
        let got = find()
            .cursor(cursor.as_ref())
            .await
            .map_err(|e| format!("cursor page {page}: {e}"))?;
        cursor = Some(
            got.next
                .ok_or_else(|| format!("cursor page {page} is the last; expected more"))?,
        );
    }
    let deep_cursor = cursor.ok_or("no cursor")?;
    let by_cursor = find()
        .cursor(Some(&deep_cursor))
        .await
        .map_err(|e| format!("deep cursor page: {e}"))?;
    let by_offset = find()
        .offset(deep_offset)
        .page()
        .await
        .map_err(|e| format!("deep offset page: {e}"))?;
    let cursor_ids: Vec<Uuid> = by_cursor.items.iter().map(|r| r.id).collect();
    let offset_ids: Vec<Uuid> = by_offset.items.iter().map(|r| r.id).collect();
    if cursor_ids != offset_ids || cursor_ids.len() != PAGE as usize {
        return Err(format!(
            "page {DEEP_PAGE} by cursor and by offset differ ({} and {} rows)",
            cursor_ids.len(),
            offset_ids.len()
        ));
    }

    let plans = deep_plans(setup, pool).await?;

    let orders = orders::<4>();
    let mut times: [Vec<Duration>; 4] = std::array::from_fn(|_| Vec::with_capacity(samples));
    for round in 0..(WARMUP_ROUNDS / 4) + samples {
        for op in orders[round % orders.len()] {
            let start = Instant::now();
            let ids = match op {
                0 => find().cursor(None).await.map(|p| p.items.len()),
                1 => find()
                    .cursor(Some(&deep_cursor))
                    .await
                    .map(|p| p.items.len()),
                2 => find().page().await.map(|p| p.items.len()),
                _ => find()
                    .offset(deep_offset)
                    .page()
                    .await
                    .map(|p| p.items.len()),
            }
            .map_err(|e| format!("cursor_depth op {op}: {e}"))?;
            let took = start.elapsed();
            if ids != PAGE as usize {
                return Err(format!("cursor_depth op {op} returned {ids} rows"));
            }
            if round >= WARMUP_ROUNDS / 4 {
                times[op].push(took);
            }
        }
    }
    Ok((times.map(|mut t| summarize(&mut t)), plans))
}

/// How Postgres runs the deep pages: the keyset statement forze prepared for the deep cursor
/// page and the offset one, explained with the deep page's values (the index condition is
/// what matters: a keyset bound there starts the scan at the position).
async fn deep_plans(setup: &Setup, pool: &PgPool) -> Result<Vec<(&'static str, String)>, String> {
    let table = format!("\"{}\".\"bench_items\"", setup.schema);
    let prepared: Vec<String> = sqlx::query_scalar("SELECT statement FROM pg_prepared_statements")
        .fetch_all(pool)
        .await
        .map_err(|e| format!("pg_prepared_statements: {e}"))?;
    let is_forze = |s: &&String| s.starts_with("SELECT \"id\", \"rev\"") && !s.contains("COLLATE");
    let keyset_sql = prepared
        .iter()
        .filter(is_forze)
        .find(|s| s.contains(" WHERE "))
        .ok_or("found no prepared keyset statement")?;
    let offset_sql = prepared
        .iter()
        .filter(is_forze)
        .find(|s| s.contains(" OFFSET "))
        .ok_or("found no prepared offset statement")?;
    // The position of the deep page: the last row of the page before it.
    let before = (DEEP_PAGE - 1) * PAGE;
    let (price, id): (i32, Uuid) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT \"price\", \"id\" FROM {table} ORDER BY \"price\" DESC, \"id\" OFFSET $1 LIMIT 1"
    )))
    .bind(i64::try_from(before - 1).unwrap_or(0))
    .fetch_one(pool)
    .await
    .map_err(|e| format!("position: {e}"))?;
    let mut plans = Vec::new();
    for (what, sql) in [("cursor", keyset_sql), ("offset", offset_sql)] {
        let literal = inline_params(sql, |column| match column {
            "price" => price.to_string(),
            "id" => format!("'{id}'::uuid"),
            "LIMIT" if what == "cursor" => (PAGE + 1).to_string(),
            "LIMIT" => PAGE.to_string(),
            _ => before.to_string(),
        });
        let lines: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) {literal}"
        )))
        .fetch_all(pool)
        .await
        .map_err(|e| format!("explain {literal}: {e}"))?;
        plans.push((what, format!("{sql}\n{}", lines.join("\n"))));
    }
    Ok(plans)
}

/// `sql` with each `$n` replaced by `value(what)`, `what` being the column compared just
/// before it (`"price"`, `"id"`), or `LIMIT` / `OFFSET`.
fn inline_params(sql: &str, value: impl Fn(&str) -> String) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(i) = rest.find('$') {
        let (head, tail) = rest.split_at(i);
        out.push_str(head);
        let digits = tail[1..].chars().take_while(char::is_ascii_digit).count();
        let before = out.trim_end();
        let what = if before.ends_with("LIMIT") {
            "LIMIT"
        } else if before.ends_with("OFFSET") {
            "OFFSET"
        } else {
            // the last quoted identifier before the operator
            before
                .rfind('"')
                .and_then(|end| {
                    before[..end]
                        .rfind('"')
                        .map(|start| &before[start + 1..end])
                })
                .unwrap_or("")
        };
        out.push_str(&value(what));
        rest = &tail[1 + digits..];
    }
    out.push_str(rest);
    out
}

fn print_and_report(m: &Measured, report: &mut Report) {
    println!(
        "\nsetup: {ROWS} rows, 2 indexes, VACUUM ANALYZE in {:.1} s",
        m.fill.as_secs_f64()
    );
    println!(
        "\nfilter_page: category = {CATEGORY} & price >= {MIN_PRICE} ({} match), price desc, \
         {PAGE} rows; µs",
        m.matching
    );
    println!(
        "{:<22} {:>8} {:>9} {:>9} {:>9} {:>9} {:>8} {:>8}",
        "operation", "samples", "p50", "p99", "raw p50", "raw p99", "p50 ×", "p99 ×"
    );
    let mut query = Map::new();
    for (key, forze, raw) in [
        ("filter_page", m.page, m.raw_page),
        ("filter_page_total", m.total, m.raw_total),
    ] {
        let (r50, r99) = (ratio(forze.p50, raw.p50), ratio(forze.p99, raw.p99));
        println!(
            "{:<22} {:>8} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>8.2} {:>8.2}",
            key,
            forze.samples,
            us(forze.p50),
            us(forze.p99),
            us(raw.p50),
            us(raw.p99),
            r50,
            r99
        );
        query.insert(
            key.to_owned(),
            json!({
                "p50_ns": forze.p50,
                "p99_ns": forze.p99,
                "raw_p50_ns": raw.p50,
                "raw_p99_ns": raw.p99,
                "ratio_p50": r50,
                "ratio_p99": r99,
                "target": TARGET_FILTER_RATIO,
                "samples": forze.samples,
            }),
        );
    }
    let r = ratio(m.page.p50, m.raw_page.p50);
    println!(
        "forze / raw p50: {r:.2}× (target ≤ {TARGET_FILTER_RATIO}×: {}); overhead {:+.1} µs a page",
        if r <= TARGET_FILTER_RATIO {
            "met"
        } else {
            "MISSED"
        },
        (m.page.p50 as f64 - m.raw_page.p50 as f64) / 1e3
    );

    let [c1, cd, o1, od] = m.depth;
    println!(
        "\ncursor_depth: {PAGE} rows a page, price desc, page 1 vs page {DEEP_PAGE} of {}; µs",
        ROWS as u64 / PAGE
    );
    println!(
        "{:<10} {:>8} {:>10} {:>10} {:>12} {:>12} {:>8}",
        "by", "samples", "p1 p50", "p1 p99", "deep p50", "deep p99", "p50 ×"
    );
    let (cr, or) = (ratio(cd.p50, c1.p50), ratio(od.p50, o1.p50));
    for (by, first, deep, r) in [("cursor", c1, cd, cr), ("offset", o1, od, or)] {
        println!(
            "{:<10} {:>8} {:>10.1} {:>10.1} {:>12.1} {:>12.1} {:>8.2}",
            by,
            first.samples,
            us(first.p50),
            us(first.p99),
            us(deep.p50),
            us(deep.p99),
            r
        );
    }
    println!(
        "cursor page {DEEP_PAGE} / page 1: {cr:.2}× (target ≤ {TARGET_CURSOR_RATIO}×: {}); \
         offset: {or:.2}× (grows with depth)",
        if cr <= TARGET_CURSOR_RATIO {
            "met"
        } else {
            "MISSED"
        }
    );
    for (what, plan) in &m.plans {
        println!("\nplan of the deep {what} page:\n{plan}");
    }
    query.insert(
        "cursor_depth".to_owned(),
        json!({
            "cursor_p1_p50_ns": c1.p50,
            "cursor_p1_p99_ns": c1.p99,
            "cursor_p1000_p50_ns": cd.p50,
            "cursor_p1000_p99_ns": cd.p99,
            "cursor_ratio": cr,
            "offset_p1_p50_ns": o1.p50,
            "offset_p1_p99_ns": o1.p99,
            "offset_p1000_p50_ns": od.p50,
            "offset_p1000_p99_ns": od.p99,
            "offset_ratio": or,
            "target": TARGET_CURSOR_RATIO,
            "samples": c1.samples,
        }),
    );
    query.insert("rows".to_owned(), json!(ROWS));
    report.merge("query", query);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_cover_every_permutation_once() {
        let all = orders::<4>();
        assert_eq!(all.len(), 24);
        let mut sorted = all.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 24);
        for order in &all {
            let mut o = *order;
            o.sort_unstable();
            assert_eq!(o, [0, 1, 2, 3]);
        }
    }

    #[test]
    fn parameters_are_inlined_by_the_column_they_follow() {
        let sql = "SELECT \"id\" FROM t WHERE ((\"price\" < $1) OR (\"price\" = $2 AND \"id\" > $3)) \
                   ORDER BY \"price\" DESC LIMIT $4 OFFSET $10";
        let out = inline_params(sql, |what| format!("<{what}>"));
        assert_eq!(
            out,
            "SELECT \"id\" FROM t WHERE ((\"price\" < <price>) OR (\"price\" = <price> AND \"id\" > \
             <id>)) ORDER BY \"price\" DESC LIMIT <LIMIT> OFFSET <OFFSET>"
        );
    }

    #[test]
    fn percentiles_in_nanoseconds() {
        let mut samples: Vec<Duration> = (1..=1000).rev().map(Duration::from_micros).collect();
        let s = summarize(&mut samples);
        assert_eq!((s.samples, s.p50, s.p99), (1000, 501_000, 990_000));
        assert_eq!(ratio(150, 100), 1.5);
        assert_eq!(ratio(1, 0), 1.0);
    }
}
