//! Catalog: queries on the embedded in-memory backends (nothing to install) — typed filters, a
//! listing walked page by page with cursors, counts, an offset page with a total, a chunked
//! export, and a client's query taken as JSON, with the errors a client gets for a bad one.
//!
//! ```text
//! cargo run -p forze-examples --example catalog
//! ```
//!
//! The code is in `examples/src/catalog.rs`; the guide is `docs/recipes/querying.md`.

use forze_core::memory::MemoryDocumentStore;
use forze_examples::catalog::{EXAMPLE_CURSOR_SECRET, build_runtime, catalog_scenario};

#[tokio::main(flavor = "current_thread")]
async fn main() -> forze_core::Result<()> {
    let runtime = build_runtime(&MemoryDocumentStore::new(), EXAMPLE_CURSOR_SECRET)?;
    runtime
        .scope(|ctx| async move {
            catalog_scenario(&ctx, |line| println!("{line}")).await?;
            Ok(())
        })
        .await
}
