//! The driver: spawns `forze-replica` processes against one Postgres (a private schema) and a
//! private Redis, creates documents, runs a seeded random schedule of reads, writes, slow store
//! reads and Redis faults, records the history, and checks it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use forze_postgres::{PostgresClient, PostgresConfig, PostgresDocumentConfig, create_table_sql};
use forze_testkit::EphemeralRedis;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin};
use tokio::sync::oneshot;
use uuid::Uuid;

use crate::checker::{self, Budgets, Fault, FaultKind, Op, OpKind, Outcome, Report, Rule};
use crate::docs::FleetConfig;
use crate::protocol::{Answer, Command};

/// The variable that replays a seed.
pub const SEED_VAR: &str = "FORZE_FLEET_SEED";
/// An op with no answer after this long is a hang (recorded, and fails the run).
pub const OP_TIMEOUT: Duration = Duration::from_secs(10);

/// The seed of a run: `FORZE_FLEET_SEED` if set, else from the clock.
pub fn seed_from_env() -> u64 {
    if let Some(seed) = std::env::var(SEED_VAR)
        .ok()
        .and_then(|s| s.trim().parse().ok())
    {
        return seed;
    }
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64 ^ u64::from(std::process::id()))
        .unwrap_or(42)
}

/// The shared Postgres: `FORZE_TEST_POSTGRES_URL`, else the local trust server.
pub fn postgres_url() -> String {
    forze_testkit::try_test_postgres_url()
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// What one run does.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The replicas' configuration.
    pub config: FleetConfig,
    /// The schedule's seed.
    pub seed: u64,
    /// Schedule ops (reads, get_manys, writes) after the documents were created.
    pub ops: usize,
    /// Replica processes (2–3).
    pub replicas: usize,
    /// Documents created up front.
    pub docs: usize,
    /// Concurrent driver clients issuing ops.
    pub clients: usize,
    /// Inject Redis faults (pause, kill of connections, restart).
    pub faults: bool,
    /// Make some store reads slow (held after reading).
    pub slow: bool,
    /// The `forze-replica` binary.
    pub replica_bin: PathBuf,
    /// The Postgres the replicas share (a private schema is created and dropped).
    pub pg_url: String,
    /// The contract checked.
    pub budgets: Budgets,
}

impl RunOptions {
    /// Defaults for a short run of `config`.
    pub fn new(config: FleetConfig, seed: u64, replica_bin: impl Into<PathBuf>) -> Self {
        RunOptions {
            config,
            seed,
            ops: 1500,
            replicas: 3,
            docs: 12,
            clients: 8,
            faults: true,
            slow: true,
            replica_bin: replica_bin.into(),
            pg_url: postgres_url(),
            budgets: config.budgets(),
        }
    }
}

/// What a run recorded and what the checker found.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// The options (with the seed).
    pub options: RunOptions,
    /// Every recorded op.
    pub history: Vec<Op>,
    /// Every injected fault.
    pub faults: Vec<Fault>,
    /// The checker's report.
    pub report: Report,
    /// Each replica's `stats` answer at the end.
    pub stats: Vec<serde_json::Value>,
    /// Ops that got no answer within [`OP_TIMEOUT`].
    pub hangs: usize,
    /// Documents created.
    pub docs_created: usize,
    /// How long the schedule ran.
    pub elapsed: Duration,
}

impl RunOutcome {
    fn sum(&self, key: &str) -> u64 {
        self.stats
            .iter()
            .filter_map(|s| s.get(key).and_then(serde_json::Value::as_u64))
            .sum()
    }

    /// The replay command of this run.
    pub fn replay(&self) -> String {
        format!(
            "{SEED_VAR}={} cargo test -p forze-fleet --test fleet -- --exact fleet_{} --nocapture",
            self.options.seed,
            self.options.config.name()
        )
    }

