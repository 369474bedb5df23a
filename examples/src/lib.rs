//! Shared code of the forze examples.
