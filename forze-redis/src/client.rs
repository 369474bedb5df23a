//! The connection: a multiplexed, self-reconnecting redis-rs connection behind a lock-light handle.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use forze_core::BoxFuture;
use forze_core::runtime::{LifecycleHook, LifecycleStep};
use forze_core::{Error, Result};
use parking_lot::RwLock;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::io::tcp::{TcpSettings, socket2};
use redis::{AsyncConnectionConfig, Cmd, ErrorKind as RedisKind, ServerErrorKind, Value};

use crate::config::RedisConfig;
use crate::error::{self, CallSite, Failure};
use crate::tracking::{PushStats, PushTracking, Target};

/// URL schemes [`RedisClient::connect`] accepts.
#[cfg(not(feature = "tls"))]
const ACCEPTED_URLS: &str = "`redis://[user[:password]@]host[:port][/db]` or \
                             `unix:///path/to/redis.sock[?db=N&user=U&pass=P]`";
/// URL schemes [`RedisClient::connect`] accepts.
#[cfg(feature = "tls")]
const ACCEPTED_URLS: &str = "`redis://[user[:password]@]host[:port][/db]`, \
                             `rediss://[user[:password]@]host[:port][/db]` (TLS) or \
                             `unix:///path/to/redis.sock[?db=N&user=U&pass=P]`";

/// Retries per reconnect (after its first, immediate attempt), and their backoff: exponential
/// from [`RECONNECT_MIN_DELAY`], capped at [`RECONNECT_MAX_DELAY`], plus up to as much again of
/// jitter (redis-rs adds it after the cap). So a reconnect tries at about 0, 10–20 and 30–70 ms
/// and then gives up, well within the default response timeout. Reconnects are driven by
/// calls: a call that finds the connection gone, or the last reconnect given up, starts a new
/// one and waits for it (see `RedisClient::run`). Hence the first call after a restarted server
/// accepts connections again succeeds; there is no retry loop running in the background while
/// the server is away, and no backoff to sit out once it is back. While the server is away,
/// each call costs at most one connection attempt (concurrent calls share it); the
/// coordinator's circuit breaker bounds how many calls come.
const RECONNECT_RETRIES: usize = 2;
const RECONNECT_MIN_DELAY: Duration = Duration::from_millis(10);
const RECONNECT_MAX_DELAY: Duration = Duration::from_millis(25);
/// The growth factor of the reconnect backoff.
const RECONNECT_FACTOR: f32 = 2.0;

/// Idle time before the first keepalive probe, the probe interval, and the probes sent.
const TCP_KEEPALIVE_TIME: Duration = Duration::from_secs(15);
const TCP_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(5);
#[cfg(any(target_os = "android", target_os = "fuchsia", target_os = "linux"))]
const TCP_KEEPALIVE_RETRIES: u32 = 3;
/// How long sent data may stay unacknowledged before the kernel drops the connection (Linux).
#[cfg(any(target_os = "android", target_os = "fuchsia", target_os = "linux"))]
const TCP_USER_TIMEOUT: Duration = Duration::from_secs(20);

/// A handle to one Redis server, shared by every [`RedisCache`](crate::RedisCache) built on it.
///
/// Cheap to clone. It holds one multiplexed connection (all concurrent calls are pipelined on
/// it) that is replaced after the server went away: the first call that finds it gone starts a
/// reconnect and, within its response timeout, runs again on the new connection, so the first
/// call after a restarted server accepts connections succeeds (see the
/// [crate docs](crate#recovery-after-a-restart)). A new client is not connected: the
/// lifecycle step [`redis_lifecycle_step`] connects it at startup (or call
/// [`connect`](Self::connect)) and drops the connection at shutdown.
///
/// Every call is bounded by [`RedisConfig::response_timeout`], including any wait for a
/// reconnect, and fails with [`ErrorKind::Unavailable`](forze_core::ErrorKind::Unavailable)
/// when the server is down, paused or slow. Neither errors nor `Debug` output contain the URL's
/// credentials.
///
/// Uses redis-rs (`redis::aio::ConnectionManager`) with RESP2 for data calls (push invalidation
/// has its own RESP3 connection, see
/// [`RedisCacheConfig::invalidation_push`](crate::RedisCacheConfig::invalidation_push)), and
/// needs a Tokio runtime with the time driver enabled (`#[tokio::main]` enables it). TCP
/// connections use `TCP_NODELAY`, keepalive probes and (on Linux) `TCP_USER_TIMEOUT`, so a
/// server that vanished without closing the socket is noticed and the connection replaced.
///
/// TLS (`rediss://`) needs the `tls` feature (see the [crate docs](crate#tls)); it covers the
/// data and the push-tracking connection. Redis Cluster is not supported yet.
///
/// # Examples
///
/// ```no_run
/// use forze_redis::{RedisClient, RedisConfig};
///
/// # async fn example() -> forze_core::Result<()> {
/// let client = RedisClient::new(RedisConfig::default())?;
/// client.connect("redis://:secret@127.0.0.1:6379/0").await?;
/// // ... build caches with `RedisCache::new` or `RedisDepsModule` ...
/// client.close();
/// # Ok(())
/// # }
/// # let _ = example;
/// ```
#[derive(Clone)]
pub struct RedisClient {
    inner: Arc<Inner>,
}

