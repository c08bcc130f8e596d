//! The tenant's event log (MANAGER only): newest first, with the actors.

use std::collections::HashMap;

use entity::{EventId, TenantScoped, UserId, event, user};
use sea_orm::{ColumnTrait, QueryFilter, QueryOrder, QuerySelect};

use super::{Page, account, page_of};
use crate::auth::AuthContext;
use crate::error::ApiError;
use crate::state::AppState;

/// A page of events with their actors.
#[derive(Clone, Debug)]
pub struct EventPage {
    /// The events, newest first.
    pub page: Page<event::Model>,
    /// The users who caused them.
    pub actors: HashMap<UserId, user::Model>,
}

/// The tenant's events, newest first.
///
/// # Errors
/// [`ApiError::Forbidden`] unless the caller is a MANAGER; database failures.
pub async fn list(
    state: &AppState,
    auth: AuthContext,
    first: u64,
    after: Option<EventId>,
) -> Result<EventPage, ApiError> {
    let auth = auth.require_manager()?;
    let txn = state.db.begin_in_tenant(auth.tenant_id).await?;
    let mut query = event::Entity::find_in_tenant(auth.tenant_id);
    if let Some(after) = after {
        query = query.filter(event::Column::Id.lt(after));
    }
    let rows = query
        .order_by_desc(event::Column::Id)
        .limit(first + 1)
        .all(&txn)
        .await?;
    let page = page_of(rows, first, after.is_some());
    let actors =
        account::users_by_id(&txn, page.items.iter().filter_map(|e| e.actor_user_id)).await?;
    txn.commit().await?;
    Ok(EventPage { page, actors })
}
