//! The "cache reads" recipe: reads served from the cache, writes invalidate, a read after a write
//! is never stale — and the handler ([`cache_scenario`]) does not know which backends it runs on.
//!
//! Run it on the embedded backends (nothing to install):
//!
//! ```text
//! cargo run -p forze-examples --example cache_reads -- --backend memory
//! ```
//!
//! See `examples/recipes/cache_reads/README.md`.

use std::process::ExitCode;

use forze_examples::cache_reads::{build_memory_runtime, cache_scenario_narrated};

/// The backends this example can run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    /// The in-memory store and cache of forze-core.
    Memory,
}

impl Backend {
    const ACCEPTED: &[(&str, Backend)] = &[("memory", Backend::Memory)];

    fn name(self) -> &'static str {
        Self::ACCEPTED
            .iter()
            .find(|(_, b)| *b == self)
            .map_or("?", |(n, _)| n)
    }

    fn parse(name: &str) -> Result<Backend, String> {
        Self::ACCEPTED
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, b)| *b)
            .ok_or_else(|| {
                let accepted: Vec<&str> = Self::ACCEPTED.iter().map(|(n, _)| *n).collect();
                format!(
                    "unknown backend `{name}`; accepted backends: {}",
                    accepted.join(", ")
                )
            })
    }
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Backend, String> {
    let mut backend = Backend::Memory;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let value = if arg == "--backend" {
            args.next().ok_or_else(|| {
                "`--backend` needs a value, for example `--backend memory`".to_owned()
            })?
        } else if let Some(value) = arg.strip_prefix("--backend=") {
            value.to_owned()
        } else {
            return Err(format!(
                "unknown argument `{arg}`; usage: cache_reads [--backend <memory>]"
            ));
        };
        backend = Backend::parse(&value)?;
    }
    Ok(backend)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let backend = match parse_args(std::env::args().skip(1)) {
        Ok(backend) => backend,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    let runtime = match backend {
        Backend::Memory => build_memory_runtime(),
    };
    let runtime = match runtime {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::FAILURE;
        }
    };
    println!("cache_reads on the {} backends", backend.name());
    let result = runtime
        .scope(
            |ctx| async move { cache_scenario_narrated(&ctx, |line| println!("  {line}")).await },
        )
        .await;
    match result {
        Ok(product) => {
            println!(
                "refreshed product: {} `{}` rev {} price {}",
                product.id, product.name, product.rev, product.price
            );
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}
