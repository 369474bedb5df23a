//! The `latency` section: what a read costs, in one run on one machine, against real servers.
//!
//! Five operations on the same document, measured interleaved — one sample of each per round, the
//! rounds cycling through all 120 orders, so every operation runs equally often after every other
//! (the after-effects of a miss, say, are not pinned on one of them) and machine noise spreads
//! over all of them alike:
//!
//! * `raw_redis_get`: a redis-rs `GET` of the very key (and payload) forze caches the document
//!   under, on a `ConnectionManager` like the one `RedisClient` uses — the floor;
//! * `redis_cache_get`: `RedisCache::get` of that key, the Redis backend alone (its per-call
//!   timeout, the trailer check) — splits the hit's overhead between backend and coordinator;
//! * `l2_hit_get`: `DocumentQuery::get` through the runtime, answered by Redis (a cached spec
//!   without L1): breaker, time budget, one `GET`, trailer check, JSON decode into the read model;
//! * `pg_pk_read`: a direct sqlx primary-key `SELECT` of the same row (the forze client's pool);
//! * `miss_get`: `DocumentQuery::get` after the entry was evicted (untimed): one `GET` (a
//!   tombstone), the single-flight store read, the compare-and-set fill.
//!
//! Servers: `FORZE_TEST_POSTGRES_URL` / `FORZE_TEST_REDIS_URL` if set (a unique schema and key
//! namespace are used and removed afterwards), otherwise ephemeral ones from forze-testkit.
//! `FORZE_BENCH_LATENCY_SAMPLES` sets the samples per operation (default 10 000).
//!
//! Report keys: `latency.{raw_redis_get, redis_cache_get, l2_hit_get, pg_pk_read, miss_get}` as
//! `{p50_us, p99_us, p999_us, mean_us, samples}`, `latency.l2_hit_over_raw` (the p50 and p99 ratios, target ≤ 1.3),
//! `latency.payload_bytes`, and `machine.runtime` — merged, so other sections' keys under
//! `latency` and `machine` are kept.

use std::time::{Duration, Instant};

use forze_core::prelude::*;
use forze_core::{DepsRegistry, ExecutionContext, ExecutionRuntime, LifecyclePlan};
use forze_postgres::{
    PostgresClient, PostgresDepsModule, PostgresDocumentConfig, PostgresLifecycleModule,
    create_table_sql,
};
use forze_redis::{RedisCache, RedisCacheConfig, RedisClient, RedisConfig, RedisDepsModule};
use forze_testkit::{EphemeralPostgres, EphemeralRedis, unique_namespace, unique_schema};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::io::tcp::TcpSettings;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::Context;
use crate::report::Report;

/// The document measured: a cached spec with no L1, so every hit goes to Redis.
#[derive(forze_core::Document)]
#[document_spec(name = "bench_products", cache(name = "bench_products"))]
pub(crate) struct BenchProduct {
    pub(crate) name: String,
    pub(crate) price: i32,
    pub(crate) description: String,
}

/// The target of the issue: an L2 hit within 1.3× of the raw `GET`.
const TARGET_RATIO: f64 = 1.3;
const DEFAULT_SAMPLES: usize = 10_000;
const WARMUP_ROUNDS: usize = 500;
/// Bytes of the description: a cached payload of about 0.5 KB, like a typical read model.
const DESCRIPTION_BYTES: usize = 320;
const RUNTIME_FLAVOR: &str = "tokio current_thread";

/// The operations measured.
const N: usize = 5;
const OPS: [Op; N] = [
    Op::RawGet,
    Op::CacheGet,
    Op::HitGet,
    Op::PkRead,
    Op::MissGet,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    RawGet,
    CacheGet,
    HitGet,
    PkRead,
    MissGet,
}

impl Op {
    fn key(self) -> &'static str {
        match self {
            Op::RawGet => "raw_redis_get",
            Op::CacheGet => "redis_cache_get",
            Op::HitGet => "l2_hit_get",
            Op::PkRead => "pg_pk_read",
            Op::MissGet => "miss_get",
        }
    }

    fn index(self) -> usize {
        match self {
            Op::RawGet => 0,
            Op::CacheGet => 1,
            Op::HitGet => 2,
            Op::PkRead => 3,
            Op::MissGet => 4,
        }
    }
}

