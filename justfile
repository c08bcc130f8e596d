# Concierge tasks. `just` lists them; `just dev` runs the product, `just test` the whole suite.

set shell := ["bash", "-euo", "pipefail", "-c"]

# Run the binary from a debug build with the dependencies that matter optimised (see Cargo.toml).
concierge := "cargo run --quiet --bin concierge --"

# The embedder of `just dev` and `just seed`: the local model unless EMBEDDER says otherwise.
embedder := env_var_or_default("EMBEDDER", "local")

# List the tasks.
default:
    @just --list

# Install (if missing) and start local Postgres+pgvector and Redis; idempotent.
services:
    scripts/services.sh up

# Stop the local Postgres and Redis (their data stays in .local/).
services-down:
    scripts/services.sh down

# Apply the database migrations.
migrate: services
    {{concierge}} migrate

# Download the local embedder's weights once (into .local/models/, git-ignored).
models:
    scripts/models.sh >/dev/null

# Create the demo tenants, users and knowledge (idempotent).
seed: migrate models
    EMBEDDER={{embedder}} {{concierge}} seed --demo

# Set up everything and run the product: services, migrations, demo data (embedded with the
# local model), web app, API.
dev: seed web-build
    EMBEDDER={{embedder}} {{concierge}} serve

# Say which LLM provider is configured (LLM_PROVIDER, GEMINI_*, OPENAI_*) and whether it answers.
llm-check:
    {{concierge}} llm check

# The whole test suite: lints, Rust tests on real Postgres and Redis, web app checks, browser tests.
test: services models lint web-test && e2e
    cargo nextest run --workspace --no-fail-fast

# Write the GraphQL schema generated from the code to schema.graphql (a test fails when stale).
schema:
    {{concierge}} schema > schema.graphql

# Build the web app into frontend/dist (npm ci first when package-lock.json changed).
web-build:
    scripts/web.sh build

# Web app: type-check, lint and component tests.
web-test:
    scripts/web.sh test

# Browser tests against a real server (Maria, Luca, Tom); screenshots in artifacts/e2e/.
e2e: services
    scripts/web.sh e2e

# The retrieval eval: recall@1, recall@5 and wrong-tenant hits per embedder on the demo knowledge.
eval: services models
    cargo nextest run -p api --run-ignored only --no-capture -E 'test(retrieval_eval)'

# The benchmarks B1-B7 against a release build of the server (a few minutes on 2 cores); the
# numbers go to docs/BENCHMARKS.md. `just bench --quick` runs a smaller version, printed only;
# `just bench --only messages,query` runs some figures.
bench *args: services models
    cargo build --release --quiet --bin concierge --bin bench
    cargo run --release --quiet -p bench -- --write docs/BENCHMARKS.md {{args}}

# Format the code.
fmt:
    cargo fmt --all

# Check formatting and lints (clippy with warnings as errors, tests included).
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings
