//! `notifications` and `unreadNotificationCount`.

use async_graphql::{Context, Object};
use entity::NotificationId;

use crate::graphql::context::ContextExt;
use crate::graphql::cursor;
use crate::graphql::error::Result;
use crate::graphql::limits::page_size;
use crate::graphql::types::connection::NotificationConnection;
use crate::graphql::types::notification::Notification;
use crate::service::notification;

/// Queries about the caller's inbox.
#[derive(Default)]
pub struct NotificationQuery;

#[Object]
impl NotificationQuery {
    /// The caller's notifications, newest first.
    #[graphql(
        complexity = "(first.unwrap_or(20).max(1) as usize).saturating_mul(child_complexity)"
    )]
    async fn notifications(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "Some(false)")] unread_only: Option<bool>,
        #[graphql(default_with = "Some(20)")] first: Option<i32>,
        after: Option<String>,
    ) -> Result<NotificationConnection> {
        let auth = ctx.auth()?;
        let first = page_size("first", first.unwrap_or(20))?;
        let after = after
            .as_deref()
            .map(|c| cursor::to_id::<NotificationId>("notification", c))
            .transpose()?;
        let inbox = notification::inbox(
            ctx.state(),
            auth,
            unread_only.unwrap_or(false),
            first,
            after,
        )
        .await?;
        let items = inbox
            .page
            .items
            .iter()
            .map(|n| {
                let from = n.from_user_id.and_then(|id| inbox.senders.get(&id));
                (
                    cursor::of_id("notification", n.id),
                    Notification::new(n, from),
                )
            })
            .collect();
        let total = i32::try_from(inbox.total).unwrap_or(i32::MAX);
        Ok(NotificationConnection::new(
            items,
            inbox.page.has_next,
            inbox.page.has_previous,
            total,
        ))
    }

    /// How many of the caller's notifications are unread.
    async fn unread_notification_count(&self, ctx: &Context<'_>) -> Result<i32> {
        let n = notification::unread_count(ctx.state(), ctx.auth()?).await?;
        Ok(i32::try_from(n).unwrap_or(i32::MAX))
    }
}
