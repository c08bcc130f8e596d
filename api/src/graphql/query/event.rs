//! `events` (MANAGER).

use async_graphql::{Context, Object};
use entity::EventId;

use crate::graphql::context::ContextExt;
use crate::graphql::cursor;
use crate::graphql::error::Result;
use crate::graphql::limits::page_size;
use crate::graphql::types::connection::EventConnection;
use crate::graphql::types::event::Event;
use crate::service::event;

/// Queries about the tenant's event log.
#[derive(Default)]
pub struct EventQuery;

#[Object]
impl EventQuery {
    /// The tenant's event log, newest first. MANAGER only.
    #[graphql(
        complexity = "(first.unwrap_or(50).max(1) as usize).saturating_mul(child_complexity)"
    )]
    async fn events(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "Some(50)")] first: Option<i32>,
        after: Option<String>,
    ) -> Result<EventConnection> {
        let auth = ctx.auth()?;
        let first = page_size("first", first.unwrap_or(50))?;
        let after = after
            .as_deref()
            .map(|c| cursor::to_id::<EventId>("event", c))
            .transpose()?;
        let page = event::list(ctx.state(), auth, first, after).await?;
        let items = page
            .page
            .items
            .iter()
            .map(|e| {
                let actor = e.actor_user_id.and_then(|id| page.actors.get(&id));
                (cursor::of_id("event", e.id), Event::new(e, actor))
            })
            .collect();
        Ok(EventConnection::new(
            items,
            page.page.has_next,
            page.page.has_previous,
        ))
    }
}
