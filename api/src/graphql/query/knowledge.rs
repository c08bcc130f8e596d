//! `knowledge` and `searchKnowledge` (MANAGER).

use async_graphql::{Context, Object};
use entity::KnowledgeId;

use crate::graphql::context::ContextExt;
use crate::graphql::cursor;
use crate::graphql::error::Result;
use crate::graphql::limits::page_size;
use crate::graphql::types::connection::KnowledgeConnection;
use crate::graphql::types::knowledge::{Knowledge, KnowledgeHit};
use crate::service::knowledge;

/// Queries about the tenant's knowledge.
#[derive(Default)]
pub struct KnowledgeQuery;

#[Object]
impl KnowledgeQuery {
    /// The tenant's knowledge, oldest first, optionally of one category. MANAGER only.
    #[graphql(
        complexity = "(first.unwrap_or(50).max(1) as usize).saturating_mul(child_complexity)"
    )]
    async fn knowledge(
        &self,
        ctx: &Context<'_>,
        category: Option<String>,
        #[graphql(default_with = "Some(50)")] first: Option<i32>,
        after: Option<String>,
    ) -> Result<KnowledgeConnection> {
        let auth = ctx.auth()?;
        let first = page_size("first", first.unwrap_or(50))?;
        let after = after
            .as_deref()
            .map(|c| cursor::to_id::<KnowledgeId>("knowledge", c))
            .transpose()?;
        let page = knowledge::list(ctx.state(), auth, category.as_deref(), first, after).await?;
        let items = page
            .entries
            .iter()
            .map(|k| (cursor::of_id("knowledge", k.id), Knowledge::from(k)))
            .collect();
        Ok(KnowledgeConnection::new(
            items,
            page.has_next_page,
            after.is_some(),
        ))
    }

    /// The chunks most relevant to `query`, best first: the search the agent runs for every
    /// message. MANAGER only.
    #[graphql(
        complexity = "(limit.unwrap_or(5).clamp(1, 50) as usize).saturating_mul(child_complexity)"
    )]
    async fn search_knowledge(
        &self,
        ctx: &Context<'_>,
        query: String,
        #[graphql(default_with = "Some(5)")] limit: Option<i32>,
    ) -> Result<Vec<KnowledgeHit>> {
        let auth = ctx.auth()?;
        let limit = u64::try_from(limit.unwrap_or(5)).unwrap_or(0);
        let hits = knowledge::search(ctx.state(), auth, &query, limit).await?;
        Ok(hits.iter().map(KnowledgeHit::from).collect())
    }
}
