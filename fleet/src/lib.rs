//! A fleet of forze replicas as separate OS processes, a random-schedule driver that injects
//! Redis faults, and a checker of the recorded history against the freshness contract.
//!
//! - [`checker`]: the history checker (pure, unit-tested).
//! - [`protocol`]: the JSON-lines commands and answers of the `forze-replica` binary.
//! - [`driver`]: spawns replicas, runs a seeded schedule with faults, records the history.

pub mod checker;
pub mod docs;
pub mod driver;
pub mod protocol;
pub mod slow;
pub mod suite;
