//! The `push` section: how soon a write on one replica drops the entry from another replica's
//! L1 (push invalidation, Redis client-side caching).
//!
//! Two runtimes in this process act as replicas A and B: each with its own `RedisClient` (so
//! its own tracking connection) on one Redis, over one shared in-memory document store, for a
//! spec with `l1(ttl = "1m")` and `invalidation_push(true)`. Each sample:
//!
//! 1. B holds the document in its L1 (read, wait until its own fill's echo is settled, read
//!    again: an L1 hit);
//! 2. a thread of the bench polls B's lane until it counts the entry dropped by a push
//!    (`CacheStats::push.dropped`; no read on B, which would refill) and notes the instant;
//! 3. A updates the document; the instants it was called and returned are noted.
//!
//! The figure is the stale window the contract speaks of: how long after A's `update` returned
//! B still held the old value, `max(0, dropped - returned)`. Redis sends the push before the
//! writer's reply (and A's `update` does a little more after the reply), so B usually drops the
//! entry before A's write returns: the signed difference and the time from the call are
//! reported too.
//!
//! Server: `FORZE_TEST_REDIS_URL` if set (a unique namespace is used), otherwise an ephemeral
//! `redis-server` from forze-testkit. `FORZE_BENCH_PUSH_SAMPLES` sets the samples (default 300).
//! Runs on a two-worker Tokio runtime, so B's tracking supervisor runs while the bench polls.
//!
//! Report key: `latency.push_propagation` → `{"p50_us", "p99_us"}` (the stale window), with
//! `samples`, `dropped_before_return`, `signed_p50_us`/`signed_p99_us` (drop minus return) and
//! `from_write_start_p50_us`/`from_write_start_p99_us`; other `latency` keys are kept.

use std::time::{Duration, Instant};

use forze_core::memory::MemoryDepsModule;
use forze_core::prelude::*;
use forze_core::{CacheHandle, DepsRegistry, ExecutionContext, ExecutionRuntime, LifecyclePlan};
use forze_redis::{RedisCacheConfig, RedisClient, RedisConfig, RedisDepsModule};
use forze_testkit::{EphemeralRedis, unique_namespace};
use serde_json::{Map, json};

use crate::Context;
use crate::report::Report;

/// The measured document: cached, with an L1 that outlives the run (only a push can drop it).
#[derive(forze_core::Document)]
#[document_spec(name = "bench_push", cache(name = "bench_push", l1(ttl = "1m")))]
pub(crate) struct BenchPushed {
    pub(crate) name: String,
    pub(crate) price: i32,
}

const DEFAULT_SAMPLES: usize = 300;
const WARMUP: usize = 20;
/// A sample that waits longer than this fails the section (the push never came).
const GIVE_UP: Duration = Duration::from_secs(2);

struct Replica {
    runtime: ExecutionRuntime,
    ctx: ExecutionContext,
    handle: CacheHandle,
    client: RedisClient,
}

async fn replica(
    url: &str,
    namespace: &str,
    store: &forze_core::memory::MemoryDocumentStore,
) -> Result<Replica, String> {
    let client = RedisClient::new(RedisConfig::default()).map_err(|e| e.to_string())?;
    let cache = RedisCacheConfig::namespace(namespace)
        .map_err(|e| e.to_string())?
        .invalidation_push(true);
    let deps = DepsRegistry::from_modules([
        MemoryDepsModule::new()
            .with_store(store.clone())
            .document("bench_push")
            .boxed(),
        RedisDepsModule::new(client.clone())
            .cache("bench_push", cache)
            .boxed(),
    ])
    .freeze()
    .map_err(|e| e.to_string())?;
    let lifecycle = LifecyclePlan::new()
        .with_steps([forze_redis::redis_lifecycle_step(client.clone(), url)])
        .freeze()
        .map_err(|e| e.to_string())?;
    let runtime = ExecutionRuntime::new(deps, lifecycle);
    runtime.startup().await.map_err(|e| e.to_string())?;
    let ctx = runtime.context();
    let handle = ctx.cache(&BENCH_PUSHED_SPEC).map_err(|e| e.to_string())?;
    // Armed: the arming reset reached the lane.
    wait(&handle, "tracking armed", |h| {
        h.stats().push.is_some_and(|p| p.resets >= 1) && client.push_stats().stream_up
    })
    .await?;
    Ok(Replica {
        runtime,
        ctx,
        handle,
        client,
    })
}

