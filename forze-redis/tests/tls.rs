//! `rediss://` (feature `tls`) against private TLS-only `redis-server`s whose certificate comes
//! from a throwaway CA (`forze_testkit::RedisOptions::tls`): connect, a fill/get round trip,
//! push invalidation over TLS, and clear startup errors for an untrusted certificate, a plaintext
//! server, and TLS settings that contradict the URL. The servers listen for TLS only (`port 0`),
//! so every successful call went over TLS.
//!
//! Needs `redis-server` with TLS support (Debian's has it) and the `openssl` command; a missing
//! one fails the test with instructions.
#![cfg(feature = "tls")]

mod common;

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{RedisOptions, WATCHDOG, unique_namespace};
use forze_core::cache::{Cache, CacheFill, Invalidation, InvalidationSink, PushSupport};
use forze_core::{Error, ErrorKind};
use forze_redis::{RedisCache, RedisCacheConfig, RedisClient, RedisConfig, RedisLifecycleHook};
use forze_testkit::EphemeralRedis;
use tokio::sync::Notify;

const PASSWORD: &str = "tls-hunter2";
const TTL: Duration = Duration::from_secs(60);

/// A TLS-only private server requiring [`PASSWORD`] for the default user and user `app`.
fn tls_server() -> EphemeralRedis {
    let options = RedisOptions::new()
        .tls()
        .password(PASSWORD)
        .config_line(format!("user app on >{PASSWORD} ~* &* +@all"));
    EphemeralRedis::start_with(options).unwrap_or_else(|err| {
        panic!(
            "cannot start a private TLS redis-server: {err}\n(needs `redis-server` built with \
             TLS, e.g. Debian's `apt-get install redis-server`, and `openssl`)"
        )
    })
}

fn ca_path(server: &EphemeralRedis) -> std::path::PathBuf {
    server.tls_ca_path().expect("a TLS server has a CA")
}

fn tls_url(server: &EphemeralRedis) -> String {
    server.tls_url().expect("a TLS server has a rediss url")
}

/// Connect under the watchdog; the connect's own result.
async fn try_connect(config: RedisConfig, url: &str) -> (RedisClient, Result<(), Error>) {
    let client = RedisClient::new(config).expect("valid config");
    let result = tokio::time::timeout(WATCHDOG, client.connect(url))
        .await
        .expect("connect hung");
    (client, result)
}

async fn connect(config: RedisConfig, url: &str) -> RedisClient {
    let (client, result) = try_connect(config, url).await;
    result.unwrap_or_else(|err| panic!("cannot connect over TLS: {err} ({err:?})"));
    client
}

/// The error of a connect that must fail, checked to leak no password.
async fn connect_error(config: RedisConfig, url: &str) -> Error {
    let (client, result) = try_connect(config, url).await;
    let err = result.expect_err("the connect must fail");
    assert_no_password(&format!("{err} {err:?} {client:?}"));
    err
}

fn assert_no_password(shown: &str) {
    assert!(!shown.contains(PASSWORD), "password leaked: {shown}");
}

fn cache(client: &RedisClient, test: &str) -> RedisCache {
    let namespace = RedisCacheConfig::namespace(unique_namespace(test)).expect("namespace");
    RedisCache::new(client.clone(), namespace)
}

async fn round_trip(cache: &RedisCache) {
    let payload = br#"{"name":"Widget","price":12}"#.to_vec();
    let filled = tokio::time::timeout(
        WATCHDOG,
        cache.fill(CacheFill::new("p-1", 7, payload.clone(), TTL)),
    )
    .await
    .expect("fill hung")
    .expect("fill over TLS");
    assert!(filled, "a first fill is stored");
    let entry = tokio::time::timeout(WATCHDOG, cache.get("p-1"))
        .await
        .expect("get hung")
        .expect("get over TLS")
        .expect("the filled entry");
    assert_eq!((entry.rev, entry.payload), (7, payload));
}

#[tokio::test]
async fn rediss_with_the_test_ca_file_connects_and_round_trips() {
    let server = tls_server();
    let config = RedisConfig::default().with_tls_ca_file(ca_path(&server));
    let client = connect(config, &tls_url(&server)).await;
    assert_eq!(
        client.target().as_deref(),
        Some(format!("127.0.0.1:{}", server.port()).as_str())
    );
    round_trip(&cache(&client, "tls-file")).await;
    assert_no_password(&format!("{client:?}"));
    client.close();
}

