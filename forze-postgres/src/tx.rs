//! Transactions: [`PostgresTransactionManager`] opens them, stores run on them via `StoreCx`.

use std::any::Any;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use forze_core::BoxFuture;
use forze_core::store::{Transaction, TransactionManager};
use forze_core::{Error, ErrorKind, Result};
use sqlx::Postgres;
use tokio::sync::Mutex;

use crate::client::PostgresClient;
use crate::error::{from_sqlx, timed_out};

/// The sqlx transaction, `None` once committed or rolled back.
pub(crate) type TxSlot = Option<sqlx::Transaction<'static, Postgres>>;

/// Opens Postgres transactions on a [`PostgresClient`]'s pool; registered per route by
/// [`PostgresDepsModule::tx`](crate::PostgresDepsModule::tx).
///
/// # Examples
///
/// ```no_run
/// use std::sync::Arc;
/// use forze_core::store::{StoreCx, TransactionManager};
/// use forze_postgres::{PostgresClient, PostgresTransactionManager};
///
/// # #[allow(dead_code)]
/// # async fn demo(pg: PostgresClient) -> forze_core::Result<()> {
/// let manager = PostgresTransactionManager::new(pg);
/// let tx = manager.begin().await?;
/// let cx = StoreCx::in_tx(Arc::clone(&tx));
/// // ... store calls with &cx run inside the transaction ...
/// tx.commit().await?;
/// # drop(cx);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct PostgresTransactionManager {
    client: PostgresClient,
}

impl PostgresTransactionManager {
    /// A manager on `client`'s pool.
    pub fn new(client: PostgresClient) -> Self {
        PostgresTransactionManager { client }
    }
}

impl TransactionManager for PostgresTransactionManager {
    fn begin(&self) -> BoxFuture<'_, Result<Arc<dyn Transaction>>> {
        Box::pin(async move {
            let connected = self.client.connected()?;
            let limit = connected.client_timeout();
            let what = format!("postgres transaction on {}", connected.target);
            // Acquire and BEGIN: nothing is written yet, so a failure is not applied; a refused
            // connection fails fast (see `PostgresConfig::acquire_timeout`).
            let tx = connected
                .wait_for_pool(&what, None, connected.pool.begin())
                .await?;
            let tx: Arc<dyn Transaction> = Arc::new(PostgresTransaction {
                client_id: self.client.id(),
                what: what.into(),
                limit,
                slot: Mutex::new(Some(tx)),
                aborted: AtomicBool::new(false),
            });
            Ok(tx)
        })
    }
}

/// An open Postgres transaction (one pooled connection inside `BEGIN`).
///
/// Stores reach it through [`StoreCx::tx`](forze_core::store::StoreCx). Calls through it are
/// serialized (one connection runs one statement at a time). After [`commit`](Transaction::commit)
/// or [`rollback`](Transaction::rollback) every use is an error. If a statement failed inside it
/// (outside the savepoint a batch write uses), Postgres has aborted it: `commit` then rolls back
/// and reports that nothing was committed. Dropped without either, it rolls back.
pub struct PostgresTransaction {
    client_id: u64,
    what: Arc<str>,
    limit: Option<std::time::Duration>,
    pub(crate) slot: Mutex<TxSlot>,
    pub(crate) aborted: AtomicBool,
}

impl PostgresTransaction {
    pub(crate) fn client_id(&self) -> u64 {
        self.client_id
    }

    pub(crate) fn mark_aborted(&self) {
        self.aborted.store(true, Ordering::Relaxed);
    }

    pub(crate) fn is_aborted(&self) -> bool {
        self.aborted.load(Ordering::Relaxed)
    }

    pub(crate) fn finished_error(&self) -> Error {
        Error::new(
            ErrorKind::Internal,
            format!(
                "{}: the transaction was already committed or rolled back",
                self.what
            ),
        )
    }

    async fn finish(&self, commit: bool) -> Result<()> {
        let mut slot = self.slot.lock().await;
        let tx = slot.take().ok_or_else(|| self.finished_error())?;
        let aborted = self.is_aborted();
        let fut = async {
            if commit && !aborted {
                tx.commit().await
            } else {
                tx.rollback().await
            }
        };
        let res = match self.limit {
            Some(limit) => tokio::time::timeout(limit, fut)
                .await
                .map_err(|_| timed_out(&self.what, limit))?,
            None => fut.await,
        };
        res.map_err(|e| from_sqlx(e, &self.what, None))?;
        if commit && aborted {
            return Err(Error::new(
                ErrorKind::Internal,
                format!(
                    "{}: a statement failed inside the transaction, so postgres aborted it; it \
                     was rolled back and nothing was committed",
                    self.what
                ),
            ));
        }
        Ok(())
    }
}

impl Transaction for PostgresTransaction {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn commit(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(self.finish(true))
    }

    fn rollback(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(self.finish(false))
    }
}

impl fmt::Debug for PostgresTransaction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresTransaction")
            .field("on", &self.what)
            .field("aborted", &self.is_aborted())
            .finish_non_exhaustive()
    }
}
