//! Client and cache configuration.

use std::fmt;
#[cfg(feature = "tls")]
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use forze_core::{Error, Result};

/// Connection settings of a [`RedisClient`](crate::RedisClient).
///
/// The per-call response timeout is small on purpose: the cache coordinator fails open to the
/// store, so a slow or dead Redis must cost milliseconds, not seconds.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use forze_redis::RedisConfig;
///
/// let config = RedisConfig::default()
///     .with_connect_timeout(Duration::from_secs(2))
///     .with_response_timeout(Duration::from_millis(50));
/// assert_eq!(config.response_timeout(), Duration::from_millis(50));
/// ```
#[non_exhaustive]
#[derive(Clone, PartialEq, Eq)]
pub struct RedisConfig {
    connect_timeout: Duration,
    response_timeout: Duration,
    #[cfg(feature = "tls")]
    tls_ca: Option<TlsCa>,
}

/// The CA certificates a `rediss://` server's certificate is verified against.
#[cfg(feature = "tls")]
#[derive(Clone, PartialEq, Eq)]
enum TlsCa {
    /// PEM bytes given in code.
    Pem(Arc<[u8]>),
    /// A PEM file, read at each [`RedisClient::connect`](crate::RedisClient::connect).
    File(PathBuf),
}

impl RedisConfig {
    /// Default time to open a connection (TCP connect, `AUTH`, `SELECT`): 1 s.
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
    /// Default bound on one cache call, including waiting for a reconnect: 100 ms.
    pub const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_millis(100);

    /// How long opening a connection may take (must be > 0).
    #[must_use]
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long one cache call may take, from the call to the reply, including any wait for a
    /// reconnect (must be > 0). A call that takes longer fails with
    /// [`ErrorKind::Unavailable`](forze_core::ErrorKind::Unavailable).
    #[must_use]
    pub fn with_response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout;
        self
    }

    /// The connect timeout.
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// The per-call response timeout.
    pub fn response_timeout(&self) -> Duration {
        self.response_timeout
    }

    /// Verify a `rediss://` server's certificate against the CA certificates in the PEM file at
    /// `path`, instead of the built-in webpki roots (feature `tls`).
    ///
    /// For servers whose certificate comes from a private CA (self-hosted Redis, most test
    /// setups). The file is read at every [`RedisClient::connect`](crate::RedisClient::connect)
    /// and must hold at least one `-----BEGIN CERTIFICATE-----` block; a missing or unreadable
    /// file, or one without certificates, fails the connect with
    /// [`ErrorKind::Config`](forze_core::ErrorKind::Config). Setting a CA while the URL is
    /// `redis://` (no TLS) is a `Config` error too, so a forgotten `s` cannot silently send
    /// traffic in plaintext.
    ///
    /// # Examples
    ///
    /// ```
    /// use forze_redis::RedisConfig;
    ///
    /// let config = RedisConfig::default().with_tls_ca_file("/etc/redis/tls/ca.crt");
    /// assert_eq!(
    ///     config.tls_ca_file(),
    ///     Some(std::path::Path::new("/etc/redis/tls/ca.crt"))
    /// );
    /// ```
    #[cfg(feature = "tls")]
    #[must_use]
    pub fn with_tls_ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.tls_ca = Some(TlsCa::File(path.into()));
        self
    }

    /// Verify a `rediss://` server's certificate against the CA certificates in `pem` (one or
    /// more `-----BEGIN CERTIFICATE-----` blocks), instead of the built-in webpki roots
    /// (feature `tls`). Like [`with_tls_ca_file`](Self::with_tls_ca_file) with the file's
    /// contents; [`RedisClient::new`](crate::RedisClient::new) rejects PEM without a
    /// certificate.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use forze_redis::{RedisClient, RedisConfig};
    ///
    /// # async fn example() -> forze_core::Result<()> {
    /// let pem = std::fs::read("ca.crt").expect("the CA certificate");
    /// let client = RedisClient::new(RedisConfig::default().with_tls_ca_pem(pem))?;
    /// client.connect("rediss://:secret@redis.internal:6380").await?;
    /// # Ok(())
    /// # }
    /// # let _ = example;
    /// ```
    #[cfg(feature = "tls")]
    #[must_use]
    pub fn with_tls_ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.tls_ca = Some(TlsCa::Pem(pem.into().into()));
        self
    }

    /// The CA file set with [`with_tls_ca_file`](Self::with_tls_ca_file), if any.
    #[cfg(feature = "tls")]
    pub fn tls_ca_file(&self) -> Option<&Path> {
        match &self.tls_ca {
            Some(TlsCa::File(path)) => Some(path),
            Some(TlsCa::Pem(_)) | None => None,
        }
    }

    /// Whether a CA was set (by file or PEM): `rediss://` servers are then verified against it
    /// alone.
    #[cfg(feature = "tls")]
    pub(crate) fn has_tls_ca(&self) -> bool {
        self.tls_ca.is_some()
    }

    /// The PEM of the configured CA (the file is read now), checked to hold a certificate.
    #[cfg(feature = "tls")]
    pub(crate) fn tls_ca_pem(&self) -> Result<Option<Vec<u8>>> {
        match &self.tls_ca {
            None => Ok(None),
            Some(TlsCa::Pem(pem)) => {
                check_ca_pem(pem, "the PEM given to `RedisConfig::with_tls_ca_pem`")?;
                Ok(Some(pem.to_vec()))
            }
            Some(TlsCa::File(path)) => {
                let pem = std::fs::read(path).map_err(|err| {
                    Error::config(format!(
                        "cannot read the redis TLS CA file {} (set with \
                         `RedisConfig::with_tls_ca_file`)",
                        path.display()
                    ))
                    .with_source(err)
                })?;
                check_ca_pem(&pem, &format!("the redis TLS CA file {}", path.display()))?;
                Ok(Some(pem))
            }
        }
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if self.connect_timeout.is_zero() {
            return Err(Error::config(
                "redis `connect_timeout` must be greater than zero (default 1s)",
            ));
        }
        if self.response_timeout.is_zero() {
            return Err(Error::config(
                "redis `response_timeout` must be greater than zero (default 100ms)",
            ));
        }
        #[cfg(feature = "tls")]
        if let Some(TlsCa::Pem(pem)) = &self.tls_ca {
            check_ca_pem(pem, "the PEM given to `RedisConfig::with_tls_ca_pem`")?;
        }
        Ok(())
    }
}

