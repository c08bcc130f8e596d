//! Embedders turn text into vectors for retrieval. Every provider implements [`Embedder`]; the
//! configured one embeds both the knowledge (at ingest) and the questions (at retrieval), and
//! its [`Embedder::model`] name is stored with every vector so that vectors of different models
//! are never compared.
//!
//! Vectors are stored at [`EMBEDDING_DIM`] dimensions: a provider with fewer dimensions is
//! zero-padded by [`Embedding::padded`], which leaves cosine similarity unchanged.
//!
//! The providers, one module each, chosen by [`EmbedderConfig`] through [`build`]:
//!
//! | provider | module | model name stored |
//! | --- | --- | --- |
//! | `local` | [`local`] (all-MiniLM-L6-v2 on candle, encoder in [`bert`]) | `local/all-MiniLM-L6-v2` |
//! | `gemini` | [`gemini`] (`batchEmbedContents`) | `gemini/<model>@1536` |
//! | `openai` | [`openai`] (any OpenAI-compatible `/embeddings`) | `openai/<model>@<dimensions>` |
//! | `hash` | [`hash`] (lexical hashing, no weights) | `hash-v1` |
//!
//! The HTTP providers share [`retry::RetryPolicy`]. The name changes whenever the vectors
//! would (another model, other dimensions), so `concierge reembed` knows what to redo.

pub mod bert;
pub mod gemini;
pub mod hash;
pub mod local;
pub mod openai;
pub mod retry;

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
pub use entity::knowledge::EMBEDDING_DIM;

pub use gemini::{GeminiEmbedder, GeminiEmbedderConfig};
pub use hash::HashEmbedder;
pub use local::LocalEmbedder;
pub use openai::{OpenAiEmbedder, OpenAiEmbedderConfig};

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
    /// The embedder cannot be set up (model files missing, bad settings); needs an operator.
    #[error("embedder not set up: {0}")]
    Setup(String),
}

impl EmbedError {
    /// Whether trying again later may succeed.
    #[must_use]
    pub const fn retryable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
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

    /// L2-normalises `values`, then zero-pads them like [`Embedding::padded`].
    ///
    /// # Errors
    /// [`EmbedError::Invalid`] when `values` is empty, all zeros, not finite, or longer than
    /// [`EMBEDDING_DIM`].
    pub fn normalised(mut values: Vec<f32>) -> Result<Self, EmbedError> {
        let norm = values.iter().map(|x| x * x).sum::<f32>().sqrt();
        if !norm.is_finite() || norm == 0.0 {
            return Err(EmbedError::Invalid(
                "a vector with no direction (all zeros or not finite)".into(),
            ));
        }
        values.iter_mut().for_each(|x| *x /= norm);
        Self::padded(values)
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

/// Which embedder to build, with what each needs (from the `EMBEDDER` configuration).
#[derive(Clone, Debug)]
pub enum EmbedderConfig {
    /// [`HashEmbedder`].
    Hash,
    /// [`LocalEmbedder`] with the model in this folder.
    Local {
        /// Holds `model.safetensors`, `tokenizer.json` and `config.json` (`scripts/models.sh`).
        model_dir: PathBuf,
    },
    /// [`GeminiEmbedder`].
    Gemini(GeminiEmbedderConfig),
    /// [`OpenAiEmbedder`].
    OpenAi(OpenAiEmbedderConfig),
}

impl EmbedderConfig {
    /// The provider's configuration name (`hash`, `local`, `gemini`, `openai`).
    #[must_use]
    pub const fn provider(&self) -> &'static str {
        match self {
            Self::Hash => "hash",
            Self::Local { .. } => "local",
            Self::Gemini(_) => "gemini",
            Self::OpenAi(_) => "openai",
        }
    }
}

/// How long the HTTP embedders wait for a connection to their API.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Builds the configured embedder. Loading the local model reads about 90 MB and runs on the
/// blocking pool; the HTTP providers get a client of their own (connection timeout
/// [`CONNECT_TIMEOUT`], a time limit per request).
///
/// # Errors
/// [`EmbedError::Setup`] when the local model's files are missing or unreadable, or a setting is
/// out of range.
pub async fn build(config: &EmbedderConfig) -> Result<Arc<dyn Embedder>, EmbedError> {
    let http = || {
        reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .build()
            .map_err(|e| EmbedError::Setup(format!("HTTP client: {e}")))
    };
    Ok(match config {
        EmbedderConfig::Hash => Arc::new(HashEmbedder),
        EmbedderConfig::Local { model_dir } => {
            Arc::new(LocalEmbedder::load_async(model_dir.clone()).await?)
        }
        EmbedderConfig::Gemini(c) => Arc::new(GeminiEmbedder::new(http()?, c.clone())),
        EmbedderConfig::OpenAi(c) => Arc::new(OpenAiEmbedder::new(http()?, c.clone())?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalising_makes_unit_vectors_and_refuses_zero_ones() {
        let e = Embedding::normalised(vec![3.0, 4.0]).unwrap();
        assert!((e.as_slice()[0] - 0.6).abs() < 1e-6);
        assert!((e.as_slice()[1] - 0.8).abs() < 1e-6);
        assert_eq!(e.as_slice().len(), EMBEDDING_DIM);
        assert!(Embedding::normalised(vec![0.0; 4]).is_err());
        assert!(Embedding::normalised(vec![f32::NAN, 1.0]).is_err());
    }

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
