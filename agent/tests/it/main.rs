//! Integration tests of the agent runtime against a real Postgres (a fresh database per test,
//! connected as the application role, so row-level security applies): actions, session memory,
//! tenant agents, the offline provider driving them, and the LLM providers against local fake
//! servers speaking the Gemini and OpenAI wire formats (`testkit::fake_llm`).

#[cfg(test)]
mod action;
#[cfg(test)]
mod llm_gemini;
#[cfg(test)]
mod llm_openai;
#[cfg(test)]
mod llm_support;
#[cfg(test)]
mod memory;
#[cfg(test)]
mod support;
#[cfg(test)]
mod tenant;
