//! Integration tests of the API and the `concierge` binary against real Postgres and Redis.

#[cfg(test)]
mod cli;
#[cfg(test)]
mod eval;
#[cfg(test)]
mod knowledge_cli;
#[cfg(test)]
mod support;
