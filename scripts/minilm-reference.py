#!/usr/bin/env python3
"""Reference embeddings of all-MiniLM-L6-v2 for the local embedder's test.

An implementation independent of candle and of our Rust code: the BERT forward pass written out in
NumPy from the weights in model.safetensors, followed by what sentence-transformers does for this
model (modules.json: Transformer -> Pooling(mean) -> Normalize):

  - tokenise with the model's tokenizer.json (the `tokenizers` package), truncated at
    max_seq_length = 256 (sentence_bert_config.json), no padding (one sentence at a time);
  - BERT: embeddings (word + position + token type, LayerNorm eps 1e-12), 6 layers of 12-head
    self-attention and a GELU (erf) feed-forward, post-LayerNorm;
  - mean pooling over the attention mask, then L2 normalisation.

It checks itself against the similarities that sentence-transformers' README prints for this model
("The weather is lovely today." / "It's so sunny outside!" / "He drove to the stadium.":
0.6660, 0.1046, 0.1411), then prints, for each sentence of the Rust test, the first 8 values of
its 384-dimension embedding and its dot product with a fixed pseudo-random direction (which
involves all 384 values).

Run (packages from PyPI, versions used: numpy 2.4.6, safetensors 0.8.0, tokenizers 0.23.3):

    python3 -m venv /tmp/refenv && /tmp/refenv/bin/pip install numpy safetensors tokenizers
    /tmp/refenv/bin/python scripts/minilm-reference.py .local/models/all-MiniLM-L6-v2
"""

import json
import math
import sys

import numpy as np
from safetensors.numpy import load_file
from tokenizers import Tokenizer

SENTENCES = [
    "The walk-in freezer must stay at -18 degrees or colder.",
    "Who is on call this weekend?",
    "Trattoria Sole is closed on Mondays.",
    "a",
    # Over 256 tokens: truncated at max_seq_length.
    "Log the freezer temperature at closing. " * 40,
]


def erf(x):
    # NumPy has no erf; math.erf per element is exact enough and the arrays are small.
    return np.vectorize(math.erf)(x)


def layer_norm(x, w, b, eps=1e-12):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * w + b


def linear(x, weights, name):
    return x @ weights[f"{name}.weight"].T + weights[f"{name}.bias"]


def embed(text, weights, tokenizer, config):
    tokenizer.enable_truncation(max_length=256)
    tokenizer.no_padding()
    enc = tokenizer.encode(text)
    ids = np.array(enc.ids)
    n = len(ids)
    h = config["hidden_size"]
    heads = config["num_attention_heads"]
    d = h // heads
    x = (
        weights["embeddings.word_embeddings.weight"][ids]
        + weights["embeddings.position_embeddings.weight"][:n]
        + weights["embeddings.token_type_embeddings.weight"][np.array(enc.type_ids)]
    )
    x = layer_norm(x, weights["embeddings.LayerNorm.weight"], weights["embeddings.LayerNorm.bias"])
    for i in range(config["num_hidden_layers"]):
        p = f"encoder.layer.{i}"
        q = linear(x, weights, f"{p}.attention.self.query").reshape(n, heads, d).transpose(1, 0, 2)
        k = linear(x, weights, f"{p}.attention.self.key").reshape(n, heads, d).transpose(1, 0, 2)
        v = linear(x, weights, f"{p}.attention.self.value").reshape(n, heads, d).transpose(1, 0, 2)
        scores = q @ k.transpose(0, 2, 1) / math.sqrt(d)
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        probs = scores / scores.sum(-1, keepdims=True)
        ctx = (probs @ v).transpose(1, 0, 2).reshape(n, h)
        attn = linear(ctx, weights, f"{p}.attention.output.dense")
        x = layer_norm(
            attn + x,
            weights[f"{p}.attention.output.LayerNorm.weight"],
            weights[f"{p}.attention.output.LayerNorm.bias"],
        )
        inter = linear(x, weights, f"{p}.intermediate.dense")
        inter = 0.5 * inter * (1.0 + erf(inter / math.sqrt(2.0)))
        out = linear(inter, weights, f"{p}.output.dense")
        x = layer_norm(
            out + x, weights[f"{p}.output.LayerNorm.weight"], weights[f"{p}.output.LayerNorm.bias"]
        )
    # Mean pooling over the attention mask (all ones for a single unpadded sentence).
    pooled = x.mean(0)
    return pooled / max(np.linalg.norm(pooled), 1e-12)


def direction(dim):
    # The same sequence as `direction` in the Rust test: x_i = sin(i * 0.7 + 0.3).
    return np.array([math.sin(i * 0.7 + 0.3) for i in range(dim)])


def main():
    folder = sys.argv[1]
    weights = {k: v.astype(np.float64) for k, v in load_file(f"{folder}/model.safetensors").items()
               if v.dtype != np.int64}
    tokenizer = Tokenizer.from_file(f"{folder}/tokenizer.json")
    with open(f"{folder}/config.json") as f:
        config = json.load(f)

    readme = ["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."]
    e = [embed(s, weights, tokenizer, config) for s in readme]
    sims = (e[0] @ e[1], e[0] @ e[2], e[1] @ e[2])
    expected = (0.6660, 0.1046, 0.1411)
    for got, want in zip(sims, expected):
        assert abs(got - want) < 5e-4, f"self-check against sentence-transformers failed: {sims}"
    print(f"self-check ok: {sims[0]:.4f} {sims[1]:.4f} {sims[2]:.4f}")

    dirv = direction(config["hidden_size"])
    for s in SENTENCES:
        v = embed(s, weights, tokenizer, config)
        first = ", ".join(f"{x:.6f}" for x in v[:8])
        label = s if len(s) < 80 else f"{s[:40]!r} * {len(s) // 40}"
        print(f"{label}: first8 [{first}] dot {v @ dirv:.6f}")


if __name__ == "__main__":
    main()
