//! Push invalidation: Redis client-side-caching broadcasts turned into
//! [`InvalidationSink`](forze_core::cache::InvalidationSink) calls.
//!
//! The user-facing contract is in the crate docs (README, "Push invalidation"). Here:
//!
//! * [`PushTracking`]: one per [`RedisClient`](crate::RedisClient); the subscriptions, the routing table
//!   (data-key prefix → sinks), the counters, and the supervisor task's handle.
//! * `supervise`: the task; one `session` per tracking connection (open with `HELLO 3`,
//!   `CLIENT SETNAME forze-tracking`, `CLIENT TRACKING ON BCAST PREFIX …`, then a loop over
//!   pushes, newly added subscriptions and a health-check `PING`), exponential backoff with
//!   jitter between sessions: capped at 400 ms while the server refuses or resets connections
//!   (a restart: the stream is back within about that long of the server accepting
//!   connections), at 5 s after other failures (timeouts, credentials). A call on the data
//!   connection that reconnected cuts the current backoff short (`PushTracking::nudge`).
//! * Redis can add a BCAST prefix to a tracking connection but not remove one (only
//!   `CLIENT TRACKING OFF` does), and refuses a prefix that overlaps one already tracked. So a
//!   session arms each prefix once, adds new ones as namespaces subscribe, and leaves the
//!   prefix of a namespace nobody subscribes to any more in place until the next reconnect (its
//!   keys find no route and are counted as ignored). Prefixes of distinct namespaces never
//!   overlap: `fz:<len>:` fixes the namespace length, so one prefix can only start another if
//!   the namespaces are equal.
//! * Stopping is `JoinHandle::abort`: the task holds no lock across an await, and dropping its
//!   connection closes the socket, which ends tracking server-side.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use forze_core::backoff::Backoff;
use forze_core::cache::{PushSubscription, PushSupport, SharedSink};
use parking_lot::Mutex;
use redis::aio::MultiplexedConnection;
use redis::{
    AsyncConnectionConfig, ConnectionInfo, ErrorKind as RedisKind, ProtocolVersion, PushInfo,
    PushKind, RedisError, ServerErrorKind, Value,
};
use tokio::runtime::Handle;
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;

use crate::error::is_unavailable;

/// The name of the tracking connection in `CLIENT LIST`.
pub(crate) const TRACKING_CLIENT_NAME: &str = "forze-tracking";
/// First delay between reconnect attempts (before jitter).
const BACKOFF_MIN: Duration = Duration::from_millis(50);
/// Largest delay while the server answers promptly but not yet usefully: connections refused or
/// reset (a restart), or "loading". Such attempts are cheap, and a short cap gets the stream
/// back within about this long of the server accepting connections again.
const BACKOFF_MAX_FAST: Duration = Duration::from_millis(400);
/// Largest delay after other failures (timeouts, rejected credentials, …), where each attempt
/// costs the server or the network more.
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// How often the supervisor checks a quiet stream with `PING`.
const HEALTH_INTERVAL: Duration = Duration::from_secs(5);

/// Counters of a client's push-invalidation supervisor, from
/// [`RedisClient::push_stats`](crate::RedisClient::push_stats).
///
/// All counters are cumulative over the client's life.
///
/// # Examples
///
/// ```
/// use forze_redis::{RedisClient, RedisConfig};
///
/// let client = RedisClient::new(RedisConfig::default())?;
/// let stats = client.push_stats();
/// assert_eq!(stats.pushes, 0);
/// assert!(!stats.stream_up);
/// # Ok::<(), forze_core::Error>(())
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PushStats {
    /// Invalidation pushes received (a push may name several keys, or none for a flush).
    pub pushes: u64,
    /// [`InvalidationSink::invalidated`](forze_core::cache::InvalidationSink::invalidated)
    /// calls made (one per key and sink).
    pub keys_delivered: u64,
    /// Pushed keys no sink wanted (outside the key layout, or of a namespace nobody subscribes
    /// to any more).
    pub keys_ignored: u64,
    /// Flush pushes received (`FLUSHDB`, `FLUSHALL`).
    pub flushes: u64,
    /// [`InvalidationSink::reset`](forze_core::cache::InvalidationSink::reset) calls made (one
    /// per sink and occasion).
    pub resets: u64,
    /// Times the stream was re-established after it had been lost.
    pub reconnects: u64,
    /// Times the server refused RESP3 or `CLIENT TRACKING`.
    pub refusals: u64,
    /// Live subscriptions.
    pub subscriptions: u64,
    /// Whether the tracking stream is up right now.
    pub stream_up: bool,
}

#[derive(Default)]
struct Counters {
    pushes: AtomicU64,
    keys_delivered: AtomicU64,
    keys_ignored: AtomicU64,
    flushes: AtomicU64,
    resets: AtomicU64,
    reconnects: AtomicU64,
    refusals: AtomicU64,
    stream_up: AtomicBool,
}

