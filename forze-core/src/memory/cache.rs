//! `MemoryCache`: the in-memory [`Cache`], with the versioned CAS, tombstones and TTLs.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::BoxFuture;
use crate::cache::{Cache, CacheEntry, CacheFill, Invalidation, Lookup};
use crate::clock::{SharedClock, system_clock};
use crate::error::Result;

/// What a key of a [`MemoryCache`] holds, for tests (the `testing` feature).
#[cfg(feature = "testing")]
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemoryCacheState {
    /// A cached value at `rev`.
    Value {
        /// The rev the payload was read at.
        rev: i64,
        /// The payload, as filled.
        payload: Vec<u8>,
    },
    /// A tombstone: fills below `rev` are rejected.
    Tombstone {
        /// The rev the key is known to have reached.
        rev: i64,
    },
}

#[derive(Debug, Clone)]
enum Slot {
    Value { rev: i64, payload: Arc<[u8]> },
    Tombstone { rev: i64 },
}

#[derive(Debug, Clone)]
struct Entry {
    slot: Slot,
    expires_at: Instant,
    /// The idle deadline of a value filled with a sliding window.
    idle_until: Option<Instant>,
}

impl Entry {
    /// A value whose idle deadline passed (or that has none), seen by a sliding operation.
    fn idle_expired(&self, now: Instant) -> bool {
        matches!(self.slot, Slot::Value { .. }) && self.idle_until.is_none_or(|t| t <= now)
    }
}

/// An in-process shared cache implementing the [`Cache`] contract exactly (see
/// [`crate::cache`]): compare-and-set fills by rev, tombstones, evictions, and absolute and idle
/// (sliding) lifetimes measured on an injectable clock.
///
/// Every entry has a finite expiry (its `ttl`, capped at about 8900 years like on Redis): unlike
/// a Redis key, an entry cannot exist without one, so no key here can keep reads away from a
/// value for ever.
///
/// Cheap to clone: clones share the entries, so one `MemoryCache` registered in two runtimes
/// behaves like one Redis shared by two replicas.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use forze_core::cache::{Cache, CacheFill, Invalidation};
/// use forze_core::memory::MemoryCache;
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let cache = MemoryCache::new();
/// let ttl = Duration::from_secs(60);
/// assert!(cache.fill(CacheFill::new("k", 1, b"{}".to_vec(), ttl)).await?);
/// cache.invalidate_many(&[Invalidation::new("k", 2, ttl)]).await?;
/// // A late fill of the old rev is rejected by the tombstone.
/// assert!(!cache.fill(CacheFill::new("k", 1, b"{}".to_vec(), ttl)).await?);
/// assert!(cache.get("k").await?.is_none());
/// # Ok::<(), forze_core::Error>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct MemoryCache {
    entries: Arc<Mutex<HashMap<String, Entry>>>,
    /// Keys written since the last sweep of expired entries.
    writes: Arc<AtomicUsize>,
    /// How many keys the last sweep left.
    swept_len: Arc<AtomicUsize>,
    clock: SharedClock,
}

/// The fewest writes between two sweeps of expired entries.
const SWEEP_EVERY: usize = 1024;

/// The longest lifetime an entry gets: 2^48 ms (about 8900 years), the cap the Redis backend
/// applies too.
const MAX_LIFETIME: Duration = Duration::from_millis(1 << 48);

/// `now + ttl`, with `ttl` capped at [`MAX_LIFETIME`] so the addition cannot overflow (and
/// panic): every entry has a finite deadline. Should even the cap overflow the platform's
/// `Instant`, the entry expires at once (it is a cache: the next read refills it).
fn deadline(now: Instant, ttl: Duration) -> Instant {
    now.checked_add(ttl.min(MAX_LIFETIME)).unwrap_or(now)
}

impl fmt::Debug for MemoryCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryCache")
            .field("keys", &self.entries.lock().len())
            .finish()
    }
}

impl Default for MemoryCache {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryCache {
    /// An empty cache on the system clock.
    pub fn new() -> Self {
        Self::with_clock(system_clock())
    }

