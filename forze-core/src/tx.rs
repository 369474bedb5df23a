//! The transaction scope: the store transaction a context runs in, and the work (cache
//! invalidations) queued for after its commit. Below the coordinator, the ports and the runtime,
//! which all use it; it knows only the store.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::BoxFuture;
use crate::store::Transaction;

/// Work to run once the transaction committed (cache invalidations of its writes).
pub(crate) trait AfterCommit: Send {
    fn run(self: Box<Self>) -> BoxFuture<'static, ()>;
}

/// The after-commit queue, and whether it was taken.
#[derive(Default)]
struct Queue {
    work: Vec<Box<dyn AfterCommit>>,
    /// Set when the queue is taken (commit or rollback): later work is handed back to the caller
    /// to run at once.
    closed: bool,
}

/// An open transaction of a context: the backend transaction, its route, the after-commit
/// queue, and the writes in flight in it.
///
/// Writes run detached, so a handler may abandon one (a timeout, a `select!`) and still return
/// `Ok`: the write keeps running and queues its invalidation when its store call returns. The
/// commit therefore first waits for every write in flight ([`WriteGuard`]) and only then takes
/// the queue; and a write that queues after that (which cannot happen through the ports, as
/// they register before they start) gets its work back to run at once.
pub(crate) struct TxScope {
    pub(crate) route: String,
    pub(crate) tx: Arc<dyn Transaction>,
    queue: Mutex<Queue>,
    in_flight: AtomicUsize,
    idle: Notify,
}

impl fmt::Debug for TxScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TxScope")
            .field("route", &self.route)
            .field("deferred", &self.queue.lock().work.len())
            .field("in_flight", &self.in_flight.load(Ordering::Acquire))
            .finish()
    }
}

impl TxScope {
    pub(crate) fn new(route: String, tx: Arc<dyn Transaction>) -> Self {
        TxScope {
            route,
            tx,
            queue: Mutex::new(Queue::default()),
            in_flight: AtomicUsize::new(0),
            idle: Notify::new(),
        }
    }

    /// Queue `work` for after the commit. If the queue was already taken (the transaction
    /// finished), `work` is handed back: the caller runs it at once (an extra invalidation only
    /// costs a miss; a lost one serves stale data).
    pub(crate) fn defer(&self, work: Box<dyn AfterCommit>) -> Option<Box<dyn AfterCommit>> {
        let mut queue = self.queue.lock();
        if queue.closed {
            return Some(work);
        }
        queue.work.push(work);
        None
    }

    /// Register a write in flight; the commit waits until the guard is dropped. Call it before
    /// the write starts (before its task is spawned).
    pub(crate) fn begin_write(self: &Arc<Self>) -> WriteGuard {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        WriteGuard(Arc::clone(self))
    }

    /// Wait until no write is in flight.
    pub(crate) async fn writes_done(&self) {
        loop {
            // Created before the check: a `notify_waiters` after the check still wakes it.
            let idle = self.idle.notified();
            if self.in_flight.load(Ordering::Acquire) == 0 {
                return;
            }
            idle.await;
        }
    }

    /// Take the queue and close it (to run it after the commit, or to drop it on rollback).
    pub(crate) fn take_deferred(&self) -> Vec<Box<dyn AfterCommit>> {
        let mut queue = self.queue.lock();
        queue.closed = true;
        std::mem::take(&mut queue.work)
    }
}

/// A write in flight in a transaction (see [`TxScope::begin_write`]).
pub(crate) struct WriteGuard(Arc<TxScope>);

impl Drop for WriteGuard {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use super::*;
    use crate::error::Result;

    struct NoTx;
    impl Transaction for NoTx {
        fn as_any(&self) -> &dyn std::any::Any {
            self
        }
        fn commit(&self) -> BoxFuture<'_, Result<()>> {
            Box::pin(std::future::ready(Ok(())))
        }
        fn rollback(&self) -> BoxFuture<'_, Result<()>> {
            Box::pin(std::future::ready(Ok(())))
        }
    }

    struct Flag(Arc<AtomicBool>);
    impl AfterCommit for Flag {
        fn run(self: Box<Self>) -> BoxFuture<'static, ()> {
            self.0.store(true, Ordering::SeqCst);
            Box::pin(std::future::ready(()))
        }
    }

    #[tokio::test]
    async fn work_deferred_after_the_queue_was_taken_is_handed_back() {
        let scope = TxScope::new("r".into(), Arc::new(NoTx));
        let (early, late) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicBool::new(false)),
        );
        assert!(scope.defer(Box::new(Flag(Arc::clone(&early)))).is_none());
        let taken = scope.take_deferred();
        assert_eq!(taken.len(), 1);
        let back = scope
            .defer(Box::new(Flag(Arc::clone(&late))))
            .expect("a closed queue hands the work back");
        back.run().await;
        assert!(late.load(Ordering::SeqCst));
        assert!(scope.take_deferred().is_empty());
    }

    #[tokio::test]
    async fn writes_done_waits_for_every_guard() {
        tokio::time::timeout(std::time::Duration::from_secs(10), async {
            let scope = Arc::new(TxScope::new("r".into(), Arc::new(NoTx)));
            scope.writes_done().await;
            let (a, b) = (scope.begin_write(), scope.begin_write());
            let waiter = tokio::spawn({
                let scope = Arc::clone(&scope);
                async move { scope.writes_done().await }
            });
            drop(a);
            tokio::task::yield_now().await;
            assert!(!waiter.is_finished(), "one write is still in flight");
            drop(b);
            waiter.await.unwrap();
        })
        .await
        .expect("watchdog");
    }
}
