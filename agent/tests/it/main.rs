//! Integration tests of the agent crate against real Postgres (and local fake servers for the
//! embedding APIs of other companies).

#[cfg(test)]
mod embedding;
#[cfg(test)]
mod embedding_http;
#[cfg(test)]
mod knowledge;
#[cfg(test)]
mod retrieval;
#[cfg(test)]
mod support;
