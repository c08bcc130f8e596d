//! `hash`: a deterministic lexical embedder with no weights, for fast tests and as a baseline in
//! the retrieval eval. Each lower-cased word (and each pair of adjacent words) is hashed with
//! FNV-1a into one of [`EMBEDDING_DIM`] buckets with a hash-derived sign; the vector is then
//! L2-normalised. Texts that share words are close; paraphrases that share none are not, which
//! is what the local model adds.

use async_trait::async_trait;

use super::{EMBEDDING_DIM, EmbedError, Embedder, Embedding};

/// The lexical hashing embedder.
#[derive(Debug, Default, Clone, Copy)]
pub struct HashEmbedder;

/// Name stored with its vectors; bump the suffix if the hashing ever changes.
pub const HASH_MODEL: &str = "hash-v1";

/// Words too common to tell chunks apart.
const STOP_WORDS: &[&str] = &[
    "a", "an", "and", "are", "at", "be", "by", "do", "does", "for", "from", "has", "have", "how",
    "i", "in", "is", "it", "its", "me", "my", "of", "on", "or", "our", "the", "their", "this",
    "to", "was", "we", "what", "when", "where", "which", "who", "will", "with", "you", "your",
];

impl HashEmbedder {
    /// Embeds one text synchronously (the work is a few microseconds).
    #[must_use]
    pub fn embed(text: &str) -> Embedding {
        let words: Vec<String> = text
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .filter(|w| !STOP_WORDS.contains(&w.as_str()))
            .map(|w| normalise(&w))
            .collect();
        let mut v = vec![0.0_f32; EMBEDDING_DIM];
        for w in &words {
            add(&mut v, w.as_bytes(), 1.0);
        }
        for pair in words.windows(2) {
            add(&mut v, format!("{} {}", pair[0], pair[1]).as_bytes(), 0.5);
        }
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm > 0.0 {
            v.iter_mut().for_each(|x| *x /= norm);
        } else {
            // An empty or stop-word-only text still needs a valid, non-zero vector.
            v[0] = 1.0;
        }
        Embedding(v)
    }
}

/// Folds simple English plurals so "waiters" matches "waiter".
fn normalise(word: &str) -> String {
    if word.len() > 3 && word.ends_with('s') && !word.ends_with("ss") {
        word[..word.len() - 1].to_owned()
    } else {
        word.to_owned()
    }
}

fn add(v: &mut [f32], token: &[u8], weight: f32) {
    let h = fnv1a(token);
    // Both numbers are below EMBEDDING_DIM (1536), so the casts cannot truncate.
    #[expect(
        clippy::cast_possible_truncation,
        reason = "the modulus keeps the value small"
    )]
    let bucket = (h % EMBEDDING_DIM as u64) as usize;
    let sign = if (h >> 63) == 1 { -1.0 } else { 1.0 };
    v[bucket] += sign * weight;
}

fn fnv1a(bytes: &[u8]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0100_0000_01b3;
    bytes
        .iter()
        .fold(OFFSET, |h, b| (h ^ u64::from(*b)).wrapping_mul(PRIME))
}

#[async_trait]
impl Embedder for HashEmbedder {
    fn model(&self) -> &str {
        HASH_MODEL
    }

    async fn embed_documents(&self, texts: &[String]) -> Result<Vec<Embedding>, EmbedError> {
        Ok(texts.iter().map(|t| Self::embed(t)).collect())
    }

    async fn embed_query(&self, text: &str) -> Result<Embedding, EmbedError> {
        Ok(Self::embed(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_words_score_higher_than_unrelated_text() {
        let q = HashEmbedder::embed("When do we open on Sunday?");
        let hours = HashEmbedder::embed("Opening hours: Sunday open 12:00 to 22:00");
        let menu = HashEmbedder::embed("Menu: pasta with walnut pesto contains nuts");
        assert!(q.cosine(&hours) > q.cosine(&menu));
        assert_eq!(
            HashEmbedder::embed("same text"),
            HashEmbedder::embed("same text")
        );
        let empty = HashEmbedder::embed("the of and");
        assert!((empty.as_slice().iter().map(|x| x * x).sum::<f32>() - 1.0).abs() < 1e-6);
    }
}
