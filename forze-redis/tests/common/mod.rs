//! Test helpers: the shared test server, unique namespaces, and private `redis-server`s.
//!
//! `PrivateRedis` is a stand-in for `forze_testkit::EphemeralRedis` until that lands; tests that
//! kill, pause or reconfigure a server, or count its commands, use one of their own.
#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use forze_redis::{RedisCache, RedisCacheConfig, RedisClient, RedisConfig};

/// Watchdog for any test step that could hang.
pub const WATCHDOG: Duration = Duration::from_secs(20);

/// The URL of the shared test server, from `FORZE_TEST_REDIS_URL`.
///
/// # Panics
///
/// With instructions, when the variable is unset: these tests need a real Redis.
pub fn redis_url() -> String {
    match std::env::var("FORZE_TEST_REDIS_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "FORZE_TEST_REDIS_URL is not set: this test needs a real Redis 6+ server. \
             Start one (e.g. `redis-server --port 6379`) and run \
             `FORZE_TEST_REDIS_URL=redis://127.0.0.1:6379 cargo test -p forze-redis`, or use \
             `just test`, which starts an ephemeral server. Tests only touch keys under their \
             own unique namespace and never flush or reconfigure the server."
        ),
    }
}

/// A namespace no other test (or test run) uses.
pub fn unique_namespace(test: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!(
        "forze-test:{test}:{}:{nanos}:{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
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

/// A `redis-server` of this test alone: loopback, a free port, no persistence, a temp dir;
/// killed (and its dir removed) on drop.
pub struct PrivateRedis {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
    extra: Vec<String>,
}

impl PrivateRedis {
    /// Start a server.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Start a server with extra `redis-server` arguments (e.g. `["--requirepass", "pw"]`).
    pub fn start_with(extra: &[&str]) -> Self {
        let extra: Vec<String> = extra.iter().map(|s| (*s).to_owned()).collect();
        for _ in 0..5 {
            let port = free_port();
            let dir = std::env::temp_dir()
                .join(format!("forze-redis-test-{}-{port}", std::process::id()));
            std::fs::create_dir_all(&dir).expect("temp dir");
            let mut server = PrivateRedis {
                child: None,
                port,
                dir,
                extra: extra.clone(),
            };
            if server.spawn() {
                return server;
            }
        }
        panic!("could not start a private redis-server on a free loopback port");
    }

    fn spawn(&mut self) -> bool {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let mut child = match child {
            Ok(child) => child,
            Err(err) => panic!(
                "cannot run `redis-server` ({err}): tests that need a private Redis start one \
                 from the local binary; install it (e.g. `apt-get install redis-server`)"
            ),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return false; // the port was taken: try another
            }
            if answers_ping(self.port) {
                self.child = Some(child);
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        false
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// SIGKILL the server and wait for it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Start the server again on the same port (after [`kill`](Self::kill)).
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "kill the server before restarting it");
        for _ in 0..50 {
            if self.spawn() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "could not restart the private redis-server on port {}",
            self.port
        );
    }

    fn signal(&self, sig: &str) {
        let pid = self.child.as_ref().expect("server running").id();
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

    /// A synchronous admin connection (only for servers without `requirepass`).
    pub fn admin(&self) -> redis::Connection {
        raw(&self.url())
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        if let Some(child) = &self.child {
            let _ = Command::new("kill")
                .args(["-CONT", &child.id().to_string()])
                .status();
        }
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn answers_ping(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    if stream.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 64];
    // `+PONG`, or `-NOAUTH` with requirepass: either way the server is up.
    matches!(stream.read(&mut buf), Ok(n) if n > 0)
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
