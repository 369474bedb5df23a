//! Ephemeral Postgres and Redis servers for forze's tests and demos (work in progress).