fn bump(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

/// Where the supervisor connects: the data connection's settings with RESP3, and the runtime the
/// client was connected on.
#[derive(Clone)]
pub(crate) struct Target {
    info: ConnectionInfo,
    runtime: Handle,
    /// `host:port` or a socket path, for logs (never credentials).
    name: Arc<str>,
}

impl Target {
    /// A target for the server of `info` (its protocol is switched to RESP3).
    pub(crate) fn new(info: &ConnectionInfo, runtime: Handle, name: Arc<str>) -> Self {
        let redis = info
            .redis_settings()
            .clone()
            .set_protocol(ProtocolVersion::RESP3);
        Target {
            info: info.clone().set_redis_settings(redis),
            runtime,
            name,
        }
    }
}

/// Whether the server was found to refuse push invalidation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Unknown,
    Refused,
}

struct Subscriber {
    prefix: Arc<str>,
    sink: SharedSink,
}

/// Data-key prefix → the sinks of that namespace.
#[derive(Default)]
struct Routes {
    by_prefix: HashMap<Arc<str>, Vec<SharedSink>>,
}

impl Routes {
    fn build(subs: &BTreeMap<u64, Subscriber>) -> Self {
        let mut by_prefix: HashMap<Arc<str>, Vec<SharedSink>> = HashMap::new();
        for sub in subs.values() {
            by_prefix
                .entry(Arc::clone(&sub.prefix))
                .or_default()
                .push(Arc::clone(&sub.sink));
        }
        Routes { by_prefix }
    }

    /// The sinks and the cache key of a pushed data key, if it is ours.
    fn route<'k>(&self, key: &'k [u8]) -> Option<(&[SharedSink], &'k str)> {
        let (prefix, cache_key) = crate::codec::split_data_key(key)?;
        let sinks = self.by_prefix.get(prefix)?;
        Some((sinks, cache_key))
    }
}

struct State {
    subs: BTreeMap<u64, Subscriber>,
    next_id: u64,
    routes: Arc<Routes>,
    /// Set while the client is connected.
    target: Option<Target>,
    /// The running supervisor, with its sequence number.
    task: Option<(u64, JoinHandle<()>)>,
    task_seq: u64,
    status: Status,
    /// Some namespace of this client has push on (probe at connect).
    wanted: bool,
    /// Bumped on every connect and close, so a stale supervisor changes nothing.
    generation: u64,
}

/// The push-invalidation side of one [`RedisClient`](crate::RedisClient).
pub(crate) struct PushTracking {
    /// Bound on opening the tracking connection and on each of its commands.
    timeout: Duration,
    state: Mutex<State>,
    /// Wakes the supervisor when subscriptions were added.
    wake: Notify,
    /// Cuts the supervisor's reconnect backoff short: the data connection just reconnected.
    retry_now: Notify,
    counters: Counters,
    refusal_logged: AtomicBool,
}

impl PushTracking {
    pub(crate) fn new(timeout: Duration) -> Self {
        PushTracking {
            timeout,
            state: Mutex::new(State {
                subs: BTreeMap::new(),
                next_id: 0,
                routes: Arc::new(Routes::default()),
                target: None,
                task: None,
                task_seq: 0,
                status: Status::Unknown,
                wanted: false,
                generation: 0,
            }),
            wake: Notify::new(),
            retry_now: Notify::new(),
            counters: Counters::default(),
            refusal_logged: AtomicBool::new(false),
        }
    }

    /// A namespace of this client has push on: probe the server at connect.
    pub(crate) fn want(&self) {
        self.state.lock().wanted = true;
    }

    /// The data connection reconnected to the server: if the stream is down, the supervisor
    /// tries again now instead of at the end of its backoff.
    pub(crate) fn nudge(&self) {
        if !self.counters.stream_up.load(Ordering::Relaxed) && self.state.lock().task.is_some() {
            self.retry_now.notify_one();
        }
    }

    pub(crate) fn stats(&self) -> PushStats {
        let c = &self.counters;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        PushStats {
            pushes: load(&c.pushes),
            keys_delivered: load(&c.keys_delivered),
            keys_ignored: load(&c.keys_ignored),
            flushes: load(&c.flushes),
            resets: load(&c.resets),
            reconnects: load(&c.reconnects),
            refusals: load(&c.refusals),
            subscriptions: self.state.lock().subs.len() as u64,
            stream_up: c.stream_up.load(Ordering::Relaxed),
        }
    }

    /// Register `sink` for the keys under `prefix`.
    pub(crate) fn subscribe(
        self: &Arc<Self>,
        namespace: &str,
        prefix: Arc<str>,
        sink: SharedSink,
    ) -> PushSubscription {
        let mut state = self.state.lock();
        if state.status == Status::Refused {
            tracing::debug!(
                namespace,
                "redis refused push invalidation earlier; this cache stays TTL-only"
            );
            return PushSubscription::unsupported();
        }
        let id = state.next_id;
        state.next_id += 1;
        state.subs.insert(id, Subscriber { prefix, sink });
        state.routes = Arc::new(Routes::build(&state.subs));
        let running = state
            .task
            .as_ref()
            .is_some_and(|(_, task)| !task.is_finished());
        if running {
            self.wake.notify_one();
        } else {
            self.start(&mut state);
        }
        drop(state);
        PushSubscription::active(SubscriptionGuard {
            hub: Arc::clone(self),
            id,
        })
    }

