//! The directory of tenants and users: creating them with validated input. Used by the command
//! line (`tenant create`, `user create`, `seed --demo`); every write runs in a tenant-scoped
//! transaction, so row-level security checks it like any other.

use chrono::Utc;
use entity::{Db, Role, TenantId, TenantKind, TenantScoped, UserId, event, tenant, user};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::auth::password;
use crate::error::ApiError;

/// Input for a new tenant.
#[derive(Clone, Debug)]
pub struct NewTenant {
    /// Short unique name: lower-case letters, digits and `-`.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// Kind of business.
    pub kind: TenantKind,
}

/// Input for a new user.
#[derive(Clone, Debug)]
pub struct NewUser {
    /// Login email (stored lower-case).
    pub email: String,
    /// Full name.
    pub name: String,
    /// Permissions.
    pub role: Role,
    /// Job title.
    pub title: Option<String>,
    /// Plain password, hashed with argon2id before it is stored.
    pub password: String,
}

fn validate_slug(slug: &str) -> Result<(), ApiError> {
    let ok = !slug.is_empty()
        && slug.len() <= 63
        && slug.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && slug
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(ApiError::Invalid(format!(
            "invalid slug {slug:?}: use 1-63 lower-case letters, digits and '-'"
        )))
    }
}

fn validate_name(what: &str, name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ApiError::Invalid(format!(
            "{what} must be 1-200 characters"
        )));
    }
    Ok(name.to_owned())
}

/// Normalises and checks an email address (one `@`, something on each side, a dot after it).
///
/// # Errors
/// [`ApiError::Invalid`] when it does not look like an email address.
pub fn normalise_email(email: &str) -> Result<String, ApiError> {
    let email = email.trim().to_lowercase();
    let valid = email.len() <= 254
        && !email.contains(char::is_whitespace)
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
        });
    if valid {
        Ok(email)
    } else {
        Err(ApiError::Invalid(format!(
            "invalid email address {email:?}"
        )))
    }
}

/// Creates a tenant.
///
/// # Errors
/// [`ApiError::Invalid`] for a bad or taken slug or name; database failures.
pub async fn create_tenant(db: &Db, input: NewTenant) -> Result<tenant::Model, ApiError> {
    validate_slug(&input.slug)?;
    let name = validate_name("name", &input.name)?;
    if db.find_tenant_by_slug(&input.slug).await?.is_some() {
        return Err(ApiError::Invalid(format!(
            "a tenant with slug {:?} already exists",
            input.slug
        )));
    }
    let id = TenantId::new();
    let now = Utc::now();
    let txn = db.begin_in_tenant(id).await?;
    let model = tenant::Model {
        id,
        slug: input.slug,
        name,
        kind: input.kind,
        settings: serde_json::json!({}),
        created_at: now,
    };
    tenant::Entity::insert(sea_orm::IntoActiveModel::into_active_model(model.clone()))
        .exec(&txn)
        .await?;
    event::record(
        &txn,
        None,
        "tenant.created",
        serde_json::json!({ "slug": model.slug }),
    )
    .await?;
    txn.commit().await?;
    Ok(model)
}

/// Creates a user in `tenant`.
///
/// # Errors
/// [`ApiError::Invalid`] for a bad email, name or password or a taken email; database failures.
pub async fn create_user(
    db: &Db,
    tenant: TenantId,
    input: NewUser,
) -> Result<user::Model, ApiError> {
    let email = normalise_email(&input.email)?;
    let name = validate_name("name", &input.name)?;
    let title = match input.title.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(t) => Some(validate_name("title", t)?),
    };
    let len = input.password.chars().count();
    if !(password::MIN_PASSWORD_LEN..=password::MAX_PASSWORD_LEN).contains(&len) {
        return Err(ApiError::Invalid(format!(
            "password must be {}-{} characters",
            password::MIN_PASSWORD_LEN,
            password::MAX_PASSWORD_LEN
        )));
    }
    if db.find_login(&email).await?.is_some() {
        return Err(ApiError::Invalid(format!(
            "a user with email {email:?} already exists"
        )));
    }
    let password_hash =
        password::hash(&input.password).map_err(|e| ApiError::Internal(e.to_string()))?;
    let txn = db.begin_in_tenant(tenant).await?;
    if tenant::Entity::find_by_id_in_tenant(tenant, tenant)
        .one(&txn)
        .await?
        .is_none()
    {
        return Err(ApiError::NotFound("tenant"));
    }
    let model = user::Model {
        id: UserId::new(),
        tenant_id: tenant,
        email,
        password_hash,
        role: input.role,
        name,
        title,
        created_at: Utc::now(),
    };
    user::Entity::insert(sea_orm::IntoActiveModel::into_active_model(model.clone()))
        .exec(&txn)
        .await?;
    event::record(
        &txn,
        None,
        "user.created",
        serde_json::json!({ "user_id": model.id, "role": model.role }),
    )
    .await?;
    txn.commit().await?;
    Ok(model)
}

/// The users of `tenant`, by name.
///
/// # Errors
/// Database failures.
pub async fn users_of(db: &Db, tenant: TenantId) -> Result<Vec<user::Model>, ApiError> {
    use sea_orm::QueryOrder;
    let txn = db.begin_in_tenant(tenant).await?;
    let users = user::Entity::find_in_tenant(tenant)
        .order_by_asc(user::Column::Name)
        .all(&txn)
        .await?;
    txn.commit().await?;
    Ok(users)
}

/// The user with `email` in `tenant`, if any.
///
/// # Errors
/// Database failures.
pub async fn user_by_email(
    db: &Db,
    tenant: TenantId,
    email: &str,
) -> Result<Option<user::Model>, ApiError> {
    let txn = db.begin_in_tenant(tenant).await?;
    let found = user::Entity::find_in_tenant(tenant)
        .filter(user::Column::Email.eq(email.trim().to_lowercase()))
        .one(&txn)
        .await?;
    txn.commit().await?;
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            normalise_email(" Maria@Sole.Example ").unwrap(),
            "maria@sole.example"
        );
        for bad in [
            "",
            "maria",
            "@sole.example",
            "maria@",
            "maria@sole",
            "ma ria@sole.example",
            "a@b@c.d",
        ] {
            assert!(normalise_email(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn slugs_are_checked() {
        validate_slug("harborview").unwrap();
        validate_slug("sole-2").unwrap();
        for bad in ["", "Sole", "-sole", "so le", &"x".repeat(64)] {
            assert!(validate_slug(bad).is_err(), "{bad:?} accepted");
        }
    }
}