    /// An empty cache measuring TTLs on `clock` (a [`MockClock`](crate::clock::MockClock) in
    /// tests).
    pub fn with_clock(clock: SharedClock) -> Self {
        MemoryCache {
            entries: Arc::new(Mutex::new(HashMap::new())),
            writes: Arc::new(AtomicUsize::new(0)),
            swept_len: Arc::new(AtomicUsize::new(0)),
            clock,
        }
    }

    /// What `key` holds now (values and tombstones; expired entries are `None`). For tests
    /// (the `testing` feature).
    #[cfg(feature = "testing")]
    pub fn state(&self, key: &str) -> Option<MemoryCacheState> {
        let now = self.clock.now();
        let entries = self.entries.lock();
        let entry = entries.get(key).filter(|e| e.expires_at > now)?;
        Some(match &entry.slot {
            Slot::Value { rev, payload } => MemoryCacheState::Value {
                rev: *rev,
                payload: payload.to_vec(),
            },
            Slot::Tombstone { rev } => MemoryCacheState::Tombstone { rev: *rev },
        })
    }

    /// How long the value or tombstone under `key` lives at most from now (its absolute
    /// expiry), if the key is live.
    pub fn expires_in(&self, key: &str) -> Option<Duration> {
        let now = self.clock.now();
        let entries = self.entries.lock();
        let entry = entries.get(key).filter(|e| e.expires_at > now)?;
        Some(entry.expires_at - now)
    }

    /// How long the value under `key` lives from now without a sliding read (its idle
    /// deadline), if it is a live value filled with a sliding window. Zero once the deadline
    /// passed (the next sliding read misses).
    pub fn idle_expires_in(&self, key: &str) -> Option<Duration> {
        let now = self.clock.now();
        let entries = self.entries.lock();
        let entry = entries.get(key).filter(|e| e.expires_at > now)?;
        match entry.slot {
            Slot::Value { .. } => entry.idle_until.map(|t| t.saturating_duration_since(now)),
            Slot::Tombstone { .. } => None,
        }
    }

    /// The number of live keys (values and tombstones).
    pub fn len(&self) -> usize {
        let now = self.clock.now();
        self.entries
            .lock()
            .values()
            .filter(|e| e.expires_at > now)
            .count()
    }

    /// Whether no key is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drop every key.
    pub fn clear(&self) {
        self.entries.lock().clear();
    }

    /// Count `n` key writes; once as many writes happened since the last sweep as that sweep
    /// left keys (and at least [`SWEEP_EVERY`]), drop every expired entry. Expired keys nobody
    /// touches again (every create writes a tombstone) would otherwise stay forever; this way
    /// the map holds at most about twice the keys live at the last sweep, and the sweep's cost
    /// is amortised over the writes.
    fn after_writes(&self, entries: &mut HashMap<String, Entry>, n: usize, now: Instant) {
        let writes = self.writes.fetch_add(n, Ordering::Relaxed) + n;
        if writes >= self.swept_len.load(Ordering::Relaxed).max(SWEEP_EVERY) {
            entries.retain(|_, e| e.expires_at > now);
            self.writes.store(0, Ordering::Relaxed);
            self.swept_len.store(entries.len(), Ordering::Relaxed);
        }
    }

    fn live<'m>(
        entries: &'m mut HashMap<String, Entry>,
        key: &str,
        now: Instant,
    ) -> Option<&'m mut Entry> {
        if entries.get(key).is_some_and(|e| e.expires_at <= now) {
            entries.remove(key);
        }
        entries.get_mut(key)
    }

    fn get_now(
        entries: &mut HashMap<String, Entry>,
        key: &str,
        now: Instant,
    ) -> Option<CacheEntry> {
        Self::lookup_now(entries, key, now).into_value()
    }

    fn lookup_now(entries: &mut HashMap<String, Entry>, key: &str, now: Instant) -> Lookup {
        match Self::live(entries, key, now).map(|e| &e.slot) {
            Some(Slot::Value { rev, payload }) => {
                Lookup::Value(CacheEntry::new(*rev, payload.to_vec()))
            }
            Some(Slot::Tombstone { rev }) => Lookup::Tombstone(*rev),
            None => Lookup::Absent,
        }
    }

    /// A sliding read: a hit extends the idle deadline, an idle-expired value becomes a
    /// tombstone at its rev and misses.
    fn get_sliding_now(
        entries: &mut HashMap<String, Entry>,
        key: &str,
        window: Duration,
        now: Instant,
    ) -> Option<CacheEntry> {
        Self::lookup_sliding_now(entries, key, window, now).into_value()
    }

    fn lookup_sliding_now(
        entries: &mut HashMap<String, Entry>,
        key: &str,
        window: Duration,
        now: Instant,
    ) -> Lookup {
        let Some(entry) = Self::live(entries, key, now) else {
            return Lookup::Absent;
        };
        let (rev, payload) = match &entry.slot {
            Slot::Value { rev, payload } => (*rev, payload),
            Slot::Tombstone { rev } => return Lookup::Tombstone(*rev),
        };
        if entry.idle_expired(now) {
            entry.slot = Slot::Tombstone { rev };
            entry.idle_until = None;
            return Lookup::Tombstone(rev);
        }
        let hit = CacheEntry::new(rev, payload.to_vec());
        entry.idle_until = Some(deadline(now, window).min(entry.expires_at));
        Lookup::Value(hit)
    }

    fn fill_now(entries: &mut HashMap<String, Entry>, fill: CacheFill, now: Instant) -> bool {
        let install = match Self::live(entries, &fill.key, now) {
            None => true,
            Some(entry) => match entry.slot {
                Slot::Value { rev, .. } if fill.sliding.is_some() && entry.idle_expired(now) => {
                    fill.rev >= rev
                }
                Slot::Value { rev, .. } if fill.refresh => fill.rev >= rev,
                Slot::Value { rev, .. } => fill.rev > rev,
                Slot::Tombstone { rev } => fill.rev >= rev,
            },
        };
        if install {
            let idle_until = fill.idle_lifetime().map(|idle| deadline(now, idle));
            entries.insert(
                fill.key,
                Entry {
                    slot: Slot::Value {
                        rev: fill.rev,
                        payload: fill.payload.into(),
                    },
                    expires_at: deadline(now, fill.ttl),
                    idle_until,
                },
            );
        }
        install
    }
}

