//! Retrieval: the knowledge chunks of a tenant most relevant to a message. The agent retrieves
//! for every message and gives exactly those chunks to the LLM; the assistant message lists them
//! as its sources. The `searchKnowledge` query shows managers the same search.
//!
//! [`VectorRetriever`] embeds the text with the configured [`Embedder`] and asks Postgres for the
//! nearest chunks by cosine distance ([`nearest`]), inside a [`entity::TenantTxn`] (so
//! row-level security applies as a second wall) and only among vectors of the embedder's model
//! (vectors of different models are not comparable). Scores are cosine similarities.
//!
//! # How the search uses the HNSW index
//!
//! An HNSW index scan yields candidates in distance order *before* the `WHERE` clause and the
//! row-level security policy filter them. With a plain scan (`ef_search` candidates, 40 by
//! default) a tenant holding 1% of the table gets on average 0.4 of its own rows: often none.
//! pgvector 0.8's iterative scans fix that: with `hnsw.iterative_scan = relaxed_order` the scan
//! keeps walking the graph until the query's `LIMIT` is filled or it has visited
//! `hnsw.max_scan_tuples` tuples. The search sets these with `SET LOCAL` in its transaction, so
//! they never leak to other queries on the pooled connection. `relaxed_order` may return rows
//! slightly out of distance order; they are ranked again here.
//!
//! Which scan a search uses depends on the tenant's size, decided per search by counting the
//! tenant's rows (up to [`SearchTuning::exact_up_to`] + 1, through an index on `tenant_id`):
//!
//! - A small tenant (at most `exact_up_to` chunks, 500 by default) is searched exactly: its rows
//!   are read through the B-tree and sorted by distance. Exact and cheap for a few hundred rows,
//!   and far cheaper than walking the graph past thousands of other tenants' vectors.
//! - A larger tenant is searched through the HNSW index with the iterative scan. The search
//!   disables sorting for its statement (`SET LOCAL enable_sort = off`), which leaves the index
//!   scan as the only plan that returns rows in distance order: left to itself, Postgres prices
//!   exact search of out-of-line (TOAST) 1536-dimension vectors far too cheaply and picks it
//!   for tenants of a few thousand rows, where it is several times slower than the index.
//!
//! The threshold and `ef_search` come from `docs/BENCHMARKS.md`, which measures both scans and
//! Postgres's own choice for a small, a medium and a large tenant.
//!
//! The plan depends on the tenant, so it must be made for each search: the driver caches
//! prepared statements, and after five executions Postgres may switch a cached statement to a
//! generic plan made without knowing the tenant (and with whatever settings were in force then),
//! which would give every tenant the same plan. The search sets
//! `plan_cache_mode = force_custom_plan` for its transaction.
//!
//! When the index scan gives up (`max_scan_tuples` reached) before the limit is filled, or the
//! tenant simply has fewer chunks than asked for, the search runs an exact scan of the tenant's
//! rows instead (cheap precisely because there are few of them). So a tenant with at least
//! `limit` chunks of the model always gets `limit` results.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use entity::{Db, DbError, KnowledgeId, TenantId, TenantTxn};
use sea_orm::{ConnectionTrait, DbBackend, QueryResult, Statement, Value};

use crate::embedding::{Embedder, Embedding};

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

/// One search result with what `searchKnowledge` shows besides the chunk.
#[derive(Clone, Debug, PartialEq)]
pub struct KnowledgeHit {
    /// The chunk and its score.
    pub chunk: KnowledgeChunk,
    /// The model of its embedding (always the searching embedder's).
    pub embedding_model: String,
    /// When it was added.
    pub created_at: DateTime<Utc>,
}

