//! The GraphQL object types of the contract, built from entity models. GraphQL types live only
//! here: the database is never the public API.

pub mod account;
pub mod connection;
pub mod conversation;
pub mod event;
pub mod knowledge;
pub mod notification;

use async_graphql::ID;

/// An id as a GraphQL `ID`.
pub fn id(value: impl std::fmt::Display) -> ID {
    ID(value.to_string())
}

/// Parses an input `ID` into a typed id.
///
/// # Errors
/// [`crate::error::ApiError::Invalid`] when it is not a UUID.
pub fn parse_id<T: std::str::FromStr>(value: &ID) -> Result<T, crate::error::ApiError> {
    value
        .parse()
        .map_err(|_| crate::error::ApiError::Invalid(format!("invalid id {:?}", value.as_str())))
}
