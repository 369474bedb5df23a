//! The freshness contract of the batch and conditional write verbs: once a verb returned, a
//! read on either replica (separate runtimes sharing the store and the cache) sees its result,
//! though both had the old version cached.

mod common;

use common::{Fixture, create, get, price};
use forze_core::memory::MemoryCacheState;
use forze_core::query::{Filter, Op};
use forze_core::testing::{PRODUCT_SPEC, ProductCreate, ProductRead, watchdog};
use forze_core::{DocumentCommand, ErrorKind, ExecutionContext};
use uuid::Uuid;

struct Two {
    f: Fixture,
    a: ExecutionContext,
    b: ExecutionContext,
}

impl Two {
    fn new() -> Self {
        let f = Fixture::new();
        let a = f.ctx();
        let b = f.replica().context();
        Two { f, a, b }
    }

    fn cmd(&self) -> DocumentCommand<forze_core::testing::Product> {
        self.b.document().command(&PRODUCT_SPEC).unwrap()
    }

    /// Create on B, then read on both replicas so the shared cache holds the document.
    async fn cached(&self, p: i32) -> ProductRead {
        let doc = create(&self.b, p).await;
        assert_eq!(get(&self.a, doc.id).await.unwrap(), doc);
        assert_eq!(get(&self.b, doc.id).await.unwrap(), doc);
        assert_eq!(
            self.cached_rev(doc.id),
            Some(doc.rev),
            "the read filled the cache"
        );
        doc
    }

    fn cached_rev(&self, id: Uuid) -> Option<i64> {
        match self.f.cache.state(&id.to_string()) {
            Some(MemoryCacheState::Value { rev, .. }) => Some(rev),
            _ => None,
        }
    }

    /// Both replicas read `expected`.
    async fn fresh(&self, expected: &ProductRead) {
        for (name, ctx) in [("A", &self.a), ("B", &self.b)] {
            assert_eq!(
                &get(ctx, expected.id).await.unwrap(),
                expected,
                "replica {name} reads the write"
            );
        }
    }

