//! Ephemeral Postgres and Redis servers for forze's tests, examples and benches.
//!
//! No Docker: the servers are the local `postgres` and `redis-server` binaries, started on free
//! loopback ports with their data in temp dirs, and torn down (process stopped and waited, temp
//! dir removed) when the handle is dropped.
//!
//! - [`EphemeralPostgres`]: `initdb` + `postgres` with trust auth and `fsync=off`. As root it runs
//!   the server as the unprivileged `postgres` system user.
//! - [`EphemeralRedis`]: `redis-server` without persistence; [`EphemeralRedis::kill`] and
//!   [`EphemeralRedis::restart`] simulate an outage on the same port. With [`RedisOptions::tls`]
//!   it listens for TLS only, with a throwaway CA ([`EphemeralRedis::tls_ca_path`]).
//! - [`PartitionProxy`]: a loopback TCP proxy that simulates a network partition (bytes dropped
//!   both ways, then the connections closed on heal), for one client of a server while others
//!   reach it directly.
//! - [`test_postgres_url`] / [`test_redis_url`]: the shared test servers named by
//!   `FORZE_TEST_POSTGRES_URL` / `FORZE_TEST_REDIS_URL`; a test that needs one and finds none
//!   fails with instructions.
//! - [`unique_schema`] / [`unique_namespace`]: per-test isolation on a shared server.
//! - The `forze-services` binary runs a command with both URLs set, starting ephemeral servers for
//!   the ones that are not configured (`just test` uses it).
//!
//! ```no_run
//! use forze_testkit::EphemeralPostgres;
//!
//! let pg = EphemeralPostgres::start()?;
//! println!("connect to {}", pg.url());
//! pg.stop()?; // or just drop it
//! # Ok::<(), std::io::Error>(())
//! ```
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

mod env;
mod postgres;
mod process;
mod proxy;
mod redis;

pub use env::{
    POSTGRES_URL_VAR, REDIS_URL_VAR, test_postgres_url, test_redis_url, try_test_postgres_url,
    try_test_redis_url, unique_namespace, unique_schema,
};
pub use postgres::EphemeralPostgres;
pub use proxy::PartitionProxy;
pub use redis::{EphemeralRedis, RedisOptions, generate_test_ca};
