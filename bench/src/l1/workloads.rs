//! Fixed-seed access traces. Each operation is a read; the simulator inserts on a miss.

use forze_core::l1::L1Key;
use uuid::Uuid;

use crate::rng::Rng;

/// A named trace of reads.
#[derive(Debug)]
pub(crate) struct Workload {
    pub(crate) name: &'static str,
    pub(crate) description: String,
    pub(crate) trace: Vec<L1Key>,
}

/// A document id that looks like a random UUID: key `n` of key space `space`.
fn key(space: u64, n: u64) -> L1Key {
    let mut rng = Rng::new(n ^ space.rotate_left(32));
    let id = (u128::from(rng.next_u64()) << 64) | u128::from(rng.next_u64());
    L1Key::new(None, Uuid::from_u128(id))
}

/// The W-TinyLFU headline workload of the original's policy simulation (cache reference §6.4):
/// seed 42, `ops` reads; each is a uniformly chosen key of a hot set of `hot` keys with
/// probability `p_hot`, otherwise the next key of a never-repeating scan.
pub(crate) fn hot_scan(ops: usize, hot: u64, p_hot: f64, seed: u64) -> Workload {
    let mut rng = Rng::new(seed);
    let mut scan = 0u64;
    let trace = (0..ops)
        .map(|_| {
            if rng.unit() < p_hot {
                key(1, rng.below(hot))
            } else {
                scan += 1;
                key(2, scan)
            }
        })
        .collect();
    Workload {
        name: "hot_scan",
        description: format!(
            "seed {seed}, {ops} reads: p={p_hot} a uniform key of {hot} hot keys, else a never-repeating scan key"
        ),
        trace,
    }
}

/// Zipf-distributed reads: key of rank `r` (0-based) has weight `1 / (r + 1)^s`.
pub(crate) fn zipf(ops: usize, keys: u64, s: f64, seed: u64) -> Workload {
    let mut cdf = Vec::with_capacity(keys as usize);
    let mut total = 0.0;
    for rank in 0..keys {
        total += 1.0 / ((rank + 1) as f64).powf(s);
        cdf.push(total);
    }
    let mut rng = Rng::new(seed);
    let trace = (0..ops)
        .map(|_| {
            let u = rng.unit() * total;
            let rank = cdf.partition_point(|&c| c <= u).min(keys as usize - 1);
            key(3, rank as u64)
        })
        .collect();
    Workload {
        name: "zipf",
        description: format!("seed {seed}, {ops} reads over {keys} keys, zipf s={s}"),
        trace,
    }
}

/// Uniform reads over `keys` keys.
pub(crate) fn uniform(ops: usize, keys: u64, seed: u64) -> Workload {
    let mut rng = Rng::new(seed);
    let trace = (0..ops).map(|_| key(4, rng.below(keys))).collect();
    Workload {
        name: "uniform",
        description: format!("seed {seed}, {ops} reads, uniform over {keys} keys"),
        trace,
    }
}

/// `n` distinct keys of their own key space.
pub(crate) fn distinct_keys(space: u64, n: usize) -> Vec<L1Key> {
    (0..n as u64).map(|i| key(100 + space, i)).collect()
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};

    use super::*;

    #[test]
    fn hot_scan_matches_the_original_setup() {
        let w = hot_scan(60_000, 460, 0.8, 42);
        assert_eq!(w.trace.len(), 60_000);
        let mut counts: HashMap<L1Key, usize> = HashMap::new();
        for key in &w.trace {
            *counts.entry(*key).or_default() += 1;
        }
        let repeated = counts.values().filter(|&&c| c > 1).count();
        let hot_reads: usize = counts.values().filter(|&&c| c > 1).sum();
        // All 460 hot keys recur; every scan key is read exactly once.
        assert_eq!(repeated, 460);
        let share = hot_reads as f64 / 60_000.0;
        assert!((0.79..0.81).contains(&share), "hot share {share}");
        // Same seed, same trace.
        assert_eq!(hot_scan(60_000, 460, 0.8, 42).trace, w.trace);
    }

    #[test]
    fn zipf_favours_low_ranks_and_uniform_spreads() {
        let w = zipf(100_000, 10_000, 1.0, 7);
        let top = key(3, 0);
        let top_share = w.trace.iter().filter(|&&k| k == top).count() as f64 / 100_000.0;
        // 1 / H(10000) = 1 / 9.79 = 0.102
        assert!(
            (0.095..0.11).contains(&top_share),
            "rank 0 share {top_share}"
        );
        let u = uniform(100_000, 10_000, 3);
        let distinct: HashSet<_> = u.trace.iter().collect();
        assert!(distinct.len() > 9_900);
    }
}