    /// Spawn the supervisor if the client is connected (under the state lock).
    fn start(self: &Arc<Self>, state: &mut State) {
        let Some(target) = state.target.clone() else {
            return; // `on_connect` starts it
        };
        let generation = state.generation;
        state.task_seq += 1;
        let seq = state.task_seq;
        // The caller's runtime if there is one (the one the client connected on may be gone).
        let runtime = Handle::try_current().unwrap_or_else(|_| target.runtime.clone());
        let task = runtime.spawn(supervise(Arc::clone(self), target, generation, seq));
        state.task = Some((seq, task));
    }

    fn unsubscribe(&self, id: u64) {
        let mut state = self.state.lock();
        if state.subs.remove(&id).is_none() {
            return;
        }
        state.routes = Arc::new(Routes::build(&state.subs));
        if state.subs.is_empty()
            && let Some((_, task)) = state.task.take()
        {
            // Dropping the task drops its connection, which turns tracking off server-side.
            task.abort();
            self.counters.stream_up.store(false, Ordering::Relaxed);
            tracing::debug!("last push subscription dropped; tracking connection closed");
        }
    }

    /// The client connected (again): restart tracking against `target`, and probe the server
    /// when push is wanted but nobody subscribed yet. Bounded by the hub's timeout, never fails.
    pub(crate) async fn on_connect(self: &Arc<Self>, target: Target) {
        let (sinks, probe) = {
            let mut state = self.state.lock();
            state.generation += 1;
            let had_task = match state.task.take() {
                Some((_, task)) => {
                    task.abort();
                    true
                }
                None => false,
            };
            self.counters.stream_up.store(false, Ordering::Relaxed);
            state.status = Status::Unknown;
            state.target = Some(target.clone());
            let sinks = if had_task {
                sinks_of(&state)
            } else {
                Vec::new()
            };
            let probe = if state.subs.is_empty() {
                state.wanted.then_some(state.generation)
            } else {
                self.start(&mut state);
                None
            };
            (sinks, probe)
        };
        self.reset(&sinks, "the redis client reconnected");
        if let Some(generation) = probe {
            let budget = self.timeout.saturating_mul(2);
            let probed = tokio::time::timeout(budget, probe_server(&target, self.timeout))
                .await
                .unwrap_or_else(|_| Err(Open::Failed(timed_out())));
            match probed {
                Ok(()) => {
                    tracing::debug!(server = %target.name, "redis accepts push invalidation");
                }
                Err(Open::Refused(err)) => self.refused(generation, &target, &err),
                Err(Open::Failed(err)) => tracing::debug!(
                    server = %target.name,
                    error = %describe(&err),
                    "could not probe redis for push invalidation; the first subscription will tell"
                ),
            }
        }
    }

    /// The client was closed: stop the supervisor and reset every sink.
    pub(crate) fn on_close(&self) {
        let sinks = {
            let mut state = self.state.lock();
            state.generation += 1;
            state.target = None;
            state.status = Status::Unknown;
            if let Some((_, task)) = state.task.take() {
                task.abort();
            }
            self.counters.stream_up.store(false, Ordering::Relaxed);
            sinks_of(&state)
        };
        self.reset(&sinks, "the redis client was closed");
    }

