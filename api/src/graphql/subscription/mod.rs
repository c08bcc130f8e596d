//! The root `Subscription`, merged from one object per domain, and the plumbing they share:
//! a user's events from the process's [`Hub`](agent::bus::Hub) as a stream that ends when the
//! caller's token expires.

mod conversation;
mod notification;

use std::sync::Arc;
use std::time::Duration;

use agent::bus::{UserEvent, UserSubscription};
use async_graphql::MergedSubscription;
use futures::{Stream, StreamExt};
use tokio::sync::broadcast::error::RecvError;

use crate::auth::AuthContext;
use crate::error::ApiError;
use crate::state::AppState;

/// Every subscription of the contract.
#[derive(MergedSubscription, Default)]
pub struct Subscription(
    notification::NotificationSubscription,
    conversation::ConversationSubscription,
);

/// The caller's events until their token expires. Subscribes before returning, so every event
/// published after the subscription is established is delivered.
async fn user_events(
    state: &AppState,
    auth: AuthContext,
) -> Result<impl Stream<Item = Arc<UserEvent>> + use<>, ApiError> {
    let subscription = state
        .hub
        .subscribe(auth.user_id)
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    let user = auth.user_id;
    let events = futures::stream::unfold(
        subscription,
        move |mut sub: UserSubscription| async move {
            loop {
                match sub.receiver.recv().await {
                    Ok(event) => return Some((event, sub)),
                    Err(RecvError::Lagged(missed)) => {
                        tracing::warn!(user.id = %user, missed, "subscriber too slow; events dropped");
                    }
                    Err(RecvError::Closed) => return None,
                }
            }
        },
    );
    let remaining = u64::try_from(auth.expires_at - chrono::Utc::now().timestamp()).unwrap_or(0);
    let expiry = tokio::time::sleep(Duration::from_secs(remaining));
    Ok(events.take_until(expiry))
}
