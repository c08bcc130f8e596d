//! Knowledge: the services behind `concierge ingest`, `concierge reembed` and the knowledge
//! resolvers of the API (`addKnowledge`, `deleteKnowledge`, `knowledge`).
//!
//! - Ingest: Markdown is cut into chunks (one per heading section, long sections split with
//!   overlap) by [`chunk_markdown`]; a title + content entry by [`chunk_entry`]. [`ingest`]
//!   embeds chunks in batches with the configured [`Embedder`] and stores them; [`add`] does
//!   both for one entry.
//! - [`delete`] removes one chunk of a tenant (another tenant's id is [`KnowledgeError::NotFound`]).
//! - [`list`] pages through a tenant's chunks by id, optionally of one category.
//! - [`reembed`] re-embeds the chunks of a tenant whose vectors were made by another model than
//!   the configured one (after the embedder changed); [`reembed_all`] does it for every tenant.
//!
//! Embedding happens before the transaction opens (it may call a remote API); every write is
//! then one [`entity::TenantTxn`] that also records its event (`knowledge.added`,
//! `knowledge.deleted`, `knowledge.reembedded`). Callers that cache per-tenant agent state refresh
//! it after a successful add or delete.
//!
//! A document may start with front matter that sets its category:
//!
//! ```text
//! ---
//! category: schedule
//! ---
//! # Opening hours
//! ...
//! ```

use chrono::{DateTime, Utc};
use entity::{
    Db, DbError, KnowledgeId, TenantId, TenantRef, TenantScoped, UserId, event, knowledge,
};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DerivePartialModel, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::embedding::{EmbedError, Embedder};

/// A section longer than this many characters is split into overlapping parts: long enough to
/// hold a whole schedule table, short enough that one chunk is about one thing.
pub const MAX_CHUNK_CHARS: usize = 1500;
/// Characters repeated at the start of the next part of a split section, so a sentence cut at
/// the boundary is still whole in one of the two parts.
pub const CHUNK_OVERLAP_CHARS: usize = 200;
/// Texts per call to the embedder (Gemini's batch limit is 100).
pub const EMBED_BATCH: usize = 64;
/// Longest title of an entry, in characters.
pub const MAX_TITLE_CHARS: usize = 200;
/// Longest content of one entry, in characters (about 70 chunks).
pub const MAX_CONTENT_CHARS: usize = 100_000;
/// Most entries one [`list`] page returns.
pub const MAX_PAGE: u64 = 200;

/// What can go wrong while adding knowledge.
#[derive(Debug, thiserror::Error)]
pub enum KnowledgeError {
    /// The input is not usable; the message says why.
    #[error("{0}")]
    Invalid(String),
    /// No such chunk in the tenant (also when it belongs to another tenant).
    #[error("knowledge not found")]
    NotFound,
    /// Embedding failed.
    #[error(transparent)]
    Embed(#[from] EmbedError),
    /// Storing failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

/// One piece of knowledge before it is embedded and stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chunk {
    /// The heading of its section, if it had one.
    pub title: Option<String>,
    /// The text.
    pub content: String,
    /// schedule, roster, rules, menu, faq, ...
    pub category: String,
}

impl Chunk {
    /// The text the embedder sees: the heading gives the body its subject.
    #[must_use]
    pub fn embedding_text(&self) -> String {
        match &self.title {
            Some(title) => format!("{title}\n{}", self.content),
            None => self.content.clone(),
        }
    }
}

/// One piece of knowledge as the API adds it: an optional title, the text, a category.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewKnowledge {
    /// A heading for the text.
    pub title: Option<String>,
    /// The text; long text is split into several chunks with the same title.
    pub content: String,
    /// schedule, roster, rules, menu, faq, ...
    pub category: String,
}

/// A stored chunk without its vector: what the API shows.
#[derive(Clone, Debug, PartialEq, Eq, DerivePartialModel)]
#[sea_orm(entity = "knowledge::Entity")]
pub struct KnowledgeEntry {
    /// The chunk's id.
    pub id: KnowledgeId,
    /// Its tenant.
    pub tenant_id: TenantId,
    /// Its heading, if any.
    pub title: Option<String>,
    /// The text.
    pub content: String,
    /// Its category.
    pub category: String,
    /// The model that embedded it.
    pub embedding_model: String,
    /// When it was added.
    pub created_at: DateTime<Utc>,
}

