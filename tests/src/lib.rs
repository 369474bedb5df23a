//! Cross-crate integration tests and trybuild UI tests of forze.
