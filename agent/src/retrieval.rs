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

/// Exact nearest-neighbour search over the tenant's chunks of the configured model (a sequential
/// scan, ranked by cosine distance): correct at any size, used until the HNSW search lands.
#[derive(Debug, Clone)]
pub struct ExactRetriever {
    embedder: std::sync::Arc<dyn crate::embedding::Embedder>,
}

impl ExactRetriever {
    /// A retriever embedding queries with `embedder`.
    #[must_use]
    pub fn new(embedder: std::sync::Arc<dyn crate::embedding::Embedder>) -> Self {
        Self { embedder }
    }
}

#[async_trait]
impl Retriever for ExactRetriever {
    async fn retrieve(
        &self,
        db: &Db,
        tenant: TenantId,
        query: &str,
        limit: usize,
        category: Option<&str>,
    ) -> Result<Vec<KnowledgeChunk>, RetrievalError> {
        use sea_orm::{ConnectionTrait, DbBackend, Statement};
        let vector = sea_orm::prelude::PgVector::from(self.embedder.embed_query(query).await?);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let txn = db.begin_in_tenant(tenant).await?;
        let rows = txn
            .query_all_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT id, title, category, content, 1 - (embedding <=> $1) AS score \
                 FROM tenant_knowledge WHERE tenant_id = $2 AND embedding_model = $3 \
                 AND ($4::text IS NULL OR category = $4) \
                 ORDER BY embedding <=> $1 LIMIT $5",
                [
                    vector.into(),
                    tenant.uuid().into(),
                    self.embedder.model().into(),
                    category.map(str::to_owned).into(),
                    limit.into(),
                ],
            ))
            .await
            .map_err(entity::DbError::from)?;
        txn.commit().await?;
        rows.iter()
            .map(|r| -> Result<KnowledgeChunk, sea_orm::DbErr> {
                let score: f64 = r.try_get("", "score")?;
                #[expect(clippy::cast_possible_truncation, reason = "a similarity in [-1, 1]")]
                let score = score as f32;
                Ok(KnowledgeChunk {
                    id: KnowledgeId(r.try_get("", "id")?),
                    title: r.try_get("", "title")?,
                    category: r.try_get("", "category")?,
                    content: r.try_get("", "content")?,
                    score,
                })
            })
            .collect::<Result<_, _>>()
            .map_err(|e| RetrievalError::Db(e.into()))
    }
}
