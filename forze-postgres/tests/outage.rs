//! A Postgres server that goes away mid-test (a private ephemeral one, never the shared server):
//! operations fail fast with `Unavailable`, and recover when it is back.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{FIELDS, minimal_row};
use forze_core::ErrorKind;
use forze_core::store::{DocumentBackend, DocumentBinding, StoreCx, TransactionManager};
use forze_postgres::{
    PostgresClient, PostgresConfig, PostgresDocumentBackend, PostgresDocumentConfig,
    PostgresTransactionManager, create_table_sql,
};
use forze_testkit::EphemeralPostgres;

/// The bound on an operation against a server that refuses connections (it takes ~50 ms; the
/// acquire timeout is 2 s).
const FAST: Duration = Duration::from_secs(1);

fn fast_config() -> PostgresConfig {
    PostgresConfig::new()
        .max_connections(4)
        .connect_timeout(Duration::from_secs(2))
        .acquire_timeout(Duration::from_secs(2))
        .statement_timeout(Some(Duration::from_secs(2)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stopped_mid_test_is_unavailable_then_recovers() {
    let mut pg = tokio::task::spawn_blocking(EphemeralPostgres::start)
        .await
        .expect("join")
        .expect("start ephemeral postgres");
    let body = async {
        let client = PostgresClient::connect(&pg.url(), fast_config())
            .await
            .expect("connect");
        let config = PostgresDocumentConfig::table("public", "products");
        client
            .execute(&create_table_sql(&config, &FIELDS))
            .await
            .expect("create table");
        let store = PostgresDocumentBackend::new(client.clone(), config)
            .bind(&DocumentBinding::new("products", &FIELDS))
            .expect("bind");
        let cx = StoreCx::none();
        let a = minimal_row("a", 1);
        store.insert(&cx, vec![a.clone()]).await.expect("insert");
        // Open a transaction so a pooled connection is in use when the server dies.
        let manager = PostgresTransactionManager::new(client.clone());
        let tx = manager.begin().await.expect("begin");

        let pg = &mut pg;
        tokio::task::block_in_place(|| pg.kill()).expect("kill postgres");

        let started = Instant::now();
        let err = store
            .get(&cx, a.meta.id, false)
            .await
            .expect_err("server is down");
        assert_eq!(err.kind(), ErrorKind::Unavailable, "{err:?}");
        assert!(err.is_temporary());
        // Refused connections are reported at once (not after the 2 s acquire timeout), and
        // nothing was sent: not applied.
        assert!(err.is_not_applied(), "{err:?}");
        assert!(started.elapsed() < FAST, "{:?}", started.elapsed());
        let write_started = Instant::now();
        let err = store
            .insert(&cx, vec![minimal_row("b", 2)])
            .await
            .expect_err("down");
        assert_eq!(err.kind(), ErrorKind::Unavailable, "{err:?}");
        assert!(err.is_not_applied(), "{err:?}");
        assert!(!err.outcome_unknown(), "{err:?}");
        assert!(
            write_started.elapsed() < FAST,
            "{:?}",
            write_started.elapsed()
        );
        let err = client.execute("SELECT 1").await.expect_err("down");
        assert_eq!(err.kind(), ErrorKind::Unavailable, "{err:?}");
        assert!(err.is_not_applied(), "{err:?}");
        let err = store
            .count(&StoreCx::in_tx(Arc::clone(&tx)), None)
            .await
            .expect_err("tx conn gone");
        assert_eq!(err.kind(), ErrorKind::Unavailable, "{err:?}");
        let begin_started = Instant::now();
        let Err(err) = manager.begin().await else {
            panic!("begin succeeded while the server is down");
        };
        assert_eq!(err.kind(), ErrorKind::Unavailable, "{err:?}");
        assert!(err.is_not_applied(), "{err:?}");
        assert!(
            begin_started.elapsed() < FAST,
            "{:?}",
            begin_started.elapsed()
        );
        // Loose bound: the configured timeouts are 2 s each; never a hang.
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
        // Rolling back a transaction whose connection died fails, it does not hang.
        assert!(tx.rollback().await.is_err());

        tokio::task::block_in_place(|| pg.restart()).expect("restart postgres");
        let got = store
            .get(&cx, a.meta.id, false)
            .await
            .expect("back after restart");
        assert_eq!(got.map(|r| r.meta.id), Some(a.meta.id));
        client.close().await;
    };
    tokio::time::timeout(Duration::from_secs(60), body)
        .await
        .expect("watchdog: the outage test hung");
    tokio::task::spawn_blocking(move || pg.stop())
        .await
        .expect("join")
        .expect("stop");
}

#[tokio::test]
async fn unreachable_server_is_unavailable_and_the_password_never_shows() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let dsn = format!("postgres://app:hunter2-secret@127.0.0.1:{port}/app");
    let started = Instant::now();
    let err = tokio::time::timeout(
        Duration::from_secs(30),
        PostgresClient::connect(&dsn, fast_config()),
    )
    .await
    .expect("watchdog")
    .expect_err("nothing listens there");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err:?}");
    assert!(
        err.message().contains(&format!("127.0.0.1:{port}")),
        "{err}"
    );
    for shown in [err.to_string(), format!("{err:?}")] {
        assert!(!shown.contains("hunter2"), "password leaked: {shown}");
    }

    let err = PostgresClient::connect("postgres://app:hunter2-secret@[bad", fast_config())
        .await
        .expect_err("invalid dsn");
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(!format!("{err:?}").contains("hunter2"));

    let client = PostgresClient::new();
    assert!(!format!("{client:?}").contains("hunter2"));
    let err = client.pool().expect_err("not initialized");
    assert_eq!(err.kind(), ErrorKind::Config);
}
