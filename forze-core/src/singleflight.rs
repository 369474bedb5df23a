//! Single-flight: at most one fetch per key in flight, however many callers wait for it.
//!
//! The fetch runs **detached** in a spawned task; every caller, the one that started it
//! included, awaits a shared result through a `watch` channel. Dropping any caller (a timeout, a
//! disconnect) therefore never cancels the fetch and never affects the other callers, and a fetch
//! that panics wakes every caller with an error instead of hanging them.
//!
//! The entry of a key stays registered until its fetch has finished (the fill of the shared cache
//! included), so callers that arrive in that window share the result instead of starting a second
//! fetch; it is removed just before the result is published, so no caller ever joins a fetch that
//! had already finished when it arrived. [`SingleFlight::forget`] drops the entry early: a write
//! calls it after commit, and a push invalidation (another replica wrote) on arrival, so that
//! readers that start after the write returned (or the push arrived) never join a fetch that
//! may have read the old value.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use tokio::sync::watch;

use crate::counter::Counter;
use crate::error::{Error, ErrorKind, Result};

type Slot<V> = Option<Result<V>>;

struct Flight<V> {
    id: u64,
    rx: watch::Receiver<Slot<V>>,
}

struct Inner<K, V> {
    flights: Mutex<HashMap<K, Flight<V>>>,
    next_id: AtomicU64,
    started: Counter,
    joined: Counter,
}

/// A map of in-flight fetches keyed by `K`, sharing `Result<V>` with every waiter.
pub(crate) struct SingleFlight<K, V> {
    inner: Arc<Inner<K, V>>,
}

impl<K, V> SingleFlight<K, V>
where
    K: Eq + Hash + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    pub(crate) fn new() -> Self {
        SingleFlight {
            inner: Arc::new(Inner {
                flights: Mutex::new(HashMap::new()),
                next_id: AtomicU64::new(0),
                started: Counter::default(),
                joined: Counter::default(),
            }),
        }
    }

    /// Join the fetch in flight for `key`, or start one by spawning `make()`.
    ///
    /// `make` is called only when no fetch is in flight. The returned future owns everything it
    /// needs and is cancel-safe: dropping it does not affect the fetch or the other waiters.
    ///
    /// Must be called inside a tokio runtime (the fetch is spawned).
    #[cfg(test)]
    pub(crate) fn run<F, Fut>(
        &self,
        key: K,
        make: F,
    ) -> impl Future<Output = Result<V>> + Send + 'static
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V>> + Send + 'static,
    {
        self.run_with_id(key, make).0
    }

    /// [`run`](Self::run), also returning the id of the flight joined or started: flights are
    /// numbered in the order they start, so comparing the id with an [`epoch`](Self::epoch)
    /// read earlier tells whether the flight started after that point.
    pub(crate) fn run_with_id<F, Fut>(
        &self,
        key: K,
        make: F,
    ) -> (impl Future<Output = Result<V>> + Send + 'static, u64)
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V>> + Send + 'static,
    {
        let (rx, id) = {
            let mut flights = self.inner.flights.lock();
            if let Some(flight) = flights.get(&key) {
                self.inner.joined.inc();
                (flight.rx.clone(), flight.id)
            } else {
                let id = self.inner.next_id.load(Ordering::Relaxed);
                (self.start(&mut flights, key, make), id)
            }
        };
        (wait(rx), id)
    }

    /// Join the fetch in flight for `key` only if it started at or after `epoch` (see
    /// [`epoch`](Self::epoch)); otherwise start a new one, which callers arriving from now on
    /// join instead of the older one (that one carries on for its own waiters).
    pub(crate) fn run_since<F, Fut>(
        &self,
        key: K,
        epoch: u64,
        make: F,
    ) -> impl Future<Output = Result<V>> + Send + 'static
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V>> + Send + 'static,
    {
        let rx = {
            let mut flights = self.inner.flights.lock();
            match flights.get(&key) {
                Some(flight) if flight.id >= epoch => {
                    self.inner.joined.inc();
                    flight.rx.clone()
                }
                _ => self.start(&mut flights, key, make),
            }
        };
        wait(rx)
    }

    /// The id the next flight to start will get: every flight with an id at least this started
    /// after this call.
    pub(crate) fn epoch(&self) -> u64 {
        // Ids are handed out under the map lock; reading under it orders this call with them.
        let _flights = self.inner.flights.lock();
        self.inner.next_id.load(Ordering::Relaxed)
    }

    /// Start a detached fetch for `key` if none is in flight (nobody waits for it); `true` if
    /// started. `make` is called only then (and dropped otherwise).
    ///
    /// Must be called inside a tokio runtime (the fetch is spawned).
    pub(crate) fn start_if_idle<F, Fut>(&self, key: K, make: F) -> bool
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V>> + Send + 'static,
    {
        let mut flights = self.inner.flights.lock();
        if flights.contains_key(&key) {
            return false;
        }
        drop(self.start(&mut flights, key, make));
        true
    }

    /// Register and spawn a fetch for `key` (with the map locked, and no flight for `key`).
    fn start<F, Fut>(
        &self,
        flights: &mut HashMap<K, Flight<V>>,
        key: K,
        make: F,
    ) -> watch::Receiver<Slot<V>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V>> + Send + 'static,
    {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = watch::channel(None);
        flights.insert(key.clone(), Flight { id, rx: rx.clone() });
        self.inner.started.inc();
        let fetch = make();
        let deregister = Deregister {
            inner: Arc::clone(&self.inner),
            key,
            id,
        };
        // `tokio::spawn` never polls the task inline, so holding the map lock here is
        // fine; the task removes its entry when it ends, also if it panics.
        tokio::spawn(async move {
            let result = fetch.await;
            // Deregister before publishing: a caller that arrives once the result is
            // out starts a fresh fetch instead of taking a result read before it came.
            drop(deregister);
            // No receiver left is fine: every caller went away, the fill still happened.
            let _ = tx.send(Some(result));
        });
        rx
    }

    /// Stop sharing the fetch in flight for `key` with callers that arrive from now on. The fetch
    /// itself continues for the callers already waiting.
    pub(crate) fn forget(&self, key: &K) {
        self.inner.flights.lock().remove(key);
    }

    /// [`forget`](Self::forget) every key: callers that arrive from now on start fresh fetches
    /// (a push-invalidation reset: any fetch in flight may have read a value changed since).
    pub(crate) fn forget_all(&self) {
        self.inner.flights.lock().clear();
    }

    /// How many fetches were started.
    pub(crate) fn started(&self) -> u64 {
        self.inner.started.get()
    }

    /// How many callers joined a fetch another caller started.
    pub(crate) fn joined(&self) -> u64 {
        self.inner.joined.get()
    }

    /// How many fetches are in flight now.
    pub(crate) fn in_flight(&self) -> usize {
        self.inner.flights.lock().len()
    }
}

