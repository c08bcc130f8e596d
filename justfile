# Concierge tasks. `just` lists them; `just dev` runs the product, `just test` the whole suite.

set shell := ["bash", "-euo", "pipefail", "-c"]

# Run the binary from a debug build with the dependencies that matter optimised (see Cargo.toml).
concierge := "cargo run --quiet --bin concierge --"

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

# Create the demo tenants, users and knowledge (idempotent).
seed: migrate
    {{concierge}} seed --demo

# Set up everything and run the product: services, migrations, demo data, web app, API.
dev: seed web-build
    {{concierge}} serve

# Say which LLM provider is configured (LLM_PROVIDER, GEMINI_*, OPENAI_*) and whether it answers.
llm-check:
    {{concierge}} llm check

# The whole test suite: lints, Rust tests on real Postgres and Redis, web app checks, browser tests.
test: services lint web-test && e2e
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

# Format the code.
fmt:
    cargo fmt --all

# Check formatting and lints (clippy with warnings as errors, tests included).
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings
