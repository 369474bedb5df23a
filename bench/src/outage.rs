//! The `outage` section: what a Redis outage costs, between replicas that each own their
//! clients (a separate `ExecutionRuntime` with its own `PostgresClient` and `RedisClient` per
//! replica, as separate processes have), on a private `redis-server` (forze-testkit; the shared
//! server is never paused or restarted) and Postgres (`FORZE_TEST_POSTGRES_URL` with a unique
//! schema, removed afterwards, or an ephemeral server). `CoordinatorConfig` defaults throughout
//! (50 ms cache call budget, breaker after 5 failures, 1 s outage hold, 100 ms probe interval).
//!
//! `outage.redis_pause`: `CLIENT PAUSE 3000 ALL` from a raw admin connection.
//!
//! * Replica A, spec without L1, 100 documents cached; 16 tasks read them in a loop (each read
//!   bounded by 5 s). Read latency p50/p99/max of the reads that started during the pause, and
//!   the store reads the pause cost (`CacheStats::store_reads` at the pause's start and end):
//!   `store_reads` and `store_reads_per_doc` (÷ 100).
//! * `stale_after_recovery_ms`: replicas A and B; 200 ms into a pause A updates a document B
//!   has cached (A's tombstone cannot be written then). Under `CLIENT PAUSE` A's timed-out
//!   tombstone write was already sent and waits at the server, which runs it the moment the
//!   pause ends: this does not test a lost tombstone (it comes out 0; `redis_partition` does). The figure is how long after the pause
//!   ended B last returned the old rev (0: never after the end), for two kinds of B, alternating:
//!   a busy B reading the document every 2 ms through the pause (its breaker opens, it serves
//!   from the store under the outage hold), and an idle B whose reads start at the pause's end
//!   (breaker closed: its first read asks Redis). Each pause is followed until B has returned
//!   only the new rev for 1.5 s. Reported: the larger of the two kinds' p50 over
//!   [`STALE_REPS`] pauses each (every sample is in the report).
//!
//! `outage.redis_partition`: a lost tombstone. Replica A' reaches the private server through a
//! [`PartitionProxy`] (forze-testkit; while partitioned it drops every byte both ways, and the
//! heal closes the connections that lived through it), replica B directly; both default
//! `CoordinatorConfig`, the spec without L1. Per sample: A' creates a document, B reads it
//! twice (the second a hit); the proxy partitions A' for [`PARTITION`]; 200 ms in, A' updates
//! the document (Postgres commits; the tombstone's write times out, never reaches Redis, and is
//! remembered; A's flusher retries it every ≤ 50 ms outside the breaker). Then the heal at T.
//!
//! * `stale_after_heal_ms_{p50,max}`: a busy B reads the document every millisecond from
//!   before the partition on; from T to the return of B's first read of the new rev after its
//!   last read of the old one. Over [`PARTITION_REPS`] samples; as many samples with an idle B
//!   whose reads start at T are alongside (`idle_b_*`).
//! * `stale_reads_during_partition`: the busy B's reads that started after A's update returned
//!   and ended before T and returned the old rev (the documented window: Redis answers B but
//!   not the writer), p50 over the samples, with all of B's reads in that window alongside.
//! * The breakdown, from T: A's client reconnecting (the proxy accepting a new connection,
//!   [`PartitionProxy::accepted`]) and A's flusher writing the tombstone (`CacheStats::flushes`).
//!
//! `outage.redis_restart`: the private server is killed, stays down [`DOWNTIME`], and an empty
//! one starts on the same port. Its return is the first `PING` a thread of the bench gets
//! answered (polled every millisecond). Each figure is the p50 over [`RESTART_REPS`] restarts.
//!
//! * `hits_resume_ms`: replica A (no L1) reads one document every millisecond throughout; from
//!   the server's return until A's `CacheStats::hits` increases again.
//! * `push_resume_ms`: replicas P and Q, a spec with `l1(ttl = "1m")` and
//!   `RedisCacheConfig::invalidation_push(true)`. From the kill on, rounds: Q reads the
//!   document twice (the second read must be an L1 hit), P updates it, Q reads it every
//!   millisecond for up to [`PUSH_WINDOW`]. The first round after the server's return in which
//!   Q reads the new rev, with a push having dropped Q's entry (`L1PushStats::dropped`) and no
//!   L1 reset in the round, ends the measurement: from the server's return to that read.
//!
//! Report keys: `outage.redis_pause.{read_p50_us, read_p99_us, read_max_us, store_reads,
//! store_reads_per_doc, stale_after_recovery_ms}`, `outage.redis_partition.{
//! stale_after_heal_ms_p50, stale_after_heal_ms_max, stale_reads_during_partition}` and
//! `outage.redis_restart.{hits_resume_ms, push_resume_ms}`, with the samples and a few
//! counters alongside.

use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use forze_core::prelude::*;
use forze_core::{
    CacheHandle, DepsRegistry, DocumentCommand, DocumentQuery, ExecutionContext, ExecutionRuntime,
    LifecyclePlan,
};
use forze_postgres::{
    PostgresClient, PostgresDepsModule, PostgresDocumentConfig, PostgresLifecycleModule,
    create_table_sql,
};
use forze_redis::{RedisCacheConfig, RedisClient, RedisConfig, RedisDepsModule};
use forze_testkit::{
    EphemeralPostgres, EphemeralRedis, PartitionProxy, unique_namespace, unique_schema,
};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::Context;
use crate::report::Report;

/// The documents read during pauses and restarts: cached, no L1 (every read asks Redis).
#[derive(forze_core::Document)]
#[document_spec(name = "bench_outage", cache(name = "bench_outage"))]
pub(crate) struct BenchOutage {
    pub(crate) name: String,
    pub(crate) price: i32,
}

/// The push measurement's document: an L1 that outlives the run (only a push or a reset can
/// drop an entry).
#[derive(forze_core::Document)]
#[document_spec(
    name = "bench_outage_local",
    cache(name = "bench_outage_local", l1(ttl = "1m"))
)]
pub(crate) struct BenchOutageLocal {
    pub(crate) name: String,
    pub(crate) price: i32,
}