/// Retrieval failed.
#[derive(Debug, thiserror::Error)]
pub enum RetrievalError {
    /// Embedding the query failed.
    #[error(transparent)]
    Embed(#[from] crate::embedding::EmbedError),
    /// The search failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<sea_orm::DbErr> for RetrievalError {
    fn from(err: sea_orm::DbErr) -> Self {
        Self::Db(err.into())
    }
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

/// Most results one search returns (the contract's `searchKnowledge(limit)` is clamped to it).
pub const MAX_LIMIT: usize = 50;

/// Knobs of the search.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SearchTuning {
    /// `hnsw.ef_search`: candidates kept per step of the graph walk. Higher: better recall,
    /// slower. The index scan filters by tenant after the walk, so a tenant holding a fifth of
    /// the table sees a fifth of them.
    pub ef_search: u32,
    /// `hnsw.max_scan_tuples`: where an iterative scan gives up (then the exact fallback runs).
    pub max_scan_tuples: u32,
    /// Tenants with at most this many chunks are searched exactly; larger ones through the HNSW
    /// index (0: always the index).
    pub exact_up_to: u32,
}

impl Default for SearchTuning {
    /// Measured on 100,000 chunks of 100 tenants (`docs/BENCHMARKS.md`): exact search costs
    /// about 5 µs per row of the tenant (each vector is a TOAST fetch) and the index scan 3 to 5
    /// milliseconds whatever the tenant's size, so they cross at several hundred rows: 500.
    /// `ef_search` 100 keeps recall@5 above 0.95 for a tenant holding a fifth of the table,
    /// where pgvector's default of 40 measured about 0.92. `max_scan_tuples` 20,000 is
    /// pgvector's default.
    fn default() -> Self {
        Self {
            ef_search: 100,
            max_scan_tuples: 20_000,
            exact_up_to: 500,
        }
    }
}

/// Searches `tenant_knowledge` by vector similarity with the configured embedder.
#[derive(Clone, Debug)]
pub struct VectorRetriever {
    embedder: Arc<dyn Embedder>,
    tuning: SearchTuning,
}

impl VectorRetriever {
    /// A retriever that embeds queries with `embedder` and compares them with chunks of
    /// `embedder.model()` only.
    #[must_use]
    pub fn new(embedder: Arc<dyn Embedder>) -> Self {
        Self {
            embedder,
            tuning: SearchTuning::default(),
        }
    }

    /// The same retriever with other scan settings.
    #[must_use]
    pub const fn with_tuning(mut self, tuning: SearchTuning) -> Self {
        self.tuning = tuning;
        self
    }

    /// The embedder it searches with.
    #[must_use]
    pub const fn embedder(&self) -> &Arc<dyn Embedder> {
        &self.embedder
    }

    /// The `limit` (at most [`MAX_LIMIT`]) chunks of `tenant` nearest to `query`, best first,
    /// optionally only of `category`, with their model and creation time (for
    /// `searchKnowledge`).
    ///
    /// # Errors
    /// [`RetrievalError`] when embedding or searching fails.
    pub async fn search(
        &self,
        db: &Db,
        tenant: TenantId,
        query: &str,
        limit: usize,
        category: Option<&str>,
    ) -> Result<Vec<KnowledgeHit>, RetrievalError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let vector = self.embedder.embed_query(query).await?;
        nearest(
            db,
            tenant,
            &Query {
                model: self.embedder.model(),
                vector: &vector,
                limit,
                category,
            },
            self.tuning,
        )
        .await
    }
}

#[async_trait]
impl Retriever for VectorRetriever {
    async fn retrieve(
        &self,
        db: &Db,
        tenant: TenantId,
        query: &str,
        limit: usize,
        category: Option<&str>,
    ) -> Result<Vec<KnowledgeChunk>, RetrievalError> {
        Ok(self
            .search(db, tenant, query, limit, category)
            .await?
            .into_iter()
            .map(|hit| hit.chunk)
            .collect())
    }
}

/// A nearest-neighbour query.
#[derive(Clone, Copy, Debug)]
pub struct Query<'a> {
    /// Only vectors of this embedding model are compared.
    pub model: &'a str,
    /// The query vector.
    pub vector: &'a Embedding,
    /// How many results (clamped to [`MAX_LIMIT`]).
    pub limit: usize,
    /// Only chunks of this category, if given.
    pub category: Option<&'a str>,
}

