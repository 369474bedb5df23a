//! The stale-set race on real Redis + Postgres, through the runtime: a reader that fetched rev 1
//! from Postgres and fills Redis late, after a writer committed rev 2 and returned, never installs
//! rev 1 — every later read and the raw Redis entry show rev 2 or nothing. The same for a delete
//! (no resurrection). The reader is held between its read and its fill by a `GatedStore` around
//! the Postgres backend.
//!
//! Plus an ungated check with concurrent readers and a writer: a read that starts after a write
//! returned never sees an older rev.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use common::{PRODUCT_SPEC, Raw, Stack, assert_same, price, stack, watchdog};
use forze_core::ErrorKind;
use forze_core::cache::TOMBSTONE_DELETED;
use uuid::Uuid;

/// Start a reader of `id` whose store read is held after it read; returns once it is held.
async fn held_reader(
    stack: &Stack,
    id: Uuid,
) -> tokio::task::JoinHandle<forze_core::Result<common::ProductRead>> {
    let gate = stack.gate();
    gate.hold_next(1);
    let ctx = stack.ctx();
    let reader = tokio::spawn(async move { ctx.document().query(&PRODUCT_SPEC)?.get(id).await });
    gate.wait_held(1).await;
    reader
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_fill_of_an_old_rev_never_lands_after_an_update() {
    watchdog(async {
        let stack = stack("stale_update").gated().start().await;
        let p = stack.create("Widget", 10).await;

        // The reader misses, reads rev 1 from Postgres, and is held before it fills.
        let reader = held_reader(&stack, p.id).await;
        // The writer commits rev 2 and returns (its tombstone is written by then).
        let updated = stack
            .ctx()
            .document()
            .command(&PRODUCT_SPEC)
            .expect("command port")
            .update(p.id, 1, price(12))
            .await
            .expect("update");
        assert_eq!(updated.rev, 2);
        assert_eq!(stack.raw_state(p.id).await, Raw::Tombstone(2));

        // The reader fills late.
        stack.gate().release_all();
        let late = reader.await.expect("reader task").expect("reader");
        assert_eq!(
            late.rev, 1,
            "the overlapping reader returns what it read (allowed)"
        );
        let stats = stack.stats();
        assert_eq!(
            stats.fills_rejected, 1,
            "the late fill of rev 1 was rejected"
        );
        assert_eq!(
            stack.raw_state(p.id).await,
            Raw::Tombstone(2),
            "Redis still holds the tombstone, not rev 1"
        );

        for _ in 0..3 {
            let got = stack.get(p.id).await.expect("get");
            assert_same(&got, &updated, "never rev 1 after the write returned");
            let raw = stack.raw_state(p.id).await;
            assert_eq!(raw.rev_of_value(), Some(2), "{raw:?}");
            assert_same(&raw.read().expect("a value"), &updated, "the raw entry");
        }
        // Another replica (its own lanes, same Redis and Postgres) agrees.
        let replica = stack.replica().context();
        let seen = replica
            .document()
            .query(&PRODUCT_SPEC)
            .expect("query port")
            .get(p.id)
            .await
            .expect("get on the replica");
        assert_same(&seen, &updated, "the replica reads rev 2");
        stack.shutdown().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_fill_never_resurrects_a_deleted_document() {
    watchdog(async {
        let stack = stack("stale_delete").gated().start().await;
        let p = stack.create("Widget", 10).await;

        let reader = held_reader(&stack, p.id).await;
        stack
            .ctx()
            .document()
            .command(&PRODUCT_SPEC)
            .expect("command port")
            .delete(p.id)
            .await
            .expect("delete");
        assert_eq!(
            stack.raw_state(p.id).await,
            Raw::Tombstone(TOMBSTONE_DELETED)
        );
        stack.gate().release_all();
        let late = reader.await.expect("reader task").expect("reader");
        assert_eq!(late.rev, 1, "the overlapping reader returns what it read");
        assert_eq!(
            stack.raw_state(p.id).await,
            Raw::Tombstone(TOMBSTONE_DELETED),
            "no resurrection in Redis"
        );
        for _ in 0..3 {
            let err = stack.get(p.id).await.expect_err("deleted stays deleted");
            assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
            assert_eq!(
                stack.raw_state(p.id).await,
                Raw::Tombstone(TOMBSTONE_DELETED)
            );
        }
        stack.shutdown().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_late_reader_of_an_earlier_write_does_not_overwrite_a_newer_fill() {
    watchdog(async {
        let stack = stack("stale_order").gated().start().await;
        let p = stack.create("Widget", 10).await;
        let reader = held_reader(&stack, p.id).await;
        let docs = stack
            .ctx()
            .document()
            .command(&PRODUCT_SPEC)
            .expect("command port");
        let v2 = docs.update(p.id, 1, price(12)).await.expect("update");
        // A read after the write returned is fresh and fills rev 2 first.
        assert_same(&stack.get(p.id).await.expect("get"), &v2, "fresh read");
        assert_eq!(stack.raw_state(p.id).await.rev_of_value(), Some(2));
        // Then the held reader fills rev 1: rejected, rev 2 stays.
        stack.gate().release_all();
        let _ = reader.await.expect("reader task");
        let raw = stack.raw_state(p.id).await;
        assert_eq!(
            raw.rev_of_value(),
            Some(2),
            "a late fill never lowers the rev"
        );
        assert_same(&raw.read().expect("value"), &v2, "the raw entry is rev 2");
        stack.shutdown().await;
    })
    .await;
}

/// Writes of the ungated check: enough that, with a broken compare-and-set, some reader's late
/// fill lands after a write (it did in every trial run with the fill script made unconditional).
const WRITES: i32 = 300;
const LAST: i64 = WRITES as i64 + 1;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reads_that_start_after_a_write_returned_never_see_an_older_rev() {
    watchdog(async {
        let stack = Arc::new(stack("stale_stress").start().await);
        let p = stack.create("Widget", 0).await;
        // The rev of the last write that returned.
        let committed = Arc::new(AtomicI64::new(1));
        let done = Arc::new(AtomicBool::new(false));

        let readers: Vec<_> = (0..4)
            .map(|_| {
                let (stack, committed, done) = (
                    Arc::clone(&stack),
                    Arc::clone(&committed),
                    Arc::clone(&done),
                );
                tokio::spawn(async move {
                    let query = stack
                        .ctx()
                        .document()
                        .query(&PRODUCT_SPEC)
                        .expect("query port");
                    let mut reads = 0u64;
                    while !done.load(Ordering::SeqCst) {
                        let floor = committed.load(Ordering::SeqCst);
                        let got = query.get(p.id).await.expect("get");
                        assert!(
                            got.rev >= floor,
                            "a read that started after rev {floor} was written returned rev {}",
                            got.rev
                        );
                        assert_eq!(got.price as i64, got.rev - 1, "fields match the rev");
                        reads += 1;
                    }
                    reads
                })
            })
            .collect();

        let docs = stack
            .ctx()
            .document()
            .command(&PRODUCT_SPEC)
            .expect("command port");
        let mut rev = 1;
        for i in 1..=WRITES {
            let updated = docs
                .update(p.id, rev, common::price(i))
                .await
                .expect("update");
            rev = updated.rev;
            committed.store(rev, Ordering::SeqCst);
            tokio::task::yield_now().await;
        }
        done.store(true, Ordering::SeqCst);
        let mut total = 0;
        for reader in readers {
            total += reader
                .await
                .expect("a reader saw an older rev (see its panic)");
        }
        assert!(total > 0, "the readers ran");

        // Quiescent: Redis holds the last rev (value or tombstone), and a read returns it.
        let raw = stack.raw_state(p.id).await;
        assert!(
            matches!(raw, Raw::Tombstone(LAST) | Raw::Value { rev: LAST, .. }),
            "{raw:?}"
        );
        assert_eq!(stack.get(p.id).await.expect("get").rev, LAST);
        stack.shutdown().await;
    })
    .await;
}
