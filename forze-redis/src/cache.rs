//! [`RedisCache`]: the versioned compare-and-set cache contract on Redis.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use forze_core::BoxFuture;
use forze_core::cache::{
    Cache, CacheEntry, CacheFill, Invalidation, Lookup, PushSubscription, SharedSink,
};
use forze_core::{Error, ErrorKind, Result};
use redis::{Cmd, Value};

use crate::client::RedisClient;
use crate::codec::{self, DataKey, Decoded, ValueArg};
use crate::config::RedisCacheConfig;
use crate::script::SCRIPTS;

/// A [`Cache`] on Redis: one namespace of a [`RedisClient`].
///
/// Implements the versioned compare-and-set contract of [`forze_core::cache`] with server-side
/// Lua scripts, each loaded once and run with `EVALSHA` (reloaded on `NOSCRIPT`). Round trips:
///
/// | operation | Redis traffic |
/// |---|---|
/// | `get`, `lookup` | one `GET` |
/// | `get_many`, `lookup_many` | one `MGET` (none for an empty batch) |
/// | `get_sliding`, `get_many_sliding`, `lookup`/`lookup_many` with a window | one `EVALSHA` for the whole batch |
/// | `fill`, `fill_many` | one `EVALSHA` for the whole batch |
/// | `invalidate_many` | one `EVALSHA` for the whole batch |
/// | `evict` | one `EVALSHA` |
///
/// TTLs are sent in milliseconds (`PX`, rounded up to whole milliseconds, at least 1 ms).
///
/// # Key layout
///
/// `fz:<len>:<namespace>:{<key>}`, with `<len>` the namespace's length in bytes. The length
/// prefix keeps namespaces apart (`a:b` + `c` is `fz:3:a:b:{c}`, `a` + `b:c` is `fz:1:a:{b:c}`),
/// every data key of a namespace starts with the fixed prefix `fz:<len>:<namespace>:` (the prefix
/// push invalidation tracks), and the `{…}` hash tag puts every key of one document in one Redis
/// Cluster hash slot. Batch operations span several documents, so they run on one server (Redis
/// Cluster is not supported yet).
///
/// # Sliding (idle) lifetimes
///
/// A fill with a sliding window ([`CacheFill::with_sliding`]) also sets a companion **idle key**,
/// `fz:<len>:<namespace>;idle:{<key>}`, for `min(window, ttl)`. It shares the document's hash
/// slot but lies outside the data-key prefix, so a sliding hit — one `EVALSHA` that reads the
/// value and extends the idle key, capped at the data key's remaining lifetime — never writes a
/// tracked key: it pushes no invalidation to other replicas' L1s. A value whose idle key is gone
/// reads as a miss and becomes a tombstone at its rev (keeping its remaining lifetime). A plain
/// `get` stays one `GET` and ignores the idle key.
///
/// # Values
///
/// A value is stored as `<payload>v<rev>`, a tombstone as `t<rev>`, where `<rev>` is 16 hex
/// digits (the rev with its sign bit flipped, so tombstone [`TOMBSTONE_DELETED`] reads
/// `tffffffffffffffff`). A hit decodes by truncating the reply, without copying the payload.
///
/// # Bytes this crate did not write
///
/// A key holding anything else (garbage, a value without the trailer, another Redis type) reads
/// as a **miss**, [`Lookup::Absent`] (`get` logs a warning; `MGET` returns nil for other types);
/// the next fill overwrites it, whatever rev it carries. A well-formed value whose payload the
/// coordinator cannot decode is the coordinator's to [`evict`](Cache::evict).
///
/// # Lookups
///
/// [`lookup`](Cache::lookup) and [`lookup_many`](Cache::lookup_many) are the reads: `get` and
/// friends are lookups that keep only the value ([`Lookup::into_value`]). A tombstone (from an
/// invalidation, an eviction, or a sliding value found idle past its window) is reported as
/// [`Lookup::Tombstone`] with its rev, at no extra cost: it is the same reply.
///
/// # Lifetimes
///
/// Every key this cache writes has an expiry, and the scripts give one to a key they find
/// without (someone `SET` it without `EX`, or an older version left it): a fill that a
/// tombstone or newer value rejects gives it the fill's `ttl` (and a sliding fill's idle key the
/// idle lifetime), an invalidation always writes with an expiry, an eviction that leaves the
/// key gives it the eviction's `ttl`, and a sliding read gives it the window. A plain `GET` hit does not check (it
/// stays one command): a value without an expiry is served until its document is written, and
/// the write replaces it with a tombstone that expires.
///
/// [`TOMBSTONE_DELETED`]: forze_core::cache::TOMBSTONE_DELETED
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
/// use forze_core::cache::{Cache, CacheFill};
/// use forze_redis::{RedisCache, RedisCacheConfig, RedisClient, RedisConfig};
///
/// # async fn example() -> forze_core::Result<()> {
/// let client = RedisClient::new(RedisConfig::default())?;
/// client.connect("redis://127.0.0.1:6379").await?;
/// let cache = RedisCache::new(client, RedisCacheConfig::namespace("app:products")?);
/// let fill = CacheFill::new("42", 1, br#"{"name":"Widget"}"#.to_vec(), Duration::from_secs(300));
/// assert!(cache.fill(fill).await?);
/// let entry = cache.get("42").await?.expect("just filled");
/// assert_eq!(entry.rev, 1);
/// # Ok(())
/// # }
/// # let _ = example;
/// ```
#[derive(Clone)]
pub struct RedisCache {
    client: RedisClient,
    namespace: Arc<str>,
    prefix: Arc<str>,
    idle_prefix: Arc<str>,
    push: bool,
}