/// The columns every search returns.
const COLUMNS: &str = "id, title, category, content, created_at, embedding <=> $1 AS distance";

/// The statement of the index search: ordered by the indexed operator so the HNSW index can
/// answer it.
fn index_sql(category: bool) -> String {
    format!(
        "SELECT {COLUMNS} FROM tenant_knowledge \
         WHERE tenant_id = $2 AND embedding_model = $3{} \
         ORDER BY embedding <=> $1 LIMIT $4",
        if category { " AND category = $5" } else { "" }
    )
}

/// The exact search: `OFFSET 0` keeps the subquery from being flattened, so the ordering is on
/// a computed column no index can serve, and every row of the tenant is compared.
fn exact_sql(category: bool) -> String {
    format!(
        "SELECT * FROM (SELECT {COLUMNS} FROM tenant_knowledge \
         WHERE tenant_id = $2 AND embedding_model = $3{} OFFSET 0) AS candidates \
         ORDER BY distance, id LIMIT $4",
        if category { " AND category = $5" } else { "" }
    )
}

fn values(tenant: TenantId, q: &Query<'_>) -> Vec<Value> {
    let limit = i64::try_from(q.limit.min(MAX_LIMIT)).unwrap_or(1);
    let mut v: Vec<Value> = vec![
        sea_orm::prelude::PgVector::from(q.vector.clone()).into(),
        tenant.uuid().into(),
        q.model.to_owned().into(),
        limit.into(),
    ];
    if let Some(c) = q.category {
        v.push(c.trim().to_lowercase().into());
    }
    v
}

/// Scopes the HNSW index scan of the current transaction (see the module documentation).
async fn tune(txn: &TenantTxn, tuning: SearchTuning) -> Result<(), sea_orm::DbErr> {
    // Integers formatted by us: no injection possible.
    txn.execute_unprepared(&format!(
        "SET LOCAL plan_cache_mode = force_custom_plan; \
         SET LOCAL hnsw.iterative_scan = relaxed_order; \
         SET LOCAL hnsw.ef_search = {}; \
         SET LOCAL hnsw.max_scan_tuples = {}; \
         SET LOCAL enable_sort = off",
        tuning.ef_search.clamp(1, 1000),
        tuning.max_scan_tuples.max(1),
    ))
    .await
    .map(|_| ())
}

/// Whether `tenant` has at most `tuning.exact_up_to` chunks (counting stops just past it).
async fn is_small(
    txn: &TenantTxn,
    tenant: TenantId,
    tuning: SearchTuning,
) -> Result<bool, sea_orm::DbErr> {
    if tuning.exact_up_to == 0 {
        return Ok(false);
    }
    let row = txn
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT count(*) AS n FROM \
             (SELECT 1 FROM tenant_knowledge WHERE tenant_id = $1 LIMIT $2) AS upto",
            [
                tenant.uuid().into(),
                (i64::from(tuning.exact_up_to) + 1).into(),
            ],
        ))
        .await?;
    let n: i64 = match row {
        Some(r) => r.try_get("", "n")?,
        None => 0,
    };
    Ok(n <= i64::from(tuning.exact_up_to))
}

/// The statement a search of `tenant` runs first, with the transaction prepared for it.
async fn first_statement(
    txn: &TenantTxn,
    tenant: TenantId,
    q: &Query<'_>,
    tuning: SearchTuning,
) -> Result<String, sea_orm::DbErr> {
    let category = q.category.is_some();
    if is_small(txn, tenant, tuning).await? {
        Ok(exact_sql(category))
    } else {
        tune(txn, tuning).await?;
        Ok(index_sql(category))
    }
}

