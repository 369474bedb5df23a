//! [`Counter`]: the one type for forze-core's statistics counters.
//!
//! Every monotonically increasing count behind the public stats is a `Counter`: the lane's
//! ([`CacheStats`](crate::CacheStats)), single-flight's fetches and joins, the breaker's probes,
//! push invalidation's ([`L1PushStats`](crate::L1PushStats)) and the L1 stores'
//! ([`L1Stats`](crate::l1::L1Stats)). Values that are not counts stay what they are: ids, state
//! words and gauges (which go down as well as up, like the fetches in flight) are atomics of
//! their own or are read off the structure they measure. The call counts of the testing fakes
//! (`testing::faults`) are not statistics either: they stay sequentially consistent atomics,
//! since tests wait on them to order their steps.
//!
//! Counting is as cheap as a counter can be, in two ways:
//!
//! * [`inc`](Counter::inc) and [`add`](Counter::add), through `&self`, are one relaxed atomic
//!   add: for counters bumped concurrently without a lock (the lane's, single-flight's, push's).
//!   Relaxed is enough, since nothing is inferred from a count but the count itself.
//! * [`inc_mut`](Counter::inc_mut) and [`add_mut`](Counter::add_mut), through `&mut self`, are a
//!   plain add, no atomic instruction: for counters that live under a lock their writers
//!   already hold (the L1 stores count under the store's mutex, taken by every operation
//!   anyway), where an atomic read-modify-write would only add cost to the hot path.
//!
//! [`get`](Counter::get) is a relaxed load either way.

use std::sync::atomic::{AtomicU64, Ordering};

/// A monotonically increasing count (wrapping at `u64::MAX`, which no count reaches).
#[derive(Debug, Default)]
pub(crate) struct Counter(AtomicU64);

impl Counter {
    /// Count one, from any thread.
    #[inline]
    pub(crate) fn inc(&self) {
        self.add(1);
    }

    /// Count `n`, from any thread.
    #[inline]
    pub(crate) fn add(&self, n: usize) {
        self.0.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Count one with exclusive access (under the lock that guards the counter): a plain add.
    #[inline]
    pub(crate) fn inc_mut(&mut self) {
        self.add_mut(1);
    }

    /// Count `n` with exclusive access (under the lock that guards the counter): a plain add.
    #[inline]
    pub(crate) fn add_mut(&mut self, n: usize) {
        let count = self.0.get_mut();
        *count = count.wrapping_add(n as u64);
    }

    /// The count now.
    #[inline]
    pub(crate) fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_and_exclusive_counting_add_up() {
        let mut c = Counter::default();
        c.inc();
        c.add(3);
        c.inc_mut();
        c.add_mut(5);
        assert_eq!(c.get(), 10);
    }
}
