//! Running the fleet: options from the environment, one configuration under a watchdog, and the
//! verdict. Used by the `fleet` tests (a short run in `just test`) and by the `forze-soak`
//! binary (`just soak`).
//!
//! Knobs: `FORZE_FLEET_SEED` (replay), `FORZE_FLEET_OPS`, `FORZE_FLEET_REPLICAS`,
//! `FORZE_FLEET_DOCS`, `FORZE_FLEET_FAULTS=0`, `FORZE_FLEET_SLOW=0`, and for the soak
//! `FORZE_FLEET_CONFIG=plain|l1|push`.

use std::path::Path;
use std::time::Duration;

use crate::docs::FleetConfig;
use crate::driver::{self, RunOptions};

fn env_num(var: &str) -> Option<usize> {
    std::env::var(var).ok().and_then(|v| v.trim().parse().ok())
}

fn env_off(var: &str) -> bool {
    std::env::var(var).is_ok_and(|v| v.trim() == "0")
}

fn options(config: FleetConfig, default_ops: usize, replica: &Path) -> RunOptions {
    let mut options = RunOptions::new(config, driver::seed_from_env(), replica);
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
/// processes and the private Redis), printing the seed and the counts. `Err` lists the
/// violations (or says why the run could not finish).
///
/// # Errors
///
/// The violations or hangs found, a watchdog expiry, or a run that could not start.
pub fn run(
    config: FleetConfig,
    default_ops: usize,
    watchdog: Duration,
    replica: &Path,
) -> Result<(), String> {
    let options = options(config, default_ops, replica);
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
        .map_err(|e| format!("tokio runtime: {e}"))?;
    let outcome = rt
        .block_on(async { tokio::time::timeout(watchdog, driver::run(options)).await })
        .map_err(|_| {
            format!(
                "watchdog: the {} fleet did not finish within {watchdog:?}",
                config.name()
            )
        })?
        .map_err(|e| format!("the {} fleet could not run: {e}", config.name()))?;
    eprintln!("{}", outcome.summary());
    if outcome.report.violations.is_empty() && outcome.hangs == 0 {
        return Ok(());
    }
    Err(format!(
        "{} violations, {} hangs\n{}\n{}",
        outcome.report.violations.len(),
        outcome.hangs,
        outcome.summary(),
        outcome.violations_text(20)
    ))
}
