//! `just soak`: the fleet for 20,000 operations per configuration (`FORZE_FLEET_OPS`), every
//! configuration or the one named by `FORZE_FLEET_CONFIG`; prints the counts of each and exits
//! non-zero on any violation. The `forze-replica` binary is found next to this one.

use std::process::ExitCode;
use std::time::Duration;

use forze_fleet::docs::FleetConfig;
use forze_fleet::suite;

fn main() -> ExitCode {
    let replica = match std::env::current_exe() {
        Ok(exe) => exe.with_file_name(format!("forze-replica{}", std::env::consts::EXE_SUFFIX)),
        Err(e) => {
            eprintln!("forze-soak: cannot locate itself: {e}");
            return ExitCode::FAILURE;
        }
    };
    if !replica.exists() {
        eprintln!(
            "forze-soak: {} is missing; build it first (`cargo build -p forze-fleet --bins`)",
            replica.display()
        );
        return ExitCode::FAILURE;
    }
    let only = std::env::var("FORZE_FLEET_CONFIG").ok();
    let mut failed = Vec::new();
    for config in FleetConfig::ALL {
        if only.as_deref().is_some_and(|o| o != config.name()) {
            continue;
        }
        if let Err(failure) = suite::run(config, 20_000, Duration::from_secs(1200), &replica) {
            eprintln!("{failure}");
            failed.push(config.name());
        }
    }
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        eprintln!("the soak failed for {failed:?} (details above)");
        ExitCode::FAILURE
    }
}
