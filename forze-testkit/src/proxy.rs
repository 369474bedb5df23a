//! A loopback TCP proxy that simulates a network partition between a client and a server.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{AbortHandle, JoinHandle};

#[derive(Default)]
struct State {
    partitioned: AtomicBool,
    /// The live connections: each one's task and its `lost` flag. Changed only under the lock,
    /// together with `partitioned`, so a connection is either forwarded from its first byte or
    /// lost from its first byte (never half of a command).
    connections: Mutex<Vec<Connection>>,
    accepted: AtomicU64,
}

struct Connection {
    task: AbortHandle,
    /// Set once the connection has lived through (part of) a partition: from then on every
    /// byte is dropped until it is closed.
    lost: Arc<AtomicBool>,
}

impl State {
    fn connections(&self) -> std::sync::MutexGuard<'_, Vec<Connection>> {
        self.connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn close_all(&self) {
        for conn in self.connections().drain(..) {
            conn.task.abort();
        }
    }
}

/// A loopback TCP proxy in front of one upstream port, which can simulate a network partition.
///
/// Each accepted connection is forwarded to `127.0.0.1:<upstream>` over a connection of its own.
/// While [partitioned](PartitionProxy::partition), bytes in both directions are read and dropped,
/// as if the packets were lost: the upstream server never sees what the client sent meanwhile
/// (a command sent to Redis during the partition is never run, so its keys keep their old
/// values), and the client never sees an answer, so it times out. New connections are still
/// accepted during a partition, and their bytes are dropped too.
///
/// [`PartitionProxy::heal`] closes every connection that lived through the partition (the client
/// sees them reset and must reconnect, as after a real partition whose connections were torn
/// down) and forwards new connections again. Nothing sent during the partition is ever replayed.
///
/// The proxy's tasks run on the tokio runtime it was started on. Dropping the proxy stops
/// accepting and closes every connection.
///
/// ```no_run
/// # async fn demo(redis_port: u16) -> std::io::Result<()> {
/// use forze_testkit::PartitionProxy;
///
/// let proxy = PartitionProxy::start(redis_port).await?;
/// let url = proxy.redis_url(); // give this to the client under test
/// proxy.partition(); // from here on, nothing gets through either way
/// proxy.heal(); // connections closed; new ones are forwarded
/// # drop(url);
/// # Ok(())
/// # }
/// ```
pub struct PartitionProxy {
    addr: SocketAddr,
    upstream: u16,
    state: Arc<State>,
    accept: JoinHandle<()>,
}

impl fmt::Debug for PartitionProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PartitionProxy")
            .field("addr", &self.addr)
            .field("upstream", &self.upstream)
            .field("partitioned", &self.is_partitioned())
            .field("accepted", &self.accepted())
            .finish()
    }
}

impl PartitionProxy {
    /// Listen on `127.0.0.1:<free port>` and forward each connection to
    /// `127.0.0.1:<upstream>`.
    ///
    /// Must be called within a tokio runtime with the `net` driver enabled (the accept loop and
    /// the connections are spawned tasks). An accepted connection whose upstream connect fails
    /// is closed.
    pub async fn start(upstream: u16) -> io::Result<PartitionProxy> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(State::default());
        let accept = tokio::spawn(accept_loop(listener, upstream, Arc::clone(&state)));
        Ok(PartitionProxy {
            addr,
            upstream,
            state,
            accept,
        })
    }

    /// The proxy's listening address (`127.0.0.1:<port>`).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The proxy's port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `redis://127.0.0.1:<proxy port>`: a Redis URL through the proxy (plain TCP, no
    /// password; add what the upstream server needs).
    pub fn redis_url(&self) -> String {
        format!("redis://{}", self.addr)
    }

    /// Drop every byte from now on, in both directions, on existing and new connections.
    pub fn partition(&self) {
        let connections = self.state.connections();
        self.state.partitioned.store(true, Ordering::SeqCst);
        for conn in connections.iter() {
            conn.lost.store(true, Ordering::SeqCst);
        }
    }

    /// End the partition: close every existing connection (what was sent during the partition
    /// is lost for good) and forward again. Connections accepted after this call are forwarded.
    pub fn heal(&self) {
        let mut connections = self.state.connections();
        self.state.partitioned.store(false, Ordering::SeqCst);
        for conn in connections.drain(..) {
            conn.task.abort();
        }
    }

    /// Whether the proxy is partitioned now.
    pub fn is_partitioned(&self) -> bool {
        self.state.partitioned.load(Ordering::SeqCst)
    }

    /// How many connections the proxy has accepted since it started (a client's reconnect after
    /// [`heal`](PartitionProxy::heal) shows up here).
    pub fn accepted(&self) -> u64 {
        self.state.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for PartitionProxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.state.close_all();
    }
}

async fn accept_loop(listener: TcpListener, upstream: u16, state: Arc<State>) {
    while let Ok((client, _)) = listener.accept().await {
        state.accepted.fetch_add(1, Ordering::SeqCst);
        let mut connections = state.connections();
        connections.retain(|c| !c.task.is_finished());
        let lost = Arc::new(AtomicBool::new(state.partitioned.load(Ordering::SeqCst)));
        let conn_lost = Arc::clone(&lost);
        let task = tokio::spawn(async move {
            let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)).await else {
                return;
            };
            let _ = client.set_nodelay(true);
            let _ = server.set_nodelay(true);
            let (cr, cw) = client.into_split();
            let (sr, sw) = server.into_split();
            tokio::join!(
                pump(cr, sw, Arc::clone(&conn_lost)),
                pump(sr, cw, conn_lost)
            );
        });
        connections.push(Connection {
            task: task.abort_handle(),
            lost,
        });
    }
}

async fn pump(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, lost: Arc<AtomicBool>) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if lost.load(Ordering::SeqCst) {
            continue; // lost
        }
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}
