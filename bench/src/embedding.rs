//! Figure: throughput of the local embedder (all-MiniLM-L6-v2 on candle, CPU): documents per
//! second when ingesting (batched, as `agent::knowledge::ingest` calls it) and the latency of
//! embedding one question (what every message pays before retrieval).
//!
//! The texts are the demo knowledge's chunks (`api/demo/**.md`, cut by the real chunker), which
//! are typical chunk lengths, repeated to the sample size with a number appended so no two are
//! equal; the questions are short sentences like users type.

use std::path::Path;
use std::time::Instant;

use agent::embedding::LocalEmbedder;
use agent::knowledge::chunk_markdown;
use anyhow::Context as _;

use crate::population;
use crate::report::{Context, Section, latency_histogram, percentiles_ms};

const QUESTIONS: [&str; 8] = [
    "When does the kitchen stop taking orders on Saturday?",
    "Who is on call this weekend?",
    "Is the risotto gluten free?",
    "Where can my visitors park?",
    "Tell Luca that table 5 has a nut allergy",
    "What temperature should the walk-in freezer be?",
    "Can I bring two friends to the pool?",
    "How do I report a broken dishwasher?",
];

/// Runs the figure.
pub async fn run(context: &Context, model_dir: &Path) -> anyhow::Result<Section> {
    let (documents, questions) = if context.quick {
        (128, 50)
    } else {
        (1_024, 300)
    };
    let started = Instant::now();
    let dir = model_dir.to_owned();
    let model = LocalEmbedder::load_async(dir)
        .await
        .with_context(|| format!("loading the model from {}", model_dir.display()))?;
    let load_s = started.elapsed().as_secs_f64();

    let mut chunks = Vec::new();
    for doc in population::RESTAURANT.iter().chain(&population::PROPERTY) {
        chunks.extend(
            chunk_markdown(doc, None)?
                .into_iter()
                .map(|c| c.embedding_text()),
        );
    }
    let texts: Vec<String> = (0..documents)
        .map(|i| format!("{} ({i})", chunks[i % chunks.len()]))
        .collect();
    #[expect(clippy::cast_precision_loss, reason = "character counts")]
    let mean_chars =
        texts.iter().map(|t| t.chars().count()).sum::<usize>() as f64 / texts.len() as f64;

    // Warm-up, then the batch as ingest sends it (64 texts per call).
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    model.embed_blocking(&refs[..16.min(refs.len())])?;
    let started = Instant::now();
    for batch in refs.chunks(agent::knowledge::EMBED_BATCH) {
        model.embed_blocking(batch)?;
    }
    let doc_s = started.elapsed().as_secs_f64();
    #[expect(clippy::cast_precision_loss, reason = "text counts")]
    let docs_per_s = documents as f64 / doc_s;

    let mut h = latency_histogram()?;
    let started = Instant::now();
    for i in 0..questions {
        let q = QUESTIONS[i % QUESTIONS.len()];
        let one = Instant::now();
        model.embed_blocking(&[q])?;
        h.record(u64::try_from(one.elapsed().as_micros()).unwrap_or(u64::MAX))?;
    }
    #[expect(clippy::cast_precision_loss, reason = "text counts")]
    let queries_per_s = questions as f64 / started.elapsed().as_secs_f64();
    let (p50, p99) = percentiles_ms(&h);

    let threads = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let body = format!(
        "## Embedding: the local model\n\n\
         all-MiniLM-L6-v2 on candle, CPU only, {threads} threads; model load {load_s:.1} s.\n\n\
         | workload | texts | throughput | latency p50 | latency p99 |\n\
         | --- | ---: | ---: | ---: | ---: |\n\
         | knowledge chunks (demo chunks, {mean_chars:.0} characters on average), batches of {batch} | {documents} | {docs_per_s:.1} texts/s | - | - |\n\
         | one question at a time | {questions} | {queries_per_s:.1} texts/s | {p50:.1} ms | {p99:.1} ms |\n",
        batch = agent::knowledge::EMBED_BATCH,
    );
    Ok(Section {
        id: "embedding",
        body,
        rows: Vec::new(),
    })
}
