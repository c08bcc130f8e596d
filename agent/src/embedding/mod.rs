//! Embedders turn text into vectors for retrieval. Every provider implements [`Embedder`]; the
//! configured one embeds both the knowledge (at ingest) and the questions (at retrieval), and
//! its [`Embedder::model`] name is stored with every vector so that vectors of different models
//! are never compared.
//!
//! Vectors are stored at [`EMBEDDING_DIM`] dimensions: a provider with fewer dimensions is
//! zero-padded by [`Embedding::padded`], which leaves cosine similarity unchanged.

pub mod hash;

use async_trait::async_trait;
pub use entity::knowledge::EMBEDDING_DIM;

pub use hash::HashEmbedder;

/// What can go wrong while embedding.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    /// The provider cannot be reached or answered with a transient failure; retrying may help.
    #[error("embedding provider unavailable: {0}")]
    Unavailable(String),
    /// The provider refused the request (bad key, unknown model, bad input); retrying won't help.
    #[error("embedding request refused: {0}")]
    Refused(String),
    /// The provider answered something we cannot use (wrong count or size of vectors, ...).
    #[error("unusable embedding response: {0}")]
    Invalid(String),
}

/// A vector of exactly [`EMBEDDING_DIM`] dimensions.
#[derive(Clone, Debug, PartialEq)]
pub struct Embedding(Vec<f32>);

impl Embedding {
    /// Zero-pads `values` to [`EMBEDDING_DIM`] dimensions.
    ///
    /// # Errors
    /// [`EmbedError::Invalid`] when `values` is empty or longer than [`EMBEDDING_DIM`].
    pub fn padded(mut values: Vec<f32>) -> Result<Self, EmbedError> {
        if values.is_empty() || values.len() > EMBEDDING_DIM {
            return Err(EmbedError::Invalid(format!(
                "a vector of {} dimensions does not fit the {EMBEDDING_DIM}-dimension column",
                values.len()
            )));
        }
        values.resize(EMBEDDING_DIM, 0.0);
        Ok(Self(values))
    }

    /// The values.
    #[must_use]
    pub fn as_slice(&self) -> &[f32] {
        &self.0
    }

    /// Cosine similarity with another embedding (0 when either is all zeros).
    #[must_use]
    pub fn cosine(&self, other: &Self) -> f32 {
        let (mut dot, mut a2, mut b2) = (0.0_f32, 0.0_f32, 0.0_f32);
        for (a, b) in self.0.iter().zip(&other.0) {
            dot += a * b;
            a2 += a * a;
            b2 += b * b;
        }
        if a2 == 0.0 || b2 == 0.0 {
            0.0
        } else {
            dot / (a2.sqrt() * b2.sqrt())
        }
    }
}

impl From<Embedding> for sea_orm::prelude::PgVector {
    fn from(e: Embedding) -> Self {
        Self::from(e.0)
    }
}

/// Turns text into vectors. Implementations are cheap to share (`Arc<dyn Embedder>`).
#[async_trait]
pub trait Embedder: Send + Sync + std::fmt::Debug {
    /// The name stored with every vector this embedder makes, e.g. `hash-v1`. Two embedders with
    /// the same name must produce comparable vectors.
    fn model(&self) -> &str;

    /// Embeds knowledge chunks for storage, in order (one vector per text).
    ///
    /// # Errors
    /// See [`EmbedError`].
    async fn embed_documents(&self, texts: &[String]) -> Result<Vec<Embedding>, EmbedError>;

    /// Embeds a question for retrieval.
    ///
    /// # Errors
    /// See [`EmbedError`].
    async fn embed_query(&self, text: &str) -> Result<Embedding, EmbedError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_keeps_cosine_and_refuses_oversized_vectors() {
        let a = Embedding::padded(vec![1.0, 2.0, 3.0]).unwrap();
        let b = Embedding::padded(vec![2.0, 1.0, 0.5]).unwrap();
        assert_eq!(a.as_slice().len(), EMBEDDING_DIM);
        let unpadded = (2.0 + 2.0 + 1.5) / (14.0_f32.sqrt() * 5.25_f32.sqrt());
        assert!((a.cosine(&b) - unpadded).abs() < 1e-6);
        assert!(Embedding::padded(vec![0.0; EMBEDDING_DIM + 1]).is_err());
        assert!(Embedding::padded(Vec::new()).is_err());
    }
}
