#![doc = include_str!("../README.md")]
//!
//! # How this crate is organised
//!
//! The modules are private and depend on each other one way only, lower to higher:
//!
//! - **Foundations**, which import no other module: `error` maps sqlx errors to forze errors
//!   (kinds, not-applied marks, redacted messages); `ident` quotes identifiers and checks that
//!   Postgres can hold them; `columns` is the one home of what a document table holds (the
//!   metadata columns and the field-kind → SQL type table).
//! - **Settings and connections**: `config` ([`PostgresConfig`], [`PostgresDocumentConfig`]);
//!   `probe` (failing fast when the server refuses connections); `client` ([`PostgresClient`],
//!   the pool and the documents registered on it).
//! - **Translation**: `codec` turns JSON field values into typed parameters and result rows back
//!   into JSON; `sql` renders [`create_table_sql`], [`schema_sql`] (with the indexes) and the statements of one table.
//! - **Operations**: `schema` is the opt-in schema check; `tx` the transactions
//!   ([`PostgresTransactionManager`]); `store` the document store ([`PostgresDocumentBackend`]).
//! - **Wiring**: `module` registers all of it with the forze runtime ([`PostgresDepsModule`],
//!   [`PostgresLifecycleModule`]).
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]
#![cfg_attr(not(test), warn(clippy::unwrap_used))]
#![doc(test(attr(deny(warnings))))]

mod client;
mod codec;
mod columns;
mod config;
mod error;
mod ident;
mod module;
mod probe;
mod query;
mod schema;
mod sql;
mod store;
mod target;
#[cfg(feature = "testing")]
pub mod testing;
mod tx;

pub use client::PostgresClient;
pub use config::{PostgresConfig, PostgresDocumentConfig};
pub use module::{PostgresDepsModule, PostgresLifecycleModule};
pub use sql::{create_table_sql, schema_sql, schema_sql_of, tenant_schema_sql};
pub use store::PostgresDocumentBackend;
pub use tx::{PostgresTransaction, PostgresTransactionManager};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_are_send_sync_and_debug() {
        fn assert<T: Send + Sync + std::fmt::Debug + 'static>() {}
        assert::<PostgresClient>();
        assert::<PostgresConfig>();
        assert::<PostgresDocumentConfig>();
        assert::<PostgresDepsModule>();
        assert::<PostgresLifecycleModule>();
        assert::<PostgresDocumentBackend>();
        assert::<PostgresTransactionManager>();
        assert::<PostgresTransaction>();
    }

    #[test]
    fn config_debug_and_validation() {
        let config = PostgresConfig::new();
        assert!(format!("{config:?}").contains("max_connections: 10"));
        assert!(config.validate().is_ok());
        for bad in [
            PostgresConfig::new().max_connections(0),
            PostgresConfig::new().min_connections(11),
            PostgresConfig::new().acquire_timeout(std::time::Duration::ZERO),
            PostgresConfig::new().statement_timeout(Some(std::time::Duration::ZERO)),
        ] {
            let err = bad.validate().expect_err("invalid config");
            assert_eq!(err.kind(), forze_core::ErrorKind::Config);
        }
    }
}
