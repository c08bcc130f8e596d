//! Knowledge ingest: Markdown is cut into chunks (one per heading section, long sections split
//! with overlap), embedded in batches by the configured [`Embedder`], and stored in the tenant's
//! `tenant_knowledge` rows inside one tenant-scoped transaction.
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

use chrono::Utc;
use entity::{Db, DbError, KnowledgeId, TenantId, UserId, event, knowledge};
use sea_orm::EntityTrait;

use crate::embedding::{EmbedError, Embedder};

/// A section longer than this many characters is split into overlapping parts: long enough to
/// hold a whole schedule table, short enough that one chunk is about one thing.
pub const MAX_CHUNK_CHARS: usize = 1500;
/// Characters repeated at the start of the next part of a split section, so a sentence cut at
/// the boundary is still whole in one of the two parts.
pub const CHUNK_OVERLAP_CHARS: usize = 200;
/// Texts per call to the embedder (Gemini's batch limit is 100).
pub const EMBED_BATCH: usize = 64;

/// What can go wrong while adding knowledge.
#[derive(Debug, thiserror::Error)]
pub enum KnowledgeError {
    /// The input is not usable; the message says why.
    #[error("{0}")]
    Invalid(String),
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
