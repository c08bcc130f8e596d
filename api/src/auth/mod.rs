//! Authentication: argon2id password hashes, HS256 JWTs, and the [`AuthContext`] built once from
//! a verified token. The tenant of every request comes from the token alone, never from an
//! argument.

pub mod jwt;
pub mod password;

use entity::{Role, TenantId, UserId};

pub use jwt::{Claims, JwtKeys, TokenError};

/// Who is calling: built only from a verified token whose user still exists in its tenant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuthContext {
    /// The caller's tenant: the scope of everything they do.
    pub tenant_id: TenantId,
    /// The caller.
    pub user_id: UserId,
    /// The caller's role (as stored, not as claimed).
    pub role: Role,
    /// When the token expires (seconds since the epoch); subscriptions end then.
    pub expires_at: i64,
}
