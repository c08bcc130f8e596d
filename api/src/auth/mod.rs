//! Authentication: argon2id password hashes, HS256 JWTs, and the [`AuthContext`] built once from
//! a verified token. The tenant of every request comes from the token alone, never from an
//! argument.

pub mod jwt;
pub mod password;
pub mod users;

use entity::{Role, TenantId, UserId};

pub use jwt::{Claims, JwtKeys, TokenError};
pub use users::UserCache;

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

use entity::Db;

use crate::error::ApiError;

/// Extracts the token from an `Authorization: Bearer <jwt>` value (scheme case-insensitive).
#[must_use]
pub fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Verifies `token` and checks that its user still exists in its tenant (through `users`, see
/// [`UserCache`]): the only way to build an [`AuthContext`]. The role is the stored one, not the
/// claimed one.
///
/// # Errors
/// [`ApiError::Unauthenticated`] for an invalid or expired token or a deleted user; database
/// failures.
pub async fn authenticate(
    db: &Db,
    keys: &JwtKeys,
    users: &UserCache,
    token: &str,
) -> Result<AuthContext, ApiError> {
    let claims = keys.verify(token).map_err(|e| {
        tracing::debug!(error = %e, "token refused");
        ApiError::Unauthenticated
    })?;
    let user = users
        .get(db, claims.tid, claims.sub)
        .await?
        .ok_or(ApiError::Unauthenticated)?;
    Ok(AuthContext {
        tenant_id: user.tenant_id,
        user_id: user.id,
        role: user.role,
        expires_at: claims.exp,
    })
}

impl AuthContext {
    /// Whether the token behind this context has expired (at `now`, seconds since the epoch).
    #[must_use]
    pub const fn expired_at(&self, now: i64) -> bool {
        now >= self.expires_at
    }

    /// The context if the caller is a MANAGER.
    ///
    /// # Errors
    /// [`ApiError::Forbidden`] for any other role.
    pub fn require_manager(self) -> Result<Self, ApiError> {
        if self.role == Role::Manager {
            Ok(self)
        } else {
            Err(ApiError::Forbidden)
        }
    }
}
