//! Test helpers: the shared test server, unique namespaces, and private `redis-server`s.
//!
//! Tests that kill, pause or reconfigure a server, or count its commands, use a `PrivateRedis`
//! of their own (a `forze_testkit::EphemeralRedis`).
#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use forze_redis::{RedisCache, RedisCacheConfig, RedisClient, RedisConfig};
use forze_testkit::EphemeralRedis;
pub use forze_testkit::RedisOptions;

/// Watchdog for any test step that could hang.
pub const WATCHDOG: Duration = Duration::from_secs(20);

/// The URL of the shared test server, from `FORZE_TEST_REDIS_URL`.
///
/// # Panics
///
/// With instructions, when the variable is unset: these tests need a real Redis.
pub fn redis_url() -> String {
    forze_testkit::test_redis_url()
}

/// A namespace no other test (or test run) uses.
pub fn unique_namespace(test: &str) -> String {
    forze_testkit::unique_namespace(test)
}

/// The documented data key of `key` in `namespace`: `fz:<len>:<namespace>:{<key>}`.
pub fn data_key(namespace: &str, key: &str) -> String {
    format!("fz:{}:{}:{{{}}}", namespace.len(), namespace, key)
}

/// A connected client with the default config.
pub async fn connect(url: &str) -> RedisClient {
    connect_with(url, RedisConfig::default()).await
}

/// A connected client with `config`.
pub async fn connect_with(url: &str, config: RedisConfig) -> RedisClient {
    let client = RedisClient::new(config).expect("valid config");
    tokio::time::timeout(WATCHDOG, client.connect(url))
        .await
        .expect("connect hung")
        .unwrap_or_else(|err| panic!("cannot connect to the test redis: {err} ({err:?})"));
    client
}

/// A cache on the shared test server under a fresh namespace.
pub async fn shared_cache(test: &str) -> (RedisCache, String) {
    let url = redis_url();
    let client = connect(&url).await;
    let namespace = unique_namespace(test);
    let cache = RedisCache::new(
        client,
        RedisCacheConfig::namespace(namespace.clone()).expect("valid namespace"),
    );
    (cache, namespace)
}

/// A plain synchronous redis-rs connection, for setup and inspection.
pub fn raw(url: &str) -> redis::Connection {
    redis::Client::open(url)
        .expect("valid url")
        .get_connection_with_timeout(Duration::from_secs(5))
        .expect("raw connection to the test redis")
}

/// A `redis-server` of this test alone ([`forze_testkit::EphemeralRedis`]): loopback, a free
/// port, no persistence, a temp dir; killed (and its dir removed) on drop. Adds SIGSTOP/SIGCONT
/// and a synchronous admin connection.
pub struct PrivateRedis {
    server: EphemeralRedis,
}

impl PrivateRedis {
    /// Start a server.
    pub fn start() -> Self {
        Self::start_with(RedisOptions::new())
    }

    /// Start a server with a password or extra `redis.conf` lines.
    pub fn start_with(options: RedisOptions) -> Self {
        let server = EphemeralRedis::start_with(options)
            .unwrap_or_else(|err| panic!("cannot start a private redis-server: {err}"));
        PrivateRedis { server }
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.server.port()
    }

    /// `redis://[:<password>@]127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// SIGKILL the server and wait for it.
    pub fn kill(&mut self) {
        self.server.kill().expect("kill the private redis-server");
    }

    /// Start an empty server on the same port (after [`kill`](Self::kill)).
    pub fn restart(&mut self) {
        self.server
            .restart()
            .expect("restart the private redis-server on its port");
    }

    fn signal(&self, sig: &str) {
        let pid = self.server.pid().expect("server running");
        let status = Command::new("kill")
            .args([sig, &pid.to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {sig} {pid} failed");
    }

    /// SIGSTOP the server: connections stay open, nothing answers.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// SIGCONT a paused server.
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    /// A synchronous admin connection.
    pub fn admin(&self) -> redis::Connection {
        raw(&self.url())
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        // A paused server must be resumed to die of SIGKILL promptly (it does, but be safe).
        if let Some(pid) = self.server.pid() {
            let _ = Command::new("kill")
                .args(["-CONT", &pid.to_string()])
                .status();
        }
    }
}

/// `INFO commandstats` as `command -> calls`, leaving out the inspection commands themselves.
pub fn command_calls(admin: &mut redis::Connection) -> BTreeMap<String, u64> {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query(admin)
        .expect("INFO commandstats");
    let mut calls = BTreeMap::new();
    for line in info.lines() {
        let Some(rest) = line.strip_prefix("cmdstat_") else {
            continue;
        };
        let Some((name, stats)) = rest.split_once(':') else {
            continue;
        };
        if name == "info" || name.starts_with("config|") {
            continue;
        }
        let n = stats
            .split(',')
            .find_map(|kv| kv.strip_prefix("calls="))
            .and_then(|v| v.parse().ok())
            .expect("calls=N");
        calls.insert(name.to_owned(), n);
    }
    calls
}

/// `CONFIG RESETSTAT` (private servers only).
pub fn reset_stats(admin: &mut redis::Connection) {
    let _: () = redis::cmd("CONFIG")
        .arg("RESETSTAT")
        .query(admin)
        .expect("CONFIG RESETSTAT");
}

/// Build an expected `command -> calls` map.
pub fn calls(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
}