impl RedisCache {
    /// A cache of `client` under `config`'s namespace.
    pub fn new(client: RedisClient, config: RedisCacheConfig) -> Self {
        let namespace: Arc<str> = config.namespace_str().into();
        let prefix = codec::key_prefix(&namespace).into();
        let idle_prefix = codec::idle_prefix(&namespace).into();
        let push = config.invalidation_push_enabled();
        if push {
            client.push_tracking().want();
        }
        RedisCache {
            client,
            namespace,
            prefix,
            idle_prefix,
            push,
        }
    }

    /// The namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// Whether push invalidation is on for this cache.
    pub fn invalidation_push(&self) -> bool {
        self.push
    }

    /// The fixed prefix of every data key of this namespace, `fz:<len>:<namespace>:`.
    pub fn key_prefix(&self) -> &str {
        &self.prefix
    }

    /// The prefix of the idle keys of sliding entries, `fz:<len>:<namespace>;idle:` (outside
    /// [`key_prefix`](Self::key_prefix), so push invalidation does not track them).
    pub fn idle_key_prefix(&self) -> &str {
        &self.idle_prefix
    }

    fn data_key<'a>(&'a self, key: &'a str) -> DataKey<'a> {
        DataKey {
            prefix: &self.prefix,
            key,
        }
    }

    fn idle_key<'a>(&'a self, key: &'a str) -> DataKey<'a> {
        DataKey {
            prefix: &self.idle_prefix,
            key,
        }
    }

    /// One `EVALSHA` of the slide script for `keys`.
    async fn slide(
        &self,
        op: &'static str,
        keys: &[&str],
        window: Duration,
    ) -> Result<Vec<Lookup>> {
        let script = &SCRIPTS.slide;
        let n = keys.len();
        let mut cmd = Cmd::with_capacity(4 + 2 * n, n * (2 * self.prefix.len() + 96));
        cmd.arg("EVALSHA").arg(script.get_hash()).arg(2 * n);
        for key in keys {
            cmd.arg(self.data_key(key));
        }
        for key in keys {
            cmd.arg(self.idle_key(key));
        }
        cmd.arg(codec::ttl_millis(window));
        let value = self.client.eval(&self.namespace, op, script, &cmd).await?;
        let Value::Array(items) = value else {
            return Err(self.unexpected(op, &value));
        };
        if items.len() != n {
            return Err(self.unexpected(op, &Value::Array(items)));
        }
        items
            .into_iter()
            .map(|item| self.decode_one(op, item))
            .collect()
    }

