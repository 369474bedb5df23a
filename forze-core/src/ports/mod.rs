//! The typed ports handlers call: `DocumentCommand<D>`, `DocumentQuery<D>`, `CacheHandle`.
//!
//! They convert the generated DTOs to and from untyped rows (serde_json) and sit on the
//! object-safe [`DocumentStore`](crate::store::DocumentStore) and on the spec's lane
//! (read-through, invalidation after commit).

mod cache;
mod command;
mod find;
mod query;

use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, SubsecRound, Utc};
use uuid::Uuid;

pub use cache::CacheHandle;
pub use command::DocumentCommand;
pub use find::{DEFAULT_PAGE_SIZE, Find, FindRequest};
pub use query::DocumentQuery;

use crate::clock::SharedClock;
use crate::error::{Error, ErrorKind, Result};
use crate::store::StoreCx;
use crate::tx::TxScope;

/// What a port carries from its context: tenant, transaction, clock.
#[derive(Clone)]
pub(crate) struct PortScope {
    pub(crate) tenant: Option<Uuid>,
    pub(crate) tx: Option<Arc<TxScope>>,
    pub(crate) clock: SharedClock,
    pub(crate) cursor_key: crate::query::CursorKey,
}

impl std::fmt::Debug for PortScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PortScope")
            .field("tenant", &self.tenant)
            .field("transaction", &self.tx.as_ref().map(|t| &t.route))
            .finish()
    }
}

impl PortScope {
    pub(crate) fn store_cx(&self) -> StoreCx {
        match &self.tx {
            Some(tx) => StoreCx::in_tx(Arc::clone(&tx.tx)),
            None => StoreCx::none(),
        }
        .with_tenant(self.tenant)
    }

    /// Now on the runtime clock, at the microsecond precision every backend keeps.
    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.clock.utc_now().trunc_subsecs(6)
    }
}

/// Run a write detached: once it has started, its store write and the cache invalidation that
/// follows complete even if the caller goes away (so a committed write is never left
/// uninvalidated). Lazy like any future: nothing happens before the first poll.
///
/// Inside a transaction, the write is registered with it on the first poll, before the task is
/// spawned: the commit waits for it, so the invalidation it queues is never left behind, even if
/// the handler abandoned the write and its body returned `Ok`.
pub(crate) async fn detached<T: Send + 'static>(
    tx: Option<Arc<TxScope>>,
    write: impl Future<Output = Result<T>> + Send + 'static,
) -> Result<T> {
    let in_flight = tx.as_ref().map(TxScope::begin_write);
    let write = async move {
        let result = write.await;
        drop(in_flight);
        result
    };
    match tokio::spawn(write).await {
        Ok(result) => result,
        Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
        Err(_) => Err(Error::new(
            ErrorKind::Internal,
            "the write task was cancelled (the tokio runtime is shutting down)",
        )),
    }
}

/// `ids` repeated: a `Validation` error naming them.
pub(crate) fn distinct(
    document: &str,
    what: &str,
    ids: impl IntoIterator<Item = Uuid>,
) -> Result<()> {
    let mut seen = std::collections::HashSet::new();
    let repeated: Vec<String> = ids
        .into_iter()
        .filter(|id| !seen.insert(*id))
        .map(|id| id.to_string())
        .collect();
    if repeated.is_empty() {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::Validation,
            format!(
                "`{what}` of document `{document}` needs distinct ids; repeated: [{}]",
                repeated.join(", ")
            ),
        ))
    }
}
