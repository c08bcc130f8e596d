//! Typed ids: one newtype over a UUIDv7 per table, used as the column type of the entities.
//!
//! A function that takes `(TenantId, SessionId)` cannot be called with the two swapped, and a
//! message id can never be passed where a user id is expected. UUIDv7 ids sort by creation time,
//! which the cursors of the API and the per-session ordering of the agent rely on.

use std::fmt;
use std::str::FromStr;

use sea_orm::DeriveValueType;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
            DeriveValueType,
        )]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A new, time-ordered (UUIDv7) id.
            #[must_use]
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            /// The underlying UUID.
            #[must_use]
            pub const fn uuid(self) -> Uuid {
                self.0
            }

            /// How long ago the id was made: a UUIDv7 carries its creation time (zero for an
            /// id of another version, or one from the future).
            #[must_use]
            pub fn age(self) -> std::time::Duration {
                let created = self.0.get_timestamp().map(|t| {
                    let (secs, nanos) = t.to_unix();
                    std::time::UNIX_EPOCH + std::time::Duration::new(secs, nanos)
                });
                created
                    .and_then(|c| std::time::SystemTime::now().duration_since(c).ok())
                    .unwrap_or_default()
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }

        // Ids are UUIDs we make ourselves, never values the database generates from a sequence.
        impl sea_orm::TryFromU64 for $name {
            fn try_from_u64(_: u64) -> Result<Self, sea_orm::DbErr> {
                Err(sea_orm::DbErr::ConvertFromU64(stringify!($name)))
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                Self(id)
            }
        }
    };
}

typed_id!(
    /// Identifies a tenant: one business with its own agent, users and knowledge.
    TenantId
);
typed_id!(
    /// Identifies a user (always within one tenant).
    UserId
);
typed_id!(
    /// Identifies a conversation session of one user with their tenant's agent.
    SessionId
);
typed_id!(
    /// Identifies a message, from the user or from the agent.
    MessageId
);
typed_id!(
    /// Identifies a notification sent to a user.
    NotificationId
);
typed_id!(
    /// Identifies a chunk of a tenant's knowledge.
    KnowledgeId
);
typed_id!(
    /// Identifies an entry of a tenant's event log.
    EventId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_strings_and_sort_by_creation() {
        let first = MessageId::new();
        let second = MessageId::new();
        assert!(first < second, "UUIDv7 ids must sort by creation time");
        let parsed: MessageId = first.to_string().parse().unwrap();
        assert_eq!(parsed, first);
        assert!("not-a-uuid".parse::<TenantId>().is_err());
    }
}
