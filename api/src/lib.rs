//! Concierge's edge: the GraphQL API over HTTP and WebSocket, authentication, and the
//! `concierge` command line. It owns no domain logic of the agent: messages are queued for the
//! runtime in `agent`, and data goes through `entity`'s tenant-scoped transaction.
//!
//! - [`cli`]: the command line (`migrate`, `seed`, `tenant`, `user`, `ingest`, `reembed`,
//!   `token`, `serve`).
//! - [`config`]: typed configuration from the environment.
//! - [`state`]: the shared [`state::AppState`].
//! - [`server`] and [`health`]: the HTTP server, `/healthz` and `/readyz`.
//! - [`graphql`]: the schema, its limits, and the HTTP and WebSocket transports.
//! - [`auth`]: passwords, JWTs and the caller's [`auth::AuthContext`].
//! - [`service`]: the logic behind resolvers and commands (accounts, conversations,
//!   notifications, knowledge, events, the directory of tenants and users).
//! - [`rate_limit`]: the token buckets of `sendMessage`, per user and per tenant.
//! - [`seed`]: the demo data.
//! - [`error`]: [`error::ApiError`], what callers see when something fails.
//! - [`telemetry`] and [`metrics`]: logs and traces; Prometheus metrics and `/metrics`.

pub mod auth;
pub mod cli;
pub mod config;
pub mod error;
pub mod graphql;
pub mod health;
pub mod metrics;
pub mod rate_limit;
pub mod seed;
pub mod server;
pub mod service;
pub mod state;
pub mod telemetry;
