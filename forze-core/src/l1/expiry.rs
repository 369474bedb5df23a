//! Lifetimes on the injected clock, as nanoseconds since the store was built.

use std::fmt;
use std::time::{Duration, Instant};

use crate::clock::SharedClock;
use crate::counter::Counter;

use super::L1Stats;

/// Reads the clock and turns the uniform TTL into expiry stamps.
pub(crate) struct Lifetimes {
    clock: SharedClock,
    base: Instant,
    ttl: Duration,
    ttl_nanos: u64,
}

impl fmt::Debug for Lifetimes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lifetimes")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl Lifetimes {
    pub(crate) fn new(clock: SharedClock, ttl: Duration) -> Self {
        let base = clock.now();
        Lifetimes {
            clock,
            base,
            ttl,
            ttl_nanos: u64::try_from(ttl.as_nanos()).unwrap_or(u64::MAX),
        }
    }

    pub(crate) fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Now, in nanoseconds since the base instant (saturating: 584 years).
    #[inline]
    pub(crate) fn now(&self) -> u64 {
        let elapsed = self.clock.now().saturating_duration_since(self.base);
        u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX)
    }

    /// The expiry stamp of an entry whose lifetime began at `since` (not after `now`), or
    /// `None` if it has already ended.
    #[inline]
    pub(crate) fn expiry_since(&self, since: Instant, now: u64) -> Option<u64> {
        let elapsed = since.saturating_duration_since(self.base);
        let born = u64::try_from(elapsed.as_nanos())
            .unwrap_or(u64::MAX)
            .min(now);
        let expires = self.expiry(born);
        (!is_expired(expires, now)).then_some(expires)
    }

    /// The expiry stamp of an entry written at `now`.
    #[inline]
    pub(crate) fn expiry(&self, now: u64) -> u64 {
        now.saturating_add(self.ttl_nanos)
    }
}

/// An entry written at `expires` is gone at `now` once `now >= expires`.
#[inline]
pub(crate) fn is_expired(expires: u64, now: u64) -> bool {
    now >= expires
}

/// The counters of [`L1Stats`], kept under the store's lock: bumped with
/// [`Counter::inc_mut`] (a plain add, the lock is held anyway).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) hits: Counter,
    pub(crate) misses: Counter,
    pub(crate) evictions: Counter,
    pub(crate) rejections: Counter,
    pub(crate) invalidations: Counter,
    pub(crate) expirations: Counter,
}

impl Counters {
    pub(crate) fn stats(&self, size: usize, capacity: usize) -> L1Stats {
        L1Stats {
            size,
            capacity,
            hits: self.hits.get(),
            misses: self.misses.get(),
            evictions: self.evictions.get(),
            rejections: self.rejections.get(),
            invalidations: self.invalidations.get(),
            expirations: self.expirations.get(),
        }
    }
}
