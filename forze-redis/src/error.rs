//! Private mapping of redis-rs errors to [`forze_core::Error`].
//!
//! Messages name the cache namespace, the operation and the server (`host:port`), never the URL
//! or its credentials. The redis-rs error is kept as the source and not repeated in the message.

use std::time::Duration;

use forze_core::{Error, ErrorKind};
use redis::{ErrorKind as RedisKind, RedisError, ServerErrorKind};

/// Why a call did not produce a reply.
#[derive(Debug)]
pub(crate) enum Failure {
    /// No reply within the response timeout (includes waiting for a reconnect).
    Timeout(Duration),
    /// The client returned an error.
    Redis(RedisError),
    /// The client was never connected.
    NotConnected,
    /// The client was shut down.
    Closed,
    /// The reply had an unexpected shape.
    Reply(&'static str),
}

impl From<RedisError> for Failure {
    fn from(err: RedisError) -> Self {
        Failure::Redis(err)
    }
}

/// Where a call went: for messages.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CallSite<'a> {
    /// The cache namespace.
    pub(crate) namespace: &'a str,
    /// The operation (`get`, `fill`, …).
    pub(crate) op: &'static str,
    /// The server, `host:port` or a socket path (never credentials).
    pub(crate) target: &'a str,
}

/// Map a failed cache call.
pub(crate) fn call_error(site: CallSite<'_>, failure: Failure) -> Error {
    let CallSite {
        namespace,
        op,
        target,
    } = site;
    match failure {
        Failure::Timeout(timeout) => Error::new(
            ErrorKind::Unavailable,
            format!(
                "redis cache `{namespace}`: `{op}` got no reply from {target} within {timeout:?}"
            ),
        ),
        Failure::NotConnected => Error::config(format!(
            "redis cache `{namespace}`: the redis client is not connected; add \
             `redis_lifecycle_step(client, dsn)` to the lifecycle plan or call \
             `RedisClient::connect` first"
        )),
        Failure::Closed => Error::new(
            ErrorKind::Unavailable,
            format!("redis cache `{namespace}`: the redis client was shut down"),
        ),
        Failure::Reply(what) => Error::new(
            ErrorKind::Internal,
            format!(
                "redis cache `{namespace}`: `{op}` got an unexpected reply from {target}: {what}"
            ),
        ),
        Failure::Redis(err) => {
            if is_unavailable(&err) {
                Error::new(
                    ErrorKind::Unavailable,
                    format!("redis cache `{namespace}`: `{op}` failed: {target} is unavailable"),
                )
                .with_source(err)
            } else {
                Error::new(
                    ErrorKind::Internal,
                    format!("redis cache `{namespace}`: `{op}` was rejected by {target}"),
                )
                .with_source(err)
            }
        }
    }
}

/// Errors that retrying later may cure: the connection, the server's state, a cluster in flux.
pub(crate) fn is_unavailable(err: &RedisError) -> bool {
    if err.is_io_error()
        || err.is_timeout()
        || err.is_connection_dropped()
        || err.is_connection_refusal()
        || err.is_cluster_error()
    {
        return true;
    }
    if matches!(
        err.kind(),
        RedisKind::AuthenticationFailed
            | RedisKind::ClusterConnectionNotFound
            | RedisKind::Server(
                ServerErrorKind::BusyLoading
                    | ServerErrorKind::MasterDown
                    | ServerErrorKind::ReadOnly
                    | ServerErrorKind::ClusterDown
                    | ServerErrorKind::TryAgain
            )
    ) {
        return true;
    }
    matches!(
        err.code(),
        Some("BUSY" | "NOAUTH" | "WRONGPASS" | "OOM" | "MISCONF" | "NOREPLICAS")
    )
}

/// Whether the server rejected the credentials (or demanded some).
pub(crate) fn is_auth_failure(err: &RedisError) -> bool {
    err.kind() == RedisKind::AuthenticationFailed
        || matches!(err.code(), Some("NOAUTH" | "WRONGPASS" | "NOPERM"))
}

