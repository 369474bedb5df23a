#![doc = include_str!("../README.md")]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]
#![cfg_attr(not(test), warn(clippy::unwrap_used))]
#![doc(test(attr(deny(warnings))))]

mod client;
mod codec;
mod config;
mod error;
mod module;
mod schema;
mod sql;
mod store;
mod tx;

pub use client::PostgresClient;
pub use config::{PostgresConfig, PostgresDocumentConfig};
pub use module::{PostgresDepsModule, PostgresLifecycleModule};
pub use sql::create_table_sql;
pub use store::PostgresDocumentBackend;
pub use tx::{PostgresTransaction, PostgresTransactionManager};