    /// The counts, one paragraph.
    pub fn summary(&self) -> String {
        let counts = self.report.counts();
        let get = |r: Rule| counts.get(&r).copied().unwrap_or(0);
        let mut faults: HashMap<String, usize> = HashMap::new();
        for f in &self.faults {
            *faults.entry(format!("{:?}", f.kind)).or_default() += 1;
        }
        let mut faults: Vec<_> = faults.into_iter().collect();
        faults.sort();
        let docs = self.docs_created.max(1) as f64;
        format!(
            "config={} seed={} replicas={} ops={} (history {}: writes ok {} / failed {}) in {:.1}s\n  \
             reads checked {} (failed {}), violations {} (read-your-writes {}, other-replica {}, phantom {}), hangs {}\n  \
             store reads {} ({:.1} per doc, {} held slow), fetches {}, coalesced {} (refused as older than the lookup: {}), held {}, probes {}, hits {}, misses {}, l1 hits {}, \
             fills {} (rejected {}), cache errors {}, breaker rejections {}, invalidation failures {}, flushes {}, \
             push received {} (resets {})\n  faults {:?}",
            self.options.config.name(),
            self.options.seed,
            self.options.replicas,
            self.options.ops,
            self.history.len(),
            self.report.writes.0,
            self.report.writes.1,
            self.elapsed.as_secs_f64(),
            self.report.reads_checked,
            self.report.reads_failed,
            self.report.violations.len(),
            get(Rule::ReadYourWrites),
            get(Rule::OtherReplica),
            get(Rule::Phantom),
            self.hangs,
            self.sum("store_reads"),
            self.sum("store_reads") as f64 / docs,
            self.sum("store_reads_slowed"),
            self.sum("fetches"),
            self.sum("coalesced"),
            self.sum("stale_joins"),
            self.sum("held"),
            self.sum("probes"),
            self.sum("hits"),
            self.sum("misses"),
            self.sum("l1_hits"),
            self.sum("fills"),
            self.sum("fills_rejected"),
            self.sum("cache_errors"),
            self.sum("breaker_rejections"),
            self.sum("invalidation_failures"),
            self.sum("flushes"),
            self.sum("push_received"),
            self.sum("push_resets"),
            faults,
        )
    }

    /// The first `max` violations, each with its bounding write, and the faults near it.
    pub fn violations_text(&self, max: usize) -> String {
        let mut out = String::new();
        for v in self.report.violations.iter().take(max) {
            out.push_str(&format!("- {v}\n"));
            let from = v
                .bound
                .as_ref()
                .map_or(v.read.start, |w| w.start)
                .saturating_sub(Duration::from_secs(2));
            for f in self
                .faults
                .iter()
                .filter(|f| f.end >= from && f.start <= v.read.end)
            {
                out.push_str(&format!(
                    "    near fault {:?} [{:.1} ms .. {:.1} ms]\n",
                    f.kind,
                    f.start.as_secs_f64() * 1e3,
                    f.end.as_secs_f64() * 1e3
                ));
            }
        }
        if self.report.violations.len() > max {
            out.push_str(&format!(
                "… and {} more\n",
                self.report.violations.len() - max
            ));
        }
        out.push_str(&format!(
            "seed {} — replay: {}\n",
            self.options.seed,
            self.replay()
        ));
        out
    }
}

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<(Answer, Instant)>>>>;

/// One replica process. Killed when dropped.
struct Replica {
    index: usize,
    child: tokio::sync::Mutex<Child>,
    stdin: tokio::sync::Mutex<Option<ChildStdin>>,
    pending: Pending,
}

static SEQ: AtomicU64 = AtomicU64::new(1);

fn next_seq() -> u64 {
    SEQ.fetch_add(1, Ordering::Relaxed)
}

