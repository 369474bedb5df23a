//! Postgres stopped under a running application (a private Postgres, never the shared one; Redis
//! is the shared test server): a read of an uncached document fails with `Unavailable` within
//! the configured timeouts, cached documents are still served from Redis, writes refused before
//! they reached Postgres fail without touching the cache, while a write whose outcome is unknown
//! (sent, then the server went down) invalidates conservatively; after a restart everything
//! works again.

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

        // A write fails with Unavailable before anything reached the server (no connection
        // could be acquired: the server refuses connections). It certainly did not apply, so
        // the coordinator leaves the cache alone: the cached document stays available.
        let before = stack.stats();
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
        assert!(
            err.is_not_applied(),
            "no connection was acquired, so the write is known not to have applied: {err:?}"
        );
        assert!(!err.outcome_unknown(), "{err:?}");
        assert_eq!(
            stack.raw_state(cached.id).await.rev_of_value(),
            Some(cached.rev),
            "a write refused before it reached Postgres leaves the cached value in place"
        );
        let got = tokio::time::timeout(FAIL_BOUND, query.get(cached.id))
            .await
            .expect("the read hung")
            .expect("the cached document is still served from Redis");
        assert_same(&got, &cached, "served from Redis after the refused write");
        let after = stack.stats();
        assert_eq!(
            after.invalidations, before.invalidations,
            "no invalidation for a write that did not apply: {after:?}"
        );
        assert_eq!(after.hits, before.hits + 1, "the read was a hit: {after:?}");
        assert_eq!(after.store_reads, before.store_reads, "{after:?}");

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

/// A write that reached Postgres and then lost its server has an unknown outcome: it invalidates
/// conservatively. Schedule: a second client holds the document's row lock (an open
/// `BEGIN; SELECT … FOR UPDATE`), so the `update` is sent and blocks inside Postgres (seen in
/// `pg_stat_activity`); then the server is stopped under it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_sent_before_postgres_stopped_invalidates_conservatively() {
    let mut pg = private_postgres().await;
    watchdog(async {
        let stack = stack("pg_outage_unknown")
            .postgres(pg.url())
            .pg_config(
                PostgresConfig::new()
                    .max_connections(4)
                    .connect_timeout(PG_TIMEOUT)
                    .acquire_timeout(PG_TIMEOUT)
                    // Longer than the schedule: the blocked update must still be waiting for
                    // the lock when the server stops.
                    .statement_timeout(Some(Duration::from_secs(20))),
            )
            .start()
            .await;
        let doc = stack.create("locked", 10).await;
        stack.warm(&doc).await;

        // The lock holder: its one connection goes back to its pool still inside the
        // transaction, holding the row lock until the server stops.
        let locker = forze_postgres::PostgresClient::connect(
            &pg.url(),
            PostgresConfig::new().max_connections(1),
        )
        .await
        .expect("lock holder connects");
        locker
            .execute(&format!(
                "BEGIN; SELECT 1 FROM \"public\".\"products\" WHERE id = '{}' FOR UPDATE",
                doc.id
            ))
            .await
            .expect("take the row lock");

        let before = stack.stats();
        let command = stack
            .ctx()
            .document()
            .command(&PRODUCT_SPEC)
            .expect("command port");
        let write = tokio::spawn(async move { command.update(doc.id, 1, price(11)).await });

        // Wait until the update is inside Postgres, blocked on the lock.
        let waiting = "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE \
                       wait_event_type = 'Lock' AND query LIKE 'UPDATE%') THEN RAISE EXCEPTION \
                       'not waiting yet'; END IF; END $$";
        tokio::time::timeout(FAIL_BOUND, async {
            while stack.pg.execute(waiting).await.is_err() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("the update reaches Postgres and waits for the row lock");
        assert!(!write.is_finished(), "the update is blocked on the lock");

        tokio::task::block_in_place(|| pg.kill()).expect("stop postgres");
        let err = tokio::time::timeout(FAIL_BOUND, write)
            .await
            .expect("the write hung")
            .expect("join")
            .expect_err("the server stopped under the write");
        assert_eq!(err.kind(), ErrorKind::Unavailable, "{err:?}");
        assert!(
            err.outcome_unknown(),
            "the statement was sent: its outcome is unknown: {err:?}"
        );
        assert_eq!(
            stack.raw_state(doc.id).await,
            Raw::Tombstone(2),
            "an uncertain write invalidates conservatively"
        );
        let after = stack.stats();
        assert_eq!(
            after.invalidations,
            before.invalidations + 1,
            "one invalidation: {after:?}"
        );
        let err = tokio::time::timeout(FAIL_BOUND, stack.get(doc.id))
            .await
            .expect("the read hung")
            .expect_err("the possibly-written document is not served from the cache");
        assert_eq!(err.kind(), ErrorKind::Unavailable, "{err:?}");
        locker.close().await;
        stack.shutdown().await;
    })
    .await;
    tokio::task::spawn_blocking(move || pg.stop())
        .await
        .expect("join")
        .expect("stop postgres");
}
