//! p50/p99 of a raw redis-rs `GET` versus a `RedisCache::get` hit of the same payload.
//!
//! Run: `FORZE_TEST_REDIS_URL=redis://127.0.0.1:6379 cargo bench -p forze-redis --bench hit_latency`
//! (`FORZE_BENCH_REDIS_URL` wins if set). Optional: `FORZE_BENCH_PAYLOAD_BYTES` (default 512),
//! `FORZE_BENCH_ROUNDS` (default 10), `FORZE_BENCH_PER_ROUND` (default 2000). Writes two keys
//! under a fresh `forze-bench:` namespace and deletes them.

mod latency;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let url = std::env::var("FORZE_BENCH_REDIS_URL")
        .or_else(|_| std::env::var("FORZE_TEST_REDIS_URL"))
        .unwrap_or_else(|_| {
            eprintln!(
                "set FORZE_BENCH_REDIS_URL or FORZE_TEST_REDIS_URL (e.g. redis://127.0.0.1:6379) \
                 to a Redis server this benchmark may write two keys to"
            );
            std::process::exit(2);
        });
    let payload = env_usize("FORZE_BENCH_PAYLOAD_BYTES", 512);
    let rounds = env_usize("FORZE_BENCH_ROUNDS", 10);
    let per_round = env_usize("FORZE_BENCH_PER_ROUND", 2000);

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let (raw, cache) = runtime
        .block_on(latency::compare_get_latency(
            &url, payload, rounds, per_round,
        ))
        .unwrap_or_else(|err| {
            eprintln!("benchmark failed: {err} ({err:?})");
            std::process::exit(1);
        });
    println!("{raw}");
    println!("{cache}");
    let overhead = cache.p50.as_secs_f64() / raw.p50.as_secs_f64().max(f64::MIN_POSITIVE);
    println!("RedisCache::get p50 / raw GET p50 = {overhead:.2}");
}
