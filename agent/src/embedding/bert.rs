//! A BERT encoder on candle, just what sentence-transformers models such as all-MiniLM-L6-v2 need:
//! the embeddings layer (word + position + token type, LayerNorm), then `num_hidden_layers`
//! post-LayerNorm transformer layers (multi-head self-attention with the padding mask, GELU feed-
//! forward). No pooler, no dropout (inference only). Weight names follow Hugging Face's
//! `BertModel` (`embeddings.word_embeddings.weight`, `encoder.layer.0.attention.self.query.weight`,
//! ...), with or without a leading `bert.`.
//!
//! Written here rather than taken from `candle-transformers` because that crate compiles every
//! model it ships, minutes of build time on two cores for the one model we use.

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{Embedding, LayerNorm, Linear, VarBuilder, embedding, layer_norm, linear};
use serde::Deserialize;

/// The fields of a Hugging Face `config.json` that the encoder needs.
#[derive(Clone, Debug, Deserialize)]
pub struct BertConfig {
    /// Tokens in the vocabulary.
    pub vocab_size: usize,
    /// Width of every hidden state (384 for MiniLM-L6).
    pub hidden_size: usize,
    /// Transformer layers.
    pub num_hidden_layers: usize,
    /// Attention heads per layer; `hidden_size` must be a multiple of it.
    pub num_attention_heads: usize,
    /// Width of the feed-forward layer.
    pub intermediate_size: usize,
    /// Longest input in tokens.
    pub max_position_embeddings: usize,
    /// Token types (segments).
    pub type_vocab_size: usize,
    /// Epsilon of every LayerNorm.
    pub layer_norm_eps: f64,
    /// The feed-forward activation; only `gelu` (the exact, erf-based GELU) is supported.
    pub hidden_act: String,
}

/// The encoder with its weights.
#[derive(Debug)]
pub struct Bert {
    word_embeddings: Embedding,
    position_embeddings: Embedding,
    token_type_embeddings: Embedding,
    embeddings_norm: LayerNorm,
    layers: Vec<Layer>,
    heads: usize,
    head_dim: usize,
    max_positions: usize,
}

#[derive(Debug)]
struct Layer {
    query: Linear,
    key: Linear,
    value: Linear,
    attention_out: Linear,
    attention_norm: LayerNorm,
    intermediate: Linear,
    output: Linear,
    output_norm: LayerNorm,
}

