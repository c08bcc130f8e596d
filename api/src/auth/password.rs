//! Password hashing with argon2id (the argon2 crate's defaults: 19 MiB, 2 passes, 1 lane,
//! the OWASP recommendation). Verification takes the same time whether or not the email
//! exists: an unknown email is checked against a fixed dummy hash.

use std::sync::LazyLock;

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

/// Shortest password accepted when creating a user.
pub const MIN_PASSWORD_LEN: usize = 8;
/// Longest password accepted (argon2 handles more, but nobody types this much).
pub const MAX_PASSWORD_LEN: usize = 256;

/// Hashing failed (only on a broken random source).
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

/// Hashes a password into an argon2id PHC string with a random salt.
///
/// # Errors
/// [`HashError`] when the system's random source fails.
pub fn hash(password: &str) -> Result<String, HashError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| HashError(e.to_string()))
}

/// A valid hash of a password nobody knows, verified when the email is unknown so that the
/// response time does not reveal which emails exist.
static DUMMY_HASH: LazyLock<Option<String>> =
    LazyLock::new(|| hash("no user has this password").ok());

/// Whether `password` matches `phc` (false for a malformed hash).
#[must_use]
pub fn verify(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// Spends the time of one verification without a real hash (for an unknown email).
pub fn verify_dummy(password: &str) {
    if let Some(dummy) = DUMMY_HASH.as_deref() {
        let _ = verify(password, dummy);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_and_verify() {
        let h = hash("concierge-demo").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("concierge-demo", &h));
        assert!(!verify("wrong", &h));
        assert!(!verify("concierge-demo", "not a hash"));
        assert_ne!(h, hash("concierge-demo").unwrap(), "salts must differ");
    }
}
