//! The "cache reads" recipe: Postgres stores the products, Redis answers the repeat reads, writes
//! invalidate, and a read after a write is never stale — while the handler ([`cache_scenario`])
//! does not know which backends it runs on.
//!
//! ```text
//! just run          # ephemeral Postgres + Redis, the scenario, teardown (here or at the root)
//! FORZE_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres \
//! FORZE_REDIS_URL=redis://127.0.0.1:6379 \
//!     cargo run -p forze-examples --example cache_reads          # your own servers
//! cargo run -p forze-examples --example cache_reads -- --backend memory   # nothing installed
//! ```
//!
//! With `--backend postgres` (the default) the servers come from `FORZE_POSTGRES_URL` and
//! `FORZE_REDIS_URL`, else from `FORZE_TEST_POSTGRES_URL` and `FORZE_TEST_REDIS_URL` (what the
//! `forze-services` runner behind `just run` exports). The example creates the table
//! `forze_recipe.products` if it is missing, caches under the Redis namespace `app:products`,
//! and at the end removes the one row and the one key it wrote — nothing else is touched.
//!
//! See `examples/recipes/cache_reads/README.md` and `docs/recipes/cache-reads.md`.
//!
//! [`cache_scenario`]: forze_examples::cache_reads::cache_scenario

use std::process::ExitCode;

use forze_core::{ExecutionRuntime, Result};
use forze_examples::cache_reads::{
    PRODUCTS_NAMESPACE, build_memory_runtime, build_runtime, cache_scenario_narrated,
    create_products_table, products_table, remove_product,
};
use forze_examples::product::ProductRead;
use forze_postgres::PostgresClient;
use forze_redis::{RedisClient, RedisConfig};

/// The backends this example can run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    /// Postgres + Redis, from the environment.
    Postgres,
    /// The in-memory store and cache of forze-core.
    Memory,
}

impl Backend {
    const ACCEPTED: &[(&str, Backend)] =
        &[("postgres", Backend::Postgres), ("memory", Backend::Memory)];

    fn parse(name: &str) -> std::result::Result<Backend, String> {
        Self::ACCEPTED
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, b)| *b)
            .ok_or_else(|| {
                format!("unknown backend `{name}`; accepted backends: postgres (default), memory")
            })
    }
}

const USAGE: &str = "usage: cache_reads [--backend postgres|memory]";

fn parse_args(args: impl IntoIterator<Item = String>) -> std::result::Result<Backend, String> {
    let mut backend = Backend::Postgres;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let value = if arg == "--backend" {
            args.next().ok_or_else(|| {
                format!("`--backend` needs a value, for example `--backend memory`; {USAGE}")
            })?
        } else if let Some(value) = arg.strip_prefix("--backend=") {
            value.to_owned()
        } else {
            return Err(format!("unknown argument `{arg}`; {USAGE}"));
        };
        backend = Backend::parse(&value)?;
    }
    Ok(backend)
}

/// The servers of `--backend postgres`.
struct Servers {
    postgres: String,
    redis: String,
}

/// The first of `vars` that is set and not blank.
fn first_set(vars: [&str; 2]) -> Option<String> {
    vars.iter()
        .find_map(|var| std::env::var(var).ok().filter(|v| !v.trim().is_empty()))
}

impl Servers {
    fn from_env() -> std::result::Result<Servers, String> {
        let postgres = first_set(["FORZE_POSTGRES_URL", "FORZE_TEST_POSTGRES_URL"]);
        let redis = first_set(["FORZE_REDIS_URL", "FORZE_TEST_REDIS_URL"]);
        match (postgres, redis) {
            (Some(postgres), Some(redis)) => Ok(Servers { postgres, redis }),
            (postgres, redis) => {
                let mut missing = Vec::new();
                if postgres.is_none() {
                    missing.push("a Postgres server (FORZE_POSTGRES_URL)");
                }
                if redis.is_none() {
                    missing.push("a Redis server (FORZE_REDIS_URL)");
                }
                Err(format!(
                    "this example needs {}.\n\
                     Let `just run` start ephemeral Postgres + Redis servers, run the recipe and \
                     tear them down:\n    just run\n\
                     or point it at servers you run yourself:\n    \
                     FORZE_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres \
                     FORZE_REDIS_URL=redis://127.0.0.1:6379 \
                     cargo run -p forze-examples --example cache_reads\n\
                     or run it on the embedded in-memory backends:\n    \
                     cargo run -p forze-examples --example cache_reads -- --backend memory",
                    missing.join(" and ")
                ))
            }
        }
    }
}

/// Print `err` with its chain of causes (a cause repeating the one before is skipped).
fn report(err: &forze_core::Error) {
    eprintln!("error: {err}");
    let mut last = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        let text = cause.to_string();
        if text != last {
            eprintln!("  caused by: {text}");
            last = text;
        }
        source = cause.source();
    }
}

fn print_step(line: String) {
    println!("  {line}");
}

fn print_result(product: &ProductRead) {
    println!(
        "ok: {} `{}` is at rev {}, price {} — never stale",
        product.id, product.name, product.rev, product.price
    );
}

async fn run_memory() -> Result<ProductRead> {
    let runtime: ExecutionRuntime = build_memory_runtime()?;
    println!("cache_reads on the embedded in-memory store and cache");
    runtime
        .scope(|ctx| async move { cache_scenario_narrated(&ctx, print_step).await })
        .await
}

async fn run_postgres(servers: Servers) -> Result<ProductRead> {
    let pg = PostgresClient::new();
    let redis = RedisClient::new(RedisConfig::default())?;
    let runtime = build_runtime(pg.clone(), redis.clone(), &servers.postgres, &servers.redis)?;
    println!("cache_reads on Postgres + Redis");
    runtime
        .scope(|ctx| async move {
            // Startup connected both clients.
            create_products_table(&pg).await?;
            println!(
                "  setup:  postgres table {} ready; redis at {}, namespace `{PRODUCTS_NAMESPACE}`",
                products_table().qualified_name(),
                redis.target().unwrap_or_else(|| "?".to_owned()),
            );
            let product = cache_scenario_narrated(&ctx, print_step).await?;
            remove_product(&pg, &redis, &servers.redis, &product).await?;
            println!("  clean:  removed the product's row and its cache key");
            Ok(product)
        })
        .await
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
    let result = match backend {
        Backend::Memory => run_memory().await,
        Backend::Postgres => match Servers::from_env() {
            Ok(servers) => run_postgres(servers).await,
            Err(message) => {
                eprintln!("error: {message}");
                return ExitCode::from(2);
            }
        },
    };
    match result {
        Ok(product) => {
            print_result(&product);
            ExitCode::SUCCESS
        }
        Err(err) => {
            report(&err);
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn arguments() {
        assert_eq!(parse_args(args(&[])), Ok(Backend::Postgres));
        assert_eq!(
            parse_args(args(&["--backend", "memory"])),
            Ok(Backend::Memory)
        );
        assert_eq!(
            parse_args(args(&["--backend=postgres"])),
            Ok(Backend::Postgres)
        );
        let err = parse_args(args(&["--backend", "mysql"])).unwrap_err();
        assert!(err.contains("postgres (default), memory"), "{err}");
        assert!(parse_args(args(&["--backend"])).is_err());
        assert!(
            parse_args(args(&["--verbose"]))
                .unwrap_err()
                .contains(USAGE)
        );
    }
}