struct Inner {
    config: RedisConfig,
    state: RwLock<State>,
    push: Arc<PushTracking>,
    /// The token the server's epoch key held when last read (`0`: not read yet).
    epoch: AtomicU64,
}

/// The key holding the server's epoch token (outside every namespace's key prefix, so push
/// invalidation does not track it).
pub(crate) const EPOCH_KEY: &str = "fz:epoch";

/// How long the epoch key lives. When it expires (or is evicted), the next fill is refused
/// and a new token adopted: a few misses, once a day.
const EPOCH_LIFETIME_MS: u64 = 24 * 60 * 60 * 1000;

enum State {
    Idle,
    Connected(Live),
    Closed,
}

/// A connected client: the connection and the server it goes to.
#[derive(Clone)]
pub(crate) struct Live {
    pub(crate) conn: ConnectionManager,
    pub(crate) target: Arc<str>,
}

/// A parsed URL: the redis-rs client and what may be shown of it.
struct Parsed {
    client: redis::Client,
    target: String,
    user: Option<String>,
    has_password: bool,
    /// `rediss://`: the connection is TLS.
    tls: bool,
}

impl RedisClient {
    /// A client with `config`, not connected yet.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`](forze_core::ErrorKind::Config) if a timeout is zero.
    pub fn new(config: RedisConfig) -> Result<Self> {
        config.validate()?;
        Ok(RedisClient {
            inner: Arc::new(Inner {
                push: Arc::new(PushTracking::new(config.connect_timeout())),
                config,
                state: RwLock::new(State::Idle),
                epoch: AtomicU64::new(0),
            }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &RedisConfig {
        &self.inner.config
    }

    /// The server this client is connected to (`host:port` or a socket path), if connected.
    pub fn target(&self) -> Option<String> {
        match &*self.inner.state.read() {
            State::Connected(live) => Some(live.target.to_string()),
            State::Idle | State::Closed => None,
        }
    }

    /// Connect to `dsn`, check the server with `PING` and load the cache scripts.
    ///
    /// Accepted URLs: `redis://[user[:password]@]host[:port][/db]` (also `valkey://`),
    /// `unix:///path/to/redis.sock[?db=N&user=U&pass=P]` (also `redis+unix://`) and, with the
    /// `tls` feature, `rediss://[user[:password]@]host[:port][/db]` (also `valkeys://`; see the
    /// [crate docs](crate#tls)). A client that was connected (or closed) before is reconnected
    /// to `dsn`.
    ///
    /// # Errors
    ///
    /// * [`ErrorKind::Config`](forze_core::ErrorKind::Config): the URL does not parse, uses TLS
    ///   (`rediss://`) without the `tls` feature, the server rejected the credentials or
    ///   scripting, or the TLS handshake failed (an untrusted or mismatched server certificate,
    ///   or a server that does not speak TLS on that port: retrying does not cure these).
    /// * [`ErrorKind::Unavailable`](forze_core::ErrorKind::Unavailable): the server is
    ///   unreachable or did not answer within the connect timeout.
    ///
    /// The messages name the server (`host:port`), never the password.
    ///
    /// When a cache of this client has
    /// [`invalidation_push`](crate::RedisCacheConfig::invalidation_push) on, connecting also
    /// (re)starts push invalidation, or probes whether the server accepts it (one extra short
    /// connection, bounded by twice the connect timeout; a refusal is logged, never an error).
    pub async fn connect(&self, dsn: &str) -> Result<()> {
        let parsed = parse_dsn(dsn, &self.inner.config)?;
        let Parsed {
            client,
            target,
            user,
            has_password,
            tls,
        } = parsed;
        let connect_timeout = self.inner.config.connect_timeout();
        let tracking_info = client.get_connection_info().clone();
        // Connect + handshake, then one command: each bounded by the connect timeout.
        let budget = connect_timeout.saturating_mul(2);
        let fail = |failure| {
            let endpoint = error::Endpoint {
                target: &target,
                user: user.as_deref(),
                has_password,
                tls,
            };
            error::connect_error(endpoint, failure)
        };

        // One direct attempt first, so a wrong password or a dead server is reported at once
        // instead of after the reconnect backoff of the connection manager.
        let probe = async {
            let config = AsyncConnectionConfig::new()
                .set_connection_timeout(Some(connect_timeout))
                .set_response_timeout(Some(connect_timeout));
            let mut conn = client
                .get_multiplexed_async_connection_with_config(&config)
                .await?;
            redis::cmd("PING").query_async::<Value>(&mut conn).await
        };
        let pong = tokio::time::timeout(budget, probe)
            .await
            .map_err(|_| fail(Failure::Timeout(budget)))?
            .map_err(|err| fail(Failure::Redis(err)))?;
        if !is_pong(&pong) {
            return Err(fail(Failure::Reply("`PING` did not return `PONG`")));
        }

        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(connect_timeout))
            // Calls are bounded by our own timeout, which also covers waiting for a reconnect.
            .set_response_timeout(None)
            .set_number_of_retries(RECONNECT_RETRIES)
            .set_exponent_base(RECONNECT_FACTOR)
            .set_min_delay(RECONNECT_MIN_DELAY)
            .set_max_delay(RECONNECT_MAX_DELAY);
        let mut conn = tokio::time::timeout(
            budget,
            ConnectionManager::new_with_config(client, manager_config),
        )
        .await
        .map_err(|_| fail(Failure::Timeout(budget)))?
        .map_err(|err| fail(Failure::Redis(err)))?;

        for script in crate::script::SCRIPTS.all() {
            let loaded = tokio::time::timeout(budget, script.load_async(&mut conn))
                .await
                .map_err(|_| fail(Failure::Timeout(budget)))?;
            if let Err(err) = loaded {
                return Err(
                    script_load_error(&target, err).unwrap_or_else(|err| fail(Failure::Redis(err)))
                );
            }
        }

        let target: Arc<str> = target.into();
        let live = Live {
            conn,
            target: Arc::clone(&target),
        };
        let previous = std::mem::replace(&mut *self.inner.state.write(), State::Connected(live));
        drop(previous);
        // A new server (or the same one, maybe restarted): fills of values read before now
        // carry the old token and are refused.
        self.inner.epoch.store(0, Ordering::SeqCst);
        if let Err(err) = tokio::time::timeout(budget, self.adopt_epoch()).await {
            tracing::warn!(server = %target, error = %err, "redis epoch not read at connect; the first fills are refused until it is");
        }
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                let tracking = Target::new(&tracking_info, runtime, target);
                self.inner.push.on_connect(tracking).await;
            }
            Err(_) => tracing::warn!(
                server = %target,
                "redis client connected outside a Tokio runtime; push invalidation is off"
            ),
        }
        Ok(())
    }

    /// Drop the connection. Later calls fail with
    /// [`ErrorKind::Unavailable`](forze_core::ErrorKind::Unavailable) until
    /// [`connect`](Self::connect) is called again. Calls in flight finish or time out.
    ///
    /// Also stops push invalidation: the tracking connection is closed and every
    /// [`InvalidationSink`](forze_core::cache::InvalidationSink) gets a `reset`.
    pub fn close(&self) {
        let previous = std::mem::replace(&mut *self.inner.state.write(), State::Closed);
        drop(previous);
        self.inner.push.on_close();
    }

    /// Counters of push invalidation on this client (see
    /// [`RedisCacheConfig::invalidation_push`](crate::RedisCacheConfig::invalidation_push)).
    ///
    /// # Examples
    ///
    /// ```
    /// use forze_redis::{RedisClient, RedisConfig};
    ///
    /// let client = RedisClient::new(RedisConfig::default())?;
    /// assert_eq!(client.push_stats().subscriptions, 0);
    /// # Ok::<(), forze_core::Error>(())
    /// ```
    pub fn push_stats(&self) -> PushStats {
        self.inner.push.stats()
    }

    /// The push-invalidation hub of this client.
    pub(crate) fn push_tracking(&self) -> &Arc<PushTracking> {
        &self.inner.push
    }

    /// The server's epoch token as last read: it changes when the server may have lost its keys
    /// (a restart, a flush; see [`Cache::generation`](forze_core::cache::Cache::generation)).
    pub(crate) fn generation(&self) -> u64 {
        self.inner.epoch.load(Ordering::SeqCst)
    }

    /// Read the server's epoch token, setting a fresh one if the key is gone (a restart, a
    /// flush, its lifetime over), and adopt it. Failures are logged: the next refused fill
    /// tries again.
    pub(crate) async fn adopt_epoch(&self) {
        let script = &crate::script::SCRIPTS.epoch;
        let fresh: u64 = rand::random::<u64>().max(1);
        let mut cmd = Cmd::new();
        cmd.arg("EVALSHA")
            .arg(script.get_hash())
            .arg(1)
            .arg(EPOCH_KEY)
            .arg(fresh)
            .arg(EPOCH_LIFETIME_MS);
        match self.eval("forze", "epoch", script, &cmd).await {
            Ok(Value::BulkString(bytes)) => {
                match std::str::from_utf8(&bytes)
                    .ok()
                    .and_then(|t| t.parse::<u64>().ok())
                {
                    Some(token) => {
                        let old = self.inner.epoch.swap(token, Ordering::SeqCst);
                        if old != 0 && old != token {
                            tracing::info!(
                                "redis epoch changed (the server restarted or was flushed); fills of values read before are refused"
                            );
                        }
                    }
                    None => tracing::warn!(
                        key = EPOCH_KEY,
                        "redis epoch key holds something forze did not write; fills are refused until it expires"
                    ),
                }
            }
            Ok(_) => tracing::warn!(
                key = EPOCH_KEY,
                "redis epoch script answered an unexpected shape"
            ),
            Err(err) => tracing::debug!(error = %err, "redis epoch not read"),
        }
    }

    /// The live connection, or why there is none.
    fn live(&self) -> std::result::Result<Live, Failure> {
        match &*self.inner.state.read() {
            State::Connected(live) => Ok(live.clone()),
            State::Idle => Err(Failure::NotConnected),
            State::Closed => Err(Failure::Closed),
        }
    }

    /// Send one command, bounded by the response timeout.
    pub(crate) async fn query(
        &self,
        namespace: &str,
        op: &'static str,
        cmd: &Cmd,
    ) -> Result<Value> {
        self.run(namespace, op, |mut conn| async move {
            cmd.query_async::<Value>(&mut conn).await
        })
        .await
    }

    /// Run a script with `EVALSHA` (`cmd`), loading it on `NOSCRIPT` and retrying once, all
    /// within one response timeout.
    pub(crate) async fn eval(
        &self,
        namespace: &str,
        op: &'static str,
        script: &redis::Script,
        cmd: &Cmd,
    ) -> Result<Value> {
        self.run(namespace, op, |mut conn| async move {
            match cmd.query_async::<Value>(&mut conn).await {
                Err(err) if err.kind() == RedisKind::Server(ServerErrorKind::NoScript) => {
                    tracing::debug!(op, "redis script missing (NOSCRIPT), loading it again");
                    script.load_async(&mut conn).await?;
                    cmd.query_async::<Value>(&mut conn).await
                }
                other => other,
            }
        })
        .await
    }

    /// Run `f` on the live connection, bounded by the response timeout, mapping failures.
    ///
    /// When `f` fails because the connection is gone (the server restarted, or the connection
    /// manager's last reconnect gave up while the server was down), the connection manager has
    /// just started a reconnect: `f` runs once more on it, within the same response timeout, so
    /// the first call after a restart succeeds instead of failing and leaving the next call to
    /// succeed. Every operation of this crate may run twice: reads trivially, and the scripts
    /// are idempotent (a fill that landed on the first try reports `false` on the second, the
    /// only visible difference; invalidations take the maximum rev, evictions repeat).
    pub(crate) async fn run<'a, F, Fut>(
        &self,
        namespace: &str,
        op: &'static str,
        f: F,
    ) -> Result<Value>
    where
        F: Fn(ConnectionManager) -> Fut,
        Fut: Future<Output = redis::RedisResult<Value>> + 'a,
    {
        let live = match self.live() {
            Ok(live) => live,
            Err(failure) => {
                let site = CallSite {
                    namespace,
                    op,
                    target: "redis",
                };
                return Err(error::call_error(site, failure));
            }
        };
        let timeout = self.inner.config.response_timeout();
        let attempts = async {
            match f(live.conn.clone()).await {
                Err(err) if connection_lost(&err) => {
                    tracing::debug!(
                        namespace,
                        op,
                        error = %err,
                        "redis connection lost; retrying once on the reconnected connection"
                    );
                    let retried = f(live.conn).await;
                    if retried.is_ok() {
                        // The server is back: so may the push-invalidation stream be, now.
                        self.inner.push.nudge();
                    }
                    retried
                }
                other => other,
            }
        };
        let outcome = tokio::time::timeout(timeout, attempts).await;
        let failure = match outcome {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(err)) => Failure::Redis(err),
            Err(_) => Failure::Timeout(timeout),
        };
        let site = CallSite {
            namespace,
            op,
            target: &live.target,
        };
        Err(error::call_error(site, failure))
    }
}