impl From<knowledge::Model> for KnowledgeEntry {
    fn from(m: knowledge::Model) -> Self {
        Self {
            id: m.id,
            tenant_id: m.tenant_id,
            title: m.title,
            content: m.content,
            category: m.category,
            embedding_model: m.embedding_model,
            created_at: m.created_at,
        }
    }
}

/// One page of [`list`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KnowledgePage {
    /// The entries, by id (oldest first).
    pub entries: Vec<KnowledgeEntry>,
    /// Whether entries follow the last one.
    pub has_next_page: bool,
}

/// What [`reembed`] did for one tenant.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReembedReport {
    /// Chunks re-embedded with the configured model.
    pub reembedded: usize,
    /// Chunks that already had vectors of the configured model.
    pub current: usize,
}

/// Checks a category name: lower-case letters, digits, `-` and `_`, at most 50 characters.
///
/// # Errors
/// [`KnowledgeError::Invalid`] naming what is wrong.
pub fn validate_category(category: &str) -> Result<String, KnowledgeError> {
    let c = category.trim().to_lowercase();
    let ok = !c.is_empty()
        && c.len() <= 50
        && c.starts_with(|ch: char| ch.is_ascii_alphanumeric())
        && c.chars()
            .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-' || ch == '_');
    if ok {
        Ok(c)
    } else {
        Err(KnowledgeError::Invalid(format!(
            "invalid category {category:?}: use 1-50 lower-case letters, digits, '-' or '_'"
        )))
    }
}

/// Cuts a Markdown document into chunks: one per heading section; text before the first heading
/// is a chunk of its own. The category comes from front matter, else from `default_category`.
///
/// # Errors
/// [`KnowledgeError::Invalid`] when no category is known or the document has no text.
pub fn chunk_markdown(
    doc: &str,
    default_category: Option<&str>,
) -> Result<Vec<Chunk>, KnowledgeError> {
    let (front_category, body) = split_front_matter(doc);
    let category = match front_category.as_deref().or(default_category) {
        Some(c) => validate_category(c)?,
        None => {
            return Err(KnowledgeError::Invalid(
                "no category: add `category:` front matter or pass --category".into(),
            ));
        }
    };
    let mut chunks = Vec::new();
    let mut title: Option<String> = None;
    let mut lines: Vec<&str> = Vec::new();
    let mut flush = |title: &Option<String>, lines: &mut Vec<&str>| {
        let content = lines.join("\n").trim().to_owned();
        lines.clear();
        if !content.is_empty() {
            for part in split_long(&content) {
                chunks.push(Chunk {
                    title: title.clone(),
                    content: part,
                    category: category.clone(),
                });
            }
        }
    };
    for line in body.lines() {
        if let Some(heading) = heading_text(line) {
            flush(&title, &mut lines);
            title = Some(heading.to_owned());
        } else {
            lines.push(line);
        }
    }
    flush(&title, &mut lines);
    if chunks.is_empty() {
        return Err(KnowledgeError::Invalid("the document has no text".into()));
    }
    Ok(chunks)
}

/// Checks and chunks an entry of the API: the category is validated, the title trimmed (empty
/// means none), and content longer than [`MAX_CHUNK_CHARS`] split with overlap into several
/// chunks that share the title.
///
/// # Errors
/// [`KnowledgeError::Invalid`] for a bad category, an empty or overlong content, or an overlong
/// title.
pub fn chunk_entry(entry: &NewKnowledge) -> Result<Vec<Chunk>, KnowledgeError> {
    let category = validate_category(&entry.category)?;
    let title = entry
        .title
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned);
    if title
        .as_ref()
        .is_some_and(|t| t.chars().count() > MAX_TITLE_CHARS)
    {
        return Err(KnowledgeError::Invalid(format!(
            "the title is longer than {MAX_TITLE_CHARS} characters"
        )));
    }
    let content = entry.content.trim();
    if content.is_empty() {
        return Err(KnowledgeError::Invalid("the content is empty".into()));
    }
    if content.chars().count() > MAX_CONTENT_CHARS {
        return Err(KnowledgeError::Invalid(format!(
            "the content is longer than {MAX_CONTENT_CHARS} characters"
        )));
    }
    Ok(split_long(content)
        .into_iter()
        .map(|part| Chunk {
            title: title.clone(),
            content: part,
            category: category.clone(),
        })
        .collect())
}