    /// The server refused push: log once, remember, reset every sink.
    fn refused(&self, generation: u64, target: &Target, err: &RedisError) {
        let sinks = {
            let mut state = self.state.lock();
            if state.generation != generation {
                return;
            }
            state.status = Status::Refused;
            self.counters.stream_up.store(false, Ordering::Relaxed);
            sinks_of(&state)
        };
        bump(&self.counters.refusals, 1);
        if !self.refusal_logged.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                server = %target.name,
                error = %describe(err),
                "redis refused push invalidation (`HELLO 3` or `CLIENT TRACKING`); L1 caches on \
                 this client stay TTL-only (needs Redis 6+ with RESP3 and the `client|tracking` \
                 command allowed)"
            );
        } else {
            tracing::debug!(
                server = %target.name,
                error = %describe(err),
                "redis refused push invalidation again"
            );
        }
        self.reset(&sinks, "redis refused push invalidation");
        // The subscriptions answered `Active` before the refusal: tell the sinks they are
        // TTL-only now, so their stats say so.
        for sink in &sinks {
            let outcome = catch_unwind(AssertUnwindSafe(|| {
                sink.support_changed(PushSupport::Unsupported)
            }));
            if outcome.is_err() {
                tracing::error!(
                    ?sink,
                    "an invalidation sink panicked in `support_changed`; ignored"
                );
            }
        }
    }

    fn routes(&self) -> Arc<Routes> {
        Arc::clone(&self.state.lock().routes)
    }

    fn all_sinks(&self) -> Vec<SharedSink> {
        sinks_of(&self.state.lock())
    }

    fn reset(&self, sinks: &[SharedSink], why: &'static str) {
        if sinks.is_empty() {
            return;
        }
        tracing::debug!(
            sinks = sinks.len(),
            why,
            "resetting push-invalidation sinks"
        );
        for sink in sinks {
            let outcome = catch_unwind(AssertUnwindSafe(|| sink.reset()));
            if outcome.is_err() {
                tracing::error!(?sink, "an invalidation sink panicked in `reset`; ignored");
            }
        }
        bump(&self.counters.resets, sinks.len() as u64);
    }

    /// Deliver one invalidation push.
    fn deliver(&self, data: &[Value]) {
        bump(&self.counters.pushes, 1);
        let keys = match data.first() {
            Some(Value::Array(keys)) => keys,
            // A null key list: the server flushed a database.
            Some(Value::Nil) | None => {
                bump(&self.counters.flushes, 1);
                self.reset(&self.all_sinks(), "redis flushed a database");
                return;
            }
            Some(_) => {
                tracing::debug!("unexpected invalidation push shape; treated as a flush");
                bump(&self.counters.flushes, 1);
                self.reset(&self.all_sinks(), "unexpected invalidation push");
                return;
            }
        };
        let routes = self.routes();
        let (mut delivered, mut ignored) = (0u64, 0u64);
        for key in keys {
            let routed = match key {
                Value::BulkString(bytes) => routes.route(bytes),
                Value::SimpleString(text) => routes.route(text.as_bytes()),
                _ => None,
            };
            let Some((sinks, cache_key)) = routed else {
                ignored += 1;
                continue;
            };
            for sink in sinks {
                let outcome = catch_unwind(AssertUnwindSafe(|| sink.invalidated(cache_key)));
                if outcome.is_err() {
                    tracing::error!(
                        ?sink,
                        "an invalidation sink panicked in `invalidated`; ignored"
                    );
                }
                delivered += 1;
            }
        }
        bump(&self.counters.keys_delivered, delivered);
        bump(&self.counters.keys_ignored, ignored);
    }

    /// The prefixes to arm and the subscriptions to reset once they are, given what the current
    /// connection has armed; `None` when nobody is subscribed.
    fn pending(&self, armed: &mut Armed) -> Option<Vec<(u64, Arc<str>, SharedSink)>> {
        let state = self.state.lock();
        if state.subs.is_empty() {
            return None;
        }
        armed.subs.retain(|id| state.subs.contains_key(id));
        Some(
            state
                .subs
                .iter()
                .filter(|(id, _)| !armed.subs.contains(id))
                .map(|(id, sub)| (*id, Arc::clone(&sub.prefix), Arc::clone(&sub.sink)))
                .collect(),
        )
    }

    fn is_current(&self, generation: u64) -> bool {
        self.state.lock().generation == generation
    }

    /// The supervisor `seq` ends by itself (nobody subscribed, or refused).
    fn finished(&self, seq: u64) {
        let mut state = self.state.lock();
        // A newer supervisor may have been started after this one was aborted.
        if state
            .task
            .as_ref()
            .is_some_and(|(current, _)| *current == seq)
        {
            state.task = None;
            self.counters.stream_up.store(false, Ordering::Relaxed);
        }
    }
}

fn sinks_of(state: &State) -> Vec<SharedSink> {
    state
        .subs
        .values()
        .map(|sub| Arc::clone(&sub.sink))
        .collect()
}

impl fmt::Debug for PushTracking {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PushTracking")
            .field("stats", &self.stats())
            .finish()
    }
}

/// Unsubscribes on drop.
struct SubscriptionGuard {
    hub: Arc<PushTracking>,
    id: u64,
}

impl Drop for SubscriptionGuard {
    fn drop(&mut self) {
        self.hub.unsubscribe(self.id);
    }
}

/// What the current tracking connection has armed.
#[derive(Default)]
struct Armed {
    prefixes: HashSet<Arc<str>>,
    subs: HashSet<u64>,
}

/// Why a connection attempt or a session ended.
enum Open {
    /// The server refused RESP3 or tracking: stop.
    Refused(RedisError),
    /// Anything else: back off and retry.
    Failed(RedisError),
}

enum SessionEnd {
    /// Nobody is subscribed any more.
    Idle,
    Refused(RedisError),
    /// The connection could not be set up, or the stream was lost; `armed`: it had been up.
    Lost {
        armed: bool,
        error: RedisError,
    },
}