impl fmt::Debug for RedisClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (state, target) = match &*self.inner.state.read() {
            State::Idle => ("not connected", None),
            State::Connected(live) => ("connected", Some(live.target.clone())),
            State::Closed => ("closed", None),
        };
        f.debug_struct("RedisClient")
            .field("state", &state)
            .field("target", &target)
            .field("config", &self.inner.config)
            .finish()
    }
}

/// Whether `err` says the connection is gone (dropped, refused, or a reconnect that gave up), so
/// that the connection manager replaces it: anything of the I/O kind except a timeout (a
/// timeout says the server is slow, and the response budget is spent).
fn connection_lost(err: &redis::RedisError) -> bool {
    err.is_io_error() && !err.is_timeout()
}

fn is_pong(value: &Value) -> bool {
    match value {
        Value::SimpleString(s) => s == "PONG",
        Value::BulkString(b) => b == b"PONG",
        _ => false,
    }
}

/// A clear error when the server refuses scripting (ACL or a managed service); `Err(err)` back
/// for the generic mapping otherwise.
fn script_load_error(
    target: &str,
    err: redis::RedisError,
) -> std::result::Result<Error, redis::RedisError> {
    if err.code() == Some("NOPERM") {
        return Ok(Error::config(format!(
            "redis at {target} refused `SCRIPT LOAD`; forze-redis needs `SCRIPT LOAD`, `EVALSHA`, \
             `GET` and `MGET` on its keys"
        ))
        .with_source(err));
    }
    Err(err)
}

