//! The fleet: `forze-replica` spawned as separate OS processes (each with its own Postgres and
//! Redis clients) against the shared Postgres (a private schema) and a private Redis (so faults
//! are allowed), a seeded random schedule with slow store reads and Redis faults, and the
//! history checked against the freshness contract.
//!
//! The seed is printed; replay with `FORZE_FLEET_SEED=<seed>`. Knobs: `FORZE_FLEET_OPS`,
//! `FORZE_FLEET_REPLICAS`, `FORZE_FLEET_DOCS`, `FORZE_FLEET_FAULTS=0`, `FORZE_FLEET_SLOW=0`,
//! `FORZE_FLEET_CONFIG=plain|l1|push` (the soak only).

use std::time::Duration;

use forze_fleet::docs::FleetConfig;
use forze_fleet::driver::{self, RunOptions};

const REPLICA: &str = env!("CARGO_BIN_EXE_forze-replica");

fn env_num(var: &str) -> Option<usize> {
    std::env::var(var).ok().and_then(|v| v.trim().parse().ok())
}

fn env_off(var: &str) -> bool {
    std::env::var(var).is_ok_and(|v| v.trim() == "0")
}

fn options(config: FleetConfig, default_ops: usize) -> RunOptions {
    let mut options = RunOptions::new(config, driver::seed_from_env(), REPLICA);
    options.ops = env_num("FORZE_FLEET_OPS").unwrap_or(default_ops);
    if let Some(n) = env_num("FORZE_FLEET_REPLICAS") {
        options.replicas = n.clamp(2, 3);
    }
    if let Some(n) = env_num("FORZE_FLEET_DOCS") {
        options.docs = n.max(1);
    }
    options.faults = !env_off("FORZE_FLEET_FAULTS");
    options.slow = !env_off("FORZE_FLEET_SLOW");
    options
}

/// Run one configuration under a watchdog (a hang fails; dropping the run kills the replica
/// processes and the private Redis) and fail listing the violations.
fn run(config: FleetConfig, default_ops: usize, watchdog: Duration) {
    let options = options(config, default_ops);
    eprintln!(
        "fleet {}: seed {} (replay: {}={} cargo test -p forze-fleet --test fleet -- --exact fleet_{})",
        config.name(),
        options.seed,
        driver::SEED_VAR,
        options.seed,
        config.name()
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let outcome = rt
        .block_on(async { tokio::time::timeout(watchdog, driver::run(options)).await })
        .unwrap_or_else(|_| {
            panic!(
                "watchdog: the {} fleet did not finish within {watchdog:?}",
                config.name()
            )
        })
        .unwrap_or_else(|e| panic!("the {} fleet could not run: {e}", config.name()));
    eprintln!("{}", outcome.summary());
    assert!(
        outcome.report.violations.is_empty() && outcome.hangs == 0,
        "{} violations, {} hangs\n{}\n{}",
        outcome.report.violations.len(),
        outcome.hangs,
        outcome.summary(),
        outcome.violations_text(20)
    );
}

#[test]
fn fleet_plain() {
    run(FleetConfig::Plain, 1500, Duration::from_secs(120));
}

#[test]
fn fleet_l1() {
    run(FleetConfig::L1, 1500, Duration::from_secs(120));
}

#[test]
fn fleet_push() {
    run(FleetConfig::Push, 1500, Duration::from_secs(120));
}

/// `just soak`: 20,000 ops per configuration (`FORZE_FLEET_OPS`), every configuration or the one
/// named by `FORZE_FLEET_CONFIG`; prints the counts of each and fails on any violation.
#[test]
#[ignore = "minutes long; run with `just soak`"]
fn soak() {
    let only = std::env::var("FORZE_FLEET_CONFIG").ok();
    let mut failed = Vec::new();
    for config in FleetConfig::ALL {
        if only.as_deref().is_some_and(|o| o != config.name()) {
            continue;
        }
        let result = std::panic::catch_unwind(|| run(config, 20_000, Duration::from_secs(1200)));
        if result.is_err() {
            failed.push(config.name());
        }
    }
    assert!(
        failed.is_empty(),
        "the soak failed for {failed:?} (details above)"
    );
}
