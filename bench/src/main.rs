//! `just bench`: forze's measurements, printed as tables and merged into
//! `target/forze-bench/report.json` (relative to the workspace root).
//!
//! Each section is a module with a `run(&Context, &mut Report)` function that prints its tables
//! and adds its keys to the report; keys other sections wrote earlier are kept. Run everything
//! with `cargo run --release -p forze-bench`, or name sections: `cargo run --release -p
//! forze-bench -- l1`.
//!
//! Sections:
//! * `latency`: p50/p99 of a raw Redis `GET`, a forze L2-hit `get`, a direct Postgres primary-key
//!   read and the forze miss path, interleaved, on ephemeral (or `FORZE_TEST_*_URL`) servers.
//! * `l1`: hit ratios of the L1 stores (LRU, W-TinyLFU, and moka for comparison) on fixed-seed
//!   workloads, their per-access cost, and `docs/l1-hit-ratio.png`.
//! * `coordinator`: the coordinator's L1-hit `get` latency on one thread (`latency.l1_hit_get`).
//! * `push`: push invalidation, from a write returning on replica A to replica B's L1 dropping
//!   the entry (`latency.push_propagation`).
//! * `outage`: a Redis outage between replicas with their own clients, on a private
//!   `redis-server`: a 3 s `CLIENT PAUSE` (read latency, store reads per document, how long a
//!   write made during it stays stale on another replica) and restarts (until cache hits and
//!   push invalidation resume): `outage.redis_pause`, `outage.redis_restart`.
//! * `query`: on a Postgres table of 100 000 documents, a filtered, sorted page through forze
//!   against the same SQL run with sqlx (`query.filter_page`, `query.filter_page_total`), and
//!   page 1 against page 1 000 by cursor and by offset (`query.cursor_depth`).

mod coordinator;
mod l1;
mod latency;
mod outage;
mod plot;
mod push;
mod query;
mod report;
mod rng;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use report::Report;

/// What every section gets.
#[derive(Debug)]
pub(crate) struct Context {
    /// The workspace root: outputs are written relative to it.
    pub(crate) root: PathBuf,
}

type SectionFn = fn(&Context, &mut Report) -> Result<(), String>;

/// Every section, in the order they run.
const SECTIONS: &[(&str, SectionFn)] = &[
    ("l1", l1::run),
    ("coordinator", coordinator::run),
    ("latency", latency::run),
    ("push", push::run),
    ("outage", outage::run),
    ("query", query::run),
];

fn main() -> ExitCode {
    let wanted: Vec<String> = std::env::args().skip(1).collect();
    for name in &wanted {
        if !SECTIONS.iter().any(|(section, _)| section == name) {
            let valid: Vec<&str> = SECTIONS.iter().map(|(section, _)| *section).collect();
            eprintln!(
                "forze-bench: unknown section `{name}`; expected one of: {}",
                valid.join(", ")
            );
            return ExitCode::FAILURE;
        }
    }
    if cfg!(debug_assertions) {
        eprintln!("forze-bench: this is a debug build; timings mean little (use --release)");
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let context = Context { root };
    let report_path = context.root.join("target/forze-bench/report.json");
    let mut report = Report::open(&report_path);
    report.section("machine", report::machine());

    for (name, run) in SECTIONS {
        if !wanted.is_empty() && !wanted.iter().any(|w| w == name) {
            continue;
        }
        println!("== {name}");
        if let Err(message) = run(&context, &mut report) {
            eprintln!("forze-bench: section `{name}` failed: {message}");
            return ExitCode::FAILURE;
        }
    }
    match report.write() {
        Ok(()) => {
            println!("report: {}", report_path.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("forze-bench: cannot write {}: {e}", report_path.display());
            ExitCode::FAILURE
        }
    }
}