impl Replica {
    async fn spawn(
        options: &RunOptions,
        index: usize,
        redis_url: &str,
        schema: &str,
        namespace: &str,
    ) -> Result<Replica, String> {
        let mut child = tokio::process::Command::new(&options.replica_bin)
            .args(["--config", options.config.name()])
            .args(["--pg-url", &options.pg_url])
            .args(["--redis-url", redis_url])
            .args(["--schema", schema])
            .args(["--namespace", namespace])
            .args([
                "--seed",
                &options.seed.wrapping_add(index as u64 * 7919).to_string(),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("spawn {}: {e}", options.replica_bin.display()))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let stdin = child.stdin.take().ok_or("no stdin")?;
        let pending: Pending = Arc::new(Mutex::new(HashMap::new()));
        let (ready_tx, ready_rx) = oneshot::channel::<()>();
        let reader_pending = Arc::clone(&pending);
        tokio::spawn(async move {
            let mut ready = Some(ready_tx);
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let at = Instant::now();
                let Ok(answer) = serde_json::from_str::<Answer>(&line) else {
                    eprintln!("replica {index}: unparsable line {line}");
                    continue;
                };
                if answer.ready {
                    if let Some(tx) = ready.take() {
                        let _ = tx.send(());
                    }
                    continue;
                }
                let waiter = reader_pending
                    .lock()
                    .ok()
                    .and_then(|mut p| p.remove(&answer.seq));
                if let Some(tx) = waiter {
                    let _ = tx.send((answer, at));
                }
            }
        });
        match tokio::time::timeout(Duration::from_secs(30), ready_rx).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return Err(format!("replica {index} exited before it was ready")),
            Err(_) => return Err(format!("replica {index} not ready within 30 s")),
        }
        Ok(Replica {
            index,
            child: tokio::sync::Mutex::new(child),
            stdin: tokio::sync::Mutex::new(Some(stdin)),
            pending,
        })
    }

    /// Send `cmd`; its answer, the instant before sending and the instant the answer was read.
    async fn call(&self, cmd: &Command) -> (Option<Answer>, Instant, Instant) {
        let seq = cmd.seq();
        let (tx, rx) = oneshot::channel();
        if let Ok(mut p) = self.pending.lock() {
            p.insert(seq, tx);
        }
        let mut line = serde_json::to_vec(cmd).unwrap_or_default();
        line.push(b'\n');
        let start = Instant::now();
        {
            let mut stdin = self.stdin.lock().await;
            let sent = match stdin.as_mut() {
                Some(stdin) => stdin.write_all(&line).await.is_ok() && stdin.flush().await.is_ok(),
                None => false,
            };
            if !sent {
                return (None, start, Instant::now());
            }
        }
        match tokio::time::timeout(OP_TIMEOUT, rx).await {
            Ok(Ok((answer, at))) => (Some(answer), start, at),
            _ => {
                if let Ok(mut p) = self.pending.lock() {
                    p.remove(&seq);
                }
                (None, start, Instant::now())
            }
        }
    }

    /// Close stdin, let the process drain and exit; kill it if it does not.
    async fn stop(&self) {
        self.stdin.lock().await.take();
        let mut child = self.child.lock().await;
        if tokio::time::timeout(Duration::from_secs(15), child.wait())
            .await
            .is_err()
        {
            let _ = child.kill().await;
        }
    }
}

/// Drops the private schema (from a helper thread with its own runtime, also after a panic).
struct SchemaGuard {
    url: String,
    schema: String,
}

impl Drop for SchemaGuard {
    fn drop(&mut self) {
        forze_postgres::testing::drop_schema_blocking(&self.url, &self.schema);
    }
}

/// The documents the schedule works on.
#[derive(Default)]
struct DocState {
    live: Vec<Uuid>,
    all: Vec<Uuid>,
    revs: HashMap<Uuid, i64>,
}

impl DocState {
    fn learn(&mut self, id: Uuid, rev: i64) {
        let known = self.revs.entry(id).or_insert(rev);
        *known = (*known).max(rev);
    }

    fn created(&mut self, id: Uuid, rev: i64) {
        self.live.push(id);
        self.all.push(id);
        self.learn(id, rev);
    }

    fn deleted(&mut self, id: Uuid) {
        self.live.retain(|d| *d != id);
    }

    /// A document: mostly one of the few hot ones, sometimes any (even deleted, for reads).
    fn pick(&self, rng: &mut StdRng, any: bool) -> Option<Uuid> {
        let pool = if any && rng.random_bool(0.1) {
            &self.all
        } else {
            &self.live
        };
        if pool.is_empty() {
            return None;
        }
        let hot = pool.len().min(4);
        let i = if rng.random_bool(0.7) {
            rng.random_range(0..hot)
        } else {
            rng.random_range(0..pool.len())
        };
        Some(pool[i])
    }
}

/// Everything the tasks of one run share.
struct Shared {
    origin: Instant,
    replicas: Vec<Replica>,
    docs: Mutex<DocState>,
    ops: Mutex<Vec<Op>>,
    faults: Mutex<Vec<Fault>>,
    hangs: AtomicUsize,
}

impl Shared {
    fn since(&self, at: Instant) -> Duration {
        at.saturating_duration_since(self.origin)
    }

