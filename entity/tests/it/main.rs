//! Data-layer tests against a real Postgres: row-level security as the application role,
//! composite foreign keys, the narrow cross-tenant functions.

#[cfg(test)]
mod rls;
