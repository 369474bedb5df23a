//! Failing fast when the Postgres server refuses connections.
//!
//! sqlx's pool treats a refused connect as "the server is starting up" and retries it with
//! backoff until the acquire timeout, then reports `PoolTimedOut` without the cause. So an
//! operation against a stopped server waited the whole acquire timeout (5 s by default) and its
//! error no longer said "connection refused".
//!
//! [`wait_for_pool`] races the pool with a probe: if the pool has not handed out a connection
//! within [`PROBE_AFTER`], the probe opens a plain TCP (or Unix socket) connection to the
//! server's address, as sqlx would, and closes it again without sending a byte (Postgres does
//! not log such connections). If that connect is refused, the operation fails at once with
//! `Unavailable`, marked not applied, with the `io::Error` as its source. Otherwise (accepted:
//! the pool is only busy; or no answer: the server is unreachable) it keeps waiting for the pool
//! as before.
//!
//! A probe's verdict is shared by every operation of the client for [`VERDICT_TTL`], so a burst
//! of operations against a stopped server costs one probe, and a busy pool costs at most one
//! probe per `VERDICT_TTL`.

use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use forze_core::{Error, ErrorKind, Result};
use sqlx::postgres::PgConnectOptions;

use crate::error::from_sqlx;

/// How long an operation waits for the pool before it probes the server.
pub(crate) const PROBE_AFTER: Duration = Duration::from_millis(50);
/// How long a probe's verdict (refused or not) is reused by other operations.
pub(crate) const VERDICT_TTL: Duration = Duration::from_millis(100);
/// How long a probe's connect may take; a server that does not answer at all (blackholed)
/// leaves the operation waiting for the pool's acquire timeout.
const PROBE_TIMEOUT: Duration = Duration::from_millis(500);

/// Where the server listens, resolved like sqlx does (`PgConnectOptions::fetch_socket`).
#[derive(Debug, Clone)]
enum Address {
    Tcp { host: String, port: u16 },
    Unix(PathBuf),
}

/// A refused connect, kept so that every operation sharing the verdict gets its own
/// `io::Error` of the same kind and text.
#[derive(Debug, Clone)]
struct Refusal {
    kind: io::ErrorKind,
    os: Option<i32>,
    text: String,
}

impl Refusal {
    fn from_io(err: &io::Error) -> Self {
        Refusal {
            kind: err.kind(),
            os: err.raw_os_error(),
            text: err.to_string(),
        }
    }

    fn to_io(&self) -> io::Error {
        match self.os {
            Some(code) => io::Error::from_raw_os_error(code),
            None => io::Error::new(self.kind, self.text.clone()),
        }
    }
}

#[derive(Debug)]
struct Verdict {
    at: Instant,
    refused: Option<Refusal>,
}

/// The probe of one client's server address, with its latest verdict.
#[derive(Debug)]
pub(crate) struct Probe {
    address: Address,
    /// The latest verdict; the lock also makes concurrent operations share one probe.
    last: tokio::sync::Mutex<Option<Verdict>>,
}

impl Probe {
    pub(crate) fn new(options: &PgConnectOptions) -> Self {
        let host = options.get_host();
        let port = options.get_port();
        let address = match options.get_socket() {
            Some(dir) => Address::Unix(dir.join(format!(".s.PGSQL.{port}"))),
            None if host.starts_with('/') => {
                Address::Unix(PathBuf::from(format!("{host}/.s.PGSQL.{port}")))
            }
            None => Address::Tcp {
                host: host.to_owned(),
                port,
            },
        };
        Probe {
            address,
            last: tokio::sync::Mutex::new(None),
        }
    }

    /// `Some(err)` if the server refuses connections (a verdict at most [`VERDICT_TTL`] old
    /// is reused), `None` if it accepted one or did not answer within the probe timeout.
    pub(crate) async fn refused(&self) -> Option<io::Error> {
        let mut last = self.last.lock().await;
        if let Some(v) = last.as_ref()
            && v.at.elapsed() < VERDICT_TTL
        {
            return v.refused.as_ref().map(Refusal::to_io);
        }
        let refused = self.connect().await;
        let err = refused.as_ref().map(Refusal::to_io);
        *last = Some(Verdict {
            at: Instant::now(),
            refused,
        });
        err
    }

    /// One connect to the server's address, closed at once.
    async fn connect(&self) -> Option<Refusal> {
        let res = match &self.address {
            Address::Tcp { host, port } => tokio::time::timeout(
                PROBE_TIMEOUT,
                tokio::net::TcpStream::connect((host.as_str(), *port)),
            )
            .await
            .map(|r| r.map(drop)),
            Address::Unix(path) => {
                tokio::time::timeout(PROBE_TIMEOUT, tokio::net::UnixStream::connect(path))
                    .await
                    .map(|r| r.map(drop))
            }
        };
        match res {
            Ok(Err(e)) if e.kind() == io::ErrorKind::ConnectionRefused => {
                Some(Refusal::from_io(&e))
            }
            // Accepted, another error (sqlx reports those itself, at once), or no answer.
            _ => None,
        }
    }
}

