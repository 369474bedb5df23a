//! Push invalidation against real Redis: two clients on one server act as replicas A and B.
//!
//! Tests on the shared server use unique namespaces only; killing connections, flushing,
//! restarting and refusing servers happen on private servers.

mod common;

use std::collections::BTreeSet;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{PrivateRedis, RedisOptions, WATCHDOG, connect, redis_url, unique_namespace};
use forze_core::cache::{
    Cache, CacheFill, Invalidation, InvalidationSink, PushSubscription, PushSupport,
};
use forze_redis::{PushStats, RedisCache, RedisCacheConfig, RedisClient, RedisConfig};
use tokio::sync::Notify;

/// How long a push may take to arrive before the test fails (it takes about a round trip).
const ARRIVAL: Duration = Duration::from_secs(2);
const TTL: Duration = Duration::from_secs(60);

/// A sink that records what it was told.
#[derive(Default)]
struct Recorder {
    name: &'static str,
    keys: Mutex<Vec<String>>,
    resets: AtomicU64,
    /// When the last key arrived (for the latency record).
    last_key_at: Mutex<Option<Instant>>,
    /// The last support change reported after subscribing.
    support: Mutex<Option<PushSupport>>,
    changed: Notify,
}

impl fmt::Debug for Recorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recorder")
            .field("name", &self.name)
            .finish()
    }
}

impl InvalidationSink for Recorder {
    fn invalidated(&self, key: &str) {
        self.keys.lock().expect("keys").push(key.to_owned());
        *self.last_key_at.lock().expect("time") = Some(Instant::now());
        self.changed.notify_waiters();
    }

    fn reset(&self) {
        self.resets.fetch_add(1, Ordering::SeqCst);
        self.changed.notify_waiters();
    }

    fn support_changed(&self, support: PushSupport) {
        *self.support.lock().expect("support") = Some(support);
        self.changed.notify_waiters();
    }
}

impl Recorder {
    fn new(name: &'static str) -> Arc<Self> {
        Arc::new(Recorder {
            name,
            ..Recorder::default()
        })
    }

    fn keys(&self) -> Vec<String> {
        self.keys.lock().expect("keys").clone()
    }

    fn resets(&self) -> u64 {
        self.resets.load(Ordering::SeqCst)
    }

    /// Wait (at most `limit`) until `cond` holds; fail the test with `what` otherwise.
    async fn wait_for(&self, what: &str, limit: Duration, cond: impl Fn(&Self) -> bool) {
        let waited = tokio::time::timeout(limit, async {
            loop {
                let notified = self.changed.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                if cond(self) {
                    return;
                }
                notified.await;
            }
        })
        .await;
        assert!(
            waited.is_ok(),
            "{}: timed out after {limit:?} waiting for {what}; keys {:?}, resets {}",
            self.name,
            self.keys(),
            self.resets()
        );
    }

    /// Wait until `key` was delivered.
    async fn wait_key(&self, key: &str) {
        self.wait_for(&format!("key {key:?}"), ARRIVAL, |r| {
            r.keys().iter().any(|k| k == key)
        })
        .await;
    }

    /// Wait until at least `n` resets were delivered.
    async fn wait_resets(&self, n: u64, limit: Duration) {
        self.wait_for(&format!("{n} resets"), limit, |r| r.resets() >= n)
            .await;
    }

    /// Subscribe to `cache` and wait until tracking is armed (the first reset says so).
    async fn subscribe_armed(self: &Arc<Self>, cache: &RedisCache) -> PushSubscription {
        let before = self.resets();
        let sub = cache
            .subscribe_invalidations(self.clone())
            .expect("subscribe");
        assert_eq!(sub.support(), PushSupport::Active, "{}", self.name);
        self.wait_resets(before + 1, WATCHDOG).await;
        sub
    }
}

fn push_cache(client: &RedisClient, namespace: &str) -> RedisCache {
    RedisCache::new(
        client.clone(),
        RedisCacheConfig::namespace(namespace)
            .expect("valid namespace")
            .invalidation_push(true),
    )
}

