//! A small circuit breaker for calls to the shared cache.
//!
//! Closed: calls go through; `threshold` consecutive failures open it. Open: calls are refused
//! without touching the cache until `cool_down` has passed on the runtime clock. Half-open: one
//! probe call is let through; its success closes the breaker, its failure opens it again.

use std::fmt;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::clock::SharedClock;

/// The state of a cache lane's circuit breaker, as reported by
/// [`CacheStats`](crate::CacheStats).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BreakerState {
    /// Calls go to the cache.
    Closed,
    /// Calls are refused: reads go to the store, invalidations are queued.
    Open,
    /// One probe call is allowed to find out whether the cache recovered.
    HalfOpen,
}

impl fmt::Display for BreakerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half-open",
        })
    }
}

#[derive(Debug, Clone, Copy)]
enum State {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { probing: bool },
}

pub(crate) struct Breaker {
    state: Mutex<State>,
    threshold: u32,
    cool_down: Duration,
    clock: SharedClock,
}

impl fmt::Debug for Breaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Breaker")
            .field("state", &self.state())
            .field("threshold", &self.threshold)
            .field("cool_down", &self.cool_down)
            .finish()
    }
}

impl Breaker {
    pub(crate) fn new(threshold: u32, cool_down: Duration, clock: SharedClock) -> Self {
        Breaker {
            state: Mutex::new(State::Closed { failures: 0 }),
            threshold: threshold.max(1),
            cool_down,
            clock,
        }
    }

    /// The state as seen now (an open breaker whose cool-down has passed reports half-open).
    pub(crate) fn state(&self) -> BreakerState {
        match *self.state.lock() {
            State::Closed { .. } => BreakerState::Closed,
            State::Open { until } if self.clock.now() >= until => BreakerState::HalfOpen,
            State::Open { .. } => BreakerState::Open,
            State::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    /// Ask to make one call. `None` = refused (open, or a probe is already out).
    pub(crate) fn try_acquire(&self) -> Option<Permit<'_>> {
        let mut state = self.state.lock();
        let probe = match *state {
            State::Closed { .. } => false,
            State::Open { until } => {
                if self.clock.now() < until {
                    return None;
                }
                *state = State::HalfOpen { probing: true };
                true
            }
            State::HalfOpen { probing: true } => return None,
            State::HalfOpen { probing: false } => {
                *state = State::HalfOpen { probing: true };
                true
            }
        };
        Some(Permit {
            breaker: self,
            probe,
            done: false,
        })
    }

    fn success(&self, probe: bool) {
        let mut state = self.state.lock();
        match *state {
            State::Closed { .. } => *state = State::Closed { failures: 0 },
            // Only the probe closes an open breaker: a slow call admitted before it opened
            // proves little.
            State::HalfOpen { .. } if probe => *state = State::Closed { failures: 0 },
            State::HalfOpen { .. } | State::Open { .. } => {}
        }
    }

    /// Close the breaker: a call made outside it (a probe, the flusher) got an answer.
    pub(crate) fn close(&self) {
        let mut state = self.state.lock();
        if !matches!(*state, State::Closed { .. }) {
            tracing::info!("cache answered again; circuit breaker closed");
        }
        *state = State::Closed { failures: 0 };
    }

    /// Whether calls are refused now (open, cool-down not over, or a probe out).
    pub(crate) fn is_open(&self) -> bool {
        !matches!(*self.state.lock(), State::Closed { .. })
    }

    /// `true` if this failure opened the breaker.
    fn failure(&self, probe: bool) -> bool {
        let mut state = self.state.lock();
        let open = State::Open {
            until: self.clock.now() + self.cool_down,
        };
        match *state {
            State::Closed { failures } => {
                let failures = failures.saturating_add(1);
                if failures >= self.threshold {
                    tracing::warn!(
                        failures,
                        cool_down = ?self.cool_down,
                        "cache circuit breaker opened: reads go to the store"
                    );
                    *state = open;
                    return true;
                }
                *state = State::Closed { failures };
                false
            }
            State::HalfOpen { .. } if probe => {
                *state = open;
                true
            }
            State::HalfOpen { .. } | State::Open { .. } => false,
        }
    }

    fn abandon(&self, probe: bool) {
        if probe {
            let mut state = self.state.lock();
            if let State::HalfOpen { probing: true } = *state {
                *state = State::HalfOpen { probing: false };
            }
        }
    }
}

/// The right to make one call; report its outcome with [`success`](Self::success) or
/// [`failure`](Self::failure). Dropped without an outcome (the caller was cancelled), it frees
/// the probe slot.
pub(crate) struct Permit<'a> {
    breaker: &'a Breaker,
    probe: bool,
    done: bool,
}

impl Permit<'_> {
    pub(crate) fn success(mut self) {
        self.done = true;
        self.breaker.success(self.probe);
    }

    /// `true` if this failure opened the breaker.
    pub(crate) fn failure(mut self) -> bool {
        self.done = true;
        self.breaker.failure(self.probe)
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.breaker.abandon(self.probe);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::clock::MockClock;

    fn breaker() -> (Breaker, MockClock) {
        let clock = MockClock::new();
        (
            Breaker::new(3, Duration::from_secs(5), Arc::new(clock.clone())),
            clock,
        )
    }

    #[test]
    fn opens_after_consecutive_failures_and_recovers_through_one_probe() {
        let (b, clock) = breaker();
        b.try_acquire().unwrap().failure();
        b.try_acquire().unwrap().failure();
        b.try_acquire().unwrap().success();
        assert_eq!(
            b.state(),
            BreakerState::Closed,
            "a success resets the count"
        );
        for _ in 0..3 {
            b.try_acquire().unwrap().failure();
        }
        assert_eq!(b.state(), BreakerState::Open);
        assert!(b.try_acquire().is_none());
        clock.advance(Duration::from_secs(5));
        assert_eq!(b.state(), BreakerState::HalfOpen);
        let probe = b.try_acquire().unwrap();
        assert!(b.try_acquire().is_none(), "one probe at a time");
        probe.failure();
        assert_eq!(b.state(), BreakerState::Open);
        clock.advance(Duration::from_secs(5));
        b.try_acquire().unwrap().success();
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[test]
    fn an_abandoned_probe_frees_the_slot() {
        let (b, clock) = breaker();
        for _ in 0..3 {
            b.try_acquire().unwrap().failure();
        }
        clock.advance(Duration::from_secs(6));
        drop(b.try_acquire().unwrap());
        assert_eq!(b.state(), BreakerState::HalfOpen);
        assert!(b.try_acquire().is_some());
    }

    #[test]
    fn a_late_success_does_not_close_an_open_breaker() {
        let (b, _clock) = breaker();
        let slow = b.try_acquire().unwrap();
        for _ in 0..3 {
            b.try_acquire().unwrap().failure();
        }
        slow.success();
        assert_eq!(b.state(), BreakerState::Open);
    }
}
