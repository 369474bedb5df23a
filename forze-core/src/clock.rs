//! Mockable time: the coordinator, the caches and the L1 read the clock through [`Clock`].

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use parking_lot::Mutex;

/// A source of monotonic and wall-clock time.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Monotonic now, for lifetimes.
    fn now(&self) -> Instant;
    /// Wall-clock now, for document timestamps and ages.
    fn utc_now(&self) -> DateTime<Utc>;
}

/// The real clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
    fn utc_now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// The shared handle to a clock.
pub type SharedClock = Arc<dyn Clock>;

/// The real clock as a [`SharedClock`].
pub fn system_clock() -> SharedClock {
    Arc::new(SystemClock)
}

/// A clock that moves only when told to, for deterministic TTL tests.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use forze_core::clock::{Clock, MockClock};
///
/// let clock = MockClock::new();
/// let t0 = clock.now();
/// clock.advance(Duration::from_secs(2));
/// assert_eq!(clock.now() - t0, Duration::from_secs(2));
/// ```
#[derive(Debug, Clone)]
pub struct MockClock {
    inner: Arc<Mutex<(Instant, DateTime<Utc>)>>,
}

impl MockClock {
    /// A mock clock starting at the real current time.
    pub fn new() -> Self {
        MockClock {
            inner: Arc::new(Mutex::new((Instant::now(), Utc::now()))),
        }
    }

    /// Move both clocks forward.
    pub fn advance(&self, by: Duration) {
        let mut t = self.inner.lock();
        t.0 += by;
        t.1 += chrono::Duration::from_std(by).unwrap_or(chrono::Duration::MAX);
    }
}

impl Default for MockClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for MockClock {
    fn now(&self) -> Instant {
        self.inner.lock().0
    }
    fn utc_now(&self) -> DateTime<Utc> {
        self.inner.lock().1
    }
}