impl Cache for MemoryCache {
    fn lookup<'a>(
        &'a self,
        key: &'a str,
        sliding: Option<Duration>,
    ) -> BoxFuture<'a, Result<Lookup>> {
        let now = self.clock.now();
        let mut entries = self.entries.lock();
        let found = match sliding {
            Some(window) => Self::lookup_sliding_now(&mut entries, key, window, now),
            None => Self::lookup_now(&mut entries, key, now),
        };
        Box::pin(std::future::ready(Ok(found)))
    }

    fn lookup_many<'a>(
        &'a self,
        keys: &'a [String],
        sliding: Option<Duration>,
    ) -> BoxFuture<'a, Result<Vec<Lookup>>> {
        let now = self.clock.now();
        let mut entries = self.entries.lock();
        let found = keys
            .iter()
            .map(|key| match sliding {
                Some(window) => Self::lookup_sliding_now(&mut entries, key, window, now),
                None => Self::lookup_now(&mut entries, key, now),
            })
            .collect();
        Box::pin(std::future::ready(Ok(found)))
    }

    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<CacheEntry>>> {
        let now = self.clock.now();
        let entry = Self::get_now(&mut self.entries.lock(), key, now);
        Box::pin(std::future::ready(Ok(entry)))
    }

    fn get_many<'a>(
        &'a self,
        keys: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<Option<CacheEntry>>>> {
        let now = self.clock.now();
        let mut entries = self.entries.lock();
        let found = keys
            .iter()
            .map(|k| Self::get_now(&mut entries, k, now))
            .collect();
        Box::pin(std::future::ready(Ok(found)))
    }

    fn get_sliding<'a>(
        &'a self,
        key: &'a str,
        window: Duration,
    ) -> BoxFuture<'a, Result<Option<CacheEntry>>> {
        let now = self.clock.now();
        let entry = Self::get_sliding_now(&mut self.entries.lock(), key, window, now);
        Box::pin(std::future::ready(Ok(entry)))
    }

    fn get_many_sliding<'a>(
        &'a self,
        keys: &'a [String],
        window: Duration,
    ) -> BoxFuture<'a, Result<Vec<Option<CacheEntry>>>> {
        let now = self.clock.now();
        let mut entries = self.entries.lock();
        let found = keys
            .iter()
            .map(|k| Self::get_sliding_now(&mut entries, k, window, now))
            .collect();
        Box::pin(std::future::ready(Ok(found)))
    }

    fn fill(&self, fill: CacheFill) -> BoxFuture<'_, Result<bool>> {
        let now = self.clock.now();
        let mut entries = self.entries.lock();
        let installed = Self::fill_now(&mut entries, fill, now);
        self.after_writes(&mut entries, 1, now);
        Box::pin(std::future::ready(Ok(installed)))
    }

    fn fill_many(&self, fills: Vec<CacheFill>) -> BoxFuture<'_, Result<Vec<bool>>> {
        let now = self.clock.now();
        let mut entries = self.entries.lock();
        let n = fills.len();
        let installed = fills
            .into_iter()
            .map(|f| Self::fill_now(&mut entries, f, now))
            .collect();
        self.after_writes(&mut entries, n, now);
        Box::pin(std::future::ready(Ok(installed)))
    }

    fn invalidate_many<'a>(
        &'a self,
        invalidations: &'a [Invalidation],
    ) -> BoxFuture<'a, Result<()>> {
        let now = self.clock.now();
        let mut entries = self.entries.lock();
        for inv in invalidations {
            let mut expires_at = deadline(now, inv.ttl);
            let rev = match Self::live(&mut entries, &inv.key, now) {
                None => inv.rev,
                Some(Entry {
                    slot: Slot::Value { rev, .. },
                    ..
                }) => (*rev).max(inv.rev),
                // A tombstone's remaining lifetime never shrinks (as in Redis).
                Some(Entry {
                    slot: Slot::Tombstone { rev },
                    expires_at: live_until,
                    ..
                }) => {
                    expires_at = expires_at.max(*live_until);
                    (*rev).max(inv.rev)
                }
            };
            entries.insert(
                inv.key.clone(),
                Entry {
                    slot: Slot::Tombstone { rev },
                    expires_at,
                    idle_until: None,
                },
            );
        }
        self.after_writes(&mut entries, invalidations.len(), now);
        Box::pin(std::future::ready(Ok(())))
    }

    fn evict<'a>(&'a self, key: &'a str, rev: i64, ttl: Duration) -> BoxFuture<'a, Result<()>> {
        let now = self.clock.now();
        let mut entries = self.entries.lock();
        if let Some(entry) = Self::live(&mut entries, key, now)
            && matches!(entry.slot, Slot::Value { rev: v, .. } if v == rev)
        {
            *entry = Entry {
                slot: Slot::Tombstone { rev },
                expires_at: deadline(now, ttl),
                idle_until: None,
            };
        }
        Box::pin(std::future::ready(Ok(())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::MockClock;

    #[tokio::test]
    async fn expired_keys_nobody_touches_are_swept() {
        let clock = MockClock::new();
        let c = MemoryCache::with_clock(Arc::new(clock.clone()));
        let short = Duration::from_secs(1);
        let n = 3 * SWEEP_EVERY;
        for i in 0..n {
            let inv = [Invalidation::new(format!("old{i}"), 1, short)];
            c.invalidate_many(&inv).await.unwrap();
        }
        assert_eq!(c.len(), n);
        clock.advance(2 * short);
        assert_eq!(c.len(), 0, "all expired");
        // Writes of other keys sweep the expired ones: the map stays near the live keys.
        for i in 0..n {
            c.fill(CacheFill::new(format!("new{i}"), 1, b"{}".to_vec(), TTL))
                .await
                .unwrap();
        }
        let raw = c.entries.lock().len();
        assert!(raw < 2 * n, "{raw} keys held for {n} live");
        assert_eq!(c.len(), n, "no live key was dropped");
    }

    const TTL: Duration = Duration::from_secs(60);

    #[tokio::test]
    async fn huge_lifetimes_are_capped_not_a_panic() {
        let c = MemoryCache::new();
        let forever = Duration::MAX;
        assert!(
            c.fill(CacheFill::new("v", 1, b"{}".to_vec(), forever).with_sliding(forever))
                .await
                .unwrap()
        );
        c.invalidate_many(&[Invalidation::new("t", 1, forever)])
            .await
            .unwrap();
        c.fill(CacheFill::new("e", 1, b"{}".to_vec(), TTL))
            .await
            .unwrap();
        c.evict("e", 1, forever).await.unwrap();
        assert!(c.get_sliding("v", forever).await.unwrap().is_some());
        for key in ["v", "t", "e"] {
            let left = c.expires_in(key).expect("live");
            assert!(left <= MAX_LIFETIME, "{key}: {left:?}");
        }
    }

    fn fill(key: &str, rev: i64) -> CacheFill {
        CacheFill::new(key, rev, format!("{rev}").into_bytes(), TTL)
    }

    #[tokio::test]
    async fn the_contract_table() {
        let c = MemoryCache::new();
        // fill on nothing installs; on a value only a higher rev.
        assert!(c.fill(fill("k", 2)).await.unwrap());
        assert!(!c.fill(fill("k", 2)).await.unwrap());
        assert!(!c.fill(fill("k", 1)).await.unwrap());
        assert!(c.fill(fill("k", 3)).await.unwrap());
        assert_eq!(c.get("k").await.unwrap().unwrap().rev, 3);
        // invalidate on a value: tombstone max(v, t').
        c.invalidate_many(&[Invalidation::new("k", 1, TTL)])
            .await
            .unwrap();
        assert_eq!(c.state("k"), Some(MemoryCacheState::Tombstone { rev: 3 }));
        assert!(c.get("k").await.unwrap().is_none());
        // fill on a tombstone: iff r >= t.
        assert!(!c.fill(fill("k", 2)).await.unwrap());
        assert!(c.fill(fill("k", 3)).await.unwrap());
        // evict only at the same rev.
        c.evict("k", 2, TTL).await.unwrap();
        assert_eq!(c.get("k").await.unwrap().unwrap().rev, 3);
        c.evict("k", 3, TTL).await.unwrap();
        assert_eq!(c.state("k"), Some(MemoryCacheState::Tombstone { rev: 3 }));
        // invalidate on nothing and on a tombstone.
        c.invalidate_many(&[
            Invalidation::new("n", 5, TTL),
            Invalidation::new("k", 9, TTL),
        ])
        .await
        .unwrap();
        assert_eq!(c.state("n"), Some(MemoryCacheState::Tombstone { rev: 5 }));
        assert_eq!(c.state("k"), Some(MemoryCacheState::Tombstone { rev: 9 }));
        // evict on nothing does nothing.
        c.evict("none", 1, TTL).await.unwrap();
        assert_eq!(c.state("none"), None);
    }

    #[tokio::test]
    async fn ttls_follow_the_clock() {
        let clock = MockClock::new();
        let c = MemoryCache::with_clock(Arc::new(clock.clone()));
        c.fill(CacheFill::new("a", 1, vec![1], Duration::from_secs(2)))
            .await
            .unwrap();
        c.invalidate_many(&[Invalidation::new("t", 7, Duration::from_secs(4))])
            .await
            .unwrap();
        clock.advance(Duration::from_secs(2));
        assert!(c.get("a").await.unwrap().is_none());
        assert!(!c.fill(fill("t", 6)).await.unwrap(), "tombstone still live");
        clock.advance(Duration::from_secs(2));
        assert!(c.fill(fill("t", 6)).await.unwrap(), "tombstone expired");
    }

    const HOUR: Duration = Duration::from_secs(3600);
    const WINDOW: Duration = Duration::from_secs(60);

    fn sliding(key: &str, rev: i64) -> CacheFill {
        CacheFill::new(key, rev, format!("{rev}").into_bytes(), HOUR).with_sliding(WINDOW)
    }

    #[tokio::test]
    async fn a_sliding_read_keeps_an_entry_alive_up_to_its_cap() {
        let clock = MockClock::new();
        let c = MemoryCache::with_clock(Arc::new(clock.clone()));
        assert!(c.fill(sliding("k", 1)).await.unwrap());
        assert_eq!(c.idle_expires_in("k"), Some(WINDOW));
        assert_eq!(c.expires_in("k"), Some(HOUR));
        // Read every 30 s: alive far past the window, the idle deadline moves, the cap does not.
        for step in 1..=118u32 {
            clock.advance(Duration::from_secs(30));
            let hit = c.get_sliding("k", WINDOW).await.unwrap();
            assert_eq!(hit.map(|e| e.rev), Some(1), "read {step}");
            assert_eq!(c.idle_expires_in("k"), Some(WINDOW));
            assert_eq!(
                c.expires_in("k"),
                Some(HOUR - Duration::from_secs(30) * step)
            );
        }
        // 40 s before the cap the idle deadline is capped at the absolute expiry.
        clock.advance(Duration::from_secs(20));
        assert!(c.get_sliding("k", WINDOW).await.unwrap().is_some());
        assert_eq!(c.idle_expires_in("k"), Some(Duration::from_secs(40)));
        clock.advance(Duration::from_secs(40));
        assert_eq!(
            c.get_sliding("k", WINDOW).await.unwrap(),
            None,
            "the cap holds"
        );
        assert_eq!(c.state("k"), None);
    }

    #[tokio::test]
    async fn an_idle_entry_expires_after_its_window_and_becomes_a_tombstone() {
        let clock = MockClock::new();
        let c = MemoryCache::with_clock(Arc::new(clock.clone()));
        assert!(c.fill(sliding("k", 3)).await.unwrap());
        clock.advance(WINDOW - Duration::from_millis(1));
        assert!(c.get_sliding("k", WINDOW).await.unwrap().is_some());
        clock.advance(WINDOW);
        // A plain get ignores idle deadlines.
        assert_eq!(c.get("k").await.unwrap().map(|e| e.rev), Some(3));
        assert_eq!(c.get_sliding("k", WINDOW).await.unwrap(), None);
        assert_eq!(c.state("k"), Some(MemoryCacheState::Tombstone { rev: 3 }));
        assert_eq!(
            c.expires_in("k"),
            Some(HOUR - 2 * WINDOW + Duration::from_millis(1)),
            "the tombstone keeps the value's remaining lifetime"
        );
        // The tombstone at the value's rev: a refill at that rev installs, an older one not.
        assert!(!c.fill(sliding("k", 2)).await.unwrap());
        assert!(c.fill(sliding("k", 3)).await.unwrap());
        assert!(c.get_sliding("k", WINDOW).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn a_sliding_fill_replaces_an_idle_expired_value_at_its_rev() {
        let clock = MockClock::new();
        let c = MemoryCache::with_clock(Arc::new(clock.clone()));
        assert!(c.fill(sliding("k", 3)).await.unwrap());
        assert!(
            !c.fill(sliding("k", 3)).await.unwrap(),
            "live: same rev rejected"
        );
        clock.advance(WINDOW);
        assert!(!c.fill(sliding("k", 2)).await.unwrap());
        assert!(
            c.fill(sliding("k", 3)).await.unwrap(),
            "idle-expired: like tombstone 3"
        );
        assert_eq!(c.idle_expires_in("k"), Some(WINDOW));
        // A value filled without a window has no idle deadline: a sliding read misses.
        assert!(c.fill(fill("plain", 1)).await.unwrap());
        assert_eq!(c.idle_expires_in("plain"), None);
        assert_eq!(c.get_sliding("plain", WINDOW).await.unwrap(), None);
        // get_many_sliding: in order, each key on its own.
        assert!(c.fill(sliding("a", 1)).await.unwrap());
        let keys = ["a", "missing", "k"].map(String::from);
        let got = c.get_many_sliding(&keys, WINDOW).await.unwrap();
        let revs: Vec<Option<i64>> = got.iter().map(|e| e.as_ref().map(|e| e.rev)).collect();
        assert_eq!(revs, [Some(1), None, Some(3)]);
    }

    #[tokio::test]
    async fn a_refresh_installs_over_the_same_rev_only() {
        let clock = MockClock::new();
        let c = MemoryCache::with_clock(Arc::new(clock.clone()));
        assert!(c.fill(fill("k", 2)).await.unwrap());
        clock.advance(Duration::from_secs(30));
        assert!(!c.fill(fill("k", 2)).await.unwrap());
        assert!(c.fill(fill("k", 2).refresh()).await.unwrap());
        assert_eq!(
            c.expires_in("k"),
            Some(TTL),
            "the refresh renewed the lifetime"
        );
        assert!(!c.fill(fill("k", 1).refresh()).await.unwrap());
        c.invalidate_many(&[Invalidation::new("k", 3, TTL)])
            .await
            .unwrap();
        assert!(
            !c.fill(fill("k", 2).refresh()).await.unwrap(),
            "the CAS holds"
        );
    }
}