/// Poll `cond` (sleeping 100 µs between checks) for at most [`GIVE_UP`].
async fn wait(
    handle: &CacheHandle,
    what: &str,
    cond: impl Fn(&CacheHandle) -> bool,
) -> Result<(), String> {
    let deadline = Instant::now() + GIVE_UP * 5;
    while !cond(handle) {
        if Instant::now() > deadline {
            return Err(format!(
                "timed out waiting for {what}: {:?}",
                handle.stats()
            ));
        }
        tokio::time::sleep(Duration::from_micros(100)).await;
    }
    Ok(())
}

fn dropped(handle: &CacheHandle) -> u64 {
    handle.stats().push.map_or(0, |p| p.dropped)
}

/// When B dropped the entry, relative to A's write.
#[derive(Debug, Clone, Copy)]
struct Timing {
    /// From A's `update` returning to B's drop; negative: B dropped before it returned.
    after_return_us: f64,
    /// From A's `update` being called to B's drop.
    after_start_us: f64,
}

/// One sample: B holds `doc`, A writes; when B's lane dropped it.
async fn sample(
    a: &Replica,
    b: &Replica,
    doc: BenchPushedRead,
) -> Result<(Timing, BenchPushedRead), String> {
    let query = b
        .ctx
        .document()
        .query(&BENCH_PUSHED_SPEC)
        .map_err(|e| e.to_string())?;
    query.get(doc.id).await.map_err(|e| e.to_string())?;
    wait(&b.handle, "B's own echoes settled", |h| {
        h.stats().push.is_some_and(|p| p.pending_echoes == 0)
            && h.stats().l1.is_some_and(|l| l.size >= 1)
    })
    .await?;
    let hits = b.handle.stats().l1.map_or(0, |l| l.hits);
    query.get(doc.id).await.map_err(|e| e.to_string())?;
    if b.handle.stats().l1.map_or(0, |l| l.hits) != hits + 1 {
        return Err("B does not hold the document in its L1 before the write".into());
    }

    // A thread of its own polls B's counter, so the drop is timed even when it beats the
    // writer's reply (Redis sends the push first).
    let before = dropped(&b.handle);
    let handle = b.handle.clone();
    let poller = std::thread::spawn(move || {
        let deadline = Instant::now() + GIVE_UP;
        loop {
            if dropped(&handle) > before {
                return Some(Instant::now());
            }
            if Instant::now() > deadline {
                return None;
            }
            // Yield rather than spin: on a small machine the spinning would starve the
            // runtime and the server being measured.
            std::thread::yield_now();
        }
    });
    let docs = a
        .ctx
        .document()
        .command(&BENCH_PUSHED_SPEC)
        .map_err(|e| e.to_string())?;
    let change = BenchPushedUpdate {
        price: Some(doc.price + 1),
        ..Default::default()
    };
    let started = Instant::now();
    let written = docs
        .update(doc.id, doc.rev, change)
        .await
        .map_err(|e| e.to_string())?;
    let returned = Instant::now();
    let dropped_at = poller
        .join()
        .map_err(|_| "the polling thread panicked".to_owned())?
        .ok_or_else(|| {
            format!(
                "B's L1 entry was not dropped within {GIVE_UP:?} of A's write: {:?}",
                b.handle.stats().push
            )
        })?;
    Ok((
        Timing {
            after_return_us: signed_us(returned, dropped_at),
            after_start_us: signed_us(started, dropped_at),
        },
        written,
    ))
}

/// `to - from` in microseconds, negative if `to` is earlier.
fn signed_us(from: Instant, to: Instant) -> f64 {
    if to >= from {
        to.duration_since(from).as_secs_f64() * 1e6
    } else {
        -(from.duration_since(to).as_secs_f64() * 1e6)
    }
}

