//! Integration tests of the agent crate against real Postgres (a fresh database per test,
//! connected as the application role, so row-level security applies), real Redis, and local
//! fake servers for the LLM and embedding APIs of other companies: actions, the stream consumer,
//! session memory, tenant agents, the offline provider, the LLM providers, embedders, knowledge
//! and retrieval.

#[cfg(test)]
mod action;
#[cfg(test)]
mod consumer;
#[cfg(test)]
mod embedding;
#[cfg(test)]
mod embedding_http;
#[cfg(test)]
mod knowledge;
#[cfg(test)]
mod knowledge_support;
#[cfg(test)]
mod llm_gemini;
#[cfg(test)]
mod llm_openai;
#[cfg(test)]
mod llm_support;
#[cfg(test)]
mod memory;
#[cfg(test)]
mod retrieval;
#[cfg(test)]
mod support;
#[cfg(test)]
mod tenant;
