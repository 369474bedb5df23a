//! The shared test servers named by environment variables, and per-test names.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The variable naming the Postgres server tests use.
pub const POSTGRES_URL_VAR: &str = "FORZE_TEST_POSTGRES_URL";
/// The variable naming the Redis server tests use.
pub const REDIS_URL_VAR: &str = "FORZE_TEST_REDIS_URL";

fn read(var: &str) -> Option<String> {
    std::env::var(var).ok().filter(|v| !v.trim().is_empty())
}

fn instructions(var: &str, what: &str, example: &str) -> String {
    format!(
        "{var} is not set: this test needs a real {what} server.\n\
         Run the tests through the services runner, which starts ephemeral servers from the local \
         binaries when no URL is given:\n    just test\n    # or: cargo run -q -p forze-testkit \
         --bin forze-services -- cargo nextest run ...\n\
         or point the tests at a server you run yourself:\n    export {var}={example}"
    )
}

/// The Postgres URL from `FORZE_TEST_POSTGRES_URL`, or instructions on how to provide one.
///
/// # Errors
///
/// The instructions, if the variable is unset or empty.
pub fn try_test_postgres_url() -> Result<String, String> {
    read(POSTGRES_URL_VAR).ok_or_else(|| {
        instructions(
            POSTGRES_URL_VAR,
            "Postgres",
            "postgres://postgres@127.0.0.1:5432/postgres",
        )
    })
}

/// The Redis URL from `FORZE_TEST_REDIS_URL`, or instructions on how to provide one.
///
/// # Errors
///
/// The instructions, if the variable is unset or empty.
pub fn try_test_redis_url() -> Result<String, String> {
    read(REDIS_URL_VAR)
        .ok_or_else(|| instructions(REDIS_URL_VAR, "Redis", "redis://127.0.0.1:6379"))
}

/// The Postgres URL tests run against (`FORZE_TEST_POSTGRES_URL`).
///
/// # Panics
///
/// If the variable is unset: a test that needs a server fails, with instructions, rather than
/// passing without having run.
pub fn test_postgres_url() -> String {
    match try_test_postgres_url() {
        Ok(url) => url,
        Err(msg) => panic!("{msg}"),
    }
}

/// The Redis URL tests run against (`FORZE_TEST_REDIS_URL`).
///
/// # Panics
///
/// If the variable is unset, with instructions (see [`test_postgres_url`]).
pub fn test_redis_url() -> String {
    match try_test_redis_url() {
        Ok(url) => url,
        Err(msg) => panic!("{msg}"),
    }
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A short suffix unique to this process, this call and this moment (lowercase hex).
fn unique_suffix() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    // Mix pid, counter and time; 40 bits of time keep names short and still unique per run.
    format!(
        "{:x}_{:x}_{:010x}",
        std::process::id(),
        n,
        (nanos as u64) & 0xff_ffff_ffff
    )
}

/// A Postgres schema name for one test: `ft_<prefix>_<unique suffix>`, lowercase, at most 63
/// bytes, safe to use unquoted.
///
/// Characters of `prefix` other than ASCII letters, digits and `_` become `_`.
///
/// ```
/// let a = forze_testkit::unique_schema("store");
/// let b = forze_testkit::unique_schema("store");
/// assert!(a.starts_with("ft_store_"));
/// assert_ne!(a, b);
/// assert!(a.len() <= 63);
/// ```
pub fn unique_schema(prefix: &str) -> String {
    let clean: String = prefix
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .take(24)
        .collect();
    format!("ft_{clean}_{}", unique_suffix())
}

/// A Redis key namespace for one test: `forze-test:<prefix>:<unique suffix>`.
///
/// ```
/// let ns = forze_testkit::unique_namespace("cache");
/// assert!(ns.starts_with("forze-test:cache:"));
/// assert_ne!(ns, forze_testkit::unique_namespace("cache"));
/// ```
pub fn unique_namespace(prefix: &str) -> String {
    format!("forze-test:{prefix}:{}", unique_suffix())
}
