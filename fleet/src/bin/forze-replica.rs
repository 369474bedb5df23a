//! One replica of the fleet: one process, one `ExecutionRuntime` with its own `PostgresClient`
//! and `RedisClient`, one cached document type chosen by `--config plain|l1|push`.
//!
//! ```text
//! forze-replica --config push --pg-url postgres://… --redis-url redis://… \
//!               --schema ft_fleet_… --namespace forze-test:fleet:… [--seed N]
//! ```
//!
//! (each flag also reads `FORZE_REPLICA_<FLAG>` from the environment). Reads JSON-lines
//! commands on stdin (`forze_fleet::protocol::Command`), runs them concurrently, writes one
//! JSON line per completion (`Answer`). The first line is `{"seq":0,"ready":true}`. Exits when
//! stdin closes.

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use forze_core::prelude::*;
use forze_core::{
    CacheStats, CoordinatorConfig, DepsRegistry, ErrorKind, ExecutionContext, ExecutionRuntime,
    LifecyclePlan,
};
use forze_fleet::docs::{FleetConfig, FleetDoc, FleetL1, FleetPlain, FleetPush};
use forze_fleet::protocol::{Answer, Command, DocRev};
use forze_fleet::slow::{DocumentModule, SlowBackend, SlowKnob};
use forze_postgres::{
    PostgresClient, PostgresConfig, PostgresDepsModule, PostgresDocumentBackend,
    PostgresDocumentConfig, PostgresLifecycleModule,
};
use forze_redis::{
    RedisCacheConfig, RedisClient, RedisConfig, RedisDepsModule, redis_lifecycle_step,
};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

/// How long in-flight commands may run after stdin closed.
const DRAIN: Duration = Duration::from_secs(10);

struct Args {
    config: FleetConfig,
    pg_url: String,
    redis_url: String,
    schema: String,
    namespace: String,
    seed: u64,
}

fn parse_args() -> Result<Args, String> {
    let mut flags: HashMap<String, String> = HashMap::new();
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let Some(name) = flag.strip_prefix("--") else {
            return Err(format!("unexpected argument `{flag}`"));
        };
        let value = it.next().ok_or_else(|| format!("`{flag}` needs a value"))?;
        flags.insert(name.to_owned(), value);
    }
    let get = |name: &str| -> Option<String> {
        flags.get(name).cloned().or_else(|| {
            let var = format!("FORZE_REPLICA_{}", name.replace('-', "_").to_uppercase());
            std::env::var(var).ok().filter(|v| !v.is_empty())
        })
    };
    let need = |name: &str| get(name).ok_or_else(|| format!("missing --{name}"));
    let config_name = need("config")?;
    Ok(Args {
        config: FleetConfig::parse(&config_name)
            .ok_or_else(|| format!("unknown --config `{config_name}` (plain, l1, push)"))?,
        pg_url: need("pg-url")?,
        redis_url: need("redis-url")?,
        schema: need("schema")?,
        namespace: need("namespace")?,
        seed: get("seed")
            .map(|s| s.parse().map_err(|_| format!("bad --seed `{s}`")))
            .transpose()?
            .unwrap_or(0),
    })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(msg) => {
            eprintln!("forze-replica: {msg}");
            return ExitCode::from(2);
        }
    };
    let result = match args.config {
        FleetConfig::Plain => serve::<FleetPlain>(&args).await,
        FleetConfig::L1 => serve::<FleetL1>(&args).await,
        FleetConfig::Push => serve::<FleetPush>(&args).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("forze-replica: {msg}");
            ExitCode::FAILURE
        }
    }
}

