//! The tenant's knowledge (MANAGER only): list, search, add, delete, over `agent::knowledge` and
//! `agent::retrieval`. Adding or deleting tells every process that the tenant changed, so cached
//! tenant agents refresh.

use agent::knowledge::{self, KnowledgeEntry, KnowledgePage, NewKnowledge};
use agent::retrieval::{KnowledgeHit, MAX_LIMIT};
use entity::KnowledgeId;

use crate::auth::AuthContext;
use crate::error::ApiError;
use crate::state::AppState;

/// Longest knowledge text accepted by `addKnowledge`, in characters (it is chunked).
pub const MAX_CONTENT_CHARS: usize = 100_000;
/// Longest search query, in characters.
pub const MAX_QUERY_CHARS: usize = 2_000;

/// The tenant's chunks, oldest first, optionally of one category.
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
) -> Result<KnowledgePage, ApiError> {
    let auth = auth.require_manager()?;
    if first == 0 {
        return Ok(KnowledgePage {
            entries: Vec::new(),
            has_next_page: false,
        });
    }
    Ok(knowledge::list(&state.db, auth.tenant_id, category, after, first).await?)
}

/// The chunks most relevant to `query`, best first, with their scores: the same search the agent
/// runs for every message.
///
/// # Errors
/// [`ApiError::Forbidden`] unless MANAGER; [`ApiError::Invalid`] for an empty or long query or a
/// bad limit; [`ApiError::Unavailable`] when the embedder cannot be reached.
pub async fn search(
    state: &AppState,
    auth: AuthContext,
    query: &str,
    limit: u64,
) -> Result<Vec<KnowledgeHit>, ApiError> {
    let auth = auth.require_manager()?;
    let query = query.trim();
    if query.is_empty() || query.chars().count() > MAX_QUERY_CHARS {
        return Err(ApiError::Invalid(format!(
            "query must be 1-{MAX_QUERY_CHARS} characters"
        )));
    }
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::Invalid(format!(
            "limit must be between 1 and {MAX_LIMIT}"
        )));
    }
    state
        .retriever
        .search(&state.db, auth.tenant_id, query, limit, None)
        .await
        .map_err(|e| match e {
            agent::retrieval::RetrievalError::Embed(e) if e.retryable() => {
                ApiError::Unavailable(e.to_string())
            }
            agent::retrieval::RetrievalError::Db(db) => db.into(),
            other => ApiError::Internal(other.to_string()),
        })
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
) -> Result<Vec<KnowledgeEntry>, ApiError> {
    let auth = auth.require_manager()?;
    let n = input.content.trim().chars().count();
    if n == 0 || n > MAX_CONTENT_CHARS {
        return Err(ApiError::Invalid(format!(
            "content must be 1-{MAX_CONTENT_CHARS} characters"
        )));
    }
    if input
        .title
        .as_ref()
        .is_some_and(|t| t.trim().chars().count() > 200)
    {
        return Err(ApiError::Invalid(
            "title must be at most 200 characters".into(),
        ));
    }
    let stored = knowledge::add(
        &state.db,
        state.embedder.as_ref(),
        auth.tenant_id,
        Some(auth.user_id),
        &input,
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
    knowledge::delete(&state.db, auth.tenant_id, Some(auth.user_id), id).await?;
    tenant_changed(state, auth).await;
    Ok(())
}

async fn tenant_changed(state: &AppState, auth: AuthContext) {
    if let Err(e) = state.publisher.tenant_changed(auth.tenant_id).await {
        tracing::warn!(tenant.id = %auth.tenant_id, error = %e, "could not announce the knowledge change");
    }
}