/// The supervisor: keeps a tracking stream up while anybody is subscribed.
async fn supervise(hub: Arc<PushTracking>, target: Target, generation: u64, seq: u64) {
    let mut failures: u32 = 0;
    let mut ever_armed = false;
    loop {
        if !hub.is_current(generation) {
            return;
        }
        match session(&hub, &target, &mut ever_armed).await {
            SessionEnd::Idle => {
                hub.finished(seq);
                return;
            }
            SessionEnd::Refused(err) => {
                hub.finished(seq);
                hub.refused(generation, &target, &err);
                return;
            }
            SessionEnd::Lost { armed, error } => {
                hub.counters.stream_up.store(false, Ordering::Relaxed);
                if armed {
                    failures = 0;
                    tracing::warn!(
                        server = %target.name,
                        error = %describe(&error),
                        "push-invalidation stream lost; L1 caches reset, reconnecting"
                    );
                    hub.reset(&hub.all_sinks(), "the push-invalidation stream was lost");
                } else if failures == 0 {
                    tracing::warn!(
                        server = %target.name,
                        error = %describe(&error),
                        "cannot open the push-invalidation stream; retrying with backoff"
                    );
                } else {
                    tracing::debug!(
                        server = %target.name,
                        error = %describe(&error),
                        attempt = failures + 1,
                        "push-invalidation stream still down"
                    );
                }
                failures = failures.saturating_add(1);
                // The backoff, unless the data connection finds the server back first.
                tokio::select! {
                    () = tokio::time::sleep(backoff(failures, quick_retry(&error))) => {}
                    () = hub.retry_now.notified() => {
                        tracing::debug!(
                            server = %target.name,
                            "the data connection reconnected; retrying the push stream now"
                        );
                    }
                }
            }
        }
    }
}

/// One tracking connection, from open to loss.
async fn session(hub: &PushTracking, target: &Target, ever_armed: &mut bool) -> SessionEnd {
    let (tx, mut rx) = mpsc::unbounded_channel::<PushInfo>();
    let mut conn = match open(target, hub.timeout, Some(tx)).await {
        Ok(conn) => conn,
        Err(Open::Refused(err)) => return SessionEnd::Refused(err),
        Err(Open::Failed(error)) => {
            return SessionEnd::Lost {
                armed: false,
                error,
            };
        }
    };
    let mut setname = redis::cmd("CLIENT");
    setname.arg("SETNAME").arg(TRACKING_CLIENT_NAME);
    if let Err(err) = command(&mut conn, &setname, hub.timeout).await
        && !is_server_error(&err)
    {
        return SessionEnd::Lost {
            armed: false,
            error: err,
        };
    }

    let mut armed = Armed::default();
    if let Err(end) = arm(hub, &mut conn, &mut armed, true).await {
        return end;
    }
    hub.counters.stream_up.store(true, Ordering::Relaxed);
    if std::mem::replace(ever_armed, true) {
        bump(&hub.counters.reconnects, 1);
        tracing::info!(server = %target.name, "push-invalidation stream re-armed");
    } else {
        tracing::debug!(server = %target.name, "push-invalidation stream armed");
    }

    let mut health = tokio::time::interval(HEALTH_INTERVAL);
    health.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    health.tick().await; // the first tick is immediate
    loop {
        tokio::select! {
            push = rx.recv() => match push {
                Some(PushInfo { kind: PushKind::Invalidate, data }) => hub.deliver(&data),
                Some(PushInfo { kind: PushKind::Disconnection, .. }) | None => {
                    return SessionEnd::Lost { armed: true, error: closed() };
                }
                Some(PushInfo { kind, .. }) => {
                    tracing::debug!(?kind, "ignored push on the tracking connection");
                }
            },
            () = hub.wake.notified() => {
                if let Err(end) = arm(hub, &mut conn, &mut armed, false).await {
                    return end;
                }
            }
            _ = health.tick() => {
                if let Err(error) = command(&mut conn, &redis::cmd("PING"), hub.timeout).await {
                    return SessionEnd::Lost { armed: true, error };
                }
            }
        }
    }
}

/// Arm every prefix not armed yet on this connection, then reset the subscriptions that were
/// not covered before. `first`: a server error means the server refuses tracking.
async fn arm(
    hub: &PushTracking,
    conn: &mut MultiplexedConnection,
    armed: &mut Armed,
    first: bool,
) -> Result<(), SessionEnd> {
    let Some(pending) = hub.pending(armed) else {
        return Err(SessionEnd::Idle);
    };
    if pending.is_empty() {
        return Ok(());
    }
    let mut missing: Vec<&Arc<str>> = pending
        .iter()
        .map(|(_, prefix, _)| prefix)
        .filter(|prefix| !armed.prefixes.contains(*prefix))
        .collect();
    missing.sort_unstable();
    missing.dedup();
    if !missing.is_empty() {
        let mut tracking = redis::cmd("CLIENT");
        tracking.arg("TRACKING").arg("ON").arg("BCAST");
        for prefix in &missing {
            tracking.arg("PREFIX").arg(prefix.as_bytes());
        }
        if let Err(error) = command(conn, &tracking, hub.timeout).await {
            if first && is_refusal(&error) {
                return Err(SessionEnd::Refused(error));
            }
            return Err(SessionEnd::Lost {
                armed: !first,
                error,
            });
        }
        armed.prefixes.extend(missing.into_iter().cloned());
    }
    let sinks: Vec<SharedSink> = pending
        .into_iter()
        .map(|(id, _, sink)| {
            armed.subs.insert(id);
            sink
        })
        .collect();
    hub.reset(&sinks, "push invalidation armed");
    for sink in &sinks {
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            sink.support_changed(PushSupport::Active)
        }));
        if outcome.is_err() {
            tracing::error!(
                ?sink,
                "an invalidation sink panicked in `support_changed`; ignored"
            );
        }
    }
    Ok(())
}