/// The runtime of one replica: its own clients, the Postgres store behind the slow wrapper.
fn build(args: &Args, knob: Arc<SlowKnob>) -> Result<ExecutionRuntime, String> {
    let name = args.config.table();
    let pg = PostgresClient::new();
    let redis = RedisClient::new(
        RedisConfig::default()
            .with_connect_timeout(Duration::from_secs(1))
            .with_response_timeout(Duration::from_millis(250)),
    )
    .map_err(|e| format!("redis config: {e}"))?;
    let mut cache = RedisCacheConfig::namespace(args.namespace.clone())
        .map_err(|e| format!("namespace: {e}"))?;
    if args.config == FleetConfig::Push {
        cache = cache.invalidation_push(true);
    }
    let table = PostgresDocumentConfig::table(args.schema.clone(), name);
    let store = SlowBackend::new(
        Arc::new(PostgresDocumentBackend::new(pg.clone(), table)),
        knob,
    );
    let deps = DepsRegistry::from_modules([
        DocumentModule::new(name, Arc::new(store)).boxed(),
        PostgresDepsModule::new(pg.clone()).tx(name).boxed(),
        RedisDepsModule::new(redis.clone())
            .cache(name, cache)
            .boxed(),
    ])
    .freeze()
    .map_err(|e| format!("registrations: {e}"))?;
    let lifecycle =
        LifecyclePlan::from_modules([PostgresLifecycleModule::new(pg, args.pg_url.clone())
            .config(PostgresConfig::new().max_connections(8))
            .boxed()])
        .with_steps([redis_lifecycle_step(redis, args.redis_url.clone())])
        .freeze()
        .map_err(|e| format!("lifecycle: {e}"))?;
    // Outage tuning as in the project's outage tests: a dead or frozen Redis costs a few hundred
    // milliseconds per call until the breaker opens, and the breaker probes again soon.
    let coordinator = CoordinatorConfig::default()
        .cache_timeout(Duration::from_millis(300))
        .breaker(3, Duration::from_millis(500));
    Ok(ExecutionRuntime::new(deps, lifecycle).with_coordinator(coordinator))
}

async fn serve<D: FleetDoc>(args: &Args) -> Result<(), String> {
    let knob = SlowKnob::new(args.seed);
    let runtime = build(args, Arc::clone(&knob))?;
    tokio::time::timeout(Duration::from_secs(30), runtime.startup())
        .await
        .map_err(|_| "runtime startup hung".to_owned())?
        .map_err(|e| format!("runtime startup: {e}"))?;

    let (tx, mut rx) = mpsc::unbounded_channel::<Answer>();
    let writer = tokio::spawn(async move {
        let mut out = tokio::io::stdout();
        while let Some(answer) = rx.recv().await {
            let Ok(mut line) = serde_json::to_vec(&answer) else {
                continue;
            };
            line.push(b'\n');
            if out.write_all(&line).await.is_err() || out.flush().await.is_err() {
                break;
            }
        }
    });
    let _ = tx.send(Answer {
        ready: true,
        ..Answer::default()
    });

    let ctx = runtime.context();
    let mut tasks = tokio::task::JoinSet::new();
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if line.trim().is_empty() {
            continue;
        }
        let cmd: Command = match serde_json::from_str(&line) {
            Ok(cmd) => cmd,
            Err(e) => {
                let _ = tx.send(Answer {
                    error: Some("bad command".to_owned()),
                    message: Some(format!("{e}: {line}")),
                    ..Answer::default()
                });
                continue;
            }
        };
        let (ctx, tx, knob) = (ctx.clone(), tx.clone(), Arc::clone(&knob));
        tasks.spawn(async move {
            let answer = execute::<D>(&ctx, &knob, cmd).await;
            let _ = tx.send(answer);
        });
        while tasks.try_join_next().is_some() {}
    }
    let _ = tokio::time::timeout(DRAIN, async { while tasks.join_next().await.is_some() {} }).await;
    drop(tx);
    let _ = writer.await;
    let _ = tokio::time::timeout(Duration::from_secs(5), runtime.shutdown()).await;
    Ok(())
}

fn failed(seq: u64, err: &forze_core::Error) -> Answer {
    Answer {
        seq,
        not_found: err.kind() == ErrorKind::NotFound,
        error: (err.kind() != ErrorKind::NotFound).then(|| err.kind().as_str().to_owned()),
        message: Some(err.to_string()),
        unknown: err.outcome_unknown(),
        ..Answer::default()
    }
}

fn read<D: FleetDoc>(seq: u64, result: forze_core::Result<D::Read>) -> Answer {
    match result {
        Ok(read) => {
            let meta = D::meta(&read);
            Answer {
                seq,
                id: Some(meta.id),
                rev: Some(meta.rev),
                ..Answer::default()
            }
        }
        Err(err) => failed(seq, &err),
    }
}

