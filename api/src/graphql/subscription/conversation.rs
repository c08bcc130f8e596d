//! `conversationEvents`: what happens in the caller's sessions.

use async_graphql::{Context, ID, Subscription};
use entity::SessionId;
use futures::{Stream, StreamExt};

use super::user_events;
use crate::graphql::context::ContextExt;
use crate::graphql::error::Result;
use crate::graphql::types::conversation::ConversationEvent;
use crate::graphql::types::parse_id;
use crate::service::conversation;

/// The caller's conversations, live.
#[derive(Default)]
pub struct ConversationSubscription;

#[Subscription]
impl ConversationSubscription {
    /// Status changes, streamed reply text, replies and failures in my sessions: one session, or
    /// all of them when `sessionId` is omitted. Ends when my token expires.
    async fn conversation_events(
        &self,
        ctx: &Context<'_>,
        session_id: Option<ID>,
    ) -> Result<impl Stream<Item = ConversationEvent>> {
        let auth = ctx.auth()?;
        let state = ctx.state();
        let only: Option<SessionId> = session_id.as_ref().map(parse_id).transpose()?;
        if let Some(session) = only {
            conversation::check_own_session(state, auth, session).await?;
        }
        let events = user_events(state, auth).await?;
        Ok(events.filter_map(move |event| async move {
            match (only, event.session_id()) {
                (Some(wanted), Some(got)) if wanted != got => None,
                _ => ConversationEvent::from_bus(&event),
            }
        }))
    }
}
