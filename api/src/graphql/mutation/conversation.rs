//! `sendMessage`.

use agent::trace::TraceContext;
use async_graphql::{Context, ID, InputObject, Object};

use crate::graphql::context::ContextExt;
use crate::graphql::error::Result;
use crate::graphql::types::conversation::{Message, SendMessagePayload, Session};
use crate::graphql::types::parse_id;
use crate::service::conversation::{self, NewMessage};

/// A message to the agent.
#[derive(InputObject, Clone, Debug)]
pub struct SendMessageInput {
    /// The text: 1-8000 characters after trimming.
    pub content: String,
    /// The session to continue; omitted, a new session is started.
    pub session_id: Option<ID>,
    /// Idempotency key (1-200 characters): the same key from the same user returns the same
    /// message and enqueues nothing new.
    pub client_message_id: Option<String>,
}

/// Talking to the agent.
#[derive(Default)]
pub struct ConversationMutation;

#[Object]
impl ConversationMutation {
    /// Stores a message for the agent (status QUEUED) and returns at once; the answer arrives on
    /// `conversationEvents`.
    async fn send_message(
        &self,
        ctx: &Context<'_>,
        input: SendMessageInput,
    ) -> Result<SendMessagePayload> {
        let auth = ctx.auth()?;
        let session_id = input.session_id.as_ref().map(parse_id).transpose()?;
        let sent = conversation::send_message(
            ctx.state(),
            auth,
            NewMessage {
                content: input.content,
                session_id,
                client_message_id: input.client_message_id,
                trace: ctx.data_opt::<TraceContext>().copied(),
            },
        )
        .await?;
        Ok(SendMessagePayload {
            message: Message::from(&sent.message),
            session: Session::from(&sent.session),
        })
    }
}
