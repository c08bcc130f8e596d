//! Concierge's agent runtime.
//!
//! Each tenant has its own agent: it answers a user from the tenant's knowledge, remembers the
//! session, and acts (notifies colleagues, logs events) within its tenant only. This crate holds
//! everything behind the queue: embedders and knowledge ingest, and (as they land) retrieval, the
//! LLM providers, the action registry, session memory and the Redis Streams consumer. The GraphQL
//! edge in `api` enqueues messages and subscribes to events through this crate's Redis contracts.

pub mod embedding;
pub mod knowledge;
pub mod redis;
