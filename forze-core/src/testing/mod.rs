//! Conformance suites (WIP).
