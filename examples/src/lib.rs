//! Shared code of the forze examples: the `Product` document and the recipes' logic, so the
//! runnable examples (`examples/recipes/*`, `quickstart.rs`) and the cross-crate tests share it.

pub mod cache_reads;
pub mod product;
