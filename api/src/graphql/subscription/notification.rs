//! `notifications`: new notifications addressed to the caller.

use agent::bus::UserEvent;
use async_graphql::{Context, Subscription};
use futures::{Stream, StreamExt};

use super::user_events;
use crate::graphql::context::ContextExt;
use crate::graphql::error::Result;
use crate::graphql::types::notification::Notification;

/// The caller's inbox, live.
#[derive(Default)]
pub struct NotificationSubscription;

#[Subscription]
impl NotificationSubscription {
    /// New notifications addressed to me, as they are sent. Ends when my token expires.
    async fn notifications(&self, ctx: &Context<'_>) -> Result<impl Stream<Item = Notification>> {
        let auth = ctx.auth()?;
        let events = user_events(ctx.state(), auth).await?;
        Ok(events.filter_map(|event| async move {
            match event.as_ref() {
                UserEvent::Notification(n) => Some(<Notification as From<&_>>::from(n)),
                _ => None,
            }
        }))
    }
}