impl Bert {
    /// Builds the encoder from `weights` (tensors named as in Hugging Face's `BertModel`).
    ///
    /// # Errors
    /// When a tensor is missing or has the wrong shape, or the configuration is unsupported.
    pub fn load(weights: &VarBuilder, config: &BertConfig) -> candle_core::Result<Self> {
        if config.hidden_act != "gelu" {
            candle_core::bail!("unsupported hidden_act {:?}", config.hidden_act);
        }
        if config.num_attention_heads == 0
            || !config
                .hidden_size
                .is_multiple_of(config.num_attention_heads)
        {
            candle_core::bail!("hidden_size is not a multiple of num_attention_heads");
        }
        let vb = if weights.contains_tensor("bert.embeddings.word_embeddings.weight") {
            weights.pp("bert")
        } else {
            weights.clone()
        };
        let h = config.hidden_size;
        let emb = vb.pp("embeddings");
        let layers = (0..config.num_hidden_layers)
            .map(|i| {
                let l = vb.pp(format!("encoder.layer.{i}"));
                Ok(Layer {
                    query: linear(h, h, l.pp("attention.self.query"))?,
                    key: linear(h, h, l.pp("attention.self.key"))?,
                    value: linear(h, h, l.pp("attention.self.value"))?,
                    attention_out: linear(h, h, l.pp("attention.output.dense"))?,
                    attention_norm: layer_norm(
                        h,
                        config.layer_norm_eps,
                        l.pp("attention.output.LayerNorm"),
                    )?,
                    intermediate: linear(h, config.intermediate_size, l.pp("intermediate.dense"))?,
                    output: linear(config.intermediate_size, h, l.pp("output.dense"))?,
                    output_norm: layer_norm(h, config.layer_norm_eps, l.pp("output.LayerNorm"))?,
                })
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(Self {
            word_embeddings: embedding(config.vocab_size, h, emb.pp("word_embeddings"))?,
            position_embeddings: embedding(
                config.max_position_embeddings,
                h,
                emb.pp("position_embeddings"),
            )?,
            token_type_embeddings: embedding(
                config.type_vocab_size,
                h,
                emb.pp("token_type_embeddings"),
            )?,
            embeddings_norm: layer_norm(h, config.layer_norm_eps, emb.pp("LayerNorm"))?,
            layers,
            heads: config.num_attention_heads,
            head_dim: h / config.num_attention_heads,
            max_positions: config.max_position_embeddings,
        })
    }

    /// The longest input, in tokens, the position embeddings allow.
    #[must_use]
    pub const fn max_positions(&self) -> usize {
        self.max_positions
    }

    /// The last hidden states, `[batch, seq, hidden]`, for `input_ids` and `type_ids` of shape
    /// `[batch, seq]` (u32) and `mask` of the same shape (f32: 1 for a token, 0 for padding).
    ///
    /// # Errors
    /// When the shapes disagree or the sequence is longer than [`Bert::max_positions`].
    pub fn forward(
        &self,
        input_ids: &Tensor,
        type_ids: &Tensor,
        mask: &Tensor,
    ) -> candle_core::Result<Tensor> {
        let (batch, seq) = input_ids.dims2()?;
        if seq > self.max_positions {
            candle_core::bail!("{seq} tokens exceed {} positions", self.max_positions);
        }
        let device = input_ids.device();
        // seq <= max_positions (512 for BERT), so it fits a u32.
        let positions = Tensor::arange(0u32, u32::try_from(seq).unwrap_or(u32::MAX), device)?;
        let x = self
            .word_embeddings
            .forward(input_ids)?
            .add(&self.token_type_embeddings.forward(type_ids)?)?
            .broadcast_add(&self.position_embeddings.forward(&positions)?)?;
        let mut x = self.embeddings_norm.forward(&x)?;
        // Padding gets a large negative score before the softmax: [batch, 1, 1, seq].
        let bias = ((mask.ones_like()? - mask)? * f64::from(f32::MIN))?
            .reshape((batch, 1, 1, seq))?
            .to_dtype(x.dtype())?;
        for layer in &self.layers {
            x = self.layer_forward(layer, &x, &bias, batch, seq)?;
        }
        Ok(x)
    }

    fn layer_forward(
        &self,
        layer: &Layer,
        x: &Tensor,
        bias: &Tensor,
        batch: usize,
        seq: usize,
    ) -> candle_core::Result<Tensor> {
        let split = |t: Tensor| -> candle_core::Result<Tensor> {
            t.reshape((batch, seq, self.heads, self.head_dim))?
                .transpose(1, 2)?
                .contiguous()
        };
        let q = split(layer.query.forward(x)?)?;
        let k = split(layer.key.forward(x)?)?;
        let v = split(layer.value.forward(x)?)?;
        #[expect(
            clippy::cast_precision_loss,
            reason = "a head is a few dozen dimensions wide"
        )]
        let scale = (self.head_dim as f64).sqrt();
        let scores = (q.matmul(&k.t()?.contiguous()?)? / scale)?.broadcast_add(bias)?;
        let probs = candle_nn::ops::softmax_last_dim(&scores)?;
        let context = probs.matmul(&v)?.transpose(1, 2)?.contiguous()?.reshape((
            batch,
            seq,
            self.heads * self.head_dim,
        ))?;
        let attended = layer
            .attention_norm
            .forward(&(layer.attention_out.forward(&context)? + x)?)?;
        let inner = layer.intermediate.forward(&attended)?.gelu_erf()?;
        layer
            .output_norm
            .forward(&(layer.output.forward(&inner)? + &attended)?)
    }
}

/// Reads the weights of a `model.safetensors` file into a [`VarBuilder`] on `device` (read into
/// memory rather than memory-mapped: mapping needs `unsafe`, which the workspace forbids).
///
/// # Errors
/// When the file cannot be read or is not valid safetensors.
pub fn read_weights(
    path: &std::path::Path,
    device: &Device,
) -> candle_core::Result<VarBuilder<'static>> {
    let tensors = candle_core::safetensors::load(path, device)?;
    Ok(VarBuilder::from_tensors(tensors, DType::F32, device))
}
