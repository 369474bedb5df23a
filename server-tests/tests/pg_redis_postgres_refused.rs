//! A stopped Postgres (a private server, never the shared one) is reported at once: sqlx's pool
//! retries a refused connect until the acquire timeout (5 s by default) and then says only
//! `PoolTimedOut`; forze probes the server after a short wait and fails the operation with
//! `Unavailable`, marked not applied, with the `io::Error` (`ConnectionRefused`) in its source
//! chain. After a restart, operations work again.

mod common;

use std::error::Error as _;
use std::io;
use std::time::{Duration, Instant};

use common::{PRODUCT_SPEC, assert_same, private_postgres, stack, watchdog};
use forze_core::{Error, ErrorKind};
use forze_postgres::PostgresConfig;
use uuid::Uuid;

/// The bound on one failing read: far below the 5 s acquire timeout it used to take, far above
/// the ~50 ms it takes (a loaded 2-core machine has hiccups).
const FAST: Duration = Duration::from_secs(1);
/// A loose bound on anything else: catches a hang.
const HANG: Duration = Duration::from_secs(10);
/// How many failed reads the figures are taken over.
const READS: usize = 20;

/// The `io::Error` in `err`'s source chain, if any.
fn io_cause(err: &Error) -> Option<&io::Error> {
    let mut source = err.source();
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<io::Error>() {
            return Some(io);
        }
        source = s.source();
    }
    None
}

#[track_caller]
fn assert_refused(err: &Error, what: &str) {
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{what}: {err:?}");
    assert!(err.is_not_applied(), "{what}: {err:?}");
    assert!(
        err.to_string().contains("refused"),
        "{what}: the message says the connection was refused: {err}"
    );
    let io = io_cause(err).unwrap_or_else(|| panic!("{what}: no io::Error in {err:?}"));
    assert_eq!(
        io.kind(),
        io::ErrorKind::ConnectionRefused,
        "{what}: {err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_refusing_connections_fails_uncached_reads_fast_with_the_cause() {
    let mut pg = private_postgres().await;
    watchdog(async {
        // The default acquire timeout (5 s): the reads below must not wait for it.
        let config = PostgresConfig::new().max_connections(4);
        assert_eq!(config.acquire_timeout, Duration::from_secs(5));
        let stack = stack("pg_refused")
            .postgres(pg.url())
            .pg_config(config)
            .start()
            .await;
        let doc = stack.create("kept", 10).await;
        let query = stack
            .ctx()
            .document()
            .query(&PRODUCT_SPEC)
            .expect("query port");

        tokio::task::block_in_place(|| pg.kill()).expect("stop postgres");

        // One at a time: each read of a never-cached id misses and goes to the store.
        let mut took = Vec::with_capacity(READS);
        for i in 0..READS {
            let started = Instant::now();
            let err = tokio::time::timeout(HANG, query.get(Uuid::now_v7()))
                .await
                .unwrap_or_else(|_| panic!("read {i} hung"))
                .expect_err("Postgres is down");
            let elapsed = started.elapsed();
            assert_refused(&err, &format!("read {i}"));
            assert!(elapsed < FAST, "read {i} took {elapsed:?}: {err}");
            took.push(elapsed);
        }
        took.sort();
        let (p50, max) = (took[READS / 2], took[READS - 1]);
        eprintln!(
            "postgres refused: {READS} uncached reads failed in p50 {:.1} ms, max {:.1} ms \
             (acquire timeout 5 s)",
            p50.as_secs_f64() * 1e3,
            max.as_secs_f64() * 1e3
        );

        // A burst: every read fails fast (one probe serves them all).
        let started = Instant::now();
        let burst: Vec<_> = (0..16)
            .map(|_| {
                let query = query.clone();
                tokio::spawn(async move { query.get(Uuid::now_v7()).await })
            })
            .collect();
        for (i, read) in burst.into_iter().enumerate() {
            let err = tokio::time::timeout(HANG, read)
                .await
                .unwrap_or_else(|_| panic!("burst read {i} hung"))
                .expect("join")
                .expect_err("Postgres is down");
            assert_refused(&err, &format!("burst read {i}"));
        }
        let elapsed = started.elapsed();
        eprintln!(
            "postgres refused: a burst of 16 concurrent uncached reads failed within {:.1} ms",
            elapsed.as_secs_f64() * 1e3
        );
        assert!(elapsed < FAST, "the burst took {elapsed:?}");

        // A write refused the same way: fast, not applied.
        let started = Instant::now();
        let err = tokio::time::timeout(
            HANG,
            stack
                .ctx()
                .document()
                .command(&PRODUCT_SPEC)
                .expect("command port")
                .update(doc.id, 1, common::price(11)),
        )
        .await
        .expect("the write hung")
        .expect_err("Postgres is down");
        assert_refused(&err, "update");
        assert!(
            started.elapsed() < FAST,
            "update took {:?}",
            started.elapsed()
        );

        tokio::task::block_in_place(|| pg.restart()).expect("restart postgres");
        let started = Instant::now();
        let got = tokio::time::timeout(HANG, async {
            loop {
                match query.get(doc.id).await {
                    Ok(got) => break got,
                    Err(err) if err.kind() == ErrorKind::Unavailable => {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    Err(err) => panic!("unexpected error after the restart: {err:?}"),
                }
            }
        })
        .await
        .expect("reads recover after the restart");
        eprintln!(
            "postgres refused: reads worked again {:.1} ms after restart() returned",
            started.elapsed().as_secs_f64() * 1e3
        );
        assert_same(&got, &doc, "read after the restart");
        let missing = query.get(Uuid::now_v7()).await.expect_err("not found");
        assert_eq!(missing.kind(), ErrorKind::NotFound, "{missing:?}");
        stack.shutdown().await;
    })
    .await;
    tokio::task::spawn_blocking(move || pg.stop())
        .await
        .expect("join")
        .expect("stop postgres");
}
