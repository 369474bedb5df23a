//! Postgres stopped under a running application (a private Postgres, never the shared one; Redis
//! is the shared test server): a read of an uncached document fails with `Unavailable` within
//! the configured timeouts, cached documents are still served from Redis, writes fail without
//! touching the cache; after a restart everything works again.

mod common;

use std::time::{Duration, Instant};

use common::{PRODUCT_SPEC, Raw, assert_same, price, private_postgres, stack, watchdog};
use forze_core::ErrorKind;
use forze_postgres::PostgresConfig;

/// The configured Postgres timeouts (connect, acquire, statement): 1 s each.
const PG_TIMEOUT: Duration = Duration::from_secs(1);
/// A loose bound on a failing call: several times the configured timeouts, far from a hang.
const FAIL_BOUND: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stopped_uncached_reads_are_unavailable_cached_reads_are_served() {
    let mut pg = private_postgres().await;
    watchdog(async {
        let stack = stack("pg_outage")
            .postgres(pg.url())
            .pg_config(
                PostgresConfig::new()
                    .max_connections(4)
                    .connect_timeout(PG_TIMEOUT)
                    .acquire_timeout(PG_TIMEOUT)
                    .statement_timeout(Some(PG_TIMEOUT)),
            )
            .start()
            .await;
        let cached = stack.create("cached", 10).await;
        let uncached = stack.create("uncached", 20).await;
        stack.warm(&cached).await;

        tokio::task::block_in_place(|| pg.kill()).expect("stop postgres");

        let query = stack
            .ctx()
            .document()
            .query(&PRODUCT_SPEC)
            .expect("query port");
        for round in 0..2 {
            let started = Instant::now();
            let err = tokio::time::timeout(FAIL_BOUND, query.get(uncached.id))
                .await
                .unwrap_or_else(|_| panic!("round {round}: the read hung past {FAIL_BOUND:?}"))
                .expect_err("Postgres is down and the document is not cached");
            assert_eq!(err.kind(), ErrorKind::Unavailable, "round {round}: {err:?}");
            assert!(err.is_temporary());
            assert!(
                started.elapsed() < FAIL_BOUND,
                "round {round}: {:?}",
                started.elapsed()
            );

            let reads = stack.stats().store_reads;
            let got = tokio::time::timeout(FAIL_BOUND, query.get(cached.id))
                .await
                .expect("a cached read does not wait for Postgres")
                .expect("a cached document is served from Redis");
            assert_same(&got, &cached, "served from Redis");
            assert_eq!(stack.stats().store_reads, reads, "no store read for a hit");
        }

        // A write fails with Unavailable. Its outcome is unknown to forze (the statement may or
        // may not have reached the server), so the coordinator invalidates conservatively: the
        // entry becomes a tombstone at the rev the write would have produced, and reads of that
        // document go to the (down) store instead of serving what may be a stale value.
        let err = tokio::time::timeout(
            FAIL_BOUND,
            stack
                .ctx()
                .document()
                .command(&PRODUCT_SPEC)
                .expect("command port")
                .update(cached.id, 1, price(11)),
        )
        .await
        .expect("the write hung")
        .expect_err("Postgres is down");
        assert_eq!(err.kind(), ErrorKind::Unavailable, "{err:?}");
        assert_eq!(
            stack.raw_state(cached.id).await,
            Raw::Tombstone(2),
            "an uncertain write invalidates conservatively"
        );
        let err = tokio::time::timeout(FAIL_BOUND, query.get(cached.id))
            .await
            .expect("the read hung")
            .expect_err("the possibly-written document is not served from the cache");
        assert_eq!(err.kind(), ErrorKind::Unavailable, "{err:?}");

        tokio::task::block_in_place(|| pg.restart()).expect("restart postgres");
        let got = tokio::time::timeout(FAIL_BOUND, async {
            loop {
                match query.get(uncached.id).await {
                    Ok(got) => break got,
                    Err(err) if err.kind() == ErrorKind::Unavailable => {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    Err(err) => panic!("unexpected error after the restart: {err:?}"),
                }
            }
        })
        .await
        .expect("reads recover after the restart");
        assert_same(&got, &uncached, "read after the restart");
        let updated = stack
            .ctx()
            .document()
            .command(&PRODUCT_SPEC)
            .expect("command port")
            .update(cached.id, 1, price(11))
            .await
            .expect("writes work again");
        assert_same(
            &query.get(cached.id).await.expect("get"),
            &updated,
            "fresh after the write",
        );
        stack.shutdown().await;
    })
    .await;
    tokio::task::spawn_blocking(move || pg.stop())
        .await
        .expect("join")
        .expect("stop postgres");
}