/// Every order of the operations (5! = 120), one per round in turn.
fn orders() -> Vec<[Op; N]> {
    fn permute(ops: &mut [Op; N], k: usize, out: &mut Vec<[Op; N]>) {
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
    let mut out = Vec::with_capacity(120);
    permute(&mut OPS.clone(), 0, &mut out);
    out
}

/// Percentiles of one operation, in microseconds.
#[derive(Debug, Clone, Copy)]
struct Summary {
    samples: usize,
    p50: f64,
    p99: f64,
    p999: f64,
    mean: f64,
}

fn summarize(samples: &mut [Duration]) -> Summary {
    samples.sort_unstable();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let pick = |q: f64| -> f64 {
        if samples.is_empty() {
            return 0.0;
        }
        let i = ((samples.len() - 1) as f64 * q).round() as usize;
        us(samples[i.min(samples.len() - 1)])
    };
    let mean = if samples.is_empty() {
        0.0
    } else {
        samples.iter().map(|d| us(*d)).sum::<f64>() / samples.len() as f64
    };
    Summary {
        samples: samples.len(),
        p50: pick(0.50),
        p99: pick(0.99),
        p999: pick(0.999),
        mean,
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// The servers of the run: given by URL, or ephemeral (torn down when this is dropped).
struct Servers {
    postgres_url: String,
    redis_url: String,
    origin: &'static str,
    _postgres: Option<EphemeralPostgres>,
    _redis: Option<EphemeralRedis>,
}

fn env_url(var: &str) -> Option<String> {
    std::env::var(var).ok().filter(|v| !v.trim().is_empty())
}

fn servers() -> Result<Servers, String> {
    let given_pg = env_url(forze_testkit::POSTGRES_URL_VAR);
    let given_redis = env_url(forze_testkit::REDIS_URL_VAR);
    let (postgres_url, postgres) = match given_pg {
        Some(url) => (url, None),
        None => {
            let pg = EphemeralPostgres::start()
                .map_err(|e| format!("cannot start an ephemeral postgres: {e}"))?;
            (pg.url(), Some(pg))
        }
    };
    let (redis_url, redis) = match given_redis {
        Some(url) => (url, None),
        None => {
            let redis = EphemeralRedis::start()
                .map_err(|e| format!("cannot start an ephemeral redis: {e}"))?;
            (redis.url(), Some(redis))
        }
    };
    let origin = match (&postgres, &redis) {
        (Some(_), Some(_)) => "ephemeral postgres and redis (forze-testkit)",
        (None, None) => "FORZE_TEST_POSTGRES_URL and FORZE_TEST_REDIS_URL",
        _ => "partly FORZE_TEST_*_URL, partly ephemeral",
    };
    Ok(Servers {
        postgres_url,
        redis_url,
        origin,
        _postgres: postgres,
        _redis: redis,
    })
}

pub(crate) fn run(_cx: &Context, report: &mut Report) -> Result<(), String> {
    let samples = std::env::var("FORZE_BENCH_LATENCY_SAMPLES")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(DEFAULT_SAMPLES);
    let servers = servers()?;
    println!(
        "\nservers: {}; runtime: {RUNTIME_FLAVOR}; {samples} samples per operation, interleaved",
        servers.origin
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot build the tokio runtime: {e}"))?;
    let load_before = load_average();
    let measured = runtime.block_on(measure(&servers, samples))?;
    let load_after = load_average();
    drop(runtime);
    drop(servers);

    print_and_report(&measured, report);
    let mut load = Map::new();
    load.insert(
        "load_average_1m".to_owned(),
        json!({"before": load_before, "after": load_after}),
    );
    report.merge("latency", load);
    if let (Some(before), Some(after)) = (load_before, load_after) {
        println!(
            "load average (1 min) {before:.2} before, {after:.2} after, on {} cores: tail percentiles \
             on a loaded machine measure the scheduler as much as the code",
            std::thread::available_parallelism().map_or(1, usize::from)
        );
    }
    Ok(())
}

/// The 1-minute load average (Linux), for reading the tail percentiles.
fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

struct Measured {
    summaries: [Summary; N],
    payload_bytes: usize,
}

/// Everything the measuring loop needs, connected.
struct Setup {
    runtime: ExecutionRuntime,
    pg: PostgresClient,
    raw: ConnectionManager,
    key: String,
    schema: String,
}

async fn setup(servers: &Servers) -> Result<Setup, String> {
    let schema = unique_schema("bench_latency");
    let namespace = unique_namespace("bench-latency");
    let table = PostgresDocumentConfig::table(schema.clone(), "bench_products");

    let pg = PostgresClient::new();
    // A generous per-call bound: outliers are measured, not cut off (the coordinator's own
    // budget, 50 ms by default, still applies to the L2 calls).
    let redis =
        RedisClient::new(RedisConfig::default().with_response_timeout(Duration::from_secs(5)))
            .map_err(|e| e.to_string())?;
    let cache_config = RedisCacheConfig::namespace(namespace).map_err(|e| e.to_string())?;
    let key_prefix = RedisCache::new(redis.clone(), cache_config.clone())
        .key_prefix()
        .to_owned();
    let deps = DepsRegistry::from_modules([
        PostgresDepsModule::new(pg.clone())
            .rw_document("bench_products", table.clone())
            .boxed(),
        RedisDepsModule::new(redis.clone())
            .cache("bench_products", cache_config)
            .boxed(),
    ]);
    let lifecycle = LifecyclePlan::from_modules([PostgresLifecycleModule::new(
        pg.clone(),
        servers.postgres_url.clone(),
    )
    .boxed()])
    .with_steps([forze_redis::redis_lifecycle_step(
        redis,
        servers.redis_url.clone(),
    )]);
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
        create_table_sql(&table, BenchProduct::FIELDS)
    ))
    .await
    .map_err(|e| format!("creating the table: {e}"))?;

    // The same kind of connection `RedisClient` uses: a ConnectionManager without Nagle delay;
    // no per-call timeout at all (the floor).
    let raw_client = redis::Client::open(servers.redis_url.as_str())
        .map_err(|e| format!("invalid redis url: {e}"))?;
    let info = raw_client
        .get_connection_info()
        .clone()
        .set_tcp_settings(TcpSettings::default().set_nodelay(true));
    let raw_client = redis::Client::open(info).map_err(|e| format!("invalid redis url: {e}"))?;
    let raw = ConnectionManager::new_with_config(
        raw_client,
        ConnectionManagerConfig::new().set_response_timeout(None),
    )
    .await
    .map_err(|e| format!("raw redis connection: {e}"))?;
    Ok(Setup {
        runtime,
        pg,
        raw,
        key: key_prefix,
        schema,
    })
}

async fn teardown(setup: Setup, id: Option<Uuid>) {
    let mut raw = setup.raw.clone();
    if let Some(id) = id {
        let _: Result<i64, _> = redis::cmd("DEL")
            .arg(format!("{}{{{id}}}", setup.key))
            .query_async(&mut raw)
            .await;
    }
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

async fn measure(servers: &Servers, samples: usize) -> Result<Measured, String> {
    let setup = setup(servers).await?;
    let result = measure_on(&setup, samples).await;
    let id = result.as_ref().ok().map(|(_, id)| *id);
    teardown(setup, id).await;
    result.map(|(m, _)| m)
}

async fn measure_on(setup: &Setup, samples: usize) -> Result<(Measured, Uuid), String> {
    let ctx: ExecutionContext = setup.runtime.context();
    let docs = ctx
        .document()
        .command(&BENCH_PRODUCT_SPEC)
        .map_err(|e| e.to_string())?;
    let query = ctx
        .document()
        .query(&BENCH_PRODUCT_SPEC)
        .map_err(|e| e.to_string())?;
    let cache = ctx.cache(&BENCH_PRODUCT_SPEC).map_err(|e| e.to_string())?;

    let doc = docs
        .create(BenchProductCreate {
            name: "Widget".into(),
            price: 1299,
            description: "x".repeat(DESCRIPTION_BYTES),
        })
        .await
        .map_err(|e| format!("create: {e}"))?;
    let (id, rev) = (doc.id, doc.rev);
    let cache_key = id.to_string();
    let redis_key = format!("{}{{{id}}}", setup.key);
    let ttl = cache.spec().ttl;
    query.get(id).await.map_err(|e| format!("first get: {e}"))?;
    let entry = cache
        .get(&cache_key)
        .await
        .map_err(|e| format!("cache get: {e}"))?
        .ok_or("the first read did not fill the cache")?;
    let payload_bytes = entry.payload.len();

    let sql = format!(
        "SELECT id, rev, created_at, last_update_at, name, price, description FROM \"{}\".\"bench_products\" WHERE id = $1",
        setup.schema
    );
    let pool = setup.pg.pool().map_err(|e| e.to_string())?;
    let mut raw = setup.raw.clone();

    // One sample of `op`.
    macro_rules! sample {
        ($op:expr) => {{
            match $op {
                Op::RawGet => {
                    let start = Instant::now();
                    let value: Option<Vec<u8>> = redis::cmd("GET")
                        .arg(&redis_key)
                        .query_async(&mut raw)
                        .await
                        .map_err(|e| format!("raw GET: {e}"))?;
                    let took = start.elapsed();
                    let len = value.map_or(0, |v| v.len());
                    if len <= payload_bytes {
                        return Err(format!(
                            "raw GET found {len} bytes, expected the cached value"
                        ));
                    }
                    took
                }
                Op::CacheGet => {
                    let start = Instant::now();
                    let entry = cache
                        .cache()
                        .get(&cache_key)
                        .await
                        .map_err(|e| format!("RedisCache::get: {e}"))?;
                    let took = start.elapsed();
                    if entry.is_none() {
                        return Err("RedisCache::get missed; expected the cached value".to_owned());
                    }
                    took
                }
                Op::HitGet => {
                    let start = Instant::now();
                    let read = query.get(id).await.map_err(|e| format!("hit get: {e}"))?;
                    let took = start.elapsed();
                    std::hint::black_box(read);
                    took
                }
                Op::PkRead => {
                    let start = Instant::now();
                    let row: (
                        Uuid,
                        i64,
                        chrono::DateTime<chrono::Utc>,
                        chrono::DateTime<chrono::Utc>,
                        String,
                        i32,
                        String,
                    ) = sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                        .bind(id)
                        .fetch_one(&pool)
                        .await
                        .map_err(|e| format!("pk read: {e}"))?;
                    let took = start.elapsed();
                    std::hint::black_box(row);
                    took
                }
                Op::MissGet => {
                    cache
                        .cache()
                        .evict(&cache_key, rev, ttl)
                        .await
                        .map_err(|e| format!("evict: {e}"))?;
                    let start = Instant::now();
                    let read = query.get(id).await.map_err(|e| format!("miss get: {e}"))?;
                    let took = start.elapsed();
                    std::hint::black_box(read);
                    took
                }
            }
        }};
    }

    let orders = orders();
    // Warm up every path (connections, prepared statements, allocator), then measure.
    for round in 0..WARMUP_ROUNDS {
        for op in orders[round % orders.len()] {
            let _ = sample!(op);
        }
    }
    let before = cache.stats();
    let mut times: [Vec<Duration>; N] = std::array::from_fn(|_| Vec::with_capacity(samples));
    for round in 0..samples {
        for op in orders[round % orders.len()] {
            let took = sample!(op);
            times[op.index()].push(took);
        }
    }
    let after = cache.stats();

    // Every hit sample was a hit and every miss sample a store read plus a fill; otherwise the
    // numbers would describe something else.
    let n = samples as u64;
    let checks = [
        (after.hits - before.hits == n, "hits"),
        (after.misses - before.misses == n, "misses"),
        (after.store_reads - before.store_reads == n, "store reads"),
        (after.fills - before.fills == n, "fills"),
        (after.cache_errors == before.cache_errors, "cache errors"),
    ];
    for (ok, what) in checks {
        if !ok {
            return Err(format!(
                "the measured paths were not what they claim ({what}): before {before:?}, after {after:?}"
            ));
        }
    }

    let summaries = times.map(|mut t| summarize(&mut t));
    Ok((
        Measured {
            summaries,
            payload_bytes,
        },
        id,
    ))
}

fn print_and_report(m: &Measured, report: &mut Report) {
    println!(
        "\nread latency, µs (cached payload {} B, Redis and Postgres on this machine)",
        m.payload_bytes
    );
    println!(
        "{:<16} {:>8} {:>9} {:>9} {:>9} {:>9}",
        "operation", "samples", "p50", "p99", "p99.9", "mean"
    );
    let mut latency = Map::new();
    for op in OPS {
        let s = m.summaries[op.index()];
        println!(
            "{:<16} {:>8} {:>9.1} {:>9.1} {:>9.1} {:>9.1}",
            op.key(),
            s.samples,
            s.p50,
            s.p99,
            s.p999,
            s.mean
        );
        latency.insert(
            op.key().to_owned(),
            json!({
                "p50_us": round2(s.p50),
                "p99_us": round2(s.p99),
                "p999_us": round2(s.p999),
                "mean_us": round2(s.mean),
                "samples": s.samples,
            }),
        );
    }
    let raw = m.summaries[Op::RawGet.index()];
    let hit = m.summaries[Op::HitGet.index()];
    let ratio_p50 = hit.p50 / raw.p50.max(f64::MIN_POSITIVE);
    let ratio_p99 = hit.p99 / raw.p99.max(f64::MIN_POSITIVE);
    let verdict = if ratio_p50 <= TARGET_RATIO {
        "met"
    } else {
        "MISSED"
    };
    println!(
        "l2_hit_get / raw_redis_get: p50 {ratio_p50:.2}×, p99 {ratio_p99:.2}× (target p50 ≤ {TARGET_RATIO}×: {verdict})"
    );
    latency.insert(
        "l2_hit_over_raw".to_owned(),
        json!({
            "p50": round2(ratio_p50),
            "p99": round2(ratio_p99),
            "target": TARGET_RATIO,
        }),
    );
    let cache_get = m.summaries[Op::CacheGet.index()];
    println!(
        "p50 overhead over the raw GET: {:+.1} µs in the Redis backend (redis_cache_get), \
         {:+.1} µs in the coordinator (breaker, time budget, JSON decode)",
        cache_get.p50 - raw.p50,
        hit.p50 - cache_get.p50
    );
    latency.insert("payload_bytes".to_owned(), json!(m.payload_bytes));
    report.merge("latency", latency);
    let mut machine = Map::new();
    machine.insert("runtime".to_owned(), Value::from(RUNTIME_FLAVOR));
    report.merge("machine", machine);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_known_samples() {
        let mut samples: Vec<Duration> = (1..=1000).rev().map(Duration::from_micros).collect();
        let s = summarize(&mut samples);
        assert_eq!(s.samples, 1000);
        assert!((s.p50 - 501.0).abs() < 1e-9, "{}", s.p50);
        assert!((s.p99 - 990.0).abs() < 1e-9, "{}", s.p99);
        assert!((s.mean - 500.5).abs() < 1e-9, "{}", s.mean);
        assert_eq!(summarize(&mut []).p50, 0.0);
    }

    #[test]
    fn every_operation_follows_every_other_equally_often() {
        let orders = orders();
        assert_eq!(orders.len(), 120);
        // The sequence the measuring loop runs: the orders one after another, cyclically.
        let sequence: Vec<Op> = orders.iter().flatten().copied().collect();
        let mut follows = [[0usize; N]; N];
        for i in 0..sequence.len() {
            let prev = sequence[(i + sequence.len() - 1) % sequence.len()];
            follows[sequence[i].index()][prev.index()] += 1;
        }
        for op in OPS {
            let row = follows[op.index()];
            let others: Vec<usize> = OPS
                .iter()
                .filter(|o| **o != op)
                .map(|o| row[o.index()])
                .collect();
            let (min, max) = (others.iter().min().unwrap(), others.iter().max().unwrap());
            assert!(max - min <= 2, "{op:?} follows others unevenly: {row:?}");
        }
        let mut positions = [[0usize; N]; N];
        for order in &orders {
            for (k, op) in order.iter().enumerate() {
                positions[op.index()][k] += 1;
            }
        }
        assert!(
            positions.iter().flatten().all(|&n| n == 24),
            "{positions:?}"
        );
    }
}
