//! The bench crate's integration tests: one binary, modules by domain.

#[cfg(test)]
mod harness;
