//! Push invalidation through the coordinator on a real Redis: two runtimes in this process act
//! as replicas A and B (each with its own `RedisClient`, so its own tracking connection), over
//! one in-memory document store and one Redis namespace with `invalidation_push(true)`, and a
//! spec with `l1(ttl = 60s)`, so only a push can make B see A's write before a minute.
//!
//! Tests on the shared server (`FORZE_TEST_REDIS_URL`) use unique namespaces; killing the
//! tracking connection, `FLUSHDB` and a server refusing tracking use private servers.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{PrivateRedis, RedisOptions, WATCHDOG, redis_url, unique_namespace};
use forze_core::cache::PushSupport;
use forze_core::clock::MockClock;
use forze_core::l1::L1Stats;
use forze_core::memory::MemoryDocumentStore;
use forze_core::prelude::*;
use forze_core::testing::{
    Product, ProductCreate, ProductRead, ProductUpdate, TestDepsModule, watchdog,
};
use forze_core::{
    CacheSpec, CacheStats, DepsRegistry, DocumentSpec, ExecutionContext, ExecutionRuntime,
    L1PushStats, L1Spec, LifecyclePlan, Tenancy,
};
use forze_redis::{RedisCache, RedisCacheConfig, RedisClient, RedisConfig};
use uuid::Uuid;

const L1_TTL: Duration = Duration::from_secs(60);
/// How soon after a write returned on A its value must be read on B (a push takes about a
/// round trip, tens of microseconds on loopback; the bound leaves room for a busy machine).
const FRESH_WITHIN: Duration = Duration::from_millis(100);

fn spec_with(sliding: Option<Duration>) -> DocumentSpec<Product> {
    let mut cache = CacheSpec::builder("products").l1(L1Spec::new(L1_TTL).expect("valid l1"));
    if let Some(window) = sliding {
        cache = cache.sliding_ttl(window);
    }
    DocumentSpec::<Product>::new("products")
        .expect("valid name")
        .with_cache(cache.build().expect("valid cache spec"))
}

fn spec() -> DocumentSpec<Product> {
    spec_with(None)
}

/// One replica: a runtime with its own Redis client.
struct Replica {
    ctx: ExecutionContext,
    client: RedisClient,
}

impl Replica {
    fn stats(&self, spec: &DocumentSpec<Product>) -> CacheStats {
        self.ctx.cache(spec).expect("cached spec").stats()
    }

    fn push(&self, spec: &DocumentSpec<Product>) -> L1PushStats {
        self.stats(spec).push.expect("the spec has an L1")
    }

    fn l1(&self, spec: &DocumentSpec<Product>) -> L1Stats {
        self.stats(spec).l1.expect("the spec has an L1")
    }

    /// Read `doc` (by its id) now.
    async fn get(&self, spec: &DocumentSpec<Product>, doc: &ProductRead) -> ProductRead {
        self.ctx
            .document()
            .query(spec)
            .expect("query port")
            .get(doc.id)
            .await
            .expect("get")
    }

    async fn create(&self, spec: &DocumentSpec<Product>, price: i32) -> ProductRead {
        self.ctx
            .document()
            .command(spec)
            .expect("command port")
            .create(ProductCreate::new("Widget", price))
            .await
            .expect("create")
    }

    async fn update(&self, spec: &DocumentSpec<Product>, doc: &ProductRead) -> ProductRead {
        let change = ProductUpdate {
            price: Some(doc.price + 1),
            ..ProductUpdate::default()
        };
        self.ctx
            .document()
            .command(spec)
            .expect("command port")
            .update(doc.id, doc.rev, change)
            .await
            .expect("update")
    }

    /// Read `id` and assert it was an L1 hit returning `expected`.
    async fn assert_l1_hit(&self, spec: &DocumentSpec<Product>, expected: &ProductRead) {
        let (l1_hits, l2_reads) = (self.l1(spec).hits, self.l2_reads(spec));
        assert_eq!(&self.get(spec, expected).await, expected);
        assert_eq!(self.l1(spec).hits, l1_hits + 1, "an L1 hit");
        assert_eq!(self.l2_reads(spec), l2_reads, "no shared-cache read");
    }

    fn l2_reads(&self, spec: &DocumentSpec<Product>) -> u64 {
        let stats = self.stats(spec);
        stats.hits + stats.misses
    }
}

