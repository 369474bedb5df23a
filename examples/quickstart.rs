//! Quickstart: a document, typed ports, read-through caching and a transaction, on the embedded
//! in-memory backends (nothing to install).
//!
//! ```text
//! cargo run -p forze-examples --example quickstart
//! ```

use forze_core::memory::MemoryDepsModule;
use forze_core::prelude::*;
use forze_core::{DepsRegistry, ExecutionRuntime, LifecyclePlan, ListQuery, SortOrder};
use forze_examples::product::{PRODUCT_SPEC, ProductCreate, ProductUpdate};

#[tokio::main(flavor = "current_thread")]
async fn main() -> forze_core::Result<()> {
    // Backends by logical name: the `products` document, its cache, its transaction route.
    let deps = DepsRegistry::from_modules([MemoryDepsModule::new()
        .document("products")
        .cache("products")
        .tx("products")
        .boxed()]);
    let runtime = ExecutionRuntime::new(deps.freeze()?, LifecyclePlan::new().freeze()?);

    runtime
        .scope(|ctx| async move {
            let docs = ctx.document().command(&PRODUCT_SPEC)?;
            let query = ctx.document().query(&PRODUCT_SPEC)?;

            let widget = docs
                .create(ProductCreate {
                    name: "Widget".into(),
                    price: 10,
                })
                .await?;
            println!("created {} rev {}", widget.name, widget.rev);

            // Reads go through the cache: the first misses and fills, the second hits.
            query.get(widget.id).await?;
            query.get(widget.id).await?;
            let stats = ctx.cache(&PRODUCT_SPEC)?.stats();
            println!("cache: {} miss, {} hit", stats.misses, stats.hits);

            // Optimistic concurrency: update at the rev you read.
            let cheaper = docs
                .update(
                    widget.id,
                    widget.rev,
                    ProductUpdate {
                        price: Some(8),
                        ..Default::default()
                    },
                )
                .await?;
            println!("updated to price {} at rev {}", cheaper.price, cheaper.rev);
            let stale = docs
                .update(
                    widget.id,
                    widget.rev,
                    ProductUpdate {
                        price: Some(1),
                        ..Default::default()
                    },
                )
                .await;
            println!(
                "an update at the old rev fails: {}",
                stale.expect_err("stale rev")
            );

            // A transaction: both writes or neither; the cache is invalidated after the commit.
            let gadget = ctx
                .transaction("products", |tx| async move {
                    let docs = tx.document().command(&PRODUCT_SPEC)?;
                    docs.touch(widget.id).await?;
                    docs.create(ProductCreate {
                        name: "Gadget".into(),
                        price: 25,
                    })
                    .await
                })
                .await?;
            println!("created {} in a transaction", gadget.name);

            let by_price = query
                .list(ListQuery::new().sort("price", SortOrder::Desc))
                .await?;
            for p in &by_price {
                println!("  {:<8} {:>4} (rev {})", p.name, p.price, p.rev);
            }
            println!("{} products", query.count().await?);
            Ok(())
        })
        .await
}
