//! Shared code of the forze examples: the `Product` document and the recipes' logic, so the
//! runnable examples (`examples/recipes/*`, `quickstart.rs`, `catalog.rs`) and the cross-crate tests share it,
//! the specs of the cache guide's opt-ins ([`cache_tuning`]) and the queries of the catalog example
//! ([`catalog`]).

pub mod cache_reads;
pub mod cache_tuning;
pub mod catalog;
pub mod product;