/// Check that `pem` holds at least one certificate and nothing unparsable; `what` names it.
#[cfg(feature = "tls")]
fn check_ca_pem(pem: &[u8], what: &str) -> Result<()> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;

    let mut count = 0_usize;
    for cert in CertificateDer::pem_slice_iter(pem) {
        if let Err(err) = cert {
            return Err(Error::config(format!(
                "{what} is not valid PEM; expected one or more `-----BEGIN CERTIFICATE-----` \
                 blocks"
            ))
            .with_source(err));
        }
        count += 1;
    }
    if count == 0 {
        return Err(Error::config(format!(
            "{what} holds no certificate; expected one or more `-----BEGIN CERTIFICATE-----` \
             blocks"
        )));
    }
    Ok(())
}

impl Default for RedisConfig {
    fn default() -> Self {
        RedisConfig {
            connect_timeout: Self::DEFAULT_CONNECT_TIMEOUT,
            response_timeout: Self::DEFAULT_RESPONSE_TIMEOUT,
            #[cfg(feature = "tls")]
            tls_ca: None,
        }
    }
}

impl fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut f = f.debug_struct("RedisConfig");
        f.field("connect_timeout", &self.connect_timeout)
            .field("response_timeout", &self.response_timeout);
        #[cfg(feature = "tls")]
        match &self.tls_ca {
            None => f.field("tls_ca", &"webpki roots"),
            Some(TlsCa::File(path)) => f.field("tls_ca", path),
            Some(TlsCa::Pem(pem)) => {
                f.field("tls_ca", &format_args!("<{} bytes of PEM>", pem.len()))
            }
        };
        f.finish()
    }
}

/// Settings of one Redis-backed cache: its key namespace.
///
/// The namespace separates caches sharing one Redis: `app:products` and `app:orders` never see
/// each other's keys. Accepted: 1 to 256 bytes of any text except whitespace, control characters,
/// `{` and `}` (those would interfere with the Redis Cluster hash tag). `:` is fine and needs no
/// escaping: the namespace is length-prefixed in every key (see [`RedisCache`](crate::RedisCache)
/// for the key layout), so `a:b` + key `c` never aliases `a` + key `b:c`.
///
/// # Examples
///
/// ```
/// use forze_redis::RedisCacheConfig;
///
/// let config = RedisCacheConfig::namespace("app:products")?;
/// assert_eq!(config.namespace_str(), "app:products");
/// assert!(RedisCacheConfig::namespace("").is_err());
/// # Ok::<(), forze_core::Error>(())
/// ```
#[non_exhaustive]
#[derive(Clone, PartialEq, Eq)]
pub struct RedisCacheConfig {
    namespace: Arc<str>,
    invalidation_push: bool,
}