/// TCP settings: no Nagle delay (one small request per call), and keepalive probes plus a user
/// timeout so a peer that vanished without closing the socket (host down, network partition) is
/// detected and the connection replaced, instead of every call timing out forever.
fn tcp_settings() -> TcpSettings {
    let keepalive = socket2::TcpKeepalive::new()
        .with_time(TCP_KEEPALIVE_TIME)
        .with_interval(TCP_KEEPALIVE_INTERVAL);
    #[cfg(any(target_os = "android", target_os = "fuchsia", target_os = "linux"))]
    let keepalive = keepalive.with_retries(TCP_KEEPALIVE_RETRIES);
    let settings = TcpSettings::default()
        .set_nodelay(true)
        .set_keepalive(keepalive);
    #[cfg(any(target_os = "android", target_os = "fuchsia", target_os = "linux"))]
    let settings = settings.set_user_timeout(TCP_USER_TIMEOUT);
    settings
}

/// Parse a URL without ever echoing it (it may hold a password), with the TLS settings of
/// `config` for `rediss://`.
fn parse_dsn(dsn: &str, config: &RedisConfig) -> Result<Parsed> {
    let scheme = dsn.split_once("://").map(|(scheme, _)| scheme);
    match scheme {
        Some("redis" | "valkey" | "unix" | "redis+unix" | "valkey+unix") => {}
        #[cfg(feature = "tls")]
        Some("rediss" | "valkeys") => {}
        #[cfg(not(feature = "tls"))]
        Some("rediss" | "valkeys") => {
            return Err(Error::config(format!(
                "redis url uses TLS (`rediss://`), which needs the `tls` feature: enable the \
                 `tls` feature of forze-redis (`forze-redis = {{ version = \"…\", features = \
                 [\"tls\"] }}`); without it, expected {ACCEPTED_URLS}"
            )));
        }
        Some(other)
            if !other.is_empty()
                && other
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')) =>
        {
            return Err(Error::config(format!(
                "unsupported redis url scheme `{other}://`; expected {ACCEPTED_URLS}"
            )));
        }
        _ => {
            return Err(Error::config(format!(
                "invalid redis url (not shown, it may contain a password); expected {ACCEPTED_URLS}"
            )));
        }
    }
    let invalid = |err| {
        Error::config(format!(
            "invalid redis url (not shown, it may contain a password); expected {ACCEPTED_URLS}"
        ))
        .with_source(err)
    };
    let client = redis::Client::open(dsn).map_err(invalid)?;
    let info = client
        .get_connection_info()
        .clone()
        .set_tcp_settings(tcp_settings());
    let tls = matches!(info.addr(), redis::ConnectionAddr::TcpTls { .. });
    #[cfg(not(feature = "tls"))]
    let _ = config;
    #[cfg(not(feature = "tls"))]
    let client = redis::Client::open(info).map_err(invalid)?;
    #[cfg(feature = "tls")]
    let client = tls::client(info, config)?;
    let info = client.get_connection_info();
    let target = info.addr().to_string();
    let user = info.redis_settings().username().map(str::to_owned);
    let has_password = info.redis_settings().password().is_some();
    Ok(Parsed {
        client,
        target,
        user,
        has_password,
        tls,
    })
}

