//! The stack the integration tests run on: an `ExecutionRuntime` wired like an application
//! (`PostgresDepsModule` + `RedisDepsModule`, the Postgres lifecycle module and the Redis
//! lifecycle step) over real servers, plus raw access to the Redis keys.
//!
//! By default the stack uses the shared test servers (`FORZE_TEST_POSTGRES_URL`,
//! `FORZE_TEST_REDIS_URL`) with a private schema (dropped afterwards) and a private key
//! namespace; tests that kill, pause or count a server pass the URL of a private one.
#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;
use std::time::Duration;

use forze_core::Document;
use forze_core::prelude::*;
use forze_core::testing::{GatedStore, TestDepsModule};
use forze_core::{
    CacheStats, CoordinatorConfig, DepsRegistry, ExecutionContext, ExecutionRuntime, LifecyclePlan,
};
use forze_postgres::{
    PostgresClient, PostgresConfig, PostgresDepsModule, PostgresDocumentBackend,
    PostgresDocumentConfig, PostgresLifecycleModule, create_table_sql,
};
use forze_redis::{
    RedisCache, RedisCacheConfig, RedisClient, RedisConfig, RedisDepsModule, redis_lifecycle_step,
};
use uuid::Uuid;

/// The document every test stores: what a user writes.
#[derive(Document)]
#[document_spec(name = "products", cache(name = "products"))]
pub struct Product {
    pub name: String,
    pub price: i32,
    pub note: Option<String>,
}

/// A generous watchdog for a whole test body: a hang fails the test instead of blocking CI.
pub const WATCHDOG: Duration = Duration::from_secs(90);

/// The loose bound on one read or write while a backend is down (the configured timeouts are a
/// few hundred milliseconds): far above them, only there to catch a hang or a retry storm.
pub const CALL_BOUND: Duration = Duration::from_secs(2);

/// How often [`Stack::warm`] reads before it gives up.
const WARM_ATTEMPTS: usize = 20;

/// Run `fut` under [`WATCHDOG`].
pub async fn watchdog<F: std::future::Future>(fut: F) -> F::Output {
    match tokio::time::timeout(WATCHDOG, fut).await {
        Ok(out) => out,
        Err(_) => panic!("watchdog: the test did not finish within {WATCHDOG:?} (a hang?)"),
    }
}

/// Run one call under [`CALL_BOUND`], naming it if it hangs.
pub async fn bounded<F: std::future::Future>(what: &str, fut: F) -> F::Output {
    match tokio::time::timeout(CALL_BOUND, fut).await {
        Ok(out) => out,
        Err(_) => panic!("{what} took longer than {CALL_BOUND:?}"),
    }
}

/// Timeouts for healthy-server tests: far above any scheduling hiccup of a loaded machine, so
/// a slow but healthy Redis never turns a hit into a miss.
fn relaxed_coordinator() -> CoordinatorConfig {
    CoordinatorConfig::default().cache_timeout(Duration::from_secs(5))
}

fn relaxed_redis() -> RedisConfig {
    RedisConfig::default()
        .with_connect_timeout(Duration::from_secs(5))
        .with_response_timeout(Duration::from_secs(5))
}

/// Timeouts for outage tests: a dead or frozen Redis costs a few hundred milliseconds per call
/// until the breaker opens, and the breaker probes again soon.
pub fn outage_coordinator() -> CoordinatorConfig {
    CoordinatorConfig::default()
        .cache_timeout(Duration::from_millis(300))
        .breaker(3, Duration::from_millis(500))
}

pub fn outage_redis() -> RedisConfig {
    RedisConfig::default()
        .with_connect_timeout(Duration::from_secs(1))
        .with_response_timeout(Duration::from_millis(250))
}

/// How a [`Stack`] is built.
#[derive(Debug, Clone)]
pub struct StackBuilder {
    prefix: String,
    pg_url: Option<String>,
    redis_url: Option<String>,
    pg_config: PostgresConfig,
    redis_config: RedisConfig,
    coordinator: CoordinatorConfig,
    gated: bool,
}