async fn wait<V: Clone>(mut rx: watch::Receiver<Slot<V>>) -> Result<V> {
    match rx.wait_for(Option::is_some).await {
        Ok(slot) => match &*slot {
            Some(result) => result.clone(),
            None => Err(lost()),
        },
        Err(_) => Err(lost()),
    }
}

fn lost() -> Error {
    Error::new(
        ErrorKind::Internal,
        "the shared fetch ended without a result (its task panicked or the runtime shut down)",
    )
}

struct Deregister<K: Eq + Hash, V> {
    inner: Arc<Inner<K, V>>,
    key: K,
    id: u64,
}

impl<K: Eq + Hash, V> Drop for Deregister<K, V> {
    fn drop(&mut self) {
        let mut flights = self.inner.flights.lock();
        // A `forget` and a newer flight may have replaced our entry: only remove our own.
        if flights.get(&self.key).is_some_and(|f| f.id == self.id) {
            flights.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::sync::Notify;

    use super::*;

    const WATCHDOG: Duration = Duration::from_secs(10);

    async fn until(mut cond: impl FnMut() -> bool) {
        while !cond() {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test]
    async fn concurrent_callers_share_one_fetch_and_its_result() {
        tokio::time::timeout(WATCHDOG, async {
            let sf = SingleFlight::<u32, u64>::new();
            let gate = Arc::new(Notify::new());
            let calls = Arc::new(AtomicU64::new(0));
            let mut waiters = Vec::new();
            for _ in 0..10 {
                let (gate, calls) = (gate.clone(), calls.clone());
                waiters.push(tokio::spawn(sf.run(1, move || async move {
                    calls.fetch_add(1, Ordering::SeqCst);
                    gate.notified().await;
                    Ok(7)
                })));
            }
            until(|| sf.joined() == 9).await;
            gate.notify_one();
            for w in waiters {
                assert_eq!(w.await.unwrap().unwrap(), 7);
            }
            assert_eq!(calls.load(Ordering::SeqCst), 1);
            assert_eq!(sf.started(), 1);
            until(|| sf.in_flight() == 0).await;
        })
        .await
        .expect("watchdog");
    }

    #[tokio::test]
    async fn errors_are_shared() {
        tokio::time::timeout(WATCHDOG, async {
            let sf = SingleFlight::<u32, u64>::new();
            let gate = Arc::new(Notify::new());
            let g = gate.clone();
            let a = sf.run(1, move || async move {
                g.notified().await;
                Err(Error::new(ErrorKind::Unavailable, "down"))
            });
            let b = sf.run(1, || async { Ok(1) });
            gate.notify_one();
            assert_eq!(a.await.unwrap_err().kind(), ErrorKind::Unavailable);
            assert_eq!(b.await.unwrap_err().kind(), ErrorKind::Unavailable);
        })
        .await
        .expect("watchdog");
    }

    #[tokio::test]
    async fn dropping_the_leader_or_a_follower_does_not_affect_the_others() {
        tokio::time::timeout(WATCHDOG, async {
            let sf = SingleFlight::<u32, u64>::new();
            let gate = Arc::new(Notify::new());
            let g = gate.clone();
            let leader = sf.run(1, move || async move {
                g.notified().await;
                Ok(3)
            });
            let follower_a = sf.run(1, || async { Ok(0) });
            let follower_b = sf.run(1, || async { Ok(0) });
            // A follower times out, the leader is dropped.
            assert!(
                tokio::time::timeout(Duration::from_millis(1), follower_a)
                    .await
                    .is_err()
            );
            drop(leader);
            gate.notify_one();
            assert_eq!(follower_b.await.unwrap(), 3);
            assert_eq!(sf.started(), 1);
        })
        .await
        .expect("watchdog");
    }

    #[tokio::test]
    async fn a_panicking_fetch_fails_the_waiters_and_deregisters() {
        tokio::time::timeout(WATCHDOG, async {
            let sf = SingleFlight::<u32, u64>::new();
            let a = sf.run(1, || async { panic!("boom") });
            assert_eq!(a.await.unwrap_err().kind(), ErrorKind::Internal);
            until(|| sf.in_flight() == 0).await;
            assert_eq!(sf.run(1, || async { Ok(5) }).await.unwrap(), 5);
        })
        .await
        .expect("watchdog");
    }

    #[tokio::test]
    async fn start_if_idle_starts_only_without_a_flight() {
        tokio::time::timeout(WATCHDOG, async {
            let sf = SingleFlight::<u32, u64>::new();
            let gate = Arc::new(Notify::new());
            let g = gate.clone();
            let waiter = sf.run(1, move || async move {
                g.notified().await;
                Ok(1)
            });
            let calls = Arc::new(AtomicU64::new(0));
            let c = calls.clone();
            assert!(!sf.start_if_idle(1, move || async move {
                c.fetch_add(1, Ordering::SeqCst);
                Ok(2)
            }));
            gate.notify_one();
            assert_eq!(waiter.await.unwrap(), 1);
            until(|| sf.in_flight() == 0).await;
            let c = calls.clone();
            assert!(sf.start_if_idle(1, move || async move {
                c.fetch_add(1, Ordering::SeqCst);
                Ok(2)
            }));
            until(|| sf.in_flight() == 0).await;
            assert_eq!(calls.load(Ordering::SeqCst), 1);
            assert_eq!(sf.started(), 2);
        })
        .await
        .expect("watchdog");
    }

    #[tokio::test]
    async fn forget_all_detaches_every_flight() {
        tokio::time::timeout(WATCHDOG, async {
            let sf = SingleFlight::<u32, u64>::new();
            let (gate_1, gate_2) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
            let (g1, g2) = (gate_1.clone(), gate_2.clone());
            let old_1 = sf.run(1, move || async move {
                g1.notified().await;
                Ok(1)
            });
            let old_2 = sf.run(2, move || async move {
                g2.notified().await;
                Ok(2)
            });
            assert_eq!(sf.in_flight(), 2);
            sf.forget_all();
            assert_eq!(sf.in_flight(), 0);
            assert_eq!(sf.run(1, || async { Ok(10) }).await.unwrap(), 10);
            assert_eq!(sf.run(2, || async { Ok(20) }).await.unwrap(), 20);
            gate_1.notify_one();
            gate_2.notify_one();
            assert_eq!(old_1.await.unwrap(), 1);
            assert_eq!(old_2.await.unwrap(), 2);
            assert_eq!(sf.started(), 4);
        })
        .await
        .expect("watchdog");
    }

    #[tokio::test]
    async fn forget_starts_a_new_fetch_for_later_callers() {
        tokio::time::timeout(WATCHDOG, async {
            let sf = SingleFlight::<u32, u64>::new();
            let gate = Arc::new(Notify::new());
            let g = gate.clone();
            let old = sf.run(1, move || async move {
                g.notified().await;
                Ok(1)
            });
            sf.forget(&1);
            let new = sf.run(1, || async { Ok(2) });
            assert_eq!(new.await.unwrap(), 2);
            gate.notify_one();
            assert_eq!(old.await.unwrap(), 1);
            assert_eq!(sf.started(), 2);
        })
        .await
        .expect("watchdog");
    }
}