/// Where a connect went: for messages (never the URL or the password).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Endpoint<'a> {
    /// The server, `host:port` or a socket path.
    pub(crate) target: &'a str,
    /// The user of the URL, if any.
    pub(crate) user: Option<&'a str>,
    /// Whether the URL carries a password.
    pub(crate) has_password: bool,
    /// Whether the URL is `rediss://` (TLS).
    pub(crate) tls: bool,
}

/// Map a failure to connect at startup.
pub(crate) fn connect_error(endpoint: Endpoint<'_>, failure: Failure) -> Error {
    let Endpoint {
        target,
        user,
        has_password,
        tls,
    } = endpoint;
    #[cfg(feature = "tls")]
    let failure = match failure {
        Failure::Redis(err) if tls => match tls_handshake_failure(&err) {
            // A certificate the client does not trust, or a peer that does not speak TLS:
            // retrying will not cure it, so it is a configuration error, not `Unavailable`.
            Some(reason) => {
                return Error::config(format!(
                    "TLS handshake with redis at {target} failed: {reason}"
                ))
                .with_source(err);
            }
            None => Failure::Redis(err),
        },
        other => other,
    };
    let tls_hint = if tls {
        " (the url is `rediss://`: check that the server accepts TLS on this port)"
    } else {
        ""
    };
    match failure {
        Failure::Redis(err) if !has_password && is_auth_failure(&err) => Error::config(format!(
            "redis at {target} requires authentication but the redis url has no password; \
             use `redis://[user]:password@host[:port]`"
        ))
        .with_source(err),
        Failure::Timeout(timeout) => Error::new(
            ErrorKind::Unavailable,
            format!("cannot connect to redis at {target}: no answer within {timeout:?}{tls_hint}"),
        ),
        Failure::Redis(err) if is_auth_failure(&err) => {
            let who = match user {
                Some(user) => format!("user `{user}`"),
                None => "the default user".to_owned(),
            };
            Error::config(format!(
                "redis at {target} rejected the credentials of {who}; check the user and \
                 password in the redis url"
            ))
            .with_source(err)
        }
        // A plaintext server behind `rediss://` waits for a command that never comes: the
        // handshake times out. That looks like a slow server, so it stays `Unavailable`, with
        // the hint.
        Failure::Redis(err) if err.is_timeout() && is_unavailable(&err) => Error::new(
            ErrorKind::Unavailable,
            format!("cannot connect to redis at {target}: no answer within the connect timeout{tls_hint}"),
        )
        .with_source(err),
        Failure::Redis(err) if is_unavailable(&err) => Error::new(
            ErrorKind::Unavailable,
            format!("cannot connect to redis at {target}"),
        )
        .with_source(err),
        Failure::Redis(err) if err.kind() == RedisKind::InvalidClientConfig => {
            Error::config(format!("invalid redis connection settings for {target}"))
                .with_source(err)
        }
        Failure::Redis(err) => Error::new(
            ErrorKind::Unavailable,
            format!("redis at {target} refused the connection setup"),
        )
        .with_source(err),
        Failure::Reply(what) => Error::new(
            ErrorKind::Internal,
            format!("redis at {target} answered the connection check unexpectedly: {what}"),
        ),
        Failure::NotConnected | Failure::Closed => Error::new(
            ErrorKind::Internal,
            format!("connecting to redis at {target} was interrupted"),
        ),
    }
}

