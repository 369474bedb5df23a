//! Fixtures for tests against a shared Postgres server (behind the `testing` feature): each test
//! works in a private schema, dropped when the test is done however it ends.

use std::time::Duration;

use crate::{PostgresClient, PostgresConfig};

/// Drop `schema` (and everything in it) on the server at `url`, blocking: for `Drop` impls of
/// test fixtures, which cannot await. Runs on a fresh runtime on a helper thread, so it works
/// from inside or outside an async runtime; gives up quietly after a few seconds if the server
/// is unreachable (the schema is then left behind, named for the test that made it).
pub fn drop_schema_blocking(url: &str, schema: &str) {
    let (url, schema) = (url.to_owned(), schema.to_owned());
    let _ = std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(async {
            let config = PostgresConfig::new()
                .max_connections(1)
                .connect_timeout(Duration::from_secs(3));
            if let Ok(Ok(client)) = tokio::time::timeout(
                Duration::from_secs(10),
                PostgresClient::connect(&url, config),
            )
            .await
            {
                let sql = format!(
                    "DROP SCHEMA IF EXISTS {} CASCADE",
                    crate::ident::quote_ident(&schema)
                );
                let _ = tokio::time::timeout(Duration::from_secs(10), client.execute(&sql)).await;
                client.close().await;
            }
        });
    })
    .join();
}
