//! The embedders: the local model against reference values from an independent implementation,
//! its batching, and the meaning it adds (paraphrases closer than unrelated sentences).

use agent::embedding::{EMBEDDING_DIM, Embedder};

use crate::knowledge_support::local_embedder;

/// `x_i = sin(0.7 i + 0.3)`: a fixed direction, so one number checks all 384 values.
fn direction(dim: usize) -> Vec<f32> {
    (0..dim).map(|i| (i as f32 * 0.7 + 0.3).sin()).collect()
}

/// Reference values for all-MiniLM-L6-v2, produced by `scripts/minilm-reference.py`: a NumPy
/// implementation of the BERT forward pass and of sentence-transformers' mean pooling and
/// normalisation, reading the same `model.safetensors` and tokenising with the `tokenizers`
/// package from PyPI (numpy 2.4.6, safetensors 0.8.0, tokenizers 0.23.3, computed in float64).
/// The script first checks itself against the similarities sentence-transformers' own README
/// prints for this model (0.6660, 0.1046, 0.1411). To reproduce:
///
/// ```text
/// python3 -m venv /tmp/refenv && /tmp/refenv/bin/pip install numpy safetensors tokenizers
/// /tmp/refenv/bin/python scripts/minilm-reference.py .local/models/all-MiniLM-L6-v2
/// ```
///
/// Each entry: the sentence, the first 8 values of its vector, and its dot product with
/// [`direction`]. The last sentence is over 256 tokens and checks truncation.
fn references() -> Vec<(String, [f32; 8], f32)> {
    vec![
        (
            "The walk-in freezer must stay at -18 degrees or colder.".into(),
            [
                -0.068668, -0.013843, -0.024420, 0.059865, 0.049275, 0.003716, -0.048307, -0.017415,
            ],
            0.162649,
        ),
        (
            "Who is on call this weekend?".into(),
            [
                -0.127973, -0.065661, -0.019993, -0.022200, 0.011143, -0.002282, 0.090351, 0.016637,
            ],
            -1.211846,
        ),
        (
            "Trattoria Sole is closed on Mondays.".into(),
            [
                0.009002, -0.039438, 0.028499, 0.024539, -0.026779, 0.011435, -0.000368, -0.011894,
            ],
            -0.298586,
        ),
        (
            "a".into(),
            [
                -0.036433, 0.034703, -0.045960, 0.034326, -0.080823, 0.032839, 0.116976, -0.023309,
            ],
            -0.606870,
        ),
        (
            "Log the freezer temperature at closing. ".repeat(40),
            [
                -0.013350, -0.061531, -0.027629, 0.021050, 0.021637, -0.064222, 0.005578, 0.032524,
            ],
            0.933101,
        ),
    ]
}

#[tokio::test]
async fn local_vectors_match_the_reference_implementation() {
    let model = local_embedder();
    let refs = references();
    let dir = direction(384);
    for (text, first, dot) in &refs {
        let v = model.embed_query(text).await.unwrap();
        let v = v.as_slice();
        assert_eq!(v.len(), EMBEDDING_DIM);
        assert!(v[384..].iter().all(|x| *x == 0.0), "zero-padded beyond 384");
        let norm: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "unit length, got {norm}");
        for (i, (got, want)) in v.iter().zip(first).enumerate() {
            assert!(
                (got - want).abs() < 1e-4,
                "{text:.40}: value {i} is {got}, reference {want}"
            );
        }
        let got_dot: f32 = v.iter().zip(&dir).map(|(a, b)| a * b).sum();
        assert!(
            (got_dot - dot).abs() < 1e-3,
            "{text:.40}: dot {got_dot}, reference {dot}"
        );
    }
}

#[tokio::test]
async fn batching_with_padding_gives_the_same_vectors_as_one_at_a_time() {
    let model = local_embedder();
    let texts: Vec<String> = references().into_iter().map(|(t, _, _)| t).collect();
    let batched = model.embed_documents(&texts).await.unwrap();
    assert_eq!(batched.len(), texts.len());
    for (text, b) in texts.iter().zip(&batched) {
        let single = model.embed_query(text).await.unwrap();
        let diff = single
            .as_slice()
            .iter()
            .zip(b.as_slice())
            .map(|(x, y)| (x - y).abs())
            .fold(0.0_f32, f32::max);
        assert!(diff < 1e-5, "{text:.40}: batched differs by {diff}");
    }
}

#[tokio::test]
async fn paraphrases_score_above_unrelated_sentences() {
    let model = local_embedder();
    // (question, a paraphrase-level answer that shares few words, an unrelated sentence)
    let cases = [
        (
            "When can I swim on the roof?",
            "The rooftop pool is open from May to September, 08:00-21:00 daily.",
            "General waste is collected on Tuesday and Friday mornings.",
        ),
        (
            "Is there anything with nuts on the menu?",
            "Trofie with walnut pesto. Allergens: walnuts, pine nuts, milk, gluten.",
            "Sick days are reported to Maria by phone before 10:00.",
        ),
        (
            "My sink is leaking everywhere, who do I call at night?",
            "For a water leak outside office hours, call the emergency line; it is answered day and night.",
            "Children under 14 must be accompanied by an adult.",
        ),
        (
            "What's the coldest the freezer may get?",
            "The walk-in freezer must be kept at minus eighteen degrees or below.",
            "Visitor parking is on level -1, spaces V1 to V8.",
        ),
    ];
    let mut worst_paraphrase = f32::MAX;
    let mut best_unrelated = f32::MIN;
    for (q, para, unrelated) in cases {
        let q = model.embed_query(q).await.unwrap();
        let p = model.embed_query(para).await.unwrap();
        let u = model.embed_query(unrelated).await.unwrap();
        let (sp, su) = (q.cosine(&p), q.cosine(&u));
        assert!(
            sp > su + 0.1,
            "{para:.40}: paraphrase {sp} vs unrelated {su}"
        );
        worst_paraphrase = worst_paraphrase.min(sp);
        best_unrelated = best_unrelated.max(su);
    }
    assert!(
        worst_paraphrase > best_unrelated,
        "every paraphrase ({worst_paraphrase}) beats every unrelated pair ({best_unrelated})"
    );
}
