//! Accounts: login, the caller's own user and tenant, and their colleagues.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::{Db, TenantScoped, TenantTxn, UserId, tenant, user};
use sea_orm::{ColumnTrait, QueryFilter, QueryOrder};

use crate::auth::{AuthContext, JwtKeys, UserCache, password};
use crate::error::ApiError;

/// What a successful login returns.
#[derive(Clone, Debug)]
pub struct LoggedIn {
    /// The JWT.
    pub token: String,
    /// When it expires.
    pub expires_at: DateTime<Utc>,
    /// The user.
    pub user: user::Model,
    /// Their tenant.
    pub tenant: tenant::Model,
}

/// The one error for every failed login: an unknown email and a wrong password are
/// indistinguishable (same message, and the same argon2 work is done for both).
fn login_failed() -> ApiError {
    ApiError::Invalid("invalid email or password".into())
}

/// Checks the password and issues a token.
///
/// # Errors
/// [`ApiError::Invalid`] "invalid email or password" for an unknown email or a wrong password.
pub async fn login(
    db: &Db,
    keys: &JwtKeys,
    email: &str,
    password_text: &str,
) -> Result<LoggedIn, ApiError> {
    let record = db.find_login(email.trim()).await?;
    let Some(record) = record else {
        let pw = password_text.to_owned();
        tokio::task::spawn_blocking(move || password::verify_dummy(&pw))
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        return Err(login_failed());
    };
    let (pw, hash) = (password_text.to_owned(), record.password_hash.clone());
    let ok = tokio::task::spawn_blocking(move || password::verify(&pw, &hash))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    if !ok {
        return Err(login_failed());
    }
    let txn = db.begin_in_tenant(record.tenant_id).await?;
    let user = user::Entity::find_by_id_in_tenant(record.tenant_id, record.user_id)
        .one(&txn)
        .await?;
    let tenant = tenant::Entity::find_by_id_in_tenant(record.tenant_id, record.tenant_id)
        .one(&txn)
        .await?;
    txn.commit().await?;
    let (Some(user), Some(tenant)) = (user, tenant) else {
        return Err(login_failed());
    };
    let (token, expires_at) = keys
        .issue(user.id, tenant.id, user.role, keys.default_ttl())
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(LoggedIn {
        token,
        expires_at,
        user,
        tenant,
    })
}

/// The caller's user, as authentication just read it (see [`UserCache`]).
///
/// # Errors
/// [`ApiError::Unauthenticated`] if the user was deleted meanwhile; database failures.
pub async fn me(db: &Db, users: &UserCache, auth: AuthContext) -> Result<user::Model, ApiError> {
    users
        .get(db, auth.tenant_id, auth.user_id)
        .await?
        .ok_or(ApiError::Unauthenticated)
}

/// The caller's tenant.
///
/// # Errors
/// Database failures.
pub async fn tenant(db: &Db, auth: AuthContext) -> Result<tenant::Model, ApiError> {
    let txn = db.begin_in_tenant(auth.tenant_id).await?;
    let tenant = tenant::Entity::find_by_id_in_tenant(auth.tenant_id, auth.tenant_id)
        .one(&txn)
        .await?;
    txn.commit().await?;
    tenant.ok_or(ApiError::NotFound("tenant"))
}

/// Every user of the caller's tenant, by name.
///
/// # Errors
/// Database failures.
pub async fn colleagues(db: &Db, auth: AuthContext) -> Result<Vec<user::Model>, ApiError> {
    let txn = db.begin_in_tenant(auth.tenant_id).await?;
    let users = user::Entity::find_in_tenant(auth.tenant_id)
        .order_by_asc(user::Column::Name)
        .order_by_asc(user::Column::Id)
        .all(&txn)
        .await?;
    txn.commit().await?;
    Ok(users)
}

/// The users with these ids in `txn`'s tenant (ids of other tenants are simply absent).
///
/// # Errors
/// Database failures.
pub async fn users_by_id(
    txn: &TenantTxn,
    ids: impl IntoIterator<Item = UserId>,
) -> Result<HashMap<UserId, user::Model>, ApiError> {
    let mut ids: Vec<UserId> = ids.into_iter().collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let users = user::Entity::find_in_tenant(txn.tenant())
        .filter(user::Column::Id.is_in(ids))
        .all(txn)
        .await?;
    Ok(users.into_iter().map(|u| (u.id, u)).collect())
}
