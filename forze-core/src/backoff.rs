//! Retry pacing shared by forze's background tasks and backends: exponential backoff with
//! "equal jitter" (each delay drawn between half and all of the exponential step), so replicas
//! that lost the same server do not retry in lockstep.

use std::time::Duration;

/// Exponential backoff with equal jitter: attempt `n` (1-based) waits between half and all of
/// `min(first × 2ⁿ⁻¹, cap)`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use forze_core::backoff::Backoff;
///
/// let backoff = Backoff::new(Duration::from_millis(10), Duration::from_millis(50));
/// let first = backoff.delay(1);
/// assert!(first >= Duration::from_millis(5) && first <= Duration::from_millis(10));
/// assert!(backoff.delay(20) <= Duration::from_millis(50));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The step of the first attempt.
    pub first: Duration,
    /// The largest step.
    pub cap: Duration,
}

impl Backoff {
    /// Steps from `first`, doubling, up to `cap`.
    pub const fn new(first: Duration, cap: Duration) -> Self {
        Backoff { first, cap }
    }

    /// The delay before attempt `attempt` (1-based; 0 counts as 1).
    pub fn delay(&self, attempt: u32) -> Duration {
        let exp = attempt.saturating_sub(1).min(16);
        let full = self.first.saturating_mul(1 << exp).min(self.cap);
        full.mul_f64(0.5 + 0.5 * rand::random::<f64>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap_with_jitter() {
        let ms = Duration::from_millis;
        let b = Backoff::new(ms(10), ms(80));
        for (attempt, step) in [(0, 10), (1, 10), (2, 20), (3, 40), (4, 80), (30, 80)] {
            for _ in 0..50 {
                let d = b.delay(attempt);
                assert!(d >= ms(step) / 2 && d <= ms(step), "{attempt}: {d:?}");
            }
        }
    }
}