const DOCS: usize = 100;
const READERS: usize = 16;
const PAUSE_MS: u64 = 3000;
const PAUSE: Duration = Duration::from_millis(PAUSE_MS);
/// Pauses for `stale_after_recovery_ms`.
const STALE_REPS: usize = 3;
/// How long A is partitioned from Redis in a `redis_partition` sample.
const PARTITION: Duration = Duration::from_millis(3000);
/// `redis_partition` samples of each kind of B (busy, idle).
const PARTITION_REPS: usize = 5;
/// Restarts for each `redis_restart` figure.
const RESTART_REPS: usize = 3;
/// How long the killed server stays down before the empty one starts.
const DOWNTIME: Duration = Duration::from_millis(500);
/// How long Q waits, in a push round, for a push to drop its entry.
const PUSH_WINDOW: Duration = Duration::from_millis(50);
/// The bound of every single operation of the bench (a read, a write, an admin call).
const CALL_BOUND: Duration = Duration::from_secs(5);
/// The bound of every wait for a state (a figure longer than this fails the section).
const GIVE_UP: Duration = Duration::from_secs(30);
/// B's reads count as settled once they returned only the new rev for this long after the
/// pause's end (longer than the 1 s outage hold, so a value held from the store expires in it).
const STABLE: Duration = Duration::from_millis(1500);

/// The old figures (issue 10) and the targets, for the table.
const OLD_STORE_READS: &str = "16556";
const OLD_PER_DOC: &str = "166";
const OLD_HITS_RESUME: &str = "7000";
const OLD_PUSH_RESUME: &str = "9500";

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Await `fut` for at most `bound`: a hang fails the bench.
async fn bounded<T>(
    what: &str,
    bound: Duration,
    fut: impl std::future::Future<Output = T>,
) -> Result<T, String> {
    tokio::time::timeout(bound, fut)
        .await
        .map_err(|_| format!("{what} did not finish within {bound:?}"))
}

/// One replica: its own runtime, Postgres client and Redis client.
struct Replica {
    runtime: ExecutionRuntime,
    ctx: ExecutionContext,
    pg: PostgresClient,
    redis: RedisClient,
}

impl Replica {
    async fn start(
        pg_url: &str,
        redis_url: &str,
        schema: &str,
        namespace: &str,
        push: bool,
    ) -> Result<Self, String> {
        let pg = PostgresClient::new();
        let redis = RedisClient::new(RedisConfig::default()).map_err(err)?;
        let plain = RedisCacheConfig::namespace(namespace).map_err(err)?;
        let mut local = RedisCacheConfig::namespace(namespace).map_err(err)?;
        if push {
            local = local.invalidation_push(true);
        }
        let deps = DepsRegistry::from_modules([
            PostgresDepsModule::new(pg.clone())
                .rw_document("bench_outage", table(schema, "bench_outage"))
                .rw_document("bench_outage_local", table(schema, "bench_outage_local"))
                .boxed(),
            RedisDepsModule::new(redis.clone())
                .cache("bench_outage", plain)
                .cache("bench_outage_local", local)
                .boxed(),
        ])
        .freeze()
        .map_err(err)?;
        let lifecycle = LifecyclePlan::from_modules([PostgresLifecycleModule::new(
            pg.clone(),
            pg_url.to_owned(),
        )
        .boxed()])
        .with_steps([forze_redis::redis_lifecycle_step(
            redis.clone(),
            redis_url.to_owned(),
        )])
        .freeze()
        .map_err(err)?;
        let runtime = ExecutionRuntime::new(deps, lifecycle);
        bounded("a replica's startup", CALL_BOUND, runtime.startup())
            .await?
            .map_err(|e| format!("startup: {e} ({e:?})"))?;
        let ctx = runtime.context();
        let replica = Replica {
            runtime,
            ctx,
            pg,
            redis,
        };
        if push {
            let handle = replica.local_handle()?;
            let client = replica.redis.clone();
            wait_for("tracking armed", || {
                handle.stats().push.is_some_and(|p| p.resets >= 1) && client.push_stats().stream_up
            })
            .await?;
        }
        Ok(replica)
    }

    fn query(&self) -> Result<DocumentQuery<BenchOutage>, String> {
        self.ctx.document().query(&BENCH_OUTAGE_SPEC).map_err(err)
    }

    fn command(&self) -> Result<DocumentCommand<BenchOutage>, String> {
        self.ctx.document().command(&BENCH_OUTAGE_SPEC).map_err(err)
    }

    fn handle(&self) -> Result<CacheHandle, String> {
        self.ctx.cache(&BENCH_OUTAGE_SPEC).map_err(err)
    }

    fn local_handle(&self) -> Result<CacheHandle, String> {
        self.ctx.cache(&BENCH_OUTAGE_LOCAL_SPEC).map_err(err)
    }

    async fn shutdown(self) {
        if bounded("a replica's shutdown", CALL_BOUND, self.runtime.shutdown())
            .await
            .is_err()
        {
            eprintln!("forze-bench: a replica did not shut down within {CALL_BOUND:?}");
        }
        self.redis.close();
    }
}

fn table(schema: &str, name: &str) -> PostgresDocumentConfig {
    PostgresDocumentConfig::table(schema.to_owned(), name.to_owned())
}