/// `# Title` -> `Title` (ATX headings of any level).
fn heading_text(line: &str) -> Option<&str> {
    let trimmed = line.trim_start();
    let hashes = trimmed.chars().take_while(|c| *c == '#').count();
    if (1..=6).contains(&hashes) && trimmed[hashes..].starts_with(' ') {
        Some(trimmed[hashes..].trim().trim_end_matches('#').trim())
    } else {
        None
    }
}

/// Splits off `---` front matter and returns its `category:` value, if any.
fn split_front_matter(doc: &str) -> (Option<String>, &str) {
    let Some(rest) = doc
        .strip_prefix("---\n")
        .or_else(|| doc.strip_prefix("---\r\n"))
    else {
        return (None, doc);
    };
    let Some(end) = rest.find("\n---") else {
        return (None, doc);
    };
    let header = &rest[..end];
    let body = rest[end + 4..].trim_start_matches(['\r', '\n']);
    let category = header.lines().find_map(|l| {
        l.split_once(':')
            .filter(|(k, _)| k.trim().eq_ignore_ascii_case("category"))
            .map(|(_, v)| v.trim().trim_matches(['"', '\'']).to_owned())
    });
    (category, body)
}

/// Splits text longer than [`MAX_CHUNK_CHARS`] at paragraph (else line, else word) boundaries,
/// repeating the last [`CHUNK_OVERLAP_CHARS`] of each part at the start of the next.
fn split_long(text: &str) -> Vec<String> {
    if text.chars().count() <= MAX_CHUNK_CHARS {
        return vec![text.to_owned()];
    }
    let mut parts = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut start = 0;
    while start < chars.len() {
        let hard_end = (start + MAX_CHUNK_CHARS).min(chars.len());
        let end = if hard_end == chars.len() {
            hard_end
        } else {
            best_break(&chars[start..hard_end]).map_or(hard_end, |b| start + b)
        };
        parts.push(
            chars[start..end]
                .iter()
                .collect::<String>()
                .trim()
                .to_owned(),
        );
        if end == chars.len() {
            break;
        }
        // Step back for the overlap, but always make progress.
        let next = end.saturating_sub(CHUNK_OVERLAP_CHARS).max(start + 1);
        start = advance_to_word(&chars, next);
    }
    parts.retain(|p| !p.is_empty());
    parts
}

/// The last paragraph, line or word break in the second half of `window`.
fn best_break(window: &[char]) -> Option<usize> {
    let half = window.len() / 2;
    let s: String = window.iter().collect();
    let offset = |byte: usize| s[..byte].chars().count();
    for sep in ["\n\n", "\n", " "] {
        if let Some(b) = s.rfind(sep).map(offset).filter(|&i| i >= half) {
            return Some(b);
        }
    }
    None
}

fn advance_to_word(chars: &[char], mut i: usize) -> usize {
    while i < chars.len() && i > 0 && !chars[i - 1].is_whitespace() {
        i += 1;
    }
    i
}