/// Open a RESP3 connection to `target` (with `HELLO 3`), bounded by `timeout`.
async fn open(
    target: &Target,
    timeout: Duration,
    push: Option<mpsc::UnboundedSender<PushInfo>>,
) -> Result<MultiplexedConnection, Open> {
    let client = redis::Client::open(target.info.clone()).map_err(Open::Failed)?;
    let mut config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout));
    if let Some(push) = push {
        config = config.set_push_sender(push);
    }
    let connecting = client.get_multiplexed_async_connection_with_config(&config);
    match tokio::time::timeout(timeout.saturating_mul(2), connecting).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(err)) if is_refusal(&err) => Err(Open::Refused(err)),
        Ok(Err(err)) => Err(Open::Failed(err)),
        Err(_) => Err(Open::Failed(timed_out())),
    }
}

/// Whether `target` accepts RESP3 and `CLIENT TRACKING` (`CLIENT TRACKING OFF` is harmless).
async fn probe_server(target: &Target, timeout: Duration) -> Result<(), Open> {
    let mut conn = open(target, timeout, None).await?;
    let mut off = redis::cmd("CLIENT");
    off.arg("TRACKING").arg("OFF");
    match command(&mut conn, &off, timeout).await {
        Ok(_) => Ok(()),
        Err(err) if is_refusal(&err) => Err(Open::Refused(err)),
        Err(err) => Err(Open::Failed(err)),
    }
}

async fn command(
    conn: &mut MultiplexedConnection,
    cmd: &redis::Cmd,
    timeout: Duration,
) -> Result<Value, RedisError> {
    match tokio::time::timeout(timeout, cmd.query_async::<Value>(conn)).await {
        Ok(result) => result,
        Err(_) => Err(timed_out()),
    }
}

/// A reply that says "this server does not do that" (as opposed to "not now").
fn is_refusal(err: &RedisError) -> bool {
    if is_unavailable(err) {
        return false;
    }
    matches!(
        err.kind(),
        RedisKind::RESP3NotSupported
            | RedisKind::Extension
            | RedisKind::Server(ServerErrorKind::ResponseError | ServerErrorKind::NoPerm)
    )
}

fn is_server_error(err: &RedisError) -> bool {
    matches!(err.kind(), RedisKind::Server(_) | RedisKind::Extension)
}

/// An error for logs: server errors by code only, because Redis echoes the arguments of an
/// unknown command, and `HELLO 3 AUTH <user> <password>` carries the password.
fn describe(err: &RedisError) -> String {
    match err.kind() {
        RedisKind::RESP3NotSupported => "the server does not support RESP3".to_owned(),
        RedisKind::AuthenticationFailed => "authentication failed".to_owned(),
        RedisKind::Server(_) | RedisKind::Extension => match err.code() {
            Some(code) => format!("server error `{code}`"),
            None => "server error".to_owned(),
        },
        _ if err.code().is_some() => format!("server error `{}`", err.code().unwrap_or("")),
        _ => err.to_string(),
    }
}

fn closed() -> RedisError {
    RedisError::from(std::io::Error::new(
        std::io::ErrorKind::ConnectionAborted,
        "the tracking connection was closed",
    ))
}

fn timed_out() -> RedisError {
    RedisError::from(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        "no reply from redis in time",
    ))
}

/// Whether a failed attempt says the server is (re)starting or just restarted: the connection
/// was refused, reset or closed, or the server is loading its data. Then the next attempt comes
/// soon ([`BACKOFF_MAX_FAST`]).
fn quick_retry(err: &RedisError) -> bool {
    (err.is_connection_dropped() && !err.is_timeout())
        || err.kind() == RedisKind::Server(ServerErrorKind::BusyLoading)
}