/// `rediss://`: certificates, the crypto provider, `#insecure`.
#[cfg(feature = "tls")]
mod tls {
    use forze_core::{Error, Result};
    use redis::{ConnectionAddr, ConnectionInfo, TlsCertificates};

    use crate::config::RedisConfig;

    /// The redis-rs client for `info`: with the configured CA for `rediss://`, refusing a CA
    /// without TLS and `#insecure` without the `tls-insecure` feature.
    pub(super) fn client(info: ConnectionInfo, config: &RedisConfig) -> Result<redis::Client> {
        let target = info.addr().to_string();
        let insecure = match info.addr() {
            ConnectionAddr::TcpTls { insecure, .. } => *insecure,
            _ if config.has_tls_ca() => {
                return Err(Error::config(format!(
                    "a TLS CA certificate is configured (`RedisConfig::with_tls_ca_file` or \
                     `with_tls_ca_pem`) but the url for {target} is not `rediss://`; use \
                     `rediss://[user[:password]@]host[:port][/db]` or drop the CA"
                )));
            }
            _ => return open(info),
        };
        if insecure {
            insecure_allowed(&target)?;
            if config.has_tls_ca() {
                return Err(Error::config(format!(
                    "the redis url for {target} has `#insecure` (no certificate verification) \
                     and a TLS CA certificate is configured; drop one of them"
                )));
            }
        }
        install_crypto_provider();
        match config.tls_ca_pem()? {
            None => open(info),
            Some(pem) => {
                let certificates = TlsCertificates {
                    client_tls: None,
                    root_cert: Some(pem),
                };
                redis::Client::build_with_tls(info, certificates).map_err(|err| {
                    Error::config(format!(
                        "cannot use the configured TLS CA certificate for redis at {target}"
                    ))
                    .with_source(err)
                })
            }
        }
    }