/// A row as a hit, with its cosine distance (for ordering: scores are clamped, distances not).
fn hit(row: &QueryResult, model: &str) -> Result<(f64, KnowledgeHit), sea_orm::DbErr> {
    let distance: f64 = row.try_get("", "distance")?;
    #[expect(
        clippy::cast_possible_truncation,
        reason = "a similarity in [0, 1] loses nothing that matters as f32"
    )]
    let score = (1.0 - distance).clamp(0.0, 1.0) as f32;
    let hit = KnowledgeHit {
        chunk: KnowledgeChunk {
            id: KnowledgeId(row.try_get("", "id")?),
            title: row.try_get("", "title")?,
            category: row.try_get("", "category")?,
            content: row.try_get("", "content")?,
            score,
        },
        embedding_model: model.to_owned(),
        created_at: row.try_get("", "created_at")?,
    };
    Ok((distance, hit))
}

/// Rows as hits, nearest first; equally near ones by id, so the order is deterministic.
fn ranked(rows: &[QueryResult], model: &str) -> Result<Vec<KnowledgeHit>, sea_orm::DbErr> {
    let mut hits = rows
        .iter()
        .map(|row| hit(row, model))
        .collect::<Result<Vec<_>, _>>()?;
    hits.sort_by(|(da, a), (db, b)| da.total_cmp(db).then(a.chunk.id.cmp(&b.chunk.id)));
    Ok(hits.into_iter().map(|(_, h)| h).collect())
}

/// The chunks of `tenant` nearest to `q.vector` among vectors of `q.model`, best first: an exact
/// scan for a small tenant, else the HNSW index with an iterative scan followed, if that found
/// fewer than `q.limit`, by an exact scan.
///
/// # Errors
/// [`RetrievalError::Db`] when the database fails.
pub async fn nearest(
    db: &Db,
    tenant: TenantId,
    q: &Query<'_>,
    tuning: SearchTuning,
) -> Result<Vec<KnowledgeHit>, RetrievalError> {
    let limit = q.limit.min(MAX_LIMIT);
    if limit == 0 {
        return Ok(Vec::new());
    }
    let txn = db.begin_in_tenant(tenant).await?;
    let sql = first_statement(&txn, tenant, q, tuning).await?;
    let exact = exact_sql(q.category.is_some());
    let mut rows = txn
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            sql.clone(),
            values(tenant, q),
        ))
        .await?;
    if rows.len() < limit && sql != exact {
        tracing::debug!(tenant.id = %tenant, found = rows.len(), limit, "index search came up short; exact search");
        rows = txn
            .query_all_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                exact,
                values(tenant, q),
            ))
            .await?;
    }
    txn.commit().await?;
    // relaxed_order may be slightly out of order: rank again.
    Ok(ranked(&rows, q.model)?)
}

/// Exact nearest neighbours (every row of the tenant compared), for measuring the index's
/// recall and as the reference in tests.
///
/// # Errors
/// [`RetrievalError::Db`] when the database fails.
pub async fn nearest_exact(
    db: &Db,
    tenant: TenantId,
    q: &Query<'_>,
) -> Result<Vec<KnowledgeHit>, RetrievalError> {
    let txn = db.begin_in_tenant(tenant).await?;
    let rows = txn
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            exact_sql(q.category.is_some()),
            values(tenant, q),
        ))
        .await?;
    txn.commit().await?;
    Ok(ranked(&rows, q.model)?)
}

/// The executed plan (`EXPLAIN ANALYZE`, text) of [`nearest`]'s first statement with the same
/// settings, as the application role in `tenant`'s scope: for tests and for operators checking
/// which plan a tenant's searches get.
///
/// # Errors
/// [`RetrievalError::Db`] when the database fails.
pub async fn explain_nearest(
    db: &Db,
    tenant: TenantId,
    q: &Query<'_>,
    tuning: SearchTuning,
) -> Result<String, RetrievalError> {
    let txn = db.begin_in_tenant(tenant).await?;
    let sql = first_statement(&txn, tenant, q, tuning).await?;
    let rows = txn
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!("EXPLAIN (ANALYZE, COSTS OFF, BUFFERS OFF) {sql}"),
            values(tenant, q),
        ))
        .await?;
    txn.commit().await?;
    let lines = rows
        .iter()
        .map(|r| r.try_get::<String>("", "QUERY PLAN"))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(lines.join("\n"))
}