    /// Both replicas find `id` gone.
    async fn gone(&self, id: Uuid) {
        for (name, ctx) in [("A", &self.a), ("B", &self.b)] {
            let err = get(ctx, id).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::NotFound, "replica {name}: {err}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upsert_is_read_fresh_on_both_replicas() {
    watchdog(async {
        let t = Two::new();
        let p = t.cached(10).await;
        let v2 = t
            .cmd()
            .upsert(p.id, p.rev, ProductCreate::new("Widget", 11))
            .await
            .unwrap();
        assert_eq!((v2.rev, v2.price, v2.created_at), (2, 11, p.created_at));
        t.fresh(&v2).await;

        // a batch: one update, one insert of an id read (absent) before
        let new = Uuid::now_v7();
        assert_eq!(
            get(&t.a, new).await.unwrap_err().kind(),
            ErrorKind::NotFound
        );
        let out = t
            .cmd()
            .upsert_many(vec![
                (p.id, v2.rev, ProductCreate::new("Widget", 12)),
                (new, 0, ProductCreate::new("Gadget", 5)),
            ])
            .await
            .unwrap();
        assert_eq!((out[0].rev, out[1].rev), (3, 1));
        t.fresh(&out[0]).await;
        t.fresh(&out[1]).await;

        let stale = t
            .cmd()
            .upsert(p.id, 1, ProductCreate::new("Widget", 1))
            .await
            .unwrap_err();
        assert_eq!(stale.kind(), ErrorKind::RevisionMismatch);
        assert!(stale.to_string().contains(&p.id.to_string()), "{stale}");
        t.fresh(&out[0]).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ensure_many_is_read_fresh_on_both_replicas() {
    watchdog(async {
        let t = Two::new();
        let p = t.cached(10).await;
        let new = Uuid::now_v7();
        assert_eq!(
            get(&t.a, new).await.unwrap_err().kind(),
            ErrorKind::NotFound
        );
        let out = t
            .cmd()
            .ensure_many(vec![
                (p.id, ProductCreate::new("ignored", 1)),
                (new, ProductCreate::new("Gadget", 5)),
            ])
            .await
            .unwrap();
        assert_eq!(out[0], p, "the existing one is unchanged");
        assert_eq!((out[1].id, out[1].rev, out[1].price), (new, 1, 5));
        t.fresh(&p).await;
        t.fresh(&out[1]).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn touch_many_is_read_fresh_on_both_replicas() {
    watchdog(async {
        let t = Two::new();
        let (p, q) = (t.cached(10).await, t.cached(20).await);
        t.f.clock.advance(std::time::Duration::from_secs(1));
        let out = t.cmd().touch_many(&[p.id, q.id]).await.unwrap();
        assert_eq!((out[0].rev, out[1].rev), (2, 2));
        assert!(out[0].last_update_at > p.last_update_at);
        t.fresh(&out[0]).await;
        t.fresh(&out[1]).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_at_is_read_fresh_on_both_replicas() {
    watchdog(async {
        let t = Two::new();
        let p = t.cached(10).await;
        let v2 = t.cmd().update(p.id, p.rev, price(11)).await.unwrap();
        t.fresh(&v2).await;
        let stale = t.cmd().delete_at(p.id, p.rev).await.unwrap_err();
        assert_eq!(stale.kind(), ErrorKind::RevisionMismatch, "{stale}");
        t.fresh(&v2).await;
        t.cmd().delete_at(p.id, v2.rev).await.unwrap();
        t.gone(p.id).await;

        let (q, r) = (t.cached(1).await, t.cached(2).await);
        t.cmd()
            .delete_many_at(&[(q.id, q.rev), (r.id, r.rev)])
            .await
            .unwrap();
        t.gone(q.id).await;
        t.gone(r.id).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_matching_is_read_fresh_on_both_replicas() {
    watchdog(async {
        let t = Two::new();
        let cheap = t.cached(10).await;
        let dear = t.cached(50).await;
        let five = t.cached(5).await;
        let n = t
            .cmd()
            .update_matching(Filter::field("price", Op::Ge, 10), price(5))
            .await
            .unwrap();
        assert_eq!(n, 2, "cheap and dear changed; five already held 5");
        for before in [&cheap, &dear] {
            let after = get(&t.a, before.id).await.unwrap();
            assert_eq!((after.rev, after.price), (2, 5));
            t.fresh(&after).await;
        }
        t.fresh(&five).await;
        assert_eq!(
            t.cached_rev(five.id),
            Some(1),
            "an unchanged document is not evicted"
        );

        // every document now at 5, and a filter the check refuses
        let n = t
            .cmd()
            .update_matching(Filter::field("price", Op::Eq, 5), price(6))
            .await
            .unwrap();
        assert_eq!(n, 3);
        let err = t
            .cmd()
            .update_matching(Filter::field("colour", Op::Eq, "red"), price(1))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Validation);
        assert!(err.to_string().contains("colour"), "{err}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verbs_in_a_transaction_invalidate_after_commit() {
    watchdog(async {
        let t = Two::new();
        let p = t.cached(10).await;
        let a = t.a.clone();
        t.b.transaction("products", |tx| {
            let (a, p) = (a.clone(), p.clone());
            async move {
                let docs = tx.document().command(&PRODUCT_SPEC)?;
                let n = docs
                    .update_matching(Filter::field("price", Op::Eq, 10), price(7))
                    .await?;
                assert_eq!(n, 1);
                assert_eq!(get(&a, p.id).await?, p, "uncommitted: the old version");
                Ok(())
            }
        })
        .await
        .unwrap();
        let after = get(&t.a, p.id).await.unwrap();
        assert_eq!((after.rev, after.price), (2, 7));
        t.fresh(&after).await;
    })
    .await;
}
