//! `sessions` and `conversation`.

use async_graphql::{Context, ID, Object};
use entity::{MessageId, SessionId};

use crate::graphql::context::ContextExt;
use crate::graphql::cursor;
use crate::graphql::error::Result;
use crate::graphql::limits::page_size;
use crate::graphql::types::connection::{MessageConnection, SessionConnection};
use crate::graphql::types::conversation::{Message, Session};
use crate::graphql::types::parse_id;
use crate::service::conversation::{self, SessionKey};

/// Queries about the caller's conversations.
#[derive(Default)]
pub struct ConversationQuery;

#[Object]
impl ConversationQuery {
    /// The caller's sessions, most recent first.
    #[graphql(
        complexity = "(first.unwrap_or(20).max(1) as usize).saturating_mul(child_complexity)"
    )]
    async fn sessions(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "Some(20)")] first: Option<i32>,
        after: Option<String>,
    ) -> Result<SessionConnection> {
        let auth = ctx.auth()?;
        let first = page_size("first", first.unwrap_or(20))?;
        let after = after.as_deref().map(cursor::to_session).transpose()?;
        let page = conversation::sessions(ctx.state(), auth, first, after).await?;
        let items = page
            .items
            .iter()
            .map(|v| {
                let key = SessionKey {
                    last_message_at: v.session.last_message_at,
                    id: v.session.id,
                };
                (cursor::of_session(key), Session::from(v))
            })
            .collect();
        Ok(SessionConnection::new(
            items,
            page.has_next,
            page.has_previous,
        ))
    }

    /// The messages of one of the caller's sessions, oldest first: the `last` ones before the
    /// cursor `before` (the newest when absent).
    #[graphql(complexity = "(last.unwrap_or(50).max(1) as usize).saturating_mul(child_complexity)")]
    async fn conversation(
        &self,
        ctx: &Context<'_>,
        session_id: ID,
        #[graphql(default_with = "Some(50)")] last: Option<i32>,
        before: Option<String>,
    ) -> Result<MessageConnection> {
        let auth = ctx.auth()?;
        let session: SessionId = parse_id(&session_id)?;
        let last = page_size("last", last.unwrap_or(50))?;
        let before = before
            .as_deref()
            .map(|c| cursor::to_id::<MessageId>("message", c))
            .transpose()?;
        let page = conversation::conversation(ctx.state(), auth, session, last, before).await?;
        let items = page
            .items
            .iter()
            .map(|m| (cursor::of_id("message", m.id), Message::from(m)))
            .collect();
        Ok(MessageConnection::new(
            items,
            page.has_next,
            page.has_previous,
        ))
    }
}
