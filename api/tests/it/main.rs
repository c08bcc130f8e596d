//! Integration tests of the API and the `concierge` binary against real Postgres and Redis.

#[cfg(test)]
mod abuse;
#[cfg(test)]
mod agent;
#[cfg(test)]
mod app;
#[cfg(test)]
mod auth;
#[cfg(test)]
mod cli;
#[cfg(test)]
mod contract;
#[cfg(test)]
mod conversation;
#[cfg(test)]
mod eval;
#[cfg(test)]
mod faults;
#[cfg(test)]
mod isolation;
#[cfg(test)]
mod knowledge_cli;
#[cfg(test)]
mod limits;
#[cfg(test)]
mod llm;
#[cfg(test)]
mod load;
#[cfg(test)]
mod metrics;
#[cfg(test)]
mod notifications;
#[cfg(test)]
mod production;
#[cfg(test)]
mod rate_limits;
#[cfg(test)]
mod shutdown;
#[cfg(test)]
mod subscriptions;
#[cfg(test)]
mod support;
#[cfg(test)]
mod trace;
#[cfg(test)]
mod websocket;