    fn open(info: ConnectionInfo) -> Result<redis::Client> {
        redis::Client::open(info).map_err(|err| {
            Error::config("invalid redis connection settings (url not shown)").with_source(err)
        })
    }

    #[cfg(feature = "tls-insecure")]
    fn insecure_allowed(target: &str) -> Result<()> {
        tracing::warn!(
            server = %target,
            "redis url has `#insecure`: TLS without certificate verification (development only)"
        );
        Ok(())
    }

    #[cfg(not(feature = "tls-insecure"))]
    fn insecure_allowed(target: &str) -> Result<()> {
        Err(Error::config(format!(
            "the redis url for {target} has `#insecure`, which turns off TLS certificate \
             verification and needs the `tls-insecure` feature of forze-redis (development \
             only); to trust a private CA, use `RedisConfig::with_tls_ca_file` instead"
        )))
    }

    /// rustls needs a process-wide crypto provider; its automatic choice fails when the binary
    /// enables more than one (say `ring` here and `aws-lc-rs` elsewhere). Install `ring` if the
    /// application installed none, so a connect never panics; an installed one is kept.
    fn install_crypto_provider() {
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            // Losing a race with another installer is fine: a provider is installed either way.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
    }
}

/// The startup and shutdown step of a [`RedisClient`]: connect to `dsn` (with `PING` and script
/// loading) at startup, drop the connection at shutdown.
///
/// A wrong password fails startup with [`ErrorKind::Config`](forze_core::ErrorKind::Config), an
/// unreachable server with [`ErrorKind::Unavailable`](forze_core::ErrorKind::Unavailable); both
/// name the server's `host:port` and never the password.
///
/// # Examples
///
/// ```no_run
/// use forze_redis::{redis_lifecycle_step, RedisClient, RedisConfig};
///
/// # fn example() -> forze_core::Result<()> {
/// let client = RedisClient::new(RedisConfig::default())?;
/// let step = redis_lifecycle_step(client, "redis://127.0.0.1:6379");
/// assert_eq!(step.name(), "redis");
/// # Ok(())
/// # }
/// # let _ = example;
/// ```
pub fn redis_lifecycle_step(client: RedisClient, dsn: impl Into<String>) -> LifecycleStep {
    LifecycleStep::new("redis", RedisLifecycleHook::new(client, dsn))
}

