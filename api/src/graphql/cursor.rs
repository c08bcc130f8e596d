//! Opaque cursors: base64url of a versioned, typed position. Clients must not build them; a
//! cursor that does not decode is BAD_USER_INPUT.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::error::ApiError;
use crate::service::conversation::SessionKey;

fn encode(kind: &str, payload: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("v1:{kind}:{payload}"))
}

fn decode<'a>(kind: &str, cursor: &str, buf: &'a mut String) -> Result<&'a str, ApiError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(cursor.trim())
        .map_err(|_| invalid())?;
    *buf = String::from_utf8(bytes).map_err(|_| invalid())?;
    let rest = buf.strip_prefix("v1:").ok_or_else(invalid)?;
    rest.strip_prefix(kind)
        .and_then(|r| r.strip_prefix(':'))
        .ok_or_else(invalid)
}

fn invalid() -> ApiError {
    ApiError::Invalid("invalid cursor".into())
}

/// Cursor of an item ordered by its (UUIDv7) id.
pub fn of_id(kind: &str, id: impl std::fmt::Display) -> String {
    encode(kind, &id.to_string())
}

/// The id inside a cursor made by [`of_id`].
///
/// # Errors
/// [`ApiError::Invalid`] for anything else.
pub fn to_id<T: From<Uuid>>(kind: &str, cursor: &str) -> Result<T, ApiError> {
    let mut buf = String::new();
    let payload = decode(kind, cursor, &mut buf)?;
    Uuid::parse_str(payload).map(T::from).map_err(|_| invalid())
}

/// Cursor of a session in the most-recent-first list.
pub fn of_session(key: SessionKey) -> String {
    encode(
        "session",
        &format!("{}:{}", key.last_message_at.timestamp_micros(), key.id),
    )
}

/// The position inside a cursor made by [`of_session`].
///
/// # Errors
/// [`ApiError::Invalid`] for anything else.
pub fn to_session(cursor: &str) -> Result<SessionKey, ApiError> {
    let mut buf = String::new();
    let payload = decode("session", cursor, &mut buf)?;
    let (micros, id) = payload.split_once(':').ok_or_else(invalid)?;
    let micros: i64 = micros.parse().map_err(|_| invalid())?;
    let last_message_at: DateTime<Utc> =
        DateTime::from_timestamp_micros(micros).ok_or_else(invalid)?;
    let id = id.parse().map_err(|_| invalid())?;
    Ok(SessionKey {
        last_message_at,
        id,
    })
}

#[cfg(test)]
mod tests {
    use entity::{MessageId, SessionId};

    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_other_kinds_and_garbage() {
        let id = MessageId::new();
        let c = of_id("message", id);
        assert_eq!(to_id::<MessageId>("message", &c).unwrap(), id);
        assert!(to_id::<MessageId>("notification", &c).is_err());
        assert!(to_id::<MessageId>("message", "garbage!").is_err());
        let key = SessionKey {
            last_message_at: DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap(),
            id: SessionId::new(),
        };
        assert_eq!(to_session(&of_session(key)).unwrap(), key);
        assert!(to_session(&c).is_err());
    }
}
