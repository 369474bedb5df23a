//! The fleet: `forze-replica` spawned as separate OS processes (each with its own Postgres and
//! Redis clients) against the shared Postgres (a private schema) and a private Redis (so faults
//! are allowed), a seeded random schedule with slow store reads and Redis faults, and the
//! history checked against the freshness contract. A short run per configuration; `just soak`
//! (the `forze-soak` binary) runs 20,000 operations each.
//!
//! The seed is printed; replay with `FORZE_FLEET_SEED=<seed>` (knobs: [`forze_fleet::suite`]).

use std::path::Path;
use std::time::Duration;

use forze_fleet::docs::FleetConfig;
use forze_fleet::suite;

const REPLICA: &str = env!("CARGO_BIN_EXE_forze-replica");

fn run(config: FleetConfig) {
    if let Err(failure) = suite::run(config, 1500, Duration::from_secs(120), Path::new(REPLICA)) {
        panic!("{failure}");
    }
}

#[test]
fn fleet_plain() {
    run(FleetConfig::Plain);
}

#[test]
fn fleet_l1() {
    run(FleetConfig::L1);
}

#[test]
fn fleet_push() {
    run(FleetConfig::Push);
}