/// The [`LifecycleHook`] behind [`redis_lifecycle_step`]: [`RedisClient::connect`] at startup,
/// [`RedisClient::close`] at shutdown. Its `Debug` output hides the URL's credentials.
///
/// # Examples
///
/// ```no_run
/// use forze_core::runtime::LifecycleHook;
/// use forze_redis::{RedisClient, RedisConfig, RedisLifecycleHook};
///
/// # async fn example() -> forze_core::Result<()> {
/// let client = RedisClient::new(RedisConfig::default())?;
/// let hook = RedisLifecycleHook::new(client, "redis://127.0.0.1:6379");
/// hook.startup().await?;
/// hook.shutdown().await?;
/// # Ok(())
/// # }
/// # let _ = example;
/// ```
pub struct RedisLifecycleHook {
    client: RedisClient,
    dsn: String,
}

impl RedisLifecycleHook {
    /// A hook connecting `client` to `dsn`.
    pub fn new(client: RedisClient, dsn: impl Into<String>) -> Self {
        RedisLifecycleHook {
            client,
            dsn: dsn.into(),
        }
    }
}

impl LifecycleHook for RedisLifecycleHook {
    fn startup(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(self.client.connect(&self.dsn))
    }

    fn shutdown(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            self.client.close();
            Ok(())
        })
    }
}

impl fmt::Debug for RedisLifecycleHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisLifecycleHook")
            .field("client", &self.client)
            .field("dsn", &redact_dsn(&self.dsn))
            .finish()
    }
}

