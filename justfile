set shell := ["bash", "-euo", "pipefail", "-c"]

# List the recipes
default:
    @just --list

# The cache_reads recipe: ephemeral Postgres + Redis, the scenario, teardown (examples/recipes/cache_reads)
run:
    {{just_executable()}} --justfile examples/recipes/cache_reads/justfile run

# fmt check + clippy, warnings are errors
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets --all-features -- -D warnings

# Everything: unit, trybuild UI, in-memory, real Postgres + Redis, doctests.
# Uses FORZE_TEST_POSTGRES_URL / FORZE_TEST_REDIS_URL when set; otherwise forze-services starts
# ephemeral servers from the local binaries and tears them down afterwards.
test:
    cargo run -q -p forze-testkit --bin forze-services -- cargo nextest run --workspace --all-features --no-tests=pass
    cargo test --workspace --all-features --doc

# Re-record trybuild snapshots, then review `git diff`
ui-bless:
    TRYBUILD=overwrite cargo test -p forze-tests --test ui

# API docs, warnings are errors
doc:
    RUSTDOCFLAGS="-D warnings" cargo doc --workspace --all-features --no-deps

# forze-core must not depend on any backend client crate
deps-check:
    #!/usr/bin/env bash
    set -euo pipefail
    if cargo tree -p forze-core -e normal | grep -E 'sqlx|redis'; then
        echo "forze-core depends on a backend crate (above)"; exit 1
    fi
    echo "forze-core names neither sqlx nor redis"

# Sections: l1 (policy simulation, per-access costs), coordinator (L1-hit get), latency (ephemeral Postgres + Redis), push (push invalidation between replicas), outage (Redis pause, partition and restart between replicas: store reads per document, staleness after the heal, resume times), query (100 000 Postgres rows: a filtered, sorted page through forze vs the same SQL via sqlx, page 1 vs page 1 000 by cursor and by offset); writes target/forze-bench/report.json and docs/l1-hit-ratio.png
bench *sections:
    cargo run --release -p forze-bench -- {{sections}}

# The embedded examples (in-memory backends, nothing installed)
examples:
    cargo run -q -p forze-examples --example quickstart
    cargo run -q -p forze-examples --example catalog
    cargo run -q -p forze-examples --example cache_reads -- --backend memory

# What .ci/run runs
ci: lint test doc deps-check examples

# Rewrite the code blocks of docs/recipes/*.md from the example sources they include, then review `git diff`
docs-sync:
    FORZE_BLESS_DOCS=1 cargo test -q -p forze-tests --test docs_sync

# The fleet checker for minutes: forze-replica processes, random schedules with Redis faults, 20,000 ops per configuration (FORZE_FLEET_OPS, FORZE_FLEET_CONFIG=plain|l1|push, FORZE_FLEET_SEED to replay); prints the counts
soak:
    cargo build -q -p forze-fleet --bins
    cargo run -q -p forze-fleet --bin forze-soak