/// What [`wait_for_pool`] needs to know about the client.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PoolWait<'a> {
    pub(crate) probe: &'a Probe,
    /// `host:port/database`, for messages.
    pub(crate) target: &'a str,
    pub(crate) acquire_timeout: Duration,
}

/// Wait for `fut`, a pool acquire (or a `BEGIN` on a freshly acquired connection), failing
/// fast if the server refuses connections. Nothing of the operation was sent to the server
/// yet, so every error is marked [`not_applied`](Error::not_applied).
pub(crate) async fn wait_for_pool<T>(
    wait: PoolWait<'_>,
    what: &str,
    table: Option<&str>,
    fut: impl Future<Output = std::result::Result<T, sqlx::Error>>,
) -> Result<T> {
    let started = Instant::now();
    let mut fut = std::pin::pin!(fut);
    let res = match tokio::time::timeout(PROBE_AFTER, &mut fut).await {
        Ok(res) => res,
        Err(_) => {
            let refused = async {
                match wait.probe.refused().await {
                    Some(err) => err,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                res = &mut fut => res,
                err = refused => return Err(refused_error(wait, what, started.elapsed(), err)),
            }
        }
    };
    res.map_err(|e| from_sqlx(e, what, table).not_applied())
}

/// The error for an operation that failed fast because the server refused connections.
pub(crate) fn refused_error(
    wait: PoolWait<'_>,
    what: &str,
    after: Duration,
    err: io::Error,
) -> Error {
    Error::new(
        ErrorKind::Unavailable,
        format!(
            "{what}: postgres at {} refused the connection (server down or not listening); \
             failed after {} ms instead of waiting for the {:?} acquire timeout",
            wait.target,
            after.as_millis(),
            wait.acquire_timeout
        ),
    )
    .with_source(err)
    .not_applied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn probe(url: &str) -> Probe {
        Probe::new(&PgConnectOptions::from_str(url).expect("valid url"))
    }

    /// A loopback port nothing listens on (bound, then released).
    fn closed_port() -> u16 {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = l.local_addr().expect("addr").port();
        drop(l);
        port
    }

    #[test]
    fn address_follows_sqlx() {
        assert!(matches!(
            probe("postgres://u@127.0.0.1:5433/db").address,
            Address::Tcp { ref host, port: 5433 } if host == "127.0.0.1"
        ));
        assert!(matches!(
            probe("postgres://u@%2Fvar%2Frun%2Fpostgresql/db").address,
            Address::Unix(ref p) if p == &PathBuf::from("/var/run/postgresql/.s.PGSQL.5432")
        ));
    }

    #[tokio::test]
    async fn refused_is_detected_and_shared() {
        let port = closed_port();
        let p = probe(&format!("postgres://u@127.0.0.1:{port}/db"));
        let err = p.refused().await.expect("nothing listens: refused");
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
        // The verdict is reused, with its own io::Error of the same kind.
        let again = p.refused().await.expect("still refused");
        assert_eq!(again.kind(), io::ErrorKind::ConnectionRefused);
    }

    #[tokio::test]
    async fn a_listening_server_is_not_refused() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = l.local_addr().expect("addr").port();
        let p = probe(&format!("postgres://u@127.0.0.1:{port}/db"));
        assert!(p.refused().await.is_none());
    }

    #[tokio::test]
    async fn wait_for_pool_fails_fast_on_refusal_and_marks_not_applied() {
        let port = closed_port();
        let p = probe(&format!("postgres://u@127.0.0.1:{port}/db"));
        let wait = PoolWait {
            probe: &p,
            target: "127.0.0.1/db",
            acquire_timeout: Duration::from_secs(5),
        };
        let started = Instant::now();
        let err = wait_for_pool(
            wait,
            "document `t`",
            None,
            std::future::pending::<std::result::Result<(), sqlx::Error>>(),
        )
        .await
        .expect_err("refused");
        assert!(started.elapsed() < Duration::from_secs(1));
        assert_eq!(err.kind(), ErrorKind::Unavailable);
        assert!(err.is_not_applied());
        assert!(err.to_string().contains("refused the connection"), "{err}");
        let source = std::error::Error::source(&err).expect("source");
        let io = source.downcast_ref::<io::Error>().expect("an io::Error");
        assert_eq!(io.kind(), io::ErrorKind::ConnectionRefused);
    }

    #[tokio::test]
    async fn pool_errors_are_not_applied() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = l.local_addr().expect("addr").port();
        let p = probe(&format!("postgres://u@127.0.0.1:{port}/db"));
        let wait = PoolWait {
            probe: &p,
            target: "127.0.0.1/db",
            acquire_timeout: Duration::from_secs(5),
        };
        for slow in [false, true] {
            let err = wait_for_pool(wait, "document `t`", None, async move {
                if slow {
                    tokio::time::sleep(PROBE_AFTER * 3).await;
                }
                Err::<(), _>(sqlx::Error::PoolTimedOut)
            })
            .await
            .expect_err("timed out");
            assert_eq!(err.kind(), ErrorKind::Unavailable);
            assert!(err.is_not_applied(), "slow={slow}: {err:?}");
            assert!(!err.outcome_unknown());
        }
    }
}