/// The URL with any `user:password@` replaced by `***@`, and any query string dropped.
fn redact_dsn(dsn: &str) -> String {
    let Some((scheme, rest)) = dsn.split_once("://") else {
        return "<invalid url>".to_owned();
    };
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    match authority.rfind('@') {
        Some(at) => format!("{scheme}://***@{}{path}", &authority[at + 1..]),
        None => format!("{scheme}://{authority}{path}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use forze_core::ErrorKind;

    #[test]
    fn handles_are_send_sync() {
        fn assert<T: Send + Sync + Clone + 'static>() {}
        assert::<RedisClient>();
    }

    #[test]
    fn urls_are_checked_without_echoing_them() {
        let config = RedisConfig::default();
        let parsed = parse_dsn("redis://app:hunter2@127.0.0.1:6390/2", &config).expect("valid");
        assert_eq!(parsed.target, "127.0.0.1:6390");
        assert_eq!(parsed.user.as_deref(), Some("app"));
        let tcp = parsed.client.get_connection_info().tcp_settings();
        assert!(tcp.nodelay(), "no Nagle delay");
        assert!(tcp.keepalive().is_some(), "keepalive probes");
        #[cfg(target_os = "linux")]
        assert_eq!(tcp.user_timeout(), Some(TCP_USER_TIMEOUT));
        let parsed = parse_dsn("unix:///tmp/redis.sock?pass=hunter2", &config).expect("valid");
        assert_eq!(parsed.target, "/tmp/redis.sock");

        for (dsn, needle) in [
            #[cfg(not(feature = "tls"))]
            (
                "rediss://:hunter2@example.com:6380",
                "enable the `tls` feature of forze-redis",
            ),
            (
                "http://:hunter2@example.com",
                "unsupported redis url scheme `http://`",
            ),
            ("hunter2", "invalid redis url"),
            (
                "redis://:hunter2@127.0.0.1:6379/notadb",
                "invalid redis url",
            ),
            ("redis://:hunter2@127.0.0.1:99999", "invalid redis url"),
        ] {
            let err = parse_dsn(dsn, &config).err().expect(dsn);
            assert_eq!(err.kind(), ErrorKind::Config, "{dsn}");
            assert!(err.message().contains(needle), "{dsn}: {err}");
            let everything = format!("{err} {err:?}");
            assert!(!everything.contains("hunter2"), "{dsn}: {everything}");
            assert!(
                err.message().contains("redis://[user[:password]@]host"),
                "{err}"
            );
        }
    }

    #[cfg(feature = "tls")]
    #[test]
    fn rediss_urls_parse_with_the_tls_feature() {
        let config = RedisConfig::default();
        let parsed =
            parse_dsn("rediss://app:hunter2@redis.example.com:6380/1", &config).expect("valid");
        assert!(parsed.tls);
        assert_eq!(parsed.target, "redis.example.com:6380");
        assert_eq!(parsed.user.as_deref(), Some("app"));
        assert!(parsed.has_password);
        assert!(parsed.client.get_connection_info().tcp_settings().nodelay());
        assert!(!parse_dsn("redis://127.0.0.1", &config).expect("valid").tls);

        // A CA is only accepted with TLS, and must hold a certificate.
        let with_ca = RedisConfig::default().with_tls_ca_pem(b"no pem here".to_vec());
        let err = parse_dsn("rediss://:hunter2@127.0.0.1:6380", &with_ca)
            .err()
            .expect("bad pem");
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(err.message().contains("holds no certificate"), "{err}");
        let err = parse_dsn("redis://:hunter2@127.0.0.1:6380", &with_ca)
            .err()
            .expect("ca without tls");
        assert!(err.message().contains("is not `rediss://`"), "{err}");
        assert!(!format!("{err:?}").contains("hunter2"));
    }

    #[cfg(all(feature = "tls", not(feature = "tls-insecure")))]
    #[test]
    fn insecure_needs_its_own_feature() {
        let err = parse_dsn(
            "rediss://:hunter2@127.0.0.1:6380/#insecure",
            &RedisConfig::default(),
        )
        .err()
        .expect("insecure");
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(err.message().contains("`tls-insecure` feature"), "{err}");
    }

    #[test]
    fn redaction_hides_credentials() {
        assert_eq!(
            redact_dsn("redis://app:hunter2@127.0.0.1:6379/0"),
            "redis://***@127.0.0.1:6379/0"
        );
        assert_eq!(
            redact_dsn("redis://:p@ss@host/1?protocol=3"),
            "redis://***@host/1"
        );
        assert_eq!(
            redact_dsn("unix:///tmp/s.sock?pass=hunter2"),
            "unix:///tmp/s.sock"
        );
        assert_eq!(redact_dsn("hunter2"), "<invalid url>");
        let hook = RedisLifecycleHook {
            client: RedisClient::new(RedisConfig::default()).expect("valid"),
            dsn: "redis://app:hunter2@127.0.0.1:6379".into(),
        };
        let shown = format!("{hook:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("127.0.0.1:6379"), "{shown}");
    }

    #[tokio::test]
    async fn calls_before_connect_are_wiring_errors() {
        let client = RedisClient::new(RedisConfig::default()).expect("valid");
        let err = client
            .query("ns", "get", &redis::cmd("PING"))
            .await
            .expect_err("not connected");
        assert_eq!(err.kind(), ErrorKind::Config);
        client.close();
        let err = client
            .query("ns", "get", &redis::cmd("PING"))
            .await
            .expect_err("closed");
        assert_eq!(err.kind(), ErrorKind::Unavailable);
    }
}
