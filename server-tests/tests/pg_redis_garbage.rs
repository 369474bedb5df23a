//! Bytes under a document's Redis key that forze cannot use, written raw with redis-rs at the key
//! `RedisCache` documents (`fz:<len>:<namespace>:{<id>}`): the read returns the correct document
//! from Postgres, never an error, and the key is repaired (it holds a valid entry afterwards).
//!
//! - garbage (no valid trailer, or another Redis type): a miss for the cache backend, overwritten
//!   by the fill;
//! - a well-formed value whose payload does not decode as the read model: the coordinator counts
//!   the decode failure, evicts it at its rev and the fill replaces it.

mod common;

use common::{ProductRead, Raw, Stack, assert_same, price, rev_hex, stack, watchdog};

async fn set_raw(stack: &Stack, doc: &ProductRead, bytes: &[u8]) {
    let mut conn = stack.raw().await;
    let _: () = redis::cmd("SET")
        .arg(stack.key(doc.id))
        .arg(bytes)
        .arg("PX")
        .arg(60_000)
        .query_async(&mut conn)
        .await
        .expect("raw SET");
}

/// The key holds a valid value of `doc` at its rev, and a read is a hit.
async fn assert_repaired(stack: &Stack, doc: &ProductRead, what: &str) {
    let raw = stack.raw_state(doc.id).await;
    assert_eq!(
        raw.rev_of_value(),
        Some(doc.rev),
        "{what}: the key was repaired: {raw:?}"
    );
    assert_same(
        &raw.read().expect("a value"),
        doc,
        &format!("{what}: the repaired entry"),
    );
    let (hits, reads) = (stack.stats().hits, stack.stats().store_reads);
    assert_same(&stack.get(doc.id).await.expect("get"), doc, what);
    assert_eq!(
        (stack.stats().hits, stack.stats().store_reads),
        (hits + 1, reads),
        "{what}: the next read is a hit"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_under_a_key_reads_the_store_and_the_key_is_repaired() {
    watchdog(async {
        let stack = stack("garbage").start().await;
        let created = stack.create("Widget", 10).await;
        // At rev 2, so that garbage is not mistaken for anything at rev 1.
        let doc = stack
            .ctx()
            .document()
            .command(&common::PRODUCT_SPEC)
            .expect("command port")
            .update(created.id, 1, price(12))
            .await
            .expect("update");

        let cases: [(&str, Vec<u8>); 5] = [
            ("text", b"definitely not a forze entry".to_vec()),
            ("binary", vec![0xff, 0x00, 0xfe, b'v', 0x01]),
            ("empty", Vec::new()),
            // A value trailer with non-hex digits.
            (
                "bad trailer",
                format!("{{}}v{}", "zz".repeat(8)).into_bytes(),
            ),
            // A tombstone-looking suffix after other bytes.
            ("bad tombstone", format!("xt{}", rev_hex(99)).into_bytes()),
        ];
        for (what, bytes) in cases {
            set_raw(&stack, &doc, &bytes).await;
            assert!(
                matches!(stack.raw_state(doc.id).await, Raw::Other(_)),
                "{what}: the garbage is in place"
            );
            let got = stack
                .get(doc.id)
                .await
                .expect("a garbage entry is never an error");
            assert_same(&got, &doc, what);
            assert_repaired(&stack, &doc, what).await;
        }

        // Another Redis type under the key (a list).
        let mut conn = stack.raw().await;
        let _: () = redis::cmd("DEL")
            .arg(stack.key(doc.id))
            .query_async(&mut conn)
            .await
            .expect("DEL");
        let _: i64 = redis::cmd("RPUSH")
            .arg(stack.key(doc.id))
            .arg("x")
            .query_async(&mut conn)
            .await
            .expect("RPUSH");
        let got = stack
            .get(doc.id)
            .await
            .expect("a list under the key is a miss");
        assert_same(&got, &doc, "list");
        assert_repaired(&stack, &doc, "list").await;
        stack.shutdown().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payload_that_does_not_decode_is_counted_evicted_and_replaced() {
    watchdog(async {
        let stack = stack("undecodable").start().await;
        let doc = stack.create("Widget", 10).await;
        let payloads: [(&str, &[u8]); 4] = [
            ("not json", b"not json"),
            ("wrong shape", br#"{"id": 7}"#),
            ("missing field", br#"{"name": "Widget"}"#),
            ("json null", b"null"),
        ];
        for (what, payload) in payloads {
            // A well-formed value at the document's rev (what a schema change looks like).
            let mut bytes = payload.to_vec();
            bytes.push(b'v');
            bytes.extend_from_slice(rev_hex(doc.rev).as_bytes());
            set_raw(&stack, &doc, &bytes).await;
            assert_eq!(
                stack.cached(doc.id).await.map(|e| (e.rev, e.payload)),
                Some((doc.rev, payload.to_vec())),
                "{what}: the cache handle sees a well-formed entry"
            );
            let decode_errors = stack.stats().decode_errors;
            let got = stack
                .get(doc.id)
                .await
                .expect("an undecodable payload is never an error");
            assert_same(&got, &doc, what);
            assert_eq!(
                stack.stats().decode_errors,
                decode_errors + 1,
                "{what}: the decode failure is counted"
            );
            assert_repaired(&stack, &doc, what).await;
        }

        // At a rev above the document's: the read is still correct and the bad value is gone
        // (a tombstone at that rev stays until a newer rev fills it; never the bad payload).
        let mut bytes = br#"{"id": 7}"#.to_vec();
        bytes.push(b'v');
        bytes.extend_from_slice(rev_hex(doc.rev + 5).as_bytes());
        set_raw(&stack, &doc, &bytes).await;
        let decode_errors = stack.stats().decode_errors;
        assert_same(&stack.get(doc.id).await.expect("get"), &doc, "higher rev");
        assert_eq!(stack.stats().decode_errors, decode_errors + 1);
        assert_eq!(stack.raw_state(doc.id).await, Raw::Tombstone(doc.rev + 5));
        assert_same(&stack.get(doc.id).await.expect("get"), &doc, "again");
        stack.shutdown().await;
    })
    .await;
}

/// Another document's entry copied under a document's key (a bug elsewhere, a manual `SET`):
/// never served as that document; counted, evicted, read from Postgres, and the key heals.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_documents_entry_under_a_key_is_never_served() {
    watchdog(async {
        let stack = stack("foreign").start().await;
        let doc = stack.create("Widget", 10).await;
        let other = stack.create("Gadget", 99).await;
        stack.warm(&other).await;
        let foreign = stack.raw_bytes(other.id).await.expect("other is cached");
        set_raw(&stack, &doc, &foreign).await;
        let before = stack.stats().foreign_payloads;
        let got = stack.get(doc.id).await.expect("get");
        assert_same(
            &got,
            &doc,
            "the document asked for, not the one under its key",
        );
        assert_eq!(stack.stats().foreign_payloads, before + 1);
        // The eviction left a short tombstone; once it is gone the next read refills.
        let mut healed = false;
        for _ in 0..40 {
            let got = stack.get(doc.id).await.expect("get");
            assert_same(&got, &doc, "never the other document");
            if stack.raw_state(doc.id).await.rev_of_value() == Some(doc.rev) {
                healed = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert!(healed, "the key holds the document again");
        assert_repaired(&stack, &doc, "foreign").await;
        stack.shutdown().await;
    })
    .await;
}

/// A 20 MB document: served, not written to Redis, counted, and no cache failure (the breaker
/// stays closed, so other documents keep their hits).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_20_mb_document_is_served_but_not_cached_and_trips_nothing() {
    watchdog(async {
        let stack = stack("oversize").start().await;
        let big = stack
            .ctx()
            .document()
            .command(&common::PRODUCT_SPEC)
            .expect("command port")
            .create(common::ProductCreate {
                name: "Big".to_owned(),
                price: 1,
                note: Some("x".repeat(20 << 20)),
            })
            .await
            .expect("create");
        let small = stack.create("Small", 2).await;
        stack.warm(&small).await;
        for _ in 0..5 {
            let got = stack.get(big.id).await.expect("get");
            assert_eq!(got.note.as_ref().map(String::len), Some(20 << 20));
            assert_same(&stack.get(small.id).await.expect("get"), &small, "small");
        }
        let stats = stack.stats();
        assert_eq!(stats.oversize, 5, "{stats:?}");
        assert_eq!(stats.cache_errors, 0, "{stats:?}");
        assert_eq!(stats.breaker, forze_core::BreakerState::Closed);
        assert!(
            stats.hits >= 5,
            "the small document kept its hits: {stats:?}"
        );
        assert!(
            stack.raw_state(big.id).await.rev_of_value().is_none(),
            "the big document is not in Redis"
        );
        stack.shutdown().await;
    })
    .await;
}
