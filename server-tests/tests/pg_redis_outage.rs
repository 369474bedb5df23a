//! Redis going away under a running application (a private `redis-server` per test, never the
//! shared one; Postgres is the shared test server):
//!
//! - killed: reads keep returning correct values from Postgres, each within a loose bound, and
//!   the breaker opens; writes succeed; after a restart on the same port (an empty server) no
//!   document written during the outage is served stale, and cached reads resume;
//! - paused (SIGSTOP): the same, with the old entries surviving the pause;
//! - partitioned (a proxy drops every byte, then closes the connections): the tombstones of the
//!   writes made meanwhile are lost for certain and the old values are still in Redis when it
//!   comes back; they are never served, because the lane writes the remembered invalidations
//!   before it reads the cache again.
//!
//! Assertions are on correctness; time only as a loose bound per call (`CALL_BOUND`) and the
//! watchdog.

mod common;

use std::time::Duration;

use common::{
    PRODUCT_SPEC, ProductRead, Raw, Resume, Stack, assert_same, bounded, outage_coordinator,
    outage_redis, price, private_redis, signal, stack, watchdog,
};
use forze_core::cache::TOMBSTONE_DELETED;
use forze_core::{BreakerState, ErrorKind};
use forze_testkit::PartitionProxy;
use uuid::Uuid;

/// How long after the server's return cached reads must have resumed (the breaker cools down
/// in 500 ms, reconnects back off up to 1 s): a loose bound, only there to name a stuck lane.
const RESUME_WITHIN: Duration = Duration::from_secs(30);

/// What a read of a document must return.
#[derive(Debug, Clone)]
enum Expect {
    Doc(ProductRead),
    Gone(Uuid),
}

impl Expect {
    fn id(&self) -> Uuid {
        match self {
            Expect::Doc(d) => d.id,
            Expect::Gone(id) => *id,
        }
    }
}

/// Read every document once, each within the loose bound, and check it is current.
async fn reads_are_current(stack: &Stack, expected: &[Expect], when: &str) {
    for e in expected {
        let got = bounded(&format!("a read {when}"), stack.get(e.id())).await;
        match e {
            Expect::Doc(doc) => {
                let got = got.unwrap_or_else(|err| panic!("read {when}: {err:?}"));
                assert_same(&got, doc, &format!("the current document {when}"));
            }
            Expect::Gone(_) => {
                let err = got.expect_err("a deleted document is not found");
                assert_eq!(err.kind(), ErrorKind::NotFound, "{when}: {err:?}");
            }
        }
    }
}

