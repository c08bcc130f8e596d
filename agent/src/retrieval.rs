//! Retrieval: the knowledge chunks of a tenant most relevant to a message. The agent retrieves
//! for every message and gives exactly those chunks to the LLM; the assistant message lists them
//! as its sources.

use async_trait::async_trait;
use entity::{Db, KnowledgeId, TenantId};

/// One retrieved chunk, as the prompt and the sources show it.
#[derive(Clone, Debug, PartialEq)]
pub struct KnowledgeChunk {
    /// The chunk's id.
    pub id: KnowledgeId,
    /// Its heading, if any.
    pub title: Option<String>,
    /// Its category.
    pub category: String,
    /// Its text.
    pub content: String,
    /// Relevance in [0, 1] (cosine similarity for vector search).
    pub score: f32,
}

/// Retrieval failed.
#[derive(Debug, thiserror::Error)]
pub enum RetrievalError {
    /// Embedding the query failed.
    #[error(transparent)]
    Embed(#[from] crate::embedding::EmbedError),
    /// The search failed.
    #[error(transparent)]
    Db(#[from] entity::DbError),
}

/// Finds a tenant's chunks relevant to a text.
#[async_trait]
pub trait Retriever: Send + Sync + std::fmt::Debug {
    /// The `limit` most relevant chunks of `tenant` for `query`, best first, optionally only of
    /// `category`. Never returns another tenant's chunks.
    ///
    /// # Errors
    /// [`RetrievalError`] when embedding or searching fails.
    async fn retrieve(
        &self,
        db: &Db,
        tenant: TenantId,
        query: &str,
        limit: usize,
        category: Option<&str>,
    ) -> Result<Vec<KnowledgeChunk>, RetrievalError>;
}
