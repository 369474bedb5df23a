//! Startup: a wrong password, a missing password, an unreachable or frozen server and a bad URL
//! are clear errors that name the server and never the password.

mod common;

use std::time::Duration;

use common::{PrivateRedis, RedisOptions, WATCHDOG};
use forze_core::cache::{Cache, CacheFill};
use forze_core::runtime::LifecycleHook;
use forze_core::{Error, ErrorKind};
use forze_redis::{
    RedisCache, RedisCacheConfig, RedisClient, RedisConfig, RedisLifecycleHook,
    redis_lifecycle_step,
};

const PASSWORD: &str = "Sekr1t-pw-7c1e";
const WRONG: &str = "Wr0ng-pw-93ad";

fn client() -> RedisClient {
    RedisClient::new(
        RedisConfig::default()
            .with_connect_timeout(Duration::from_millis(500))
            .with_response_timeout(Duration::from_millis(100)),
    )
    .expect("valid config")
}

async fn connect_err(client: &RedisClient, dsn: &str) -> Error {
    tokio::time::timeout(WATCHDOG, client.connect(dsn))
        .await
        .expect("connect hung")
        .expect_err("connect must fail")
}

/// Everything a caller or a log could show of the error.
fn everything(err: &Error) -> String {
    let mut out = format!("{err} | {err:?}");
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        out.push_str(&format!(" | {s} | {s:?}"));
        source = s.source();
    }
    out
}

#[tokio::test]
async fn a_wrong_password_is_a_config_error_naming_the_server_not_the_password() {
    let server = PrivateRedis::start_with(RedisOptions::new().password(PASSWORD));
    let target = format!("127.0.0.1:{}", server.port());
    let client = client();

    for dsn in [
        format!("redis://:{WRONG}@{target}"),
        format!("redis://default:{WRONG}@{target}/0"),
    ] {
        let err = connect_err(&client, &dsn).await;
        assert_eq!(err.kind(), ErrorKind::Config, "{err:?}");
        assert!(err.message().contains(&target), "{err}");
        assert!(err.message().contains("credentials"), "{err}");
        let shown = everything(&err);
        assert!(!shown.contains(WRONG), "password leaked: {shown}");
        assert!(!shown.contains(PASSWORD), "password leaked: {shown}");
    }

    // No password at all against a server that requires one.
    let err = connect_err(&client, &format!("redis://{target}")).await;
    assert_eq!(err.kind(), ErrorKind::Config, "{err:?}");
    assert!(err.message().contains(&target), "{err}");
    assert!(err.message().contains("has no password"), "{err}");
    assert_eq!(
        client.target(),
        None,
        "a failed connect leaves the client unconnected"
    );

    // The right password works, and nothing shows it.
    client
        .connect(&format!("redis://:{PASSWORD}@{target}"))
        .await
        .expect("right password");
    let shown = format!("{client:?}");
    assert!(!shown.contains(PASSWORD), "{shown}");
    assert!(shown.contains(&target), "{shown}");
    let cache = RedisCache::new(client, RedisCacheConfig::namespace("auth").expect("ns"));
    let fill = CacheFill::new("k", 1, b"{}".to_vec(), Duration::from_secs(60));
    assert!(cache.fill(fill).await.expect("fill"));
    assert!(!format!("{cache:?}").contains(PASSWORD));
}

#[tokio::test]
async fn an_unreachable_server_is_unavailable_naming_host_and_port() {
    // A port nothing listens on: reserve it, then stop listening.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let client = client();
    let err = connect_err(&client, &format!("redis://:{PASSWORD}@127.0.0.1:{port}")).await;
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err:?}");
    assert!(
        err.message().contains(&format!("127.0.0.1:{port}")),
        "{err}"
    );
    assert!(!everything(&err).contains(PASSWORD));
}

#[tokio::test]
async fn a_frozen_server_at_startup_times_out_as_unavailable() {
    let server = PrivateRedis::start();
    server.pause();
    let client = client();
    let err = connect_err(&client, &server.url()).await;
    server.resume();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err:?}");
    assert!(
        err.message()
            .contains(&format!("127.0.0.1:{}", server.port())),
        "{err}"
    );
}

#[tokio::test]
async fn bad_urls_are_config_errors_that_list_what_is_accepted() {
    let client = client();
    for dsn in [
        // With the `tls` feature, `rediss://` is accepted (see tests/tls.rs).
        #[cfg(not(feature = "tls"))]
        format!("rediss://:{PASSWORD}@127.0.0.1:6380"),
        format!("memcached://:{PASSWORD}@127.0.0.1"),
        format!("redis://:{PASSWORD}@127.0.0.1:6379/not-a-db"),
        PASSWORD.to_owned(),
    ] {
        let err = connect_err(&client, &dsn).await;
        assert_eq!(err.kind(), ErrorKind::Config, "{dsn}: {err:?}");
        assert!(err.message().contains("redis://"), "{err}");
        assert!(!everything(&err).contains(PASSWORD), "{err:?}");
    }
    #[cfg(not(feature = "tls"))]
    {
        let err = connect_err(&client, "rediss://127.0.0.1").await;
        assert!(
            err.message()
                .contains("enable the `tls` feature of forze-redis"),
            "{err}"
        );
    }
}

#[tokio::test]
async fn the_lifecycle_hook_connects_at_startup_and_disconnects_at_shutdown() {
    let server = PrivateRedis::start_with(RedisOptions::new().password(PASSWORD));
    let dsn = format!("redis://:{PASSWORD}@127.0.0.1:{}", server.port());
    let client = client();
    let step = redis_lifecycle_step(client.clone(), dsn.clone());
    assert_eq!(step.name(), "redis");
    assert!(!format!("{step:?}").contains(PASSWORD));

    let hook = RedisLifecycleHook::new(client.clone(), dsn);
    assert!(!format!("{hook:?}").contains(PASSWORD), "{hook:?}");
    let cache = RedisCache::new(
        client.clone(),
        RedisCacheConfig::namespace("hook").expect("ns"),
    );
    let err = cache.get("k").await.expect_err("not connected yet");
    assert_eq!(err.kind(), ErrorKind::Config, "{err:?}");

    hook.startup().await.expect("startup");
    assert_eq!(cache.get("k").await.expect("get"), None);
    hook.shutdown().await.expect("shutdown");
    let err = cache.get("k").await.expect_err("shut down");
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err:?}");

    let bad = RedisLifecycleHook::new(
        client,
        format!("redis://:{WRONG}@127.0.0.1:{}", server.port()),
    );
    let err = bad.startup().await.expect_err("wrong password");
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(!everything(&err).contains(WRONG));
}

#[tokio::test]
async fn a_failed_lifecycle_step_displays_the_cause_chain_without_the_password() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let dsn = format!("redis://:{PASSWORD}@127.0.0.1:{port}");
    let runtime = forze_core::ExecutionRuntime::new(
        forze_core::DepsRegistry::default().freeze().expect("deps"),
        forze_core::LifecyclePlan::new()
            .with_steps([redis_lifecycle_step(client(), dsn)])
            .freeze()
            .expect("plan"),
    );
    let err = tokio::time::timeout(WATCHDOG, runtime.startup())
        .await
        .expect("startup hung")
        .expect_err("nothing listens there");
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err:?}");
    assert_eq!(err.message(), "lifecycle step `redis` failed to start");
    let shown = err.to_string();
    let expected = format!(
        "lifecycle step `redis` failed to start: cannot connect to redis at 127.0.0.1:{port}"
    );
    assert!(shown.starts_with(&expected), "{shown}");
    assert!(!everything(&err).contains(PASSWORD));
}