/// Replicas over one store and one namespace.
struct Replicas {
    url: String,
    namespace: String,
    store: MemoryDocumentStore,
    clock: Option<MockClock>,
    /// The tenant every replica's context is bound to when a spec is tenant-scoped.
    tenant: Uuid,
}

impl Replicas {
    fn new(url: String, test: &str) -> Self {
        Replicas {
            url,
            namespace: unique_namespace(test),
            store: MemoryDocumentStore::new(),
            clock: None,
            tenant: Uuid::now_v7(),
        }
    }

    /// A replica with push on, its lanes of `specs` built (so subscribed).
    ///
    /// Wired like a service: the cache is registered before the client connects (so
    /// `connect` probes whether the server accepts push invalidation).
    async fn replica(&self, specs: &[&DocumentSpec<Product>]) -> Replica {
        let client = RedisClient::new(RedisConfig::default()).expect("valid config");
        let cache = RedisCache::new(
            client.clone(),
            RedisCacheConfig::namespace(self.namespace.clone())
                .expect("valid namespace")
                .invalidation_push(true),
        );
        tokio::time::timeout(WATCHDOG, client.connect(&self.url))
            .await
            .expect("connect hung")
            .expect("connect");
        let module = TestDepsModule::new("push-replica")
            .document("products", Arc::new(self.store.clone()))
            .document("orders", Arc::new(self.store.clone()))
            .cache("products", Arc::new(cache));
        let deps = DepsRegistry::from_modules([module.boxed()])
            .freeze()
            .expect("valid registrations");
        let mut runtime =
            ExecutionRuntime::new(deps, LifecyclePlan::new().freeze().expect("empty plan"));
        if let Some(clock) = &self.clock {
            runtime = runtime.with_clock(Arc::new(clock.clone()));
        }
        let ctx = runtime.context();
        let ctx = if specs.iter().any(|s| s.tenancy.is_scoped()) {
            ctx.with_tenant(self.tenant)
        } else {
            ctx
        };
        for spec in specs {
            ctx.cache(spec).expect("lane");
        }
        Replica { ctx, client }
    }

    /// A replica whose tracking is armed (the arming reset reached its lane).
    async fn armed(&self, spec: &DocumentSpec<Product>) -> Replica {
        let replica = self.replica(&[spec]).await;
        until("tracking armed", || {
            replica.push(spec).resets >= 1 && replica.client.push_stats().stream_up
        })
        .await;
        assert_eq!(replica.push(spec).support, PushSupport::Active);
        replica
    }
}

