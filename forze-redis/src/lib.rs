#![doc = include_str!("../README.md")]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]
#![cfg_attr(not(test), warn(clippy::unwrap_used))]
#![doc(test(attr(deny(warnings))))]

mod cache;
mod client;
mod codec;
mod config;
mod deps;
mod error;
mod script;
mod tracking;

pub use cache::RedisCache;
pub use client::{RedisClient, RedisLifecycleHook, redis_lifecycle_step};
pub use config::{RedisCacheConfig, RedisConfig};
pub use deps::RedisDepsModule;
pub use tracking::PushStats;
