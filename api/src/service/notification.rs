//! Notifications: the caller's inbox (newest first), the unread count, marking read. Only the
//! recipient sees or marks a notification; anyone else gets NOT_FOUND.

use std::collections::HashMap;

use entity::{NotificationId, TenantScoped, UserId, notification, user};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect};

use super::{Page, account, page_of};
use crate::auth::AuthContext;
use crate::error::ApiError;
use crate::state::AppState;

/// A page of the inbox with the senders and the total count.
#[derive(Clone, Debug)]
pub struct Inbox {
    /// The notifications, newest first.
    pub page: Page<notification::Model>,
    /// Senders of the notifications on the page.
    pub senders: HashMap<UserId, user::Model>,
    /// How many notifications match the filter in all.
    pub total: u64,
}

/// The caller's notifications, newest first, optionally unread only.
///
/// # Errors
/// Database failures.
pub async fn inbox(
    state: &AppState,
    auth: AuthContext,
    unread_only: bool,
    first: u64,
    after: Option<NotificationId>,
) -> Result<Inbox, ApiError> {
    let txn = state.db.begin_in_tenant(auth.tenant_id).await?;
    let mut base = notification::Entity::find_in_tenant(auth.tenant_id)
        .filter(notification::Column::ToUserId.eq(auth.user_id));
    if unread_only {
        base = base.filter(notification::Column::Read.eq(false));
    }
    let total = base.clone().count(&txn).await?;
    let mut query = base;
    if let Some(after) = after {
        query = query.filter(notification::Column::Id.lt(after));
    }
    let rows = query
        .order_by_desc(notification::Column::Id)
        .limit(first + 1)
        .all(&txn)
        .await?;
    let page = page_of(rows, first, after.is_some());
    let senders =
        account::users_by_id(&txn, page.items.iter().filter_map(|n| n.from_user_id)).await?;
    txn.commit().await?;
    Ok(Inbox {
        page,
        senders,
        total,
    })
}

/// How many of the caller's notifications are unread.
///
/// # Errors
/// Database failures.
pub async fn unread_count(state: &AppState, auth: AuthContext) -> Result<u64, ApiError> {
    let txn = state.db.begin_in_tenant(auth.tenant_id).await?;
    let n = notification::Entity::find_in_tenant(auth.tenant_id)
        .filter(notification::Column::ToUserId.eq(auth.user_id))
        .filter(notification::Column::Read.eq(false))
        .count(&txn)
        .await?;
    txn.commit().await?;
    Ok(n)
}

/// Marks one of the caller's notifications read and returns it with its sender.
///
/// # Errors
/// [`ApiError::NotFound`] when it is not the caller's; database failures.
pub async fn mark_read(
    state: &AppState,
    auth: AuthContext,
    id: NotificationId,
) -> Result<(notification::Model, Option<user::Model>), ApiError> {
    let txn = state.db.begin_in_tenant(auth.tenant_id).await?;
    let updated = notification::Entity::update_many()
        .col_expr(notification::Column::Read, Expr::value(true))
        .filter(notification::Column::TenantId.eq(auth.tenant_id))
        .filter(notification::Column::Id.eq(id))
        .filter(notification::Column::ToUserId.eq(auth.user_id))
        .exec_with_returning(&txn)
        .await?;
    let notification = updated
        .into_iter()
        .next()
        .ok_or(ApiError::NotFound("notification"))?;
    let mut senders = account::users_by_id(&txn, notification.from_user_id).await?;
    txn.commit().await?;
    let sender = notification.from_user_id.and_then(|id| senders.remove(&id));
    Ok((notification, sender))
}

/// Marks all of the caller's notifications read; returns how many were unread.
///
/// # Errors
/// Database failures.
pub async fn mark_all_read(state: &AppState, auth: AuthContext) -> Result<u64, ApiError> {
    let txn = state.db.begin_in_tenant(auth.tenant_id).await?;
    let result = notification::Entity::update_many()
        .col_expr(notification::Column::Read, Expr::value(true))
        .filter(notification::Column::TenantId.eq(auth.tenant_id))
        .filter(notification::Column::ToUserId.eq(auth.user_id))
        .filter(notification::Column::Read.eq(false))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(result.rows_affected)
}
