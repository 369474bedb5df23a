//! A loopback TCP proxy that simulates a network partition between forze and Redis.
//!
//! While partitioned, bytes in both directions are read and dropped (as if the packets were
//! lost): Redis never sees the commands sent meanwhile, and its keys keep their old values.
//! [`Proxy::heal`] closes every connection that lived through the partition (the client must
//! reconnect, as after a real partition) and forwards again.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use std::sync::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{AbortHandle, JoinHandle};

#[derive(Default)]
struct State {
    partitioned: AtomicBool,
    connections: Mutex<Vec<AbortHandle>>,
}

/// The proxy; stops accepting and closes every connection on drop.
pub struct Proxy {
    addr: SocketAddr,
    state: Arc<State>,
    accept: JoinHandle<()>,
}

impl Proxy {
    /// Forward `127.0.0.1:<free port>` to `127.0.0.1:<upstream>`.
    pub async fn start(upstream: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let addr = listener.local_addr().expect("proxy address");
        let state = Arc::new(State::default());
        let accept = {
            let state = Arc::clone(&state);
            tokio::spawn(async move {
                while let Ok((client, _)) = listener.accept().await {
                    let state2 = Arc::clone(&state);
                    let task = tokio::spawn(async move {
                        let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)).await else {
                            return;
                        };
                        let _ = client.set_nodelay(true);
                        let _ = server.set_nodelay(true);
                        let (cr, cw) = client.into_split();
                        let (sr, sw) = server.into_split();
                        tokio::join!(
                            pump(cr, sw, Arc::clone(&state2)),
                            pump(sr, cw, Arc::clone(&state2))
                        );
                    });
                    state
                        .connections
                        .lock()
                        .expect("proxy lock")
                        .push(task.abort_handle());
                }
            })
        };
        Proxy {
            addr,
            state,
            accept,
        }
    }

    /// `redis://127.0.0.1:<proxy port>`.
    pub fn url(&self) -> String {
        format!("redis://{}", self.addr)
    }

    /// Drop every byte from now on, in both directions.
    pub fn partition(&self) {
        self.state.partitioned.store(true, Ordering::SeqCst);
    }

    /// Close every existing connection (what was sent during the partition is lost for good)
    /// and forward new connections again.
    pub fn heal(&self) {
        self.close_all();
        self.state.partitioned.store(false, Ordering::SeqCst);
    }

    fn close_all(&self) {
        for task in self.state.connections.lock().expect("proxy lock").drain(..) {
            task.abort();
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.close_all();
    }
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    state: Arc<State>,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if state.partitioned.load(Ordering::SeqCst) {
            continue; // lost
        }
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}