    /// One `GET` of `key` (another Redis type under it reads as nil).
    async fn lookup_plain(&self, key: &str) -> Result<Lookup> {
        let mut cmd = Cmd::new();
        cmd.arg("GET").arg(self.data_key(key));
        let cmd = &cmd;
        let namespace = &*self.namespace;
        let value = self
            .client
            .run(namespace, "get", |mut conn| async move {
                match cmd.query_async::<Value>(&mut conn).await {
                    // Another Redis type under our key: not ours, a miss; a fill repairs it.
                    Err(err) if err.code() == Some("WRONGTYPE") => {
                        tracing::warn!(
                            namespace,
                            "redis cache key holds a non-string value; treated as a miss, the next fill repairs it"
                        );
                        Ok(Value::Nil)
                    }
                    other => other,
                }
            })
            .await?;
        self.decode_one("get", value)
    }

    /// One `MGET` of `keys` (none for an empty batch).
    async fn lookup_many_plain(&self, keys: &[String]) -> Result<Vec<Lookup>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut cmd = Cmd::with_capacity(keys.len() + 1, keys.len() * (self.prefix.len() + 40));
        cmd.arg("MGET");
        for key in keys {
            cmd.arg(self.data_key(key));
        }
        let value = self.client.query(&self.namespace, "get_many", &cmd).await?;
        let Value::Array(items) = value else {
            return Err(self.unexpected("get_many", &value));
        };
        if items.len() != keys.len() {
            return Err(self.unexpected("get_many", &Value::Array(items)));
        }
        items
            .into_iter()
            .map(|item| self.decode_one("get_many", item))
            .collect()
    }

    /// A sliding lookup of `keys` (none for an empty batch).
    async fn lookup_many_sliding(
        &self,
        op: &'static str,
        keys: &[String],
        window: Duration,
    ) -> Result<Vec<Lookup>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        self.slide(op, &keys, window).await
    }

    fn decode_one(&self, op: &'static str, value: Value) -> Result<Lookup> {
        match value {
            Value::Nil => Ok(Lookup::Absent),
            Value::BulkString(bytes) => Ok(match codec::decode(bytes) {
                Decoded::Value(rev, payload) => Lookup::Value(CacheEntry::new(rev, payload)),
                Decoded::Tombstone(rev) => Lookup::Tombstone(rev),
                Decoded::Garbage { len } => {
                    tracing::warn!(
                        namespace = %self.namespace,
                        len,
                        "redis cache key holds bytes forze did not write; treated as a miss, the next fill repairs it"
                    );
                    Lookup::Absent
                }
            }),
            other => Err(self.unexpected(op, &other)),
        }
    }

    fn unexpected(&self, op: &'static str, value: &Value) -> Error {
        let shape = match value {
            Value::Nil => "nil",
            Value::Int(_) => "an integer",
            Value::BulkString(_) => "a string",
            Value::Array(_) => "an array",
            Value::SimpleString(_) | Value::Okay => "a status",
            _ => "another type",
        };
        Error::new(
            ErrorKind::Internal,
            format!(
                "redis cache `{}`: `{op}` got {shape} where the contract expects something else",
                self.namespace
            ),
        )
    }

    /// The integer replies of a script, one per key.
    fn codes(&self, op: &'static str, value: Value, expected: usize) -> Result<Vec<i64>> {
        let Value::Array(items) = value else {
            return Err(self.unexpected(op, &value));
        };
        if items.len() != expected {
            return Err(self.unexpected(op, &Value::Array(items)));
        }
        items
            .into_iter()
            .map(|item| match item {
                Value::Int(code) => Ok(code),
                other => Err(self.unexpected(op, &other)),
            })
            .collect()
    }
}

impl Cache for RedisCache {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<CacheEntry>>> {
        Box::pin(async move { Ok(self.lookup_plain(key).await?.into_value()) })
    }

    fn get_many<'a>(
        &'a self,
        keys: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<Option<CacheEntry>>>> {
        Box::pin(async move {
            let found = self.lookup_many_plain(keys).await?;
            Ok(found.into_iter().map(Lookup::into_value).collect())
        })
    }

