//! `tenant_knowledge`: the chunks of a tenant's knowledge (schedules, roster, rules) with their
//! embeddings. Every vector is stored at [`EMBEDDING_DIM`] dimensions (smaller models are
//! zero-padded, which leaves cosine similarity unchanged) and records the model that made it, so
//! retrieval only ever compares vectors of one model.

use sea_orm::entity::prelude::*;

use crate::ids::{KnowledgeId, TenantId};

/// Width of the `embedding` column: the largest model we support (Gemini and OpenAI at 1536).
pub const EMBEDDING_DIM: usize = 1536;

/// One chunk of knowledge.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "tenant_knowledge")]
pub struct Model {
    /// The chunk's id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: KnowledgeId,
    /// The tenant it belongs to.
    pub tenant_id: TenantId,
    /// Heading of the section the chunk came from, if any.
    pub title: Option<String>,
    /// The text.
    pub content: String,
    /// schedule, roster, rules, menu, faq, ...
    pub category: String,
    /// The embedding, zero-padded to [`EMBEDDING_DIM`].
    pub embedding: PgVector,
    /// Name of the model that made `embedding` (`hash-v1`, `local/all-MiniLM-L6-v2`, ...).
    pub embedding_model: String,
    /// When the chunk was added.
    pub created_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}
