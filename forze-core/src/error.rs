//! The one public error type of forze.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

/// A `Result` whose error defaults to [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, for callers to branch on.
///
/// The set grows over time, so matches need a wildcard arm.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The document (or one of several documents) does not exist.
    NotFound,
    /// An optimistic-concurrency check failed: the stored `rev` is not the expected one.
    RevisionMismatch,
    /// A unique constraint was violated, for example a duplicate id.
    Conflict,
    /// The configuration or the wiring is invalid (a spec, a registration, a missing table).
    Config,
    /// Input was rejected (a bad field value, an unknown sort field).
    Validation,
    /// A value could not be encoded or decoded.
    Serialization,
    /// A backend is unreachable or timed out; retrying later may succeed.
    Unavailable,
    /// A bug or an unexpected backend answer.
    Internal,
}

impl ErrorKind {
    /// A short lowercase name for the kind, as used in messages and logs.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorKind::NotFound => "not found",
            ErrorKind::RevisionMismatch => "revision mismatch",
            ErrorKind::Conflict => "conflict",
            ErrorKind::Config => "configuration error",
            ErrorKind::Validation => "validation error",
            ErrorKind::Serialization => "serialization error",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Internal => "internal error",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

type Source = Arc<dyn std::error::Error + Send + Sync + 'static>;

/// The error of every forze operation.
///
/// Cheap to clone (single-flight hands one error to every waiting caller). Branch on
/// [`Error::kind`]; the message names the document, the id and what was registered, and never
/// contains SQL parameters or credentials. The underlying error, if any, is kept as
/// [`source`](std::error::Error::source); `Display` shows the message followed by the chain of
/// causes (`outer: inner: io error`), [`message`](Error::message) this level alone. Adapters
/// keep as sources only errors free of values and credentials (transport, TLS, I/O).
///
/// # Examples
///
/// ```
/// use forze_core::{Error, ErrorKind};
///
/// let err = Error::new(ErrorKind::NotFound, "document `products` 42 not found");
/// assert_eq!(err.kind(), ErrorKind::NotFound);
/// assert_eq!(err.to_string(), "document `products` 42 not found");
/// ```
#[derive(Clone)]
pub struct Error {
    kind: ErrorKind,
    message: Cow<'static, str>,
    source: Option<Source>,
    not_applied: bool,
}

impl Error {
    /// A new error of `kind` with a lowercase message without trailing period.
    pub fn new(kind: ErrorKind, message: impl Into<Cow<'static, str>>) -> Self {
        Error {
            kind,
            message: message.into(),
            source: None,
            not_applied: false,
        }
    }

    /// Attach the underlying error, returned by [`source`](std::error::Error::source).
    #[must_use]
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Arc::new(source));
        self
    }

    /// Mark the operation as certainly not applied: it never reached the server (no connection
    /// could be acquired, the request was refused before it was sent).
    ///
    /// A failed write is otherwise assumed to have an unknown outcome when its kind is
    /// [`Unavailable`](ErrorKind::Unavailable) (sent, no answer: it may have applied), and the
    /// coordinator invalidates the ids it may have written. A write marked not applied leaves
    /// the cache alone, so documents served from it stay available while the store is down.
    #[must_use]
    pub fn not_applied(mut self) -> Self {
        self.not_applied = true;
        self
    }

    /// Whether the operation certainly did not apply (see [`not_applied`](Self::not_applied)).
    pub fn is_not_applied(&self) -> bool {
        self.not_applied
    }

    /// Whether a failed write may have applied all the same: an [`Unavailable`] error not
    /// marked [`not_applied`](Self::not_applied) (sent, and no answer came back).
    ///
    /// [`Unavailable`]: ErrorKind::Unavailable
    pub fn outcome_unknown(&self) -> bool {
        self.kind == ErrorKind::Unavailable && !self.not_applied
    }

    /// Shorthand for an [`ErrorKind::Config`] error.
    pub fn config(message: impl Into<Cow<'static, str>>) -> Self {
        Error::new(ErrorKind::Config, message)
    }

    /// The kind, for callers to branch on.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message of this error alone, without its causes (which `Display` appends).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The per-field problems of a [`Validation`](ErrorKind::Validation) error from a
    /// [`Validate`](crate::Validate) check or the finite-float check of create and update
    /// input, for an API answer that lists them. `None` for any other error.
    pub fn validation_errors(&self) -> Option<&crate::ValidationErrors> {
        self.source.as_deref()?.downcast_ref()
    }

    /// Whether retrying the same operation later may succeed.
    pub fn is_temporary(&self) -> bool {
        matches!(self.kind, ErrorKind::Unavailable)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.kind).field("message", &self.message);
        if self.not_applied {
            d.field("not_applied", &true);
        }
        if let Some(source) = &self.source {
            d.field("source", source);
        }
        d.finish()
    }
}

/// The message, then each cause in the [`source`](std::error::Error::source) chain after a
/// `: ` (a cause that is itself an [`Error`] shows its [`message`](Error::message), so no
/// cause is repeated): `lifecycle step \`redis\` failed to start: cannot connect to redis at
/// 127.0.0.1:6390: Connection refused (os error 111)`. [`Error::message`] is this error alone.
impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        let mut cause = std::error::Error::source(self);
        while let Some(err) = cause {
            match err.downcast_ref::<Error>() {
                Some(forze) => write!(f, ": {}", forze.message)?,
                None => write!(f, ": {err}")?,
            }
            cause = err.source();
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|s| s as &(dyn std::error::Error + 'static))
    }
}

impl From<serde_json::Error> for Error {
    fn from(err: serde_json::Error) -> Self {
        Error::new(ErrorKind::Serialization, "json encoding or decoding failed").with_source(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_is_send_sync_clone() {
        fn assert<T: Send + Sync + Clone + 'static>() {}
        assert::<Error>();
    }

    #[test]
    fn display_shows_the_cause_chain_once() {
        let io = std::io::Error::other("boom");
        let err = Error::new(ErrorKind::Unavailable, "redis call failed").with_source(io);
        assert_eq!(err.to_string(), "redis call failed: boom");
        assert_eq!(err.message(), "redis call failed");
        assert_eq!(
            std::error::Error::source(&err).map(|s| s.to_string()),
            Some("boom".into())
        );
        assert!(err.is_temporary());
        // a wrapped forze error contributes its message, not its whole chain again
        let outer = Error::new(
            ErrorKind::Unavailable,
            "lifecycle step `redis` failed to start",
        )
        .with_source(err);
        assert_eq!(
            outer.to_string(),
            "lifecycle step `redis` failed to start: redis call failed: boom"
        );
        assert_eq!(
            Error::new(ErrorKind::NotFound, "alone").to_string(),
            "alone"
        );
    }
}
