//! `just bench` (work in progress).
fn main() {}