    fn get_sliding<'a>(
        &'a self,
        key: &'a str,
        window: Duration,
    ) -> BoxFuture<'a, Result<Option<CacheEntry>>> {
        Box::pin(async move {
            let mut found = self.slide("get_sliding", &[key], window).await?;
            Ok(found.pop().and_then(Lookup::into_value))
        })
    }

    fn get_many_sliding<'a>(
        &'a self,
        keys: &'a [String],
        window: Duration,
    ) -> BoxFuture<'a, Result<Vec<Option<CacheEntry>>>> {
        Box::pin(async move {
            let found = self
                .lookup_many_sliding("get_many_sliding", keys, window)
                .await?;
            Ok(found.into_iter().map(Lookup::into_value).collect())
        })
    }

    /// One `GET` (or, with a window, one `EVALSHA` of the sliding read); a tombstone, including
    /// one a sliding read just made of an idle value, comes back as [`Lookup::Tombstone`].
    fn lookup<'a>(
        &'a self,
        key: &'a str,
        sliding: Option<Duration>,
    ) -> BoxFuture<'a, Result<Lookup>> {
        Box::pin(async move {
            match sliding {
                None => self.lookup_plain(key).await,
                Some(window) => {
                    let mut found = self.slide("lookup", &[key], window).await?;
                    Ok(found.pop().unwrap_or(Lookup::Absent))
                }
            }
        })
    }

    /// One `MGET` (or, with a window, one `EVALSHA` of the sliding read) for all `keys`; none
    /// for an empty batch.
    fn lookup_many<'a>(
        &'a self,
        keys: &'a [String],
        sliding: Option<Duration>,
    ) -> BoxFuture<'a, Result<Vec<Lookup>>> {
        Box::pin(async move {
            match sliding {
                None => self.lookup_many_plain(keys).await,
                Some(window) => self.lookup_many_sliding("lookup_many", keys, window).await,
            }
        })
    }

    /// The server's epoch token (see [`Cache::generation`]): it changes when the server
    /// restarted or was flushed, so fills of values read before are refused.
    fn generation(&self) -> u64 {
        self.client.generation()
    }

    fn fill(&self, fill: CacheFill) -> BoxFuture<'_, Result<bool>> {
        Box::pin(async move {
            let flags = fill_batch(self, "fill", std::slice::from_ref(&fill)).await?;
            Ok(flags.first().copied().unwrap_or(false))
        })
    }

    fn fill_many(&self, fills: Vec<CacheFill>) -> BoxFuture<'_, Result<Vec<bool>>> {
        Box::pin(async move {
            if fills.is_empty() {
                return Ok(Vec::new());
            }
            fill_batch(self, "fill_many", &fills).await
        })
    }

    fn invalidate_many<'a>(
        &'a self,
        invalidations: &'a [Invalidation],
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            if invalidations.is_empty() {
                return Ok(());
            }
            let script = &SCRIPTS.invalidate;
            let n = invalidations.len();
            let mut cmd = Cmd::with_capacity(3 + 3 * n, n * (self.prefix.len() + 80));
            cmd.arg("EVALSHA").arg(script.get_hash()).arg(n);
            for inv in invalidations {
                cmd.arg(self.data_key(&inv.key));
            }
            for inv in invalidations {
                cmd.arg(&codec::rev_hex(inv.rev)[..])
                    .arg(codec::ttl_millis(inv.ttl));
            }
            self.client
                .eval(&self.namespace, "invalidate_many", script, &cmd)
                .await?;
            Ok(())
        })
    }

    fn evict<'a>(&'a self, key: &'a str, rev: i64, ttl: Duration) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let script = &SCRIPTS.evict;
            let mut cmd = Cmd::new();
            cmd.arg("EVALSHA")
                .arg(script.get_hash())
                .arg(1)
                .arg(self.data_key(key))
                .arg(&codec::rev_hex(rev)[..])
                .arg(codec::ttl_millis(ttl));
            self.client
                .eval(&self.namespace, "evict", script, &cmd)
                .await?;
            Ok(())
        })
    }

    /// With [`invalidation_push`](RedisCacheConfig::invalidation_push) on, registers `sink`
    /// for this namespace with the client's tracking supervisor (started when needed); otherwise,
    /// or when the server was found to refuse tracking,
    /// [`PushSubscription::unsupported`]. Never fails and never blocks: the supervisor connects
    /// in the background (or at [`RedisClient::connect`] when called before it), and the sink
    /// gets a `reset` once tracking of this namespace is armed. See the
    /// [crate docs](crate#push-invalidation) for the contract.
    fn subscribe_invalidations(&self, sink: SharedSink) -> Result<PushSubscription> {
        if !self.push {
            return Ok(PushSubscription::unsupported());
        }
        Ok(self
            .client
            .push_tracking()
            .subscribe(&self.namespace, Arc::clone(&self.prefix), sink))
    }
}

