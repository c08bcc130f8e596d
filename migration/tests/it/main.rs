//! Integration tests of the migrations against a real Postgres.

#[cfg(test)]
mod migrations;
