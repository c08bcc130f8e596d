//! `bench`: Concierge's benchmarks, one module per figure, each producing a Markdown section of
//! `docs/BENCHMARKS.md` and its rows of the summary table (the targets B1-B7). `just
//! bench` runs them all against a release build and writes the file; `--quick` runs a smaller
//! version of each for a fast check (printed, not written).
//!
//! Figures that drive the real server ([`conversation`], [`subscribers`], [`query`],
//! [`startup`]) share a [`harness::Harness`]: the `concierge` binary started as a child process
//! ([`server`]) against the local Postgres (a database of the run's own) and Redis (a key prefix
//! per server), with a fake Gemini as its LLM; the users they act as ([`population`]); the
//! clients that speak GraphQL over HTTP and WebSocket as the web app does ([`client`]); and the
//! open- and closed-loop load generators that match every reply to its message ([`load`]).
//!
//! - [`conversation`]: B1 (messages through the agent: throughput, latency at a fixed rate),
//!   B2 (a slow LLM and 1,000 concurrent sessions), B4 (where a message's time goes).
//! - [`subscribers`]: B3 (10,000 WebSocket subscribers: delivery latency, memory per
//!   connection).
//! - [`query`]: B5 (`me` queries per second).
//! - [`startup`]: B6 (start to ready, idle memory).
//! - [`retrieval`]: B7 (top-5 vector search over 100,000 chunks of 100 tenants under row-level
//!   security: latency and recall@5).
//! - [`embedding`]: throughput of the local embedder (not a target of the table).
//!
//! [`report`] holds what every figure shares: the machine, the sections, the summary table.

pub mod client;
pub mod conversation;
pub mod embedding;
pub mod harness;
pub mod load;
pub mod population;
pub mod query;
pub mod report;
pub mod retrieval;
pub mod server;
pub mod startup;
pub mod subscribers;
