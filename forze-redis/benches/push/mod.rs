//! Reusable push-propagation measurement: how long after `invalidate_many` returned on client A
//! the key reaches client B's [`InvalidationSink`] (two `RedisClient`s on one server, acting as
//! two replicas).
//!
//! Kept out of the library so `just bench` can fold it in (`mod push;` next to `mod latency;`,
//! then [`push_propagation`]); it reports as `latency.push_propagation`.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use forze_core::cache::{Cache, Invalidation, InvalidationSink, PushSupport};
use forze_core::{Error, ErrorKind};
use forze_redis::{RedisCache, RedisCacheConfig, RedisClient, RedisConfig};
use tokio::sync::mpsc;

use super::latency::{Summary, summarize};

/// How long one push may take before the run is declared broken.
const ARRIVAL_LIMIT: Duration = Duration::from_secs(5);

/// Sends each delivered key with its arrival time.
struct ChannelSink(mpsc::UnboundedSender<(String, Instant)>);

impl fmt::Debug for ChannelSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ChannelSink")
    }
}

impl InvalidationSink for ChannelSink {
    fn invalidated(&self, key: &str) {
        let _ = self.0.send((key.to_owned(), Instant::now()));
    }

    fn reset(&self) {}
}

/// The outcome of [`push_propagation`].
#[derive(Debug, Clone)]
pub struct PushPropagation {
    /// From `invalidate_many` returning on A to B's sink receiving the key (zero when the push
    /// arrived first: Redis queues the invalidation before the writer's reply, so on one host
    /// it usually wins).
    pub after_return: Summary,
    /// From the call on A to B's sink receiving the key.
    pub after_call: Summary,
    /// How many pushes reached B before A's call returned.
    pub arrived_first: usize,
}

impl fmt::Display for PushPropagation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.after_return)?;
        writeln!(f, "{}", self.after_call)?;
        write!(
            f,
            "pushes that reached B before A's call returned: {}/{}",
            self.arrived_first, self.after_call.samples
        )
    }
}

/// Push propagation over `iterations` sequential single-key invalidations on `url` (after a
/// warm-up of a tenth of that, at least 10).
///
/// Writes tombstones under a fresh namespace (they expire after a minute).
pub async fn push_propagation(url: &str, iterations: usize) -> forze_core::Result<PushPropagation> {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let namespace = format!("forze-bench:push:{}:{nanos}", std::process::id());
    let config = RedisConfig::default().with_response_timeout(Duration::from_secs(5));
    let cache_config = RedisCacheConfig::namespace(namespace)?.invalidation_push(true);

    let a = RedisClient::new(config.clone())?;
    a.connect(url).await?;
    let b = RedisClient::new(config)?;
    b.connect(url).await?;
    let a_cache = RedisCache::new(a.clone(), cache_config.clone());
    let b_cache = RedisCache::new(b.clone(), cache_config);

    let (tx, mut rx) = mpsc::unbounded_channel();
    let subscription = b_cache.subscribe_invalidations(Arc::new(ChannelSink(tx)))?;
    if subscription.support() != PushSupport::Active {
        return Err(Error::new(
            ErrorKind::Unavailable,
            "bench: the server refused push invalidation",
        ));
    }
    let broken = |what: &str| Error::new(ErrorKind::Unavailable, format!("bench: {what}"));
    // Armed once the stream is up.
    let deadline = Instant::now() + ARRIVAL_LIMIT;
    while !b.push_stats().stream_up {
        if Instant::now() > deadline {
            return Err(broken("the tracking stream did not come up"));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    let ttl = Duration::from_secs(60);
    let warmup = (iterations / 10).max(10);
    let mut after_return = Vec::with_capacity(iterations);
    let mut after_call = Vec::with_capacity(iterations);
    let mut arrived_first = 0;
    for i in 0..warmup + iterations {
        let key = format!("doc-{i}");
        let batch = [Invalidation::new(key.clone(), 1, ttl)];
        let called = Instant::now();
        a_cache.invalidate_many(&batch).await?;
        let returned = Instant::now();
        let arrived = loop {
            match tokio::time::timeout(ARRIVAL_LIMIT, rx.recv()).await {
                Ok(Some((got, at))) if got == key => break at,
                Ok(Some(_)) => continue,
                Ok(None) => return Err(broken("the sink was dropped")),
                Err(_) => return Err(broken("a push did not arrive within 5 s")),
            }
        };
        if i >= warmup {
            arrived_first += usize::from(arrived <= returned);
            after_return.push(arrived.saturating_duration_since(returned));
            after_call.push(arrived.saturating_duration_since(called));
        }
    }
    drop(subscription);
    a.close();
    b.close();
    Ok(PushPropagation {
        after_return: summarize("push propagation after return", &mut after_return),
        after_call: summarize("push propagation after call", &mut after_call),
        arrived_first,
    })
}