async fn measure(url: &str, samples: usize) -> Result<Vec<Timing>, String> {
    let namespace = unique_namespace("forze-bench-push");
    let store = forze_core::memory::MemoryDocumentStore::new();
    let a = replica(url, &namespace, &store).await?;
    let b = replica(url, &namespace, &store).await?;
    let mut doc = a
        .ctx
        .document()
        .command(&BENCH_PUSHED_SPEC)
        .map_err(|e| e.to_string())?
        .create(BenchPushedCreate {
            name: "Widget".into(),
            price: 0,
        })
        .await
        .map_err(|e| e.to_string())?;
    let mut measured = Vec::with_capacity(samples);
    for i in 0..WARMUP + samples {
        let (timing, written) = sample(&a, &b, doc).await?;
        doc = written;
        if i >= WARMUP {
            measured.push(timing);
        }
    }
    for replica in [&a, &b] {
        replica.runtime.shutdown().await;
        replica.client.close();
    }
    Ok(measured)
}

/// The `q` quantile of `values` (sorted here), rounded to 0.01.
fn quantile(values: &mut [f64], q: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_unstable_by(f64::total_cmp);
    let i = ((values.len() - 1) as f64 * q).round() as usize;
    (values[i.min(values.len() - 1)] * 100.0).round() / 100.0
}

pub(crate) fn run(_cx: &Context, report: &mut Report) -> Result<(), String> {
    let samples = std::env::var("FORZE_BENCH_PUSH_SAMPLES")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(DEFAULT_SAMPLES);
    let given = std::env::var(forze_testkit::REDIS_URL_VAR)
        .ok()
        .filter(|v| !v.trim().is_empty());
    let (url, _ephemeral, origin) = match given {
        Some(url) => (url, None, "FORZE_TEST_REDIS_URL (a unique namespace)"),
        None => {
            let redis = EphemeralRedis::start()
                .map_err(|e| format!("cannot start an ephemeral redis: {e}"))?;
            (
                redis.url(),
                Some(redis),
                "an ephemeral redis (forze-testkit)",
            )
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot build the tokio runtime: {e}"))?;
    let measured = runtime.block_on(measure(&url, samples))?;
    drop(runtime);

    // The stale window the contract speaks of: how long after A's write returned B could
    // still serve the old value (0 when B dropped the entry before).
    let mut window: Vec<f64> = measured
        .iter()
        .map(|t| t.after_return_us.max(0.0))
        .collect();
    let mut signed: Vec<f64> = measured.iter().map(|t| t.after_return_us).collect();
    let mut since_start: Vec<f64> = measured.iter().map(|t| t.after_start_us).collect();
    let before_return = signed.iter().filter(|us| **us <= 0.0).count();
    let (p50, p99, max) = (
        quantile(&mut window, 0.50),
        quantile(&mut window, 0.99),
        quantile(&mut window, 1.0),
    );
    let (signed_p50, signed_p99) = (quantile(&mut signed, 0.50), quantile(&mut signed, 0.99));
    let (start_p50, start_p99) = (
        quantile(&mut since_start, 0.50),
        quantile(&mut since_start, 0.99),
    );
    println!("\npush propagation: A's write returned -> B's L1 entry dropped by the push");
    println!("  server: {origin}; tokio multi-thread, 2 workers; {samples} samples");
    println!(
        "  stale window after the write returned: p50 {p50:.1} µs, p99 {p99:.1} µs, max {max:.1} µs"
    );
    println!(
        "  drop minus return (negative: before): p50 {signed_p50:.1} µs, p99 {signed_p99:.1} µs; \
         {before_return} of {} dropped before A's update returned",
        measured.len()
    );
    println!("  drop after A's update was called: p50 {start_p50:.1} µs, p99 {start_p99:.1} µs");
    let mut members = Map::new();
    members.insert(
        "push_propagation".into(),
        json!({
            "p50_us": p50,
            "p99_us": p99,
            "samples": measured.len(),
            "dropped_before_return": before_return,
            "signed_p50_us": signed_p50,
            "signed_p99_us": signed_p99,
            "from_write_start_p50_us": start_p50,
            "from_write_start_p99_us": start_p99,
        }),
    );
    report.merge("latency", members);
    Ok(())
}
