//! Reusable latency measurement: p50/p99 of a raw redis-rs `GET` versus a `Cache::get` hit of
//! the same payload on the same kind of connection (a redis-rs `ConnectionManager`).
//!
//! Kept out of the library so `just bench` can fold it in (`mod latency;` plus
//! [`compare_get_latency`]).

use std::fmt;
use std::future::Future;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use forze_core::cache::{Cache, CacheFill};
use forze_redis::{RedisCache, RedisCacheConfig, RedisClient, RedisConfig};
use redis::aio::ConnectionManager;

/// Percentiles of one measured operation.
#[derive(Debug, Clone)]
pub struct Summary {
    /// What was measured.
    pub name: String,
    /// Number of samples.
    pub samples: usize,
    /// Median.
    pub p50: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// 99.9th percentile.
    pub p999: Duration,
    /// Mean.
    pub mean: Duration,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:<34} n={:<7} p50={:>9.1?} p99={:>9.1?} p99.9={:>9.1?} mean={:>9.1?}",
            self.name, self.samples, self.p50, self.p99, self.p999, self.mean
        )
    }
}

/// Summarize latency samples (sorted in place).
pub fn summarize(name: impl Into<String>, samples: &mut [Duration]) -> Summary {
    samples.sort_unstable();
    let pick = |q: f64| -> Duration {
        if samples.is_empty() {
            return Duration::ZERO;
        }
        let i = ((samples.len() as f64 - 1.0) * q).round() as usize;
        samples[i.min(samples.len() - 1)]
    };
    let total: Duration = samples.iter().sum();
    let mean = if samples.is_empty() {
        Duration::ZERO
    } else {
        total / samples.len() as u32
    };
    Summary {
        name: name.into(),
        samples: samples.len(),
        p50: pick(0.50),
        p99: pick(0.99),
        p999: pick(0.999),
        mean,
    }
}

/// Time `iterations` sequential calls of `op`, appending one sample per call to `out`.
pub async fn time_calls<F, Fut, T>(iterations: usize, out: &mut Vec<Duration>, mut op: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = T>,
{
    for _ in 0..iterations {
        let start = Instant::now();
        let value = op().await;
        out.push(start.elapsed());
        std::hint::black_box(value);
    }
}

/// A JSON document of about `len` bytes, shaped like a cached read model.
pub fn typical_payload(len: usize) -> Vec<u8> {
    let mut doc = String::from(
        r#"{"id":"0190f5a4-7e1c-7cc2-8a4e-6b1f0c2d3e4f","rev":7,"created_at":"2026-01-01T00:00:00Z","last_update_at":"2026-01-02T00:00:00Z","name":"Widget","price":1299,"description":""#,
    );
    while doc.len() + 2 < len {
        doc.push('x');
    }
    doc.push_str("\"}");
    doc.into_bytes()
}

/// Raw `GET` versus `Cache::get` hit of a `payload_len`-byte payload, `rounds` alternating
/// blocks of `per_round` calls each (alternating spreads machine noise over both).
///
/// Writes two keys under a fresh namespace on `url` and deletes them afterwards.
pub async fn compare_get_latency(
    url: &str,
    payload_len: usize,
    rounds: usize,
    per_round: usize,
) -> forze_core::Result<(Summary, Summary)> {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let namespace = format!("forze-bench:{}:{nanos}", std::process::id());
    let payload = typical_payload(payload_len);

    // The cache, on its own ConnectionManager; a generous timeout so outliers are measured, not
    // cut off.
    let client =
        RedisClient::new(RedisConfig::default().with_response_timeout(Duration::from_secs(5)))?;
    client.connect(url).await?;
    let cache = RedisCache::new(
        client.clone(),
        RedisCacheConfig::namespace(namespace.clone())?,
    );
    let fill = CacheFill::new("doc", 7, payload.clone(), Duration::from_secs(600));
    assert!(cache.fill(fill).await?, "fresh key must install");

    // The raw baseline: the same connection kind, a plain key with the same payload.
    let raw_client = redis::Client::open(url)
        .map_err(|e| forze_core::Error::config("bench: invalid redis url").with_source(e))?;
    let mut raw = ConnectionManager::new(raw_client).await.map_err(|e| {
        forze_core::Error::new(forze_core::ErrorKind::Unavailable, "bench: cannot connect")
            .with_source(e)
    })?;
    let raw_key = format!("{namespace}:raw");
    let _: () = redis::cmd("SET")
        .arg(&raw_key)
        .arg(&payload)
        .arg("EX")
        .arg(600)
        .query_async(&mut raw)
        .await
        .map_err(|e| {
            forze_core::Error::new(forze_core::ErrorKind::Unavailable, "bench: SET").with_source(e)
        })?;

    // Warm up both paths.
    let mut sink = Vec::new();
    time_calls(per_round.min(1000), &mut sink, || {
        raw_get(raw.clone(), &raw_key)
    })
    .await;
    time_calls(per_round.min(1000), &mut sink, || cache.get("doc")).await;

    let mut raw_samples = Vec::with_capacity(rounds * per_round);
    let mut cache_samples = Vec::with_capacity(rounds * per_round);
    for _ in 0..rounds {
        time_calls(per_round, &mut raw_samples, || {
            raw_get(raw.clone(), &raw_key)
        })
        .await;
        time_calls(per_round, &mut cache_samples, || async {
            let entry = cache.get("doc").await.expect("cache get");
            assert_eq!(
                entry.map(|e| e.payload.len()),
                Some(payload.len()),
                "must be a hit"
            );
        })
        .await;
    }

    let _: () = redis::cmd("DEL")
        .arg(&raw_key)
        .arg(format!("fz:{}:{}:{{doc}}", namespace.len(), namespace))
        .query_async(&mut raw)
        .await
        .unwrap_or(());
    client.close();

    Ok((
        summarize(format!("redis-rs GET ({payload_len} B)"), &mut raw_samples),
        summarize(
            format!("RedisCache::get hit ({payload_len} B)"),
            &mut cache_samples,
        ),
    ))
}

/// One raw `GET` (the handle is cloned per call, as `RedisClient` does).
async fn raw_get(mut conn: ConnectionManager, key: &str) -> Vec<u8> {
    redis::cmd("GET")
        .arg(key)
        .query_async::<Vec<u8>>(&mut conn)
        .await
        .expect("raw GET")
}