/// Poll `cond` every millisecond for at most [`GIVE_UP`].
async fn wait_for(what: &str, cond: impl Fn() -> bool) -> Result<(), String> {
    let deadline = Instant::now() + GIVE_UP;
    while !cond() {
        if Instant::now() > deadline {
            return Err(format!("timed out ({GIVE_UP:?}) waiting for {what}"));
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    Ok(())
}

/// `CLIENT PAUSE <PAUSE_MS> ALL` from a fresh raw connection; the instant its reply came (the
/// pause began just before).
async fn pause(redis_url: &str) -> Result<Instant, String> {
    let client = redis::Client::open(redis_url).map_err(err)?;
    let mut conn = bounded(
        "the admin connection",
        CALL_BOUND,
        client.get_multiplexed_async_connection(),
    )
    .await?
    .map_err(|e| format!("admin connection: {e}"))?;
    let reply: String = bounded(
        "CLIENT PAUSE",
        CALL_BOUND,
        redis::cmd("CLIENT")
            .arg("PAUSE")
            .arg(PAUSE_MS)
            .arg("ALL")
            .query_async(&mut conn),
    )
    .await?
    .map_err(|e| format!("CLIENT PAUSE: {e}"))?;
    let at = Instant::now();
    if reply != "OK" {
        return Err(format!("CLIENT PAUSE answered {reply}"));
    }
    Ok(at)
}

/// Whether the server on `addr` answers `PING` now (one attempt, each step bounded).
fn pong(addr: SocketAddr) -> bool {
    use std::io::{Read as _, Write as _};
    let bound = Duration::from_millis(20);
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, bound) else {
        return false;
    };
    if stream.set_read_timeout(Some(bound)).is_err()
        || stream.set_write_timeout(Some(bound)).is_err()
        || stream.write_all(b"PING\r\n").is_err()
    {
        return false;
    }
    let mut buf = [0u8; 16];
    matches!(stream.read(&mut buf), Ok(n) if buf[..n].starts_with(b"+PONG"))
}

/// Kill the private server (SIGKILL, like a crash) and wait for it.
async fn kill(mut redis: EphemeralRedis) -> Result<EphemeralRedis, String> {
    tokio::task::spawn_blocking(move || redis.kill().map(|()| redis))
        .await
        .map_err(err)?
        .map_err(|e| format!("killing the private redis: {e}"))
}

/// After [`DOWNTIME`], start an empty server on the killed one's port; a thread polls `PING`
/// every millisecond from the call on and sets `back` to the first answer.
async fn start_again(
    redis: EphemeralRedis,
    back: Arc<OnceLock<Instant>>,
) -> Result<EphemeralRedis, String> {
    let addr = SocketAddr::from(([127, 0, 0, 1], redis.port()));
    let stop = Arc::new(AtomicBool::new(false));
    let poller = {
        let (back, stop) = (Arc::clone(&back), Arc::clone(&stop));
        std::thread::spawn(move || {
            let deadline = Instant::now() + GIVE_UP;
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                if pong(addr) {
                    let _ = back.set(Instant::now());
                    return;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        })
    };
    tokio::time::sleep(DOWNTIME).await;
    let mut redis = redis;
    let restarted = tokio::task::spawn_blocking(move || redis.restart().map(|()| redis))
        .await
        .map_err(err)
        .and_then(|r| r.map_err(|e| format!("restarting the private redis: {e}")));
    if restarted.is_err() {
        stop.store(true, Ordering::Relaxed);
    }
    let restarted = restarted?;
    let joined = tokio::task::spawn_blocking(move || poller.join().is_ok())
        .await
        .unwrap_or(false);
    if !joined || back.get().is_none() {
        return Err("the restarted server never answered PING".into());
    }
    Ok(restarted)
}

/// Sorted copy's `q` quantile.
fn quantile<T: Copy + Ord>(values: &[T], q: f64) -> Option<T> {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    if sorted.is_empty() {
        return None;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    Some(sorted[i.min(sorted.len() - 1)])
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e4).round() / 10.0
}

fn us(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e7).round() / 10.0
}

/// What `redis_pause`'s load measured.
struct PauseLoad {
    reads: usize,
    p50: Duration,
    p99: Duration,
    max: Duration,
    store_reads: u64,
    held: u64,
    cache_errors: u64,
    probes: u64,
    errors: usize,
}

/// 16 tasks on A read the 100 documents in a loop across a pause.
async fn pause_load(a: &Replica, redis_url: &str, ids: &[Uuid]) -> Result<PauseLoad, String> {
    let handle = a.handle()?;
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::with_capacity(READERS);
    for reader in 0..READERS {
        let query = a.query()?;
        let ids = ids.to_vec();
        let stop = Arc::clone(&stop);
        tasks.push(tokio::spawn(async move {
            // (start, latency) of every read; errors counted.
            let mut samples: Vec<(Instant, Duration)> = Vec::with_capacity(1 << 16);
            let mut errors = 0usize;
            let mut i = reader * (DOCS / READERS);
            while !stop.load(Ordering::Relaxed) {
                let id = ids[i % ids.len()];
                i += 1;
                let start = Instant::now();
                match tokio::time::timeout(CALL_BOUND, query.get(id)).await {
                    Ok(Ok(_)) => samples.push((start, start.elapsed())),
                    Ok(Err(_)) => errors += 1,
                    Err(_) => return Err(format!("a read took longer than {CALL_BOUND:?}")),
                }
                // A held read completes without ever waiting: without this, a reader would
                // keep its worker and the latencies of the others would measure the starving.
                tokio::task::yield_now().await;
            }
            Ok((samples, errors))
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = handle.stats();
    let began = pause(redis_url).await?;
    let ended = began + PAUSE;
    tokio::time::sleep_until(ended.into()).await;
    let after = handle.stats();
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let mut during = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (samples, errs) = bounded("a reader task", CALL_BOUND * 2, task)
            .await?
            .map_err(err)??;
        errors += errs;
        during.extend(
            samples
                .into_iter()
                .filter(|(start, _)| *start >= began && *start < ended)
                .map(|(_, took)| took),
        );
    }
    let pick = |q| quantile(&during, q).unwrap_or_default();
    Ok(PauseLoad {
        reads: during.len(),
        p50: pick(0.50),
        p99: pick(0.99),
        max: pick(1.0),
        store_reads: after.store_reads - before.store_reads,
        held: after.held - before.held,
        cache_errors: after.cache_errors - before.cache_errors,
        probes: after.probes - before.probes,
        errors,
    })
}

/// One `stale_after_recovery` sample: B polls `id` while A updates it during a pause.
struct Stale {
    /// How long after the pause's end B last returned the old rev (zero: not after the end).
    after_end: Duration,
    /// B's reads after the end that returned the old rev.
    old_reads_after_end: usize,
    /// Whether B returned the new rev before the end (from the store) and the old one after.
    flipped_back: bool,
    /// Whether B read every 2 ms through the pause (else its first read after it is at its end).
    busy: bool,
    /// A's invalidations that failed (timed out) in the sample, and its flushes of them.
    a_failed: u64,
    a_flushes: u64,
}

async fn stale_sample(
    a: &Replica,
    b: &Replica,
    redis_url: &str,
    doc: BenchOutageRead,
    busy: bool,
) -> Result<Stale, String> {
    let a_before = a.handle()?.stats();
    let query = b.query()?;
    // B has it cached at its current rev (a hit).
    let hits = b.handle()?.stats().hits;
    for _ in 0..2 {
        let got = bounded("B's read", CALL_BOUND, query.get(doc.id))
            .await?
            .map_err(err)?;
        if got.rev != doc.rev {
            return Err(format!(
                "B read rev {} before the pause, not {}",
                got.rev, doc.rev
            ));
        }
    }
    if b.handle()?.stats().hits <= hits {
        return Err("B's reads before the pause were not cache hits".into());
    }
    // B reads every 2 ms until it has read only the new rev for STABLE after the pause's end.
    let ended_at: Arc<OnceLock<Instant>> = Arc::new(OnceLock::new());
    let new_rev = Arc::new(AtomicI64::new(i64::MAX));
    let poller = {
        let (ended_at, new_rev) = (Arc::clone(&ended_at), Arc::clone(&new_rev));
        tokio::spawn(async move {
            let mut stale = Stale {
                after_end: Duration::ZERO,
                old_reads_after_end: 0,
                flipped_back: false,
                busy,
                a_failed: 0,
                a_flushes: 0,
            };
            let mut new_before_end = false;
            if !busy {
                // An idle B: its first read after the pause is at its end.
                loop {
                    if let Some(&ended) = ended_at.get() {
                        tokio::time::sleep_until(ended.into()).await;
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
            loop {
                let got = match tokio::time::timeout(CALL_BOUND, query.get(doc.id)).await {
                    Ok(Ok(got)) => got,
                    Ok(Err(e)) => return Err(format!("B's read failed: {e}")),
                    Err(_) => return Err(format!("B's read took longer than {CALL_BOUND:?}")),
                };
                let now = Instant::now();
                let target = new_rev.load(Ordering::SeqCst);
                if let Some(&ended) = ended_at.get() {
                    if now >= ended && got.rev < target {
                        stale.after_end = now.duration_since(ended);
                        stale.old_reads_after_end += 1;
                        stale.flipped_back |= new_before_end;
                    } else if now < ended && got.rev >= target {
                        new_before_end = true;
                    }
                    if now > ended + stale.after_end + STABLE {
                        return Ok(stale);
                    }
                    if now > ended + GIVE_UP {
                        return Err(format!(
                            "B still read the old rev {GIVE_UP:?} after the pause ended"
                        ));
                    }
                } else if got.rev >= target {
                    new_before_end = true;
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let began = pause(redis_url).await?;
    let ended = began + PAUSE;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let written = bounded(
        "A's update during the pause",
        CALL_BOUND,
        a.command()?.update(
            doc.id,
            doc.rev,
            BenchOutageUpdate {
                price: Some(doc.price + 1),
                ..Default::default()
            },
        ),
    )
    .await?
    .map_err(|e| format!("A's update during the pause: {e}"))?;
    if Instant::now() >= ended {
        return Err("A's update returned after the pause ended".into());
    }
    new_rev.store(written.rev, Ordering::SeqCst);
    let _ = ended_at.set(ended);
    let mut stale = bounded("B's reader", GIVE_UP + PAUSE + CALL_BOUND, poller)
        .await?
        .map_err(err)??;
    let a_after = a.handle()?.stats();
    stale.a_failed = a_after.invalidation_failures - a_before.invalidation_failures;
    stale.a_flushes = a_after.flushes - a_before.flushes;
    Ok(stale)
}

/// One `redis_partition` sample: A (through the proxy) updates a document B has cached while
/// the proxy partitions A from Redis; B reads it directly.
struct PartitionSample {
    /// Whether B read every millisecond through the partition (else from the heal on only).
    busy: bool,
    /// From the heal to the return of B's first read of the new rev after its last read of the
    /// old one.
    stale_after_heal: Duration,
    /// B's reads of the old rev after the heal.
    old_reads_after_heal: usize,
    /// B's reads of the old rev that started after A's update returned and ended before the
    /// heal (the documented window: Redis answers B but not the writer).
    stale_reads_during_partition: usize,
    /// All of B's reads in that window.
    reads_during_partition: usize,
    /// How long that window was (from A's update returning to the heal).
    window: Duration,
    /// From the heal to the proxy accepting A's client's new connection.
    reconnect: Option<Duration>,
    /// From the heal to A's flusher writing the remembered tombstone (`CacheStats::flushes`).
    flush: Option<Duration>,
    /// A's invalidations that failed during the partition, and its cache errors.
    a_failed: u64,
    a_cache_errors: u64,
}

async fn partition_sample(
    a: &Replica,
    b: &Replica,
    proxy: &PartitionProxy,
    busy: bool,
) -> Result<PartitionSample, String> {
    let a_handle = a.handle()?;
    wait_for("A has nothing pending and its breaker closed", || {
        let s = a_handle.stats();
        s.breaker == forze_core::BreakerState::Closed && s.pending_invalidations == 0
    })
    .await?;
    let doc = bounded(
        "A's create",
        CALL_BOUND,
        a.command()?.create(BenchOutageCreate {
            name: "partitioned".into(),
            price: 0,
        }),
    )
    .await?
    .map_err(|e| format!("A's create: {e}"))?;
    // B has it cached at its current rev (a hit).
    let query = b.query()?;
    let hits = b.handle()?.stats().hits;
    for _ in 0..2 {
        let got = bounded("B's read", CALL_BOUND, query.get(doc.id))
            .await?
            .map_err(err)?;
        if got.rev != doc.rev {
            return Err(format!(
                "B read rev {} before the partition, not {}",
                got.rev, doc.rev
            ));
        }
    }
    if b.handle()?.stats().hits <= hits {
        return Err("B's reads before the partition were not cache hits".into());
    }

    // B's reads: (start, end, rev) until it has read only the new rev for STABLE after the
    // heal. A busy B reads every millisecond from now on, an idle one from the heal on.
    let healed_at: Arc<OnceLock<Instant>> = Arc::new(OnceLock::new());
    let new_rev = Arc::new(AtomicI64::new(i64::MAX));
    let poller = {
        let (healed_at, new_rev) = (Arc::clone(&healed_at), Arc::clone(&new_rev));
        tokio::spawn(async move {
            let mut reads: Vec<(Instant, Instant, i64)> = Vec::with_capacity(1 << 13);
            if !busy {
                let deadline = Instant::now() + GIVE_UP;
                loop {
                    if let Some(&healed) = healed_at.get() {
                        tokio::time::sleep_until(healed.into()).await;
                        break;
                    }
                    if Instant::now() > deadline {
                        return Err("the heal never came".to_owned());
                    }
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
            let mut last_old: Option<Instant> = None;
            loop {
                let start = Instant::now();
                let got = match tokio::time::timeout(CALL_BOUND, query.get(doc.id)).await {
                    Ok(Ok(got)) => got,
                    Ok(Err(e)) => return Err(format!("B's read failed: {e}")),
                    Err(_) => return Err(format!("B's read took longer than {CALL_BOUND:?}")),
                };
                let end = Instant::now();
                reads.push((start, end, got.rev));
                if let Some(&healed) = healed_at.get() {
                    if got.rev < new_rev.load(Ordering::SeqCst) && end >= healed {
                        last_old = Some(end);
                    }
                    if end > last_old.unwrap_or(healed).max(healed) + STABLE {
                        return Ok(reads);
                    }
                    if end > healed + GIVE_UP {
                        return Err(format!(
                            "B still read the old rev {GIVE_UP:?} after the heal"
                        ));
                    }
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
    };
    let a_before = a_handle.stats();
    tokio::time::sleep(Duration::from_millis(100)).await;
    proxy.partition();
    let partitioned = Instant::now();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let written = bounded(
        "A's update during the partition",
        CALL_BOUND,
        a.command()?.update(
            doc.id,
            doc.rev,
            BenchOutageUpdate {
                price: Some(doc.price + 1),
                ..Default::default()
            },
        ),
    )
    .await?
    .map_err(|e| format!("A's update during the partition: {e}"))?;
    let returned = Instant::now();
    new_rev.store(written.rev, Ordering::SeqCst);
    let a_during = a_handle.stats();
    if a_during.pending_invalidations == 0 {
        return Err(format!(
            "A's tombstone was not remembered during the partition: {a_during:?}"
        ));
    }
    tokio::time::sleep_until((partitioned + PARTITION).into()).await;
    let (accepted, flushes) = (proxy.accepted(), a_handle.stats().flushes);
    let a_at_heal = a_handle.stats();
    proxy.heal();
    let healed = Instant::now();
    let _ = healed_at.set(healed);
    if returned >= healed {
        return Err("A's update returned after the heal".into());
    }
    // The breakdown: A's client reconnecting (through the proxy), A's flusher writing.
    let (mut reconnect, mut flush) = (None, None);
    while reconnect.is_none() || flush.is_none() {
        let now = Instant::now();
        if reconnect.is_none() && proxy.accepted() > accepted {
            reconnect = Some(now.duration_since(healed));
        }
        if flush.is_none() && a_handle.stats().flushes > flushes {
            flush = Some(now.duration_since(healed));
        }
        if now > healed + GIVE_UP || poller.is_finished() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let reads = bounded("B's reader", GIVE_UP + PARTITION + CALL_BOUND, poller)
        .await?
        .map_err(err)??;

    let is_old = |rev: i64| rev < written.rev;
    let last_old = reads
        .iter()
        .rposition(|&(_, end, rev)| end >= healed && is_old(rev));
    let first_new = reads
        .iter()
        .enumerate()
        .skip(last_old.map_or(0, |i| i + 1))
        .find(|&(_, &(_, end, rev))| end >= healed && !is_old(rev))
        .map(|(_, &(_, end, _))| end.duration_since(healed))
        .ok_or("B never read the new rev after the heal")?;
    let in_window = reads
        .iter()
        .filter(|&&(start, end, _)| start >= returned && end < healed);
    Ok(PartitionSample {
        busy,
        stale_after_heal: first_new,
        old_reads_after_heal: reads
            .iter()
            .filter(|&&(_, end, rev)| end >= healed && is_old(rev))
            .count(),
        stale_reads_during_partition: in_window.clone().filter(|r| is_old(r.2)).count(),
        reads_during_partition: in_window.count(),
        window: healed.duration_since(returned),
        reconnect,
        flush,
        a_failed: a_at_heal.invalidation_failures - a_before.invalidation_failures,
        a_cache_errors: a_at_heal.cache_errors - a_before.cache_errors,
    })
}

/// `hits_resume`: A reads `id` every millisecond across a restart.
async fn hits_resume(
    a: &Replica,
    redis: EphemeralRedis,
    id: Uuid,
) -> Result<(Duration, EphemeralRedis), String> {
    let handle = a.handle()?;
    let query = a.query()?;
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let stop = Arc::clone(&stop);
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                match tokio::time::timeout(CALL_BOUND, query.get(id)).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => return Err(format!("A's read failed: {e}")),
                    Err(_) => return Err(format!("A's read took longer than {CALL_BOUND:?}")),
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            Ok(())
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let redis = kill(redis).await?;
    // Hits counted from here on come from the new server.
    let baseline = handle.stats().hits;
    let back = Arc::new(OnceLock::new());
    let restarting = start_again(redis, Arc::clone(&back));
    tokio::pin!(restarting);
    let mut redis = None;
    let deadline = Instant::now() + GIVE_UP;
    let mut resumed = None;
    while resumed.is_none() || redis.is_none() {
        tokio::select! {
            done = &mut restarting, if redis.is_none() => redis = Some(done?),
            () = tokio::time::sleep(Duration::from_millis(1)) => {}
        }
        if resumed.is_none() && handle.stats().hits > baseline {
            let now = Instant::now();
            // A hit before the bench's own PING was answered counts as zero.
            resumed = Some(
                back.get()
                    .map_or(Duration::ZERO, |up| now.saturating_duration_since(*up)),
            );
        }
        if reader.is_finished() || Instant::now() > deadline {
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    bounded("A's reader", CALL_BOUND * 2, reader)
        .await?
        .map_err(err)??;
    let redis = match redis {
        Some(redis) => redis,
        None => bounded("the restart", GIVE_UP, restarting).await??,
    };
    let resumed = resumed.ok_or_else(|| {
        format!(
            "A's reads were not cache hits again within {GIVE_UP:?}: {:?}",
            handle.stats()
        )
    })?;
    Ok((resumed, redis))
}

/// One push round: Q holds `doc` in its L1, P writes; whether a push dropped Q's entry and Q
/// read the new rev (the instant it did).
async fn push_round(
    p: &Replica,
    q: &Replica,
    doc: &BenchOutageLocalRead,
) -> Result<(Option<Instant>, BenchOutageLocalRead), String> {
    let handle = q.local_handle()?;
    let query = q
        .ctx
        .document()
        .query(&BENCH_OUTAGE_LOCAL_SPEC)
        .map_err(err)?;
    // Reads may fail while the server is down and the store answers; they must not hang.
    let _ = bounded("Q's read", CALL_BOUND, query.get(doc.id)).await?;
    let l1_hits = handle.stats().l1.map_or(0, |l| l.hits);
    let _ = bounded("Q's read", CALL_BOUND, query.get(doc.id)).await?;
    let l1_hit = handle.stats().l1.map_or(0, |l| l.hits) > l1_hits;
    let counts = |h: &CacheHandle| h.stats().push.map_or((0, 0), |p| (p.dropped, p.resets));
    let (dropped, resets) = counts(&handle);
    let written = bounded(
        "P's update",
        CALL_BOUND,
        p.ctx
            .document()
            .command(&BENCH_OUTAGE_LOCAL_SPEC)
            .map_err(err)?
            .update(
                doc.id,
                doc.rev,
                BenchOutageLocalUpdate {
                    price: Some(doc.price + 1),
                    ..Default::default()
                },
            ),
    )
    .await?
    .map_err(|e| format!("P's update: {e}"))?;
    let until = Instant::now() + PUSH_WINDOW;
    let mut seen = None;
    while Instant::now() < until {
        if let Ok(got) = bounded("Q's read", CALL_BOUND, query.get(doc.id)).await?
            && got.rev >= written.rev
        {
            seen = Some(Instant::now());
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let (dropped_after, resets_after) = counts(&handle);
    let by_push = l1_hit && dropped_after > dropped && resets_after == resets;
    Ok((seen.filter(|_| by_push), written))
}

/// `push_resume`: rounds from the kill on; the first pushed round after the server's return.
async fn push_resume(
    p: &Replica,
    q: &Replica,
    redis: EphemeralRedis,
    mut doc: BenchOutageLocalRead,
) -> Result<(Duration, EphemeralRedis, BenchOutageLocalRead), String> {
    let redis = kill(redis).await?;
    let back = Arc::new(OnceLock::new());
    let restarting = start_again(redis, Arc::clone(&back));
    tokio::pin!(restarting);
    let mut redis = None;
    let deadline = Instant::now() + GIVE_UP;
    let mut resumed = None;
    while Instant::now() < deadline {
        let (seen, written) = {
            let round = push_round(p, q, &doc);
            tokio::pin!(round);
            loop {
                tokio::select! {
                    done = &mut restarting, if redis.is_none() => redis = Some(done?),
                    result = &mut round => break result?,
                }
            }
        };
        doc = written;
        if let (Some(at), Some(up)) = (seen, back.get())
            && at > *up
        {
            resumed = Some(at.duration_since(*up));
            break;
        }
    }
    let redis = match redis {
        Some(redis) => redis,
        None => bounded("the restart", GIVE_UP, restarting).await??,
    };
    let resumed = resumed.ok_or_else(|| {
        format!(
            "pushes did not reach Q within {GIVE_UP:?} of the server's return: {:?}",
            q.local_handle().map(|h| h.stats())
        )
    })?;
    Ok((resumed, redis, doc))
}

struct Figures {
    load: PauseLoad,
    stale: Vec<Stale>,
    partition: Vec<PartitionSample>,
    hits: Vec<Duration>,
    push: Vec<Duration>,
}

async fn measure(
    pg_url: &str,
    redis: EphemeralRedis,
    schema: &str,
) -> Result<(Figures, Replica), String> {
    let redis_url = redis.url();
    let namespace = unique_namespace("forze-bench-outage");
    let a = Replica::start(pg_url, &redis_url, schema, &namespace, false).await?;
    for sql in [
        format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\""),
        create_table_sql(&table(schema, "bench_outage"), BenchOutage::FIELDS),
        create_table_sql(
            &table(schema, "bench_outage_local"),
            BenchOutageLocal::FIELDS,
        ),
    ] {
        bounded("creating the tables", CALL_BOUND, a.pg.execute(&sql))
            .await?
            .map_err(|e| format!("creating the tables: {e}"))?;
    }
    match measure_on(&a, redis, &redis_url, pg_url, schema, &namespace).await {
        Ok(figures) => Ok((figures, a)),
        Err(e) => {
            drop_schema(&a, schema).await;
            a.shutdown().await;
            Err(e)
        }
    }
}

async fn drop_schema(a: &Replica, schema: &str) {
    let dropped = bounded(
        "dropping the schema",
        CALL_BOUND,
        a.pg.execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE")),
    )
    .await;
    if !matches!(dropped, Ok(Ok(()))) {
        eprintln!("forze-bench: dropping schema {schema} failed");
    }
}

async fn measure_on(
    a: &Replica,
    mut redis: EphemeralRedis,
    redis_url: &str,
    pg_url: &str,
    schema: &str,
    namespace: &str,
) -> Result<Figures, String> {
    // 100 documents, cached.
    let docs = a.command()?;
    let mut ids = Vec::with_capacity(DOCS);
    let mut first = Vec::new();
    for i in 0..DOCS {
        let doc = bounded(
            "create",
            CALL_BOUND,
            docs.create(BenchOutageCreate {
                name: format!("doc {i}"),
                price: 0,
            }),
        )
        .await?
        .map_err(err)?;
        ids.push(doc.id);
        if first.len() < 2 * STALE_REPS {
            first.push(doc);
        }
    }
    let query = a.query()?;
    for id in &ids {
        bounded("a warming read", CALL_BOUND, query.get(*id))
            .await?
            .map_err(err)?;
    }

    // redis_pause: the load.
    let load = pause_load(a, redis_url, &ids).await?;
    println!(
        "  pause: {} reads on A during it, {} store reads, {} held, {} cache errors, {} probes, \
         {} failed reads",
        load.reads, load.store_reads, load.held, load.cache_errors, load.probes, load.errors
    );

    // redis_pause: stale_after_recovery, with a second replica.
    let b = Replica::start(pg_url, redis_url, schema, namespace, false).await?;
    let handle = a.handle()?;
    wait_for("A recovered after the pause", || {
        let s = handle.stats();
        s.breaker == forze_core::BreakerState::Closed && s.pending_invalidations == 0
    })
    .await?;
    let mut stale = Vec::with_capacity(2 * STALE_REPS);
    for (i, doc) in first.iter().take(2 * STALE_REPS).enumerate() {
        // A pause is over before the next one starts (a second PAUSE would extend it).
        let busy = i % 2 == 0;
        let mut sample = stale_sample(a, &b, redis_url, doc.clone(), busy).await?;
        sample.busy = busy;
        println!(
            "  stale sample ({} B): B last read the old rev {:.1} ms after the pause ended ({} \
             old reads after the end; A: {} failed invalidation, {} flush{})",
            if busy { "busy" } else { "idle" },
            ms(sample.after_end),
            sample.old_reads_after_end,
            sample.a_failed,
            sample.a_flushes,
            if sample.flipped_back {
                "; B had read the new rev during the pause"
            } else {
                ""
            }
        );
        stale.push(sample);
    }

    // redis_partition: A' reaches Redis through a proxy that partitions it; B directly.
    let proxy = PartitionProxy::start(redis.port())
        .await
        .map_err(|e| format!("cannot start the partition proxy: {e}"))?;
    let a_partitioned =
        Replica::start(pg_url, &proxy.redis_url(), schema, namespace, false).await?;
    let mut partition = Vec::with_capacity(2 * PARTITION_REPS);
    for i in 0..2 * PARTITION_REPS {
        let busy = i % 2 == 0;
        let sample = match partition_sample(&a_partitioned, &b, &proxy, busy).await {
            Ok(sample) => sample,
            Err(e) => {
                proxy.heal();
                a_partitioned.shutdown().await;
                return Err(e);
            }
        };
        let opt = |d: Option<Duration>| d.map_or("-".to_owned(), |d| format!("{:.1}", ms(d)));
        println!(
            "  partition sample ({} B): B read the new rev {:.1} ms after the heal ({} old \
             reads after it); during the partition {} of B's {} reads in {:.0} ms were old; \
             A: reconnected {} ms, flushed {} ms after the heal ({} failed invalidation, {} \
             cache errors)",
            if busy { "busy" } else { "idle" },
            ms(sample.stale_after_heal),
            sample.old_reads_after_heal,
            sample.stale_reads_during_partition,
            sample.reads_during_partition,
            ms(sample.window),
            opt(sample.reconnect),
            opt(sample.flush),
            sample.a_failed,
            sample.a_cache_errors,
        );
        partition.push(sample);
    }
    a_partitioned.shutdown().await;
    drop(proxy);
    b.shutdown().await;

    // redis_restart: hits_resume on A.
    let mut hits = Vec::with_capacity(RESTART_REPS);
    let id = ids[DOCS - 1];
    for _ in 0..RESTART_REPS {
        wait_for("A's reads are hits before the restart", || {
            handle.stats().breaker == forze_core::BreakerState::Closed
        })
        .await?;
        let (took, back) = hits_resume(a, redis, id).await?;
        redis = back;
        println!(
            "  restart: A's reads were hits again {:.1} ms after PING",
            ms(took)
        );
        hits.push(took);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    // redis_restart: push_resume on two push replicas.
    let p = Replica::start(pg_url, redis_url, schema, namespace, true).await?;
    let q = Replica::start(pg_url, redis_url, schema, namespace, true).await?;
    let mut doc = bounded(
        "create",
        CALL_BOUND,
        p.ctx
            .document()
            .command(&BENCH_OUTAGE_LOCAL_SPEC)
            .map_err(err)?
            .create(BenchOutageLocalCreate {
                name: "pushed".into(),
                price: 0,
            }),
    )
    .await?
    .map_err(err)?;
    // A pushed round before any restart, so the rounds can work at all.
    let (seen, written) = push_round(&p, &q, &doc).await?;
    doc = written;
    let (seen, written) = if seen.is_none() {
        push_round(&p, &q, &doc).await?
    } else {
        (seen, doc)
    };
    doc = written;
    if seen.is_none() {
        return Err("a push did not drop Q's entry before any restart".into());
    }
    let mut push = Vec::with_capacity(RESTART_REPS);
    for _ in 0..RESTART_REPS {
        let (took, back, written) = push_resume(&p, &q, redis, doc).await?;
        redis = back;
        doc = written;
        println!(
            "  restart: a push dropped Q's entry {:.1} ms after PING",
            ms(took)
        );
        push.push(took);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    p.shutdown().await;
    q.shutdown().await;
    drop(redis);
    Ok(Figures {
        load,
        stale,
        partition,
        hits,
        push,
    })
}

fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "MISSED" }
}

pub(crate) fn run(_cx: &Context, report: &mut Report) -> Result<(), String> {
    let given_pg = std::env::var(forze_testkit::POSTGRES_URL_VAR)
        .ok()
        .filter(|v| !v.trim().is_empty());
    let (pg_url, _pg, origin) = match given_pg {
        Some(url) => (url, None, "FORZE_TEST_POSTGRES_URL (a unique schema)"),
        None => {
            let pg = EphemeralPostgres::start()
                .map_err(|e| format!("cannot start an ephemeral postgres: {e}"))?;
            (pg.url(), Some(pg), "an ephemeral postgres")
        }
    };
    let redis =
        EphemeralRedis::start().map_err(|e| format!("cannot start a private redis: {e}"))?;
    let schema = unique_schema("bench_outage");
    println!(
        "\nservers: {origin} and a private redis (forze-testkit); tokio multi-thread, 2 workers; \
         CoordinatorConfig defaults; each replica its own runtime, Postgres and Redis clients"
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot build the tokio runtime: {e}"))?;
    let figures = runtime.block_on(async {
        let (figures, a) = measure(&pg_url, redis, &schema).await?;
        drop_schema(&a, &schema).await;
        a.shutdown().await;
        Ok::<_, String>(figures)
    })?;
    drop(runtime);
    print_and_report(&figures, report);
    Ok(())
}

fn print_and_report(f: &Figures, report: &mut Report) {
    let per_doc = f.load.store_reads as f64 / DOCS as f64;
    let pause_s = PAUSE.as_secs_f64();
    let mode = |busy: bool| -> Vec<Duration> {
        f.stale
            .iter()
            .filter(|s| s.busy == busy)
            .map(|s| s.after_end)
            .collect()
    };
    let (stale_busy, stale_idle) = (mode(true), mode(false));
    // The figure: the worse of the two kinds of B.
    let stale_p50 = quantile(&stale_busy, 0.5)
        .unwrap_or_default()
        .max(quantile(&stale_idle, 0.5).unwrap_or_default());
    let hits_p50 = quantile(&f.hits, 0.5).unwrap_or_default();
    let push_p50 = quantile(&f.push, 0.5).unwrap_or_default();
    let part = |busy: bool| -> Vec<&PartitionSample> {
        f.partition.iter().filter(|s| s.busy == busy).collect()
    };
    let (part_busy, part_idle) = (part(true), part(false));
    let after_heal = |v: &[&PartitionSample]| -> Vec<Duration> {
        v.iter().map(|s| s.stale_after_heal).collect()
    };
    let (heal_busy, heal_idle) = (after_heal(&part_busy), after_heal(&part_idle));
    let heal_p50 = quantile(&heal_busy, 0.5).unwrap_or_default();
    let heal_max = quantile(&heal_busy, 1.0).unwrap_or_default();
    let idle_p50 = quantile(&heal_idle, 0.5).unwrap_or_default();
    let idle_max = quantile(&heal_idle, 1.0).unwrap_or_default();
    let stale_during: Vec<usize> = part_busy
        .iter()
        .map(|s| s.stale_reads_during_partition)
        .collect();
    let reads_during: Vec<usize> = part_busy.iter().map(|s| s.reads_during_partition).collect();
    let stale_during_p50 = quantile(&stale_during, 0.5).unwrap_or_default();
    let reads_during_p50 = quantile(&reads_during, 0.5).unwrap_or_default();
    // The breakdown over every partition sample: A's reconnect and A's flush, from the heal.
    let reconnects: Vec<Duration> = f.partition.iter().filter_map(|s| s.reconnect).collect();
    let flushes: Vec<Duration> = f.partition.iter().filter_map(|s| s.flush).collect();
    let windows: Vec<Duration> = part_busy.iter().map(|s| s.window).collect();

    println!(
        "\nRedis outage ({READERS} readers, {DOCS} documents, CLIENT PAUSE {PAUSE_MS} ALL; A partitioned from Redis for {PARTITION:?}; restarts after {DOWNTIME:?} down)"
    );
    println!("{:<42} {:>10} {:>10}  target", "figure", "value", "old");
    let row = |name: &str, value: String, old: &str, target: String| {
        println!("{name:<42} {value:>10} {old:>10}  {target}");
    };
    row(
        "redis_pause.read_p50_us",
        format!("{:.1}", us(f.load.p50)),
        "-",
        "-".into(),
    );
    row(
        "redis_pause.read_p99_us",
        format!("{:.1}", us(f.load.p99)),
        "-",
        "-".into(),
    );
    row(
        "redis_pause.read_max_us",
        format!("{:.1}", us(f.load.max)),
        "-",
        "-".into(),
    );
    row(
        "redis_pause.store_reads",
        f.load.store_reads.to_string(),
        OLD_STORE_READS,
        format!("≈ {} (1 per doc per s)", DOCS as f64 * pause_s),
    );
    let per_doc_ok = per_doc <= pause_s * 1.5;
    row(
        "redis_pause.store_reads_per_doc",
        format!("{per_doc:.2}"),
        OLD_PER_DOC,
        format!("≈ {pause_s:.0} ({})", verdict(per_doc_ok)),
    );
    row(
        "redis_pause.stale_after_recovery_ms (p50)",
        format!("{:.1}", ms(stale_p50)),
        "-",
        "- (no lost tombstone: see redis_partition)".into(),
    );
    let heal_target = Duration::from_millis(100);
    row(
        "redis_partition.stale_after_heal_ms_p50",
        format!("{:.1}", ms(heal_p50)),
        "2000-3500",
        format!("≤ ~100 ({})", verdict(heal_p50 <= heal_target)),
    );
    row(
        "redis_partition.stale_after_heal_ms_max",
        format!("{:.1}", ms(heal_max)),
        "-",
        format!("≤ ~100 ({})", verdict(heal_max <= heal_target)),
    );
    row(
        "  idle B: stale_after_heal_ms p50 / max",
        format!("{:.1}/{:.1}", ms(idle_p50), ms(idle_max)),
        "-",
        format!("≤ ~100 ({})", verdict(idle_max <= heal_target)),
    );
    row(
        "redis_partition.stale_reads_during_partition",
        stale_during_p50.to_string(),
        "-",
        format!(
            "of {reads_during_p50} reads in ~{:.0} ms (documented window)",
            ms(quantile(&windows, 0.5).unwrap_or_default())
        ),
    );
    row(
        "redis_restart.hits_resume_ms (p50)",
        format!("{:.1}", ms(hits_p50)),
        OLD_HITS_RESUME,
        format!("< 1000 ({})", verdict(hits_p50 < Duration::from_secs(1))),
    );
    row(
        "redis_restart.push_resume_ms (p50)",
        format!("{:.1}", ms(push_p50)),
        OLD_PUSH_RESUME,
        format!("< 1000 ({})", verdict(push_p50 < Duration::from_secs(1))),
    );
    let list = |v: &[Duration]| {
        v.iter()
            .map(|d| format!("{:.1}", ms(*d)))
            .collect::<Vec<_>>()
    };
    println!(
        "samples (ms): stale_after_recovery busy B {:?}, idle B {:?}; hits_resume {:?}, \
         push_resume {:?} (push rounds: {PUSH_WINDOW:?} windows)",
        list(&stale_busy),
        list(&stale_idle),
        list(&f.hits),
        list(&f.push)
    );
    println!(
        "redis_partition ({PARTITION:?} partition of A through the proxy, B direct; rows for a \
         busy B reading every ms, {PARTITION_REPS} samples each): stale_after_heal busy B {:?}, \
         idle B {:?}; after the heal, A's client reconnected {:?} and A's flusher wrote the \
         tombstone {:?}",
        list(&heal_busy),
        list(&heal_idle),
        list(&reconnects),
        list(&flushes)
    );

    let ms_values =
        |v: &[Duration]| Value::Array(v.iter().map(|d| json!(ms(*d))).collect::<Vec<_>>());
    let mut members = Map::new();
    members.insert(
        "redis_pause".into(),
        json!({
            "read_p50_us": us(f.load.p50),
            "read_p99_us": us(f.load.p99),
            "read_max_us": us(f.load.max),
            "store_reads": f.load.store_reads,
            "store_reads_per_doc": (per_doc * 100.0).round() / 100.0,
            "stale_after_recovery_ms": ms(stale_p50),
            "stale_after_recovery_busy_b_samples_ms": ms_values(&stale_busy),
            "stale_after_recovery_idle_b_samples_ms": ms_values(&stale_idle),
            "stale_old_reads_after_end": f.stale.iter().map(|s| s.old_reads_after_end).collect::<Vec<_>>(),
            "reads_during_pause": f.load.reads,
            "failed_reads": f.load.errors,
            "held": f.load.held,
            "pause_ms": PAUSE_MS,
            "readers": READERS,
            "docs": DOCS,
        }),
    );
    let samples = |v: &[&PartitionSample], pick: fn(&PartitionSample) -> usize| {
        v.iter().map(|s| pick(s)).collect::<Vec<_>>()
    };
    members.insert(
        "redis_partition".into(),
        json!({
            "stale_after_heal_ms_p50": ms(heal_p50),
            "stale_after_heal_ms_max": ms(heal_max),
            "stale_reads_during_partition": stale_during_p50,
            "reads_during_partition": reads_during_p50,
            "stale_after_heal_busy_b_samples_ms": ms_values(&heal_busy),
            "stale_after_heal_idle_b_samples_ms": ms_values(&heal_idle),
            "idle_b_stale_after_heal_ms_p50": ms(idle_p50),
            "idle_b_stale_after_heal_ms_max": ms(idle_max),
            "stale_reads_during_partition_samples": stale_during,
            "reads_during_partition_samples": reads_during,
            "partition_window_after_write_samples_ms": ms_values(&windows),
            "old_reads_after_heal_busy_b_samples": samples(&part_busy, |s| s.old_reads_after_heal),
            "old_reads_after_heal_idle_b_samples": samples(&part_idle, |s| s.old_reads_after_heal),
            "a_reconnect_after_heal_ms_p50": ms(quantile(&reconnects, 0.5).unwrap_or_default()),
            "a_reconnect_after_heal_samples_ms": ms_values(&reconnects),
            "a_flush_after_heal_ms_p50": ms(quantile(&flushes, 0.5).unwrap_or_default()),
            "a_flush_after_heal_samples_ms": ms_values(&flushes),
            "partition_ms": PARTITION.as_millis() as u64,
            "reps_per_kind": PARTITION_REPS,
        }),
    );
    members.insert(
        "redis_restart".into(),
        json!({
            "hits_resume_ms": ms(hits_p50),
            "push_resume_ms": ms(push_p50),
            "hits_resume_samples_ms": ms_values(&f.hits),
            "push_resume_samples_ms": ms_values(&f.push),
            "downtime_ms": DOWNTIME.as_millis() as u64,
            "push_window_ms": PUSH_WINDOW.as_millis() as u64,
        }),
    );
    report.merge("outage", members);
}