/// The longest accepted namespace, in bytes.
pub(crate) const MAX_NAMESPACE_LEN: usize = 256;

impl RedisCacheConfig {
    /// A cache whose keys live under `namespace`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`](forze_core::ErrorKind::Config) if the namespace is empty, longer
    /// than 256 bytes, or contains whitespace, a control character, `{` or `}`.
    pub fn namespace(namespace: impl Into<String>) -> Result<Self> {
        let namespace = namespace.into();
        validate_namespace(&namespace)?;
        Ok(RedisCacheConfig {
            namespace: namespace.into(),
            invalidation_push: false,
        })
    }

    /// The namespace.
    pub fn namespace_str(&self) -> &str {
        &self.namespace
    }

    /// Push invalidations of this namespace to the process's L1s (Redis client-side caching,
    /// Redis 6+; default off).
    ///
    /// With push on,
    /// [`Cache::subscribe_invalidations`](forze_core::cache::Cache::subscribe_invalidations) of a
    /// [`RedisCache`](crate::RedisCache) registers the namespace's data-key prefix with its
    /// client's tracking connection (`CLIENT TRACKING ON BCAST PREFIX fz:<len>:<namespace>:`), so
    /// a write by any replica drops the entry from every other replica's L1 about one round trip
    /// later, instead of when the L1 TTL runs out. On a disconnect or a flush every L1 is reset,
    /// and a server that refuses tracking leaves the cache TTL-only (logged once). The full
    /// contract is in the [crate docs](crate#push-invalidation); [`PushStats`](crate::PushStats)
    /// has the counters.
    ///
    /// # Examples
    ///
    /// ```
    /// use forze_redis::RedisCacheConfig;
    ///
    /// let config = RedisCacheConfig::namespace("app:products")?.invalidation_push(true);
    /// assert!(config.invalidation_push_enabled());
    /// # Ok::<(), forze_core::Error>(())
    /// ```
    #[must_use]
    pub fn invalidation_push(mut self, on: bool) -> Self {
        self.invalidation_push = on;
        self
    }

    /// Whether push invalidation is on.
    pub fn invalidation_push_enabled(&self) -> bool {
        self.invalidation_push
    }
}

impl fmt::Debug for RedisCacheConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisCacheConfig")
            .field("namespace", &self.namespace)
            .field("invalidation_push", &self.invalidation_push)
            .finish()
    }
}

fn validate_namespace(namespace: &str) -> Result<()> {
    const ACCEPTED: &str = "1 to 256 bytes without whitespace, control characters, `{` or `}`, \
                            e.g. `app:products`";
    if namespace.is_empty() {
        return Err(Error::config(format!(
            "redis cache namespace is empty; expected {ACCEPTED}"
        )));
    }
    if namespace.len() > MAX_NAMESPACE_LEN {
        return Err(Error::config(format!(
            "redis cache namespace is {} bytes long; expected {ACCEPTED}",
            namespace.len()
        )));
    }
    if let Some(bad) = namespace
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || *c == '{' || *c == '}')
    {
        return Err(Error::config(format!(
            "redis cache namespace {namespace:?} contains {bad:?}; expected {ACCEPTED}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use forze_core::ErrorKind;

    #[test]
    fn namespaces_accepted_and_rejected() {
        for ok in [
            "app:products",
            "a",
            "a:b:c",
            "tenant/42",
            "ü",
            &"x".repeat(256),
        ] {
            assert!(RedisCacheConfig::namespace(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a b", "a\tb", "a{b", "a}b", "a\u{0}b", &"x".repeat(257)] {
            let err = RedisCacheConfig::namespace(bad).expect_err(bad);
            assert_eq!(err.kind(), ErrorKind::Config);
            assert!(err.message().contains("e.g. `app:products`"), "{err}");
        }
        let err = RedisCacheConfig::namespace("a{b").expect_err("brace");
        assert!(err.message().contains("'{'"), "{err}");
    }

    #[test]
    fn zero_timeouts_are_rejected() {
        assert!(RedisConfig::default().validate().is_ok());
        let err = RedisConfig::default()
            .with_response_timeout(Duration::ZERO)
            .validate()
            .expect_err("zero");
        assert!(err.message().contains("response_timeout"), "{err}");
        let err = RedisConfig::default()
            .with_connect_timeout(Duration::ZERO)
            .validate()
            .expect_err("zero");
        assert!(err.message().contains("connect_timeout"), "{err}");
    }
}
