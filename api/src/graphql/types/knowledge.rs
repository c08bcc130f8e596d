//! `Knowledge`, `KnowledgeHit` and the `AddKnowledgeInput`.

use agent::knowledge::KnowledgeEntry;
use async_graphql::{ID, InputObject, SimpleObject};
use chrono::{DateTime, Utc};

use super::id;

/// A chunk of the tenant's knowledge.
#[derive(SimpleObject, Clone, Debug)]
pub struct Knowledge {
    /// The chunk's id.
    pub id: ID,
    /// Its heading.
    pub title: Option<String>,
    /// The text.
    pub content: String,
    /// schedule, roster, rules, menu, faq, ...
    pub category: String,
    /// The model that embedded it.
    pub embedding_model: String,
    /// When it was added.
    pub created_at: DateTime<Utc>,
}

impl From<&KnowledgeEntry> for Knowledge {
    fn from(k: &KnowledgeEntry) -> Self {
        Self {
            id: id(k.id),
            title: k.title.clone(),
            content: k.content.clone(),
            category: k.category.clone(),
            embedding_model: k.embedding_model.clone(),
            created_at: k.created_at,
        }
    }
}

impl From<&agent::retrieval::KnowledgeHit> for KnowledgeHit {
    fn from(h: &agent::retrieval::KnowledgeHit) -> Self {
        let c = &h.chunk;
        Self {
            knowledge: Knowledge {
                id: id(c.id),
                title: c.title.clone(),
                content: c.content.clone(),
                category: c.category.clone(),
                embedding_model: h.embedding_model.clone(),
                created_at: h.created_at,
            },
            score: f64::from(c.score),
        }
    }
}

/// A search result.
#[derive(SimpleObject, Clone, Debug)]
pub struct KnowledgeHit {
    /// The chunk.
    pub knowledge: Knowledge,
    /// Cosine similarity to the query.
    pub score: f64,
}

/// Knowledge to add; long content is chunked (one chunk per Markdown heading section, long
/// sections split with overlap).
#[derive(InputObject, Clone, Debug)]
pub struct AddKnowledgeInput {
    /// Heading for text that has none of its own (at most 200 characters).
    pub title: Option<String>,
    /// The text (1-100,000 characters).
    pub content: String,
    /// Category: 1-50 lower-case letters, digits, '-' or '_'.
    pub category: String,
}
