//! Shared code of the forze examples: the `Product` document and the recipes' logic, so the
//! runnable examples (`examples/recipes/*`, `quickstart.rs`) and the cross-crate tests share it,
//! and the specs of the guide's opt-ins ([`cache_tuning`]).

pub mod cache_reads;
pub mod cache_tuning;
pub mod product;
