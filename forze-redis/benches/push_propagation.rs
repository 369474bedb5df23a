//! p50/p99 of push propagation: from `invalidate_many` returning on client A to client B's
//! invalidation sink receiving the key (two clients on one server acting as two replicas).
//!
//! Run: `FORZE_TEST_REDIS_URL=redis://127.0.0.1:6379 cargo bench -p forze-redis --bench push_propagation`
//! (`FORZE_BENCH_REDIS_URL` wins if set). Optional: `FORZE_BENCH_PUSH_ITERATIONS` (default
//! 500). Writes short-lived tombstones under a fresh `forze-bench:push:` namespace. Runs on a
//! two-worker Tokio runtime, so B's supervisor and A's caller race as on a real replica.

#[allow(dead_code)] // shares `summarize` with `hit_latency`
mod latency;
mod push;

fn main() {
    let url = std::env::var("FORZE_BENCH_REDIS_URL")
        .or_else(|_| std::env::var("FORZE_TEST_REDIS_URL"))
        .unwrap_or_else(|_| {
            eprintln!(
                "set FORZE_BENCH_REDIS_URL or FORZE_TEST_REDIS_URL (e.g. redis://127.0.0.1:6379) \
                 to a Redis 6+ server this benchmark may write short-lived keys to"
            );
            std::process::exit(2);
        });
    let iterations = std::env::var("FORZE_BENCH_PUSH_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let outcome = runtime
        .block_on(push::push_propagation(&url, iterations))
        .unwrap_or_else(|err| {
            eprintln!("benchmark failed: {err} ({err:?})");
            std::process::exit(1);
        });
    println!("{outcome}");
}
