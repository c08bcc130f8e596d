//! Integration tests of the agent runtime against a real Postgres (a fresh database per test,
//! connected as the application role, so row-level security applies): actions, session memory,
//! tenant agents, and the offline provider driving them.

#[cfg(test)]
mod action;
#[cfg(test)]
mod memory;
#[cfg(test)]
mod support;
#[cfg(test)]
mod tenant;