    fn record(
        &self,
        replica: usize,
        kind: OpKind,
        doc: Uuid,
        start: Instant,
        end: Instant,
        outcome: Outcome,
    ) {
        let (start, end) = (self.since(start), self.since(end));
        if let Ok(mut ops) = self.ops.lock() {
            let index = ops.len();
            ops.push(Op {
                index,
                replica,
                kind,
                doc,
                start,
                end,
                outcome,
            });
        }
    }

    fn docs(&self) -> std::sync::MutexGuard<'_, DocState> {
        match self.docs.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Run one single-document command on `replica` and record it.
    async fn single(&self, replica: usize, kind: OpKind, doc: Option<Uuid>, cmd: Command) {
        let (answer, start, end) = self.replicas[replica].call(&cmd).await;
        let Some(answer) = answer else {
            self.hangs.fetch_add(1, Ordering::Relaxed);
            eprintln!("fleet: replica {replica} gave no answer to {cmd:?} within {OP_TIMEOUT:?}");
            if let Some(doc) = doc {
                let outcome = Outcome::Error {
                    kind: "no answer".into(),
                    unknown: kind.is_write(),
                };
                self.record(replica, kind, doc, start, end, outcome);
            }
            return;
        };
        let error = |answer: &Answer| Outcome::Error {
            kind: answer
                .error
                .clone()
                .unwrap_or_else(|| "not found".to_owned()),
            unknown: answer.unknown,
        };
        let (doc, outcome) = match kind {
            OpKind::Create => match (answer.id, answer.rev) {
                (Some(id), Some(rev)) => {
                    self.docs().created(id, rev);
                    (id, Outcome::Rev(rev))
                }
                _ => return,
            },
            OpKind::Read => {
                let Some(doc) = doc else { return };
                match (answer.rev, answer.not_found) {
                    (Some(rev), _) => {
                        self.docs().learn(doc, rev);
                        (doc, Outcome::Rev(rev))
                    }
                    (None, true) => (doc, Outcome::NotFound),
                    _ => (doc, error(&answer)),
                }
            }
            OpKind::Update | OpKind::Touch => {
                let Some(doc) = doc else { return };
                match answer.rev {
                    Some(rev) => {
                        self.docs().learn(doc, rev);
                        (doc, Outcome::Rev(rev))
                    }
                    None => (doc, error(&answer)),
                }
            }
            OpKind::Delete => {
                let Some(doc) = doc else { return };
                if answer.deleted {
                    self.docs().deleted(doc);
                    (doc, Outcome::Deleted)
                } else {
                    (doc, error(&answer))
                }
            }
        };
        self.record(replica, kind, doc, start, end, outcome);
    }

    async fn get_many(&self, replica: usize, ids: Vec<Uuid>) {
        let cmd = Command::GetMany {
            seq: next_seq(),
            ids: ids.clone(),
        };
        let (answer, start, end) = self.replicas[replica].call(&cmd).await;
        let Some(answer) = answer else {
            self.hangs.fetch_add(1, Ordering::Relaxed);
            eprintln!("fleet: replica {replica} gave no answer to {cmd:?} within {OP_TIMEOUT:?}");
            return;
        };
        if let Some(docs) = &answer.docs {
            for d in docs {
                self.docs().learn(d.id, d.rev);
                self.record(replica, OpKind::Read, d.id, start, end, Outcome::Rev(d.rev));
            }
        } else if let Some(missing) = &answer.missing {
            for id in missing {
                self.record(replica, OpKind::Read, *id, start, end, Outcome::NotFound);
            }
        } else {
            for id in ids {
                let outcome = Outcome::Error {
                    kind: answer.error.clone().unwrap_or_default(),
                    unknown: false,
                };
                self.record(replica, OpKind::Read, id, start, end, outcome);
            }
        }
    }

    async fn set_slow(&self, replica: usize, fraction: f64, ms: u64) {
        let cmd = Command::Slow {
            seq: next_seq(),
            fraction,
            ms,
        };
        let _ = self.replicas[replica].call(&cmd).await;
    }
}