fn fill(key: &str, rev: i64) -> CacheFill {
    CacheFill::new(key, rev, br#"{"name":"Widget"}"#.to_vec(), TTL)
}

/// The `CLIENT LIST` lines of tracking connections.
fn tracking_connections(admin: &mut redis::Connection) -> Vec<String> {
    let list: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query(admin)
        .expect("CLIENT LIST");
    list.lines()
        .filter(|line| line.contains("name=forze-tracking"))
        .map(str::to_owned)
        .collect()
}

fn field<'a>(line: &'a str, name: &str) -> &'a str {
    line.split(' ')
        .find_map(|kv| kv.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
        .unwrap_or_else(|| panic!("no {name}= in {line}"))
}

/// Poll `CLIENT LIST` (a blocking call, off the runtime) until `cond` holds on the tracking
/// connections.
async fn wait_tracking(url: &str, what: &str, cond: impl Fn(&[String]) -> bool) -> Vec<String> {
    let deadline = Instant::now() + WATCHDOG;
    let mut admin = common::raw(url);
    loop {
        let lines = tracking_connections(&mut admin);
        if cond(&lines) {
            return lines;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; tracking connections: {lines:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn stats_until(client: &RedisClient, what: &str, cond: impl Fn(&PushStats) -> bool) {
    let deadline = Instant::now() + WATCHDOG;
    loop {
        let stats = client.push_stats();
        if cond(&stats) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {stats:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_on_one_replica_reaches_the_other() {
    let url = redis_url();
    let namespace = unique_namespace("push-ab");

    // B subscribes before it is connected (the coordinator may wire first): Active, armed at
    // connect.
    let b = RedisClient::new(RedisConfig::default()).expect("config");
    let b_cache = push_cache(&b, &namespace);
    let b_sink = Recorder::new("B");
    let _b_sub = b_cache
        .subscribe_invalidations(b_sink.clone())
        .expect("subscribe");
    assert_eq!(_b_sub.support(), PushSupport::Active);
    tokio::time::timeout(WATCHDOG, b.connect(&url))
        .await
        .expect("connect hung")
        .expect("connect B");
    b_sink.wait_resets(1, WATCHDOG).await;

    let a = connect(&url).await;
    let a_cache = push_cache(&a, &namespace);
    let a_sink = Recorder::new("A");
    let _a_sub = a_sink.subscribe_armed(&a_cache).await;

    // A fill on A reaches B (and echoes back to A).
    let start = Instant::now();
    assert!(a_cache.fill(fill("doc-1", 1)).await.expect("fill"));
    let returned = start.elapsed();
    b_sink.wait_key("doc-1").await;
    let arrived = b_sink.last_key_at.lock().expect("time").expect("arrived") - start;
    a_sink.wait_key("doc-1").await;

    // An invalidation on A reaches B; the latency from `invalidate_many` returning is recorded.
    let invalidation = [Invalidation::new("doc-2", 3, TTL)];
    a_cache
        .invalidate_many(&invalidation)
        .await
        .expect("invalidate");
    let after_return = Instant::now();
    b_sink.wait_key("doc-2").await;
    let at = b_sink.last_key_at.lock().expect("time").expect("arrived");
    let lag = at.saturating_duration_since(after_return);
    println!(
        "fill returned after {returned:?}, B notified {arrived:?} after the call; \
         invalidate_many -> B: {lag:?}"
    );

    assert_eq!(b_sink.keys(), ["doc-1", "doc-2"]);
    // counters are bumped right after the sink calls
    stats_until(&b, "two deliveries counted", |s| s.keys_delivered == 2).await;
    let stats = b.push_stats();
    assert!(stats.stream_up, "{stats:?}");
    assert_eq!(stats.subscriptions, 1, "{stats:?}");
    assert_eq!(stats.reconnects, 0, "{stats:?}");
    assert_eq!(b_sink.resets(), 1, "only the arming reset");
    a.close();
    b.close();
}

#[tokio::test]
async fn namespaces_are_separated_and_foreign_keys_ignored() {
    let url = redis_url();
    let base = unique_namespace("push-ns");
    // `<base>:a:b` + key `c` and `<base>:a` + key `b:c` would alias without the length prefix.
    let (ns_outer, ns_inner) = (format!("{base}:a"), format!("{base}:a:b"));
    let b = connect(&url).await;
    let outer_sink = Recorder::new("outer");
    let inner_sink = Recorder::new("inner");
    // Subscribed one after the other: the second prefix is added to the live stream.
    let _outer = outer_sink.subscribe_armed(&push_cache(&b, &ns_outer)).await;
    let _inner = inner_sink.subscribe_armed(&push_cache(&b, &ns_inner)).await;
    assert_eq!(
        outer_sink.resets(),
        1,
        "adding a namespace resets no one else"
    );

    let a = connect(&url).await;
    let (a_outer, a_inner) = (push_cache(&a, &ns_outer), push_cache(&a, &ns_inner));
    a_inner.fill(fill("c", 1)).await.expect("fill");
    a_outer.fill(fill("b:c", 1)).await.expect("fill");
    // Pushes arrive in write order on one connection: once the second is in, the first was
    // routed.
    outer_sink.wait_key("b:c").await;
    inner_sink.wait_key("c").await;
    assert_eq!(outer_sink.keys(), ["b:c"]);
    assert_eq!(inner_sink.keys(), ["c"]);

    // A key under the prefix but outside the layout is ignored.
    let ignored_before = b.push_stats().keys_ignored;
    let mut raw = common::raw(&url);
    let foreign = format!("fz:{}:{ns_inner}:not-a-data-key", ns_inner.len());
    let _: () = redis::cmd("SET")
        .arg(&foreign)
        .arg("x")
        .arg("PX")
        .arg(60_000)
        .query(&mut raw)
        .expect("SET");
    a_inner.fill(fill("after", 1)).await.expect("fill");
    inner_sink.wait_key("after").await;
    assert_eq!(inner_sink.keys(), ["c", "after"]);
    stats_until(&b, "the foreign key ignored", |s| {
        s.keys_ignored == ignored_before + 1
    })
    .await;
    let _: () = redis::cmd("DEL")
        .arg(&foreign)
        .query(&mut raw)
        .expect("DEL");

    // A cache without push does not push.
    let plain = RedisCache::new(
        b.clone(),
        RedisCacheConfig::namespace(unique_namespace("push-off")).expect("ns"),
    );
    let sub = plain
        .subscribe_invalidations(Recorder::new("off"))
        .expect("subscribe");
    assert_eq!(sub.support(), PushSupport::Unsupported);
    a.close();
    b.close();
}

#[tokio::test]
async fn killing_the_tracking_connection_resets_and_reconnects() {
    let server = PrivateRedis::start();
    let url = server.url();
    let a = connect(&url).await;
    let b = connect(&url).await;
    let a_cache = push_cache(&a, "app:products");
    let sink = Recorder::new("B");
    let _sub = sink.subscribe_armed(&push_cache(&b, "app:products")).await;

    let lines = wait_tracking(&url, "one tracking connection", |l| l.len() == 1).await;
    let id = field(&lines[0], "id").to_owned();
    assert!(field(&lines[0], "flags").contains('t'), "{}", lines[0]);
    assert_eq!(field(&lines[0], "resp"), "3", "{}", lines[0]);
    let reconnects = b.push_stats().reconnects;

    let mut admin = server.admin();
    let killed: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("ID")
        .arg(&id)
        .query(&mut admin)
        .expect("CLIENT KILL");
    assert_eq!(killed, 1);

    // reset on loss, reset again once re-armed
    sink.wait_resets(3, WATCHDOG).await;
    stats_until(&b, "a reconnect", |s| {
        s.reconnects == reconnects + 1 && s.stream_up
    })
    .await;
    let lines = wait_tracking(&url, "a new tracking connection", |l| l.len() == 1).await;
    assert_ne!(field(&lines[0], "id"), id);

    a_cache.fill(fill("later", 1)).await.expect("fill");
    sink.wait_key("later").await;
    assert_eq!(b.push_stats().reconnects, reconnects + 1);
    a.close();
    b.close();
}

#[tokio::test]
async fn flushdb_resets_every_sink() {
    let server = PrivateRedis::start();
    let url = server.url();
    let b = connect(&url).await;
    let one = Recorder::new("one");
    let two = Recorder::new("two");
    let _one = one.subscribe_armed(&push_cache(&b, "ns:one")).await;
    let _two = two.subscribe_armed(&push_cache(&b, "ns:two")).await;
    let (one_before, two_before) = (one.resets(), two.resets());

    let mut admin = server.admin();
    let _: () = redis::cmd("FLUSHDB").query(&mut admin).expect("FLUSHDB");
    one.wait_resets(one_before + 1, ARRIVAL).await;
    two.wait_resets(two_before + 1, ARRIVAL).await;
    let stats = b.push_stats();
    assert_eq!(stats.flushes, 1, "{stats:?}");
    assert!(
        stats.stream_up,
        "a flush does not drop the stream: {stats:?}"
    );

    // The stream stays up: a later write is delivered.
    let a = connect(&url).await;
    push_cache(&a, "ns:one")
        .fill(fill("k", 1))
        .await
        .expect("fill");
    one.wait_key("k").await;
    assert!(two.keys().is_empty());
    a.close();
    b.close();
}

#[tokio::test]
async fn redis_restart_resets_then_rearms() {
    let mut server = PrivateRedis::start();
    let url = server.url();
    let a = connect(&url).await;
    let b = connect(&url).await;
    let a_cache = push_cache(&a, "app:orders");
    let sink = Recorder::new("B");
    let _sub = sink.subscribe_armed(&push_cache(&b, "app:orders")).await;

    server.kill();
    sink.wait_resets(2, WATCHDOG).await;
    stats_until(&b, "the stream down", |s| !s.stream_up).await;
    server.restart();
    // re-armed: a third reset, and one reconnect
    sink.wait_resets(3, WATCHDOG).await;
    stats_until(&b, "a reconnect", |s| s.reconnects == 1 && s.stream_up).await;

    // A's data connection reconnects on its own; retry its first calls.
    let deadline = Instant::now() + WATCHDOG;
    while a_cache.fill(fill("after-restart", 1)).await.is_err() {
        assert!(Instant::now() < deadline, "A never reconnected");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    sink.wait_key("after-restart").await;
    a.close();
    b.close();
}

#[tokio::test]
async fn a_frozen_server_is_noticed_by_the_health_check() {
    let server = PrivateRedis::start();
    let url = server.url();
    let b = connect(&url).await;
    let sink = Recorder::new("B");
    let _sub = sink.subscribe_armed(&push_cache(&b, "app:frozen")).await;

    // The socket stays open, nothing answers: the periodic `PING` (every 5 s, bounded by the
    // connect timeout) notices.
    server.pause();
    sink.wait_resets(2, WATCHDOG).await;
    assert!(!b.push_stats().stream_up);
    server.resume();
    sink.wait_resets(3, WATCHDOG).await;
    stats_until(&b, "a reconnect", |s| s.reconnects == 1 && s.stream_up).await;

    let a = connect(&url).await;
    push_cache(&a, "app:frozen")
        .fill(fill("thawed", 1))
        .await
        .expect("fill");
    sink.wait_key("thawed").await;
    a.close();
    b.close();
}

#[tokio::test]
async fn dropping_the_last_subscription_stops_the_supervisor() {
    let server = PrivateRedis::start();
    let url = server.url();
    let b = connect(&url).await;
    let first = Recorder::new("first");
    let second = Recorder::new("second");
    let cache_one = push_cache(&b, "ns:one");
    let sub_one = first.subscribe_armed(&cache_one).await;
    let sub_two = second.subscribe_armed(&push_cache(&b, "ns:two")).await;
    wait_tracking(&url, "one tracking connection for both", |l| l.len() == 1).await;

    drop(sub_one);
    assert_eq!(b.push_stats().subscriptions, 1);
    wait_tracking(&url, "the connection kept for the other", |l| l.len() == 1).await;
    drop(sub_two);
    wait_tracking(&url, "the tracking connection gone", <[String]>::is_empty).await;
    let stats = b.push_stats();
    assert!(!stats.stream_up, "{stats:?}");
    assert_eq!(stats.subscriptions, 0, "{stats:?}");

    // Subscribing again starts it again.
    let again = Recorder::new("again");
    let sub = again.subscribe_armed(&cache_one).await;
    wait_tracking(&url, "a tracking connection again", |l| l.len() == 1).await;
    let a = connect(&url).await;
    push_cache(&a, "ns:one")
        .fill(fill("k", 1))
        .await
        .expect("fill");
    again.wait_key("k").await;
    assert!(
        first.keys().is_empty(),
        "a dropped subscription gets nothing"
    );

    // Closing the client stops it and resets the sink.
    let resets = again.resets();
    b.close();
    again.wait_resets(resets + 1, ARRIVAL).await;
    wait_tracking(
        &url,
        "no tracking connection after close",
        <[String]>::is_empty,
    )
    .await;
    drop(sub);
    a.close();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn churning_subscriptions_leave_one_supervisor() {
    let server = PrivateRedis::start();
    let url = server.url();
    let b = connect(&url).await;
    let cache = push_cache(&b, "app:churn");
    for _ in 0..50 {
        let sub = cache
            .subscribe_invalidations(Recorder::new("churn"))
            .expect("subscribe");
        tokio::task::yield_now().await;
        drop(sub);
    }
    let sink = Recorder::new("kept");
    let _sub = sink.subscribe_armed(&cache).await;
    wait_tracking(&url, "exactly one tracking connection", |l| l.len() == 1).await;

    let a = connect(&url).await;
    let a_cache = push_cache(&a, "app:churn");
    a_cache.fill(fill("k", 1)).await.expect("fill");
    a_cache.fill(fill("sentinel", 1)).await.expect("fill");
    sink.wait_key("sentinel").await;
    assert_eq!(sink.keys(), ["k", "sentinel"], "each key delivered once");
    assert_eq!(b.push_stats().subscriptions, 1);
    a.close();
    b.close();
}

/// Counts `warn` events and keeps their text (a minimal `tracing` subscriber).
mod capture {
    use std::sync::{Arc, Mutex};

    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event, Level, Metadata, Subscriber};

    #[derive(Clone, Default)]
    pub struct Warnings(pub Arc<Mutex<Vec<String>>>);

    struct Text(String);

    impl Visit for Text {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            self.0.push_str(&format!("{}={value:?} ", field.name()));
        }
    }

    impl Subscriber for Warnings {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &Attributes<'_>) -> Id {
            Id::from_u64(1)
        }
        fn record(&self, _: &Id, _: &Record<'_>) {}
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, event: &Event<'_>) {
            if *event.metadata().level() <= Level::WARN {
                let mut text = Text(String::new());
                event.record(&mut text);
                self.0.lock().expect("log").push(text.0);
            }
        }
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }
}

const PASSWORD: &str = "hunter2-tracking";

// Current-thread runtime: the supervisor runs on this thread, under the capturing subscriber.
#[tokio::test]
async fn a_server_without_resp3_is_ttl_only_and_logged_once() {
    let warnings = capture::Warnings::default();
    let _guard = tracing::subscriber::set_default(warnings.clone());
    let server = PrivateRedis::start_with(
        RedisOptions::new()
            .password(PASSWORD)
            .config_line(r#"rename-command HELLO """#),
    );
    let client = RedisClient::new(RedisConfig::default()).expect("config");
    let cache = push_cache(&client, "app:products");
    tokio::time::timeout(WATCHDOG, client.connect(&server.url()))
        .await
        .expect("connect hung")
        .expect("connect: a refused probe is not an error");

    let sub = cache
        .subscribe_invalidations(Recorder::new("refused"))
        .expect("subscribe");
    assert_eq!(sub.support(), PushSupport::Unsupported);
    let other = push_cache(&client, "app:orders")
        .subscribe_invalidations(Recorder::new("refused-2"))
        .expect("subscribe");
    assert_eq!(other.support(), PushSupport::Unsupported);

    // Data calls work.
    assert!(cache.fill(fill("k", 1)).await.expect("fill"));
    assert_eq!(cache.get("k").await.expect("get").map(|e| e.rev), Some(1));

    let stats = client.push_stats();
    assert_eq!(stats.refusals, 1, "{stats:?}");
    assert_eq!(stats.subscriptions, 0, "{stats:?}");
    let logged = warnings.0.lock().expect("log").clone();
    let refusals: Vec<&String> = logged
        .iter()
        .filter(|l| l.contains("refused push invalidation"))
        .collect();
    assert_eq!(refusals.len(), 1, "exactly one log line: {logged:?}");
    assert!(refusals[0].contains("TTL-only"), "{logged:?}");
    assert!(
        logged.iter().all(|l| !l.contains(PASSWORD)),
        "the password leaked: {logged:?}"
    );
    client.close();
}

#[tokio::test]
async fn a_server_denying_tracking_stops_early_subscribers_and_refuses_later_ones() {
    let warnings = capture::Warnings::default();
    let _guard = tracing::subscriber::set_default(warnings.clone());
    let server = PrivateRedis::start_with(
        RedisOptions::new().config_line("user default on nopass ~* &* +@all -client|tracking"),
    );
    let client = RedisClient::new(RedisConfig::default()).expect("config");
    let cache = push_cache(&client, "app:products");
    // Subscribed before connect: Active until the supervisor learns otherwise.
    let early = Recorder::new("early");
    let sub = cache
        .subscribe_invalidations(early.clone())
        .expect("subscribe");
    assert_eq!(sub.support(), PushSupport::Active);
    tokio::time::timeout(WATCHDOG, client.connect(&server.url()))
        .await
        .expect("connect hung")
        .expect("connect");

    early.wait_resets(1, WATCHDOG).await;
    stats_until(&client, "the refusal", |s| s.refusals == 1).await;
    // The early subscriber learns it is TTL-only now (its stats stop saying `Active`).
    assert_eq!(
        *early.support.lock().expect("support"),
        Some(PushSupport::Unsupported)
    );
    assert!(!client.push_stats().stream_up);
    let late = push_cache(&client, "app:orders")
        .subscribe_invalidations(Recorder::new("late"))
        .expect("subscribe");
    assert_eq!(late.support(), PushSupport::Unsupported);
    assert!(cache.fill(fill("k", 1)).await.expect("fill"));
    let logged = warnings.0.lock().expect("log").clone();
    assert_eq!(
        logged
            .iter()
            .filter(|l| l.contains("refused push invalidation"))
            .count(),
        1,
        "{logged:?}"
    );
    drop(sub);
    client.close();
}

#[tokio::test]
async fn keys_written_by_other_clients_are_sets_of_cache_keys() {
    // Several keys in one batch arrive as one push (or several) and all reach the sink.
    let url = redis_url();
    let namespace = unique_namespace("push-batch");
    let b = connect(&url).await;
    let sink = Recorder::new("B");
    let _sub = sink.subscribe_armed(&push_cache(&b, &namespace)).await;
    let a = connect(&url).await;
    let a_cache = push_cache(&a, &namespace);
    let fills: Vec<CacheFill> = (0..20).map(|i| fill(&format!("doc-{i}"), 1)).collect();
    let installed = a_cache.fill_many(fills).await.expect("fill_many");
    assert!(installed.iter().all(|ok| *ok));
    let expected: BTreeSet<String> = (0..20).map(|i| format!("doc-{i}")).collect();
    sink.wait_for("all 20 keys", ARRIVAL, |r| {
        r.keys().into_iter().collect::<BTreeSet<_>>() == expected
    })
    .await;
    // A delete tombstone and an evict are changes too.
    a_cache
        .invalidate_many(&[Invalidation::new(
            "doc-0",
            forze_core::cache::TOMBSTONE_DELETED,
            TTL,
        )])
        .await
        .expect("delete");
    a_cache.evict("doc-1", 1, TTL).await.expect("evict");
    sink.wait_for("the delete and the evict", ARRIVAL, |r| {
        let keys = r.keys();
        keys.iter().filter(|k| *k == "doc-0").count() == 2
            && keys.iter().filter(|k| *k == "doc-1").count() == 2
    })
    .await;
    a.close();
    b.close();
}