/// A synchronous redis-rs connection over TLS trusting the server's CA, for inspection.
fn raw_tls(server: &EphemeralRedis, db: u8) -> redis::Connection {
    let pem = std::fs::read(ca_path(server)).expect("read the CA");
    let url = format!("rediss://:{PASSWORD}@127.0.0.1:{}/{db}", server.port());
    let certificates = redis::TlsCertificates {
        client_tls: None,
        root_cert: Some(pem),
    };
    redis::Client::build_with_tls(url, certificates)
        .expect("TLS client")
        .get_connection_with_timeout(WATCHDOG)
        .expect("raw TLS connection")
}

fn dbsize(conn: &mut redis::Connection) -> i64 {
    redis::cmd("DBSIZE").query(conn).expect("DBSIZE")
}

#[tokio::test]
async fn rediss_with_user_password_db_and_the_ca_as_pem_bytes() {
    let server = tls_server();
    let pem = std::fs::read(ca_path(&server)).expect("read the CA");
    let config = RedisConfig::default().with_tls_ca_pem(pem);
    // The user, the password and the database of the URL all apply over TLS.
    let url = format!("rediss://app:{PASSWORD}@127.0.0.1:{}/3", server.port());
    let client = connect(config.clone(), &url).await;
    round_trip(&cache(&client, "tls-pem")).await;
    // The entry and the server's epoch key (`fz:epoch`).
    assert_eq!(dbsize(&mut raw_tls(&server, 3)), 2, "the entry is in db 3");
    assert_eq!(dbsize(&mut raw_tls(&server, 0)), 0, "and not in db 0");
    let hook = RedisLifecycleHook::new(client.clone(), url.clone());
    assert_no_password(&format!("{hook:?} {client:?}"));

    // A wrong password over TLS is the usual credentials error, naming the server only.
    let wrong = format!(
        "rediss://app:{PASSWORD}-wrong@127.0.0.1:{}/3",
        server.port()
    );
    let err = connect_error(config, &wrong).await;
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    assert!(
        err.message()
            .contains("rejected the credentials of user `app`"),
        "{err}"
    );
    client.close();
}

/// The checks every failed TLS handshake must pass: a `Config` error naming `host:port`, with
/// `reason` in the message, and no password anywhere.
fn assert_handshake_error(err: &Error, server: &EphemeralRedis, reason: &str) {
    let target = format!("127.0.0.1:{}", server.port());
    assert_eq!(err.kind(), ErrorKind::Config, "{err} ({err:?})");
    assert!(
        err.message()
            .starts_with(&format!("TLS handshake with redis at {target} failed: ")),
        "{err}"
    );
    assert!(err.message().contains(reason), "{err}");
    assert!(
        std::error::Error::source(err).is_some(),
        "the rustls error is kept as the source"
    );
}

#[tokio::test]
async fn an_untrusted_server_certificate_fails_startup_clearly() {
    let server = tls_server();
    let url = tls_url(&server);

    // Default roots (webpki): the throwaway CA is not among them.
    let err = connect_error(RedisConfig::default(), &url).await;
    assert_handshake_error(&err, &server, "not signed by a trusted CA");

    // Another CA than the one that signed the server's certificate.
    let other = server.dir().join("other-ca");
    std::fs::create_dir(&other).expect("dir for another CA");
    let other_ca = forze_testkit::generate_test_ca(&other).expect("generate a CA");
    let err = connect_error(RedisConfig::default().with_tls_ca_file(other_ca), &url).await;
    assert_handshake_error(&err, &server, "not signed by a trusted CA");
}

#[tokio::test]
async fn a_plaintext_server_behind_rediss_fails_startup_clearly() {
    let plain = EphemeralRedis::start_with(RedisOptions::new().password(PASSWORD))
        .expect("start a plaintext redis-server");
    let tls = tls_server();
    let url = format!("rediss://:{PASSWORD}@127.0.0.1:{}", plain.port());
    let config = RedisConfig::default()
        .with_connect_timeout(Duration::from_millis(500))
        .with_tls_ca_file(ca_path(&tls));
    let err = connect_error(config, &url).await;
    // The server waits for a command line that never comes, so the handshake times out: that
    // looks like a slow server (`Unavailable`), with a hint at TLS.
    let target = format!("127.0.0.1:{}", plain.port());
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err:?}");
    assert_eq!(
        err.message(),
        format!(
            "cannot connect to redis at {target}: no answer within the connect timeout (the url \
             is `rediss://`: check that the server accepts TLS on this port)"
        )
    );
}

