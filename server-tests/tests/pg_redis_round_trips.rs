//! One Redis round trip per cache step through the ports, counted on a private `redis-server`
//! with `CONFIG RESETSTAT` + `INFO commandstats`: a `query.get` on a cached document is exactly
//! one `GET`; a miss one `GET` plus one `EVALSHA` (the fill); a write one `EVALSHA` (the
//! tombstone); `get_many` one `MGET` (plus one `EVALSHA` filling all its misses).
//!
//! Redis also counts the commands the scripts run inside the server (`GETRANGE`, `STRLEN`,
//! `SET`, `PTTL`): they cost no round trip and are left out; so are the inspection commands.

mod common;

use std::collections::BTreeMap;

use common::{PRODUCT_SPEC, Stack, assert_same, price, private_redis, stack, watchdog};

/// Commands that only run inside the cache scripts (no round trip of their own).
const INSIDE_SCRIPTS: &[&str] = &["getrange", "strlen", "set", "pttl"];
/// The `GET` of the epoch key (`fz:epoch`) the fill script runs inside the server, once per
/// fill call (not a round trip; `INFO commandstats` cannot tell it from a client's `GET`).
const FILL_EPOCH_GET: u64 = 1;
/// The inspection commands of this test.
const INSPECTION: &[&str] = &["info", "config|resetstat"];

struct Counter {
    admin: redis::aio::MultiplexedConnection,
}

impl Counter {
    async fn new(stack: &Stack) -> Counter {
        Counter {
            admin: stack.raw().await,
        }
    }

    async fn reset(&mut self) {
        let _: () = redis::cmd("CONFIG")
            .arg("RESETSTAT")
            .query_async(&mut self.admin)
            .await
            .expect("CONFIG RESETSTAT");
    }

    /// The round-trip commands since the last reset: `command -> calls`.
    async fn round_trips(&mut self) -> BTreeMap<String, u64> {
        let info: String = redis::cmd("INFO")
            .arg("commandstats")
            .query_async(&mut self.admin)
            .await
            .expect("INFO commandstats");
        let mut calls = BTreeMap::new();
        for line in info.lines() {
            let Some((name, stats)) = line
                .strip_prefix("cmdstat_")
                .and_then(|rest| rest.split_once(':'))
            else {
                continue;
            };
            if INSIDE_SCRIPTS.contains(&name) || INSPECTION.contains(&name) {
                continue;
            }
            let n: u64 = stats
                .split(',')
                .find_map(|kv| kv.strip_prefix("calls="))
                .and_then(|v| v.parse().ok())
                .expect("calls=N");
            calls.insert(name.to_owned(), n);
        }
        calls
    }

    /// Reset, run `step`, and check the round trips it cost.
    async fn expect<F: std::future::Future>(
        &mut self,
        what: &str,
        want: &[(&str, u64)],
        step: F,
    ) -> F::Output {
        self.reset().await;
        let out = step.await;
        let want: BTreeMap<String, u64> = want.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect();
        assert_eq!(self.round_trips().await, want, "{what}");
        out
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_cache_step_through_the_ports_is_one_round_trip() {
    let redis = private_redis().await;
    watchdog(async {
        let stack = stack("round_trips").redis(redis.url()).start().await;
        let mut counter = Counter::new(&stack).await;
        let ctx = stack.ctx();
        let docs = ctx.document().command(&PRODUCT_SPEC).expect("command port");
        let query = ctx.document().query(&PRODUCT_SPEC).expect("query port");

        let p = counter
            .expect(
                "create: one EVALSHA (tombstone)",
                &[("evalsha", 1)],
                stack.create("Widget", 10),
            )
            .await;
        let got = counter
            .expect(
                "get, miss: one GET, then one EVALSHA (fill; its epoch check is a GET inside)",
                &[("get", 1 + FILL_EPOCH_GET), ("evalsha", 1)],
                query.get(p.id),
            )
            .await
            .expect("get");
        assert_same(&got, &p, "miss");
        for i in 0..3 {
            let got = counter
                .expect(
                    &format!("get, hit #{i}: exactly one GET"),
                    &[("get", 1)],
                    query.get(p.id),
                )
                .await
                .expect("get");
            assert_same(&got, &p, "hit");
        }
        let updated = counter
            .expect(
                "update: one EVALSHA (tombstone)",
                &[("evalsha", 1)],
                docs.update(p.id, p.rev, price(12)),
            )
            .await
            .expect("update");
        let got = counter
            .expect(
                "get after the update: one GET (tombstone, a miss), one EVALSHA (fill)",
                &[("get", 1 + FILL_EPOCH_GET), ("evalsha", 1)],
                query.get(p.id),
            )
            .await
            .expect("get");
        assert_same(&got, &updated, "fresh after the update");
        counter
            .expect("touch: one EVALSHA", &[("evalsha", 1)], docs.touch(p.id))
            .await
            .expect("touch");

        // Batches: one MGET for all ids, one EVALSHA filling all misses.
        let (a, b) = (stack.create("a", 1).await, stack.create("b", 2).await);
        let many = counter
            .expect(
                "get_many, three misses: one MGET, one EVALSHA",
                &[("mget", 1), ("evalsha", 1), ("get", FILL_EPOCH_GET)],
                query.get_many(&[a.id, b.id, p.id]),
            )
            .await
            .expect("get_many");
        assert_eq!(many.len(), 3);
        counter
            .expect(
                "get_many, all hits: one MGET",
                &[("mget", 1)],
                query.get_many(&[a.id, b.id, p.id]),
            )
            .await
            .expect("get_many");
        counter
            .expect(
                "update_many of two ids: one EVALSHA",
                &[("evalsha", 1)],
                docs.update_many(vec![(a.id, 1, price(5)), (b.id, 1, price(6))]),
            )
            .await
            .expect("update_many");
        counter
            .expect(
                "delete_many of two ids: one EVALSHA",
                &[("evalsha", 1)],
                docs.delete_many(&[a.id, b.id]),
            )
            .await
            .expect("delete_many");
        counter
            .expect("delete: one EVALSHA", &[("evalsha", 1)], docs.delete(p.id))
            .await
            .expect("delete");
        // A no-op update writes nothing and sends nothing to Redis.
        let q = stack.create("q", 7).await;
        counter
            .expect(
                "no-op update: no Redis traffic",
                &[],
                docs.update(q.id, 1, price(7)),
            )
            .await
            .expect("no-op update");
        stack.shutdown().await;
    })
    .await;
    tokio::task::spawn_blocking(move || redis.stop())
        .await
        .expect("join")
        .expect("stop redis");
}
