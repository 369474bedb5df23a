//! The transaction a context runs in, and the work queued for after its commit.

use std::fmt;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::store::{BoxFuture, Transaction};

/// Work to run once the transaction committed (cache invalidations of its writes).
pub(crate) trait AfterCommit: Send {
    fn run(self: Box<Self>) -> BoxFuture<'static, ()>;
}

/// An open transaction of a context: the backend transaction, its route, and the after-commit
/// queue.
pub(crate) struct TxScope {
    pub(crate) route: String,
    pub(crate) tx: Arc<dyn Transaction>,
    deferred: Mutex<Vec<Box<dyn AfterCommit>>>,
}

impl fmt::Debug for TxScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TxScope")
            .field("route", &self.route)
            .field("deferred", &self.deferred.lock().len())
            .finish()
    }
}

impl TxScope {
    pub(crate) fn new(route: String, tx: Arc<dyn Transaction>) -> Self {
        TxScope {
            route,
            tx,
            deferred: Mutex::new(Vec::new()),
        }
    }

    /// Queue `work` for after the commit.
    pub(crate) fn defer(&self, work: Box<dyn AfterCommit>) {
        self.deferred.lock().push(work);
    }

    /// Take the queue (to run it after the commit, or to drop it on rollback).
    pub(crate) fn take_deferred(&self) -> Vec<Box<dyn AfterCommit>> {
        std::mem::take(&mut *self.deferred.lock())
    }
}