/// One driver client: a seeded stream of ops until the run's budget is spent.
async fn client(shared: Arc<Shared>, mut rng: StdRng, issued: Arc<AtomicUsize>, budget: usize) {
    let n = shared.replicas.len();
    while issued.fetch_add(1, Ordering::Relaxed) < budget {
        let replica = rng.random_range(0..n);
        let roll = rng.random_range(0..100u32);
        let (live, min_live) = {
            let docs = shared.docs();
            (docs.live.len(), docs.all.len() / 2)
        };
        match roll {
            0..50 => {
                let doc = shared.docs().pick(&mut rng, true);
                if let Some(id) = doc {
                    let cmd = Command::Get {
                        seq: next_seq(),
                        id,
                    };
                    shared.single(replica, OpKind::Read, Some(id), cmd).await;
                }
            }
            50..60 => {
                let k = rng.random_range(2..=4usize);
                let ids: Vec<Uuid> = {
                    let docs = shared.docs();
                    let mut ids: Vec<Uuid> =
                        (0..k).filter_map(|_| docs.pick(&mut rng, true)).collect();
                    ids.sort();
                    ids.dedup();
                    ids
                };
                if !ids.is_empty() {
                    shared.get_many(replica, ids).await;
                }
            }
            60..80 => {
                let target = {
                    let docs = shared.docs();
                    docs.pick(&mut rng, false)
                        .map(|id| (id, docs.revs.get(&id).copied().unwrap_or(1)))
                };
                if let Some((id, rev)) = target {
                    let price = rng.random_range(1..1_000_000);
                    let cmd = Command::Update {
                        seq: next_seq(),
                        id,
                        rev,
                        price,
                    };
                    shared.single(replica, OpKind::Update, Some(id), cmd).await;
                }
            }
            80..88 => {
                let doc = shared.docs().pick(&mut rng, false);
                if let Some(id) = doc {
                    let cmd = Command::Touch {
                        seq: next_seq(),
                        id,
                    };
                    shared.single(replica, OpKind::Touch, Some(id), cmd).await;
                }
            }
            88..91 if live > min_live.max(2) => {
                let doc = shared.docs().pick(&mut rng, false);
                if let Some(id) = doc {
                    let cmd = Command::Delete {
                        seq: next_seq(),
                        id,
                    };
                    shared.single(replica, OpKind::Delete, Some(id), cmd).await;
                }
            }
            88..94 => {
                let cmd = Command::Create {
                    seq: next_seq(),
                    price: rng.random_range(1..1000),
                };
                shared.single(replica, OpKind::Create, None, cmd).await;
            }
            _ => {
                // A read right after a write, on another replica: the race the contract is about.
                let target = shared.docs().pick(&mut rng, false);
                if let Some(id) = target {
                    let cmd = Command::Touch {
                        seq: next_seq(),
                        id,
                    };
                    shared.single(replica, OpKind::Touch, Some(id), cmd).await;
                    let other = (replica + rng.random_range(1..n.max(2))) % n;
                    let cmd = Command::Get {
                        seq: next_seq(),
                        id,
                    };
                    shared.single(other, OpKind::Read, Some(id), cmd).await;
                }
            }
        }
        let think = rng.random_range(0..3u64);
        if think > 0 {
            tokio::time::sleep(Duration::from_millis(think)).await;
        }
    }
}

async fn raw(url: &str) -> Result<redis::aio::MultiplexedConnection, String> {
    let client = redis::Client::open(url).map_err(|e| format!("redis url: {e}"))?;
    tokio::time::timeout(
        Duration::from_secs(3),
        client.get_multiplexed_async_connection(),
    )
    .await
    .map_err(|_| "raw redis connect hung".to_owned())?
    .map_err(|e| format!("raw redis connect: {e}"))
}