async fn execute<D: FleetDoc>(ctx: &ExecutionContext, knob: &SlowKnob, cmd: Command) -> Answer {
    let seq = cmd.seq();
    let spec = D::spec();
    let docs = || ctx.document().command(spec);
    let query = || ctx.document().query(spec);
    match cmd {
        Command::Create { price, .. } => match docs() {
            Ok(docs) => read::<D>(seq, docs.create(D::create(price)).await),
            Err(err) => failed(seq, &err),
        },
        Command::Get { id, .. } => match query() {
            Ok(query) => read::<D>(seq, query.get(id).await),
            Err(err) => failed(seq, &err),
        },
        Command::GetMany { ids, .. } => match query() {
            Ok(query) => match query.get_many(&ids).await {
                Ok(reads) => Answer {
                    seq,
                    docs: Some(
                        reads
                            .iter()
                            .map(|r| {
                                let meta = D::meta(r);
                                DocRev {
                                    id: meta.id,
                                    rev: meta.rev,
                                }
                            })
                            .collect(),
                    ),
                    ..Answer::default()
                },
                Err(err) if err.kind() == ErrorKind::NotFound => {
                    let message = err.to_string();
                    Answer {
                        seq,
                        missing: Some(
                            ids.iter()
                                .filter(|id| message.contains(&id.to_string()))
                                .copied()
                                .collect(),
                        ),
                        message: Some(message),
                        ..Answer::default()
                    }
                }
                Err(err) => failed(seq, &err),
            },
            Err(err) => failed(seq, &err),
        },
        Command::Update { id, rev, price, .. } => match docs() {
            Ok(docs) => read::<D>(seq, docs.update(id, rev, D::set_price(price)).await),
            Err(err) => failed(seq, &err),
        },
        Command::Touch { id, .. } => match docs() {
            Ok(docs) => read::<D>(seq, docs.touch(id).await),
            Err(err) => failed(seq, &err),
        },
        Command::Delete { id, .. } => match docs() {
            Ok(docs) => match docs.delete(id).await {
                Ok(()) => Answer {
                    seq,
                    id: Some(id),
                    deleted: true,
                    ..Answer::default()
                },
                Err(err) => failed(seq, &err),
            },
            Err(err) => failed(seq, &err),
        },
        Command::Slow { fraction, ms, .. } => {
            knob.set(fraction, Duration::from_millis(ms));
            Answer {
                seq,
                ..Answer::default()
            }
        }
        Command::Stats { .. } => match ctx.cache(spec) {
            Ok(cache) => Answer {
                seq,
                stats: Some(stats_json(&cache.stats(), knob)),
                ..Answer::default()
            },
            Err(err) => failed(seq, &err),
        },
    }
}

fn stats_json(s: &CacheStats, knob: &SlowKnob) -> serde_json::Value {
    let mut v = serde_json::json!({
        "hits": s.hits,
        "misses": s.misses,
        "decode_errors": s.decode_errors,
        "fills": s.fills,
        "fills_rejected": s.fills_rejected,
        "fills_skipped": s.fills_skipped,
        "store_reads": s.store_reads,
        "fetches": s.fetches,
        "coalesced": s.coalesced,
        "stale_joins": s.stale_joins,
        "held": s.held,
        "probes": s.probes,
        "cache_errors": s.cache_errors,
        "breaker_rejections": s.breaker_rejections,
        "invalidations": s.invalidations,
        "invalidation_failures": s.invalidation_failures,
        "pending_invalidations": s.pending_invalidations,
        "flushes": s.flushes,
        "store_gets": knob.reads(),
        "store_reads_slowed": knob.slowed(),
        "debug": format!("{s:?}"),
    });
    if let (Some(l1), Some(obj)) = (&s.l1, v.as_object_mut()) {
        obj.insert("l1_hits".into(), l1.hits.into());
        obj.insert("l1_misses".into(), l1.misses.into());
        obj.insert("l1_invalidations".into(), l1.invalidations.into());
    }
    if let (Some(push), Some(obj)) = (&s.push, v.as_object_mut()) {
        obj.insert("push_received".into(), push.received.into());
        obj.insert("push_resets".into(), push.resets.into());
    }
    v
}
