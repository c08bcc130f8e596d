//! `addKnowledge`, `deleteKnowledge` (MANAGER).

use async_graphql::{Context, ID, Object};

use crate::graphql::context::ContextExt;
use crate::graphql::error::Result;
use crate::graphql::types::knowledge::{AddKnowledgeInput, Knowledge};
use crate::graphql::types::parse_id;
use crate::service::knowledge;
use agent::knowledge::NewKnowledge;

/// The tenant's knowledge.
#[derive(Default)]
pub struct KnowledgeMutation;

#[Object]
impl KnowledgeMutation {
    /// Adds knowledge; long content is chunked. Returns the stored chunks. MANAGER only.
    async fn add_knowledge(
        &self,
        ctx: &Context<'_>,
        input: AddKnowledgeInput,
    ) -> Result<Vec<Knowledge>> {
        let auth = ctx.auth()?;
        let stored = knowledge::add(
            ctx.state(),
            auth,
            NewKnowledge {
                title: input.title,
                content: input.content,
                category: input.category,
            },
        )
        .await?;
        Ok(stored.iter().map(Knowledge::from).collect())
    }

    /// Deletes a chunk of knowledge. MANAGER only.
    async fn delete_knowledge(&self, ctx: &Context<'_>, id: ID) -> Result<bool> {
        let auth = ctx.auth()?;
        knowledge::delete(ctx.state(), auth, parse_id(&id)?).await?;
        Ok(true)
    }
}