/// Inject one fault; its window.
async fn fault(
    kind: FaultKind,
    rng: &mut StdRng,
    redis: &Arc<Mutex<EphemeralRedis>>,
    url: &str,
) -> Result<(Instant, Instant), String> {
    let start = Instant::now();
    match kind {
        FaultKind::Pause => {
            let ms = rng.random_range(200..=800u64);
            let mut conn = raw(url).await?;
            let start = Instant::now();
            redis::cmd("CLIENT")
                .arg("PAUSE")
                .arg(ms)
                .arg("ALL")
                .query_async::<()>(&mut conn)
                .await
                .map_err(|e| format!("CLIENT PAUSE: {e}"))?;
            let end = Instant::now() + Duration::from_millis(ms);
            tokio::time::sleep_until(end.into()).await;
            Ok((start, end))
        }
        FaultKind::KillTracking | FaultKind::KillAll => {
            let mut conn = raw(url).await?;
            let start = Instant::now();
            if kind == FaultKind::KillAll {
                redis::cmd("CLIENT")
                    .arg("KILL")
                    .arg("TYPE")
                    .arg("normal")
                    .query_async::<i64>(&mut conn)
                    .await
                    .map_err(|e| format!("CLIENT KILL TYPE normal: {e}"))?;
            } else {
                let list: String = redis::cmd("CLIENT")
                    .arg("LIST")
                    .query_async(&mut conn)
                    .await
                    .map_err(|e| format!("CLIENT LIST: {e}"))?;
                for id in tracking_clients(&list) {
                    let _ = redis::cmd("CLIENT")
                        .arg("KILL")
                        .arg("ID")
                        .arg(id)
                        .query_async::<i64>(&mut conn)
                        .await;
                }
            }
            Ok((start, Instant::now()))
        }
        FaultKind::Restart => {
            let redis = Arc::clone(redis);
            tokio::task::spawn_blocking(move || match redis.lock() {
                Ok(mut r) => r.restart().map_err(|e| format!("redis restart: {e}")),
                Err(_) => Err("redis handle poisoned".to_owned()),
            })
            .await
            .map_err(|e| format!("join restart: {e}"))??;
            Ok((start, Instant::now()))
        }
    }
}

/// The ids of the clients with keys tracking on (`t` among the flags of `CLIENT LIST`).
pub fn tracking_clients(list: &str) -> Vec<u64> {
    list.lines()
        .filter_map(|line| {
            let mut id = None;
            let mut tracking = false;
            for field in line.split_whitespace() {
                if let Some(v) = field.strip_prefix("id=") {
                    id = v.parse().ok();
                } else if let Some(flags) = field.strip_prefix("flags=") {
                    tracking = flags.contains('t');
                }
            }
            id.filter(|_| tracking)
        })
        .collect()
}

/// The chaos task: slow store reads and Redis faults at random moments until `done`.
async fn chaos(
    shared: Arc<Shared>,
    mut rng: StdRng,
    options: RunOptions,
    redis: Arc<Mutex<EphemeralRedis>>,
    url: String,
    done: Arc<AtomicBool>,
) -> Result<(), String> {
    let n = shared.replicas.len();
    while !done.load(Ordering::Relaxed) {
        let wait = rng.random_range(150..900u64);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        if done.load(Ordering::Relaxed) {
            break;
        }
        let roll = rng.random_range(0..100u32);
        if options.slow && (roll < 25 || !options.faults) {
            let replica = rng.random_range(0..n);
            let fraction = [0.0, 0.05, 0.2, 0.5][rng.random_range(0..4usize)];
            let ms = rng.random_range(100..=900u64);
            shared.set_slow(replica, fraction, ms).await;
            continue;
        }
        if !options.faults {
            continue;
        }
        let kind = match roll {
            0..55 => FaultKind::Pause,
            55..75 => FaultKind::KillTracking,
            75..88 => FaultKind::KillAll,
            _ => FaultKind::Restart,
        };
        let (start, end) = fault(kind, &mut rng, &redis, &url).await?;
        let f = Fault {
            kind,
            start: shared.since(start),
            end: shared.since(end),
        };
        if let Ok(mut faults) = shared.faults.lock() {
            faults.push(f);
        }
    }
    Ok(())
}

