//! Integration tests of the API and the `concierge` binary against real Postgres and Redis.

#[cfg(test)]
mod cli;
#[cfg(test)]
mod llm;
#[cfg(test)]
mod support;