/// Poll `cond` every millisecond (the test runs under a watchdog).
async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Read `doc` on `reader` until it has `doc.rev`; fail if that takes longer than
/// [`FRESH_WITHIN`] after `written` (when the write returned). Returns how long it took.
async fn fresh_within(
    reader: &Replica,
    spec: &DocumentSpec<Product>,
    doc: &ProductRead,
    written: Instant,
) -> Duration {
    loop {
        let read = reader.get(spec, doc).await;
        let elapsed = written.elapsed();
        if read.rev == doc.rev {
            assert_eq!(&read, doc);
            return elapsed;
        }
        assert!(
            elapsed <= FRESH_WITHIN,
            "B still read rev {} {elapsed:?} after A's write of rev {} returned; push stats {:?}",
            read.rev,
            doc.rev,
            reader.push(spec)
        );
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
}

/// B holds `doc` in its L1: read it (which may fill), then read again for an L1 hit.
async fn hold(b: &Replica, spec: &DocumentSpec<Product>, doc: &ProductRead) {
    assert_eq!(&b.get(spec, doc).await, doc);
    until("B's echo of its own fill settled", || {
        b.push(spec).pending_echoes == 0
    })
    .await;
    // The echo check (if any) runs in the background: wait until the entry survived it.
    until("the entry kept in B's L1", || b.l1(spec).size >= 1).await;
    b.assert_l1_hit(spec, doc).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_on_a_is_read_on_b_within_100ms() {
    watchdog(async {
        let spec = spec();
        let r = Replicas::new(redis_url(), "push-fresh");
        let (a, b) = (r.armed(&spec).await, r.armed(&spec).await);
        let mut doc = a.create(&spec, 10).await;
        let mut took = Vec::new();
        for _ in 0..5 {
            hold(&b, &spec, &doc).await;
            doc = a.update(&spec, &doc).await;
            let written = Instant::now();
            took.push(fresh_within(&b, &spec, &doc, written).await);
        }
        println!("B read A's write after {took:?}");
        let stats = b.push(&spec);
        assert!(stats.dropped >= 5, "dropped by pushes: {stats:?}");
        assert_eq!(stats.support, PushSupport::Active);
        a.client.close();
        b.client.close();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_bound_contexts_get_pushes_too() {
    watchdog(async {
        let spec = spec().with_tenancy(Tenancy::Column);
        let r = Replicas::new(redis_url(), "push-tenant");
        // both replicas' contexts are bound to `r.tenant`
        let (a, b) = (r.armed(&spec).await, r.armed(&spec).await);
        assert_eq!(a.ctx.tenant(), Some(r.tenant));
        let doc = a.create(&spec, 10).await;
        hold(&b, &spec, &doc).await;
        let doc = a.update(&spec, &doc).await;
        let written = Instant::now();
        fresh_within(&b, &spec, &doc, written).await;
        a.client.close();
        b.client.close();
    })
    .await;
}

/// The lines of `CLIENT LIST` of the tracking connections.
fn tracking_ids(admin: &mut redis::Connection) -> Vec<String> {
    let list: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query(admin)
        .expect("CLIENT LIST");
    list.lines()
        .filter(|line| line.contains("name=forze-tracking"))
        .filter_map(|line| {
            line.split(' ')
                .find_map(|kv| kv.strip_prefix("id="))
                .map(str::to_owned)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_b_tracking_connection_flushes_b_then_pushes_come_back() {
    watchdog(async {
        let server = PrivateRedis::start();
        let mut admin = server.admin();
        let spec = spec();
        let r = Replicas::new(server.url(), "push-kill");
        // B first: its tracking connection is the only one at first.
        let b = r.armed(&spec).await;
        let ids = tracking_ids(&mut admin);
        assert_eq!(ids.len(), 1, "{ids:?}");
        let b_tracking = ids[0].clone();
        let a = r.armed(&spec).await;
        assert_eq!(tracking_ids(&mut admin).len(), 2);

        let doc = a.create(&spec, 10).await;
        hold(&b, &spec, &doc).await;
        let (resets, reconnects) = (b.push(&spec).resets, b.client.push_stats().reconnects);
        let killed: i64 = redis::cmd("CLIENT")
            .arg("KILL")
            .arg("ID")
            .arg(&b_tracking)
            .query(&mut admin)
            .expect("CLIENT KILL");
        assert_eq!(killed, 1);

        until("B's L1 flushed", || {
            b.push(&spec).resets > resets && b.l1(&spec).size == 0
        })
        .await;
        until("B's tracking back", || {
            let stats = b.client.push_stats();
            stats.reconnects > reconnects && stats.stream_up
        })
        .await;
        // lost, then re-armed: two resets
        until("B re-armed", || b.push(&spec).resets >= resets + 2).await;
        let ids = tracking_ids(&mut admin);
        assert_eq!(ids.len(), 2, "{ids:?}");
        assert!(!ids.contains(&b_tracking), "{ids:?}");

        hold(&b, &spec, &doc).await;
        let doc = a.update(&spec, &doc).await;
        let written = Instant::now();
        fresh_within(&b, &spec, &doc, written).await;
        a.client.close();
        b.client.close();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flushdb_clears_every_l1() {
    watchdog(async {
        let server = PrivateRedis::start();
        let spec = spec();
        let r = Replicas::new(server.url(), "push-flush");
        let (a, b) = (r.armed(&spec).await, r.armed(&spec).await);
        let mut docs = Vec::new();
        for i in 0..3 {
            docs.push(a.create(&spec, i).await);
        }
        for doc in &docs {
            hold(&a, &spec, doc).await;
            hold(&b, &spec, doc).await;
        }
        assert_eq!((a.l1(&spec).size, b.l1(&spec).size), (3, 3));
        let resets = (a.push(&spec).resets, b.push(&spec).resets);

        let _: () = redis::cmd("FLUSHDB")
            .query(&mut server.admin())
            .expect("FLUSHDB");
        until("every L1 cleared", || {
            a.push(&spec).resets > resets.0
                && b.push(&spec).resets > resets.1
                && a.l1(&spec).size == 0
                && b.l1(&spec).size == 0
        })
        .await;
        assert!(b.client.push_stats().stream_up, "a flush keeps the stream");
        // Reads still work and refill.
        assert_eq!(b.get(&spec, &docs[0]).await, docs[0]);
        a.client.close();
        b.client.close();
    })
    .await;
}

/// Counts `info`-or-worse events and keeps their text (a minimal `tracing` subscriber).
mod capture {
    use std::sync::{Arc, Mutex};

    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event, Level, Metadata, Subscriber};

    #[derive(Clone, Default)]
    pub struct Lines(pub Arc<Mutex<Vec<String>>>);

    impl Lines {
        pub fn containing(&self, text: &str) -> Vec<String> {
            self.0
                .lock()
                .expect("log")
                .iter()
                .filter(|l| l.contains(text))
                .cloned()
                .collect()
        }
    }

    struct Text(String);

    impl Visit for Text {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            self.0.push_str(&format!("{}={value:?} ", field.name()));
        }
    }

    impl Subscriber for Lines {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &Attributes<'_>) -> Id {
            Id::from_u64(1)
        }
        fn record(&self, _: &Id, _: &Record<'_>) {}
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, event: &Event<'_>) {
            if *event.metadata().level() <= Level::INFO {
                let mut text = Text(String::new());
                event.record(&mut text);
                self.0.lock().expect("log").push(text.0);
            }
        }
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }
}

// Current-thread runtime: everything runs on this thread, under the capturing subscriber.
#[tokio::test]
async fn a_server_refusing_tracking_leaves_the_l1_ttl_only_logged_once_and_reads_correct() {
    let lines = capture::Lines::default();
    let _guard = tracing::subscriber::set_default(lines.clone());
    watchdog(async {
        let server =
            PrivateRedis::start_with(RedisOptions::new().config_line(r#"rename-command HELLO """#));
        let products = spec();
        let orders = DocumentSpec::<Product>::new("orders")
            .expect("valid name")
            .with_cache(products.cache.clone().expect("cached"));
        let mut r = Replicas::new(server.url(), "push-refused");
        let clock = MockClock::new();
        r.clock = Some(clock.clone());
        // A with two specs on the one cache; B with one.
        let a = r.replica(&[&products, &orders]).await;
        let b = r.replica(&[&products]).await;
        let logged = lines.containing("does not push invalidations");
        assert_eq!(
            logged.len(),
            2,
            "one line per runtime and cache: {logged:?}"
        );
        assert!(logged.iter().all(|l| l.contains("TTL-only")), "{logged:?}");
        for replica in [&a, &b] {
            assert_eq!(replica.push(&products).support, PushSupport::Unsupported);
            assert_eq!(replica.client.push_stats().refusals, 1);
        }
        assert_eq!(a.push(&orders).support, PushSupport::Unsupported);

        // Reads stay correct: A reads its own writes at once, B within l1(ttl).
        let doc = a.create(&products, 10).await;
        assert_eq!(b.get(&products, &doc).await, doc);
        let v2 = a.update(&products, &doc).await;
        assert_eq!(a.get(&products, &doc).await, v2, "read-your-writes");
        assert_eq!(a.push(&products).pending_echoes, 0, "no echo expected");
        assert_eq!(b.get(&products, &doc).await, doc, "B within its L1 budget");
        clock.advance(L1_TTL);
        assert_eq!(b.get(&products, &doc).await, v2, "B after l1(ttl)");
        assert_eq!(
            lines.containing("does not push invalidations").len(),
            2,
            "logged once, not per read"
        );
        a.client.close();
        b.client.close();
    })
    .await;
}

/// L1 hit ratios of two replicas alternating reads of the same 20 documents, 200 reads.
///
/// Each step waits until every push the step caused was delivered to both replicas (and own
/// echoes were checked), so the ratios are exact: with sliding hits that pushed (the original
/// framework's `EXPIRE`), every hit on one replica would drop the entry from the other.
async fn alternating_hit_ratios(sliding: Option<Duration>) -> (f64, f64) {
    let spec = spec_with(sliding);
    let r = Replicas::new(redis_url(), "push-sliding");
    let (a, b) = (r.armed(&spec).await, r.armed(&spec).await);
    let mut docs = Vec::new();
    for i in 0..20 {
        docs.push(a.create(&spec, i).await);
    }
    // Every change of a data key (20 create tombstones, then one per fill) reaches both
    // clients' one sink; nothing else may.
    let settle = |what: &'static str| {
        let fills = a.stats(&spec).fills + b.stats(&spec).fills;
        let changes = 20 + fills;
        let (a, b, spec) = (&a, &b, &spec);
        async move {
            until(what, || {
                a.client.push_stats().keys_delivered >= changes
                    && b.client.push_stats().keys_delivered >= changes
                    && a.push(spec).pending_echoes == 0
                    && b.push(spec).pending_echoes == 0
                    && a.push(spec).echo_checks >= a.stats(spec).fills
                    && b.push(spec).echo_checks >= b.stats(spec).fills
            })
            .await;
            // Nothing more than that.
            tokio::time::sleep(Duration::from_millis(5)).await;
            assert_eq!(a.client.push_stats().keys_delivered, changes, "{what}: A");
            assert_eq!(b.client.push_stats().keys_delivered, changes, "{what}: B");
        }
    };
    settle("the creates").await;
    let (a0, b0) = (a.l1(&spec), b.l1(&spec));
    for i in 0..200 {
        let reader = if i % 2 == 0 { &a } else { &b };
        let doc = &docs[(i / 2) % 20];
        assert_eq!(&reader.get(&spec, doc).await, doc);
        settle("a read").await;
    }
    let ratio = |before: L1Stats, after: L1Stats| {
        let hits = after.hits - before.hits;
        let misses = after.misses - before.misses;
        hits as f64 / (hits + misses) as f64
    };
    let ratios = (ratio(a0, a.l1(&spec)), ratio(b0, b.l1(&spec)));
    a.client.close();
    b.client.close();
    ratios
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sliding_hits_push_nothing_so_both_l1_hit_ratios_hold() {
    watchdog(async {
        let plain = alternating_hit_ratios(None).await;
        let sliding = alternating_hit_ratios(Some(Duration::from_secs(120))).await;
        println!("L1 hit ratios (A, B): without sliding {plain:?}, with sliding {sliding:?}");
        assert!(
            (plain.0 - sliding.0).abs() <= 0.05,
            "A: {plain:?} vs {sliding:?}"
        );
        assert!(
            (plain.1 - sliding.1).abs() <= 0.05,
            "B: {plain:?} vs {sliding:?}"
        );
        // 5 reads of each document per replica, the first a miss
        assert!(plain.0 >= 0.79 && plain.1 >= 0.79, "{plain:?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_own_write_echo_does_not_evict_the_writers_fresher_entry() {
    watchdog(async {
        let spec = spec();
        let r = Replicas::new(redis_url(), "push-echo");
        let a = r.armed(&spec).await;
        let mut doc = a.create(&spec, 10).await;
        hold(&a, &spec, &doc).await;
        for _ in 0..5 {
            let before = a.push(&spec);
            doc = a.update(&spec, &doc).await;
            assert_eq!(a.get(&spec, &doc).await, doc, "refilled with the new rev");
            // The tombstone's echo and the fill's echo, the latter checked.
            until("both echoes", || {
                let now = a.push(&spec);
                now.echoes_suppressed >= before.echoes_suppressed + 2
                    && now.echo_checks > before.echo_checks
            })
            .await;
            let after = a.push(&spec);
            assert_eq!(after.dropped, before.dropped, "{after:?}");
            a.assert_l1_hit(&spec, &doc).await;
            hold(&a, &spec, &doc).await;
        }
        a.client.close();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_write_right_after_an_own_write_is_applied() {
    watchdog(async {
        let spec = spec();
        let r = Replicas::new(redis_url(), "push-foreign");
        let (a, b) = (r.armed(&spec).await, r.armed(&spec).await);
        let mut doc = a.create(&spec, 10).await;
        for _ in 0..5 {
            let own = a.update(&spec, &doc).await;
            assert_eq!(a.get(&spec, &own).await, own); // A holds its own write
            let foreign = b.update(&spec, &own).await; // right after
            let written = Instant::now();
            fresh_within(&a, &spec, &foreign, written).await;
            doc = foreign;
        }
        a.client.close();
        b.client.close();
    })
    .await;
}
