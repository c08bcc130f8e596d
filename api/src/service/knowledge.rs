//! The tenant's knowledge (MANAGER only): list, search, add, delete. Adding or deleting tells
//! every process that the tenant changed, so cached tenant agents refresh.

use agent::knowledge::{self, Chunk};
use agent::retrieval::KnowledgeChunk;
use entity::{KnowledgeId, TenantScoped, event, knowledge as table};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::{Page, page_of};
use crate::auth::AuthContext;
use crate::error::ApiError;
use crate::state::AppState;

/// Longest knowledge text accepted by `addKnowledge`, in characters (it is chunked).
pub const MAX_CONTENT_CHARS: usize = 100_000;
/// Most hits `searchKnowledge` returns.
pub const MAX_SEARCH_LIMIT: u64 = 50;
/// Longest search query, in characters.
pub const MAX_QUERY_CHARS: usize = 2_000;

/// The tenant's chunks, newest first, optionally of one category.
///
/// # Errors
/// [`ApiError::Forbidden`] unless MANAGER; [`ApiError::Invalid`] for a bad category; database
/// failures.
pub async fn list(
    state: &AppState,
    auth: AuthContext,
    category: Option<&str>,
    first: u64,
    after: Option<KnowledgeId>,
) -> Result<Page<table::Model>, ApiError> {
    let auth = auth.require_manager()?;
    let txn = state.db.begin_in_tenant(auth.tenant_id).await?;
    let mut query = table::Entity::find_in_tenant(auth.tenant_id);
    if let Some(category) = category {
        query = query.filter(table::Column::Category.eq(knowledge::validate_category(category)?));
    }
    if let Some(after) = after {
        query = query.filter(table::Column::Id.lt(after));
    }
    let rows = query
        .order_by_desc(table::Column::Id)
        .limit(first + 1)
        .all(&txn)
        .await?;
    txn.commit().await?;
    Ok(page_of(rows, first, after.is_some()))
}

/// The chunks most relevant to `query`, best first, with their scores: the same search the agent
/// runs for every message.
///
/// # Errors
/// [`ApiError::Forbidden`] unless MANAGER; [`ApiError::Invalid`] for an empty or long query or a
/// bad limit; retrieval failures.
pub async fn search(
    state: &AppState,
    auth: AuthContext,
    query: &str,
    limit: u64,
) -> Result<Vec<(table::Model, f32)>, ApiError> {
    let auth = auth.require_manager()?;
    let query = query.trim();
    if query.is_empty() || query.chars().count() > MAX_QUERY_CHARS {
        return Err(ApiError::Invalid(format!(
            "query must be 1-{MAX_QUERY_CHARS} characters"
        )));
    }
    if !(1..=MAX_SEARCH_LIMIT).contains(&limit) {
        return Err(ApiError::Invalid(format!(
            "limit must be between 1 and {MAX_SEARCH_LIMIT}"
        )));
    }
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let hits: Vec<KnowledgeChunk> = state
        .retriever
        .retrieve(&state.db, auth.tenant_id, query, limit, None)
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    let ids: Vec<KnowledgeId> = hits.iter().map(|h| h.id).collect();
    let txn = state.db.begin_in_tenant(auth.tenant_id).await?;
    let rows = table::Entity::find_in_tenant(auth.tenant_id)
        .filter(table::Column::Id.is_in(ids))
        .all(&txn)
        .await?;
    txn.commit().await?;
    Ok(hits
        .iter()
        .filter_map(|hit| {
            rows.iter()
                .find(|r| r.id == hit.id)
                .map(|r| (r.clone(), hit.score))
        })
        .collect())
}

/// Input of `addKnowledge`.
#[derive(Clone, Debug)]
pub struct NewKnowledge {
    /// Heading for the text (chunks of sections with their own heading keep theirs).
    pub title: Option<String>,
    /// The text; Markdown headings split it into chunks, long sections are split with overlap.
    pub content: String,
    /// schedule, roster, rules, menu, faq, ...
    pub category: String,
}

/// Chunks, embeds and stores knowledge; returns the stored chunks.
///
/// # Errors
/// [`ApiError::Forbidden`] unless MANAGER; [`ApiError::Invalid`] for bad input; embedding or
/// database failures.
pub async fn add(
    state: &AppState,
    auth: AuthContext,
    input: NewKnowledge,
) -> Result<Vec<table::Model>, ApiError> {
    let auth = auth.require_manager()?;
    let n = input.content.trim().chars().count();
    if n == 0 || n > MAX_CONTENT_CHARS {
        return Err(ApiError::Invalid(format!(
            "content must be 1-{MAX_CONTENT_CHARS} characters"
        )));
    }
    let title = input
        .title
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty());
    if title.as_ref().is_some_and(|t| t.chars().count() > 200) {
        return Err(ApiError::Invalid(
            "title must be at most 200 characters".into(),
        ));
    }
    let category = knowledge::validate_category(&input.category)?;
    let chunks: Vec<Chunk> = knowledge::chunk_markdown(&input.content, Some(&category))?
        .into_iter()
        .map(|c| Chunk {
            title: c.title.or_else(|| title.clone()),
            ..c
        })
        .collect();
    let stored = knowledge::ingest(
        &state.db,
        state.embedder.as_ref(),
        auth.tenant_id,
        Some(auth.user_id),
        chunks,
    )
    .await?;
    tenant_changed(state, auth).await;
    Ok(stored)
}

/// Deletes one chunk of the caller's tenant.
///
/// # Errors
/// [`ApiError::Forbidden`] unless MANAGER; [`ApiError::NotFound`] for an unknown id or one of
/// another tenant; database failures.
pub async fn delete(state: &AppState, auth: AuthContext, id: KnowledgeId) -> Result<(), ApiError> {
    let auth = auth.require_manager()?;
    let txn = state.db.begin_in_tenant(auth.tenant_id).await?;
    let result = table::Entity::delete_many()
        .filter(table::Column::TenantId.eq(auth.tenant_id))
        .filter(table::Column::Id.eq(id))
        .exec(&txn)
        .await?;
    if result.rows_affected == 0 {
        return Err(ApiError::NotFound("knowledge"));
    }
    event::record(
        &txn,
        Some(auth.user_id),
        "knowledge.deleted",
        serde_json::json!({ "knowledge_id": id }),
    )
    .await?;
    txn.commit().await?;
    tenant_changed(state, auth).await;
    Ok(())
}

async fn tenant_changed(state: &AppState, auth: AuthContext) {
    if let Err(e) = state.publisher.tenant_changed(auth.tenant_id).await {
        tracing::warn!(tenant.id = %auth.tenant_id, error = %e, "could not announce the knowledge change");
    }
}
