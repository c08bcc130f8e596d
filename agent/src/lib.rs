//! Concierge's agent runtime.
//!
//! Each tenant has its own agent: it answers a user from the tenant's knowledge, remembers the
//! session, and acts (notifies colleagues, logs events) within its tenant only. This crate holds
//! everything behind the queue:
//!
//! - [`embedding`] and [`knowledge`]: embedders and Markdown ingest.
//! - [`tenant`]: the [`tenant::TenantAgentRegistry`] of per-tenant agents (profile, roster,
//!   enabled actions) that assemble each message's prompt.
//! - [`memory`]: the session memory (recent turns per session, warmed from Postgres).
//! - [`roster`]: how a name, title or role phrase picks users of the tenant.
//! - [`action`]: the action registry: validation and execution of what the LLM proposes.
//! - [`retrieval`]: the [`retrieval::Retriever`] seam (tenant-scoped search of knowledge).
//! - [`prompt`]: the [`prompt::Prompt`] every provider answers.
//! - [`llm`]: the [`llm::LlmProvider`] seam, and [`llm::offline`], the built-in provider that
//!   needs no model.
//! - [`budget`]: the daily LLM token budget of a tenant.
//! - [`reply`]: what an assistant message records (actions, sources, usage).
//! - [`runtime`]: one process's agent runtime; [`turn`]: how one message is answered;
//!   [`consumer`] and [`lease`]: the stream consumer that runs sessions in order across
//!   processes.
//! - [`redis`]: connections to Redis; [`stream`]: the message stream contract; [`bus`]: live
//!   events over pub/sub (publisher and the per-process fan-out hub).
//! - [`telemetry`]: the runtime's metrics and step spans; [`trace`]: W3C trace context, carried
//!   from the request through the stream entry to the agent.
//!
//! The GraphQL edge in `api` enqueues messages and subscribes to events through this crate's
//! Redis contracts.

pub mod action;
pub mod budget;
pub mod bus;
pub mod consumer;
pub mod embedding;
pub mod knowledge;
pub mod lease;
pub mod llm;
pub mod memory;
pub mod prompt;
pub mod redis;
pub mod reply;
pub mod retrieval;
pub mod roster;
pub mod runtime;
pub mod stream;
pub mod telemetry;
pub mod tenant;
pub mod trace;
pub mod turn;