/// The delay before reconnect attempt `failures` (1-based): exponential from 50 ms, capped at
/// [`BACKOFF_MAX_FAST`] (`quick`, see [`quick_retry`]) or [`BACKOFF_MAX`], with "equal jitter"
/// (between half and all of it).
fn backoff(failures: u32, quick: bool) -> Duration {
    let cap = if quick { BACKOFF_MAX_FAST } else { BACKOFF_MAX };
    Backoff::new(BACKOFF_MIN, cap).delay(failures)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::split_data_key;
    use forze_core::cache::{InvalidationSink, PushSupport};

    #[derive(Debug, Default)]
    struct Recorder {
        keys: Mutex<Vec<String>>,
        resets: AtomicU64,
    }

    impl InvalidationSink for Recorder {
        fn invalidated(&self, key: &str) {
            self.keys.lock().push(key.to_owned());
        }
        fn reset(&self) {
            self.resets.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[derive(Debug)]
    struct Panicky;

    impl InvalidationSink for Panicky {
        fn invalidated(&self, _: &str) {
            panic!("sink bug");
        }
        fn reset(&self) {
            panic!("sink bug");
        }
    }

    #[test]
    fn data_keys_split_into_prefix_and_cache_key() {
        assert_eq!(
            split_data_key(b"fz:12:app:products:{42}"),
            Some(("fz:12:app:products:", "42"))
        );
        // the length prefix decides where the namespace ends
        assert_eq!(split_data_key(b"fz:3:a:b:{c}"), Some(("fz:3:a:b:", "c")));
        assert_eq!(split_data_key(b"fz:1:a:{b:c}"), Some(("fz:1:a:", "b:c")));
        // braces inside the key are kept: only the outer pair is the hash tag
        assert_eq!(
            split_data_key(b"fz:1:a:{x{y}z}"),
            Some(("fz:1:a:", "x{y}z"))
        );
        assert_eq!(
            split_data_key(b"fz:2:\xc3\xbc:{k}"),
            Some(("fz:2:\u{fc}:", "k"))
        );
        for bad in [
            &b"fz:1:a:k"[..],
            b"fz:1:a:{k",
            b"fz:1:ab:{k}",
            b"fz:x:a:{k}",
            b"fz::a:{k}",
            b"fz:99:a:{k}",
            b"fz:184467440737095516150:a:{k}",
            b"xx:1:a:{k}",
            b"fz:1:a:",
            b"fz:1:\xff:{k}",
            b"fz:2:\xc3\xbc{k}",
            b"",
        ] {
            assert_eq!(
                split_data_key(bad),
                None,
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        // the split is the inverse of the layout
        for (ns, key) in [
            ("a:b", "c"),
            ("a", "b:c"),
            ("app:products", "{}"),
            ("x", ""),
        ] {
            let data = format!("{}{{{key}}}", crate::codec::key_prefix(ns));
            let (prefix, back) = split_data_key(data.as_bytes()).expect("ours");
            assert_eq!(prefix, crate::codec::key_prefix(ns));
            assert_eq!(back, key);
        }
    }

    fn hub_with(
        subs: &[(&str, Arc<dyn InvalidationSink>)],
    ) -> (Arc<PushTracking>, Vec<PushSubscription>) {
        let hub = Arc::new(PushTracking::new(Duration::from_secs(1)));
        let held = subs
            .iter()
            .map(|(ns, sink)| {
                hub.subscribe(ns, crate::codec::key_prefix(ns).into(), Arc::clone(sink))
            })
            .collect();
        (hub, held)
    }

    fn keys(keys: &[&str]) -> Vec<Value> {
        vec![Value::Array(
            keys.iter()
                .map(|k| Value::BulkString(k.as_bytes().to_vec()))
                .collect(),
        )]
    }

    #[test]
    fn pushes_route_by_namespace() {
        let ab = Arc::new(Recorder::default());
        let a = Arc::new(Recorder::default());
        let (hub, subs) = hub_with(&[("a:b", ab.clone()), ("a", a.clone())]);
        assert!(subs.iter().all(|s| s.support() == PushSupport::Active));
        hub.deliver(&keys(&[
            "fz:3:a:b:{c}",
            "fz:1:a:{b:c}",
            "fz:1:z:{q}",
            "other",
        ]));
        assert_eq!(*ab.keys.lock(), ["c"]);
        assert_eq!(*a.keys.lock(), ["b:c"]);
        let stats = hub.stats();
        assert_eq!(
            (stats.pushes, stats.keys_delivered, stats.keys_ignored),
            (1, 2, 2)
        );
        assert_eq!(stats.subscriptions, 2);

        // a dropped subscription gets nothing more
        drop(subs);
        hub.deliver(&keys(&["fz:3:a:b:{d}"]));
        assert_eq!(*ab.keys.lock(), ["c"]);
        assert_eq!(hub.stats().subscriptions, 0);
    }

    #[test]
    fn flush_pushes_reset_every_sink() {
        let x = Arc::new(Recorder::default());
        let y = Arc::new(Recorder::default());
        let (hub, _subs) = hub_with(&[("x", x.clone()), ("y", y.clone())]);
        hub.deliver(&[Value::Nil]);
        assert_eq!(x.resets.load(Ordering::Relaxed), 1);
        assert_eq!(y.resets.load(Ordering::Relaxed), 1);
        let stats = hub.stats();
        assert_eq!((stats.flushes, stats.resets), (1, 2));
    }

    #[test]
    fn a_panicking_sink_is_contained() {
        let good = Arc::new(Recorder::default());
        let (hub, _subs) = hub_with(&[("p", Arc::new(Panicky)), ("p", good.clone())]);
        hub.deliver(&keys(&["fz:1:p:{k}"]));
        hub.deliver(&[Value::Nil]);
        assert_eq!(*good.keys.lock(), ["k"]);
        assert_eq!(good.resets.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn refusal_makes_later_subscriptions_unsupported() {
        let early = Arc::new(Recorder::default());
        let (hub, _subs) = hub_with(&[("n", early.clone())]);
        let target = Target {
            info: redis::Client::open("redis://127.0.0.1:1")
                .expect("valid")
                .get_connection_info()
                .clone(),
            runtime: tokio::runtime::Builder::new_current_thread()
                .build()
                .expect("runtime")
                .handle()
                .clone(),
            name: "127.0.0.1:1".into(),
        };
        let err = RedisError::from((RedisKind::RESP3NotSupported, "no"));
        let generation = hub.state.lock().generation;
        hub.refused(generation, &target, &err);
        assert_eq!(early.resets.load(Ordering::Relaxed), 1);
        let late = hub.subscribe("n", "fz:1:n:".into(), Arc::new(Recorder::default()));
        assert_eq!(late.support(), PushSupport::Unsupported);
        assert_eq!(hub.stats().refusals, 1);
    }

    #[test]
    fn refusals_and_transient_errors_are_told_apart() {
        let unknown = RedisError::from((
            RedisKind::Server(ServerErrorKind::ResponseError),
            "unknown command 'HELLO'",
        ));
        assert!(is_refusal(&unknown));
        assert!(is_refusal(&RedisError::from((
            RedisKind::Server(ServerErrorKind::NoPerm),
            "no permissions"
        ))));
        assert!(is_refusal(&RedisError::from((
            RedisKind::RESP3NotSupported,
            "no"
        ))));
        assert!(!is_refusal(&RedisError::from(std::io::Error::from(
            std::io::ErrorKind::ConnectionRefused
        ))));
        assert!(!is_refusal(&RedisError::from((
            RedisKind::Server(ServerErrorKind::BusyLoading),
            "loading"
        ))));
        assert!(!is_refusal(&RedisError::from((
            RedisKind::AuthenticationFailed,
            "wrong"
        ))));
        assert!(!is_refusal(&timed_out()));
    }

    #[test]
    fn logged_errors_never_echo_server_details() {
        let err = RedisError::from((
            RedisKind::Server(ServerErrorKind::ResponseError),
            "unknown command",
            "'HELLO', with args beginning with: '3' 'AUTH' 'default' 'hunter2'".to_owned(),
        ));
        let shown = describe(&err);
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("ERR"), "{shown}");
    }

    #[test]
    fn backoff_grows_to_its_cap_with_jitter() {
        for quick in [false, true] {
            let cap = if quick { BACKOFF_MAX_FAST } else { BACKOFF_MAX };
            for failures in 1..40 {
                let delay = backoff(failures, quick);
                let exp = (failures - 1).min(16);
                let full = BACKOFF_MIN.saturating_mul(1 << exp).min(cap);
                assert!(delay >= full / 2 && delay <= full, "{failures}: {delay:?}");
            }
            assert!(backoff(1, quick) <= BACKOFF_MIN);
            assert!(backoff(30, quick) >= cap / 2);
            assert!(backoff(30, quick) <= cap);
        }
        let distinct: HashSet<Duration> = (0..16).map(|_| backoff(10, false)).collect();
        assert!(distinct.len() > 1, "jitter varies");
    }

    #[test]
    fn restarts_are_retried_quickly_and_other_failures_slowly() {
        let io = |kind| RedisError::from(std::io::Error::from(kind));
        assert!(quick_retry(&io(std::io::ErrorKind::ConnectionRefused)));
        assert!(quick_retry(&io(std::io::ErrorKind::ConnectionReset)));
        assert!(quick_retry(&closed()));
        assert!(quick_retry(&RedisError::from((
            RedisKind::Server(ServerErrorKind::BusyLoading),
            "loading"
        ))));
        assert!(!quick_retry(&timed_out()));
        assert!(!quick_retry(&RedisError::from((
            RedisKind::AuthenticationFailed,
            "wrong"
        ))));
    }

    #[test]
    fn stats_are_copy_and_handles_send_sync() {
        fn assert<T: Send + Sync + 'static>() {}
        assert::<PushTracking>();
        assert::<SubscriptionGuard>();
        let stats = PushTracking::new(Duration::from_secs(1)).stats();
        let copy = stats;
        assert_eq!(copy, stats);
    }
}