/// Run one fleet: spawn the replicas, create documents, run the schedule, check the history.
///
/// # Errors
///
/// If a server or a replica could not be started (not for violations: those are in the report).
pub async fn run(options: RunOptions) -> Result<RunOutcome, String> {
    let seed = options.seed;
    let redis = tokio::task::spawn_blocking(EphemeralRedis::start)
        .await
        .map_err(|e| format!("join: {e}"))?
        .map_err(|e| format!("start a private redis-server: {e}"))?;
    let redis_url = redis.url();
    let redis = Arc::new(Mutex::new(redis));

    let schema = forze_testkit::unique_schema(&format!("fleet_{}", options.config.name()));
    let namespace = forze_testkit::unique_namespace(&format!("fleet-{}", options.config.name()));
    let pg = tokio::time::timeout(
        Duration::from_secs(15),
        PostgresClient::connect(
            &options.pg_url,
            PostgresConfig::new()
                .max_connections(1)
                .connect_timeout(Duration::from_secs(5)),
        ),
    )
    .await
    .map_err(|_| "postgres connect hung".to_owned())?
    .map_err(|e| format!("postgres connect: {e}"))?;
    let _guard = SchemaGuard {
        url: options.pg_url.clone(),
        schema: schema.clone(),
    };
    pg.execute(&format!("CREATE SCHEMA \"{schema}\""))
        .await
        .map_err(|e| format!("create schema: {e}"))?;
    let table = PostgresDocumentConfig::table(schema.clone(), options.config.table());
    pg.execute(&create_table_sql(&table, options.config.fields()))
        .await
        .map_err(|e| format!("create table: {e}"))?;
    pg.close().await;

    let mut replicas = Vec::new();
    for i in 0..options.replicas {
        replicas.push(Replica::spawn(&options, i, &redis_url, &schema, &namespace).await?);
    }
    let shared = Arc::new(Shared {
        origin: Instant::now(),
        replicas,
        docs: Mutex::new(DocState::default()),
        ops: Mutex::new(Vec::new()),
        faults: Mutex::new(Vec::new()),
        hangs: AtomicUsize::new(0),
    });

    let mut rng = StdRng::seed_from_u64(seed);
    for i in 0..options.docs {
        let cmd = Command::Create {
            seq: next_seq(),
            price: i32::try_from(i).unwrap_or(0),
        };
        shared
            .single(i % options.replicas, OpKind::Create, None, cmd)
            .await;
    }
    let docs_before = shared.docs().all.len();
    if docs_before == 0 {
        return Err("no document could be created".to_owned());
    }
    if options.slow {
        for r in 0..options.replicas {
            shared.set_slow(r, 0.1, rng.random_range(100..=700)).await;
        }
    }

    let started = Instant::now();
    let done = Arc::new(AtomicBool::new(false));
    let chaos_task = tokio::spawn(chaos(
        Arc::clone(&shared),
        StdRng::seed_from_u64(rng.random()),
        options.clone(),
        Arc::clone(&redis),
        redis_url.clone(),
        Arc::clone(&done),
    ));
    let issued = Arc::new(AtomicUsize::new(0));
    let mut clients = tokio::task::JoinSet::new();
    for _ in 0..options.clients {
        clients.spawn(client(
            Arc::clone(&shared),
            StdRng::seed_from_u64(rng.random()),
            Arc::clone(&issued),
            options.ops,
        ));
    }
    while let Some(joined) = clients.join_next().await {
        joined.map_err(|e| format!("client task: {e}"))?;
    }
    done.store(true, Ordering::Relaxed);
    let chaos_result = chaos_task.await.map_err(|e| format!("chaos task: {e}"))?;
    let elapsed = started.elapsed();

    let mut stats = Vec::new();
    for r in &shared.replicas {
        let (answer, _, _) = r.call(&Command::Stats { seq: next_seq() }).await;
        let mut s = answer
            .and_then(|a| a.stats)
            .unwrap_or(serde_json::Value::Null);
        if let Some(obj) = s.as_object_mut() {
            obj.insert("replica".into(), r.index.into());
        }
        stats.push(s);
    }
    for r in &shared.replicas {
        r.stop().await;
    }
    chaos_result?;

    let history = shared.ops.lock().map(|o| o.clone()).unwrap_or_default();
    let faults = shared.faults.lock().map(|f| f.clone()).unwrap_or_default();
    let report = checker::check(&history, &faults, &options.budgets);
    let docs_created = shared.docs().all.len();
    Ok(RunOutcome {
        options,
        history,
        faults,
        report,
        stats,
        hangs: shared.hangs.load(Ordering::Relaxed),
        docs_created,
        elapsed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracking_clients_are_found_by_their_flag() {
        let list = "id=3 addr=127.0.0.1:1 laddr=x fd=8 name= age=1 idle=0 flags=N db=0\n\
                    id=7 addr=127.0.0.1:2 laddr=x fd=9 name= age=1 idle=0 flags=t db=0\n\
                    id=9 addr=127.0.0.1:3 laddr=x fd=10 name= age=1 idle=0 flags=Pt db=0\n";
        assert_eq!(tracking_clients(list), vec![7, 9]);
    }
}