#[tokio::test]
async fn tls_settings_that_contradict_the_url_are_config_errors() {
    let server = tls_server();
    let ca = ca_path(&server);

    // A CA with a plaintext URL: refused, so a forgotten `s` cannot silently go plaintext.
    let plain_url = format!("redis://:{PASSWORD}@127.0.0.1:{}", server.port());
    let err = connect_error(RedisConfig::default().with_tls_ca_file(&ca), &plain_url).await;
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    assert!(err.message().contains("is not `rediss://`"), "{err}");

    // A CA file that does not exist, or holds no certificate: named in the error.
    let missing = server.dir().join("no-such-ca.crt");
    let err = connect_error(
        RedisConfig::default().with_tls_ca_file(&missing),
        &tls_url(&server),
    )
    .await;
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    assert!(err.message().contains("no-such-ca.crt"), "{err}");
    let key_only = server.dir().join("server.key");
    let err = connect_error(
        RedisConfig::default().with_tls_ca_file(&key_only),
        &tls_url(&server),
    )
    .await;
    assert!(err.message().contains("holds no certificate"), "{err}");

    // PEM bytes are checked when the client is built.
    let err =
        RedisClient::new(RedisConfig::default().with_tls_ca_pem(b"not a certificate".to_vec()))
            .expect_err("no certificate");
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    assert!(err.message().contains("with_tls_ca_pem"), "{err}");

    assert_eq!(
        RedisConfig::default().with_tls_ca_file(&ca).tls_ca_file(),
        Some(ca.as_path())
    );
}

/// `#insecure` turns verification off, only with the `tls-insecure` feature.
#[cfg(feature = "tls-insecure")]
#[tokio::test]
async fn insecure_fragment_skips_verification_with_the_tls_insecure_feature() {
    let server = tls_server();
    let url = format!("{}/#insecure", tls_url(&server));
    let client = connect(RedisConfig::default(), &url).await;
    round_trip(&cache(&client, "tls-insecure")).await;
    client.close();
    let err = connect_error(
        RedisConfig::default().with_tls_ca_file(ca_path(&server)),
        &url,
    )
    .await;
    assert!(err.message().contains("drop one of them"), "{err}");
}

/// Without the `tls-insecure` feature, `#insecure` is refused with the way out.
#[cfg(not(feature = "tls-insecure"))]
#[tokio::test]
async fn insecure_fragment_needs_the_tls_insecure_feature() {
    let server = tls_server();
    let url = format!("{}/#insecure", tls_url(&server));
    let err = connect_error(RedisConfig::default(), &url).await;
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    assert!(err.message().contains("`tls-insecure` feature"), "{err}");
}

/// A sink counting resets and recording keys.
#[derive(Default)]
struct Recorder {
    keys: Mutex<Vec<String>>,
    resets: AtomicU64,
    changed: Notify,
}

impl fmt::Debug for Recorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recorder").finish_non_exhaustive()
    }
}

impl InvalidationSink for Recorder {
    fn invalidated(&self, key: &str) {
        self.keys.lock().expect("keys").push(key.to_owned());
        self.changed.notify_waiters();
    }

    fn reset(&self) {
        self.resets.fetch_add(1, Ordering::SeqCst);
        self.changed.notify_waiters();
    }
}

impl Recorder {
    async fn wait_for(&self, what: &str, cond: impl Fn(&Self) -> bool) {
        let waited = tokio::time::timeout(WATCHDOG, async {
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
            "timed out waiting for {what}; keys {:?}, resets {}",
            self.keys.lock().expect("keys"),
            self.resets.load(Ordering::SeqCst)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_invalidation_arrives_over_tls() {
    let server = tls_server();
    let url = tls_url(&server);
    let config = RedisConfig::default().with_tls_ca_file(ca_path(&server));
    let namespace = RedisCacheConfig::namespace(unique_namespace("tls-push"))
        .expect("namespace")
        .invalidation_push(true);

    // Replica B listens (its tracking connection is TLS too: the server has no other port).
    let b = connect(config.clone(), &url).await;
    let b_cache = RedisCache::new(b.clone(), namespace.clone());
    let sink = Arc::new(Recorder::default());
    let sub = b_cache
        .subscribe_invalidations(sink.clone())
        .expect("subscribe");
    assert_eq!(sub.support(), PushSupport::Active);
    sink.wait_for("the tracking stream to be armed", |r| {
        r.resets.load(Ordering::SeqCst) >= 1
    })
    .await;

    // Replica A writes.
    let a = connect(config, &url).await;
    let a_cache = RedisCache::new(a.clone(), namespace);
    let invalidation = [Invalidation::new("doc-1", 2, TTL)];
    tokio::time::timeout(WATCHDOG, a_cache.invalidate_many(&invalidation))
        .await
        .expect("invalidate hung")
        .expect("invalidate over TLS");
    sink.wait_for("the invalidation of doc-1", |r| {
        r.keys.lock().expect("keys").iter().any(|k| k == "doc-1")
    })
    .await;
    assert!(b.push_stats().stream_up, "{:?}", b.push_stats());
    drop(sub);
    a.close();
    b.close();
}
