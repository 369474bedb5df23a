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
//! - [`reap_orphans`]: stops the servers of owners that died without dropping the handle.
//!
//! # Servers of a SIGKILLed owner
//!
//! A process killed with SIGKILL (a nextest timeout, a cancelled CI job, `kill -9`) runs no
//! `Drop`, so its servers would run on forever with their temp dirs. The choice here is to
//! **record the owner and reap on the next start**: each temp dir holds an `owner` file with the
//! owner's pid and start time (`/proc/<pid>/stat` field 22, so a recycled pid does not pass for
//! the owner) and the server's pid, start time and binary. Every start
//! ([`EphemeralRedis::start`], [`EphemeralRedis::start_with`], [`EphemeralPostgres::start`]) and
//! `forze-services` first calls [`reap_orphans`], which stops the servers whose owner is gone and
//! removes their dirs. It signals a pid only while it provably is that server (same start time,
//! binary name, working directory or arguments inside the dir), and never touches a dir whose
//! owner lives, so tests running in parallel are safe. Reaping problems go to stderr; they never
//! fail a start.
//!
//! An orphan thus lives until the next test run (or demo) on the machine, not forever. Making the
//! server die with its owner right away was left out on purpose: `PR_SET_PDEATHSIG` needs
//! `unsafe` `pre_exec` (this workspace forbids `unsafe`) and fires when the *spawning thread*
//! exits, which would kill servers shared across test threads; a watcher process per server
//! (a shell waiting for EOF on a pipe) costs a process per server and could signal a recycled pid
//! after a normal stop. The reaping works on Linux (it needs `/proc`); elsewhere it does nothing.
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
mod orphans;
mod postgres;
mod process;
mod proxy;
mod redis;

pub use env::{
    POSTGRES_URL_VAR, REDIS_URL_VAR, test_postgres_url, test_redis_url, try_test_postgres_url,
    try_test_redis_url, unique_namespace, unique_schema,
};
pub use orphans::reap_orphans;
pub use postgres::EphemeralPostgres;
pub use proxy::PartitionProxy;
pub use redis::{EphemeralRedis, RedisOptions, generate_test_ca};
