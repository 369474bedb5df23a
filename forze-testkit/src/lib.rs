//! Ephemeral servers (work in progress).