impl StackBuilder {
    /// Use this Postgres (a private server) instead of the shared one.
    pub fn postgres(mut self, url: String) -> Self {
        self.pg_url = Some(url);
        self
    }

    /// Use this Redis (a private server, or a proxy) instead of the shared one.
    pub fn redis(mut self, url: String) -> Self {
        self.redis_url = Some(url);
        self
    }

    pub fn pg_config(mut self, config: PostgresConfig) -> Self {
        self.pg_config = config;
        self
    }

    pub fn redis_config(mut self, config: RedisConfig) -> Self {
        self.redis_config = config;
        self
    }

    pub fn coordinator(mut self, config: CoordinatorConfig) -> Self {
        self.coordinator = config;
        self
    }

    /// Register the Postgres backend wrapped in a [`GatedStore`], to hold reads after they read.
    pub fn gated(mut self) -> Self {
        self.gated = true;
        self
    }

    /// Wire the runtime, start it (pool, Redis connection, scripts), create the schema and table.
    pub async fn start(self) -> Stack {
        let shared_pg = self.pg_url.is_none();
        let pg_url = self.pg_url.unwrap_or_else(forze_testkit::test_postgres_url);
        let redis_url = self.redis_url.unwrap_or_else(forze_testkit::test_redis_url);
        let schema = if shared_pg {
            forze_testkit::unique_schema(&self.prefix)
        } else {
            "public".to_owned()
        };
        let namespace = forze_testkit::unique_namespace(&self.prefix);
        let table = PostgresDocumentConfig::table(schema.clone(), "products");

        let pg = PostgresClient::new();
        let redis = RedisClient::new(self.redis_config).expect("valid redis config");
        let cache_config = RedisCacheConfig::namespace(namespace.clone()).expect("namespace");
        let key_prefix = RedisCache::new(redis.clone(), cache_config.clone())
            .key_prefix()
            .to_owned();

        let mut modules: Vec<Box<dyn DepsModule>> = Vec::new();
        let gate = if self.gated {
            let gate = GatedStore::new(Arc::new(PostgresDocumentBackend::new(
                pg.clone(),
                table.clone(),
            )));
            modules.push(
                TestDepsModule::new("gated-postgres")
                    .document("products", Arc::new(gate.clone()))
                    .boxed(),
            );
            modules.push(PostgresDepsModule::new(pg.clone()).tx("products").boxed());
            Some(gate)
        } else {
            modules.push(
                PostgresDepsModule::new(pg.clone())
                    .rw_document("products", table.clone())
                    .tx("products")
                    .boxed(),
            );
            None
        };
        modules.push(
            RedisDepsModule::new(redis.clone())
                .cache("products", cache_config)
                .boxed(),
        );
        let deps = DepsRegistry::from_modules(modules)
            .freeze()
            .expect("valid registrations");
        let lifecycle =
            LifecyclePlan::from_modules([PostgresLifecycleModule::new(pg.clone(), pg_url.clone())
                .config(self.pg_config)
                .boxed()])
            .with_steps([redis_lifecycle_step(redis.clone(), redis_url.clone())])
            .freeze()
            .expect("valid lifecycle plan");
        let runtime = ExecutionRuntime::new(deps, lifecycle).with_coordinator(self.coordinator);
        watchdog(runtime.startup())
            .await
            .unwrap_or_else(|err| panic!("runtime startup failed: {err} ({err:?})"));

        let stack = Stack {
            runtime,
            pg,
            redis,
            gate,
            schema,
            namespace,
            key_prefix,
            redis_url,
            pg_url,
            drop_schema: shared_pg,
        };
        if shared_pg {
            stack
                .pg
                .execute(&format!("CREATE SCHEMA \"{}\"", stack.schema))
                .await
                .expect("create schema");
        }
        stack
            .pg
            .execute(&create_table_sql(&table, Product::FIELDS))
            .await
            .expect("create table");
        stack
    }
}