/// One `EVALSHA` of the fill script for `fills`.
async fn fill_batch(
    cache: &RedisCache,
    op: &'static str,
    fills: &[CacheFill],
) -> Result<Vec<bool>> {
    let script = &SCRIPTS.fill;
    let n = fills.len();
    // The idle keys are passed (as KEYS, so the script stays cluster-safe) only when some fill
    // slides.
    let sliding = fills.iter().any(|f| f.sliding.is_some());
    let keys = if sliding { 2 * n } else { n };
    let bytes: usize = fills
        .iter()
        .map(|f| f.key.len() + f.payload.len() + 2 * cache.prefix.len() + 96)
        .sum();
    let mut cmd = Cmd::with_capacity(4 + keys + 5 * n + 1, bytes);
    cmd.arg("EVALSHA").arg(script.get_hash()).arg(keys + 1);
    for fill in fills {
        cmd.arg(cache.data_key(&fill.key));
    }
    if sliding {
        for fill in fills {
            cmd.arg(cache.idle_key(&fill.key));
        }
    }
    cmd.arg(crate::client::EPOCH_KEY);
    for fill in fills {
        cmd.arg(&codec::rev_hex(fill.rev)[..])
            .arg(ValueArg {
                payload: &fill.payload,
                trailer: codec::value_trailer(fill.rev),
            })
            .arg(codec::ttl_millis(fill.ttl))
            .arg(fill.idle_lifetime().map_or(0, codec::ttl_millis))
            .arg(if fill.refresh { "1" } else { "0" });
    }
    // A batch is checked against the generation of its first fill (the coordinator takes one
    // for the whole batch).
    // Generation 0 is "unknown" (a wrapper that does not forward `generation`, or an epoch not
    // read yet): unchecked rather than refused for ever.
    match fills.first().and_then(|f| f.generation) {
        Some(generation) if generation != 0 => cmd.arg(generation),
        _ => cmd.arg(""),
    };
    let value = cache
        .client
        .eval(&cache.namespace, op, script, &cmd)
        .await?;
    let codes = cache.codes(op, value, n)?;
    if codes.contains(&2) {
        tracing::debug!(
            namespace = %cache.namespace,
            "fill refused: the server's epoch changed since the value was read; adopting the new one"
        );
        cache.client.adopt_epoch().await;
    }
    Ok(codes.into_iter().map(|code| code == 1).collect())
}

impl fmt::Debug for RedisCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisCache")
            .field("namespace", &self.namespace)
            .field("key_prefix", &self.prefix)
            .field("idle_key_prefix", &self.idle_prefix)
            .field("invalidation_push", &self.push)
            .field("client", &self.client)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RedisConfig;

    #[test]
    fn cache_is_send_sync() {
        fn assert<T: Send + Sync + 'static>() {}
        assert::<RedisCache>();
        assert::<Arc<dyn Cache>>();
    }

    #[test]
    fn key_prefix_is_length_prefixed() {
        let client = RedisClient::new(RedisConfig::default()).expect("valid");
        let cache = RedisCache::new(
            client,
            RedisCacheConfig::namespace("app:products").expect("valid"),
        );
        assert_eq!(cache.key_prefix(), "fz:12:app:products:");
        assert_eq!(cache.idle_key_prefix(), "fz:12:app:products;idle:");
        assert!(!cache.idle_key_prefix().starts_with(cache.key_prefix()));
        let shown = format!("{cache:?}");
        assert!(shown.contains("app:products"), "{shown}");
    }
}