/// Embeds `chunks` in batches and stores them for `tenant`, with a `knowledge.added` event by
/// `actor`, in one transaction. Returns the stored rows in input order.
///
/// # Errors
/// When embedding or storing fails; nothing is stored then.
pub async fn ingest(
    db: &Db,
    embedder: &dyn Embedder,
    tenant: TenantId,
    actor: Option<UserId>,
    chunks: Vec<Chunk>,
) -> Result<Vec<knowledge::Model>, KnowledgeError> {
    let mut embeddings = Vec::with_capacity(chunks.len());
    for batch in chunks.chunks(EMBED_BATCH) {
        let texts: Vec<String> = batch.iter().map(Chunk::embedding_text).collect();
        let vectors = embedder.embed_documents(&texts).await?;
        if vectors.len() != texts.len() {
            return Err(EmbedError::Invalid(format!(
                "{} vectors for {} texts",
                vectors.len(),
                texts.len()
            ))
            .into());
        }
        embeddings.extend(vectors);
    }
    let now = Utc::now();
    let rows: Vec<knowledge::Model> = chunks
        .into_iter()
        .zip(embeddings)
        .map(|(chunk, embedding)| knowledge::Model {
            id: KnowledgeId::new(),
            tenant_id: tenant,
            title: chunk.title,
            content: chunk.content,
            category: chunk.category,
            embedding: embedding.into(),
            embedding_model: embedder.model().to_owned(),
            created_at: now,
        })
        .collect();
    let txn = db.begin_in_tenant(tenant).await?;
    if !rows.is_empty() {
        let models = rows
            .iter()
            .cloned()
            .map(sea_orm::IntoActiveModel::into_active_model);
        knowledge::Entity::insert_many(models)
            .exec(&txn)
            .await
            .map_err(DbError::from)?;
        let ids: Vec<String> = rows.iter().map(|r| r.id.to_string()).collect();
        let payload =
            serde_json::json!({ "knowledge_ids": ids, "embedding_model": embedder.model() });
        event::record(&txn, actor, "knowledge.added", payload).await?;
    }
    txn.commit().await?;
    Ok(rows)
}

/// Adds one entry to `tenant`'s knowledge: [`chunk_entry`] then [`ingest`]. Returns the stored
/// chunks in order.
///
/// # Errors
/// [`KnowledgeError::Invalid`] for bad input; embedding or database failures (nothing is
/// stored then).
pub async fn add(
    db: &Db,
    embedder: &dyn Embedder,
    tenant: TenantId,
    actor: Option<UserId>,
    entry: &NewKnowledge,
) -> Result<Vec<KnowledgeEntry>, KnowledgeError> {
    let chunks = chunk_entry(entry)?;
    Ok(ingest(db, embedder, tenant, actor, chunks)
        .await?
        .into_iter()
        .map(KnowledgeEntry::from)
        .collect())
}

/// Deletes chunk `id` of `tenant`, recording a `knowledge.deleted` event by `actor`, in one
/// transaction.
///
/// # Errors
/// [`KnowledgeError::NotFound`] when `tenant` has no such chunk (whether or not another tenant
/// has); database failures.
pub async fn delete(
    db: &Db,
    tenant: TenantId,
    actor: Option<UserId>,
    id: KnowledgeId,
) -> Result<(), KnowledgeError> {
    let txn = db.begin_in_tenant(tenant).await?;
    let found = knowledge::Entity::find_by_id_in_tenant(tenant, id)
        .into_partial_model::<KnowledgeEntry>()
        .one(&txn)
        .await
        .map_err(DbError::from)?
        .ok_or(KnowledgeError::NotFound)?;
    knowledge::Entity::delete_many()
        .filter(knowledge::Column::TenantId.eq(tenant))
        .filter(knowledge::Column::Id.eq(id))
        .exec(&txn)
        .await
        .map_err(DbError::from)?;
    let payload = serde_json::json!({
        "knowledge_id": found.id,
        "title": found.title,
        "category": found.category,
    });
    event::record(&txn, actor, "knowledge.deleted", payload).await?;
    txn.commit().await?;
    Ok(())
}