/// A started runtime over real Postgres and Redis, and what a test needs to look behind it.
pub struct Stack {
    pub runtime: ExecutionRuntime,
    pub pg: PostgresClient,
    pub redis: RedisClient,
    /// The gate around the Postgres backend, if built [`gated`](StackBuilder::gated).
    pub gate: Option<GatedStore>,
    pub schema: String,
    pub namespace: String,
    /// `fz:<len>:<namespace>:` from `RedisCache::key_prefix`.
    pub key_prefix: String,
    pub redis_url: String,
    pg_url: String,
    drop_schema: bool,
}

/// A stack on the shared servers (override with the builder's methods).
pub fn stack(prefix: &str) -> StackBuilder {
    StackBuilder {
        prefix: prefix.to_owned(),
        pg_url: None,
        redis_url: None,
        pg_config: PostgresConfig::new().max_connections(8),
        redis_config: relaxed_redis(),
        coordinator: relaxed_coordinator(),
        gated: false,
    }
}

impl Stack {
    pub fn ctx(&self) -> ExecutionContext {
        self.runtime.context()
    }

    /// Another replica: a runtime with its own lanes (single-flight, breaker, pending
    /// invalidations) over the same, already connected, clients.
    pub fn replica(&self) -> ExecutionRuntime {
        self.runtime
            .clone()
            .with_coordinator(self.runtime.coordinator().clone())
    }

    pub fn gate(&self) -> &GatedStore {
        self.gate.as_ref().expect("the stack was built gated")
    }

    /// The Redis key of a document, per the layout documented on `RedisCache`.
    pub fn key(&self, id: Uuid) -> String {
        format!("{}{{{id}}}", self.key_prefix)
    }

    pub fn stats(&self) -> CacheStats {
        self.ctx()
            .cache(&PRODUCT_SPEC)
            .expect("a cached spec")
            .stats()
    }

    /// A raw redis-rs connection to the stack's Redis, next to forze's own.
    pub async fn raw(&self) -> redis::aio::MultiplexedConnection {
        raw_connection(&self.redis_url).await
    }

    /// The raw bytes under a document's key (`None`: no key).
    pub async fn raw_bytes(&self, id: Uuid) -> Option<Vec<u8>> {
        let mut conn = self.raw().await;
        bounded(
            "raw GET",
            redis::cmd("GET")
                .arg(self.key(id))
                .query_async::<Option<Vec<u8>>>(&mut conn),
        )
        .await
        .expect("raw GET")
    }

    /// The decoded state of a document's key.
    pub async fn raw_state(&self, id: Uuid) -> Raw {
        Raw::parse(self.raw_bytes(id).await)
    }

    /// The entry `ctx.cache(&PRODUCT_SPEC).get(..)` returns for a document.
    pub async fn cached(&self, id: Uuid) -> Option<forze_core::cache::CacheEntry> {
        bounded(
            "cache handle get",
            self.ctx()
                .cache(&PRODUCT_SPEC)
                .expect("cache handle")
                .get(&id.to_string()),
        )
        .await
        .expect("cache handle get")
    }

    pub async fn create(&self, name: &str, price: i32) -> ProductRead {
        self.ctx()
            .document()
            .command(&PRODUCT_SPEC)
            .expect("command port")
            .create(ProductCreate {
                name: name.to_owned(),
                price,
                note: None,
            })
            .await
            .expect("create")
    }

    pub async fn get(&self, id: Uuid) -> forze_core::Result<ProductRead> {
        self.ctx()
            .document()
            .query(&PRODUCT_SPEC)
            .expect("query port")
            .get(id)
            .await
    }

    /// Read a document through the ports until the read filled the cache with it (a fill that
    /// missed a tight cache timeout on a loaded machine is simply retried; every read must be
    /// correct).
    pub async fn warm(&self, doc: &ProductRead) {
        for _ in 0..WARM_ATTEMPTS {
            let got = self.get(doc.id).await.expect("warm get");
            assert_same(&got, doc, "warm read");
            if self.raw_state(doc.id).await.rev_of_value() == Some(doc.rev) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "{WARM_ATTEMPTS} reads of {} did not fill the cache: {:?}",
            doc.id,
            self.stats()
        );
    }