/// Why a TLS handshake failed, when `err` comes from rustls (the server's certificate, or a
/// peer that does not speak TLS); `None` for I/O and other errors.
#[cfg(feature = "tls")]
fn tls_handshake_failure(err: &RedisError) -> Option<&'static str> {
    use rustls::CertificateError as Cert;

    let tls = rustls_error(err)?;
    let reason = match tls {
        rustls::Error::InvalidCertificate(cert) => match cert {
            Cert::UnknownIssuer | Cert::BadSignature | Cert::UnhandledCriticalExtension => {
                "the server's certificate is not signed by a trusted CA (the CA set with \
                 `RedisConfig::with_tls_ca_file` or `with_tls_ca_pem`, otherwise the built-in \
                 webpki roots)"
            }
            Cert::NotValidForName | Cert::NotValidForNameContext { .. } => {
                "the server's certificate is not valid for the host name of the url"
            }
            Cert::Expired
            | Cert::ExpiredContext { .. }
            | Cert::NotValidYet
            | Cert::NotValidYetContext { .. } => {
                "the server's certificate has expired or is not valid yet"
            }
            Cert::Revoked => "the server's certificate was revoked",
            _ => "the server's certificate was rejected",
        },
        rustls::Error::InvalidMessage(_)
        | rustls::Error::InappropriateMessage { .. }
        | rustls::Error::InappropriateHandshakeMessage { .. } => {
            "the server did not answer with TLS (is this a plaintext port?)"
        }
        rustls::Error::AlertReceived(_) => {
            "the server refused the handshake (TLS alert); client certificates (`tls-auth-clients \
             yes`) are not supported"
        }
        _ => "the TLS session could not be established",
    };
    Some(reason)
}

/// The rustls error inside a redis-rs error: directly (building the TLS config), or inside the
/// `io::Error` of the handshake (tokio-rustls).
#[cfg(feature = "tls")]
fn rustls_error(err: &RedisError) -> Option<&rustls::Error> {
    use std::error::Error as _;
    use std::sync::Arc;

    let inner = err.source()?;
    // redis-rs keeps wrapped errors as `Arc<dyn Error + Send + Sync>`.
    let inner: &(dyn std::error::Error + 'static) =
        match inner.downcast_ref::<Arc<dyn std::error::Error + Send + Sync>>() {
            Some(arc) => &**arc,
            None => inner,
        };
    if let Some(tls) = inner.downcast_ref::<rustls::Error>() {
        return Some(tls);
    }
    inner
        .downcast_ref::<std::io::Error>()?
        .get_ref()?
        .downcast_ref::<rustls::Error>()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site() -> CallSite<'static> {
        CallSite {
            namespace: "app:products",
            op: "get",
            target: "127.0.0.1:6379",
        }
    }

    #[test]
    fn io_and_timeouts_are_unavailable() {
        let refused = RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        let err = call_error(site(), Failure::Redis(refused));
        assert_eq!(err.kind(), ErrorKind::Unavailable);
        assert_eq!(
            err.message(),
            "redis cache `app:products`: `get` failed: 127.0.0.1:6379 is unavailable"
        );
        assert!(std::error::Error::source(&err).is_some());

        let err = call_error(site(), Failure::Timeout(Duration::from_millis(100)));
        assert_eq!(err.kind(), ErrorKind::Unavailable);
        assert!(err.message().contains("within 100ms"), "{err}");
    }

    #[test]
    fn script_and_type_errors_are_internal() {
        let wrongtype = RedisError::from((
            RedisKind::Server(ServerErrorKind::ResponseError),
            "script failed",
        ));
        let err = call_error(site(), Failure::Redis(wrongtype));
        assert_eq!(err.kind(), ErrorKind::Internal);
    }

    #[test]
    fn not_connected_is_a_wiring_error() {
        let err = call_error(site(), Failure::NotConnected);
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(err.message().contains("redis_lifecycle_step"), "{err}");
    }

    #[test]
    fn auth_failure_at_connect_is_config() {
        let auth = RedisError::from((
            RedisKind::AuthenticationFailed,
            "Password authentication failed",
        ));
        let endpoint = Endpoint {
            target: "127.0.0.1:7000",
            user: Some("app"),
            has_password: true,
            tls: false,
        };
        let err = connect_error(endpoint, Failure::Redis(auth.clone()));
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(err.message().contains("127.0.0.1:7000"), "{err}");
        assert!(err.message().contains("user `app`"), "{err}");
        let endpoint = Endpoint {
            user: None,
            has_password: false,
            ..endpoint
        };
        let err = connect_error(endpoint, Failure::Redis(auth));
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(err.message().contains("has no password"), "{err}");
    }
}