/// A page of `tenant`'s chunks by id, oldest first: at most `first` (1..=[`MAX_PAGE`]) entries
/// after the id `after`, optionally only of `category`.
///
/// # Errors
/// Database failures.
pub async fn list(
    db: &Db,
    tenant: TenantId,
    category: Option<&str>,
    after: Option<KnowledgeId>,
    first: u64,
) -> Result<KnowledgePage, KnowledgeError> {
    let first = first.clamp(1, MAX_PAGE);
    let mut query = knowledge::Entity::find_in_tenant(tenant);
    if let Some(c) = category {
        query = query.filter(knowledge::Column::Category.eq(c.trim().to_lowercase()));
    }
    if let Some(after) = after {
        query = query.filter(knowledge::Column::Id.gt(after));
    }
    let txn = db.begin_in_tenant(tenant).await?;
    let mut entries = query
        .order_by_asc(knowledge::Column::Id)
        .limit(first + 1)
        .into_partial_model::<KnowledgeEntry>()
        .all(&txn)
        .await
        .map_err(DbError::from)?;
    txn.commit().await?;
    let has_next_page = entries.len() as u64 > first;
    entries.truncate(usize::try_from(first).unwrap_or(usize::MAX));
    Ok(KnowledgePage {
        entries,
        has_next_page,
    })
}

/// The text a stored chunk was embedded from (as [`Chunk::embedding_text`]).
fn stored_embedding_text(title: Option<&str>, content: &str) -> String {
    Chunk {
        title: title.map(str::to_owned),
        content: content.to_owned(),
        category: String::new(),
    }
    .embedding_text()
}

/// Re-embeds every chunk of `tenant` whose vector was made by another model than `embedder`'s,
/// so retrieval (which compares vectors of the configured model only) sees them again. Chunks
/// already of the model are left alone, so running it twice does nothing the second time. The
/// vectors are computed first, then written in one transaction with a `knowledge.reembedded`
/// event by `actor`.
///
/// # Errors
/// Embedding or database failures (nothing is written then).
pub async fn reembed(
    db: &Db,
    embedder: &dyn Embedder,
    tenant: TenantId,
    actor: Option<UserId>,
) -> Result<ReembedReport, KnowledgeError> {
    let model = embedder.model().to_owned();
    let txn = db.begin_in_tenant(tenant).await?;
    let entries = knowledge::Entity::find_in_tenant(tenant)
        .order_by_asc(knowledge::Column::Id)
        .into_partial_model::<KnowledgeEntry>()
        .all(&txn)
        .await
        .map_err(DbError::from)?;
    txn.commit().await?;
    let (current, stale): (Vec<_>, Vec<_>) = entries
        .into_iter()
        .partition(|e| e.embedding_model == model);
    if stale.is_empty() {
        return Ok(ReembedReport {
            reembedded: 0,
            current: current.len(),
        });
    }
    let mut vectors = Vec::with_capacity(stale.len());
    for batch in stale.chunks(EMBED_BATCH) {
        let texts: Vec<String> = batch
            .iter()
            .map(|e| stored_embedding_text(e.title.as_deref(), &e.content))
            .collect();
        let got = embedder.embed_documents(&texts).await?;
        if got.len() != texts.len() {
            return Err(EmbedError::Invalid(format!(
                "{} vectors for {} texts",
                got.len(),
                texts.len()
            ))
            .into());
        }
        vectors.extend(got);
    }
    let txn = db.begin_in_tenant(tenant).await?;
    let mut reembedded = 0;
    for (entry, vector) in stale.iter().zip(vectors) {
        // Only if it still has the vector we replaced (it may have been deleted or re-embedded
        // meanwhile).
        let updated = knowledge::Entity::update_many()
            .col_expr(
                knowledge::Column::Embedding,
                Expr::value(sea_orm::prelude::PgVector::from(vector)),
            )
            .col_expr(
                knowledge::Column::EmbeddingModel,
                Expr::value(model.clone()),
            )
            .filter(knowledge::Column::TenantId.eq(tenant))
            .filter(knowledge::Column::Id.eq(entry.id))
            .filter(knowledge::Column::EmbeddingModel.eq(entry.embedding_model.clone()))
            .exec(&txn)
            .await
            .map_err(DbError::from)?;
        reembedded += usize::try_from(updated.rows_affected).unwrap_or(0);
    }
    let payload = serde_json::json!({ "embedding_model": model, "chunks": reembedded });
    event::record(&txn, actor, "knowledge.reembedded", payload).await?;
    txn.commit().await?;
    Ok(ReembedReport {
        reembedded,
        current: current.len(),
    })
}