    /// Shut the runtime down (pool and Redis connection closed).
    pub async fn shutdown(&self) {
        watchdog(self.runtime.shutdown()).await;
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        if !self.drop_schema {
            return;
        }
        // also after a panic
        forze_postgres::testing::drop_schema_blocking(&self.pg_url, &self.schema);
    }
}

pub async fn raw_connection(url: &str) -> redis::aio::MultiplexedConnection {
    let client = redis::Client::open(url).expect("valid redis url");
    bounded(
        "raw redis connect",
        client.get_multiplexed_async_connection(),
    )
    .await
    .expect("raw redis connection")
}

/// What a document's Redis key holds, decoded per the documented value layout: a value is
/// `<payload>v<16 hex digits>`, a tombstone `t<16 hex digits>`, the digits being the rev with its
/// sign bit flipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Raw {
    Nothing,
    Value {
        rev: i64,
        payload: Vec<u8>,
    },
    Tombstone(i64),
    /// Bytes forze did not write.
    Other(Vec<u8>),
}

impl Raw {
    pub fn parse(bytes: Option<Vec<u8>>) -> Raw {
        let Some(bytes) = bytes else {
            return Raw::Nothing;
        };
        let n = bytes.len();
        if n < 17 {
            return Raw::Other(bytes);
        }
        let rev = std::str::from_utf8(&bytes[n - 16..])
            .ok()
            .filter(|hex| hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
            .and_then(|hex| u64::from_str_radix(hex, 16).ok())
            .map(|biased| (biased ^ (1 << 63)) as i64);
        match (rev, bytes[n - 17]) {
            (Some(rev), b'v') => Raw::Value {
                rev,
                payload: bytes[..n - 17].to_vec(),
            },
            (Some(rev), b't') if n == 17 => Raw::Tombstone(rev),
            _ => Raw::Other(bytes),
        }
    }

    /// The rev of a value (not of a tombstone).
    pub fn rev_of_value(&self) -> Option<i64> {
        match self {
            Raw::Value { rev, .. } => Some(*rev),
            _ => None,
        }
    }

    /// The decoded read model of a value.
    pub fn read(&self) -> Option<ProductRead> {
        match self {
            Raw::Value { payload, .. } => Some(
                serde_json::from_slice(payload).expect("a cached value decodes as ProductRead"),
            ),
            _ => None,
        }
    }
}

/// The rev as the 16 hex digits of the value layout.
pub fn rev_hex(rev: i64) -> String {
    format!("{:016x}", (rev as u64) ^ (1 << 63))
}

/// `a` and `b` are the same document at the same rev with the same fields and timestamps.
#[track_caller]
pub fn assert_same(a: &ProductRead, b: &ProductRead, what: &str) {
    assert_eq!(
        serde_json::to_value(a).expect("encode"),
        serde_json::to_value(b).expect("encode"),
        "{what}"
    );
}

/// A patch setting the price.
pub fn price(p: i32) -> ProductUpdate {
    ProductUpdate {
        price: Some(p),
        ..ProductUpdate::default()
    }
}

/// Start a private Redis (off the async worker threads).
pub async fn private_redis() -> forze_testkit::EphemeralRedis {
    tokio::task::spawn_blocking(forze_testkit::EphemeralRedis::start)
        .await
        .expect("join")
        .expect("start a private redis-server")
}

/// Start a private Postgres (off the async worker threads).
pub async fn private_postgres() -> forze_testkit::EphemeralPostgres {
    tokio::task::spawn_blocking(forze_testkit::EphemeralPostgres::start)
        .await
        .expect("join")
        .expect("start a private postgres")
}

/// Send a signal to a process with the `kill` utility (`-STOP`, `-CONT`).
pub fn signal(pid: u32, sig: &str) {
    let status = std::process::Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill {sig} {pid} failed");
}

/// Sends SIGCONT on drop, so a failing test never leaves a stopped server behind.
pub struct Resume(pub u32);

impl Drop for Resume {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-CONT", &self.0.to_string()])
            .status();
    }
}
