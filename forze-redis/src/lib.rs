//! forze-redis (work in progress).