/// [`reembed`] for every tenant, one after the other (each in its own scope). Stops at the
/// first failure; tenants done before it keep their new vectors, and running it again continues
/// where it stopped.
///
/// # Errors
/// As [`reembed`], and when the tenants cannot be listed.
pub async fn reembed_all(
    db: &Db,
    embedder: &dyn Embedder,
) -> Result<Vec<(TenantRef, ReembedReport)>, KnowledgeError> {
    let mut done = Vec::new();
    for tenant in db.list_tenants().await? {
        let report = reembed(db, embedder, tenant.id, None).await?;
        done.push((tenant, report));
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_chunk_per_heading_with_front_matter_category() {
        let doc = "---\ncategory: schedule\n---\nIntro line.\n\n# Opening hours\nMon-Sat 12-23\n\n## Sunday\nClosed\n";
        let chunks = chunk_markdown(doc, Some("faq")).unwrap();
        assert_eq!(chunks.len(), 3);
        assert_eq!(chunks[0].title, None);
        assert_eq!(chunks[1].title.as_deref(), Some("Opening hours"));
        assert_eq!(chunks[2].content, "Closed");
        assert!(chunks.iter().all(|c| c.category == "schedule"));
    }

    #[test]
    fn default_category_applies_and_bad_input_is_refused() {
        assert_eq!(
            chunk_markdown("# A\ntext", Some("Rules")).unwrap()[0].category,
            "rules"
        );
        assert!(chunk_markdown("# A\ntext", None).is_err());
        assert!(chunk_markdown("# A\ntext", Some("no spaces allowed")).is_err());
        assert!(chunk_markdown("# Only a heading\n", Some("faq")).is_err());
    }

    #[test]
    fn entries_are_checked_and_long_content_chunked_under_one_title() {
        let entry = |title: Option<&str>, content: &str, category: &str| NewKnowledge {
            title: title.map(str::to_owned),
            content: content.to_owned(),
            category: category.to_owned(),
        };
        let chunks = chunk_entry(&entry(
            Some("  Wi-Fi "),
            " The password is on the router. ",
            "FAQ",
        ))
        .unwrap();
        assert_eq!(chunks.len(), 1);
        assert_eq!(chunks[0].title.as_deref(), Some("Wi-Fi"));
        assert_eq!(chunks[0].content, "The password is on the router.");
        assert_eq!(chunks[0].category, "faq");

        let long = "Guests may bring one dog per unit, on a lead in the hallways. ".repeat(60);
        let chunks = chunk_entry(&entry(Some("Pets"), &long, "rules")).unwrap();
        assert!(chunks.len() > 1);
        assert!(
            chunks.iter().all(|c| c.title.as_deref() == Some("Pets")
                && c.content.chars().count() <= MAX_CHUNK_CHARS)
        );

        assert_eq!(
            chunk_entry(&entry(Some(" "), "x", "faq")).unwrap()[0].title,
            None
        );
        assert!(chunk_entry(&entry(None, "  ", "faq")).is_err());
        assert!(chunk_entry(&entry(None, "x", "not a category")).is_err());
        assert!(chunk_entry(&entry(Some(&"t".repeat(201)), "x", "faq")).is_err());
        assert!(chunk_entry(&entry(None, &"x".repeat(MAX_CONTENT_CHARS + 1), "faq")).is_err());
    }

    #[test]
    fn long_sections_split_with_overlap() {
        let sentence = "The walk-in freezer must stay below minus eighteen degrees. ";
        let body = sentence.repeat(80);
        let doc = format!("# Freezer\n{body}");
        let chunks = chunk_markdown(&doc, Some("rules")).unwrap();
        assert!(chunks.len() >= 3, "{} chunks", chunks.len());
        for c in &chunks {
            assert!(c.content.chars().count() <= MAX_CHUNK_CHARS);
            assert_eq!(c.title.as_deref(), Some("Freezer"));
        }
        // The end of one part reappears at the start of the next.
        let tail: String = chunks[0]
            .content
            .chars()
            .rev()
            .take(40)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        assert!(chunks[1].content.contains(tail.trim()));
    }
}
