//! forze-postgres (work in progress).
