//! `markNotificationRead`, `markAllNotificationsRead`.

use async_graphql::{Context, ID, Object};

use crate::graphql::context::ContextExt;
use crate::graphql::error::Result;
use crate::graphql::types::notification::Notification;
use crate::graphql::types::parse_id;
use crate::service::notification;

/// The caller's inbox.
#[derive(Default)]
pub struct NotificationMutation;

#[Object]
impl NotificationMutation {
    /// Marks one of my notifications read.
    async fn mark_notification_read(&self, ctx: &Context<'_>, id: ID) -> Result<Notification> {
        let auth = ctx.auth()?;
        let (n, from) = notification::mark_read(ctx.state(), auth, parse_id(&id)?).await?;
        Ok(Notification::new(&n, from.as_ref()))
    }

    /// Marks all my notifications read; returns how many were unread.
    async fn mark_all_notifications_read(&self, ctx: &Context<'_>) -> Result<i32> {
        let n = notification::mark_all_read(ctx.state(), ctx.auth()?).await?;
        Ok(i32::try_from(n).unwrap_or(i32::MAX))
    }
}