/// After the server is back: keep reading (every read current) until the remembered
/// invalidations are written and reads hit Redis again.
async fn until_cached_reads_resume(stack: &Stack, expected: &[Expect]) {
    let hits = stack.stats().hits;
    let deadline = tokio::time::Instant::now() + RESUME_WITHIN;
    loop {
        reads_are_current(stack, expected, "after the outage").await;
        let stats = stack.stats();
        if stats.pending_invalidations == 0 && !stats.bypassing && stats.hits > hits {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "cached reads did not resume within {RESUME_WITHIN:?} of the server's return: \
             {stats:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Update `doc`'s price and delete `gone` while the cache is unreachable: both writes succeed,
/// each within the loose bound, and their invalidations are remembered.
async fn write_during_outage(stack: &Stack, doc: &ProductRead, gone: &ProductRead) -> ProductRead {
    let docs = stack
        .ctx()
        .document()
        .command(&PRODUCT_SPEC)
        .expect("command port");
    let updated = bounded(
        "an update during the outage",
        docs.update(doc.id, doc.rev, price(doc.price + 1)),
    )
    .await
    .expect("writes succeed while the cache is down");
    assert_eq!(updated.rev, doc.rev + 1);
    bounded("a delete during the outage", docs.delete(gone.id))
        .await
        .expect("delete while the cache is down");
    let stats = stack.stats();
    assert!(
        stats.invalidation_failures >= 2 && stats.pending_invalidations >= 2,
        "the failed invalidations are remembered: {stats:?}"
    );
    updated
}

/// The decoded state of `id`'s key read straight from the server at `url`.
async fn raw_at(url: &str, stack: &Stack, id: Uuid) -> Raw {
    let mut conn = common::raw_connection(url).await;
    let bytes = bounded(
        "raw GET",
        redis::cmd("GET")
            .arg(stack.key(id))
            .query_async::<Option<Vec<u8>>>(&mut conn),
    )
    .await
    .expect("raw GET");
    Raw::parse(bytes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_mid_run_reads_stay_correct_and_nothing_is_stale_after_restart() {
    let mut redis = private_redis().await;
    watchdog(async {
        let stack = stack("redis_kill")
            .redis(redis.url())
            .redis_config(outage_redis())
            .coordinator(outage_coordinator())
            .start()
            .await;
        let (a, b, c) = (
            stack.create("a", 10).await,
            stack.create("b", 20).await,
            stack.create("c", 30).await,
        );
        stack.warm(&a).await;
        stack.warm(&b).await;
        // `c` is not cached.

        tokio::task::block_in_place(|| redis.kill()).expect("kill redis");

        // Reads are served from Postgres, each within the bound, until the breaker opens.
        let expected = [
            Expect::Doc(a.clone()),
            Expect::Doc(b.clone()),
            Expect::Doc(c.clone()),
        ];
        loop {
            reads_are_current(&stack, &expected, "while Redis is down").await;
            if stack.stats().breaker_rejections > 0 {
                break;
            }
        }
        let stats = stack.stats();
        assert!(stats.cache_errors >= 3, "{stats:?}");
        assert_ne!(
            stats.breaker,
            BreakerState::Closed,
            "the breaker opened: {stats:?}"
        );
        reads_are_current(&stack, &expected, "with the breaker open").await;

        // Writes succeed: `a` (cached before the outage) is updated, `b` deleted, `d` created.
        let a2 = write_during_outage(&stack, &a, &b).await;
        let d = bounded("a create during the outage", stack.create("d", 40)).await;
        let expected = [
            Expect::Doc(a2.clone()),
            Expect::Gone(b.id),
            Expect::Doc(c.clone()),
            Expect::Doc(d.clone()),
        ];
        reads_are_current(&stack, &expected, "after the writes, Redis still down").await;

        // Redis comes back on the same port, empty.
        tokio::task::block_in_place(|| redis.restart()).expect("restart redis");
        until_cached_reads_resume(&stack, &expected).await;
        assert_eq!(stack.stats().breaker, BreakerState::Closed);

        // Nothing of the outage's writes is stale in Redis either.
        let raw = stack.raw_state(a.id).await;
        assert!(
            matches!(raw, Raw::Tombstone(2) | Raw::Value { rev: 2, .. }),
            "{raw:?}"
        );
        assert_eq!(
            stack.raw_state(b.id).await,
            Raw::Tombstone(TOMBSTONE_DELETED),
            "the remembered delete tombstone was written"
        );
        stack.shutdown().await;
    })
    .await;
    tokio::task::spawn_blocking(move || redis.stop())
        .await
        .expect("join")
        .expect("stop redis");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_paused_mid_run_old_entries_survive_and_are_never_served_stale() {
    let redis = private_redis().await;
    watchdog(async {
        let stack = stack("redis_pause")
            .redis(redis.url())
            .redis_config(outage_redis())
            .coordinator(outage_coordinator())
            .start()
            .await;
        let (a, b, c) = (
            stack.create("a", 10).await,
            stack.create("b", 20).await,
            stack.create("c", 30).await,
        );
        for doc in [&a, &b, &c] {
            stack.warm(doc).await;
        }

        let pid = redis.pid().expect("redis runs");
        signal(pid, "-STOP");
        let resume = Resume(pid);

        let a2 = write_during_outage(&stack, &a, &b).await;
        let expected = [
            Expect::Doc(a2.clone()),
            Expect::Gone(b.id),
            Expect::Doc(c.clone()),
        ];
        reads_are_current(&stack, &expected, "while Redis is paused").await;
        reads_are_current(&stack, &expected, "while Redis is paused, again").await;

        // SIGCONT: the server answers again, with every entry it had (`c` at rev 1, and `a`
        // and `b` at rev 1 unless a timed-out tombstone was still delivered).
        drop(resume);
        until_cached_reads_resume(&stack, &expected).await;
        assert_eq!(
            stack.raw_state(c.id).await.rev_of_value(),
            Some(1),
            "an entry the pause did not concern survived it"
        );
        let raw = stack.raw_state(a.id).await;
        assert!(
            matches!(raw, Raw::Tombstone(2) | Raw::Value { rev: 2, .. }),
            "{raw:?}"
        );
        assert_eq!(
            stack.raw_state(b.id).await,
            Raw::Tombstone(TOMBSTONE_DELETED)
        );
        stack.shutdown().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_partitioned_lost_tombstones_never_let_an_old_value_through() {
    let redis = private_redis().await;
    let proxy = PartitionProxy::start(redis.port())
        .await
        .expect("start the proxy");
    watchdog(async {
        let stack = stack("redis_partition")
            .redis(proxy.redis_url())
            .redis_config(outage_redis())
            .coordinator(outage_coordinator())
            .start()
            .await;
        let (a, b, c) = (
            stack.create("a", 10).await,
            stack.create("b", 20).await,
            stack.create("c", 30).await,
        );
        for doc in [&a, &b, &c] {
            stack.warm(doc).await;
        }

        proxy.partition();
        let a2 = write_during_outage(&stack, &a, &b).await;
        let expected = [
            Expect::Doc(a2.clone()),
            Expect::Gone(b.id),
            Expect::Doc(c.clone()),
        ];
        reads_are_current(&stack, &expected, "during the partition").await;

        // The tombstones never reached Redis: it still holds rev 1 of `a` and `b`.
        let direct = redis.url();
        assert_eq!(raw_at(&direct, &stack, a.id).await.rev_of_value(), Some(1));
        assert_eq!(raw_at(&direct, &stack, b.id).await.rev_of_value(), Some(1));

        // Nothing sent during the partition is replayed (the proxy closes the connections that
        // lived through it); the flusher, retrying every <= 50 ms outside the breaker, writes the
        // remembered tombstones within about one retry of the heal.
        proxy.heal();
        until_cached_reads_resume(&stack, &expected).await;
        let raw = raw_at(&direct, &stack, a.id).await;
        assert!(
            matches!(raw, Raw::Tombstone(2) | Raw::Value { rev: 2, .. }),
            "the remembered tombstone replaced rev 1: {raw:?}"
        );
        assert_eq!(
            raw_at(&direct, &stack, b.id).await,
            Raw::Tombstone(TOMBSTONE_DELETED)
        );
        assert_eq!(
            raw_at(&direct, &stack, c.id).await.rev_of_value(),
            Some(1),
            "the untouched entry is kept"
        );
        stack.shutdown().await;
    })
    .await;
    drop(proxy);
}
