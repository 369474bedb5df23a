//! Per-access cost of each store on one thread: the median over batches of a tight loop.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use forze_core::clock::system_clock;
use forze_core::l1::{L1Key, L1Value};

use super::stores::{Kind, Store, TINY_LFU_SEED};
use super::workloads::distinct_keys;
use crate::rng::Rng;

/// Capacity of the measured stores (the default L1 capacity).
pub(crate) const CAPACITY: usize = 1024;
/// Keys preloaded for the hit loop: all fit, so every read hits.
const RESIDENT: usize = 1000;
/// Many short batches (a millisecond or two each): on a shared machine a preemption spoils a
/// few batches, not the median.
const BATCHES: usize = 101;
const GETS_PER_BATCH: usize = 20_000;
const INSERTS_PER_BATCH: usize = 5_000;

/// Nanoseconds per operation: the median and the fastest batch.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cost {
    pub(crate) get_hit_ns: f64,
    pub(crate) get_hit_min_ns: f64,
    pub(crate) insert_ns: f64,
    pub(crate) insert_min_ns: f64,
}

/// (median, minimum) of the samples.
fn median_min(mut samples: Vec<f64>) -> (f64, f64) {
    samples.sort_by(f64::total_cmp);
    (samples[samples.len() / 2], samples[0])
}

fn build(kind: Kind) -> Store {
    // The real clock: a hit pays for reading it.
    Store::build(
        kind,
        CAPACITY,
        Duration::from_secs(3_600),
        system_clock(),
        TINY_LFU_SEED,
    )
}

/// Measure `kind`. Fails if a read of the hit loop missed.
pub(crate) fn measure(kind: Kind) -> Result<Cost, String> {
    let value: L1Value = Arc::new(());
    let resident = distinct_keys(1, RESIDENT);

    // get: a warm store, reads in a fixed random order over the resident keys.
    let store = build(kind);
    for key in &resident {
        store.insert(*key, Arc::clone(&value));
    }
    let mut rng = Rng::new(11);
    let order: Vec<L1Key> = (0..8192)
        .map(|_| resident[rng.below(RESIDENT as u64) as usize])
        .collect();
    let mask = order.len() - 1;
    let mut misses = 0usize;
    let mut get_batch = || {
        let start = Instant::now();
        for i in 0..GETS_PER_BATCH {
            if black_box(store.get(black_box(&order[i & mask]))).is_none() {
                misses += 1;
            }
        }
        start.elapsed().as_nanos() as f64 / GETS_PER_BATCH as f64
    };
    get_batch(); // warm-up
    let (get_hit_ns, get_hit_min_ns) = median_min((0..BATCHES).map(|_| get_batch()).collect());
    if misses > 0 {
        return Err(format!(
            "{}: {misses} reads of resident keys missed",
            kind.name()
        ));
    }

    // insert: new keys into a full store (each one evicts, or is refused admission).
    let store = build(kind);
    for key in distinct_keys(2, CAPACITY) {
        store.insert(key, Arc::clone(&value));
    }
    let fresh = distinct_keys(3, INSERTS_PER_BATCH * (BATCHES + 1));
    let mut batches = fresh.chunks(INSERTS_PER_BATCH);
    let mut insert_batch = || {
        let chunk = batches.next().unwrap_or_default();
        let start = Instant::now();
        for key in chunk {
            store.insert(*key, Arc::clone(&value));
        }
        start.elapsed().as_nanos() as f64 / chunk.len().max(1) as f64
    };
    insert_batch(); // warm-up
    let (insert_ns, insert_min_ns) = median_min((0..BATCHES).map(|_| insert_batch()).collect());
    let size = store.size();
    if size > CAPACITY as u64 {
        return Err(format!(
            "{}: {size} entries after the insert loop, over the capacity {CAPACITY}",
            kind.name()
        ));
    }
    Ok(Cost {
        get_hit_ns,
        get_hit_min_ns,
        insert_ns,
        insert_min_ns,
    })
}

/// `get` hits from two threads reading one store at once.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Parallel {
    /// Wall-clock nanoseconds per read per thread (window × threads / reads), median of rounds.
    /// Equal to the one-thread figure if the store scales; higher under lock contention.
    pub(crate) get_hit_ns: f64,
    /// CPU time the threads got, as a share of threads × window (median of rounds). Below
    /// about 0.9 the machine was busy and the figure says more about it than about the store.
    pub(crate) cpu_share: f64,
}

/// This thread's CPU time so far, from `/proc/thread-self/schedstat` (Linux).
fn thread_cpu_ns() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// Two threads read the resident keys of one store for a fixed window, several rounds.
pub(crate) fn measure_parallel(kind: Kind) -> Result<Parallel, String> {
    const THREADS: usize = 2;
    const ROUNDS: usize = 7;
    const WINDOW: Duration = Duration::from_millis(200);
    let value: L1Value = Arc::new(());
    let resident = distinct_keys(1, RESIDENT);
    let store = build(kind);
    for key in &resident {
        store.insert(*key, Arc::clone(&value));
    }
    let barrier = std::sync::Barrier::new(THREADS);
    let (mut per_op, mut shares) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let results = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..THREADS)
                .map(|t| {
                    let (store, resident, barrier) = (&store, &resident, &barrier);
                    scope.spawn(move || {
                        let mut rng = Rng::new(100 + (round * THREADS + t) as u64);
                        let order: Vec<L1Key> = (0..8192)
                            .map(|_| resident[rng.below(RESIDENT as u64) as usize])
                            .collect();
                        let mask = order.len() - 1;
                        let (mut reads, mut misses) = (0usize, 0usize);
                        barrier.wait();
                        let cpu_start = thread_cpu_ns();
                        let deadline = Instant::now() + WINDOW;
                        while Instant::now() < deadline {
                            for _ in 0..1024 {
                                if black_box(store.get(black_box(&order[reads & mask]))).is_none() {
                                    misses += 1;
                                }
                                reads += 1;
                            }
                        }
                        let cpu = cpu_start.zip(thread_cpu_ns()).map(|(a, b)| b - a);
                        (reads, misses, cpu)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join())
                .collect::<Result<Vec<_>, _>>()
        })
        .map_err(|_| format!("{}: a reader thread panicked", kind.name()))?;
        let reads: usize = results.iter().map(|r| r.0).sum();
        let misses: usize = results.iter().map(|r| r.1).sum();
        if misses > 0 {
            return Err(format!(
                "{}: {misses} concurrent reads of resident keys missed",
                kind.name()
            ));
        }
        let window_ns = WINDOW.as_nanos() as f64;
        per_op.push(window_ns * THREADS as f64 / reads.max(1) as f64);
        let cpu: Option<u64> = results.iter().map(|r| r.2).sum();
        shares.push(cpu.map_or(f64::NAN, |c| c as f64 / (window_ns * THREADS as f64)));
    }
    Ok(Parallel {
        get_hit_ns: median_min(per_op).0,
        cpu_share: median_min(shares).0,
    })
}
